"""The machine's instrumentation registry: the hooks one run's owner (a `winhatch.Session`) installed.

Every machine has one (`machine.hooks`); it is empty unless someone adds hooks, and an empty registry costs
the hot paths nothing (the API trap path is unchanged: only the hooked APIs' handlers are wrapped; the
system-service path tests one dict; code and memory hooks are Unicorn hooks limited to their ranges).  The
layers consult it where they own the event:

- system services (`winhatch.kernel.ke.services.ServiceTable.invoke`): `services`, by service number;
- exceptions (`winhatch.kernel.ke.dispatcher.Dispatcher.raise_exception` / `unhandled_exception`):
  `exceptions`;
- code and memory hooks: installed on each process's CPU (`winhatch.cpu.Cpu.add_code_hook` /
  `add_mem_hook`) when the process gets its CPU (`attach_process`) or, for targets named by module, when
  the module is mapped (`image_loaded`);
- API hooks (`winhatch.win32.api.make_trap_handler`): `api`, matched by the subsystem, which rebuilds the
  affected handlers when the set changes (`on_api_change`).

The registry holds plain records (`HookEntry`); the friendly objects the callbacks receive are built by the
layer above (winhatch.session).  A hook belongs to its machine only: two machines never see each other's.
"""
from __future__ import annotations

from typing import Any, Callable


class HookEntry:
    """One installed hook.  `kind`: "api", "service", "code", "mem", "exception"; `spec`: what it matches
    (kind-specific); `before` / `after` / `fn`: the callbacks; `installed`: {pid: (process, [cpu hook
    handles])} for code and memory hooks."""

    __slots__ = ("registry", "kind", "spec", "before", "after", "fn", "installed", "removed", "data")

    def __init__(self, registry: "HookRegistry", kind: str, spec: Any, *, before: Callable | None = None,
                 after: Callable | None = None, fn: Callable | None = None, data: Any = None) -> None:
        self.registry = registry
        self.kind = kind
        self.spec = spec
        self.before = before
        self.after = after
        self.fn = fn
        self.installed: dict[int, tuple[Any, list[int]]] = {}
        self.removed = False
        self.data = data

    def remove(self) -> None:
        """Uninstall the hook (at once, also from inside a callback); removing twice is harmless."""
        if not self.removed:
            self.registry.remove(self)


class HookRegistry:
    """The hooks of one machine (see the module docstring)."""

    def __init__(self, machine) -> None:
        self.machine = machine
        self.api: list[HookEntry] = []
        #: service number -> hooks (ServiceTable.invoke tests `if hooks.services`)
        self.services: dict[int, list[HookEntry]] = {}
        self.exceptions: list[HookEntry] = []
        self.code: list[HookEntry] = []      # kind "code" and "mem": installed per process
        #: fn() called when the API hooks change (the subsystem rebuilds the wrapped handlers)
        self.on_api_change: list[Callable[[], None]] = []
        #: resolve(proc, target) -> [(begin, end)] or None (not resolvable yet in that process): installed by
        #: the layer that knows module names (the session), used for "module+0x10" / "module!Export" targets
        self.resolve: Callable | None = None

    def __bool__(self) -> bool:
        return bool(self.api or self.services or self.exceptions or self.code)

    # -- adding and removing ---------------------------------------------------------------------------------
    def add(self, entry: HookEntry) -> HookEntry:
        kind = entry.kind
        if kind == "api":
            self.api.append(entry)
            self._api_changed()
        elif kind == "service":
            self.services.setdefault(entry.spec, []).append(entry)
        elif kind == "exception":
            self.exceptions.append(entry)
        elif kind in ("code", "mem"):
            self.code.append(entry)
            for proc in self.machine.processes:
                if proc.cpu is not None and not proc.exited:
                    self.install(entry, proc)
        else:
            raise ValueError(f"unknown hook kind {kind!r}")
        return entry

    def remove(self, entry: HookEntry) -> None:
        entry.removed = True
        kind = entry.kind
        if kind == "api":
            if entry in self.api:
                self.api.remove(entry)
                self._api_changed()
        elif kind == "service":
            lst = self.services.get(entry.spec, [])
            if entry in lst:
                lst.remove(entry)
            if not lst:
                self.services.pop(entry.spec, None)
        elif kind == "exception":
            if entry in self.exceptions:
                self.exceptions.remove(entry)
        elif entry in self.code:
            self.code.remove(entry)
            for proc, handles in list(entry.installed.values()):
                cpu = proc.cpu
                if cpu is not None and not proc.exited:
                    for h in handles:
                        cpu.remove_hook(h)
            entry.installed.clear()

    def _api_changed(self) -> None:
        self.machine.set_trap_all_apis(bool(self.api))
        for fn in list(self.on_api_change):
            fn()

    # -- code and memory hooks on process CPUs ----------------------------------------------------------------
    def install(self, entry: HookEntry, proc) -> None:
        """Install a code/memory hook in `proc` when its target can be resolved there (once per process)."""
        if entry.removed or proc.cpu is None or entry.installed.get(proc.pid, (None,))[0] is proc:
            return
        pid_filter = entry.data.get("pid") if isinstance(entry.data, dict) else None
        if pid_filter is not None and pid_filter != proc.pid:
            return
        ranges = entry.spec if isinstance(entry.spec, list) else (
            self.resolve(proc, entry.spec) if self.resolve is not None else None)
        if not ranges:
            return
        handles = []
        cpu = proc.cpu
        for begin, end in ranges:
            if entry.kind == "code":
                handles.append(cpu.add_code_hook(begin, end, _code_cb(entry, proc)))
            else:
                handles.append(cpu.add_mem_hook(entry.data["access"], begin, end, _mem_cb(entry, proc)))
        entry.installed[proc.pid] = (proc, handles)

    def attach_process(self, proc) -> None:
        """A process got its CPU (MmCreateProcessAddressSpace): install the hooks that apply to it."""
        for entry in list(self.code):
            self.install(entry, proc)

    def image_loaded(self, proc) -> None:
        """A module was mapped in `proc`: hooks whose target names a module may resolve now."""
        for entry in list(self.code):
            self.install(entry, proc)


def _code_cb(entry: HookEntry, proc) -> Callable[[int, int], None]:
    def cb(address: int, size: int) -> None:
        if not entry.removed:
            entry.fn(proc, address, size)
    return cb


def _mem_cb(entry: HookEntry, proc) -> Callable[[str, int, int, int], None]:
    def cb(access: str, address: int, size: int, value: int) -> None:
        if not entry.removed:
            entry.fn(proc, access, address, size, value)
    return cb


class Registers:
    """A thread's registers by name: `regs.rax`, `regs.rip = x`, `regs["xmm0"]`, `regs.pc` / `regs.sp`
    (eip/esp in a 32-bit process).  The running thread's are the CPU's; another thread's are its saved
    context (written back when it next runs)."""

    __slots__ = ("_thread",)

    def __init__(self, thread) -> None:
        object.__setattr__(self, "_thread", thread)

    def _live(self):
        t = self._thread
        proc = t.process
        if proc.cpu is not None and proc.subsystem.get("running_thread") is t:
            return proc.cpu
        return None

    def __getitem__(self, name: str) -> int:
        cpu = self._live()
        if cpu is not None:
            return cpu.reg(name)
        ctx = self._thread.context
        if ctx is None:
            raise KeyError(f"thread {self._thread.tid} has no saved registers")
        return ctx.get(name)

    def __setitem__(self, name: str, value: int) -> None:
        cpu = self._live()
        if cpu is not None:
            cpu.set_reg(name, int(value))
            return
        ctx = self._thread.context
        if ctx is None:
            raise KeyError(f"thread {self._thread.tid} has no saved registers")
        ctx.set(name, int(value))

    def __getattr__(self, name: str) -> int:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(str(e)) from None

    def __setattr__(self, name: str, value: int) -> None:
        self[name] = value


class ServiceCall:
    """A system-service call as its hooks see it: `name` (NtCreateFile), `number`, `args` (the arguments as
    integers, a list the `before` callbacks may change: the service gets the changed list), `kind` ("syscall",
    "sysenter", "int2e", or "api" for a call a Win32 handler made), `caller` (module+offset of the call site),
    `thread`, `process`; `status` (after the service: the NTSTATUS, which `after` callbacks may change) and
    `skip(status)` (from `before`: the service does not run, the caller gets `status`)."""

    __slots__ = ("thread", "name", "number", "args", "kind", "_caller", "status", "skipped", "session")

    def __init__(self, thread, name: str, number: int, args: list[int], kind: str, caller) -> None:
        self.thread = thread
        self.name = name
        self.number = number
        self.args = args
        self.kind = kind
        self._caller = caller
        self.status: int | None = None
        self.skipped = False
        self.session = None

    @property
    def process(self):
        return self.thread.process

    @property
    def caller(self) -> str | None:
        return self._caller() if callable(self._caller) else self._caller

    @property
    def regs(self) -> Registers:
        """The calling thread's registers."""
        return Registers(self.thread)

    def skip(self, status: int = 0) -> None:
        """Do not run the service: the caller receives `status` (an NTSTATUS, STATUS_SUCCESS by default)."""
        self.skipped = True
        self.status = status & 0xFFFFFFFF

    def __repr__(self) -> str:
        return f"<ServiceCall {self.name} args={[hex(a) for a in self.args]} status={self.status}>"


class ExceptionEvent:
    """A guest exception as its hooks see it: `code` (NTSTATUS), `address`, `first_chance` (True: before the
    guest's own handlers; False: nothing handled it and the process is about to end), `access` ("read" /
    "write" / "execute" for an access violation), `fault_address`, `parameters`, `flags` (`record`: them as EXCEPTION_RECORD's fields), `thread`, `process`,
    `regs`.

    At first chance a hook may call `handle()` (a debugger's DBG_CONTINUE): the guest's handlers do not
    run and the thread continues with its registers as they are now — for a fault that is the faulting
    instruction again, so change the registers first (`thread` has them: see winhatch.Session.regs); for
    RaiseException it is the return from RaiseException.  At second chance `handle()` is refused (the
    process ends with the code: winhatch does not resume a thread past the unhandled-exception filter)."""

    __slots__ = ("thread", "code", "address", "first_chance", "access", "fault_address", "parameters",
                 "flags", "handled", "session")

    def __init__(self, thread, info, first_chance: bool) -> None:
        self.thread = thread
        self.code = info.code & 0xFFFFFFFF
        self.address = info.address
        self.first_chance = first_chance
        self.access = info.access
        self.fault_address = info.fault_address
        from winhatch.kernel.ke.dispatcher import fault_parameters
        self.parameters = fault_parameters(info)
        self.flags = info.flags
        self.handled = False
        self.session = None

    @property
    def process(self):
        return self.thread.process

    @property
    def regs(self) -> Registers:
        """The thread's registers (at first chance of a fault: at the faulting instruction)."""
        return Registers(self.thread)

    @property
    def record(self) -> dict:
        """The EXCEPTION_RECORD's fields: code, flags, address, parameters."""
        return {"code": self.code, "flags": self.flags, "address": self.address,
                "parameters": list(self.parameters)}

    def handle(self) -> None:
        """First chance only: the exception is handled; the thread continues with its current registers."""
        if not self.first_chance:
            raise RuntimeError("a second-chance exception cannot be handled: the process is ending")
        self.handled = True

    def __repr__(self) -> str:
        return (f"<ExceptionEvent {self.code:#010x} at {self.address:#x} "
                f"{'first' if self.first_chance else 'second'} chance>")


def exception_hooks(registry: HookRegistry, thread, info, first_chance: bool) -> bool:
    """Run the exception hooks (the dispatcher calls this); True when one handled it (first chance)."""
    event = ExceptionEvent(thread, info, first_chance)
    for h in list(registry.exceptions):
        if not h.removed:
            h.fn(event)
    return event.handled
