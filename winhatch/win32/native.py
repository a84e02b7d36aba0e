"""User-mode code of the synthetic system DLLs: the exports Windows implements without entering the kernel.

On Windows, GetLastError is `mov eax, gs:[68h]` (x64) — it reads TEB.LastErrorValue and returns; SetLastError
writes it; GetCurrentProcessId / GetCurrentThreadId read TEB.ClientId; GetCurrentProcess / GetCurrentThread
return the pseudo-handles -1 / -2.  None of them is a system call.  winhatch's synthetic DLLs carry the same
code at these exports, so the guest finds machine code there (not a trap) and runs them at CPU speed — a
program that calls SetLastError in a loop no longer pays a trip to Python per call.

While API calls are traced (a `--trace api`, a report, an events file: EventLog.api_wanted), every API must
reach Python to be seen: each native export starts with a test of a flag the kernel keeps in the unused tail
of KUSER_SHARED_DATA (winhatch.kernel.structs.kuser.KUSER_API_TRACE) and, when it is set, jumps to an ordinary
framed API stub (winhatch.cpu.api_stub), whose Python handler does the same thing and emits the event.

    entry:  test byte [KUSER_API_TRACE], 1 ; jnz trap ; <native code> ; trap: <framed API stub>

The Python handlers of these functions stay the reference (and serve the traced path); tests run programs
both ways and compare.

Two kinds of native code:
  - the few hand-assembled bodies below (_code), placed inline after the gate;
  - the compiled blob: C sources in winhatch/win32/native_src, built by tools/build_native.py into
    winhatch/win32/data/native.json (machine code, symbols, relocations, the sha256 of the sources).  A DLL that
    exports one of the blob's functions (NATIVE_EXPORTS) carries the whole blob in its .text
    (winhatch.win32.sysdlls.build_dll); each such export is `gate ; jmp <blob function> ; <framed stub>`.  A
    blob function that leaves a case to Python tail-jumps to __wh_py_NAME, which the DLL resolves to the framed
    stub of its export NAME; __wh_data_NAME is the DLL's internal data NAME (winhatch.win32.api.internal_data).
"""
from __future__ import annotations

import struct
from pathlib import Path

from winhatch.kernel.mm.aspace import JIT_TABLE_SIZE, NATIVE_JIT_TABLE, NATIVE_STATE_SECTION
from winhatch.kernel.structs import TEB
from winhatch.kernel.structs.kuser import KUSER_API_TRACE, KUSER_SHARED_DATA_ADDRESS


def _seg_load(arch: str, field: str) -> bytes:
    """mov eax, fs:/gs:[TEB field] (the 32-bit value)."""
    off = TEB.offset(arch, field)
    if arch == "x64":
        return b"\x65\x8b\x04\x25" + struct.pack("<I", off)      # mov eax, gs:[off]
    return b"\x64\xa1" + struct.pack("<I", off)                    # mov eax, fs:[off]


def _code(arch: str) -> dict[str, bytes]:
    le = TEB.offset(arch, "LastErrorValue")
    if arch == "x64":
        get_le = _seg_load(arch, "LastErrorValue") + b"\xc3"
        set_le = b"\x65\x89\x0c\x25" + struct.pack("<I", le) + b"\xc3"           # mov gs:[LastErrorValue], ecx ; ret
        cur_process = b"\x48\xc7\xc0\xff\xff\xff\xff\xc3"                        # mov rax, -1 ; ret
        cur_thread = b"\x48\xc7\xc0\xfe\xff\xff\xff\xc3"                         # mov rax, -2 ; ret
    else:
        get_le = _seg_load(arch, "LastErrorValue") + b"\xc3"
        set_le = (b"\x8b\x44\x24\x04"                                            # mov eax, [esp+4]
                  + b"\x64\xa3" + struct.pack("<I", le)                          # mov fs:[LastErrorValue], eax
                  + b"\xc2\x04\x00")                                             # ret 4
        cur_process = b"\x83\xc8\xff\xc3"                                        # or eax, -1 ; ret
        cur_thread = b"\xb8\xfe\xff\xff\xff\xc3"                                 # mov eax, -2 ; ret
    pid = _seg_load(arch, "ClientId.UniqueProcess") + b"\xc3"
    tid = _seg_load(arch, "ClientId.UniqueThread") + b"\xc3"
    return {
        "GetLastError": get_le, "RtlGetLastWin32Error": get_le,
        "SetLastError": set_le, "RtlSetLastWin32Error": set_le, "RtlRestoreLastWin32Error": set_le,
        "GetCurrentProcess": cur_process, "GetCurrentThread": cur_thread,
        "GetCurrentProcessId": pid, "GetCurrentThreadId": tid,
    }


#: the DLLs whose code exports of those names get the native code (a forwarder stays a forwarder)
NATIVE_DLLS = frozenset({"kernel32.dll", "kernelbase.dll", "ntdll.dll"})

_CACHE: dict[str, dict[str, bytes]] = {}


def native_code(arch: str, dll: str, name: str | None) -> bytes | None:
    """The user-mode body of dll!name, or None when the export traps to Python."""
    if dll not in NATIVE_DLLS or not name:
        return None
    table = _CACHE.get(arch)
    if table is None:
        table = _CACHE[arch] = _code(arch)
    return table.get(name)


def gate(arch: str, body_len: int) -> bytes:
    """test byte [KUSER_API_TRACE], 1 ; jnz <past the body>: traced calls take the framed stub."""
    flag = struct.pack("<I", KUSER_SHARED_DATA_ADDRESS + KUSER_API_TRACE)
    test = (b"\xf6\x04\x25" if arch == "x64" else b"\xf6\x05") + flag + b"\x01"
    if body_len <= 127:
        return test + b"\x75" + bytes([body_len])
    return test + b"\x0f\x85" + struct.pack("<i", body_len)     # jnz rel32


# ------------------------------------------------------------------------------------------ the compiled blob
BLOB_PATH = Path(__file__).resolve().parent / "data" / "native.json"

_CRT_STRING = (
    "memcpy", "memmove", "memset", "memcmp", "_memicmp", "memchr",
    "strlen", "wcslen", "strnlen", "wcsnlen",
    "strcpy", "wcscpy", "strncpy", "wcsncpy", "strcat", "wcscat", "strncat", "wcsncat",
    "strcmp", "wcscmp", "strncmp", "wcsncmp",
    "_stricmp", "_strcmpi", "_stricoll", "_wcsicmp", "_wcsicoll", "_strnicmp", "_wcsnicmp",
    "strchr", "wcschr", "strrchr", "wcsrchr", "strstr", "wcsstr",
    "strspn", "strcspn", "strpbrk", "wcsspn", "wcscspn", "wcspbrk",
)
_CRT_DLLS = ("msvcrt.dll", "ucrtbase.dll", "msvcr70.dll", "msvcr71.dll", "msvcr80.dll", "msvcr90.dll",
             "msvcr100.dll", "msvcr110.dll", "msvcr120.dll")
_CTYPE_IS = ("alpha", "upper", "lower", "digit", "xdigit", "space", "punct", "alnum", "print", "graph", "cntrl",
             "blank")
_CRT_CTYPE = (tuple(f"is{n}" for n in _CTYPE_IS) + tuple(f"isw{n}" for n in _CTYPE_IS)
              + ("_isctype", "iswctype", "toupper", "tolower", "_toupper", "_tolower", "isascii", "__isascii",
                 "__iscsym", "__iscsymf"))
_CRT_ERRNO = ("_errno", "__doserrno", "_get_errno", "_set_errno")
#: {dll: export names that are blob functions of the same name}: each of these has a Python handler (the
#: traced path); ntdll's C runtime exports are served by msvcrt's handlers (subsystem._serve_ntdll_crt), except
#: its own towupper/towlower (full Unicode case mapping: not in the blob)
#: blob functions whose exports still trap to Python (none now).  memcpy/memmove/memset are machine code except
#: into a JIT's code pages (the engine misses guest stores over translated code there: see
#: winhatch.kernel.mm.aspace NATIVE_JIT_TABLE), which they leave to their Python handlers
NOT_YET_NATIVE: frozenset[str] = frozenset()
#: the C runtime's heap functions (native_src/heap.c, over the process heap)
_CRT_HEAP = ("malloc", "free", "calloc", "realloc", "_msize", "_malloc_base", "_free_base", "_calloc_base",
             "_realloc_base", "_msize_base")
#: the C runtime's FILE fast paths (native_src/stdio.c, over the FILE's buffer in guest memory)
_CRT_STDIO = ("fgetc", "getc", "_fgetc_nolock", "_getc_nolock", "getchar", "fputc", "putc", "_fputc_nolock",
              "_putc_nolock", "putchar", "fread", "fwrite", "fgets", "fputs")
NATIVE_EXPORTS: dict[str, frozenset[str]] = {
    d: frozenset(n for n in _CRT_STRING + _CRT_CTYPE + _CRT_ERRNO + _CRT_HEAP + _CRT_STDIO + ("towupper", "towlower")
                 if n not in NOT_YET_NATIVE) for d in _CRT_DLLS}
_SLIST = ("RtlInitializeSListHead", "RtlFirstEntrySList", "RtlQueryDepthSList", "RtlInterlockedPushEntrySList",
          "RtlInterlockedPopEntrySList", "RtlInterlockedFlushSList", "RtlInterlockedPushListSListEx")
_CRITSEC = ("RtlEnterCriticalSection", "RtlLeaveCriticalSection", "RtlTryEnterCriticalSection")
_RTL = ("RtlMoveMemory", "RtlCopyMemory", "RtlFillMemory", "RtlZeroMemory", "RtlFillMemoryUlong", "RtlCompareMemory",
        "RtlCompareMemoryUlong", "RtlInitUnicodeString", "RtlInitUnicodeStringEx", "RtlInitAnsiString",
        "RtlInitString")
_HEAP = ("RtlAllocateHeap", "RtlFreeHeap", "RtlReAllocateHeap", "RtlSizeHeap")
_SRW = ("RtlInitializeSRWLock", "RtlAcquireSRWLockExclusive", "RtlAcquireSRWLockShared", "RtlReleaseSRWLockExclusive",
        "RtlReleaseSRWLockShared", "RtlTryAcquireSRWLockExclusive", "RtlTryAcquireSRWLockShared")
#: ntdll's toupper/tolower are its own (the low byte through the ANSI code page and RtlUpcaseUnicodeChar: é → É),
#: not the C locale's: they stay with their Python handlers
#: and its classification is its own too (win32/ntdll/crt.py: ASCII bytes with masks without C1_ALPHA, wide
#: characters below 256 only — Wine's ntdll string test, which passes on Windows): Python handlers too
NATIVE_EXPORTS["ntdll.dll"] = frozenset(tuple(n for n in _CRT_STRING if n not in NOT_YET_NATIVE) + tuple(
    n for n in _CRT_CTYPE if n not in ("toupper", "tolower", "_toupper", "_tolower") and not n.startswith("is"))
    + _SLIST + _CRITSEC + _RTL + _HEAP + _SRW)
for _d in ("kernel32.dll", "kernelbase.dll"):
    NATIVE_EXPORTS[_d] = frozenset(("TlsGetValue", "TlsSetValue", "HeapFree", "GetProcessHeap", "InitOnceExecuteOnce",
                                    "InitOnceBeginInitialize"))

#: the DLL's native state (struct native_state in native_src/native.h): a writable section of each DLL that
#: carries the blob, which the Python side keeps up to date
STATE_SECTION = NATIVE_STATE_SECTION
STATE_SIZE = NATIVE_JIT_TABLE + JIT_TABLE_SIZE   # the JIT page table last: the kernel keeps it (AddressSpace)
STATE_CTYPE_NOT_C = 0      # u32: the CRT's LC_CTYPE locale is not "C"
STATE_ERRNO_TLS = 4        # u32: TLS index + 1 of the CRT's per-thread errno block
STATE_IOB = 8              # u64: the address of the CRT's stdin FILE (stdout is the next FILE)


def state_address(c, dll: str) -> int | None:
    """The guest address of dll's native state, or None when the DLL is not loaded or carries no blob."""
    from winhatch.ldr import loader
    m = loader.state_of(c.proc).by_name.get(dll.lower())
    if m is None:
        return None
    sec = next((x for x in m.pe.sections if x.name == STATE_SECTION), None)
    return None if sec is None else m.base + sec.virtual_address


class Blob:
    """One architecture's compiled native code (tools/build_native.py)."""

    def __init__(self, d: dict):
        self.code = bytes.fromhex(d["code"])
        self.symbols: dict[str, int] = d["symbols"]
        self.abs: list[tuple[int, int]] = [tuple(x) for x in d["abs"]]          # (at, target offset)
        self.ext: list[tuple[int, str, str, int]] = [tuple(x) for x in d["ext"]]   # (at, symbol, kind, bias)


_BLOB: dict = {}


def _blob_json() -> dict:
    if "json" not in _BLOB:
        import json
        _BLOB["json"] = json.loads(BLOB_PATH.read_text())
    return _BLOB["json"]


def blob(arch: str) -> Blob:
    b = _BLOB.get(arch)
    if b is None:
        b = _BLOB[arch] = Blob(_blob_json()["arches"][arch])
    return b


def blob_symbol(arch: str, dll: str, name: str | None) -> int | None:
    """The offset in the blob of dll!name's machine code, or None."""
    if not name or name not in NATIVE_EXPORTS.get(dll, ()):
        return None
    return blob(arch).symbols.get(name)


#: exports that are only machine code, with no gate and no Python path (a breakpoint must be the export's first
#: byte: a debugger checks that the exception address is DbgBreakPoint itself): `int3; ret`
#: LdrpDoDebuggerBreak: the loader's initial breakpoint for a process started under a debugger (not exported)
RAW_CODE: dict[str, dict[str, bytes]] = {"ntdll.dll": {"DbgBreakPoint": b"\xcc\xc3", "DbgUserBreakPoint": b"\xcc\xc3",
                                                      "LdrpDoDebuggerBreak": b"\xcc\xc3"},
                                       "kernelbase.dll": {"DebugBreak": b"\xcc\xc3"},
                                       "kernel32.dll": {"DebugBreak": b"\xcc\xc3"}}


def raw_code(dll: str, name: str | None) -> bytes | None:
    return RAW_CODE.get(dll, {}).get(name or "")


def signature() -> str:
    """What shapes the native exports (part of the system DLL cache key)."""
    return repr((sorted((a, n, c.hex()) for a in ("x86", "x64") for n, c in _code(a).items()),
                 sorted((d, n, c.hex()) for d, t in RAW_CODE.items() for n, c in t.items()),
                 _blob_json()["source_sha256"], hash_text(BLOB_PATH.read_bytes()),
                 sorted((d, sorted(n)) for d, n in NATIVE_EXPORTS.items())))


def hash_text(data: bytes) -> str:
    from winhatch._hash import sha256
    return sha256(data).hexdigest()
