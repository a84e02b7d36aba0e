"""Wiring the Windows subsystem into a machine: system DLLs, API handlers, ntdll's entry points."""
from __future__ import annotations

from winhatch.kernel import events as ev
from winhatch.kernel.ke.dispatcher import ProcessExit
from winhatch.kernel.ke.traps import TrapHandler
from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED
from winhatch.win32 import api
from winhatch.win32.msvcrt.runtime import OLD_CRTS

def load_handler_modules() -> None:
    """Import every module of every DLL package under winhatch.win32 (kernel32/, ntdll/, msvcrt/, …): their @api
    declarations register the handlers.  A run does not need this (winhatch.win32.handler_index: a handler
    module is imported when one of its APIs is first called); what lists or checks every declaration does."""
    from winhatch.win32 import handler_index
    handler_index.load_all()


def setup(machine, arches=("x64",), progress=None) -> None:
    """Install the synthetic system DLLs and register every handler with the machine's trap table.  A process
    of another architecture created later adds that architecture (machine.add_architecture): setup runs
    again for every architecture, replacing the registrations with equivalent ones.

    The declared exports are registered from the handler index (winhatch.win32.handler_index) without
    importing their modules: the trap table's resolver makes an export's handler when it is first looked up
    (_DeclaredTraps), the handler imports its module when it is first called (_LazyHandler).  While a
    declaration made outside winhatch exists (api.foreign_declarations), every module is imported and every
    declaration registered up front instead (_register_all), as before the index."""
    arches = tuple(sorted(set(arches) | set(getattr(machine, "subsystem_arches", ()))))
    machine.subsystem_arches = arches

    def add_architecture(arch: str) -> None:
        if arch not in machine.subsystem_arches:
            setup(machine, (*machine.subsystem_arches, arch), progress)
    machine.add_architecture = add_architecture
    from winhatch.ldr import ntdll
    from winhatch.win32.ntdll import exceptions
    from winhatch.win32 import handler_index, startup_cache, sysdlls
    index = handler_index.load()   # first: the system DLLs' cache key reads the declarations through it
    startup_cache.prime_cpu_calibrations()   # before a process's CPU exists (a cached result spares its probes)
    sysdlls.install(machine, arches, progress)  # first: registration below reads its forwarder index
    machine.images.known_image = _SystemImages({str(_system_dir(machine, arch)) for arch in arches})
    old = machine.traps.resolver
    if isinstance(old, _DeclaredTraps):   # setup again (another architecture): forget what it registered
        for key in old.made:
            machine.traps._by_name.pop(key, None)
    machine.traps.resolver = None
    ntdll.register(machine)
    exceptions.install(machine)  # KiUserExceptionDispatcher and its internal stubs (winhatch/win32/ntdll/exceptions.py)
    if api.foreign_declarations():
        load_handler_modules()
        specs = api.specs()
        _register_all(machine, arches, specs)
        _register_services(machine, [(spec, spec.names()) for spec in specs if "ntdll.dll" in spec.dlls])
        crt_specs = _CrtSpecs(None)
    else:
        table, ntdll_decls = _declared_table(machine, arches, index)
        declared = _DeclaredTraps(machine, index, table)
        # a declared export that the layers below registered too (ntdll's loader entry points) is served by
        # its declaration, as when every declaration was registered after them; where code of another export
        # lands there (a forwarder, ntdll's C runtime names) the registration below stays
        for key in [k for k in machine.traps._by_name if k in declared.table and declared.table[k][2]]:
            del machine.traps._by_name[key]
            declared(*key)
        machine.traps.resolver = declared
        _register_services(machine, ntdll_decls)
        crt_specs = _CrtSpecs(index)
    for dll, fn in api.dll_initializers().items():
        spec = api.ApiSpec((dll,), sysdlls.ENTRY_NAME, "BOOL", [api.Param("HINSTANCE", "h"), api.Param("DWORD", "r"),
                                                               api.Param("LPVOID", "p")],
                           False, False, fn, False, True)
        machine.traps.register(dll, sysdlls.ENTRY_NAME, api.make_trap_handler(machine, spec, dll, sysdlls.ENTRY_NAME,
                                                                             False), calls_guest=True)

    def unimplemented_factory(dll, name):
        # an older CRT's export (msvcr70 ... msvcr120) is served by msvcrt's handler of that name, or
        # ucrtbase's where msvcrt has none, registered on its first call (no start-up cost)
        if dll in OLD_CRTS:
            hit = crt_specs.find(name)
            if hit is not None:
                _register(machine, hit[0], dll, name, hit[1])
                return machine.traps.get(dll, name)
        return TrapHandler(dll, name, _unimplemented(machine, dll, name), False, False)
    machine.traps.unimplemented_factory = unimplemented_factory
    if not getattr(machine, "_apihooks_wired", False):   # API hooks added or removed: rebuild the handlers
        from winhatch.win32 import apihooks
        machine.hooks.on_api_change.append(lambda: apihooks.rehook(machine))
        machine._apihooks_wired = True
    machine.dispatcher.access_violation_filter = lambda thread, info: _data_export_fault(machine, thread, info)


def _register_all(machine, arches, specs) -> None:
    """Register every declaration now (the registration before the index; used while foreign declarations
    exist)."""
    moved = _code_location_table(machine, arches, [(spec.dlls, spec.names()) for spec in specs])
    for spec in specs:
        for dll in spec.dlls:
            for name, wide in spec.names():
                # a declared export that is a forwarder on Windows (kernel32!HeapAlloc → NTDLL.RtlAllocateHeap)
                # is implemented where its code really lives, unless that function has its own handler
                for tdll, tname in moved.get((dll, name)) or ((dll, name),):
                    if (tdll, tname) == (dll, name) or machine.traps.get(tdll, tname) is None:
                        _register(machine, spec, tdll, tname, wide)
    msvcrt = {}  # export name -> (spec, wide)
    for spec in specs:
        if "msvcrt.dll" in spec.dlls and not spec.tchar:
            for name, wide in spec.names():
                msvcrt[name] = (spec, wide)
    for name in sorted(_ntdll_code_names(machine, arches) & msvcrt.keys()):
        if machine.traps.get("ntdll.dll", name) is None:
            spec, wide = msvcrt[name]
            _register(machine, spec, "ntdll.dll", name, wide)


def _declared_table(machine, arches, index) -> tuple[dict[tuple[str, str], tuple[int, bool, bool]], list]:
    """{(dll, name): (index entry, wide, own)} of every export a declaration serves, as _register_all would
    register them in an empty trap table: an export at its own place (own: True; the last declaration of it
    wins), a forwarded export where its code lives unless that has its own declaration (the first forwarded
    one wins), ntdll's C runtime names served by msvcrt's declarations; and the (entry, names) of ntdll's
    declarations (_register_services).  Kept in the cache directory, keyed by the index's content (its
    entries' numbering), the DLL directories and this file."""
    from winhatch.win32 import startup_cache

    def compute():
        decls = [(index.dlls(i), index.names(i)) for i in range(len(index.apis))]
        moved = _code_location_table(machine, arches, decls)
        table: dict = {}
        for i, (dlls, names) in enumerate(decls):
            for dll in dlls:
                for name, wide in names:
                    for target in moved.get((dll, name)) or ((dll, name),):
                        own = target == (dll, name)
                        if own or target not in table:
                            table[target] = (i, wide, own)
        msvcrt = {}
        for i, (dlls, names) in enumerate(decls):
            if "msvcrt.dll" in dlls and not index.apis[i][4]:
                for name, wide in names:
                    msvcrt[name] = (i, wide)
        for name in sorted(_ntdll_code_names(machine, arches) & msvcrt.keys()):
            table.setdefault(("ntdll.dll", name), (*msvcrt[name], False))
        ntdll = [(i, names) for i, (dlls, names) in enumerate(decls) if "ntdll.dll" in dlls]
        return table, ntdll
    dirs = [str(_system_dir(machine, arch)) for arch in arches]
    inputs = "\n".join([repr(tuple(arches)), startup_cache.file_identity(__file__), index.digest] + dirs)
    table, ntdll = startup_cache.cached("declared-traps", inputs, compute)
    return table, ntdll


class _DeclaredTraps:
    """The trap table's resolver (winhatch.kernel.ke.traps.TrapTable.resolver): registers a declared export's
    handler when it is first looked up (its module is imported when it is first called)."""

    def __init__(self, machine, index, table) -> None:
        self.machine = machine
        self.index = index
        self.table = table
        self.made: list[tuple[str, str]] = []

    def __call__(self, dll: str, name: str):
        hit = self.table.get((dll, name))
        if hit is None:
            return None
        i, wide, _own = hit
        self.made.append((dll, name))
        _register(self.machine, _Entry(self.index, i), dll, name, wide)
        return self.machine.traps._by_name[(dll, name)]


class _Entry:
    """A declaration of the handler index not imported yet: what registration needs, and the real ApiSpec
    (`resolve`, importing its module)."""

    __slots__ = ("index", "i")

    def __init__(self, index, i: int) -> None:
        self.index = index
        self.i = i

    @property
    def calls_guest(self):
        return self.index.calls_guest(self.i)

    def resolve(self):
        return self.index.spec(self.i)


def _spec_of(spec):
    """The ApiSpec of a registration: a handler index entry's imports its module."""
    return spec.resolve() if type(spec) is _Entry else spec


def _ntdll_code_names(machine, arches) -> set[str]:
    """The names of ntdll's code exports (not forwarders) for these architectures."""
    from winhatch.pe import PEFile
    from winhatch.pe import directories as pe_dirs
    from winhatch.win32 import startup_cache
    names: set[str] = set()
    for arch in arches:
        path = _system_dir(machine, arch) / "ntdll.dll"

        def compute(path=path):
            exports = PEFile.open(str(path)).exports
            return sorted(e.name for e in exports.functions if e.name and e.forwarder is None)
        # the directory name holds the DLLs' cache key: the same directory, the same ntdll
        names.update(startup_cache.cached("ntdll-code-names", f"{path}\n{startup_cache.code_identity(pe_dirs)}",
                                          compute))
    return names


class _CrtSpecs:
    """msvcrt's declarations by export name, then ucrtbase's for the names msvcrt lacks (built on first use):
    handler index entries (`index`), or ApiSpecs (None: the registry, every module imported)."""

    def __init__(self, index):
        self.index = index
        self.by_name: dict[str, tuple] | None = None

    def find(self, name: str):
        if self.by_name is None:
            if self.index is None:
                decls = [(spec, spec.dlls, spec.names()) for spec in api.specs()]
            else:
                decls = [(_Entry(self.index, i), self.index.dlls(i), self.index.names(i))
                         for i in range(len(self.index.apis))]
            msvcrt, ucrt = {}, {}
            for spec, dlls, names in decls:
                for target, dll in ((msvcrt, "msvcrt.dll"), (ucrt, "ucrtbase.dll")):
                    if dll in dlls:
                        for n, wide in names:
                            target.setdefault(n, (spec, wide))
            self.by_name = {**ucrt, **msvcrt}
        return self.by_name.get(name)


def _register_services(machine, decls) -> None:
    """The system services whose implementation is still an ntdll handler of this layer (declared with its
    prototype): the dispatcher's table calls it with the arguments the guest passed to the system call.
    Services a kernel component registered itself keep theirs.  `decls`: (declaration, its names) of
    ntdll's declarations — an ApiSpec, or a handler index entry number (its module imported on the first
    call)."""
    from winhatch.kernel.ke.services import BY_NAME
    index = None
    for spec, names in decls:
        for name, wide in names:
            svc = BY_NAME.get(name)
            if svc is None or machine.services.implemented(name):
                continue
            if type(spec) is int:
                if index is None:
                    from winhatch.win32 import handler_index
                    index = handler_index.current()
                machine.services.register(name, _LazyService(machine, _Entry(index, spec), name))
            else:
                machine.services.register(name, _service_adapter(machine, spec, name))


class _LazyService:
    """A service adapter (_service_adapter) built on its first call, when its declaration's module is
    imported."""

    __slots__ = ("machine", "entry", "name", "serve")

    def __init__(self, machine, entry, name: str) -> None:
        self.machine = machine
        self.entry = entry
        self.name = name
        self.serve = None

    def _build(self):
        if self.serve is None:
            self.serve = _service_adapter(self.machine, self.entry.resolve(), self.name)
        return self.serve

    def __call__(self, thread, args, sp):
        return (self.serve or self._build())(thread, args, sp)

    @property
    def param_names(self):
        return self._build().param_names


def _service_adapter(machine, spec, name: str):
    CallT = api.call_class(machine, spec, name, False)
    plan = api._plan(spec)
    n = len(plan)
    int32 = tuple(i for i, (_, is32) in enumerate(plan) if is32)
    fn = spec.fn

    def serve(thread, args, sp):
        a = list(args[:n]) + [0] * (n - len(args))
        for i in int32:
            a[i] &= 0xFFFFFFFF
        return fn(CallT(thread, sp), *a)
    serve.param_names = [p.name for p in spec.params]
    return serve


def _register(machine, spec, dll: str, name: str, wide: bool) -> None:
    """Register dll!name for declaration `spec` (an ApiSpec, or a handler index _Entry), its handler built on
    its first call."""
    h = machine.traps.register(dll, name, None, calls_guest=spec.calls_guest)
    h.fn = _LazyHandler(h, machine, spec, dll, name, wide)


class _LazyHandler:
    """A registered API's trap function, built on its first call (a run calls a few dozen of the ~1,700
    declared APIs; building every closure up front was a measurable part of the start-up).  A declaration of
    the handler index gets its module imported then."""

    __slots__ = ("h", "args")

    def __init__(self, h, *args):
        self.h = h
        self.args = args

    def build(self):
        machine, spec, *rest = self.args
        fn = api.make_trap_handler(machine, _spec_of(spec), *rest)
        if self.h.fn is self:
            self.h.fn = fn
        return fn

    def __call__(self, thread, va):
        return self.build()(thread, va)

    @property
    def frames(self):
        return self.build().frames


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


def _system_dir(machine, arch: str):
    """The host directory of the synthetic DLLs of `arch` (mounted by sysdlls.install; its name holds their
    cache key), found through the mount rather than by computing the key again."""
    return machine.vfs.host_dir_of(machine.system_dir(arch))


class _SystemImages:
    """machine.images.known_image (winhatch.kernel.ps.mapping.ImageSectionCache): the export directory and
    the trap table of the synthetic DLLs, parsed once and kept in the cache directory (~3 ms a DLL parsed,
    ~0.5 ms read back).  A file of their directories never changes (its name holds their cache key)."""

    def __init__(self, dirs: set[str]):
        self.dirs = dirs

    def __call__(self, host, pe) -> dict[int, str] | None:
        if str(host.parent) not in self.dirs:
            return None
        from winhatch.kernel.ke import traps as ke_traps
        from winhatch.kernel.ps.mapping import _trap_table
        from winhatch.pe import directories as pe_dirs
        from winhatch.win32 import startup_cache

        def compute():
            exp = pe.exports
            return (None if exp is None else
                    (exp.dll_name, exp.ordinal_base, exp.timestamp, exp.characteristics, exp.major_version,
                     exp.minor_version, [tuple(e) for e in exp.functions], exp.names, exp.number_of_functions,
                     exp.rva, exp.size, tuple(exp._name_indexes)),
                    _trap_table(pe))
        # keyed by the file and by the code that parses it (a change to the parser parses again)
        inputs = f"{startup_cache.file_identity(str(host))}\n{startup_cache.code_identity(pe_dirs, ke_traps)}"
        exports, traps = startup_cache.cached("image-facts", inputs, compute)
        if "exports" not in pe.__dict__:   # PEFile.exports is a cached_property: give it its value
            pe.__dict__["exports"] = None if exports is None else pe_dirs.ExportDirectory.from_facts(*exports)
        return traps


def _code_location_table(machine, arches, decls) -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    """_code_locations of every declared export whose code is (also) elsewhere, {(dll, name): locations};
    an export missing from it is only at its own place.  Kept in the cache directory, keyed by the DLL
    directories (their names hold the cache key of the export data, hence of the forwarders) and the
    declared names: a start-up then reads a few hundred entries instead of the ~15,000 of the forwarder
    index.  `decls`: (DLLs, names) of every declaration."""
    from winhatch.win32 import startup_cache
    declared = [f"{dll}!{name}" for dlls, names in decls for dll in dlls for name, _wide in names]

    def compute():
        out = {}
        for dll, name in sorted({tuple(d.split("!", 1)) for d in declared}):
            locs = _code_locations(arches, dll, name)
            if len(locs) > 1:
                out[(dll, name)] = tuple(sorted(locs))
        return out
    dirs = [str(_system_dir(machine, arch)) for arch in arches]
    inputs = "\n".join([repr(tuple(arches)), startup_cache.file_identity(__file__)] + dirs + declared)
    return startup_cache.cached("code-locations", inputs, compute)


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


def _unimplemented_exports(proc, img) -> list[tuple[int, str]] | None:
    """(rva, name) of the data exports in the no-access section of a synthetic system DLL (sorted), or None
    when `img` is not one; kept per image file in the machine's section cache entry (the PE object)."""
    if img.traps is None:
        return None
    from winhatch.ldr import loader
    from winhatch.win32.sysdlls import NONE_SECTION
    m = loader.state_of(proc).by_name.get(img.name.lower())
    if m is None or m.base != img.base:
        return None
    pe = m.pe
    cached = pe.__dict__.get("_wh_none_exports")
    if cached is None:
        cached = []
        sec = next((x for x in pe.sections if x.name == NONE_SECTION), None)
        if sec is not None and pe.exports is not None:
            lo, hi = sec.virtual_address, sec.virtual_address + sec.virtual_size
            for e in pe.exports.functions:
                if e.forwarder is None and e.rva is not None and lo <= e.rva < hi:
                    cached.append((e.rva, e.name or f"#{e.ordinal}"))
            cached.sort()
        pe.__dict__["_wh_none_exports"] = cached
    return cached


def _data_export_fault(machine, thread, info) -> None:
    """An access violation on a data export winhatch does not implement (its slot in a synthetic DLL's no-access
    section): stop the guest as an unimplemented API does, naming the export and the accessing instruction."""
    import bisect
    proc = thread.process
    images = proc.subsystem["images"]
    addr = info.fault_address
    img = images.find(addr)
    if img is None:
        return
    table = _unimplemented_exports(proc, img)
    if not table:
        return
    from winhatch.win32.sysdlls import NONE_SLOT
    rva = addr - img.base
    i = bisect.bisect_right(table, (rva, "\uffff")) - 1
    if i < 0 or rva - table[i][0] >= NONE_SLOT:
        return
    name = table[i][1]
    where = images.describe(info.address)
    off = rva - table[i][0]
    what = f"{img.name.lower()}!{name}"
    msg = f"unimplemented data export {what} accessed from {where}"
    if off:
        msg += f" ({info.access or 'access'} at offset 0x{off:x})"
    proc.subsystem.setdefault("unimplemented", []).append({"api": what, "caller": where})
    proc.stop_message = msg
    machine.events.emit(ev.API, "unimplemented", proc.pid, thread.tid, api=what, caller=where, data=True)
    raise ProcessExit(STATUS_NOT_IMPLEMENTED)
