"""The system-service table and dispatcher (KiSystemCall64 / KiSystemService).

One list of services (services.tsv: name, Windows 10 22H2 build 19045 service number, argument count, owning
component) generates both ntdll's export stubs (winhatch.win32.sysdlls, through :func:`ntdll_stub`) and the
dispatcher's table (:class:`ServiceTable`), so a number can never disagree between the two sides.

How the guest enters the kernel:

- x64: ntdll's stub is Windows 10's ``mov r10,rcx; mov eax,N; test byte [7FFE0308h],1; jne +3; syscall; ret;
  int 2Eh; ret``. KUSER_SHARED_DATA.SystemCall (+0x308) is 0, so ``syscall`` is taken. Unicorn calls the
  CPU's SYSCALL instruction hook (it fires only on that instruction); the service runs there, its NTSTATUS
  goes to rax and execution continues after the ``syscall``. The ``int 2Eh`` path (and any ``int 2Eh``
  from guest code) reaches the same dispatcher through the interrupt hook: an ``int 0x2e`` whose TEB trap
  frame names no API stub and whose address is no loader entry point is a system-service call.
  Arguments: r10, rdx, r8, r9, then the stack from rsp+0x28, as on Windows.
- x86 (WoW64-shaped): ntdll's stub is ``mov eax,N; mov edx,Wow64SystemServiceCall; call edx; ret 4*argc``.
  On Windows the target jumps to wow64cpu's far transition; in winhatch ntdll's Wow64SystemServiceCall is
  ``lea edx,[esp+8]; int 2Eh; ret``: the classic x86 ``int 2Eh`` convention (eax = number, edx = the
  caller's arguments). ``sysenter`` (KiFastSystemCall convention: edx = the stack pointer at the stub's
  call, arguments from edx+8) enters the same dispatcher and continues after the instruction.
- A direct ``syscall`` / ``int 2Eh`` / ``sysenter`` from guest code works the same way.

Unknown numbers return STATUS_INVALID_SYSTEM_SERVICE (0xC000001C). A number of the table whose service has
no implementation stops the guest loudly, exactly like an unimplemented API.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable

from winhatch._record import FrozenRecord
from winhatch.kernel import events as ev
from winhatch.kernel.ke import apc
from winhatch.kernel.ke.wait import WouldBlock

STATUS_INVALID_SYSTEM_SERVICE = 0xC000001C

#: KUSER_SHARED_DATA.SystemCall: the x64 stub tests bit 0 of this byte to choose int 2Eh over syscall
KUSER_SYSTEM_CALL = 0x7FFE0308


class Service(FrozenRecord):
    _fields = ("name", "number", "argc", "component")

    def __init__(self, name: str, number: int, argc: int, component: str) -> None:
        init = object.__setattr__
        init(self, "name", name)
        init(self, "number", number)
        init(self, "argc", argc)
        init(self, "component", component)

    @property
    def zw(self) -> str:
        return "Zw" + self.name[2:]


def _load() -> list[Service]:
    out = []
    for line in (Path(__file__).with_name("services.tsv")).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, num, argc, comp = line.split("\t")
        out.append(Service(name, int(num, 16), int(argc), comp))
    return out


SERVICES: list[Service] = _load()
BY_NAME: dict[str, Service] = {s.name: s for s in SERVICES}
BY_NUMBER: dict[int, Service] = {s.number: s for s in SERVICES}
assert len(BY_NAME) == len(BY_NUMBER) == len(SERVICES), "services.tsv: a duplicate name or number"


def service_for_export(name: str | None) -> Service | None:
    """The service behind ntdll!NtFoo or ntdll!ZwFoo (they share the stub and the number)."""
    if not name or len(name) < 3:
        return None
    if name.startswith("Zw"):
        name = "Nt" + name[2:]
    return BY_NAME.get(name)


def ntdll_stub(arch: str, svc: Service) -> tuple[bytes, int | None]:
    """The machine code of ntdll's export for `svc` as on Windows 10 22H2, and (x86) the offset of the
    absolute address of Wow64SystemServiceCall in it (0 in the returned code: the image builder writes it and
    a base relocation)."""
    n = struct.pack("<I", svc.number)
    if arch == "x64":
        return (b"\x4c\x8b\xd1"                                   # mov r10, rcx
                + b"\xb8" + n                                     # mov eax, N
                + b"\xf6\x04\x25" + struct.pack("<I", KUSER_SYSTEM_CALL) + b"\x01"   # test byte [7FFE0308h], 1
                + b"\x75\x03"                                     # jne +3
                + b"\x0f\x05"                                     # syscall
                + b"\xc3"                                         # ret
                + b"\xcd\x2e"                                     # int 2Eh
                + b"\xc3"), None                                  # ret
    return (b"\xb8" + n                                           # mov eax, N
            + b"\xba\x00\x00\x00\x00"                             # mov edx, Wow64SystemServiceCall
            + b"\xff\xd2"                                         # call edx
            + b"\xc2" + struct.pack("<H", 4 * svc.argc)), 6       # ret 4*argc


#: x86 ntdll!Wow64SystemServiceCall in winhatch: lea edx,[esp+8] ; int 2Eh ; ret
WOW64_TRANSITION_X86 = b"\x8d\x54\x24\x08\xcd\x2e\xc3"
WOW64_TRANSITION_NAME = "Wow64SystemServiceCall"
#: the 32-bit ntdll's exported pointer-sized variable holding the transition's address (what
#: Wow64SystemServiceCall jumps through on Windows)
WOW64_TRANSITION_VARIABLE = "Wow64Transition"

#: an implementation: fn(thread, args: list[int], caller_sp: int) -> NTSTATUS (may raise WouldBlock,
#: GuestTermination and the like, as trap handlers do)
ServiceFn = Callable[[object, list, int], int]


class ServiceTable:
    """The dispatcher's table: service number → (Service, implementation or None).

    Components register their implementations by name (`register`); the subsystem may register adapters
    for services whose code still lives with the native API layer. A number of the table without an
    implementation stops the process (`_unimplemented`)."""

    def __init__(self, machine) -> None:
        self.machine = machine
        self.impls: dict[int, ServiceFn] = {}
        self.calls = 0
        # each component's module is imported when one of its services is first called (a hello world
        # calls none: importing them all was ~15 ms of its start)
        for name, module in kernel_service_index().items():
            self.impls[BY_NAME[name].number] = _LazyService(module)

    def register(self, name: str, fn: ServiceFn) -> None:
        svc = BY_NAME[name]
        self.impls[svc.number] = fn

    def _resolve(self, svc: Service, module: str) -> ServiceFn:
        """The implementation of `svc` that the service index says `module` declares: the module imported
        (once), its declaration bound to the machine in the table."""
        import importlib
        importlib.import_module(module)
        fn = _KERNEL_SERVICES.get(svc.name)
        if fn is None or fn.__module__ != module:
            raise RuntimeError(f"the kernel service index does not match what {module} declares ({svc.name}): "
                               f"its source changed during the run?")
        served = self.impls[svc.number] = _bind(self.machine, fn, svc.argc)
        return served

    def implemented(self, name: str) -> bool:
        svc = BY_NAME.get(name)
        return svc is not None and svc.number in self.impls

    # -- the dispatcher ------------------------------------------------------------------------------------------
    def dispatch(self, thread, cpu, kind: str, site: int) -> None:
        """Serve the system call the guest made at `site` (`kind`: syscall | int2e | sysenter) with the
        thread's live registers; the NTSTATUS goes to eax/rax. WouldBlock and terminations propagate to the
        caller (the CPU hook's owner), which restarts or unwinds."""
        number = cpu.reg("eax") & 0xFFFFFFFF
        svc = BY_NUMBER.get(number)
        self.calls += 1
        events = self.machine.events
        if svc is None:
            if events.wants(ev.SYSCALL):
                proc = thread.process
                events.emit(ev.SYSCALL, "call", proc.pid, thread.tid, number=number, service=None, args={},
                            status=STATUS_INVALID_SYSTEM_SERVICE, kind=kind,
                            caller=proc.subsystem["images"].describe(site) if "images" in proc.subsystem else None)
            cpu.retval = STATUS_INVALID_SYSTEM_SERVICE
            return
        args, caller_sp, ret_addr = self._args(cpu, kind, svc.argc)
        status = self.invoke(thread, svc, args, caller_sp, kind, lambda: self._caller(thread, site, ret_addr))
        if status is not None and not cpu._pc_written:
            if getattr(thread, "apcs", None) and apc.wants_delivery(thread, status & 0xFFFFFFFF):
                # the return to user mode runs the queued user APCs first (KiUserApcDispatcher)
                apc.deliver_user_apcs(self.machine, thread, cpu, kind, site, status)
            else:
                cpu.retval = status & 0xFFFFFFFF

    def call(self, thread, name: str, args, caller_sp: int, caller: str | None, native: bool = False) -> int | None:
        """A service called by a Win32 handler, as kernelbase calls ntdll's stub: the same implementation a
        guest `syscall` reaches, traced as a system service (kind "api", its caller the API). `native`: WoW64's
        call of the 64-bit service for a 32-bit process (NtWow64*64): the arguments are 64-bit and so are the
        pointer-sized values the service reads and writes through them (thread.native_call while it runs)."""
        svc = BY_NAME[name]
        self.calls += 1
        mask = (1 << (64 if native else 8 * thread.process.cpu.ptr_size)) - 1
        if not native:
            return self.invoke(thread, svc, [a & mask for a in args], caller_sp, "api", lambda: caller)
        thread.native_call = True
        try:
            return self.invoke(thread, svc, [a & mask for a in args], caller_sp, "api", lambda: caller)
        finally:
            thread.native_call = False

    def invoke(self, thread, svc: Service, args: list[int], caller_sp: int, kind: str, caller) -> int | None:
        """Run service `svc` for `thread` with its arguments; `caller()` describes the call site (computed only
        when it is shown). Returns the NTSTATUS (None when the service set the thread's context itself)."""
        hooked = self.machine.hooks.services
        if hooked and svc.number in hooked:
            return self._invoke_hooked(thread, svc, args, caller_sp, kind, caller, hooked[svc.number])
        return self._serve(thread, svc, args, caller_sp, kind, caller)

    def _invoke_hooked(self, thread, svc: Service, args: list[int], caller_sp: int, kind: str, caller,
                       hooks: list) -> int | None:
        """A service with instrumentation hooks (winhatch.kernel.hooks): the `before` callbacks may change the
        arguments or skip the service with a status (even one winhatch does not implement), the `after`
        callbacks see and may change the status.  A call that blocks runs its `before` callbacks once."""
        from winhatch.kernel.hooks import ServiceCall
        hooks = list(hooks)
        retry = thread.__dict__.pop("service_hook_retry", None)
        if retry is not None and retry.number == svc.number:
            call = retry          # the call re-run after its wait: its `before` callbacks already ran
        else:
            call = ServiceCall(thread, svc.name, svc.number, list(args), kind, caller)
            for h in hooks:
                if h.before is not None and not h.removed:
                    h.before(call)
                    if call.skipped:
                        break
        if not call.skipped:
            try:
                call.status = self._serve(thread, svc, call.args, caller_sp, kind, caller)
            except WouldBlock:
                thread.__dict__["service_hook_retry"] = call
                raise
        for h in hooks:
            if h.after is not None and not h.removed:
                h.after(call)
        return call.status

    def _serve(self, thread, svc: Service, args: list[int], caller_sp: int, kind: str, caller) -> int | None:
        number = svc.number
        fn = self.impls.get(number)
        if fn is None:
            self._unimplemented(thread, svc, caller())
        if fn.__class__ is _LazyService:
            fn = self._resolve(svc, fn.module)
        events = self.machine.events
        if svc.component == "io":
            _count_io(thread, svc.name, args)
        if not events.wants(ev.SYSCALL):
            return fn(thread, args, caller_sp)
        proc = thread.process
        event = getattr(thread, "syscall_event", None)   # the call re-run after its wait: one event
        if event is not None and event.data.get("number") == number:
            thread.syscall_event = None
        else:
            names = getattr(fn, "param_names", None)
            shown = dict(zip(names, args)) if names else list(args)
            event = events.emit(ev.SYSCALL, "call", proc.pid, thread.tid, number=number, service=svc.name,
                                args=shown, kind=kind, caller=caller())
        try:
            status = fn(thread, args, caller_sp)
        except WouldBlock:
            thread.syscall_event = event
            raise
        event.data["status"] = None if status is None else status & 0xFFFFFFFF
        return status

    def _args(self, cpu, kind: str, argc: int) -> tuple[list[int], int, int]:
        """(arguments, the caller's stack pointer as at its call of the stub (x64: rsp; x86: the slot of the
        return address), the return address into the caller)."""
        if cpu.is64:
            sp = cpu.sp
            regs = [cpu.reg("r10"), cpu.reg("rdx"), cpu.reg("r8"), cpu.reg("r9")]
            raw = cpu.mem_read(sp, 8 * (5 + max(argc - 4, 0)))
            vals = struct.unpack_from(f"<{5 + max(argc - 4, 0)}Q", raw)
            args = (regs + list(vals[5:]))[:argc]
            return args, sp, vals[0]
        edx = cpu.reg("edx")
        base = edx + 8 if kind == "sysenter" else edx
        raw = cpu.mem_read(base - 4, 4 * (argc + 1))
        vals = struct.unpack_from(f"<{argc + 1}I", raw)
        return list(vals[1:]), base - 4, vals[0]

    def _unimplemented(self, thread, svc: Service, where: str | None) -> None:
        """A service of the table without an implementation: stop the process loudly, as an unimplemented
        API does (never a silent success)."""
        from winhatch.kernel.ke.dispatcher import ProcessExit
        from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED
        proc = thread.process
        msg = f"unimplemented system service {svc.name} ({svc.number:#x}) called from {where}"
        proc.subsystem.setdefault("unimplemented", []).append({"api": f"syscall!{svc.name}", "caller": where})
        proc.stop_message = msg
        self.machine.events.emit(ev.SYSCALL, "unimplemented", proc.pid, thread.tid, service=svc.name,
                                 number=svc.number, caller=where)
        raise ProcessExit(STATUS_NOT_IMPLEMENTED)

    @staticmethod
    def _caller(thread, site: int, ret_addr: int) -> str | None:
        """Where the service was called from: the stub's caller when the system call is inside a system
        DLL (an ntdll stub), else the system-call instruction itself (a direct syscall)."""
        images = thread.process.subsystem.get("images")
        if images is None:
            return None
        img = images.find(site)
        if img is not None and img.traps is not None:
            return images.describe(ret_addr)
        return images.describe(site)


IO_READS = ("NtReadFile", "NtReadFileScatter")
IO_WRITES = ("NtWriteFile", "NtWriteFileGather")


def _count_io(thread, name: str, args: list[int]) -> None:
    """The process's IO_COUNTERS (ProcessIoCounters): every I/O-manager service is an operation, a read, a
    write or another; the bytes a read or write asks for are its transfer (the I/O manager counts the
    request's length)."""
    c = thread.process.__dict__.setdefault("io_counters", [0, 0, 0, 0, 0, 0])
    if name in IO_READS:
        c[0] += 1
        c[3] += args[6] & 0xFFFFFFFF
    elif name in IO_WRITES:
        c[1] += 1
        c[4] += args[6] & 0xFFFFFFFF
    else:
        c[2] += 1


# -- helpers for service implementations ---------------------------------------------------------------------------
def user_read(proc, addr: int, size: int) -> bytes:
    """Read caller memory as a system service does (ProbeForRead inside __try): an address user mode may not
    read is STATUS_ACCESS_VIOLATION, returned as the service's status."""
    from winhatch.ntstatus import STATUS_ACCESS_VIOLATION, NtStatusError
    if not addr or not proc.aspace.accessible(addr, size, False):
        raise NtStatusError(STATUS_ACCESS_VIOLATION, f"read of {size:#x} bytes at {addr:#x}")
    return proc.cpu.mem_read(addr, size)


def user_write(proc, addr: int, data: bytes) -> None:
    """Write caller memory as a system service does (ProbeForWrite inside __try)."""
    from winhatch.ntstatus import STATUS_ACCESS_VIOLATION, NtStatusError
    if not addr or not proc.aspace.accessible(addr, len(data), True):
        raise NtStatusError(STATUS_ACCESS_VIOLATION, f"write of {len(data):#x} bytes at {addr:#x}")
    proc.cpu.mem_write(addr, bytes(data))
    if proc.aspace.watched:   # MEM_WRITE_WATCH allocations exist: the kernel's write is a write too
        proc.aspace.note_write(addr, len(data))


def process_from_handle(thread, handle: int, access: int):
    """The process a service's ProcessHandle names (NtCurrentProcess() included)."""
    return thread.process.handles.lookup(handle, "Process", access, current_process=thread.process,
                                         current_thread=thread)


def kernel_service(name: str):
    """Declare a component's implementation of system service `name`: fn(machine, thread, *arguments) ->
    NTSTATUS, its parameters named as in the service's prototype (the trace shows them). An NtStatusError it
    raises becomes its status."""
    svc = BY_NAME[name]

    def deco(fn):
        names = list(fn.__code__.co_varnames[2:2 + svc.argc])
        assert len(names) == svc.argc, f"{name}: {len(names)} parameters, the service has {svc.argc}"
        prev = _KERNEL_SERVICES.get(name)
        assert prev is None or prev.__qualname__ == fn.__qualname__ and prev.__module__ == fn.__module__, \
            f"{name} is implemented twice: {prev.__module__} and {fn.__module__}"   # one implementation each
        _KERNEL_SERVICES[name] = fn
        return fn
    return deco


def _bind(machine, fn, argc: int) -> ServiceFn:
    from winhatch.ntstatus import NtStatusError

    co = fn.__code__
    if "caller_sp" in co.co_varnames[co.co_argcount:co.co_argcount + co.co_kwonlyargcount]:
        # a blocking service keys its wait by the caller's stack pointer (stable when the call is re-run)
        def served(thread, args, sp):
            try:
                return fn(machine, thread, *args[:argc], caller_sp=sp)
            except NtStatusError as e:
                return e.status
    else:
        def served(thread, args, sp):
            try:
                return fn(machine, thread, *args[:argc])
            except NtStatusError as e:
                return e.status
    served.param_names = list(fn.__code__.co_varnames[2:2 + argc])
    served.__name__ = fn.__name__
    return served


_KERNEL_SERVICES: dict[str, ServiceFn] = {}

#: the kernel components' modules that declare system services (@kernel_service)
SERVICE_MODULES = (
    "winhatch.kernel.cm.services",
    "winhatch.kernel.ex.atom_services",
    "winhatch.kernel.ex.services",
    "winhatch.kernel.ex.nls_services",
    "winhatch.kernel.io.file_services",
    "winhatch.kernel.io.iocp_services",
    "winhatch.kernel.ke.clock_services",
    "winhatch.kernel.ke.exception_services",
    "winhatch.kernel.ke.sync_services",
    "winhatch.kernel.mm.section_services",
    "winhatch.kernel.mm.services",
    "winhatch.kernel.ob.services",
    "winhatch.kernel.ps.dbgk",
    "winhatch.kernel.po.services",
    "winhatch.kernel.ps.job",
    "winhatch.kernel.ps.info_services",
    "winhatch.kernel.ps.services",
    "winhatch.kernel.se.services",
)

#: bump when the layout of the stored service index changes
SERVICE_INDEX_FORMAT = 1


class _LazyService:
    """A table entry whose module is not imported yet (ServiceTable._resolve replaces it on the first call)."""

    __slots__ = ("module",)

    def __init__(self, module: str) -> None:
        self.module = module

    def __repr__(self) -> str:
        return f"<service of {self.module}, not imported yet>"


def kernel_services() -> dict[str, ServiceFn]:
    """The services the kernel's components implement (importing them registers their declarations)."""
    import importlib
    for module in SERVICE_MODULES:
        importlib.import_module(module)
    return dict(_KERNEL_SERVICES)


def _service_sources() -> str:
    """Path, size, modification time and inode of this module and of every SERVICE_MODULES source: what
    the service index is a function of (each declaration names its service with a literal:
    @kernel_service("NtXxx"))."""
    import os
    root = os.path.realpath(__file__)
    for _ in range(4):   # winhatch/kernel/ke/services.py: the directory that holds the package
        root = os.path.dirname(root)
    out = []
    for module in (__name__, *SERVICE_MODULES):
        path = os.path.join(root, *module.split(".")) + ".py"
        st = os.stat(path)
        out.append(f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
    return "\n".join(out)


_SERVICE_INDEX: tuple[str, dict[str, str]] | None = None


def kernel_service_index() -> dict[str, str]:
    """Service name → the module that implements it, without importing those modules: computed once by
    importing them (kernel_services) and kept in the cache directory (winhatch.cache.cached), keyed by the
    identity of their sources (_service_sources), so it cannot go stale."""
    global _SERVICE_INDEX
    key = _service_sources()
    if _SERVICE_INDEX is not None and _SERVICE_INDEX[0] == key:
        return _SERVICE_INDEX[1]
    from winhatch.cache import cached
    index = cached(f"kernel-services-v{SERVICE_INDEX_FORMAT}", key,
                   lambda: {name: fn.__module__ for name, fn in kernel_services().items()},
                   keep=lambda v: isinstance(v, dict))
    _SERVICE_INDEX = (key, index)
    return index


def unsupported(thread, service: str, what: str) -> None:
    """A service asked for something winhatch does not implement (an information class, a flag): stop the
    process loudly, as an unimplemented API does."""
    from winhatch.kernel.ke.dispatcher import ProcessExit
    from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED
    proc = thread.process
    msg = f"unimplemented system service {service}: {what}"
    proc.subsystem.setdefault("unimplemented", []).append({"api": f"syscall!{service}", "caller": what})
    proc.stop_message = msg
    raise ProcessExit(STATUS_NOT_IMPLEMENTED)
