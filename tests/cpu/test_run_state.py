"""run() slicing (budget, timeout, until), segments/TEB, contexts, memory and host-shared mappings."""
import ctypes
import mmap
import struct
import time

import pytest

from cpuhelp import CODE, DATA, GDT, TEB, TEB2, TEB_SELF, make_cpu
from winhatch import ntstatus as nt
from winhatch.cpu import PROT_ALL, PROT_READ, PROT_WRITE, Context, Cpu, CpuError

# ebx = ebx*3 + ecx ; dec ecx ; jnz  — result depends on every iteration in order
#   L: lea ebx,[ebx+ebx*2] ; add ebx,ecx ; dec ecx ; jnz L ; nop
LOOP = b"\x8d\x1c\x5b\x01\xcb\xff\xc9\x75\xf7\x90"


def setup_loop(cpu, n):
    cpu.mem_write(CODE, b"\xb9" + n.to_bytes(4, "little") + b"\x31\xdb" + LOOP)
    return CODE + 7 + len(LOOP) - 1


def expected_loop(n, mask=0xFFFFFFFF):
    ebx = 0
    for ecx in range(n, 0, -1):
        ebx = (ebx * 3 + ecx) & mask
    return ebx


def test_budget_slices_resume_exactly(cpu):
    end = setup_loop(cpu, 5000)
    pc, slices = CODE, 0
    while True:
        r = cpu.run(pc, until=end, max_instructions=997)
        slices += 1
        if r.kind == "until":
            break
        assert r.kind == "budget"
        pc = cpu.pc
    assert cpu.reg("ebx") == expected_loop(5000)
    assert slices == pytest.approx(4 * 5000 / 997, abs=2)


def test_timeout_and_resume(cpu):
    cpu.mem_write(CODE, b"\xff\xc0\xeb\xfc")        # L: inc eax ; jmp L
    t = time.monotonic()
    r = cpu.run(CODE, timeout_s=0.2)
    dt = time.monotonic() - t
    assert r.kind == "timeout" and 0.15 < dt < 3
    a = cpu.retval
    assert a > 0 and cpu.pc in (CODE, CODE + 2)
    r = cpu.run(cpu.pc, timeout_s=0.05)
    assert r.kind == "timeout" and cpu.retval != a
    # a finished run is not reported as a timeout later, and a stale deadline does not stop the next run
    end = setup_loop(cpu, 10)
    assert cpu.run(CODE, until=end, timeout_s=0.05).kind == "until"
    time.sleep(0.1)
    assert cpu.run(CODE, until=end).kind == "until"


def test_until_inside_cached_block(cpu):
    code = b"\xff\xc0" * 4 + b"\x90"       # inc eax x4
    cpu.mem_write(CODE, code)
    cpu.retval = 0
    assert cpu.run(CODE, until=CODE + 8).kind == "until" and cpu.retval == 4
    cpu.retval = 0
    r = cpu.run(CODE, until=CODE + 4)       # the block 0..8 is cached; must still stop at +4
    assert r.kind == "until" and r.pc == CODE + 4 and cpu.retval == 2
    assert cpu.run(cpu.pc, until=CODE + 8).kind == "until" and cpu.retval == 4


def test_teb_self_pointer_and_switch(cpu, arch):
    # x86: mov eax, fs:[0x18]   x64: mov rax, gs:[0x30]
    code = b"\x64\xa1\x18\x00\x00\x00" if arch == "x86" else b"\x65\x48\x8b\x04\x25\x30\x00\x00\x00"
    cpu.mem_write(CODE, code + b"\x90")
    assert cpu.run(CODE, until=CODE + len(code)).kind == "until"
    assert cpu.retval == TEB[arch]
    if arch == "x86":
        assert (cpu.reg("cs"), cpu.reg("ss"), cpu.reg("ds"), cpu.reg("fs")) == (0x1B, 0x23, 0x23, 0x3B)
    else:
        assert (cpu.reg("cs"), cpu.reg("ss"), cpu.reg("fs_base"), cpu.reg("gs_base")) == (0x33, 0x2B, 0, TEB[arch])
    cpu.set_teb(TEB2[arch])
    assert cpu.run(CODE, until=CODE + len(code)).kind == "until"
    assert cpu.retval == TEB2[arch]


def test_x86_fs_selector_reload_keeps_teb(arch):
    if arch != "x64":
        cpu = make_cpu("x86")
        # mov ax, 0x3b ; mov fs, ax ; mov eax, fs:[0x18]
        code = b"\x66\xb8\x3b\x00\x8e\xe0\x64\xa1\x18\x00\x00\x00\x90"
        cpu.mem_write(CODE, code)
        cpu.set_teb(TEB2["x86"])
        assert cpu.run(CODE, until=CODE + len(code) - 1).kind == "until"
        assert cpu.retval == TEB2["x86"]


# --- contexts ---------------------------------------------------------------------------------------
def state_code(base):
    """Set GPRs, XMM0/1/7 from memory at `base`, and push 1.0 and pi on the x87 stack."""
    return (b"\xbe" + base.to_bytes(4, "little")          # mov esi, base
            + b"\xf3\x0f\x6f\x06"                           # movdqu xmm0,[esi]
            + b"\xf3\x0f\x6f\x4e\x10"                       # movdqu xmm1,[esi+16]
            + b"\xf3\x0f\x6f\x7e\x20"                       # movdqu xmm7,[esi+32]
            + b"\xd9\xe8\xd9\xeb"                           # fld1 ; fldpi
            + b"\xb8\x11\x11\x11\x11\xbb\x22\x22\x22\x22\xba\x33\x33\x33\x33\xbf\x44\x44\x44\x44"
            + b"\xbd\x55\x55\x55\x55\xf9")                  # mov eax..ebp ; stc


def dump_code(base):
    """Store xmm0/xmm7 and st0 (as double) to base+0x100.. so the engine state itself is checked."""
    return (b"\xbe" + base.to_bytes(4, "little")
            + b"\xf3\x0f\x7f\x86\x00\x01\x00\x00"           # movdqu [esi+0x100], xmm0
            + b"\xf3\x0f\x7f\xbe\x10\x01\x00\x00"           # movdqu [esi+0x110], xmm7
            + b"\xdd\x9e\x20\x01\x00\x00"                   # fstp qword [esi+0x120]
            + b"\xdd\x9e\x28\x01\x00\x00")                  # fstp qword [esi+0x128]


def test_context_round_trip(cpu, arch):
    pattern = bytes(range(48))
    cpu.mem_write(DATA, pattern)
    a = state_code(DATA)
    cpu.mem_write(CODE, a + b"\x90")
    assert cpu.run(CODE, until=CODE + len(a)).kind == "until"
    ctx = cpu.save_context()
    assert isinstance(ctx, Context)
    assert ctx.get("xmm0") == int.from_bytes(pattern[:16], "little")
    assert ctx.get("xmm7") == int.from_bytes(pattern[32:48], "little")
    assert ctx.get("eflags") & 1 == 1
    assert ctx.get("pc") == CODE + len(a)
    d = ctx.to_dict()
    assert {"fpcw", "fpsw", "fptag", "mxcsr", "fp0", "fp7", "cs", "fs_base"} <= set(d)

    # clobber everything
    clob = DATA + 0x1000
    cpu.mem_write(clob, b"\xee" * 48)
    b = state_code(clob).replace(b"\xd9\xe8\xd9\xeb", b"\xd9\xee\xd9\xee")     # fldz ; fldz
    b = b.replace(b"\x11\x11\x11\x11", b"\x99\x99\x99\x99").replace(b"\xf9", b"\xf8")   # clc
    cpu.mem_write(CODE + 0x200, b + b"\x90")
    cpu.sp = cpu.sp - 0x40
    assert cpu.run(CODE + 0x200, until=CODE + 0x200 + len(b)).kind == "until"
    assert cpu.save_context().to_dict() != d

    cpu.restore_context(ctx)
    assert cpu.save_context().to_dict() == d
    assert cpu.pc == CODE + len(a) and cpu.retval == 0x11111111
    dc = dump_code(DATA)
    cpu.mem_write(CODE + 0x400, dc + b"\x90")
    assert cpu.run(CODE + 0x400, until=CODE + 0x400 + len(dc)).kind == "until"
    assert cpu.mem_read(DATA + 0x100, 16) == pattern[:16]
    assert cpu.mem_read(DATA + 0x110, 16) == pattern[32:48]
    st0, st1 = struct.unpack("<dd", cpu.mem_read(DATA + 0x120, 16))
    assert st0 == pytest.approx(3.141592653589793) and st1 == 1.0


def test_context_switch_between_threads_with_different_tebs(cpu, arch):
    code = b"\x64\xa1\x18\x00\x00\x00" if arch == "x86" else b"\x65\x48\x8b\x04\x25\x30\x00\x00\x00"
    cpu.mem_write(CODE, code + b"\x90")
    t1 = cpu.save_context()
    cpu.set_teb(TEB2[arch])
    t2 = cpu.save_context()
    for ctx, teb in ((t1, TEB[arch]), (t2, TEB2[arch]), (t1, TEB[arch])):
        cpu.restore_context(ctx)
        assert cpu.run(CODE, until=CODE + len(code)).kind == "until"
        assert cpu.retval == teb


def test_context_get_set():
    ctx = Context("x64", {"rip": 1, "rsp": 2, "rflags": 3})
    ctx.pc = 0x1000
    ctx.set("sp", 0x2000)
    assert ctx.get("rip") == 0x1000 and ctx.sp == 0x2000 and ctx.get("eflags") == 3
    with pytest.raises(KeyError):
        ctx.set("nosuch", 1)
    c2 = ctx.copy()
    c2.pc = 5
    assert ctx.pc == 0x1000


# --- registers and memory -----------------------------------------------------------------------------
def test_registers_and_stack(cpu, arch):
    cpu.set_reg("ecx", 0x12345678)
    assert cpu.reg("ECX") == 0x12345678
    if arch == "x64":
        cpu.set_reg("r9", 0x1122334455667788)
        assert cpu.reg("r9") == 0x1122334455667788 and cpu.reg("r9d") == 0x55667788
    sp = cpu.sp
    cpu.push(0xDEADBEEF)
    assert cpu.sp == sp - cpu.ptr_size and cpu.read_ptr(cpu.sp) == 0xDEADBEEF
    assert cpu.pop() == 0xDEADBEEF and cpu.sp == sp
    cpu.retval = -1
    assert cpu.retval == (1 << (8 * cpu.ptr_size)) - 1
    cpu.set_reg("xmm3", 1 << 100 | 5)
    assert cpu.reg("xmm3") == 1 << 100 | 5
    with pytest.raises(KeyError):
        cpu.reg("nosuch")


def test_memory_helpers(cpu):
    cpu.write_u8(DATA, 0x1FF)
    cpu.write_u16(DATA + 2, 0xBEEF)
    cpu.write_u32(DATA + 4, 0xCAFEBABE)
    cpu.write_u64(DATA + 8, 0x0123456789ABCDEF)
    assert cpu.read_u8(DATA) == 0xFF and cpu.read_u16(DATA + 2) == 0xBEEF
    assert cpu.read_u32(DATA + 4) == 0xCAFEBABE and cpu.read_u64(DATA + 8) == 0x0123456789ABCDEF
    big = bytes(range(256)) * 40
    cpu.mem_write(DATA + 0x100, big)
    assert cpu.mem_read(DATA + 0x100, len(big)) == big
    # strings ending right at the end of the mapping (next page unmapped)
    end = DATA + 0x10000
    cpu.mem_write(end - 6, b"abcde\0")
    assert cpu.read_cstr(end - 6) == b"abcde"
    cpu.mem_write(end - 8, "héé\0".encode("utf-16-le"))
    assert cpu.read_wstr(end - 8) == "héé"
    cpu.mem_write(DATA + 0x3000, b"x" * 100 + b"\0")
    assert cpu.read_cstr(DATA + 0x3000, limit=10) == b"x" * 10
    cpu.mem_write(end - 3, b"zzz")
    with pytest.raises(CpuError) as ei:
        cpu.read_cstr(end - 3)          # runs off the mapping without a NUL
    assert ei.value.status == nt.STATUS_ACCESS_VIOLATION
    with pytest.raises(CpuError):
        cpu.mem_write(0x0AB00000, b"x")
    with pytest.raises(CpuError):
        cpu.read_u32(0x0AB00000)


def test_map_errors(cpu):
    with pytest.raises(CpuError) as ei:
        cpu.mem_map(DATA, 0x1000, PROT_ALL)
    assert ei.value.status == nt.STATUS_CONFLICTING_ADDRESSES
    with pytest.raises(CpuError):
        cpu.mem_map(0x1234, 0x1000, PROT_ALL)
    cpu.mem_unmap(DATA + 0x1000, 0x1000)
    with pytest.raises(CpuError):
        cpu.read_u8(DATA + 0x1000)
    assert cpu.read_u8(DATA + 0x2000) == 0


@pytest.mark.parametrize("kind", ["ctypes", "mmap"])
def test_host_buffer_shared_between_cpus(kind):
    size = 0x3000
    host = ctypes.create_string_buffer(size) if kind == "ctypes" else mmap.mmap(-1, size)
    a, b = Cpu("x86"), Cpu("x64")
    base = 0x10000000
    a.mem_map(base, size, PROT_READ | PROT_WRITE, host=host)
    b.mem_map(base + 0x100000, size, PROT_READ, host=host)
    a.mem_write(base + 0x10, b"shared!")
    assert b.mem_read(base + 0x100010, 7) == b"shared!"
    # a guest write in one process is visible in the other
    a.mem_map(CODE, 0x1000, PROT_ALL)
    a.mem_write(CODE, b"\xc7\x05" + (base + 0x2000).to_bytes(4, "little") + b"\x78\x56\x34\x12\x90")
    assert a.run(CODE, until=CODE + 10).kind == "until"
    assert b.read_u32(base + 0x102000) == 0x12345678
    # b's view is read-only: a guest write there faults as protected
    b.mem_map(CODE, 0x1000, PROT_ALL)
    b.mem_write(CODE, b"\xc7\x04\x25" + (base + 0x100000).to_bytes(4, "little") + b"\x01\x00\x00\x00\x90")
    r = b.run(CODE, until=CODE + 11)
    assert r.kind == "fault" and r.fault.kind == "protected" and r.fault.access == "write"
    # mem_protect on part of a host mapping
    a.mem_protect(base + 0x1000, 0x1000, PROT_READ)
    a.mem_write(CODE, b"\xc7\x05" + (base + 0x1000).to_bytes(4, "little") + b"\x01\x00\x00\x00\x90")
    r = a.run(CODE, until=CODE + 10)
    assert r.kind == "fault" and r.fault.address == base + 0x1000
    a.mem_protect(base + 0x1000, 0x1000, PROT_READ | PROT_WRITE)
    assert a.run(CODE, until=CODE + 10).kind == "until"
    assert b.read_u32(base + 0x101000) == 1
    assert bytes(host[0x10:0x17]) == b"shared!"
    a.mem_unmap(base, size)
    b.mem_unmap(base + 0x100000, size)


def test_gdt_page_is_read_write_after_setup(arch):
    cpu = make_cpu(arch)
    regions = {b: p for b, e, p in cpu.mem_regions()}
    assert regions[GDT[arch]] == PROT_READ | PROT_WRITE
    assert cpu.read_ptr(TEB[arch] + TEB_SELF[arch]) == TEB[arch]
