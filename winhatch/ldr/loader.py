"""ntdll's loader: LdrInitializeThunk → LdrpInitializeProcess → the entry point, and LoadLibrary at run time.

The loader runs in the new process's first thread (the trap at ntdll!LdrInitializeThunk brings it here) and
writes the real loader structures into guest memory: PEB_LDR_DATA with its three lists of
LDR_DATA_TABLE_ENTRY records (exe first, ntdll second in load order), the hash links, the process heap,
the TLS index and per-thread TLS copies. The Python objects below mirror those records for speed; the
guest's copies are what the program sees and walks.

Steps, as the seeds describe them: read the import directory, find each DLL (API sets through the PEB's
ApiSetMap, KnownDLLs, the application directory, System32, …), map it, recurse, then snap each module's
imports (hint first, then binary search of the export name table; ordinals; forwarders through other
modules), write the IAT and restore its protection; then TLS callbacks and DllMain(DLL_PROCESS_ATTACH) in
dependency order.
"""
from __future__ import annotations

import struct

from winhatch._record import NEW, Record
from winhatch.kernel import events as ev
from winhatch.kernel.ke.dispatcher import GuestCallFaulted, ProcessExit
from winhatch.kernel.ps import mapping
from winhatch.kernel.structs import LDR_DATA_TABLE_ENTRY, PEB, PEB_LDR_DATA, TEB
from winhatch.ldr.heap import HEAP_ZERO_MEMORY, HeapManager
from winhatch.ntstatus import (STATUS_CONFLICTING_ADDRESSES, STATUS_DLL_INIT_FAILED, STATUS_DLL_NOT_FOUND, STATUS_ENTRYPOINT_NOT_FOUND,
                               STATUS_INVALID_IMAGE_FORMAT, STATUS_INVALID_PARAMETER, STATUS_NO_MEMORY,
                               STATUS_ORDINAL_NOT_FOUND, NtStatusError,
                               status_name)

DLL_PROCESS_DETACH, DLL_PROCESS_ATTACH, DLL_THREAD_ATTACH, DLL_THREAD_DETACH = 0, 1, 2, 3
MAX_MODULES = 4096

# LDR_DATA_TABLE_ENTRY.Flags
LDRP_IMAGE_DLL = 0x00000004
LDRP_ENTRY_PROCESSED = 0x00004000
LDRP_PROCESS_ATTACH_CALLED = 0x00080000
LDRP_DONT_CALL_FOR_THREADS = 0x00040000


class LoaderError(Exception):
    def __init__(self, status: int, message: str, dll: str | None = None, symbol: str | None = None):
        super().__init__(message)
        self.status, self.message, self.dll, self.symbol = status, message, dll, symbol


class Module(Record):
    _fields = ("name", "path", "base", "size", "pe", "entry", "entry_point", "is_exe", "load_count", "deps",
               "snapped", "initialized", "tls_index", "static", "hint_hits", "hint_misses", "datafile")

    def __init__(self, name: str, path: str, base: int, size: int, pe: object, entry: int, entry_point: int,
                 is_exe: bool = False, load_count: int = 1, deps: list[Module] = NEW, snapped: bool = False,
                 initialized: bool = False, tls_index: int = -1, static: bool = True, hint_hits: int = 0,
                 hint_misses: int = 0, datafile: bool = False) -> None:
        self.name = name  # base name as loaded (BaseDllName)
        self.path = path  # FullDllName
        self.base = base
        self.size = size
        self.pe = pe
        self.entry = entry  # LDR_DATA_TABLE_ENTRY address in guest memory
        self.entry_point = entry_point
        self.is_exe = is_exe
        self.load_count = load_count
        self.deps: list[Module] = [] if deps is NEW else deps
        self.snapped = snapped
        self.initialized = initialized
        self.tls_index = tls_index
        self.static = static
        self.hint_hits = hint_hits
        self.hint_misses = hint_misses
        self.datafile = datafile


class LoaderState:
    """One process's loader: its modules, its heap manager, its TLS bookkeeping."""

    def __init__(self, machine, proc):
        self.machine = machine
        self.proc = proc
        self.arch = proc.arch
        self.ptr = 8 if proc.arch == "x64" else 4
        self.ptr_mask = (1 << (8 * self.ptr)) - 1
        self.modules: list[Module] = []  # load order
        self.by_name: dict[str, Module] = {}
        self.init_order: list[Module] = []
        self.unloading: set[int] = set()  # bases of the modules whose FreeLibrary-time detach is running
        self.heaps = HeapManager(proc.aspace, proc.arch, machine)
        self.ldr_data = 0
        self.hash_table = 0
        self.tls_modules: list[Module] = []
        self.apiset = None
        self.dll_directories: list[str] = []
        # SetDllDirectory: None = the standard search order; else the directory ("" = none) that replaces the
        # current directory in the search order (it is kept in dll_directories when not empty)
        self.dll_directory: str | None = None
        # AddDllDirectory's user directories (cookie -> path, in the order added) and the process's default
        # LOAD_LIBRARY_SEARCH_* flags (SetDefaultDllDirectories; 0: the standard search order)
        self.user_dll_dirs: dict[int, str] = {}
        self.default_search_flags = 0
        self.pinned: set[int] = set()    # bases of modules pinned by LdrAddRefDll(LDR_ADDREF_DLL_PIN)
        self.unload_trace = 0            # ntdll's RTL_UNLOAD_EVENT_TRACE ring (allocated on first use)
        self.unload_sequence = 0
        # LdrRegisterDllNotification: the guest list head (LdrpDllNotificationList, made on first use) and the
        # cookies (addresses of the registration blocks linked into it), in registration order
        self.dll_notification_head = 0
        self.dll_notifications: list[int] = []

    # ---- guest memory helpers -------------------------------------------------------------------------------
    def alloc(self, size: int) -> int:
        return self.heaps.process_heap.alloc(size, HEAP_ZERO_MEMORY)

    def read_ptr(self, addr: int) -> int:
        return int.from_bytes(self.proc.aspace.read(addr, self.ptr), "little")

    def write_ptr(self, addr: int, value: int) -> None:
        self.proc.aspace.write(addr, value.to_bytes(self.ptr, "little"))

    def unicode_string(self, text: str) -> dict:
        data = text.encode("utf-16-le")
        buf = self.alloc(len(data) + 2)
        self.proc.aspace.write(buf, data + b"\0\0")
        return {"Length": len(data), "MaximumLength": len(data) + 2, "Buffer": buf}

    def _list_insert_tail(self, head: int, entry: int) -> None:
        """InsertTailList on guest LIST_ENTRYs."""
        blink = self.read_ptr(head + self.ptr)
        self.write_ptr(entry, head)
        self.write_ptr(entry + self.ptr, blink)
        self.write_ptr(blink, entry)
        self.write_ptr(head + self.ptr, entry)

    def _list_remove(self, entry: int) -> None:
        flink = self.read_ptr(entry)
        blink = self.read_ptr(entry + self.ptr)
        self.write_ptr(blink, flink)
        self.write_ptr(flink + self.ptr, blink)

    def emit(self, name: str, /, **data) -> None:
        t = self.machine.dispatcher.current
        self.machine.events.emit(ev.LOADER, name, self.proc.pid, t.tid if t else 0, **data)


def hash_unicode_string(name: str) -> int:
    """RtlHashUnicodeString(HASH_STRING_ALGORITHM_X65599, case-insensitive) — the BaseNameHashValue."""
    h = 0
    for ch in name.upper():
        h = (h * 65599 + ord(ch)) & 0xFFFFFFFF
    return h


def state_of(proc) -> LoaderState:
    return proc.subsystem["ldr"]


# ============================================================================ LdrInitializeThunk
def LdrInitializeThunk(machine, thread) -> None:
    proc = thread.process
    machine.events.emit(ev.STAGE, "LdrInitializeThunk", proc.pid, thread.tid, ntdll=f"0x{proc.ntdll_base:x}",
                        first_thread=thread.initial)
    # the thread's locale (TEB.CurrentLocale, the user default locale): a TEB the kernel made has 0 there, as a
    # suspended new thread shows on Windows (Wine's kernel32/tests/process.c)
    lcid = machine.nls.user.lcid
    TEB.write(proc.aspace, thread.teb, proc.arch, CurrentLocale=lcid)
    if getattr(thread, "teb64", 0):
        TEB.write(proc.aspace, thread.teb64, "x64", CurrentLocale=lcid)
    with machine.events.nested():
        if "ldr" not in proc.subsystem:
            try:
                LdrpInitializeProcess(machine, thread)
            except LoaderError as e:
                _startup_failure(machine, thread, e)
        else:
            LdrpInitializeThread(machine, thread)
    # NtContinue: resume the context the kernel prepared (RtlUserThreadStart(StartAddress, Parameter))
    proc.cpu.restore_context(thread.user_context)


def _startup_failure(machine, thread, e: LoaderError) -> None:
    proc = thread.process
    proc.startup_error = {"status": e.status, "status_name": status_name(e.status), "message": e.message,
                          "dll": e.dll, "symbol": e.symbol}
    machine.events.emit(ev.STAGE, "LdrpInitializationFailure", proc.pid, thread.tid, status=f"0x{e.status:08X}",
                        status_name=status_name(e.status), message=e.message)
    raise ProcessExit(e.status)


def LdrpInitializeProcess(machine, thread) -> None:
    proc = thread.process
    st = LoaderState(machine, proc)
    proc.subsystem["ldr"] = st
    arch = proc.arch
    aspace = proc.aspace
    # the process heap (RtlCreateHeap) and the PEB fields that describe it
    heap = st.heaps.create(flags=0x2)  # HEAP_GROWABLE
    st.heaps.process_heap = heap
    heaps_array = heap.alloc(16 * st.ptr, HEAP_ZERO_MEMORY)
    st.write_ptr(heaps_array, heap.handle)
    PEB.write(aspace, proc.peb, arch, ProcessHeap=heap.handle, ProcessHeaps=heaps_array, NumberOfHeaps=1)
    st.emit("RtlCreateHeap", heap=f"0x{heap.handle:x}", process_heap=True)
    from winhatch.ldr.params import move_parameters_to_heap
    move_parameters_to_heap(proc, heap)       # the process parameters and environment into the heap
    from winhatch.ldr import fls
    fls.thread_start(thread)                  # the first thread's FLS data block (ntdll's FLS context)
    # the loader lock (an RTL_CRITICAL_SECTION) and PEB_LDR_DATA with three empty lists
    lock = st.alloc(0x28 if arch == "x64" else 0x18)
    aspace.write(lock + st.ptr, (0xFFFFFFFF).to_bytes(4, "little"))  # LockCount = -1: free
    ldr = st.alloc(PEB_LDR_DATA.size(arch))
    st.ldr_data = ldr
    heads = {}
    for lst in ("InLoadOrderModuleList", "InMemoryOrderModuleList", "InInitializationOrderModuleList"):
        head = ldr + PEB_LDR_DATA.offset(arch, lst)
        heads[lst] = {"Flink": head, "Blink": head}
    PEB_LDR_DATA.write(aspace, ldr, arch, Length=PEB_LDR_DATA.size(arch), Initialized=1, **heads)
    st.hash_table = st.alloc(32 * 2 * st.ptr)
    for i in range(32):
        b = st.hash_table + i * 2 * st.ptr
        st.write_ptr(b, b)
        st.write_ptr(b + st.ptr, b)
    PEB.write(aspace, proc.peb, arch, Ldr=ldr, LoaderLock=lock)
    from winhatch.kernel.ps.peb import init_tls_bitmaps
    init_tls_bitmaps(proc)                    # PEB.TlsBitmap / TlsExpansionBitmap (slot 0 reserved)
    # RtlSetCurrentDirectory_U: the current directory's handle in the process parameters
    from winhatch.kernel.io.file_services import set_current_directory_handle
    set_current_directory_handle(machine, proc, proc.subsystem.get("cwd") or machine.default_cwd)
    st.emit("LdrpInitializeProcess", peb_ldr_data=f"0x{ldr:x}", loader_lock=f"0x{lock:x}")
    # API set schema from the PEB (what MmCreatePeb mapped)
    from winhatch.kernel.apiset.schema import ApiSetSchema
    api_map = PEB.read(aspace, proc.peb, arch, "ApiSetMap")["ApiSetMap"]
    size = int.from_bytes(aspace.read(api_map + 4, 4), "little")
    st.apiset = ApiSetSchema(aspace.read(api_map, size))
    # the exe and ntdll: already mapped by the kernel; exe first, ntdll second in load order
    exe_pe = proc.image_section.pe
    exe = _insert_module(st, proc.image_path.rsplit("\\", 1)[-1], proc.image_path, proc.image_base, exe_pe,
                         is_exe=True)
    nt_path = machine.system_dir(arch) + "\\ntdll.dll"
    nt_pe, _sec = machine.open_system_image(nt_path)
    ntdll = _insert_module(st, "ntdll.dll", nt_path, proc.ntdll_base, nt_pe)
    # ntdll is initialised by the kernel's mapping (no DllMain to call) and heads the initialisation order
    _mark_initialized(st, ntdll)
    # kernel32, which every Win32 process gets whatever its imports: LdrpInitializeProcess loads it itself
    # (and with it what it imports — KERNELBASE.dll) before the image's own imports, so Windows 10's load
    # order begins exe, ntdll.dll, KERNEL32.DLL, KERNELBASE.dll (BaseDllName as the files are named)
    k32, _fresh = LdrpLoadDll(st, "KERNEL32.DLL", None, static=True)
    _load_imports(st, k32, thread)
    # the image's import graph, then snap every module, then initialise
    _load_imports(st, exe, thread)
    for m in list(st.modules):
        LdrpSnapModule(st, m)
    LdrpInitializeTls(st, thread)
    st.emit("LdrpInitializeProcessDone", modules=len(st.modules))
    if PEB.read(aspace, proc.peb, arch, "BeingDebugged")["BeingDebugged"]:
        # LdrpDoDebuggerBreak: the initial breakpoint of a process started under a debugger, before the DLLs'
        # initialisation
        thread.__dict__["dbg_break_catch"] = machine.ntdll_export(proc, "LdrpDoDebuggerBreak") + 1
        try:
            machine.dispatcher.call_guest(thread, machine.ntdll_export(proc, "LdrpDoDebuggerBreak"), ())
        finally:
            thread.__dict__.pop("dbg_break_catch", None)
    # kernelbase and kernel32 first (their graph), then the image's: initialisation order ntdll.dll,
    # KERNELBASE.dll, KERNEL32.DLL, then the image's DLLs after the DLLs they import
    _run_initializers(st, thread, k32)
    _run_initializers(st, thread, exe)


def LdrDisableThreadCalloutsForDll(proc, base: int) -> int:
    """DisableThreadLibraryCalls: the module at `base` gets no DLL_THREAD_ATTACH/DETACH calls from now on
    (LDRP_DONT_CALL_FOR_THREADS in its LDR_DATA_TABLE_ENTRY.Flags, which is where the loader reads it, so a guest
    that sets the flag itself gets the same). A module with static TLS needs its thread calls for its TLS
    callbacks, and no module is at `base`: STATUS_DLL_NOT_FOUND (the documented failure)."""
    st = state_of(proc)
    m = next((x for x in st.modules if x.base == base), None)
    if m is None or m.tls_index >= 0:
        return STATUS_DLL_NOT_FOUND
    flags = LDR_DATA_TABLE_ENTRY.read(st.proc.aspace, m.entry, st.arch, "Flags")["Flags"]
    LDR_DATA_TABLE_ENTRY.write(st.proc.aspace, m.entry, st.arch, Flags=flags | LDRP_DONT_CALL_FOR_THREADS)
    st.emit("LdrDisableThreadCalloutsForDll", module=m.name)
    return 0


def _calls_for_threads(st, m) -> bool:
    flags = LDR_DATA_TABLE_ENTRY.read(st.proc.aspace, m.entry, st.arch, "Flags")["Flags"]
    return not flags & LDRP_DONT_CALL_FOR_THREADS


def LdrpInitializeThread(machine, thread) -> None:
    st = state_of(thread.process)
    LdrpAllocateTls(st, thread)
    for m in list(st.init_order):
        if m.is_exe or not m.initialized or not _calls_for_threads(st, m):
            continue
        _call_tls_callbacks(st, thread, m, DLL_THREAD_ATTACH)
        if _entry_point(st, m):
            LdrpCallInitRoutine(st, thread, m, DLL_THREAD_ATTACH, 0)
    exe = st.modules[0]
    _call_tls_callbacks(st, thread, exe, DLL_THREAD_ATTACH)


# ============================================================================ module records
def _insert_module(st: LoaderState, name: str, path: str, base: int, pe, *, is_exe=False) -> Module:
    if len(st.modules) >= MAX_MODULES:
        raise LoaderError(STATUS_DLL_NOT_FOUND, "too many modules")
    arch = st.arch
    aspace = st.proc.aspace
    entry = st.alloc(LDR_DATA_TABLE_ENTRY.size(arch))
    # base + RVA in the image's pointer width: an x86 RVA past 4 GiB wraps as ntdll's 32-bit arithmetic does
    ep = (base + pe.entry_point_rva) & st.ptr_mask if pe.entry_point_rva else 0
    flags = 0 if is_exe else LDRP_IMAGE_DLL
    h = hash_unicode_string(name)
    LDR_DATA_TABLE_ENTRY.write(aspace, entry, arch, DllBase=base, EntryPoint=ep, SizeOfImage=pe.size_of_image,
                               FullDllName=st.unicode_string(path), BaseDllName=st.unicode_string(name),
                               Flags=flags, ObsoleteLoadCount=0xFFFF if not is_exe else 0xFFFF,
                               TimeDateStamp=pe.timestamp, OriginalBase=pe.image_base, BaseNameHashValue=h,
                               TlsIndex=0)
    ldr = st.ldr_data
    st._list_insert_tail(ldr + PEB_LDR_DATA.offset(arch, "InLoadOrderModuleList"),
                         entry + LDR_DATA_TABLE_ENTRY.offset(arch, "InLoadOrderLinks"))
    st._list_insert_tail(ldr + PEB_LDR_DATA.offset(arch, "InMemoryOrderModuleList"),
                         entry + LDR_DATA_TABLE_ENTRY.offset(arch, "InMemoryOrderLinks"))
    st._list_insert_tail(st.hash_table + (h & 31) * 2 * st.ptr,
                         entry + LDR_DATA_TABLE_ENTRY.offset(arch, "HashLinks"))
    m = Module(name, path, base, pe.size_of_image, pe, entry, ep, is_exe=is_exe)
    _init_security_cookie(st, m)
    st.modules.append(m)
    st.by_name[name.lower()] = m
    st.emit("LdrpInsertDataTableEntry", module=name, base=f"0x{base:x}", size=f"0x{pe.size_of_image:x}",
            entry=f"0x{entry:x}")
    return m


# the /GS cookie's value as the linker leaves it (the CRT's DEFAULT_SECURITY_COOKIE)
DEFAULT_SECURITY_COOKIE = {"x86": 0xBB40E64E, "x64": 0x00002B992DDFA232}


def _init_security_cookie(st: LoaderState, m: Module) -> None:
    """LdrpInitSecurityCookie: an image whose load configuration names a /GS cookie that still holds the
    default value gets a per-process one, as Windows does at map time — on x64 with the high 16 bits zero
    (and never the default itself). A cookie that is not the default is left alone (the image set it); a
    load configuration too short to hold the field, or a cookie address outside the image, is ignored."""
    from winhatch.pe import PEFormatError
    try:
        lc = m.pe.load_config
    except PEFormatError:  # a malformed load configuration: no cookie to initialise
        return
    field_end = 0x60 if st.arch == "x64" else 0x40   # SecurityCookie's offset + its size
    if lc is None or lc.size < field_end or not lc.security_cookie:
        return
    va = (lc.security_cookie + m.base - m.pe.image_base) & st.ptr_mask
    if not (m.base <= va and va + st.ptr <= m.base + m.size):
        return
    aspace = st.proc.aspace
    try:
        current = int.from_bytes(aspace.read(va, st.ptr), "little")
    except NtStatusError:
        return
    default = DEFAULT_SECURITY_COOKIE[st.arch]
    if current != default:
        return
    import hashlib
    seed = f"{st.proc.pid}:{m.base:x}:{st.machine.clock.now()}:{m.name}".encode()
    cookie = int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "little")
    cookie &= 0x0000FFFFFFFFFFFF if st.arch == "x64" else 0xFFFFFFFF
    if cookie in (default, 0):
        cookie = default + 1
    aspace.write(va, cookie.to_bytes(st.ptr, "little"))
    st.emit("LdrpInitSecurityCookie", module=m.name, cookie_address=f"0x{va:x}")


# ============================================================================ finding and mapping DLLs
def _search_dirs(st: LoaderState, importer: Module | None) -> list[str]:
    m = st.machine
    proc = st.proc
    app_dir = proc.image_path.rsplit("\\", 1)[0]
    sysdir = m.system_dir(st.arch)
    cwd = proc.subsystem.get("cwd", m.default_cwd)
    path = ""
    for k, v in proc.subsystem.get("environment", {}).items():
        if k.upper() == "PATH":
            path = v
    dirs = [app_dir, *st.dll_directories, sysdir, m.system_root + "\\System", m.system_root]
    if st.dll_directory is None:      # SetDllDirectory removes the current directory from the order
        dirs.append(cwd)
    dirs += [d for d in path.split(";") if d]
    return dirs


def _known_dlls(st: LoaderState) -> set[str]:
    cache = st.machine.subsystem.get("known_dlls")
    if cache is None:
        cache = set()
        try:
            from winhatch.kernel.cm import decode
            key = st.machine.registry.open_key(r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\KnownDLLs")
            for n in key.value_names():
                t, d = key.query_value(n)
                v = decode(t, d)
                if isinstance(v, str) and v.lower().endswith(".dll"):
                    cache.add(v.lower())
        except NtStatusError:
            pass
        st.machine.subsystem["known_dlls"] = cache
    return cache


def resolve_dll_name(st: LoaderState, name: str, importer: Module | None) -> str:
    """API set names → their host DLL (through the PEB's schema); others unchanged (with .dll appended)."""
    n = name
    if "." not in n.rsplit("\\", 1)[-1]:
        n += ".dll"
    low = n.lower()
    if low.startswith(("api-", "ext-")) and st.apiset is not None:
        host = st.apiset.resolve(low, importer.name.lower() if importer else None)
        if host:
            st.emit("ApiSetResolve", name=n, host=host)
            return host
        if low.startswith("ext-"):
            raise LoaderError(STATUS_DLL_NOT_FOUND, f"{n}: the extension API set has no host", dll=n)
    return n


def find_dll(st: LoaderState, name: str, importer: Module | None, search_dirs: list[str] | None = None) -> str | None:
    """LdrpSearchPath: the Win32 path of the DLL file, or None."""
    vfs = st.machine.vfs
    if ("\\" in name or "/" in name) and search_dirs is not None and not _is_absolute(name):
        # a relative path under LOAD_LIBRARY_SEARCH_* flags: under each searched directory, not the current one
        for d in search_dirs:
            p = d.rstrip("\\") + "\\" + name.replace("/", "\\")
            try:
                if not vfs.stat(p).is_dir:
                    return p
            except NtStatusError:
                continue
        return None
    if "\\" in name or "/" in name:
        try:
            if not vfs.stat(name, st.proc.subsystem.get("cwd")).is_dir:
                return vfs.full_path(name, st.proc.subsystem.get("cwd", "C:\\"))
        except NtStatusError:
            return None
        return None
    if name.lower() in _known_dlls(st):
        p = st.machine.system_dir(st.arch) + "\\" + name
        try:
            vfs.stat(p)
            return p
        except NtStatusError:
            pass
    wrong_machine = None
    for d in (search_dirs if search_dirs is not None else _search_dirs(st, importer)):
        p = d.rstrip("\\") + "\\" + name
        try:
            if vfs.stat(p).is_dir:
                continue
        except NtStatusError:
            continue
        if _other_machine(st, p):
            # a DLL of the other bitness is passed over and the search goes on (a 32-bit and a 64-bit copy on
            # the path: each process finds its own, as on Windows); when nothing else is found, the load fails
            # on the first one (STATUS_INVALID_IMAGE_FORMAT)
            wrong_machine = wrong_machine or p
            continue
        return p
    return wrong_machine


def _other_machine(st: LoaderState, path: str) -> bool:
    """The file at `path` is a valid image for the other architecture than the process's."""
    try:
        pe, _section = st.machine.open_system_image(path)
    except (NtStatusError, OSError, ValueError):
        return False          # not an image at all: the load fails on it
    return pe.arch in ("x86", "x64") and pe.arch != st.arch


def LdrpLoadDll(st: LoaderState, name: str, importer: Module | None, *, static: bool,
                search_dirs: list[str] | None = None) -> tuple[Module, bool]:
    """Find or map one DLL; returns (module, newly_loaded)."""
    host = resolve_dll_name(st, name, importer)
    base_name = host.replace("/", "\\").rsplit("\\", 1)[-1]
    existing = st.by_name.get(base_name.lower())
    if existing is not None:
        return existing, False
    path = find_dll(st, host, importer, search_dirs)
    if path is None:
        raise LoaderError(STATUS_DLL_NOT_FOUND, f"the code execution cannot proceed because {base_name} was not "
                          f"found" + (f" (imported by {importer.name})" if importer else ""), dll=base_name)
    try:
        pe, section = st.machine.open_system_image(path)
    except NtStatusError as e:
        raise LoaderError(e.status if e.status else STATUS_INVALID_IMAGE_FORMAT,
                          f"{base_name} is not a valid image: {e.message}", dll=base_name)
    if pe.arch != st.arch or (not pe.is_dll and static):
        raise LoaderError(STATUS_INVALID_IMAGE_FORMAT, f"{base_name} is not a valid {st.arch} DLL", dll=base_name)
    # LoadLibrary of an executable image (no IMAGE_FILE_DLL) maps it as a module whose entry point the loader
    # never calls and which stays where it could be mapped (Wine's kernel32/tests/loader.c test_image_mapping,
    # on Windows)
    # the same file under another name (its short 8.3 name, another spelling of the path): the module already
    # mapped from it (LdrpFindLoadedDllByMapping: the image section is the file's one section)
    same = next((m for m in st.modules if m.pe is pe and not m.datafile and not m.is_exe), None)
    if same is not None:
        return same, False
    base = mapping.map_image(st.proc, section, path)
    if base != pe.image_base and pe.is_dll and not _has_relocations(pe):
        # a DLL that cannot sit at its preferred base and carries no base relocations cannot be moved: the
        # loader gives up with STATUS_CONFLICTING_ADDRESSES (ERROR_INVALID_ADDRESS), as Windows does (Wine's
        # kernel32/tests/loader.c test_image_mapping: LoadLibrary of a relocation-less DLL mapped elsewhere)
        mapping.unmap_image(st.proc, base)
        raise LoaderError(STATUS_CONFLICTING_ADDRESSES, f"{base_name} has no relocations and its preferred base "
                          f"0x{pe.image_base:x} is taken", dll=base_name)
    st.emit("LdrpMapDll", module=base_name, path=path, base=f"0x{base:x}", preferred=f"0x{pe.image_base:x}",
            relocated=base != pe.image_base, importer=importer.name if importer else None)
    m = _insert_module(st, base_name, path, base, pe)
    m.static = static
    if not pe.is_dll:
        m.entry_point = 0          # an executable image loaded as a module: no DllMain to call
        flags = LDR_DATA_TABLE_ENTRY.read(st.proc.aspace, m.entry, st.arch, "Flags")["Flags"]
        LDR_DATA_TABLE_ENTRY.write(st.proc.aspace, m.entry, st.arch, Flags=flags & ~LDRP_IMAGE_DLL)
    st.machine.notify_image_load(st.proc, path, base)
    return m, True


IMAGE_DIRECTORY_ENTRY_BASERELOC = 5


def _has_relocations(pe) -> bool:
    """The image has a base relocation directory (RVA and size both set)."""
    if pe.number_of_rva_and_sizes <= IMAGE_DIRECTORY_ENTRY_BASERELOC:
        return False
    try:
        d = pe.directory(IMAGE_DIRECTORY_ENTRY_BASERELOC)
    except IndexError:
        return False
    return bool(d.rva and d.size)


def _load_imports(st: LoaderState, root: Module, thread) -> list[Module]:
    """Map the import graph of `root` breadth-first (iteratively: bounded, cycle-safe)."""
    new: list[Module] = []
    queue = [root]
    seen = {id(root)}
    while queue:
        m = queue.pop(0)
        for desc in m.pe.imports:
            dep, fresh = LdrpLoadDll(st, desc.dll, m, static=m.static)
            if dep not in m.deps:
                m.deps.append(dep)
            if fresh:
                new.append(dep)
            if id(dep) not in seen:
                seen.add(id(dep))
                queue.append(dep)
    return new


# ============================================================================ snapping
def _parse_forwarder(forwarder: str) -> tuple[str, str | None, int | None] | None:
    """``"DLL.Name"`` → (dll, name, None); ``"DLL.#123"`` → (dll, None, 123); None when malformed (no dot,
    an empty DLL or symbol, ``#`` without a decimal ordinal in 1..65535)."""
    dll, dot, target = forwarder.rpartition(".")
    if not dot or not dll or not target:
        return None
    if target.startswith("#"):
        digits = target[1:]
        if not digits.isdigit() or not digits.isascii() or not 0 < int(digits) <= 0xFFFF:
            return None
        return dll, None, int(digits)
    return dll, target, None


def _export_address(st: LoaderState, mod: Module, *, name: str | None = None, ordinal: int | None = None,
                    hint: int | None = None, importer: Module | None = None) -> int:
    """The address of an export, following forwarders through other modules (loading them).  Windows
    follows a forwarder chain of any length; the only bound here is against cycles (a symbol seen twice),
    which fail as a missing entry point, as does a malformed forwarder string."""
    seen: set[tuple[int, str | None, int | None]] = set()
    while True:
        exports = mod.pe.exports
        what = name if name is not None else f"#{ordinal}"
        if exports is None:
            raise LoaderError(STATUS_ENTRYPOINT_NOT_FOUND if name else STATUS_ORDINAL_NOT_FOUND,
                              f"{mod.name} exports nothing; {what} not found", dll=mod.name, symbol=what)
        if name is not None:
            r = exports.lookup(name, hint)
            if r.hint_hit:
                mod.hint_hits += 1
            else:
                mod.hint_misses += 1
            entry = r.entry
            if st.machine.events.wants(ev.LOADER):
                st.emit("LdrpSnapThunk", module=mod.name, symbol=name, hint=hint, hint_hit=r.hint_hit,
                        steps=len(r.steps), step_list=list(r.steps), importer=importer.name if importer else None)
        else:
            entry = exports.by_ordinal(ordinal)
        if entry is None or (entry.rva is None and entry.forwarder is None):
            status = STATUS_ENTRYPOINT_NOT_FOUND if name is not None else STATUS_ORDINAL_NOT_FOUND
            raise LoaderError(status, f"the procedure entry point {what} could not be located in {mod.name}"
                              + (f" (imported by {importer.name})" if importer else ""), dll=mod.name, symbol=what)
        if entry.forwarder is None:
            return (mod.base + entry.rva) & st.ptr_mask
        key = (mod.base, name, ordinal)
        if key in seen:
            raise LoaderError(STATUS_ENTRYPOINT_NOT_FOUND, f"forwarder cycle at {mod.name}!{what}",
                              dll=mod.name, symbol=what)
        seen.add(key)
        parsed = _parse_forwarder(entry.forwarder)
        if parsed is None:
            raise LoaderError(STATUS_ENTRYPOINT_NOT_FOUND,
                              f"the procedure entry point {what} in {mod.name} is a malformed forwarder "
                              f"{entry.forwarder!r}", dll=mod.name, symbol=what)
        target_dll, target_name, target_ordinal = parsed
        fwd_mod, fresh = LdrpLoadDll(st, target_dll, mod, static=mod.static)
        if fresh:
            _load_imports(st, fwd_mod, None)
            for m in list(st.modules):
                if not m.snapped:
                    LdrpSnapModule(st, m)
        if fwd_mod not in mod.deps:
            mod.deps.append(fwd_mod)
        st.emit("LdrpForwarder", frm=f"{mod.name}!{what}", to=entry.forwarder)
        importer, mod, name, ordinal, hint = mod, fwd_mod, target_name, target_ordinal, None


def _binding_valid(m: Module, desc, dep: Module, bound: dict[str, int]) -> bool:
    """A bound import descriptor (TimeDateStamp != 0) is used as is when the bound import directory names the
    DLL with the timestamp the loaded DLL really has and the DLL sits at its preferred base, so the addresses
    the binder wrote are still right; otherwise the descriptor is re-snapped."""
    if not desc.timestamp or not bound:
        return False
    ts = bound.get(dep.name.lower(), bound.get(desc.dll.lower()))
    return ts is not None and ts == dep.pe.timestamp and dep.base == dep.pe.image_base


def LdrpSnapModule(st: LoaderState, m: Module) -> None:
    """Write the IAT of module m (all its import descriptors), then restore the IAT pages' protection."""
    if m.snapped:
        return
    m.snapped = True
    if m.datafile:
        return
    aspace = st.proc.aspace
    size = st.ptr
    writes: list[tuple[int, int]] = []
    bound = {b.name.lower(): b.timestamp for b in m.pe.bound_imports}
    for desc in m.pe.imports:
        dep = st.by_name.get(resolve_dll_name(st, desc.dll, m).replace("/", "\\").rsplit("\\", 1)[-1].lower())
        if dep is None:
            dep, _ = LdrpLoadDll(st, desc.dll, m, static=m.static)
        if _binding_valid(m, desc, dep, bound):
            # bound at link/bind time against this very DLL at its preferred base: the IAT in the image
            # already holds the addresses, as Windows trusts them
            st.emit("LdrpSnapModule", module=m.name, dll=dep.name, imports=len(desc.functions), bound=True)
            continue
        for fn in desc.functions:
            addr = _export_address(st, dep, name=fn.name, ordinal=fn.ordinal if fn.name is None else None,
                                   hint=fn.hint, importer=m)
            writes.append((m.base + fn.iat_rva, addr))
        st.emit("LdrpSnapModule", module=m.name, dll=dep.name, imports=len(desc.functions))
    if not writes:
        return
    # the IAT's pages only (an image may have more than one IAT): each run of contiguous pages with one
    # protection is made writable for the writes and then given back that protection, as LdrpSnapModule
    # does through NtProtectVirtualMemory
    from winhatch.kernel.mm import PAGE_READWRITE
    pages = sorted({p for a, _ in writes for p in (a & ~0xFFF, (a + size - 1) & ~0xFFF)})
    runs: list[list[int]] = []  # [start, end, protection]
    for page in pages:
        prot = aspace.query(page).Protect
        if runs and runs[-1][1] == page and runs[-1][2] == prot:
            runs[-1][1] = page + 0x1000
        else:
            runs.append([page, page + 0x1000, prot])
    for run in runs:
        if run[2] != PAGE_READWRITE:
            try:
                aspace.protect(run[0], run[1] - run[0], PAGE_READWRITE)
            except NtStatusError:  # e.g. an IAT outside the image's committed pages: written all the same
                run[2] = PAGE_READWRITE
    for a, v in writes:
        aspace.write(a, v.to_bytes(size, "little"))
    for start, end, prot in runs:
        if prot != PAGE_READWRITE:
            aspace.protect(start, end - start, prot)
    st.emit("LdrpProtectIat", module=m.name, pages=[f"0x{a:x}-0x{b:x}" for a, b, _ in runs],
            protect=[f"0x{p:x}" for _, _, p in runs])


# ============================================================================ TLS
def _tls_directory(st: LoaderState, m: Module) -> dict | None:
    tls = m.pe.tls
    if tls is None:
        return None
    delta = m.base - m.pe.image_base
    mask = st.ptr_mask
    return {"start": (tls.start_address_of_raw_data + delta) & mask if tls.start_address_of_raw_data else 0,
            "end": (tls.end_address_of_raw_data + delta) & mask if tls.end_address_of_raw_data else 0,
            "index": (tls.address_of_index + delta) & mask if tls.address_of_index else 0,
            "callbacks": (tls.address_of_callbacks + delta) & mask if tls.address_of_callbacks else 0,
            "zero_fill": tls.size_of_zero_fill}


def _check_tls_template(m: Module, d: dict) -> None:
    """The template range StartAddressOfRawData..EndAddressOfRawData must lie inside the module's image
    (what the loader copies for every thread is the image's own bytes); otherwise the image does not
    load.  That also bounds the per-thread copy by the image, never by a pointer the file makes up."""
    start, end = d["start"], d["end"]
    if not start and not end:
        return
    lo, hi = m.base, m.base + m.pe.size_of_image
    if not (lo <= start <= end <= hi):
        raise LoaderError(STATUS_INVALID_IMAGE_FORMAT,
                          f"{m.name}: TLS template 0x{start:x}-0x{end:x} is not inside the image "
                          f"(0x{lo:x}-0x{hi:x})", dll=m.name)


#: the TLS template is copied to a new thread's block this many bytes at a time (all-zero parts skipped:
#: the block is fresh zero memory), so host memory stays bounded whatever the template's size
TLS_COPY_CHUNK = 1 << 20
#: template bytes beyond what the image file backs are read only up to this much: past it they are taken as
#: the zeros they were mapped as (reading demand-zero pages would make the host back every one of them)
TLS_UNBACKED_READ_LIMIT = 1 << 20


def _tls_template_parts(st: LoaderState, m: Module, start: int, size: int) -> list[tuple[int, int]]:
    """The ``(offset, length)`` parts of the template to copy: all of it when its pages that the file does
    not back total at most TLS_UNBACKED_READ_LIMIT, else only the parts the image file backs (plus what
    the kernel wrote there).  The limit is a host-memory bound: a guest that wrote into a huge
    uninitialised template range before starting a thread would see zeros there in the new thread."""
    a = st.proc.aspace.allocation_at(start)
    sec = getattr(a, "section", None)
    if sec is None or sec.content is None:
        return [(0, size)]
    off0 = a.offset + (start - a.base)
    parts = [(o - off0, n) for o, n in sec.content_ranges(off0, size)]
    if size - sum(n for _, n in parts) <= TLS_UNBACKED_READ_LIMIT:
        return [(0, size)]
    return parts


def LdrpInitializeTls(st: LoaderState, thread) -> None:
    """Give each newly mapped module with a TLS directory its index. The first time (process start-up) the
    thread gets its TLS array and blocks; later (a DLL with TLS loaded by LoadLibrary) every thread's array
    grows by the new modules' blocks, keeping the blocks it has: the values the threads stored stay where
    the code put them (a TLS block is never replaced while its thread lives)."""
    new = []
    for m in st.modules:
        if m.datafile or not (m.is_exe or m.pe.is_dll):
            continue          # a data file or an executable LoadLibrary mapped: no TLS
        d = _tls_directory(st, m)
        if d is None or m.tls_index >= 0:
            continue
        _check_tls_template(m, d)
        m.tls_index = len(st.tls_modules)
        st.tls_modules.append(m)
        new.append(m)
        if d["index"]:
            st.proc.aspace.write(d["index"], m.tls_index.to_bytes(4, "little"))
        LDR_DATA_TABLE_ENTRY.write(st.proc.aspace, m.entry, st.arch, TlsIndex=0xFFFF)
        st.emit("LdrpInitializeTls", module=m.name, tls_index=m.tls_index,
                template=d["end"] - d["start"], zero_fill=d["zero_fill"])
    if not _tls_array(st, thread):
        LdrpAllocateTls(st, thread)
        return
    if new:
        for t in st.proc.threads:
            if not t.terminated and t.teb and _tls_array(st, t):
                _grow_tls(st, t, new)


def _tls_array(st: LoaderState, thread) -> int:
    return TEB.read(st.proc.aspace, thread.teb, st.arch, "ThreadLocalStoragePointer")["ThreadLocalStoragePointer"]


def _tls_block(st: LoaderState, m: Module) -> int:
    """A fresh copy of `m`'s TLS template followed by its zero fill (copied in bounded chunks, all-zero parts
    skipped: the block is fresh zero memory)."""
    aspace = st.proc.aspace
    d = _tls_directory(st, m)
    tsize = max(0, d["end"] - d["start"])
    block = st.alloc(tsize + d["zero_fill"] + 1)
    if not block:
        raise NtStatusError(STATUS_NO_MEMORY, f"no memory for {m.name}'s TLS block "
                                              f"(0x{tsize + d['zero_fill']:x} bytes)")
    for poff, plen in (_tls_template_parts(st, m, d["start"], tsize) if tsize else ()):
        for off in range(poff, poff + plen, TLS_COPY_CHUNK):
            chunk = aspace.read(d["start"] + off, min(TLS_COPY_CHUNK, poff + plen - off))
            if chunk.count(0) != len(chunk):
                aspace.write(block + off, chunk)
    return block


def _grow_tls(st: LoaderState, thread, new: list[Module]) -> None:
    """A larger TLS array for `thread`: its existing block pointers, then blocks for the `new` modules."""
    old = _tls_array(st, thread)
    count = len(st.tls_modules)
    array = st.alloc(count * st.ptr)
    for i in range(count - len(new)):
        st.write_ptr(array + i * st.ptr, st.read_ptr(old + i * st.ptr))
    for m in new:
        st.write_ptr(array + m.tls_index * st.ptr, _tls_block(st, m))
    TEB.write(st.proc.aspace, thread.teb, st.arch, ThreadLocalStoragePointer=array)
    st.heaps.process_heap.free_block(old)


def LdrpAllocateTls(st: LoaderState, thread) -> None:
    """Per-thread copies of every module's TLS template; TEB.ThreadLocalStoragePointer points at the array."""
    if not st.tls_modules:
        return
    array = st.alloc(len(st.tls_modules) * st.ptr)
    for m in st.tls_modules:
        st.write_ptr(array + m.tls_index * st.ptr, _tls_block(st, m))
    TEB.write(st.proc.aspace, thread.teb, st.arch, ThreadLocalStoragePointer=array)


def _tls_callbacks(st: LoaderState, m: Module) -> list[int]:
    d = _tls_directory(st, m)
    if d is None or not d["callbacks"]:
        return []
    out = []
    addr = d["callbacks"]
    for _ in range(256):  # bounded: a callback array is NULL-terminated
        cb = st.read_ptr(addr)
        if not cb:
            break
        out.append(cb)
        addr += st.ptr
    return out


def _call_tls_callbacks(st: LoaderState, thread, m: Module, reason: int) -> None:
    for cb in _tls_callbacks(st, m):
        st.emit("LdrpCallTlsInitializers", module=m.name, callback=f"0x{cb:x}", reason=reason)
        st.machine.dispatcher.call_guest(thread, cb, [m.base, reason, 0])


# ============================================================================ DLL notifications
#: LdrRegisterDllNotification's NotificationReason values
LDR_DLL_NOTIFICATION_REASON_LOADED, LDR_DLL_NOTIFICATION_REASON_UNLOADED = 1, 2
MAX_DLL_NOTIFICATIONS = 4096


def _notification_block(st: LoaderState) -> tuple[int, int]:
    """(size, offset of NotificationFunction) of a registration block: LIST_ENTRY Links;
    PLDR_DLL_NOTIFICATION_FUNCTION NotificationFunction; PVOID Context."""
    return 4 * st.ptr, 2 * st.ptr


def register_dll_notification(st: LoaderState, function: int, context: int) -> int:
    """LdrRegisterDllNotification's work: a registration block from the process heap linked at the tail of the
    loader's notification list (its head made on first use); the block's address is the cookie."""
    if len(st.dll_notifications) >= MAX_DLL_NOTIFICATIONS:
        raise NtStatusError(STATUS_NO_MEMORY, "too many DLL notification registrations")
    if not st.dll_notification_head:
        head = st.alloc(2 * st.ptr)
        if not head:
            raise NtStatusError(STATUS_NO_MEMORY, "no memory for the DLL notification list")
        st.write_ptr(head, head)
        st.write_ptr(head + st.ptr, head)
        st.dll_notification_head = head
    size, fn_off = _notification_block(st)
    block = st.alloc(size)
    if not block:
        raise NtStatusError(STATUS_NO_MEMORY, "no memory for a DLL notification registration")
    st.write_ptr(block + fn_off, function)
    st.write_ptr(block + fn_off + st.ptr, context)
    st._list_insert_tail(st.dll_notification_head, block)
    st.dll_notifications.append(block)
    st.emit("LdrRegisterDllNotification", callback=f"0x{function:x}", cookie=f"0x{block:x}")
    return block


def unregister_dll_notification(st: LoaderState, cookie: int) -> bool:
    """LdrUnregisterDllNotification's work: False when `cookie` is no registration of this process."""
    if cookie not in st.dll_notifications:
        return False
    st.dll_notifications.remove(cookie)
    st._list_remove(cookie)
    st.heaps.process_heap.free_block(cookie)
    st.emit("LdrUnregisterDllNotification", cookie=f"0x{cookie:x}")
    return True


def _send_dll_notifications(st: LoaderState, thread, reason: int, mods: list[Module]) -> None:
    """LdrpSendDllNotifications: each registered callback, in registration order, called as guest code
    (VOID CALLBACK f(ULONG NotificationReason, PCLDR_DLL_NOTIFICATION_DATA NotificationData, PVOID Context))
    for each module, under the loader lock the caller holds. The notification data is a real
    LDR_DLL_NOTIFICATION_DATA in the process heap — { ULONG Flags (0); PCUNICODE_STRING FullDllName,
    BaseDllName (the module's own LDR_DATA_TABLE_ENTRY strings); PVOID DllBase; ULONG SizeOfImage } — freed after
    the calls. A callback that unregisters itself (or another) during the walk is not called afterwards."""
    if not st.dll_notifications:
        return
    ps, arch = st.ptr, st.arch
    _size, fn_off = _notification_block(st)
    for m in mods:
        if m.datafile or m.is_exe:
            continue
        data = st.alloc(5 * ps)
        if not data:
            raise LoaderError(STATUS_NO_MEMORY, f"no memory for the DLL notification of {m.name}", dll=m.name)
        blob = (bytes(ps)
                + (m.entry + LDR_DATA_TABLE_ENTRY.offset(arch, "FullDllName")).to_bytes(ps, "little")
                + (m.entry + LDR_DATA_TABLE_ENTRY.offset(arch, "BaseDllName")).to_bytes(ps, "little")
                + m.base.to_bytes(ps, "little") + (m.size & 0xFFFFFFFF).to_bytes(4, "little"))
        st.proc.aspace.write(data, blob)
        try:
            for cookie in list(st.dll_notifications):
                if cookie not in st.dll_notifications:
                    continue
                fn, ctx = st.read_ptr(cookie + fn_off), st.read_ptr(cookie + fn_off + ps)
                st.emit("LdrpSendDllNotifications", module=m.name, reason=reason, callback=f"0x{fn:x}")
                st.machine.dispatcher.call_guest(thread, fn, [reason, data, ctx])
        finally:
            st.heaps.process_heap.free_block(data)


def _entry_point(st: LoaderState, m: Module) -> int:
    """The init routine the loader calls: the EntryPoint of the module's LDR_DATA_TABLE_ENTRY as the guest
    leaves it (a DLL notification callback or a hooking tool may replace it before DllMain runs); 0 for a
    module without one (an executable image mapped as a module)."""
    if not m.entry_point:
        return 0
    return LDR_DATA_TABLE_ENTRY.read(st.proc.aspace, m.entry, st.arch, "EntryPoint")["EntryPoint"]


# ============================================================================ initialisation
def _dependency_order(root: Module) -> list[Module]:
    """Post-order over the import graph: a DLL after the DLLs it imports (iterative, cycle-safe)."""
    order: list[Module] = []
    done: set[int] = set()
    stack: list[tuple[Module, int]] = [(root, 0)]
    onstack = {id(root)}
    while stack:
        m, i = stack.pop()
        if i < len(m.deps):
            stack.append((m, i + 1))
            d = m.deps[i]
            if id(d) not in done and id(d) not in onstack:
                onstack.add(id(d))
                stack.append((d, 0))
        else:
            onstack.discard(id(m))
            if id(m) not in done:
                done.add(id(m))
                order.append(m)
    return order


def LdrpCallInitRoutine(st: LoaderState, thread, m: Module, reason: int, reserved: int) -> int | None:
    """A DLL's entry point for a notification other than its process attach (thread attach and detach, process
    detach): called inside the loader's __try/__except, whose handler takes an exception the DLL leaves unhandled
    and goes on with the next DLL (the process or the thread is not ended by it). The BOOL returned, or None
    after such an exception."""
    try:
        return st.machine.dispatcher.call_guest(thread, _entry_point(st, m) or m.entry_point,
                                              [m.base, reason, reserved], guard=True)
    except GuestCallFaulted as e:
        st.emit("LdrpCallInitRoutineException", module=m.name, reason=reason, code=f"0x{e.code:08X}")
        return None


def _mark_initialized(st: LoaderState, m: Module) -> None:
    """The module joins the initialisation order (st.init_order and the guest's InInitializationOrderModuleList)."""
    m.initialized = True
    st.init_order.append(m)
    st._list_insert_tail(st.ldr_data + PEB_LDR_DATA.offset(st.arch, "InInitializationOrderModuleList"),
                         m.entry + LDR_DATA_TABLE_ENTRY.offset(st.arch, "InInitializationOrderLinks"))


def _run_initializers(st: LoaderState, thread, root: Module, *, reserved: int = 1) -> None:
    aspace = st.proc.aspace
    for m in _dependency_order(root):
        if m.initialized or m.datafile:
            continue
        _mark_initialized(st, m)
        if m.is_exe:
            _call_tls_callbacks(st, thread, m, DLL_PROCESS_ATTACH)
            continue
        _call_tls_callbacks(st, thread, m, DLL_PROCESS_ATTACH)
        ep = _entry_point(st, m)
        if ep:
            st.emit("LdrpCallInitRoutine", module=m.name, entry=f"0x{ep:x}", reason="DLL_PROCESS_ATTACH")
            try:
                # LdrpCallInitRoutine calls the entry point inside __try/__except: an exception the DLL's own
                # handlers leave unhandled ends the call there and the DLL's initialisation fails
                ok = st.machine.dispatcher.call_guest(thread, ep, [m.base, DLL_PROCESS_ATTACH, reserved], guard=True)
            except GuestCallFaulted as e:
                err = LoaderError(STATUS_DLL_INIT_FAILED, f"initialization of {m.name} failed (exception "
                                  f"0x{e.code:08X} in its entry point)", dll=m.name)
                err.init_failed = m
                raise err from None
            if not ok & 0xFFFFFFFF:  # BOOL
                err = LoaderError(STATUS_DLL_INIT_FAILED, f"initialization of {m.name} failed (DllMain returned "
                                  f"FALSE)", dll=m.name)
                err.init_failed = m
                raise err
        flags = LDR_DATA_TABLE_ENTRY.read(aspace, m.entry, st.arch, "Flags")["Flags"]
        LDR_DATA_TABLE_ENTRY.write(aspace, m.entry, st.arch,
                                   Flags=flags | LDRP_ENTRY_PROCESSED | LDRP_PROCESS_ATTACH_CALLED)


def LdrShutdownProcess(machine, thread) -> None:
    """DLL_PROCESS_DETACH in reverse initialisation order (TLS callbacks too); lpReserved non-NULL."""
    proc = thread.process
    st = proc.subsystem.get("ldr")
    if st is None or proc.subsystem.get("shutdown"):
        return
    proc.subsystem["shutdown"] = True
    if st.ldr_data:   # PEB->Ldr: what RtlDllShutdownInProgress and a DllMain inspecting the loader see
        PEB_LDR_DATA.write(proc.aspace, st.ldr_data, st.arch, ShutdownInProgress=1, ShutdownThreadId=thread.tid)
    for m in reversed(st.init_order):
        if m.is_exe:
            _call_tls_callbacks(st, thread, m, DLL_PROCESS_DETACH)
            continue
        if m.base in st.unloading:
            continue          # FreeLibrary is running its DLL_PROCESS_DETACH already
        _call_tls_callbacks(st, thread, m, DLL_PROCESS_DETACH)
        ep = _entry_point(st, m)
        if ep:
            st.emit("LdrpCallInitRoutine", module=m.name, entry=f"0x{ep:x}", reason="DLL_PROCESS_DETACH")
            LdrpCallInitRoutine(st, thread, m, DLL_PROCESS_DETACH, 1)


def LdrpCallThreadDetachRoutines(machine, thread) -> None:
    """DLL_THREAD_DETACH (for ntdll's LdrShutdownThread): the DLLs in reverse initialisation order (TLS callbacks, then DllMain), then the
    program's own TLS callbacks, as Windows orders them. The caller holds the loader lock."""
    st = thread.process.subsystem.get("ldr")
    if st is None:
        return
    exe = None
    for m in reversed(st.init_order):
        if m.is_exe:
            exe = m
            continue
        if not _calls_for_threads(st, m):
            continue
        _call_tls_callbacks(st, thread, m, DLL_THREAD_DETACH)
        if _entry_point(st, m):
            LdrpCallInitRoutine(st, thread, m, DLL_THREAD_DETACH, 0)
    if exe is not None:
        _call_tls_callbacks(st, thread, exe, DLL_THREAD_DETACH)


# ============================================================================ run time
LOAD_LIBRARY_AS_DATAFILE = 0x2
DONT_RESOLVE_DLL_REFERENCES = 0x1
LOAD_LIBRARY_AS_IMAGE_RESOURCE = 0x20
LOAD_LIBRARY_AS_DATAFILE_EXCLUSIVE = 0x40
LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR = 0x100
LOAD_WITH_ALTERED_SEARCH_PATH = 0x8
LOAD_LIBRARY_SEARCH_APPLICATION_DIR = 0x200
LOAD_LIBRARY_SEARCH_USER_DIRS = 0x400
LOAD_LIBRARY_SEARCH_SYSTEM32 = 0x800
LOAD_LIBRARY_SEARCH_DEFAULT_DIRS = 0x1000
LOAD_LIBRARY_SEARCH_MASK = 0x1F00


def _is_absolute(name: str) -> bool:
    """A path LoadLibraryEx takes as it is: drive-qualified (C:\\x, C:x), UNC (\\\\server) or rooted (\\x)."""
    n = name.replace("/", "\\")
    return len(n) >= 2 and n[1] == ":" or n.startswith("\\")


def LdrLoadDll(machine, thread, name: str, flags: int = 0, search_path: list[str] | None = None) -> int:
    """LoadLibraryEx's core: returns the module base; raises LoaderError (STATUS_DLL_NOT_FOUND, …).

    The LOAD_LIBRARY_SEARCH_* flags replace the standard search order: the application's directory, the user
    directories (AddDllDirectory, the most recently added first, then SetDllDirectory's), System32, and with
    LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR the directory of the DLL itself, which must then be named by an absolute
    path (STATUS_INVALID_PARAMETER otherwise, as for LOAD_WITH_ALTERED_SEARCH_PATH combined with any of them).
    A relative path with a directory part is looked up under each of those directories. `search_path`
    (ntdll's LdrLoadDll with a DllPath): those directories instead of any search order."""
    st = state_of(thread.process)
    search = list(search_path) if search_path is not None else None
    if flags & LOAD_LIBRARY_SEARCH_MASK and flags & LOAD_WITH_ALTERED_SEARCH_PATH:
        raise LoaderError(STATUS_INVALID_PARAMETER, "LOAD_WITH_ALTERED_SEARCH_PATH with LOAD_LIBRARY_SEARCH_* flags")
    if flags & LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR and not _is_absolute(name):
        raise LoaderError(STATUS_INVALID_PARAMETER, "LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR needs an absolute path")
    if not flags & LOAD_LIBRARY_SEARCH_MASK and "\\" not in name and "/" not in name:
        flags |= st.default_search_flags       # SetDefaultDllDirectories: for calls without search flags
    if search is None and flags & (LOAD_LIBRARY_SEARCH_SYSTEM32 | LOAD_LIBRARY_SEARCH_APPLICATION_DIR
                                   | LOAD_LIBRARY_SEARCH_USER_DIRS | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS
                                   | LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR):
        search = []
        if flags & LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR:
            search.append(name.replace("/", "\\").rsplit("\\", 1)[0])
        if flags & (LOAD_LIBRARY_SEARCH_APPLICATION_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS):
            search.append(thread.process.image_path.rsplit("\\", 1)[0])
        if flags & (LOAD_LIBRARY_SEARCH_USER_DIRS | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS):
            search += list(reversed(st.user_dll_dirs.values())) + st.dll_directories
        if flags & (LOAD_LIBRARY_SEARCH_SYSTEM32 | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS):
            search.append(machine.system_dir(st.arch))
    before = {id(x) for x in st.modules}
    m, fresh = LdrpLoadDll(st, name, None, static=False, search_dirs=search)
    if not fresh:
        m.load_count += 1
        _write_load_count(st, m)
        st.emit("LdrLoadDll", module=m.name, load_count=m.load_count, already_loaded=True)
        return m.base
    st.emit("LdrLoadDll", module=m.name, load_count=1, already_loaded=False, flags=f"0x{flags:x}")
    if flags & (LOAD_LIBRARY_AS_DATAFILE | LOAD_LIBRARY_AS_DATAFILE_EXCLUSIVE | LOAD_LIBRARY_AS_IMAGE_RESOURCE):
        m.datafile = True
        m.initialized = True
        return m.base
    if flags & DONT_RESOLVE_DLL_REFERENCES or not m.pe.is_dll:
        # an executable image (no IMAGE_FILE_DLL) is mapped as DONT_RESOLVE_DLL_REFERENCES maps a DLL: its
        # imports stay unresolved, it gets no TLS index and its entry point is never called (Wine's
        # kernel32/tests/loader.c test_import_resolution, on Windows)
        m.snapped = True
        m.initialized = True
        return m.base
    notified: list[Module] = []
    try:
        fresh_mods = [m] + _load_imports(st, m, thread)
        for mod in list(st.modules):
            LdrpSnapModule(st, mod)
        LdrpInitializeTls(st, thread)
        # the DLL notifications (LdrRegisterDllNotification): each new module, mapped and snapped, before any
        # DllMain runs, in load order
        notified = fresh_mods
        _send_dll_notifications(st, thread, LDR_DLL_NOTIFICATION_REASON_LOADED, fresh_mods)
        _run_initializers(st, thread, m, reserved=0)
    except LoaderError as e:
        if getattr(e, "init_failed", None) is not None:
            _unload_failed_init(st, thread, before, e, notified)     # removes every module of this load
        else:
            _unload_new(st, thread, notified)
        raise
    return m.base


def _unload_new(st: LoaderState, thread, notified: list[Module]) -> None:
    """A LoadLibrary that failed: the modules it mapped that were not initialised leave again (those the DLL
    notifications announced are announced as unloaded first)."""
    gone = [mod for mod in st.modules if not mod.initialized and mod is not st.modules[0]]
    _send_dll_notifications(st, thread, LDR_DLL_NOTIFICATION_REASON_UNLOADED,
                            [mod for mod in notified if mod in gone])
    for mod in gone:
        _remove_module(st, mod)


def _unload_failed_init(st: LoaderState, thread, before: set[int], e: LoaderError, notified: list[Module]) -> None:
    """A run-time load whose initialisation failed (a DllMain returned FALSE or raised an exception no handler of
    the DLL took): the modules this load mapped are unloaded again. Those already initialised get
    DLL_PROCESS_DETACH (in reverse initialisation order), and so does the failing DLL (Microsoft's DllMain
    documentation for FALSE: "the system immediately calls your entry-point function with DLL_PROCESS_DETACH and
    unloads the DLL"; an exception makes LdrpCallInitRoutine return FALSE the same way, and Wine detaches too)."""
    failed = e.init_failed
    new = [x for x in st.modules if id(x) not in before]
    for mod in reversed(st.init_order):
        if id(mod) not in before and mod.entry_point and not mod.is_exe and not mod.datafile:
            flags = LDR_DATA_TABLE_ENTRY.read(st.proc.aspace, mod.entry, st.arch, "Flags")["Flags"]
            attached = bool(flags & LDRP_PROCESS_ATTACH_CALLED)
            if attached or mod is failed:
                st.emit("LdrpCallInitRoutine", module=mod.name, entry=f"0x{mod.entry_point:x}",
                        reason="DLL_PROCESS_DETACH")
                LdrpCallInitRoutine(st, thread, mod, DLL_PROCESS_DETACH, 0)
    # the DLL notifications announced them: they are announced as unloaded before they leave
    _send_dll_notifications(st, thread, LDR_DLL_NOTIFICATION_REASON_UNLOADED, [x for x in notified if x in new])
    for mod in reversed(new):
        if mod in st.modules:
            _remove_module(st, mod)


def _write_load_count(st: LoaderState, m: Module) -> None:
    LDR_DATA_TABLE_ENTRY.write(st.proc.aspace, m.entry, st.arch, ObsoleteLoadCount=min(m.load_count, 0xFFFF))


def _remove_module(st: LoaderState, m: Module) -> None:
    for links in ("InLoadOrderLinks", "InMemoryOrderLinks", "HashLinks"):
        st._list_remove(m.entry + LDR_DATA_TABLE_ENTRY.offset(st.arch, links))
    if m in st.init_order:
        st._list_remove(m.entry + LDR_DATA_TABLE_ENTRY.offset(st.arch, "InInitializationOrderLinks"))
        st.init_order.remove(m)
    st.modules.remove(m)
    st.by_name.pop(m.name.lower(), None)
    mapping.unmap_image(st.proc, m.base)
    st.machine.events.emit(ev.IMAGE, "image_unload", st.proc.pid, 0, name=m.name, base=m.base)


#: ntdll's record of the last DLLs unloaded (RtlGetUnloadEventTrace): a ring of RTL_UNLOAD_EVENT_TRACE
#: { PVOID BaseAddress; SIZE_T SizeOfImage; ULONG Sequence, TimeDateStamp, CheckSum; WCHAR ImageName[32];
#: ULONG Version[2]; } (0x68 bytes x64, 0x5C x86), RTL_UNLOAD_EVENT_TRACE_NUMBER (64) entries, followed here by
#: the three variables RtlGetUnloadEventTraceEx points at: ULONG element size, ULONG element count, PVOID trace
UNLOAD_TRACE_NUMBER = 64


def unload_trace_layout(arch: str) -> tuple[int, int]:
    """(element size, offset of the ring's variables) of `arch`'s unload event trace block."""
    size = 0x68 if arch == "x64" else 0x5C
    return size, (size * (UNLOAD_TRACE_NUMBER + 1) + 7) & ~7   # one zero element ends a walk of a full ring


def unload_trace(st: "LoaderState") -> int:
    """The process's unload event trace block (ntdll data on Windows; here a zeroed block of the process heap
    made on first use): the ring, then ElementSize, ElementCount and the pointer to the ring."""
    if not st.unload_trace:
        size, var = unload_trace_layout(st.arch)
        block = st.alloc(var + 8 + st.ptr)
        st.proc.aspace.write(block + var, size.to_bytes(4, "little") + UNLOAD_TRACE_NUMBER.to_bytes(4, "little"))
        st.write_ptr(block + var + 8, block)
        st.unload_trace = block
    return st.unload_trace


def _record_unload(st: "LoaderState", m: Module) -> None:
    """LdrUnloadDll's entry in the unload event trace: base, size, sequence number, the image's TimeDateStamp
    and CheckSum, its base name (at most 31 characters), its file version (VS_FIXEDFILEINFO, 0 without one)."""
    size, _var = unload_trace_layout(st.arch)
    block = unload_trace(st)
    slot = block + size * (st.unload_sequence % UNLOAD_TRACE_NUMBER)
    ps = st.ptr
    from winhatch.pe import PEFormatError
    ver = (0, 0)
    try:
        info = m.pe.version_info if m.pe is not None else None
        fixed = info and info.get("fixed")
        if fixed:
            ver = (fixed["file_version_ms"], fixed["file_version_ls"])
    except PEFormatError:       # a damaged version resource: no version, as for an image without one
        pass
    name = m.name[:31].encode("utf-16-le")
    data = (m.base.to_bytes(ps, "little") + m.size.to_bytes(ps, "little")
            + struct.pack("<III", st.unload_sequence & 0xFFFFFFFF, m.pe.timestamp if m.pe is not None else 0,
                          m.pe.checksum if m.pe is not None else 0)
            + name.ljust(64, b"\0") + struct.pack("<II", *ver))
    st.proc.aspace.write(slot, data.ljust(size, b"\0"))
    st.unload_sequence += 1


def LdrUnloadDll(machine, thread, base: int) -> bool:
    st = state_of(thread.process)
    m = next((x for x in st.modules if x.base == base), None)
    if m is None:
        return False
    if m.is_exe or m.static or m.base in st.pinned:
        return True  # statically loaded and pinned modules stay: their count is pinned
    m.load_count -= 1
    _write_load_count(st, m)
    st.emit("LdrUnloadDll", module=m.name, load_count=m.load_count)
    if m.load_count > 0:
        return True
    if m.initialized and not m.datafile and m.entry_point and m in st.init_order:
        # the module is being unloaded: a process exit its detach routine starts (ExitProcess from
        # DLL_PROCESS_DETACH) does not detach it a second time (Wine's kernel32/tests/loader.c phase 2, on Windows)
        st.unloading.add(m.base)
        try:
            _call_tls_callbacks(st, thread, m, DLL_PROCESS_DETACH)
            if _entry_point(st, m):
                LdrpCallInitRoutine(st, thread, m, DLL_PROCESS_DETACH, 0)
        finally:
            st.unloading.discard(m.base)
    if not m.datafile:
        _record_unload(st, m)
        # the DLL notifications: after DllMain's detach, before the image leaves the address space
        _send_dll_notifications(st, thread, LDR_DLL_NOTIFICATION_REASON_UNLOADED, [m])
    _remove_module(st, m)
    return True


def LdrAddRefDll(proc, base: int, pin: bool) -> bool:
    """LdrAddRefDll: one more reference to a loaded module (GetModuleHandleEx without
    UNCHANGED_REFCOUNT), or with LDR_ADDREF_DLL_PIN, the module stays until the process ends (its load
    count reads 0xFFFF, as Windows shows a pinned module). False when no module is at `base`."""
    st = state_of(proc)
    m = next((x for x in st.modules if x.base == base), None)
    if m is None:
        return False
    if pin:
        st.pinned.add(m.base)
        LDR_DATA_TABLE_ENTRY.write(st.proc.aspace, m.entry, st.arch, ObsoleteLoadCount=0xFFFF)
    elif not (m.is_exe or m.static or m.base in st.pinned):
        m.load_count += 1
        _write_load_count(st, m)
    return True


def LdrGetDllHandle(machine, proc, name: str | None) -> int:
    st = state_of(proc)
    if name is None:
        return st.modules[0].base
    try:
        host = resolve_dll_name(st, name, None)
    except LoaderError:
        return 0
    m = st.by_name.get(host.replace("/", "\\").rsplit("\\", 1)[-1].lower())
    if m is None and _is_absolute(name):
        # the file under another name (a hard link, its 8.3 name): the module mapped from the same file
        # (LdrpFindLoadedDllByMapping, as LoadLibrary finds it)
        try:
            pe, _section = machine.open_system_image(name)
        except (NtStatusError, OSError, ValueError):
            return 0
        m = next((x for x in st.modules if x.pe is pe and not x.datafile and not x.is_exe), None)
    return m.base if m else 0


def LdrGetProcedureAddress(machine, proc, base: int, name: str | None, ordinal: int | None) -> int:
    """Returns the address; raises LoaderError(STATUS_ENTRYPOINT_NOT_FOUND / STATUS_ORDINAL_NOT_FOUND)."""
    st = state_of(proc)
    m = next((x for x in st.modules if x.base == base), None)
    if m is None:
        raise LoaderError(STATUS_DLL_NOT_FOUND, f"no module at 0x{base:x}")
    return _export_address(st, m, name=name, ordinal=ordinal if name is None else None)


def module_at(proc, address: int) -> Module | None:
    st = proc.subsystem.get("ldr")
    if st is None:
        return None
    for m in st.modules:
        if m.base <= address < m.base + m.size:
            return m
    return None
