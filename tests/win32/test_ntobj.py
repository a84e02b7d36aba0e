"""Objects, atoms, synchronisation, threads and fibers of the ntobj work (issues 15/16): fixture programs
whose output is compared with what Wine 8.0 prints (wine64, x64 — the same text is expected of the x86 build,
nothing in it depends on the pointer size)."""
from __future__ import annotations

import re
import shutil

import pytest

from winhatch import runner

ATOMS = (
    'global add: 1 same=1 err=0xdead\n'
    'global find: 1 0 err=2\n'
    'int atoms: 5 0 77 err=0xdead\n'
    'int atom 0xC000: 0 err=87\n'
    'GlobalGetAtomNameA(6)=0 err=234 [Winha]\n'
    'GlobalGetAtomNameW(6)=6 [Winhat]\n'
    'int name=5 [#1234]\n'
    'NtQueryInformationAtom basic 0 usage=2 flags=0 len=24 name=WinhatchAtom retlen=32\n'
    'NtQueryInformationAtom 8 bytes 0xc0000023 len=24\n'
    'delete: 0 0\n'
    'still there after one delete: 0\n'
    'delete again: 1, gone: 0\n'
    'GetAtomNameA(6)=5 [Local]\n'
    'GetAtomNameW(6)=5 [Local]\n'
    'GetAtomNameA(0 atom)=0 err=87\n'
    'FindAtomW=1 DeleteAtom=0 FindAtomA after=0\n'
    'create 0 sig=0x6d6f7441\n'
    'add 0 0\n'
    'same atom 1, empty name 0xc0000033\n'
    'add 2 0 pin 0\n'
    'query 0 refs=2 pins=0 len=10 [First]\n'
    'query len 0 0xc0000023 len=10\n'
    'query len 8 0 len=6 [Sec]\n'
    'delete pinned 0x40000019\n'
    'lookup int 0 atom=123\n'
    'add 0 0xc000000d add 0xC000 0xc000000d\n'
    'query int 0 refs=1 pins=1 [#123]\n'
    'empty 0 first 0xc0000034 second 0\n'
    'delete unknown 0xc0000008\n'
    'destroy 0\n'
    'desktop 1 IsWindow=1\n'
)

FIBERS = (
    'fiber before convert 0\n'
    'converted 1 data=0000000000001234 current=1\n'
    'again 0000000000000000 err=1280\n'
    'worker data=0000000000000055 current=1 fls before=0000000000000000 err=87\n'
    'worker step 0 local=42 fls=0000000000000111\n'
    'main after switch 0 fls=0000000000000100\n'
    'worker step 1 local=43 fls=0000000000000111\n'
    'main after switch 1 fls=0000000000000100\n'
    'worker step 2 local=44 fls=0000000000000111\n'
    'main after switch 2 fls=0000000000000100\n'
    'worker done\n'
    'main after switch 3 fls=0000000000000100\n'
    'main fls=0000000000000100 callbacks=0\n'
    '  callback 0000000000000111\n'
    'after DeleteFiber(f1) callbacks=1\n'
    '  callback 0000000000000100\n'
    '  callback 0000000000000222\n'
    'after FlsFree callbacks=3\n'
    'after DeleteFiber(f2) callbacks=3\n'
    'to thread 1 fiber 0\n'
    'ending fiber runs\n'
    'thread exit code 1\n'
)

SYNC = (
    'semaphores 1 1 active=0\n'
    'shared 1 active=1\n'
    'shared again 1 active=2\n'
    'exclusive while shared 0\n'
    'exclusive 1 active=-1 owner=1\n'
    'shared by the owner 1 active=-2\n'
    'waiters=1\n'
    'thread got it exclusively: 1 active=-1 order=2\n'
    'after: active=0 owner=0000000000000000 waiters=0\n'
    'wait, no alert: 0x102\n'
    'alert self: 0 twice: 0\n'
    'wait: 0x101 again: 0x102\n'
    'alert no thread: 0xc000000b\n'
    'woken: 0x101 order=1\n'
    'alerter status 0\n'
)

# Wine's output, except the key's name: Windows gives each key's stored name (MACHINE and SOFTWARE are upper
# case in the hive), Wine the case the program opened it with
OBJECTS = (
    'debug object 0 wait=0x102\n'
    'type 0 [DebugObject]\n'
    'bad flags 0xc000000d handle=0000000000000000\n'
    'kill on close 0\n'
    'directory 0 again 0xc0000035\n'
    'event in it 0 opened by full name 0\n'
    'name 0 [\\BaseNamedObjects\\winhatch-dir\\inner]\n'
    'link 0 target 0 [\\BaseNamedObjects\\winhatch-dir]\n'
    'through the link 0\n'
    'session directory 0 holds the local event 0\n'
    'empty name, bogus root 0\n'
    'open empty name below a directory 0xc0000024\n'
    'key name 0 [\\REGISTRY\\MACHINE\\SOFTWARE\\Microsoft]\n'
)

MODULES = (
    'listed: exe first 1, kernel32 1, ntdll 1, bases and sizes right 1, end error 18\n'
    'ANSI first: 1 [ntobj_modules.exe] path ends with it 1\n'
    'small dwSize: 0 err=122\n'
    'no process in it: 0 err=18\n'
)

# RtlQueryRegistryValues as MSDN documents it (Wine 8's differs, its own gaps: it passes a REG_MULTI_SZ as four
# empty REG_MULTI_SZ calls instead of one REG_SZ call per string, does not expand REG_EXPAND_SZ, passes a string
# default's length as 0 instead of computing it, calls the routine for a missing value without a default, and
# rejects a SUBKEY entry without a routine); everything else in this output is Wine's too
REGQUERY = (
    'novalue, multi, exp:\n'
    '  [(null)] type=0 len=0 ctx=1 ectx=1\n'
    '  [multi] type=1 len=4 "a" ctx=1 ectx=2\n'
    '  [multi] type=1 len=6 "bc" ctx=1 ectx=2\n'
    '  [exp] type=1 len=6 "Ex" ctx=1 ectx=3\n'
    '  -> 0\n'
    'noexpand, default, missing without default:\n'
    '  [multi] type=7 len=12 ctx=1 ectx=4\n'
    '  [missing] type=1 len=18 "fallback" ctx=1 ectx=5\n'
    '  -> 0\n'
    'direct:\n'
    '  -> 0\n'
    '  got=42 str=[hello] len=10\n'
    'required:\n'
    '  -> 0xc0000034\n'
    'subkey:\n'
    '  [inner] type=4 len=4 42 ctx=1 ectx=8\n'
    '  -> 0\n'
    'routine fails:\n'
    '  [num] type=4 len=4 42 ctx=1 ectx=9\n'
    '  -> 0xc000000d\n'
    'delete:\n'
    '  [num] type=4 len=4 42 ctx=1 ectx=11\n'
    '  -> 0\n'
    '  num still there: 2\n'
    'RtlpNtQueryValueKey 0 type=1 len=18 [default!]\n'
)

# Windows's answers where Wine 8 differs: UnregisterWait from inside the wait's own callback succeeds (Wine's
# kernel32/tests/thread.c marks its ERROR_IO_PENDING todo_wine); GetThreadSelectorEntry is x86-only, x64 Windows
# answers ERROR_NOT_SUPPORTED (Wine: ERROR_INVALID_FUNCTION). The x86 selector facts are those Wine's
# test_GetThreadSelectorEntry checks on 64-bit Windows (FS based at the TEB, limit 0xFFF, byte-granular; CS
# flat; a selector past the GDT ERROR_GEN_FAILURE — a WoW64 process's answer; 32-bit Windows says ERROR_NOACCESS).
THREADS = {"x64": (
    'TlsGetValue(0)=0000000000000000 TlsAlloc!=0: 1\n'
    'new thread: mxcsr<<16|fpcw = 0x1f80027f\n'
    'UnregisterWait inside the callback: 1 err=0\n'
    'GetThreadSelectorEntry: 0 err=50\n'
    'past the GDT: 0 err=50\n'
), "x86": (
    'TlsGetValue(0)=00000000 TlsAlloc!=0: 1\n'
    'new thread: mxcsr<<16|fpcw = 0x1f80027f\n'
    'UnregisterWait inside the callback: 1 err=0\n'
    'FS: base is the TEB 1 limit=0xfff type=0x12 dpl=3 big=1 gran=0\n'
    'CS: limit=0xfffff type=0x1a gran=1\n'
    'past the GDT: 0 err=31\n'
)}


@pytest.fixture
def run_fixture(build_fixture, tmp_path):
    def run(source, arch, libs=(), args=()):
        built = build_fixture(source, arch, libs=list(libs))
        exe = tmp_path / built.name
        shutil.copy2(built, exe)
        return runner.run(exe, list(args), max_instructions=200_000_000)
    return run


def test_atoms(run_fixture, arch):
    """Global atoms through NtAddAtom/NtFindAtom/NtDeleteAtom/NtQueryInformationAtom, local atoms, ntdll's atom
    tables (reference counts, pins, truncation of names, integer atoms) and GetDesktopWindow."""
    res = run_fixture("ntobj_atoms.c", arch, libs=["-luser32"])
    assert res.error is None, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == ATOMS


def test_fibers(run_fixture, arch):
    """Fibers switch stacks and registers, carry their own FLS values (callbacks at DeleteFiber and FlsFree), and
    a returning fiber routine ends its thread with code 1."""
    res = run_fixture("ntobj_fibers.c", arch)
    assert res.error is None, res.error
    expected = FIBERS if arch == "x64" else re.sub(r"\b0{8}([0-9A-F]{8})\b", r"\1", FIBERS)
    assert res.stdout.decode().replace("\r\n", "\n") == expected


def test_resource_and_thread_alerts(run_fixture, arch):
    """RTL_RESOURCE in guest memory (counts, owner, recursion, a blocked exclusive waiter) and
    NtAlertThreadByThreadId / NtWaitForAlertByThreadId (one uncounted alert, STATUS_ALERTED, time-outs)."""
    res = run_fixture("ntobj_sync.c", arch)
    assert res.error is None, res.error
    expected = SYNC if arch == "x64" else re.sub(r"\b0{8}([0-9A-F]{8})\b", r"\1", SYNC)
    assert res.stdout.decode().replace("\r\n", "\n") == expected


def test_object_services(run_fixture, arch):
    """NtCreateDebugObject, NtCreateDirectoryObject / NtCreateSymbolicLinkObject with names resolved through
    them, \\BaseNamedObjects\\Session\\<n>, an empty name with a bogus RootDirectory, a key's object name."""
    res = run_fixture("ntobj_objects.c", arch, libs=["-lntdll"])
    assert res.error is None, res.error
    expected = OBJECTS
    if arch == "x86":   # 32-bit pointers; a WoW64 process's HKLM\Software is the WOW6432Node view
        expected = re.sub(r"\b0{8}([0-9A-F]{8})\b", r"\1", OBJECTS).replace("SOFTWARE\\Microsoft",
                                                                           "SOFTWARE\\WOW6432Node\\Microsoft")
    assert res.stdout.decode().replace("\r\n", "\n") == expected


def test_module_snapshot(run_fixture, arch):
    """TH32CS_SNAPMODULE reads the caller's loader list: the program first, ntdll and kernel32 once each, base ==
    HMODULE, the A and W entries, the dwSize check, no process in a module snapshot."""
    res = run_fixture("ntobj_modules.c", arch)
    assert res.error is None, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == MODULES


def test_rtl_query_registry_values(run_fixture, arch):
    """RtlQueryRegistryValues' flags (NOVALUE, NOEXPAND, DIRECT, REQUIRED, SUBKEY, DELETE), defaults, a failing
    routine, and RtlpNtQueryValueKey."""
    res = run_fixture("ntobj_regquery.c", arch, libs=["-ladvapi32"])
    assert res.error is None, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == REGQUERY


def test_thread_details(run_fixture, arch):
    """TLS slot 0 reserved, a new thread's FPU state, UnregisterWait inside its callback, GetThreadSelectorEntry."""
    res = run_fixture("ntobj_threads.c", arch)
    assert res.error is None, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == THREADS[arch]
