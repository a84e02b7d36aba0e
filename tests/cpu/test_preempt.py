"""A run ended by its wall-clock time-out (the scheduler's time slice) stops between two instructions, so the
thread resumes exactly where it was.

Unicorn 2.1 tests an exit request after every guest memory access inside a translated block and rolls the pc
back to the start of the instruction that made it: uc_emu_stop called from another host thread could end a run
right after the store of `add [m], 1` or `lock xadd` with the pc still on that instruction, and the resumed
thread ran it again (measured: wrong at the very first stop of this loop).  Cpu.run now has the engine's own
thread request the stop at a block start (winhatch.cpu.core._Watchdog)."""
import ctypes
import struct

from cpuhelp import CODE, DATA

# L:  add dword [ebx], 1          ; memory read-modify-write
#     inc ecx                     ; ... counted again in a register
#     mov edx, 1
#     lock xadd [ebx+4], edx      ; locked read-modify-write that also writes a register
#     inc edi                     ; ... counted again
#     jmp L
LOOP = bytes.fromhex("830301" "ffc1" "ba01000000" "f00fc15304" "ffc7" "ebed")
AFTER_ADD, AFTER_XADD = CODE + 3, CODE + 15
BOUNDARIES = {CODE, CODE + 3, CODE + 5, CODE + 10, CODE + 15, CODE + 17}


def _state(cpu):
    add, xadd = struct.unpack("<II", cpu.mem_read(DATA, 8))
    return cpu.pc, add, xadd, cpu.reg("ecx"), cpu.reg("edi")


def test_timeout_stops_resume_exactly(cpu):
    cpu.mem_write(CODE, LOOP)
    cpu.set_reg("ebx", DATA)
    pc, stops = CODE, 0
    for stops in range(1, 201):
        r = cpu.run(pc, timeout_s=0.001)
        assert r.kind == "timeout"
        pc, add, xadd, ecx, edi = _state(cpu)
        assert pc in BOUNDARIES
        # each memory count equals its register count, plus one between the instruction and its count
        assert (add, xadd) == (ecx + (pc == AFTER_ADD), edi + (pc == AFTER_XADD)), (stops, hex(pc))
    assert ecx > 1000   # the loop really ran across the stops


def test_the_hook_is_installed_only_for_runs_that_are_resumed(cpu):
    cpu.mem_write(CODE, LOOP)
    cpu.set_reg("ebx", DATA)
    # a run the caller will not resume (the machine's own time limit) is stopped the plain way: a program
    # that never has its threads preempted pays nothing for the hook
    assert cpu.run(CODE, timeout_s=0.01, resumable=False).kind == "timeout"
    assert cpu._preempt_slot is None
    assert cpu.run(cpu.pc, timeout_s=0.01).kind == "timeout"
    assert cpu._preempt_slot
    # the slot is disarmed when the run ends: a later run without a time-out is not stopped by it
    cpu.mem_write(CODE + 0x100, b"\xb9\x00\x00\x10\x00" + b"\xff\xc9\x75\xfc" + b"\x90")   # ecx=1M; loop
    assert cpu.run(CODE + 0x100, until=CODE + 0x109).kind == "until"
    assert cpu.reg("ecx") == 0


def test_the_watchdog_is_not_woken_for_a_later_deadline():
    """_Watchdog.arm wakes its thread (a GIL hand-over, 0.4 ms measured: 10 of kernel32/debugger's 70 s) only for
    a deadline before the one it sleeps towards; a run armed and disarmed again and again with the same or a
    later deadline (the machine's time limit, a time slice) leaves it asleep, and a deadline still fires."""
    import threading
    import time

    from winhatch.cpu import core
    wd = core._Watchdog()
    notes = []
    real_notify = wd._cv.notify
    wd._cv.notify = lambda *a: (notes.append(1), real_notify(*a))[1]
    far = time.monotonic() + 60
    stopped = threading.Event()
    for i in range(50):
        tok = wd.arm(0, far + i * 1e-3)     # handle 0: an asynchronous stop would be asked of no engine
        for _ in range(100):                # let the thread reach its wait
            with wd._cv:
                if wd._wake_at < float("inf"):
                    break
            time.sleep(0.001)
        assert not wd.disarm(tok)
    assert len(notes) == 1, notes           # only the first arm (the thread slept without a deadline)
    slot = ctypes.c_void_p(core._preempt_calls()[0])
    tok = wd.arm(0, time.monotonic() + 0.05, slot)   # earlier than the one it sleeps towards: woken
    assert len(notes) == 2
    for _ in range(400):
        if wd.fired(tok):
            stopped.set()
            break
        time.sleep(0.005)
    assert stopped.is_set() and slot.value == core._preempt_calls()[1]
    assert wd.disarm(tok)
