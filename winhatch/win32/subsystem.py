"""Wiring the Windows subsystem into a machine: system DLLs, API handlers, ntdll's entry points."""
from __future__ import annotations

from winhatch.kernel import events as ev
from winhatch.kernel.ke.dispatcher import ProcessExit
from winhatch.kernel.ke.traps import TrapHandler
from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED
from winhatch.win32 import api

_LOADED = False


def load_handler_modules() -> None:
    """Import every module of winhatch.win32.dlls: their @api declarations register the handlers."""
    global _LOADED
    if not _LOADED:
        import importlib
        import pkgutil
        from winhatch.win32 import dlls
        for mod in sorted(m.name for m in pkgutil.iter_modules(dlls.__path__)):
            importlib.import_module(f"winhatch.win32.dlls.{mod}")
        _LOADED = True


def setup(machine, arches=("x64",), progress=None) -> None:
    """Install the synthetic system DLLs and register every handler with the machine's trap table."""
    from winhatch.ldr import exceptions, ntdll
    from winhatch.win32 import sysdlls
    load_handler_modules()
    sysdlls.install(machine, arches, progress)  # first: registration below reads its forwarder index
    ntdll.register(machine)
    exceptions.install(machine)  # KiUserExceptionDispatcher and its internal stubs (winhatch/ldr/exceptions.py)
    for spec in api.specs():
        for dll in spec.dlls:
            for name, wide in spec.names():
                # a declared export that is a forwarder on Windows (kernel32!HeapAlloc → NTDLL.RtlAllocateHeap)
                # is implemented where its code really lives, unless that function has its own handler
                for tdll, tname in _code_locations(arches, dll, name):
                    if machine.traps.get(tdll, tname) is None or (tdll, tname) == (dll, name):
                        _register(machine, spec, tdll, tname, wide)
    _serve_ntdll_crt(machine, arches)
    for dll, fn in api.dll_initializers().items():
        spec = api.ApiSpec((dll,), sysdlls.ENTRY_NAME, "BOOL", [api.Param("HINSTANCE", "h"), api.Param("DWORD", "r"),
                                                               api.Param("LPVOID", "p")],
                           False, False, fn, False, True)
        machine.traps.register(dll, sysdlls.ENTRY_NAME, api.make_trap_handler(machine, spec, dll, sysdlls.ENTRY_NAME,
                                                                             False), calls_guest=True)
    machine.traps.unimplemented_factory = lambda dll, name: TrapHandler(dll, name, _unimplemented(machine, dll, name),
                                                                        False, False)


def _register(machine, spec, dll: str, name: str, wide: bool) -> None:
    h = machine.traps.register(dll, name, None, calls_guest=spec.calls_guest)
    h.fn = _LazyHandler(h, machine, spec, dll, name, wide)


class _LazyHandler:
    """A registered API's trap function, built on its first call (a run calls a few dozen of the ~1,700
    declared APIs; building every closure up front was a measurable part of the start-up)."""

    __slots__ = ("h", "args")

    def __init__(self, h, *args):
        self.h = h
        self.args = args

    def build(self):
        fn = api.make_trap_handler(*self.args)
        if self.h.fn is self:
            self.h.fn = fn
        return fn

    def __call__(self, thread, va):
        return self.build()(thread, va)

    @property
    def frames(self):
        return self.build().frames


def _serve_ntdll_crt(machine, arches) -> None:
    """ntdll exports a C runtime subset (sprintf, _vsnprintf, str*/wcs*, qsort, ...): the msvcrt
    implementations serve those names too (with their own state: winhatch.win32.crt.runtime.state)."""
    from winhatch.pe import PEFile
    from winhatch.win32 import sysdlls
    msvcrt = {}  # export name -> (spec, wide)
    for spec in api.specs():
        if "msvcrt.dll" in spec.dlls and not spec.tchar:
            for name, wide in spec.names():
                msvcrt[name] = (spec, wide)
    names: set[str] = set()
    for arch in arches:
        exports = PEFile.open(str(sysdlls.ensure_installed(arch) / "ntdll.dll")).exports
        names.update(e.name for e in exports.functions if e.name and e.forwarder is None)
    for name in sorted(names & msvcrt.keys()):
        if machine.traps.get("ntdll.dll", name) is None:
            spec, wide = msvcrt[name]
            _register(machine, spec, "ntdll.dll", name, wide)


_FORWARDERS: dict[str, dict[tuple[str, str], str]] = {}


def _forwarders(arch: str) -> dict[tuple[str, str], str]:
    idx = _FORWARDERS.get(arch)
    if idx is None:
        from winhatch.win32.sysdlls import forwarders
        idx = _FORWARDERS[arch] = forwarders(arch)
    return idx


def _code_locations(arches, dll: str, name: str) -> set[tuple[str, str]]:
    """Where dll!name's code is for each architecture, following forwarders (bounded)."""
    out = {(dll, name)}
    for arch in arches:
        fwds = _forwarders(arch)
        if (dll, name) not in fwds:
            continue
        d, n = dll, name
        for _ in range(8):
            fwd = fwds.get((d, n))
            if not fwd:
                break
            tdll, _, tname = fwd.rpartition(".")
            d, n = tdll.lower() + ("" if tdll.lower().endswith(".dll") else ".dll"), tname
        out.add((d, n))
    return out


def _unimplemented(machine, dll: str, name: str):
    def fn(thread, va):
        proc = thread.process
        cpu = proc.cpu
        ret = cpu.read_ptr(cpu.sp)
        where = proc.subsystem["images"].describe(ret)
        msg = f"unimplemented API {dll}!{name} called from {where}"
        proc.subsystem.setdefault("unimplemented", []).append({"api": f"{dll}!{name}", "caller": where})
        proc.stop_message = msg
        machine.events.emit(ev.API, "unimplemented", proc.pid, thread.tid, api=f"{dll}!{name}", caller=where)
        raise ProcessExit(STATUS_NOT_IMPLEMENTED)
    return fn
