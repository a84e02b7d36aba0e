"""The dispatcher: runs guest threads on their process's CPU, dispatches traps, faults and exits.

- Threads of all processes are run round-robin in slices (counted in instructions when more than one thread
  can run; a single runnable thread runs unsliced, as fast as Unicorn goes).
- A trap (a guest call into a synthetic system DLL) is handled inside the CPU hook when its handler is
  plain Python; a handler that must run guest code (the loader calling DllMain, RtlUserThreadStart, …) is
  deferred: the CPU stops, the handler runs here and may call `call_guest`, which runs the guest until the
  callee returns to ntdll's internal return stub.
- A fault becomes a guest exception: guard pages and stack growth are settled with the memory manager;
  everything else goes to the user-mode exception dispatcher that ntdll's layer installs
  (KiUserExceptionDispatcher), and when nothing handles it the process ends with the exception code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from winhatch.ntstatus import (STATUS_ACCESS_VIOLATION, STATUS_GUARD_PAGE_VIOLATION, STATUS_ILLEGAL_INSTRUCTION,
                               STATUS_INSTRUCTION_BUDGET_EXHAUSTED, STATUS_NOT_IMPLEMENTED, STATUS_STACK_OVERFLOW,
                               STATUS_IO_TIMEOUT, status_name)
from winhatch.kernel import events as ev

if TYPE_CHECKING:
    from winhatch.kernel.ps.objects import Process, Thread


class GuestTermination(Exception):
    """Unwinds Python frames (nested guest calls, handlers) when a guest thread or process ends."""

    def __init__(self, status: int):
        super().__init__(f"0x{status & 0xFFFFFFFF:08X}")
        self.status = status & 0xFFFFFFFF


class ThreadExit(GuestTermination):
    pass


class ProcessExit(GuestTermination):
    pass


class MachineStop(Exception):
    """The whole machine stops (instruction or time budget reached, deadlock)."""

    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class ExceptionInfo:
    code: int
    address: int
    access: str | None = None
    fault_address: int | None = None
    description: str = ""
    parameters: tuple = ()
    first_chance: bool = True


class Dispatcher:
    def __init__(self, machine):
        self.machine = machine
        self.current: "Thread | None" = None
        self._pending = None  # deferred trap (thread, handler, va)
        self._pending_exc: BaseException | None = None
        self.slice_instructions = 200_000
        self.max_instructions = 0  # machine-wide budget; 0 = none
        self.timeout_s = 0.0
        self.instructions = 0
        self.api_calls = 0
        self._deadline = None
        # installed by ntdll's layer: fn(thread, ExceptionInfo) -> bool (handled; context may have changed)
        self.user_exception_dispatcher: Callable | None = None
        # installed by ntdll's layer: fn(thread) run when a thread first starts (Stage 7) before user code
        self.return_stub_name = "WhCallReturn"

    # -- wiring -------------------------------------------------------------------------------------------------
    def attach(self, process: "Process") -> None:
        """Connect a new process's CPU to the trap dispatch."""
        cache: dict[int, object] = {}
        process.subsystem["trap_cache"] = cache
        machine = self.machine
        DEFER = type(process.cpu).DEFER

        def on_trap(cpu, va):
            h = cache.get(va)
            if h is None:
                h = self._resolve_trap(process, va)
                cache[va] = h
            thread = self.current
            if h.calls_guest:
                self._pending = (thread, h, va)
                return DEFER
            self.api_calls += 1
            try:
                h.fn(thread, va)
            except BaseException as e:  # a termination, or a bug in a handler: unwind outside the hook
                self._pending_exc = e
                cpu.stop()
            return None

        process.cpu.set_trap_handler(on_trap)

    def _resolve_trap(self, process: "Process", va: int):
        images = process.subsystem["images"]
        img = images.find(va)
        name = None
        if img is not None and img.traps is not None:
            name = img.traps.get(va - img.base)
        if name is None:
            return _BadTrap(va)
        return self.machine.traps.handler_for(img.name, name)

    # -- running -----------------------------------------------------------------------------------------------
    def runnable_threads(self) -> list["Thread"]:
        out = []
        for p in self.machine.processes:
            if p.exited or p.cpu is None:
                continue
            out.extend(t for t in p.threads if t.runnable)
        return out

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Run every runnable thread round-robin until `until()` is true or nothing can run."""
        import time
        if self.timeout_s and self._deadline is None:
            self._deadline = time.monotonic() + self.timeout_s
        while True:
            if until is not None and until():
                return
            threads = self.runnable_threads()
            if not threads:
                return
            sliced = len(threads) > 1
            for t in threads:
                if t.runnable and not t.process.exited:
                    self._run_slice(t, sliced)
                if until is not None and until():
                    return

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
        cpu.set_teb(thread.teb)
        proc.subsystem["running_thread"] = thread
        self.current = thread

    def _run_slice(self, thread: "Thread", sliced: bool) -> None:
        self._switch_to(thread)
        if not thread.started:
            thread.started = True
            starter = self.machine.thread_startup  # PspUserThreadStartup (kernel, ps/create.py)
            try:
                starter(thread)
            except GuestTermination as e:
                self._terminated(thread, e)
                return
        try:
            self._run_until(thread, None, sliced)
        except GuestTermination as e:
            self._terminated(thread, e)

    def _budget(self, sliced: bool) -> int:
        n = self.slice_instructions if sliced else 0
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
            budget = self._budget(sliced and return_marker is None)
            timeout = 0.0
            if self._deadline is not None:
                timeout = self._deadline - time.monotonic()
                if timeout <= 0:
                    raise MachineStop("time limit reached", STATUS_IO_TIMEOUT)
            r = cpu.run(cpu.pc, max_instructions=budget, timeout_s=timeout)
            executed = getattr(r, "instructions", 0) or (budget if r.kind == "budget" else 0)
            self.instructions += executed
            self.machine.clock.advance_instructions(executed)
            if self._pending_exc is not None:
                e, self._pending_exc = self._pending_exc, None
                raise e
            kind = r.kind
            if kind == "trap":
                pend, self._pending = self._pending, None
                t, h, va = pend
                if h.name == self.return_stub_name and return_marker is not None:
                    return cpu.retval
                self.api_calls += 1
                h.fn(t, va)
                continue
            if kind == "fault":
                self._fault(thread, r.fault)
                continue
            if kind == "budget":
                if return_marker is not None:
                    continue
                return None
            if kind == "timeout":
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    raise MachineStop("time limit reached", STATUS_IO_TIMEOUT)
                continue
            if kind in ("stopped", "until"):
                if return_marker is not None:
                    continue
                return None
            # the CPU returned normally with nothing pending: treat like a slice end
            return None

    def call_guest(self, thread: "Thread", fn: int, args: list[int] | tuple = (), *, stdcall: bool = True) -> int:
        """Call guest function `fn(args…)` on `thread` and return its return value (eax/rax).

        Only from a deferred handler (calls_guest=True). The thread's registers are restored afterwards,
        except that the callee's effects on memory remain.
        """
        proc = thread.process
        cpu = proc.cpu
        saved = cpu.save_context()
        ret_stub = proc.subsystem.get("call_return_stub")
        if ret_stub is None:
            ret_stub = proc.subsystem["call_return_stub"] = self.machine.ntdll_export(proc, self.return_stub_name)
        ps = cpu.ptr_size
        sp = (cpu.sp - 0x40) & ~0xF
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
            sp -= len(args) * 4
            if (sp - 4) % 16 != 12:
                sp -= (sp - 4 - 12) % 16
            for i, a in enumerate(args):
                cpu.write_u32(sp + i * 4, a & 0xFFFFFFFF)
            sp -= 4
            cpu.write_u32(sp, ret_stub)
        cpu.sp = sp
        cpu.pc = fn
        try:
            ret = self._run_until(thread, object(), False)
        finally:
            if not (thread.terminated or proc.exited):
                retval = cpu.retval
                cpu.restore_context(saved)
                cpu.retval = saved.get("rax" if cpu.is64 else "eax")
        return retval if ret is None else ret

    # -- faults and exceptions -------------------------------------------------------------------------------
    def _fault(self, thread: "Thread", fault) -> None:
        proc = thread.process
        status = fault.status
        if fault.kind == "protected" and fault.address is not None:
            status = proc.aspace.handle_fault(fault.address, fault.access)
            if status == STATUS_GUARD_PAGE_VIOLATION and self._grow_stack(thread, fault.address):
                return  # the access is retried at the same pc
        info = ExceptionInfo(status, fault.pc, fault.access, fault.address, fault.description)
        self.raise_exception(thread, info)

    def _grow_stack(self, thread: "Thread", address: int) -> bool:
        """MiCheckForUserStackOverflow: a guard page hit inside the thread's stack moves the guard down."""
        st = thread.stack
        if st is None or not (st.reserve_base <= address < st.base):
            return False
        page = address & ~0xFFF
        from winhatch.kernel.mm import MEM_COMMIT, PAGE_GUARD, PAGE_READWRITE
        new_guard = page - 0x1000
        if new_guard < st.reserve_base + 0x1000:  # the last page stays reserved: overflow
            self.raise_exception(thread, ExceptionInfo(STATUS_STACK_OVERFLOW, thread.process.cpu.pc,
                                                       "write", address, "stack overflow"))
            return True
        proc = thread.process
        proc.aspace.allocate(new_guard, 0x1000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD)
        st.limit = page
        self.machine.write_teb_stack_limit(thread, page)
        return True

    def raise_exception(self, thread: "Thread", info: ExceptionInfo) -> None:
        """Dispatch a guest exception: user-mode dispatcher first, then the process ends with the code."""
        proc = thread.process
        self.machine.events.emit(ev.EXCEPTION, "exception", proc.pid, thread.tid, code=info.code,
                                 code_name=status_name(info.code), address=info.address,
                                 where=proc.subsystem["images"].describe(info.address),
                                 access=info.access, fault_address=info.fault_address)
        if self.user_exception_dispatcher is not None and self.user_exception_dispatcher(thread, info):
            return
        # unhandled: the process dies with the exception code (as after the unhandled-exception filter)
        proc.crash = {"code": info.code, "code_name": status_name(info.code), "address": info.address,
                      "where": proc.subsystem["images"].describe(info.address), "access": info.access,
                      "fault_address": info.fault_address, "description": info.description,
                      "instruction": _disasm(proc.cpu, info.address)}
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


class _BadTrap:
    """A trap instruction executed where no system DLL put one (e.g. `int 0x2e` in the program itself)."""
    calls_guest = False
    name = "<no trap>"

    def __init__(self, va: int):
        self.va = va

    def fn(self, thread, va):
        d = thread.process.subsystem.get("dispatcher") or thread.process.subsystem
        raise_illegal(thread, va)


def raise_illegal(thread, va):
    disp = thread.process.subsystem["machine"].dispatcher
    disp.raise_exception(thread, ExceptionInfo(STATUS_ILLEGAL_INSTRUCTION, va, None, None,
                                               "trap instruction outside a system DLL"))
