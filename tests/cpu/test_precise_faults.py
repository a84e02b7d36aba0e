"""Memory faults report the faulting instruction and the registers as they were before it, also after a
trap handler moved the pc (returning to its caller) earlier in the same run.

Unicorn 2.1 leaves `skip_sync_pc_on_exit` set after a pc write from a hook; a memory fault then left the CPU
loop without restoring the state of the faulting instruction: the pc read as the start of the translated
block while the registers already held the block's earlier updates, so resuming re-executed them
(cli-64.exe's __chkstk probe loop ran off the stack). See winhatch.cpu.core._calibrate_pc_sync.
"""
import pytest

from cpuhelp import CODE, DATA, STUBS, rel32, stdcall_ret_handler
from winhatch.cpu import PROT_NONE, PROT_READ, PROT_WRITE, TRAP_STUB, core

PAGE = 0x1000
PROT_PAGE = DATA + 0x1000          # the page the guest faults on (a guard page, as the kernel maps it)
TOP = PROT_PAGE + PAGE

INC_EBX = b"\xff\xc3"              # inc ebx (same encoding in both modes)
MOV_ESP_ESI = b"\x89\xf4"          # mov esp, esi (x64: zero-extends into rsp; the addresses are < 4 GiB)
MOV_ESP_EDI = b"\x89\xfc"          # mov esp, edi
STORE = b"\x89\x5e\xfc"            # mov [esi-4], ebx
PUSH = b"\x53"                     # push ebx
CALL0 = b"\xe8\x00\x00\x00\x00"    # call next ; pushes the address of next
POP_EDX = b"\x5a"                  # pop edx


def program(cpu, kind):
    """call <trap stub> ; inc ebx ; inc ebx ; [mov esp,esi] ; <faulting access> ; ... ; inc ebx ; mov esp,edi ; nop

    Returns (address of the faulting instruction, end address)."""
    code = bytearray()
    code += b"\xe8" + rel32(CODE + 5, STUBS)          # the handler pops the return address and sets the pc
    code += INC_EBX + INC_EBX
    if kind != "store":
        code += MOV_ESP_ESI
    at = CODE + len(code)
    code += {"store": STORE, "push": PUSH, "call": CALL0 + POP_EDX}[kind]
    code += INC_EBX + MOV_ESP_EDI
    end = CODE + len(code)
    cpu.mem_write(CODE, bytes(code) + b"\x90")
    return at, end


@pytest.fixture(params=["calibrated", "clear", "restart"])
def pc_sync(request):
    """The configuration the CPU calibrated for itself, and both ways the CPU keeps faults precise: clearing
    Unicorn's flag (when calibrated) and restarting the emulation after a pc write (the fallback)."""
    if request.param == "clear" and core._calibrate_pc_sync()[0] != "clear":
        pytest.skip(f"this Unicorn needs no flag clearing: {core._calibrate_pc_sync()}")
    return request.param


@pytest.mark.parametrize("kind", ["store", "push", "call"])
def test_fault_after_trap_pc_write_is_precise(cpu, kind, pc_sync):
    if pc_sync == "restart":
        cpu._pc_sync_flag = None
        cpu._restart_on_pc_write = True
    ptr = cpu.ptr_size
    cpu.mem_write(STUBS, TRAP_STUB)
    h = stdcall_ret_handler(0)
    cpu.set_trap_handler(h)
    at, end = program(cpu, kind)
    cpu.mem_protect(PROT_PAGE, PAGE, PROT_NONE)
    sp0 = cpu.sp
    cpu.set_reg("ebx", 0)
    cpu.set_reg("esi", TOP)
    cpu.set_reg("edi", sp0)

    r = cpu.run(CODE, until=end)
    assert len(h.calls) == 1
    assert r.kind == "fault", r
    f = r.fault
    assert (f.pc, f.access, f.address, f.kind) == (at, "write", TOP - (4 if kind == "store" else ptr),
                                                   "protected")
    # exactly the state before the faulting instruction
    assert cpu.pc == at
    assert cpu.reg("ebx") == 2
    assert cpu.sp == (sp0 if kind == "store" else TOP)

    # what the kernel does for a guard page: make it accessible, resume at the same pc
    cpu.mem_protect(PROT_PAGE, PAGE, PROT_READ | PROT_WRITE)
    r = cpu.run(cpu.pc, until=end)
    assert r.kind == "until", r
    assert cpu.reg("ebx") == 3 and cpu.sp == sp0
    if kind == "store":
        assert cpu.read_u32(TOP - 4) == 2
    elif kind == "push":
        assert cpu.read_ptr(TOP - ptr) == 2
    else:
        assert cpu.reg("edx") == at + len(CALL0) == cpu.read_ptr(TOP - ptr)


def test_many_traps_then_fault_in_one_run(cpu, pc_sync):
    """A loop of API calls (each a pc write from the hook) followed by a faulting store: still precise."""
    if pc_sync == "restart":
        cpu._pc_sync_flag = None
        cpu._restart_on_pc_write = True
    cpu.mem_write(STUBS, TRAP_STUB)
    h = stdcall_ret_handler(1, lambda va, a: a[0] + 1)
    cpu.set_trap_handler(h)
    # mov ecx,100 ; xor ebx,ebx ; L: push 1 ; call stub ; add ebx,eax ; dec ecx ; jnz L ; inc ebx ; mov [esi-4],ebx
    code = bytearray(b"\xb9" + (100).to_bytes(4, "little") + b"\x31\xdb")
    loop = len(code)
    code += b"\x6a\x01" + b"\xe8" + rel32(CODE + len(code) + 7, STUBS) + b"\x01\xc3\xff\xc9"
    code += b"\x75" + bytes([(loop - (len(code) + 2)) & 0xFF])
    code += INC_EBX
    at = CODE + len(code)
    code += STORE
    end = CODE + len(code)
    cpu.mem_write(CODE, bytes(code) + b"\x90")
    cpu.mem_protect(PROT_PAGE, PAGE, PROT_NONE)
    cpu.set_reg("esi", TOP)
    r = cpu.run(CODE, until=end)
    assert r.kind == "fault" and r.fault.pc == at and cpu.pc == at, r
    assert len(h.calls) == 100 and cpu.reg("ebx") == 201 and cpu.reg("ecx") == 0


def test_calibration_result_is_consistent():
    how, off = core._calibrate_pc_sync()
    assert how in ("precise", "clear", "restart")
    assert (off is not None) == (how == "clear")
