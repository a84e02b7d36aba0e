"""winhatch.cpu — the Unicorn backend for x86 and x64.

Design notes (numbers measured on the dev box with unicorn 2.1.4; see bench/cpu_bench.py)
-----------------------------------------------------------------------------------------
Traps.  API exports of the synthetic DLLs contain ``api_stub``: it stores the export's address, the stack
pointer and the x64 argument registers in a frame in the TEB (TRAP_FRAME: TEB.SystemReserved1), executes
``TRAP_STUB = int 0x2e`` (CD 2E), then loads the return value from the frame and returns.  When the kernel
gave the TEB's host memory to set_teb, the hook reads the frame directly: a trap whose address is in
``fast_traps`` is served there with no register access at all (~1.7 µs of hook overhead per call on the
2-core box, of which ~1.1 µs is Unicorn's exit and the ctypes callback); other traps go to the trap
handler with that address.  A bare ``int 0x2e`` (no frame) gives ``trap_va = pc - 2``.  The older
measurements below (bench/cpu_bench.py, best of 3, shared 2-core box, so noisy) are of bare traps:

    raw mechanism, empty Python handler (traps/s)   x86      x64
    int 0x2e + UC_HOOK_INTR                         ~960k    ~490k
    syscall + UC_HOOK_INSN                          ~990k    ~520k
    sysenter + UC_HOOK_INSN                         ~940k    ~590k
    nop + UC_HOOK_CODE limited to the stub range    ~900k    ~540k
    full round trip through this API                ~75k     ~69k   (handler: pop ra, pop arg, set eax, set pc)
    tight guest loop, no traps                      ~940M    ~700M  insn/s
    same with max_instructions (count hook)         ~57M     ~46M   insn/s

The mechanisms are within noise of each other: the ctypes callback dominates, and the handler's own
register/memory accesses dominate the round trip (that is why ``_native`` calls libunicorn directly:
the binding's reg_read costs ~5 µs, ours ~0.6 µs; with the binding the round trip was ~36k/s).
``int 0x2e`` was chosen because it is the robust one:
  * syscall/sysenter hooks run *before* Unicorn adds the instruction length to EIP, so a handler that
    sets PC (emulating ``ret``) gets it moved by 2 bytes; ``syscall`` is also #UD in 32-bit mode on
    real CPUs.
  * a code hook needs the stub region(s) to be known up front and costs a helper call per instruction
    of every block in that region.
  * ``int`` always ends a translation block and is an architectural exception: EIP after it is exact,
    and writing PC in the hook is honoured (tested in loops and with the stub at a page end).
  * the same hook receives every CPU exception (#DE, #BP, #GP, ...), so faults cost nothing extra.
A DEFERred trap leaves pc at the stub (trap_va): resuming without changing pc re-executes the trap,
which gives restart semantics for blocking calls; the caller normally emulates the ``ret``.
There is no per-instruction hook anywhere; the only hooks are INTR, MEM_INVALID and IN/OUT/SYSCALL/SYSENTER
instruction hooks, which fire on events only.  System calls (winhatch.kernel.ke.services): `syscall` (x64)
and `sysenter` go to ``set_syscall_handler``'s function from their instruction hooks, which run before
Unicorn moves the pc past the instruction (a pc the handler writes is compensated); an ``int 0x2e`` whose
frame names no API stub reaches the trap handler, which sends it to the same dispatcher.

Ring 3.  ``setup_segments`` writes a Windows-shaped GDT (x86: 0x1B/0x23/0x3B; x64: 0x33/0x2B/0x53) and
runs a 7-instruction bootstrap that ``iret``s from ring 0 to ring 3 (Unicorn refuses to load a DPL-3
SS at CPL 0 through reg_write).  At CPL 3 hlt, cli/sti, in/out (IOPL 0), mov crN/drN, rdmsr, wbinvd ...
raise #GP; the GP is decoded with capstone (only on the fault path) and reported as
STATUS_PRIVILEGED_INSTRUCTION, other #GPs as STATUS_ACCESS_VIOLATION at address -1 as Windows does.
Unicorn does not check IOPL for in/out, so UC_HOOK_INSN hooks on IN/OUT report them (they fire only
when such an instruction runs).  Works for x86 and x64.  Without setup_segments the CPU stays at CPL 0:
faults still work but privileged instructions execute (hlt ends the run as "stopped").
x64: Unicorn has no paging here and cannot fetch from upper-half addresses, so gdt_va must be a
low canonical address (e.g. 0x7FFF_FFFF_0000, the no-access gap above user space).

Unicorn quirks handled here:
  * Unicorn never "delivers" exceptions it hands to UC_HOOK_INTR, so QEMU's ``old_exception`` is never
    reset: a second #DE/#GP turns into #DF and a third silently halts the CPU.  After each such fault
    the field is reset through a saved uc_context (its offset is found once by diffing contexts).
  * ``until`` is only honoured when the block containing it is translated; cached blocks spanning it
    run through.  run() drops the blocks covering ``until`` first.  With no ``until`` an unreachable
    address is used, so jumping to 0 is an execute fault rather than a silent stop.
  * A self-looping block stopped asynchronously (timeout) is not invalidated by later host writes of
    code at its address; after a timeout the blocks of the stop page are dropped.  Likewise a block
    that raised #GP at translation time (mov crN at CPL 3); after any fault the fault page's blocks
    are dropped.
  * Unicorn's ``timeout`` spawns a thread per emu_start (~1 ms); a single watchdog thread is used.
  * ``uc_emu_stop`` from another host thread can end a run in the middle of an instruction: the exit
    request is also tested after each memory access inside a block, and that exit rolls the pc back to
    the instruction whose store already happened (a ``lock xadd`` resumed runs twice).  A run ended by
    ``timeout_s`` is therefore stopped by a block hook of the engine's own thread, at a block start
    (see ``_Watchdog``); the asynchronous stop is left to runs nobody resumes (Ctrl-C, the machine's time
    limit).
  * ``max_instructions`` uses Unicorn's count hook: a C helper per instruction (~25x slower than a
    free run) and switching between counted and uncounted runs flushes the translation cache.  Prefer
    ``timeout_s`` for time slicing.
"""
from winhatch.cpu.context import Context
from winhatch.cpu.core import (FRAME_RESULT, PROT_ALL, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE, TRAP_FRAME,
                               TRAP_STUB, TRAP_VECTOR, Cpu, CpuError, GuestFault, StopReason, api_stub)

__all__ = ["Cpu", "Context", "StopReason", "GuestFault", "CpuError", "PROT_READ", "PROT_WRITE", "PROT_EXEC",
           "PROT_NONE", "PROT_ALL", "TRAP_STUB", "TRAP_VECTOR", "TRAP_FRAME", "FRAME_RESULT", "api_stub"]
