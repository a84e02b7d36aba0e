"""winhatch's own binding of libunicorn (winhatch.cpu.ucbind) and its constants (winhatch.cpu.ucconst): the numbers
are the installed unicorn package's, the engine behaves as the package's ``Uc`` does for what winhatch uses, and a
plain run never imports the package (issue 17: its import was more than half of a hello world's start-up)."""
from __future__ import annotations

import ctypes
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import unicorn
from unicorn import unicorn_const, x86_const

from winhatch.cpu import ucconst as C
from winhatch.cpu.ucbind import LIB_PATH, Engine, UcContext, UcError, uc_version

ROOT = Path(__file__).resolve().parents[2]
CODE = 0x10000


def _names():
    return [k for k in vars(C) if k.startswith("UC_")]


def test_every_constant_is_the_installed_packages():
    names = _names()
    assert len(names) > 300
    for k in names:
        want = getattr(x86_const, k) if k.startswith("UC_X86_") else getattr(unicorn_const, k)
        assert getattr(C, k) == want, k
    # every register and every error of the package is there (Cpu.reg looks registers up by name)
    assert {k for k in vars(x86_const) if k.startswith("UC_X86_REG_")} <= set(names)
    assert {k for k in vars(unicorn_const) if k.startswith(("UC_ERR_", "UC_HOOK_", "UC_PROT_"))} <= set(names)


def test_the_library_is_the_packages():
    from unicorn.unicorn_py3.unicorn import uclib
    assert Path(LIB_PATH).resolve() == Path(uclib._name).resolve()
    assert uc_version() == (C.UC_API_MAJOR, C.UC_API_MINOR, C.UC_API_PATCH)
    assert unicorn.__version__.startswith("%d.%d.%d" % uc_version())


def _engine(mode=C.UC_MODE_64) -> Engine:
    e = Engine(C.UC_ARCH_X86, mode)
    e.mem_map(CODE, 0x1000)
    return e


def test_errors_carry_the_code_and_the_librarys_message():
    e = _engine()
    with pytest.raises(UcError) as ours:
        e.mem_read(0x50000, 4)
    with pytest.raises(unicorn.UcError) as theirs:
        unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64).mem_read(0x50000, 4)
    assert ours.value.errno == theirs.value.errno == C.UC_ERR_READ_UNMAPPED
    assert str(ours.value) == str(theirs.value) == "Invalid memory read (UC_ERR_READ_UNMAPPED)"
    with pytest.raises(UcError) as ex:
        e.mem_map(CODE, 0x1000)
    assert ex.value.errno == C.UC_ERR_MAP
    with pytest.raises(UcError) as ex:
        e.hook_add(C.UC_HOOK_INTR | C.UC_HOOK_CODE, lambda *a: None)   # two callback shapes at once
    assert ex.value.errno == C.UC_ERR_ARG


def test_registers_of_every_shape_round_trip():
    e = _engine()
    e.reg_write(C.UC_X86_REG_RAX, -1)
    assert e.reg_read(C.UC_X86_REG_RAX) == 0xFFFFFFFFFFFFFFFF
    assert e.reg_read(C.UC_X86_REG_EAX) == 0xFFFFFFFF
    e.reg_write(C.UC_X86_REG_GDTR, (0, 0x7FFF0000, 0x7F, 0))
    assert e.reg_read(C.UC_X86_REG_GDTR)[1:3] == (0x7FFF0000, 0x7F)
    e.reg_write(C.UC_X86_REG_XMM3, 1 << 100 | 5)
    assert e.reg_read(C.UC_X86_REG_XMM3) == 1 << 100 | 5
    e.reg_write(C.UC_X86_REG_FP0, (0x8000000000000000, 0x3FFF))      # 1.0
    assert e.reg_read(C.UC_X86_REG_FP0) == (0x8000000000000000, 0x3FFF)
    e.reg_write(C.UC_X86_REG_MSR, (0xC0000100, 0x1234000))              # FS base
    assert e.reg_read(C.UC_X86_REG_MSR, 0xC0000100) == 0x1234000
    assert e.reg_read(C.UC_X86_REG_FS_BASE) == 0x1234000


def test_memory_and_regions():
    e = _engine()
    e.mem_map(0x40000, 0x2000, C.UC_PROT_READ)
    e.mem_protect(0x41000, 0x1000, C.UC_PROT_NONE)
    buf = ctypes.create_string_buffer(0x1000)
    e.mem_map_ptr(0x80000, 0x1000, C.UC_PROT_ALL, ctypes.addressof(buf))
    e.mem_write(0x80010, bytearray(b"abc"))
    assert buf.raw[0x10:0x13] == b"abc" and e.mem_read(0x80010, 3) == bytearray(b"abc")
    assert e.mem_regions() == [(CODE, CODE + 0xFFF, C.UC_PROT_ALL), (0x40000, 0x40FFF, C.UC_PROT_READ),
                               (0x41000, 0x41FFF, C.UC_PROT_NONE), (0x80000, 0x80FFF, C.UC_PROT_ALL)]
    e.mem_unmap(0x40000, 0x2000)
    assert [r[0] for r in e.mem_regions()] == [CODE, 0x80000]


def test_hooks_get_the_packages_arguments():
    e = _engine()
    # in al,0x40 ; cpuid ; mov [rbx],al (rbx unmapped) -- then, from the INTR hook: a CODE hook run
    e.mem_write(CODE, b"\xe4\x40\x0f\xa2\x88\x03")
    seen = []
    e.hook_add(C.UC_HOOK_INSN, lambda uc, port, size, ud: seen.append(("in", uc is e, port, size, ud)) or 0x5A,
               "u", 1, 0, C.UC_X86_INS_IN)
    e.hook_add(C.UC_HOOK_INSN, lambda uc, ud: seen.append(("cpuid", ud)) or 1, 7, 1, 0, C.UC_X86_INS_CPUID)
    e.hook_add(C.UC_HOOK_MEM_WRITE_UNMAPPED,
               lambda uc, acc, addr, size, val, ud: seen.append(("unmapped", acc, addr, size, val)) or False)
    e.reg_write(C.UC_X86_REG_RBX, 0x90000)
    e.reg_write(C.UC_X86_REG_EAX, 0)
    with pytest.raises(UcError) as ex:
        e.emu_start(CODE, CODE + 6)
    assert ex.value.errno == C.UC_ERR_WRITE_UNMAPPED
    assert seen == [("in", True, 0x40, 1, "u"), ("cpuid", 7), ("unmapped", C.UC_MEM_WRITE_UNMAPPED, 0x90000, 1, 0x5A)]
    assert e.reg_read(C.UC_X86_REG_EAX) == 0x5A      # the in hook's value; cpuid was served by the hook

    e.mem_write(CODE, b"\x90\x90\xcd\x2e\x90")
    steps = []
    h = e.hook_add(C.UC_HOOK_CODE, lambda uc, a, s, ud: steps.append((a, s)), None, CODE, CODE + 1)
    e.hook_add(C.UC_HOOK_INTR, lambda uc, n, ud: steps.append(("intr", n)))
    e.emu_start(CODE, CODE + 5)
    assert steps == [(CODE, 1), (CODE + 1, 1), ("intr", 0x2E)]
    e.hook_del(h)
    e.ctl_remove_cache(CODE, CODE + 0x1000)
    steps.clear()
    e.emu_start(CODE, CODE + 5)
    assert steps == [("intr", 0x2E)]


def test_an_exception_in_a_hook_ends_the_run_and_is_raised():
    e = _engine()
    e.mem_write(CODE, b"\x90" * 8)

    def boom(uc, address, size, ud):
        raise KeyError(address)
    e.hook_add(C.UC_HOOK_CODE, boom, None, CODE + 2, CODE + 2)
    with pytest.raises(KeyError):
        e.emu_start(CODE, CODE + 8)
    assert e.reg_read(C.UC_X86_REG_RIP) == CODE + 2


def test_a_tlb_fill_hook_gets_the_entry():
    e = _engine()
    e.ctl_set_tlb_mode(C.UC_TLB_VIRTUAL)
    e.mem_map(0x40000, 0x1000, C.UC_PROT_READ | C.UC_PROT_WRITE)
    e.mem_write(CODE, b"\x8b\x03")            # mov eax, [rbx]
    e.mem_write(0x40010, b"\x11\x22\x33\x44")
    calls = []

    def fill(uc, page, kind, entry, ud):
        calls.append((page, kind))
        entry.paddr = page
        entry.perms = C.UC_PROT_ALL
        return True
    e.hook_add(C.UC_HOOK_TLB_FILL, fill)
    e.reg_write(C.UC_X86_REG_RBX, 0x40010)
    e.emu_start(CODE, CODE + 2)
    assert e.reg_read(C.UC_X86_REG_EAX) == 0x44332211
    assert sorted(calls) == [(CODE, C.UC_MEM_FETCH), (0x40000, C.UC_MEM_READ)]
    e.ctl(C.UC_CTL_TLB_FLUSH, C.UC_CTL_IO_WRITE)
    e.ctl_flush_tb()


def test_contexts_save_restore_and_pickle():
    e = _engine(C.UC_MODE_32)
    e.reg_write(C.UC_X86_REG_EAX, 0x1234)
    e.reg_write(C.UC_X86_REG_XMM1, 0xABCDEF)
    ctx = e.context_save()
    assert ctx.size > 0 and len(bytes(ctx)) == ctx.size and (ctx.arch, ctx.mode) == (C.UC_ARCH_X86, C.UC_MODE_32)
    e.reg_write(C.UC_X86_REG_EAX, 0)
    e.reg_write(C.UC_X86_REG_XMM1, 0)
    e.context_restore(pickle.loads(pickle.dumps(ctx)))
    assert e.reg_read(C.UC_X86_REG_EAX) == 0x1234 and e.reg_read(C.UC_X86_REG_XMM1) == 0xABCDEF
    e.reg_write(C.UC_X86_REG_EAX, 0)
    e.context_restore(UcContext.from_bytes(bytes(ctx), ctx.size, ctx.arch, ctx.mode))
    assert e.reg_read(C.UC_X86_REG_EAX) == 0x1234
    # a context saved by the package's binding restores into our engine (the same library's layout)
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.reg_write(unicorn.x86_const.UC_X86_REG_EBX, 0x777)
    theirs = uc.context_save()
    e.context_restore(UcContext.from_bytes(bytes(theirs), theirs.size, theirs.arch, theirs.mode))
    assert e.reg_read(C.UC_X86_REG_EBX) == 0x777


def test_a_plain_run_does_not_import_the_unicorn_package():
    script = ("import atexit, sys\n"
              "atexit.register(lambda: print('unicorn modules:', sorted(m for m in sys.modules"
              " if m.split('.')[0] == 'unicorn'), file=sys.stderr))\n"
              "from winhatch.runcmd import main\n"
              "sys.argv[0] = 'winhatch'\n"
              "sys.exit(main())\n")
    for exe in ("hello-x64.exe", "hello-x86.exe"):
        p = subprocess.run([sys.executable, "-c", script, "run", str(ROOT / "examples" / "hello" / exe)],
                           capture_output=True, cwd=ROOT, timeout=600)
        assert p.stdout.startswith(b"Hello from winhatch!"), (p.stdout, p.stderr)
        assert p.stderr.decode().splitlines()[-1] == "unicorn modules: []", p.stderr
