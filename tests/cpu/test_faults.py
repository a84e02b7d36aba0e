"""Guest faults come back as GuestFault with the NTSTATUS Windows would raise."""
import pytest

from cpuhelp import CODE, DATA, make_cpu
from winhatch import ntstatus as nt
from winhatch.cpu import PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE

UNMAPPED = 0x0AB00000


def mov_eax_from(addr):   # mov eax, [addr] — absolute in x86; in x64 use mov eax,[abs32] via SIB
    return b"\x8b\x04\x25" + addr.to_bytes(4, "little")


def mov_to_abs(addr):      # mov [addr], eax
    return b"\x89\x04\x25" + addr.to_bytes(4, "little")


def run_code(cpu, code):
    cpu.mem_write(CODE, b"\x90" + code + b"\x90" * 8)
    return cpu.run(CODE, until=CODE + 1 + len(code))


def expect_fault(r, status, pc=CODE + 1, **kw):
    assert r.kind == "fault", r
    f = r.fault
    assert f.status == status, (nt.status_name(f.status), f)
    assert f.pc == pc
    for k, v in kw.items():
        assert getattr(f, k) == v, (k, f)
    return f


@pytest.mark.parametrize("access,code", [("read", mov_eax_from(UNMAPPED + 0x10)),
                                         ("write", mov_to_abs(UNMAPPED + 0x10))])
def test_unmapped_data_access(cpu, access, code):
    f = expect_fault(run_code(cpu, code), nt.STATUS_ACCESS_VIOLATION, access=access,
                     address=UNMAPPED + 0x10, kind="unmapped")
    assert cpu.pc == f.pc


def test_execute_unmapped_and_null(cpu):
    # mov eax, UNMAPPED ; jmp eax
    r = run_code(cpu, b"\xb8" + UNMAPPED.to_bytes(4, "little") + b"\xff\xe0")
    expect_fault(r, nt.STATUS_ACCESS_VIOLATION, pc=UNMAPPED, access="execute", address=UNMAPPED, kind="unmapped")
    # call to address 0 must be an execute fault, not a silent stop at `until` 0
    r = run_code(cpu, b"\x31\xc0\xff\xd0")
    expect_fault(r, nt.STATUS_ACCESS_VIOLATION, pc=0, access="execute", address=0)


@pytest.mark.parametrize("perms,access,code", [
    (PROT_NONE, "read", mov_eax_from(DATA + 0x2008)),
    (PROT_NONE, "write", mov_to_abs(DATA + 0x2008)),
    (PROT_READ, "write", mov_to_abs(DATA + 0x2008)),
])
def test_protected_data_access(cpu, perms, access, code):
    cpu.mem_protect(DATA + 0x2000, 0x1000, perms)
    expect_fault(run_code(cpu, code), nt.STATUS_ACCESS_VIOLATION, access=access, address=DATA + 0x2008,
                 kind="protected")


@pytest.mark.parametrize("perms,access,code", [
    (PROT_NONE, "read", mov_eax_from(DATA + 0x2008)),
    (PROT_NONE, "write", mov_to_abs(DATA + 0x2008)),
    (PROT_READ, "write", mov_to_abs(DATA + 0x2008)),
])
def test_repeated_protected_access_faults_every_time(cpu, perms, access, code):
    """Unicorn fills its TLB before checking a mapping's permissions; a second identical access (an
    exception handler resuming at the same instruction) must fault again, not slip through the TLB."""
    cpu.mem_protect(DATA + 0x2000, 0x1000, perms)
    for _ in range(3):
        expect_fault(run_code(cpu, code), nt.STATUS_ACCESS_VIOLATION, access=access, address=DATA + 0x2008,
                     kind="protected")


def test_fault_address_is_reported_without_a_memory_hook(cpu):
    """The fault address comes from the engine (no UC_HOOK_MEM_INVALID when calibrated): it must be
    the address of *this* fault, not a stale one."""
    for addr in (UNMAPPED + 0x10, UNMAPPED + 0x2344, UNMAPPED + 0xFF8):
        expect_fault(run_code(cpu, mov_eax_from(addr)), nt.STATUS_ACCESS_VIOLATION, access="read",
                     address=addr, kind="unmapped")


def test_guard_page_is_reported_as_protected(cpu):
    """PROT_NONE is how the memory manager represents PAGE_GUARD; kind=='protected' lets it
    convert the fault to STATUS_GUARD_PAGE_VIOLATION."""
    cpu.mem_protect(DATA, 0x1000, PROT_NONE)
    f = expect_fault(run_code(cpu, mov_eax_from(DATA + 4)), nt.STATUS_ACCESS_VIOLATION)
    assert f.kind == "protected" and f.address == DATA + 4
    cpu.mem_protect(DATA, 0x1000, PROT_READ | PROT_WRITE)   # guard cleared → retry succeeds
    cpu.write_u32(DATA + 4, 0x1234)
    r = cpu.run(cpu.pc, until=CODE + 8)
    assert r.kind == "until" and cpu.retval == 0x1234


def test_execute_non_executable(cpu):
    cpu.mem_write(DATA + 0x100, b"\x90\xc3")
    r = run_code(cpu, b"\xb8" + (DATA + 0x100).to_bytes(4, "little") + b"\xff\xe0")
    expect_fault(r, nt.STATUS_ACCESS_VIOLATION, pc=DATA + 0x100, access="execute", address=DATA + 0x100,
                 kind="protected")
    cpu.mem_protect(DATA, 0x1000, PROT_READ | PROT_EXEC)
    cpu.mem_write(CODE + 0x100, b"\x90")
    r = run_code(cpu, b"\xb8" + (DATA + 0x100).to_bytes(4, "little") + b"\xff\xd0")   # call eax
    assert r.kind == "until"


def test_divide_by_zero_repeatedly(cpu):
    """Several contributory faults in a row must not turn into #DF / a silent triple-fault stop."""
    for _ in range(5):
        f = expect_fault(run_code(cpu, b"\x31\xc9\xf7\xf1"), nt.STATUS_INTEGER_DIVIDE_BY_ZERO, pc=CODE + 3)
        assert f.kind == "divide"
    for _ in range(3):   # mixed with #GP
        expect_fault(run_code(cpu, b"\xf4"), nt.STATUS_PRIVILEGED_INSTRUCTION)
        expect_fault(run_code(cpu, b"\x31\xc9\xf7\xf1"), nt.STATUS_INTEGER_DIVIDE_BY_ZERO, pc=CODE + 3)
    assert run_code(cpu, b"\xb8\x05\x00\x00\x00").kind == "until" and cpu.retval == 5


def test_int3(cpu):
    f = expect_fault(run_code(cpu, b"\xcc"), nt.STATUS_BREAKPOINT, kind="breakpoint")
    assert cpu.pc == f.pc      # pc = the int3 itself


@pytest.mark.parametrize("code", [b"\x0f\x0b", b"\x0f\xff", b"\xc4\xc4"], ids=["ud2", "ud0", "bad-vex"])
def test_invalid_opcode(cpu, code):
    if code == b"\xc4\xc4" and cpu.arch == "x86":
        pytest.skip("c4 c4 is les in 32-bit mode")
    expect_fault(run_code(cpu, code), nt.STATUS_ILLEGAL_INSTRUCTION, kind="invalid-opcode")


@pytest.mark.parametrize("name,code", [
    ("hlt", b"\xf4"), ("cli", b"\xfa"), ("sti", b"\xfb"), ("in", b"\xe4\x60"), ("out", b"\xe6\x60"),
    ("in-dx", b"\xec"), ("mov-cr0", b"\x0f\x20\xc0"), ("mov-to-cr3", b"\x0f\x22\xd8"),
    ("rdmsr", b"\x0f\x32"), ("wbinvd", b"\x0f\x09"), ("lgdt", b"\x0f\x01\x10"),
])
def test_privileged_instructions(cpu, name, code):
    f = expect_fault(run_code(cpu, code), nt.STATUS_PRIVILEGED_INSTRUCTION, kind="privileged")
    assert cpu.reg("cs") & 3 == 3


def test_other_int_vectors_are_access_violations(cpu):
    f = expect_fault(run_code(cpu, b"\xcd\x80"), nt.STATUS_ACCESS_VIOLATION, kind="gp")
    expect_fault(run_code(cpu, b"\xcd\x29"), nt.STATUS_STACK_BUFFER_OVERRUN, kind="fastfail")


def test_code_rewritten_after_fault_runs_new_code(cpu):
    expect_fault(run_code(cpu, b"\x0f\x20\xc0"), nt.STATUS_PRIVILEGED_INSTRUCTION)
    expect_fault(run_code(cpu, b"\x0f\x0b\x90"), nt.STATUS_ILLEGAL_INSTRUCTION)
    assert run_code(cpu, b"\xb8\x09\x00\x00\x00").kind == "until" and cpu.retval == 9


def test_fault_then_resume_after_fixing(cpu):
    r = run_code(cpu, mov_eax_from(UNMAPPED))
    assert r.kind == "fault"
    cpu.mem_map(UNMAPPED, 0x1000, PROT_READ)
    cpu.mem_write(UNMAPPED, b"\x44\x33\x22\x11")
    r = cpu.run(cpu.pc, until=CODE + 8)
    assert r.kind == "until" and cpu.retval == 0x11223344


def test_ring0_without_setup_still_reports_faults(arch):
    cpu = make_cpu(arch, user=False)
    expect_fault(run_code(cpu, b"\x31\xc9\xf7\xf1"), nt.STATUS_INTEGER_DIVIDE_BY_ZERO, pc=CODE + 3)
    expect_fault(run_code(cpu, mov_eax_from(UNMAPPED)), nt.STATUS_ACCESS_VIOLATION, access="read")
    expect_fault(run_code(cpu, b"\x0f\x0b"), nt.STATUS_ILLEGAL_INSTRUCTION)


def test_disassemble(cpu):
    cpu.mem_write(CODE, b"\x31\xc9\xf7\xf1\x90")
    lines = cpu.disassemble(CODE, 3)
    assert lines == [f"{CODE:#x}: xor ecx, ecx", f"{CODE + 2:#x}: div ecx", f"{CODE + 4:#x}: nop"]
    assert "unmapped" in cpu.disassemble(UNMAPPED)[0]
