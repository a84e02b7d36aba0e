"""The dispatcher: the scheduler of every guest thread of every process, traps, faults and exits.

Scheduling (measured and chosen; see bench/sched_bench.py)
- Every thread of every emulated process is scheduled here; each process has its own CPU and address space,
  each thread its saved context, TEB and stack. Threads of one process share their process's CPU: a switch
  saves and restores the register context.
- Threads run round-robin in *slices*. A slice is counted in **API calls (traps)**, not instructions:
  `cpu.run(max_instructions=N)` makes Unicorn call a counting helper after every instruction (15-25x slower)
  and switching between counted and uncounted runs flushes its translation cache, while a trap costs nothing
  extra to count. The quantum is `slice_traps` calls at priority 8, scaled by the thread's priority (its
  process's priority class plus SetThreadPriority), so higher priorities run longer and first in each round;
  among equal priorities a round goes least recently run first (a FIFO ready queue, `_order`), so a thread that
  could not run at its turn (another thread froze its process, took its lock) heads the next round; nobody
  starves. Slicing is on only while more than one thread can run (or a timed wait/timer is pending);
  a lone runnable thread runs unsliced, as fast as before.
- A thread that computes without any API call while others want to run is preempted by a wall-clock backstop
  (`slice_wall_s`, 50 ms): that point is not deterministic, but it only matters for programs that spin without
  calling the system. The stop lands between two instructions (a block hook of the engine's own thread, armed
  by the CPU's watchdog: winhatch.cpu.core._Watchdog), so the thread resumes exactly; an asynchronous
  uc_emu_stop could end a run between the store and the rest of a read-modify-write instruction, which then
  ran twice (Go's "schedule: holding locks", 7za's bad archives). `mode="instructions"` uses counted instruction budgets instead (fully deterministic,
  slower). Everything else is deterministic: the same program gives the same interleaving every run.
  `seed` (an int) varies interleavings reproducibly: each round's order and each quantum are drawn from a PRNG.
- Time: emulated time advances with executed instructions when they are counted, by `API_CALL_TICKS` per API
  call, and jumps forward when every thread waits with a time-out (the machine is idle until the next
  deadline or timer). Sleep, time-outs and waitable timers all use it, so they cost no host time.
- Blocking (`winhatch.kernel.ke.wait`): a handler raises WouldBlock; the thread stops with its pc on the trap
  stub; when the wait is satisfied it re-executes the trap and the handler finds its result. A thread
  blocking inside a nested guest call (`call_guest`: DllMain, a callback) cannot unwind its Python frames, so
  other threads run from inside its nested loop until it can continue (`_nested_wait`); such "pinned"
  threads are only resumed by their own frame.
- When no thread can run and none waits with a time-out, the machine reports the deadlock (a `deadlock`
  event naming each thread and what it waits on) and stops with STATUS_POSSIBLE_DEADLOCK.

Traps: a trap (a guest call into a synthetic system DLL) is handled inside the CPU hook when its handler is
plain Python; a handler that must run guest code (the loader calling DllMain, RtlUserThreadStart, …) is
deferred: the CPU stops, the handler runs here and may call `call_guest`, which runs the guest until the callee
returns to ntdll's internal return stub.

Faults become guest exceptions: guard pages and stack growth are settled with the memory manager; everything
else goes to the user-mode exception dispatcher that ntdll's layer installs (KiUserExceptionDispatcher), and
when nothing handles it the process ends with the exception code.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable

from winhatch._record import Record
from winhatch.ntstatus import (STATUS_ACCESS_VIOLATION, STATUS_BREAKPOINT, STATUS_GUARD_PAGE_VIOLATION,
                               STATUS_IN_PAGE_ERROR,
                               STATUS_INSTRUCTION_BUDGET_EXHAUSTED, STATUS_NOT_IMPLEMENTED, STATUS_STACK_OVERFLOW,
                               STATUS_CONTROL_C_EXIT, STATUS_IO_TIMEOUT, STATUS_POSSIBLE_DEADLOCK, status_name)
from winhatch.kernel import events as ev
from winhatch.kernel import hooks as _hooks
from winhatch.kernel.ke import wait as kwait
from winhatch.kernel.ke import traps as _traps
from winhatch.kernel.ke import hwbp
from winhatch.kernel.ke.traps import SPECULATIVE
from winhatch.kernel.ke.wait import Preempt, WouldBlock

if TYPE_CHECKING:
    from winhatch.kernel.ps.objects import Process, Thread

INF = 1 << 62
API_CALL_TICKS = 10  # emulated time per API call: 1 µs


class GuestTermination(Exception):
    """Unwinds Python frames (nested guest calls, handlers) when a guest thread or process ends."""

    def __init__(self, status: int):
        super().__init__(f"0x{status & 0xFFFFFFFF:08X}")
        self.status = status & 0xFFFFFFFF


class ThreadExit(GuestTermination):
    pass


class ProcessExit(GuestTermination):
    pass


class GuestUnwind(BaseException):
    """An unwind (RtlUnwind(Ex), longjmp) from a guest function called by a handler (call_guest: an APC a wait
    delivers, a callback) to a frame outside that call: as on Windows, where the caller's frames are guest frames
    the unwind simply leaves, the Python frames of the handler and of its nested run are left too — this
    propagates out of them to the run of `level` (the nesting depth the outermost call left was made at), which
    continues the thread at `ctx`."""

    def __init__(self, ctx, level: int):
        super().__init__("guest unwind")
        self.ctx = ctx
        self.level = level


class GuestCallNeeded(BaseException):
    """A SPECULATIVE handler served inside the CPU hook reached call_guest: its call is served again, deferred."""


class GuestCallFaulted(Exception):
    """A guarded guest call (call_guest(guard=True)) ended in its frame's exception handler: an exception the
    callee's own handlers (vectored, frame-based) left unhandled reached the caller's __except, which took it
    (as ntdll's LdrpCallInitRoutine takes one raised by a DLL's entry point). `code` is the exception code."""

    def __init__(self, code: int):
        super().__init__(f"exception 0x{code & 0xFFFFFFFF:08X} in a guarded guest call")
        self.code = code & 0xFFFFFFFF


class CallGuard:
    """The frame of a guarded guest call, as the user-mode exception dispatcher's stack walk meets it: `slot` is
    where the callee's return address (ntdll!WhCallReturn) is stored; on x86 `registration` is the
    EXCEPTION_REGISTRATION the call links into TEB.NtTib.ExceptionList (handler ntdll!WhCallGuard) and `prev`
    the list head it replaced. The dispatcher sets `caught` to the exception code when the walk reaches the frame
    with nothing handling the exception (the frame's filter takes every exception), unwinds the callee's frames
    and resumes at the return stub."""
    __slots__ = ("slot", "registration", "prev", "caught")

    def __init__(self) -> None:
        self.slot = 0
        self.registration = 0
        self.prev = 0
        self.caught: int | None = None


def tick_in_service(thread) -> bool:
    """Did the clock tick that ended `thread`'s quantum fall inside the system service it had just made, or in
    its own code right after it returned?  On Windows the tick lands in either, in proportion to the time the
    thread spends in each (a thread suspended by another is then seen inside a call or in its own code: a
    WoW64 thread in 64-bit or 32-bit mode, ntdll/exception.c test_wow64_context waits for both). In "traps"
    mode user code is not timed, so winhatch takes each half the time, in a fixed sequence per thread (the
    top bit of the 32-bit Fibonacci hash of the thread's count of quantum ends): deterministic, and with no
    short period a polling thread could fall in step with."""
    n = thread.__dict__.get("quantum_ends", 0) + 1
    thread.quantum_ends = n
    return bool((n * 0x9E3779B1) & 0x80000000)


def call_guards(thread) -> list:
    """The thread's guarded guest calls in progress, outermost first."""
    return thread.__dict__.setdefault("call_guards", [])


class MachineStop(Exception):
    """The whole machine stops (instruction or time budget reached, deadlock)."""

    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def interrupted_stop() -> MachineStop:
    """What a Ctrl-C ends the machine with: the guests end with STATUS_CONTROL_C_EXIT, the status a console
    process ends with on Windows when it does not handle CTRL_C_EVENT."""
    return MachineStop("interrupted (Ctrl-C)", STATUS_CONTROL_C_EXIT)


class ExceptionInfo(Record):
    _fields = ("code", "address", "access", "fault_address", "description", "parameters", "first_chance", "flags",
               "record_chain", "context")

    def __init__(self, code: int, address: int, access: str | None = None, fault_address: int | None = None,
                 description: str = "", parameters: tuple = (), first_chance: bool = True, flags: int = 0,
                 record_chain: int = 0, context: object = None) -> None:
        self.code = code
        self.address = address
        self.access = access
        self.fault_address = fault_address
        self.description = description
        self.parameters = parameters
        self.first_chance = first_chance
        self.flags = flags                  # EXCEPTION_RECORD.ExceptionFlags (EXCEPTION_NONCONTINUABLE, …)
        self.record_chain = record_chain    # EXCEPTION_RECORD.ExceptionRecord (a nested exception's cause)
        self.context = context              # a winhatch.cpu.Context to dispatch with instead of the CPU's registers


def fault_parameters(info: ExceptionInfo) -> tuple:
    """EXCEPTION_RECORD.ExceptionInformation of an exception: its own parameters, or for a memory fault
    (access violation, guard page, in-page error) [0 read / 1 write / 8 execute, the address], for a
    breakpoint [0]."""
    if info.parameters:
        return tuple(info.parameters)
    if info.code in (STATUS_ACCESS_VIOLATION, STATUS_GUARD_PAGE_VIOLATION, STATUS_IN_PAGE_ERROR):
        kind = {"read": 0, "write": 1, "execute": 8}.get(info.access or "read", 0)
        return (kind, info.fault_address or 0)
    if info.code == STATUS_BREAKPOINT:
        return (0,)
    return ()


def _stub_int_offset(arch: str) -> int:
    from winhatch.cpu import api_stub
    return api_stub(arch)[2]


class Dispatcher:
    def __init__(self, machine):
        self.machine = machine
        self.current: "Thread | None" = None
        self._pending = None  # deferred trap (thread, handler, va)
        self._pending_exc: BaseException | None = None
        self._in_hook = None  # the handler running inside the CPU hook, if any
        self.slice_instructions = 200_000  # mode "instructions": the quantum in instructions
        self.slice_traps = 64  # the quantum in API calls at priority 8
        self.slice_wall_s = 0.05  # mode "traps": wall-clock backstop for threads that never call an API
        self.mode = "traps"  # "traps" | "instructions"
        self.seed: int | None = None  # vary interleavings reproducibly
        self._rng = None    # a random.Random once `seed` shuffles a round (imported then)
        self.max_instructions = 0  # machine-wide budget; 0 = none
        self.max_api_calls = 0     # calls that reach the kernel or a Python handler; 0 = none
        self.max_emulated = 0      # emulated time since the machine started, 100 ns units; 0 = none
        self.timeout_s = 0.0
        self.instructions = 0
        self.api_calls = 0
        #: api_calls when the running slice began: the calls of the slice not yet added to the clock
        self._slice_calls = 0
        machine.clock.pending = self._pending_ticks
        self.switches = 0
        self._ready_seq = 0   # the ready queue's clock (_order)
        self._deadline = None
        #: set by interrupt() (a Ctrl-C, from a signal handler or another host thread): the machine stops
        #: with STATUS_CONTROL_C_EXIT at the next check, before or after a CPU run
        self.interrupted = False
        #: set by request_stop (an instrumentation hook's Session.stop): the machine stops with it at the next
        #: check, as after a Ctrl-C
        self.stop_request: MachineStop | None = None
        self.slice_end = INF  # api_calls value at which the running slice ends
        self._wait_seq = 0
        self.waiting: list["Thread"] = []  # threads with a wait block, in the order their waits began
        self.timers: set = set()  # armed dispatcher timers (winhatch.kernel.ke.sync.Timer)
        self._pinned: list["Thread"] = []  # threads waiting inside a nested loop (innermost last)
        self._nest = 0  # depth of call_guest
        self._run_accounted = 0   # instructions of the running CPU run already in user times (account_running)
        self._speculating = None  # the SPECULATIVE handler running inside the CPU hook
        self._respin = False      # it reached call_guest: serve the call again, deferred
        self.respins = 0          # how many times that happened
        self.deadlock: dict | None = None
        #: fn() called between two slices when no guest call is in progress on the host's stack (no DllMain or
        #: callback frames, no thread pinned in a nested wait): the one point where the machine can be saved
        #: (winhatch.snapshot); it may raise to end the run
        self.safe_point: Callable | None = None
        #: `instructions` value at which the running slice ends so the safe point runs (0: none): a snapshot at
        #: an instruction count (the runs are counted until then, see _budget)
        self.stop_at_instructions = 0
        # installed by ntdll's layer: fn(thread, ExceptionInfo) -> bool (handled; context may have changed)
        self.user_exception_dispatcher: Callable | None = None
        # installed by the subsystem: fn(thread, ExceptionInfo) called for an access violation raised by the
        # CPU before the guest sees it; it may end the process (an unimplemented data export was touched)
        self.access_violation_filter: Callable | None = None
        self.return_stub_name = "WhCallReturn"
        #: the handler of a guarded call's x86 EXCEPTION_REGISTRATION (call_guest(guard=True)); the user-mode
        #: dispatcher recognises it in the chain and never calls it
        self.guard_stub_name = "WhCallGuard"
        #: a debugger attached to one process (winhatch.debug.gdbstub.GdbStub), or None.  The debugger stop
        #: hook points are in _run_until: ``before_run(thread)`` before each CPU run of one of its process's
        #: threads (it may hold the thread stopped while the debugger looks at it; it returns 1 to single-step
        #: the run, else 0) and ``after_run(thread, reason)`` after it (True: the run ended for the debugger,
        #: go back to before_run); in raise_exception, ``exception(thread, info)`` sees every exception first
        #: (True: the debugger continued the thread without passing it on)
        self.debugger = None

    # -- wiring -------------------------------------------------------------------------------------------------
    def attach(self, process: "Process") -> None:
        """Connect a new process's CPU to the trap dispatch."""
        if self.machine.hooks.code:   # the owner's code and memory hooks that apply to this process
            self.machine.hooks.attach_process(process)
        cache: dict[int, object] = {}
        process.subsystem["trap_cache"] = cache
        DEFER = type(process.cpu).DEFER
        fast = process.cpu.fast_traps

        def on_trap(cpu, va):
            h = cache.get(va)
            if h is None:
                h = self._resolve_trap(process, va)
                cache[va] = h
            if cpu.trap_frame is not None and h.calls_guest is not True:
                frames = getattr(h.fn, "frames", None)
                if frames is not None:   # from now on served inside the CPU hook (Cpu.fast_traps)
                    entry = partial(frames[cpu.is64], cpu, va)
                    if h.calls_guest == SPECULATIVE:
                        entry = self._speculative(process, h, va, entry)
                    fast[va] = entry
                    return entry(*cpu.trap_frame)
            thread = self.current
            if h.calls_guest:
                self._pending = (thread, h, va)
                return DEFER
            self.api_calls += 1
            self._in_hook = h
            try:
                h.fn(thread, va)
            except WouldBlock as wb:  # the thread waits: back to the stub, re-executed when it resumes
                self._block(thread, wb.block)
                if not wb.block.extra.get("keep_pc"):
                    cpu.pc = va
                cpu.stop()
                return None
            except Preempt:  # the call is made again when the thread next runs (and counted then)
                self.api_calls -= 1
                cpu.pc = va
                cpu.stop()
                return None
            except BaseException as e:  # a termination, or a bug in a handler: unwind outside the hook
                self._pending_exc = e
                cpu.stop()
                return None
            finally:
                self._in_hook = None
            if self.api_calls >= self.slice_end:
                cpu.stop()
            return None

        process.cpu.set_trap_handler(on_trap)
        services = self.machine.services

        def on_syscall(cpu, site, kind):
            # syscall / sysenter (winhatch.kernel.ke.services): served in the instruction hook
            thread = self.current
            self.api_calls += 1
            try:
                services.dispatch(thread, cpu, kind, site)
            except WouldBlock as wb:  # the thread waits: it re-executes the system call when it resumes
                self._block(thread, wb.block)
                if not wb.block.extra.get("keep_pc"):
                    cpu.pc = site
                cpu.stop()
                return
            except BaseException as e:  # a termination, or a bug in a service: unwind outside the hook
                self._pending_exc = e
                cpu.stop()
                return
            if self.api_calls >= self.slice_end:
                cpu.stop()

        process.cpu.set_syscall_handler(on_syscall)

    # -- the protocol of API traps served inside the CPU hook (winhatch.win32.api: frames) --------------------------
    # A frame function fn(cpu, va, buffer, offset) does `api_calls += 1`, runs its handler for `current`, calls
    # trap_exception() when the handler raised and stops the CPU when `api_calls >= slice_end`.
    def account_running(self) -> None:
        """Bring the running thread's user time up to the instructions its current run executed so far (a
        handler inside the CPU hook reading process or thread times: otherwise a thread that calls only
        in-hook APIs would never see its user time grow). Counted runs only (an instruction budget)."""
        thread = self.current
        if thread is None:
            return
        n = thread.process.cpu.executed_in_run()
        d = n - self._run_accounted
        if d > 0:
            self._run_accounted = n
            ns = d * self.machine.clock.NS_PER_INSTRUCTION
            thread.user_ns += ns
            thread.process.user_ns += ns

    def _speculative(self, process: "Process", h, va: int, frame: Callable) -> Callable:
        """The CPU-hook entry of a SPECULATIVE handler (see traps.SPECULATIVE): the frame function, or DEFER
        (the call is then served by _run_until, outside the hook, from its start)."""
        subsystem = process.subsystem
        events = self.machine.events
        DEFER = type(process.cpu).DEFER

        def entry(buf, off):
            if events.api_wanted or subsystem.get(_traps.DEFER_SPECULATIVE):
                self._pending = (self.current, h, va)
                return DEFER
            self._speculating = h
            try:
                frame(buf, off)
            finally:
                self._speculating = None
            if self._respin:
                self._respin = False
                self.respins += 1
                self.api_calls -= 1        # counted again when it is served
                self._pending = (self.current, h, va)
                return DEFER
            return None
        return entry

    def need_guest_code(self) -> None:
        """A SPECULATIVE handler that is about to take a step that will run guest code (and must not be taken
        twice): served inside the CPU hook, the call is abandoned here and served again, deferred, from its
        start (as if it had reached call_guest)."""
        if self._speculating is not None:
            raise GuestCallNeeded()

    def trap_exception(self, thread: "Thread", cpu, va: int, e: BaseException) -> None:
        if isinstance(e, GuestCallNeeded):   # a speculative handler needs guest code: deferred (_speculative)
            self._respin = True
            return
        if isinstance(e, WouldBlock):   # the thread waits: it re-runs the stub when it resumes
            self._block(thread, e.block)
            if not e.block.extra.get("keep_pc"):
                cpu.pc = va
        elif isinstance(e, Preempt):    # the slice ends before the call: it is made (and counted) again
            self.api_calls -= 1
            cpu.pc = va
        else:                           # a termination, or a bug in a handler: unwind outside the hook
            self._pending_exc = e
        cpu.stop()

    def _resolve_trap(self, process: "Process", va: int):
        images = process.subsystem["images"]
        img = images.find(va)
        name = None
        if img is not None and img.traps is not None:
            name = img.traps.get(va - img.base)
            if name is None and not process.cpu.trap_frame:
                # the int 0x2e inside an API stub reached without its frame (FS/GS not on the TEB)
                name = img.traps.get(va - img.base - _stub_int_offset(process.arch))
        if name is None:
            # an int 0x2e that is no API stub's and no loader entry point: a system-service call (an ntdll
            # stub's int 2Eh path, x86 Wow64SystemServiceCall, or the program's own)
            return _SystemServiceTrap(self.machine.services)
        return self.machine.traps.handler_for(img.name, name)

    # -- threads and waits ---------------------------------------------------------------------------------------
    def runnable_threads(self) -> list["Thread"]:
        out = []
        for p in self.machine.processes:
            if p.exited or p.cpu is None:
                continue
            out.extend(t for t in p.threads if t.runnable)
        return out

    def alive_threads(self) -> list["Thread"]:
        return [t for p in self.machine.processes if not p.exited and p.cpu is not None
                for t in p.threads if not t.terminated]

    def _block(self, thread: "Thread", block: kwait.WaitBlock) -> None:
        block.seq = self._wait_seq
        self._wait_seq += 1
        block.since = self.machine.clock.now()
        thread.wait = block
        self.waiting.append(thread)
        if getattr(thread, "wow64_cpu_area", None) is not None and \
                thread.process.subsystem.get("running_thread") is thread:
            from winhatch.kernel.ps import wow64     # a WoW64 thread waits in 64-bit mode: its 32-bit context
            wow64.save_cpu_area(thread, thread.process.cpu.save_context())   # is in its CPU area

    def wake(self, thread: "Thread", status: int) -> None:
        """End `thread`'s wait with `status` (its side effects are the caller's business)."""
        block = thread.wait
        if block is None:
            return
        thread.wait = None
        block.status = status
        if thread.__dict__.pop("context_set_in_wait", False) and thread.context is not None:
            # a context set while the thread waited in a system call: the call returns into it with its status
            # in rax / eax and the volatile registers the system-call return leaves undefined cleared
            ctx = thread.context
            if ctx.is64:
                for r in ("rcx", "rdx", "r8", "r9", "r10", "r11"):
                    ctx.set(r, 0)
                ctx.set("rax", status & 0xFFFFFFFF)
            else:
                ctx.set("ecx", 0)
                ctx.set("edx", 0)
                ctx.set("eax", status & 0xFFFFFFFF)
        if not block.extra.get("keep_pc"):
            # (a thread resuming from a debugger's reply re-runs nothing: the result of a wait it left before
            # its debug event, still to be taken by the call's re-run, stays)
            thread.wait_done = block
        if thread in self.waiting:
            self.waiting.remove(thread)
        self.thread_ready(thread)

    def thread_ready(self, thread: "Thread") -> None:
        """A thread became runnable (woken, resumed, created): start slicing the running thread if needed."""
        if self.slice_end == INF and self._nest == 0 and self.current is not None and self.current is not thread:
            self.slice_end = self.api_calls + self._quantum(self.current)

    def end_slice(self) -> None:
        """The running thread yields (Sleep(0), SwitchToThread, it suspended itself) after the current call."""
        if self._nest == 0:
            self.slice_end = 0

    def signal_waiters(self) -> None:
        """Satisfy every wait that can be satisfied now, in the order the waits began (KiWaitTest)."""
        if not self.waiting:
            return
        for t in list(self.waiting):
            b = t.wait
            if b is None or t.terminated:
                continue
            st = kwait.try_satisfy(t, b.objects, b.wait_all)
            if st is not None:
                self.wake(t, st)

    def thread_gone(self, thread: "Thread") -> None:
        """A thread ends: forget its wait, abandon the mutexes it owns."""
        if thread.wait is not None:
            thread.wait = None
        if thread in self.waiting:
            self.waiting.remove(thread)
        for m in list(getattr(thread, "owned_mutants", None) or []):
            m.abandon()

    def _tick(self) -> None:
        """Fire due timers, then satisfy waits, then expire time-outs."""
        now = self.machine.clock.now()
        if self.timers:
            for tm in sorted(self.timers, key=lambda t: (t.due or 0, id(t))):
                if tm.due is not None and tm.due <= now:
                    tm.fire(now)
        self.signal_waiters()
        for t in list(self.waiting):
            b = t.wait
            if b is not None and b.deadline is not None and b.deadline <= now:
                self.wake(t, kwait.WAIT_TIMEOUT)

    def _next_deadline(self) -> int | None:
        ds = [t.wait.deadline for t in self.waiting if t.wait is not None and t.wait.deadline is not None]
        ds += [tm.due for tm in self.timers if tm.due is not None]
        return min(ds) if ds else None

    def _timed(self) -> bool:
        return bool(self.timers) or any(t.wait is not None and t.wait.deadline is not None for t in self.waiting)

    # -- Ctrl-C ------------------------------------------------------------------------------------------------
    def interrupt(self) -> None:
        """Stop the machine from outside (thread-safe): set the flag, end the CPU runs in progress.  A stop
        that lands between two runs is lost, so a caller on another thread repeats this until the machine
        has stopped; the flag is checked before and after every run."""
        self.interrupted = True
        for p in list(self.machine.processes):
            cpu = p.cpu
            if cpu is not None:
                cpu.stop_async()

    def request_stop(self, reason: str, status: int) -> None:
        """Stop the machine as soon as the running handler or hook returns (from inside a callback of the
        machine's own thread): `run` raises MachineStop(reason, status) at its next check."""
        self.stop_request = MachineStop(reason, status)
        cur = self.current
        if cur is not None and cur.process.cpu is not None:
            cur.process.cpu.stop()

    def _check_stop(self) -> None:
        if self.interrupted:
            self._pending_exc = None
            raise interrupted_stop()
        if self.stop_request is not None:
            self._pending_exc = None
            raise self.stop_request

    # -- running -----------------------------------------------------------------------------------------------
    def _priority(self, t: "Thread") -> int:
        return max(1, min(31, t.process.base_priority + getattr(t, "priority_delta", 0)))

    def _quantum(self, t: "Thread") -> int:
        q = max(1, self.slice_traps * self._priority(t) // 8)
        if self._rng is not None:
            q = self._rng.randint(1, 2 * q)
        return q

    def _order(self) -> list["Thread"]:
        """The threads of the next round: by priority, and among equal priorities least recently run first (a
        FIFO ready queue: a thread joins its tail when its slice begins or when it is first seen runnable). A
        thread that could not run at its turn in a round (another froze its process, or took what it needed)
        keeps its place at the head: no order of threads in the machine's lists can starve it (a process's
        first thread hitting a breakpoint at every slice kept a new thread of that process from ever starting,
        Wine's kernel32/debugger). With `seed`, each round's order is a shuffle instead."""
        pinned = self._pinned
        threads = [t for t in self.runnable_threads() if t not in pinned]
        if self.seed is not None:
            if self._rng is None:
                import random
                self._rng = random.Random(self.seed)
            self._rng.shuffle(threads)
            threads.sort(key=lambda t: -self._priority(t))  # stable: the shuffle among equal priorities
            return threads
        for t in threads:
            if not t.ready_seq:          # newly runnable (created): the tail of the queue
                self._to_tail(t)
        threads.sort(key=lambda t: (-self._priority(t), t.ready_seq))
        return threads

    def _to_tail(self, thread: "Thread") -> None:
        """The thread goes to the tail of the ready queue among its priority (its slice begins)."""
        self._ready_seq += 1
        thread.ready_seq = self._ready_seq

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Run threads round-robin until `until()` is true or no thread is left; a deadlock stops the machine."""
        import time
        if self.timeout_s and self._deadline is None:
            self._deadline = time.monotonic() + self.timeout_s
        while True:
            if until is not None and until():
                return
            if self.interrupted or self.stop_request is not None:
                self._check_stop()
            self._tick()
            threads = self._order()
            if not threads:
                if until is not None and until():
                    return
                nxt = self._next_deadline()
                if nxt is not None:  # idle until the next time-out or timer
                    now = self.machine.clock.now()
                    if nxt > now:
                        self.machine.clock.advance(nxt - now)
                    continue
                if not self.waiting:
                    return  # nothing waits: every live thread is suspended (the host may resume them)
                self._report_deadlock()
            sliced = len(threads) > 1 or self._timed()
            for t in threads:
                if until is not None and until():
                    return
                if t.runnable and not t.process.exited and t not in self._pinned:
                    self._run_slice(t, sliced)
                    if self.safe_point is not None and self._nest == 0 and not self._pinned:
                        self.safe_point()

    def _switch_to(self, thread: "Thread") -> None:
        proc = thread.process
        cur = proc.subsystem.get("running_thread")
        if cur is thread:
            self.current = thread
            return
        cpu = proc.cpu
        if cur is not None and not cur.terminated:
            cur.context = cpu.save_context()
        cpu.restore_context(thread.context)
        cpu.set_teb(thread.teb, thread.teb_host)
        proc.subsystem["running_thread"] = thread
        self.current = thread
        self.switches += 1

    def _check_budgets(self) -> None:
        """The API-call and emulated-time budgets, checked at every slice (the API-call budget also ends the
        slice it runs out in: slice_end, which the trap path compares anyway)."""
        if self.max_api_calls and self.api_calls >= self.max_api_calls:
            raise MachineStop("API call budget exhausted", STATUS_INSTRUCTION_BUDGET_EXHAUSTED)
        if self.max_emulated and self.machine.clock.elapsed() >= self.max_emulated:
            raise MachineStop("emulated time limit reached", STATUS_IO_TIMEOUT)

    def _run_slice(self, thread: "Thread", sliced: bool) -> None:
        self._check_budgets()
        self._to_tail(thread)
        self._switch_to(thread)
        self.slice_end = self.api_calls + self._quantum(thread) if sliced else INF
        if self.max_api_calls:
            self.slice_end = min(self.slice_end, self.max_api_calls)
        calls = self._slice_calls = self.api_calls
        try:
            if not thread.started:
                thread.started = True
                self.machine.thread_startup(thread)  # PspUserThreadStartup (kernel, ps/create.py)
                if not thread.runnable:              # a debugger holds the process (its creation events)
                    return
            thread.slice_ended_in_service = False
            self._run_until(thread, None, sliced)
            if self.api_calls >= self.slice_end and not thread.terminated and tick_in_service(thread):
                # the quantum ran out at a system service (the trap path ends a slice only there) and the tick
                # fell inside it: the thread is switched out inside the service, which a WoW64 thread's 64-bit
                # side records (kernel.ps.wow64). Otherwise it stands just after the call, in its own code.
                thread.slice_ended_in_service = True
                if getattr(thread, "wow64_cpu_area", None) is not None:
                    from winhatch.kernel.ps import wow64
                    wow64.save_cpu_area(thread, thread.process.cpu.save_context())
        except GuestTermination as e:
            self._terminated(thread, e)
        finally:
            k = (self.api_calls - calls) * API_CALL_TICKS
            thread.kernel_time += k
            thread.process.kernel_time += k
            self._slice_calls = self.api_calls
            self.machine.clock.advance(k)
            self.slice_end = INF

    def _pending_ticks(self) -> int:
        """The emulated time of the API calls of the running slice, which the clock is advanced by when the slice
        ends: a clock read inside the slice includes it, so a guest polling the time between calls sees it
        move."""
        return (self.api_calls - self._slice_calls) * API_CALL_TICKS

    def _budget(self, sliced: bool) -> int:
        n = self.slice_instructions if sliced and self.mode == "instructions" else 0
        if self.stop_at_instructions:
            left = self.stop_at_instructions - self.instructions
            if left > 0:
                n = min(n, left) if n else left
        if self.max_instructions:
            left = self.max_instructions - self.instructions
            if left <= 0:
                raise MachineStop("instruction budget exhausted", STATUS_INSTRUCTION_BUDGET_EXHAUSTED)
            n = min(n, left) if n else left
        return n

    def _run_until(self, thread: "Thread", return_marker: object | None, sliced: bool) -> int | None:
        """Run `thread` until its slice ends (return None) or, inside call_guest, until the callee returns."""
        import time
        cpu = thread.process.cpu
        while True:
            if self.interrupted or self.stop_request is not None:
                self._check_stop()
            top = return_marker is None
            if "dbg_continuation" in thread.__dict__:   # the debugger replied to the thread's event
                try:
                    from winhatch.kernel.ps.dbgk import run_continuation
                    run_continuation(thread)
                except WouldBlock as wb:
                    self._block(thread, wb.block)
                if not thread.runnable:
                    if top:
                        return None
                    self._nested_wait(thread)
                continue
            dbg = self.debugger
            if dbg is not None and dbg.process is not thread.process:
                dbg = None
            step = dbg.before_run(thread) if dbg is not None else 0   # a debugger stop
            budget = self._budget(sliced and top)
            if step:
                budget = 1
            timeout = 0.0
            machine_deadline = False
            if self._deadline is not None:
                timeout = self._deadline - time.monotonic()
                if timeout <= 0:
                    raise MachineStop("time limit reached", STATUS_IO_TIMEOUT)
                machine_deadline = True
            # a run ended by the wall-clock slice is resumed later: it must stop between two instructions
            # (Cpu.run's preemption hook); one ended by the machine's time limit is not
            slice_timeout = sliced and top and self.mode == "traps" and self.slice_wall_s
            if slice_timeout:
                timeout = min(timeout, self.slice_wall_s) if timeout else self.slice_wall_s
            self._run_accounted = 0
            if "debug_registers" in thread.__dict__ or getattr(cpu, "hw_breakpoints", None) is not None:
                hwbp.sync(thread)        # this thread's hardware breakpoints (code hooks only while one is armed)
            r = cpu.run(cpu.pc, max_instructions=budget, timeout_s=timeout, resumable=bool(slice_timeout))
            executed = getattr(r, "instructions", 0) or (budget if r.kind == "budget" else 0)
            self.instructions += executed
            self.machine.clock.advance_instructions(executed)
            ns = max(executed - self._run_accounted, 0) * self.machine.clock.NS_PER_INSTRUCTION
            self._run_accounted = 0
            thread.user_ns += ns
            thread.process.user_ns += ns
            if self.interrupted or self.stop_request is not None:
                self._check_stop()
            if self._pending_exc is not None:
                e, self._pending_exc = self._pending_exc, None
                if isinstance(e, GuestUnwind) and e.level == self._nest:
                    cpu.restore_context(e.ctx)
                    continue
                raise e
            if dbg is not None and dbg.after_run(thread, r):
                continue
            kind = r.kind
            if kind == "trap":
                pend, self._pending = self._pending, None
                t, h, va = pend
                if h.name == self.return_stub_name and return_marker is not None:
                    return cpu.retval
                self.api_calls += 1
                try:
                    h.fn(t, va)
                except GuestUnwind as gu:  # an unwind out of the handler's nested guest call ends here
                    if gu.level != self._nest:
                        raise
                    cpu.restore_context(gu.ctx)
                    continue
                except WouldBlock as wb:  # pc is still on the stub
                    self._block(thread, wb.block)
                except Preempt:           # pc is still on the stub: the call is made (and counted) again
                    self.api_calls -= 1
                    if top:
                        return None
                if not thread.runnable:
                    if top:
                        return None
                    self._nested_wait(thread)
                elif top and self.api_calls >= self.slice_end:
                    return None
                continue
            if kind == "fault":
                try:
                    self._fault(thread, r.fault)
                except WouldBlock as wb:      # the exception went to a debugger: the thread waits for its reply
                    self._block(thread, wb.block)
                if not thread.runnable:
                    if top:
                        return None
                    self._nested_wait(thread)
                continue
            if kind == "budget":
                if not top:
                    continue
                return None
            if kind == "timeout":
                if machine_deadline and time.monotonic() >= self._deadline:
                    raise MachineStop("time limit reached", STATUS_IO_TIMEOUT)
                if not top:
                    continue
                return None
            if kind in ("stopped", "until"):
                if not thread.runnable:
                    if top:
                        return None
                    self._nested_wait(thread)
                    continue
                if not top:
                    continue
                return None
            # the CPU returned normally with nothing pending: treat like a slice end
            return None

    def _nested_wait(self, thread: "Thread") -> None:
        """`thread` blocked inside a nested guest call: run the others until it can continue, then resume it."""
        self._pinned.append(thread)
        nest, self._nest = self._nest, 0
        try:
            self.run(until=lambda: thread.terminated or thread.process.exited or thread.runnable)
        finally:
            self._pinned.pop()
            self._nest = nest
        proc = thread.process
        if proc.exited:
            raise ProcessExit(proc.exit_status)
        if thread.terminated:
            raise ThreadExit(thread.exit_status)
        self._switch_to(thread)
        self.slice_end = INF

    def _report_deadlock(self) -> None:
        """No thread can run and none will wake by itself: report who waits for what, stop the machine."""
        threads = []
        parts = []
        for t in self.alive_threads():
            w = t.wait
            if w is not None:
                what = ", ".join(kwait.describe(o) for o in w.objects) or "nothing (forever)"
                mode = " (all)" if w.wait_all and len(w.objects) > 1 else ""
                how = f"in {w.reason}{mode} waits for {what}"
            elif t.suspend_count:
                how = f"is suspended (count {t.suspend_count})"
            elif t in self._pinned:
                how = "is ready but its nested call cannot resume before an inner one ends"
            else:
                how = "cannot run"
            threads.append({"pid": t.process.pid, "tid": t.tid, "process": t.process.image_name, "state": how})
            parts.append(f"{t.process.image_name} thread {t.tid} {how}")
        message = "deadlock: no thread can run — " + "; ".join(parts)
        self.deadlock = {"message": message, "threads": threads}
        cur = self.current
        self.machine.events.emit(ev.THREAD, "deadlock", cur.process.pid if cur else 0, cur.tid if cur else 0,
                                 message=message, threads=threads)
        raise MachineStop(message, STATUS_POSSIBLE_DEADLOCK)

    def call_guest(self, thread: "Thread", fn: int, args: list[int] | tuple = (), *, stdcall: bool = True,
                   thiscall: bool = False, ret64: bool = False, guard: bool = False) -> int:
        """Call guest function `fn(args…)` on `thread` and return its return value (eax/rax).

        thiscall: a C++ member function; on x86 the first argument (`this`) goes in ecx, the rest on the stack.
        ret64: the function returns a 64-bit value (x86: edx:eax).

        Only from a deferred handler (calls_guest=True). The thread's registers are restored afterwards,
        except that the callee's effects on memory remain. The callee runs unsliced (like a thread holding the
        loader lock); if it blocks, other threads run until it can continue.

        guard: the call is made from a frame with an exception handler that takes every exception (ntdll's
        LdrpCallInitRoutine around a DLL's entry point): an exception the callee's handlers leave unhandled ends
        the call (its frames are unwound, termination handlers run) and raises GuestCallFaulted here, instead of
        reaching the thread's outer frames. On x86 the frame is an EXCEPTION_REGISTRATION in the registration
        chain, as there; on x64 the unwinder recognises the call's return address.
        """
        if self._speculating is not None:     # served again outside the hook (_speculative)
            raise GuestCallNeeded()
        if self._in_hook is not None or thread.process.cpu._in_run:  # Unicorn cannot run guest code from its hook
            h = self._in_hook
            what = f"{h.dll}!{h.name}" if h is not None else "an API handler"
            raise RuntimeError(f"{what} runs guest code but is not declared calls_guest=True")
        proc = thread.process
        cpu = proc.cpu
        saved = cpu.save_context()
        ret_stub = proc.subsystem.get("call_return_stub")
        if ret_stub is None:
            ret_stub = proc.subsystem["call_return_stub"] = self.machine.ntdll_export(proc, self.return_stub_name)
        sp = (cpu.sp - 0x40) & ~0xF
        cg = CallGuard() if guard else None
        if cg is not None and not cpu.is64:
            from winhatch.kernel.structs import TEB
            list_addr = thread.teb + TEB.offset("x86", "NtTib.ExceptionList")
            sp -= 16
            cg.registration = sp
            cg.prev = cpu.read_u32(list_addr)
            cpu.write_u32(sp, cg.prev)
            cpu.write_u32(sp + 4, self.machine.ntdll_export(proc, self.guard_stub_name))
            cpu.write_u32(list_addr, sp)
        if cpu.is64:
            nstack = max(4, len(args))
            sp -= nstack * 8
            if (sp - 8) % 16 != 8:  # at entry (after the return address push) rsp % 16 == 8
                sp -= 8
            for i, a in enumerate(args):
                if i >= 4:
                    cpu.write_u64(sp + i * 8, a & 0xFFFFFFFFFFFFFFFF)
            for reg, a in zip(("rcx", "rdx", "r8", "r9"), args):
                cpu.set_reg(reg, a & 0xFFFFFFFFFFFFFFFF)
            sp -= 8
            cpu.write_u64(sp, ret_stub)
        else:
            if thiscall and args:
                cpu.set_reg("ecx", args[0] & 0xFFFFFFFF)
                args = args[1:]
            sp -= len(args) * 4
            if (sp - 4) % 16 != 12:
                sp -= (sp - 4 - 12) % 16
            for i, a in enumerate(args):
                cpu.write_u32(sp + i * 4, a & 0xFFFFFFFF)
            sp -= 4
            cpu.write_u32(sp, ret_stub)
        cpu.sp = sp
        cpu.pc = fn
        if cg is not None:
            cg.slot = sp
            call_guards(thread).append(cg)
        slice_end, self.slice_end = self.slice_end, INF
        # the call's frame, for an unwind that leaves it (GuestUnwind): the callee's return-address slot, the
        # nesting depth this call is made at, and the handler's registers (sp at the API's return address)
        calls = thread.__dict__.setdefault("guest_calls", [])
        calls.append((sp, self._nest, saved))
        self._nest += 1
        retval = 0
        try:
            ret = self._run_until(thread, object(), False)
        finally:
            calls.pop()
            self._nest -= 1
            self.slice_end = slice_end
            if cg is not None:
                guards = call_guards(thread)
                if cg in guards:
                    guards.remove(cg)
            if not (thread.terminated or proc.exited):
                retval = cpu.retval
                if ret64 and not cpu.is64:
                    retval |= (cpu.reg("edx") & 0xFFFFFFFF) << 32
                if cg is not None and cg.registration:    # the guard's registration leaves the chain
                    from winhatch.kernel.structs import TEB
                    cpu.write_u32(thread.teb + TEB.offset("x86", "NtTib.ExceptionList"), cg.prev)
                cpu.restore_context(saved)
                cpu.retval = saved.get("rax" if cpu.is64 else "eax")
        if cg is not None and cg.caught is not None:
            raise GuestCallFaulted(cg.caught)
        return retval if ret is None else ret

    # -- faults and exceptions -------------------------------------------------------------------------------
    def _fault(self, thread: "Thread", fault) -> None:
        proc = thread.process
        status = fault.status
        if fault.kind == "protected" and fault.address is not None:
            noted = len(proc.aspace.executed_written)
            status = proc.aspace.handle_fault(fault.address, fault.access)
            if len(proc.aspace.executed_written) > noted:     # a written page of non-image memory ran
                from winhatch.kernel import behaviour
                behaviour.executed_written(self.machine, thread, proc.aspace.executed_written[-1])
            if status == 0:
                return  # a copy-on-write page got its written copy (or a tracked page its access): retried
            if status == STATUS_GUARD_PAGE_VIOLATION and self._grow_stack(thread, fault.address):
                return  # the access is retried at the same pc
        if fault.kind == "fastfail":
            # __fastfail (int 0x29): the kernel ends the process at once; no vectored or frame handler and no
            # unhandled-exception filter sees it (the record: STATUS_STACK_BUFFER_OVERRUN, the code, noncontinuable)
            code = proc.cpu.reg("rcx" if proc.cpu.is64 else "ecx") & 0xFFFFFFFF
            info = ExceptionInfo(status, fault.pc, None, None, fault.description, parameters=(code,), flags=0x1)
            self.machine.events.emit(ev.EXCEPTION, "exception", proc.pid, thread.tid, code=info.code,
                                     code_name=status_name(info.code), address=info.address,
                                     where=proc.subsystem["images"].describe(info.address), fastfail=code)
            self.unhandled_exception(thread, info)
        if fault.kind == "single-step":
            hwbp.note_single_step(thread)        # a TF trap: Dr6.BS
        params = ()
        if fault.kind == "debug_service":   # KiDebugServiceTrap: one parameter, the service code in eax / rax
            code = proc.cpu.reg("rax" if proc.cpu.is64 else "eax") & (0xFFFFFFFFFFFFFFFF if proc.cpu.is64
                                                                       else 0xFFFFFFFF)
            if proc.cpu.is64 and code in (1, 3, 4):
                # BREAKPOINT_PRINT / LOAD_SYMBOLS / UNLOAD_SYMBOLS with no kernel debugger: nothing to do, and the
                # thread resumes one byte further on, as after any debug service (ntdll/exception.c, Windows x64;
                # a WoW64 process gets the exception for every code)
                proc.cpu.pc = fault.pc + 1
                return
            params = (code,)
        info = ExceptionInfo(status, fault.pc, fault.access, fault.address, fault.description, parameters=params)
        if status == STATUS_ACCESS_VIOLATION and fault.address is not None and self.access_violation_filter:
            self.access_violation_filter(thread, info)
        self.raise_exception(thread, info)

    def _grow_stack(self, thread: "Thread", address: int) -> bool:
        """MiCheckForUserStackOverflow: a guard page hit inside the thread's stack moves the guard down.  The
        stack is the one the TEB describes (DeallocationStack .. NtTib.StackBase): a program that switches to a
        stack of its own by setting them gets the same growth (kernel32/virtual.c test_stack_commit, Windows)."""
        st = thread.stack
        low, high = self._teb_stack(thread)
        if low is None or not (low <= address < high):
            return False
        page = address & ~0xFFF
        from winhatch.kernel.mm import MEM_COMMIT, PAGE_GUARD, PAGE_READWRITE
        new_guard = page - 0x1000
        if new_guard < low + 0x1000:  # the last page stays reserved: overflow
            self.raise_exception(thread, ExceptionInfo(STATUS_STACK_OVERFLOW, thread.process.cpu.pc,
                                                       "write", address, "stack overflow"))
            return True
        proc = thread.process
        proc.aspace.allocate(new_guard, 0x1000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD)
        if st is not None and st.reserve_base <= address < st.base:
            st.limit = page
        self.machine.write_teb_stack_limit(thread, page)
        return True

    @staticmethod
    def _teb_stack(thread: "Thread") -> tuple[int | None, int | None]:
        """(DeallocationStack, StackBase) as the thread's TEB holds them (the kernel's record without a TEB)."""
        st = thread.stack
        if not thread.teb:
            return (st.reserve_base, st.base) if st is not None else (None, None)
        from winhatch.kernel.structs import TEB
        from winhatch.ntstatus import NtStatusError
        arch = thread.process.arch
        ps = 8 if arch == "x64" else 4
        try:
            raw_base = thread.process.aspace.read(thread.teb + TEB.offset(arch, "NtTib") + ps, ps)
            raw_low = thread.process.aspace.read(thread.teb + TEB.offset(arch, "DeallocationStack"), ps)
        except NtStatusError:   # an unreadable TEB: the kernel's record
            return (st.reserve_base, st.base) if st is not None else (None, None)
        return int.from_bytes(raw_low, "little"), int.from_bytes(raw_base, "little")

    def raise_exception(self, thread: "Thread", info: ExceptionInfo) -> None:
        """Dispatch a guest exception: user-mode dispatcher first, then the process ends with the code."""
        proc = thread.process
        self.machine.events.emit(ev.EXCEPTION, "exception", proc.pid, thread.tid, code=info.code,
                                 code_name=status_name(info.code), address=info.address,
                                 where=proc.subsystem["images"].describe(info.address),
                                 access=info.access, fault_address=info.fault_address)
        hooks = self.machine.hooks
        if hooks.exceptions and _hooks.exception_hooks(hooks, thread, info, True):
            return      # an instrumentation hook handled it: the thread continues with its registers
        dbg = self.debugger
        if dbg is not None and dbg.process is proc and not proc.cpu._in_run and dbg.exception(thread, info):
            return   # first chance: the debugger saw it and continued the thread without passing it on
        if proc.debug_port is not None and not getattr(info, "debugger_seen", False):
            from winhatch.kernel.ps import dbgk
            if dbgk.port_of(proc) is not None:
                self._to_debugger(thread, info, True)
        self._user_dispatch(thread, info)

    def _user_dispatch(self, thread: "Thread", info: ExceptionInfo) -> None:
        if self.user_exception_dispatcher is not None and self.user_exception_dispatcher(thread, info):
            return
        self.unhandled_exception(thread, info)

    def _to_debugger(self, thread: "Thread", info: ExceptionInfo, first_chance: bool) -> None:
        """DbgkForwardException: the debugger sees the exception first (first chance) or after no handler took it
        (second chance); the thread waits for its continue (raises WouldBlock) and then, in the continuation,
        goes on with its registers (DBG_CONTINUE) or with the dispatch (DBG_EXCEPTION_NOT_HANDLED)."""
        from winhatch.kernel.ps import dbgk
        from winhatch.ntstatus import STATUS_SINGLE_STEP
        proc = thread.process
        cpu = proc.cpu
        if info.context is not None:
            cpu.restore_context(info.context)      # the debugger sees (and continues) the raiser's context
        elif info.code == STATUS_BREAKPOINT and cpu.pc == info.address and info.description in ("int3", "int 0x2d"):
            # the breakpoint traps (int3, int 0x2d): the debugger sees (and continues) the thread one byte past the
            # address the exception reports (past `cc`, past `cd 03`; after `int 0x2d` one byte further on, the
            # byte a debug service skips — ntdll/exception.c test_debugger, stages 7-10); the handlers, when the
            # debugger passes it on, see the reported address
            cpu.pc = info.address + 1
        elif info.code == STATUS_SINGLE_STEP:
            reg = "rflags" if cpu.is64 else "eflags"
            cpu.set_reg(reg, cpu.reg(reg) & ~0x100)   # the trap flag is clear once the step trapped
        data = dbgk.exception_info(info, first_chance, proc.arch)
        info.debugger_seen = True

        def continuation(status: int) -> None:
            if status in (dbgk.DBG_CONTINUE, dbgk.DBG_EXCEPTION_HANDLED):
                return                  # dismissed: the thread goes on with its (possibly changed) registers
            catch = thread.__dict__.get("dbg_break_catch")
            if first_chance and catch is not None and info.code == STATUS_BREAKPOINT:
                # the breakpoint of ntdll's own `__try { DbgBreakPoint(); } __except (EXCEPTION_EXECUTE_HANDLER)`
                # (LdrpDoDebuggerBreak, DbgUiRemoteBreakin): caught there, the function returns
                cpu.pc = catch
                return
            if first_chance:
                self._user_dispatch(thread, info)
            else:
                self.unhandled_exception(thread, info)
        dbgk.send_and_wait(self.machine, thread, dbgk.EXCEPTION, data, continuation)

    def unhandled_exception(self, thread: "Thread", info: ExceptionInfo, *, record: dict | None = None,
                            stack: list | None = None, context: dict | None = None) -> None:
        """Nothing handled the exception: the process dies with the code (as after the unhandled-exception
        filter); `proc.crash` keeps the exception record, the registers and a stack walk."""
        proc = thread.process
        if proc.debug_port is not None and not getattr(info, "debugger_second", False):
            from winhatch.kernel.ps import dbgk
            if dbgk.port_of(proc) is not None:
                info.debugger_second = True
                self._to_debugger(thread, info, False)
        if self.machine.hooks.exceptions:
            _hooks.exception_hooks(self.machine.hooks, thread, info, False)
        images = proc.subsystem["images"]
        proc.crash = {"code": info.code, "code_name": status_name(info.code), "address": info.address,
                      "where": images.describe(info.address), "access": info.access,
                      "fault_address": info.fault_address, "description": info.description,
                      "instruction": _disasm(proc.cpu, info.address),
                      "record": record or {"code": info.code, "flags": info.flags, "address": info.address,
                                           "parameters": list(info.parameters)},
                      "stack": stack if stack is not None else [{"pc": info.address,
                                                                  "where": images.describe(info.address)}],
                      "context": context}
        self.machine.events.emit(ev.EXCEPTION, "unhandled", proc.pid, thread.tid, code=info.code,
                                 code_name=status_name(info.code), where=proc.crash["where"])
        raise ProcessExit(info.code)

    def _terminated(self, thread: "Thread", e: GuestTermination) -> None:
        if isinstance(e, ProcessExit):
            self.machine.terminate_process(thread.process, e.status)
        else:
            self.machine.terminate_thread(thread, e.status)


def _disasm(cpu, address: int) -> str:
    try:
        lines = cpu.disassemble(address, 1)
        return lines[0] if lines else "??"
    except Exception:  # unreadable memory at the faulting pc
        return "??"


class _SystemServiceTrap:
    """An `int 0x2e` that enters the system-service dispatcher (winhatch.kernel.ke.services)."""
    calls_guest = False
    name = "<system service>"

    def __init__(self, services):
        self.services = services

    def fn(self, thread, va):
        self.services.dispatch(thread, thread.process.cpu, "int2e", va)
