"""Process creation: CreateProcess's stages as the seeds describe them, one function per Windows name.

    Stage 1   CreateProcessInternalW    validate/convert flags, resolve the image, build the parameters
    Stage 2   NtCreateUserProcess       open the image, the decision matrix, IFEO, the image section
    Stage 3A  PspAllocateProcess        the executive process object
    Stage 3B  MmCreateProcessAddressSpace  the initial address space
    Stage 3C  KeInitializeProcess       the kernel process part (priority, affinity, quantum)
    Stage 3D  MmInitializeProcessAddressSpace  image section and ntdll mapped, KUSER_SHARED_DATA
    Stage 3E  MmCreatePeb               the PEB, the API set map, the process parameters
    Stage 3F  PspInsertProcess          CID, active process list, handle table, job, debug port, handle
    Stage 4   PspCreateThread           PspAllocateThread (stack, TEB, context) / PspInsertThread
    Stage 5   CsrCreateProcess          the subsystem's CSR_PROCESS / CSR_THREAD, console
    Stage 6   (resume)                  unless CREATE_SUSPENDED; PROCESS_INFORMATION
    Stage 7   KiStartUserThread / PspUserThreadStartup → LdrInitializeThunk → RtlUserThreadStart

Each stage and sub-step emits a `stage` event with its key values. One code path serves a process started
from the command line (its creator is the explorer.exe pseudo-process) and one started by a guest.
"""
from __future__ import annotations

import struct

from winhatch._record import NEW, Record
from winhatch.kernel import events as ev
from winhatch.kernel.ps import appname
from winhatch.kernel.ps import flags as F
from winhatch.kernel.ps.objects import PRIORITY_BASE, CsrProcess, CsrThread, Process, Thread, ThreadStack
from winhatch.ntstatus import (ERROR_ACCESS_DENIED, ERROR_BAD_EXE_FORMAT, ERROR_DIRECTORY, ERROR_FILE_NOT_FOUND,
                               ERROR_INVALID_PARAMETER, ERROR_PATH_NOT_FOUND, STATUS_ACCESS_DENIED, STATUS_NOT_A_DIRECTORY,
                               STATUS_INVALID_IMAGE_FORMAT, STATUS_INVALID_IMAGE_NOT_MZ, STATUS_INVALID_IMAGE_WIN_16,
                               STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND,
                               STATUS_SUCCESS, NtStatusError, nt_to_win32)

PROCESS_ALL_ACCESS = 0x1FFFFF
THREAD_ALL_ACCESS = 0x1FFFFF
IFEO_KEY = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options"
SE_INC_BASE_PRIORITY = "SeIncreaseBasePriorityPrivilege"
GDT_VA = {"x86": 0xFFFF0000, "x64": 0x7FFFFFFF0000}


class StartupInfo(Record):
    """The parts of STARTUPINFO CreateProcess uses."""

    _fields = ("flags", "desktop", "title", "std_input", "std_output", "std_error", "show_window", "pseudo_console",
               "x", "y", "x_size", "y_size", "x_count_chars", "y_count_chars", "fill_attribute", "parent_process",
               "handle_list")

    def __init__(self, flags: int = 0, desktop: str | None = None, title: str | None = None, std_input: int = 0,
                 std_output: int = 0, std_error: int = 0, show_window: int = 1, pseudo_console: int = 0,
                 x: int = 0, y: int = 0, x_size: int = 0, y_size: int = 0, x_count_chars: int = 0,
                 y_count_chars: int = 0, fill_attribute: int = 0) -> None:
        # dwX .. dwFillAttribute: the window's place, size and console buffer, copied to the child's process
        # parameters (StartingX .. FillAttribute) whatever dwFlags says, as RtlCreateProcessParameters does
        self.x, self.y, self.x_size, self.y_size = x, y, x_size, y_size
        self.x_count_chars, self.y_count_chars, self.fill_attribute = x_count_chars, y_count_chars, fill_attribute
        # PROC_THREAD_ATTRIBUTE_PARENT_PROCESS: the Process the child is created under (its
        # InheritedFromUniqueProcessId, the table its handles are inherited from, its token, job, affinity and
        # session); PROC_THREAD_ATTRIBUTE_HANDLE_LIST: the only handle values inherited
        self.parent_process = None
        self.handle_list: set[int] | None = None
        self.pseudo_console = pseudo_console  # PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE: the creator's server handle
        self.flags = flags
        self.desktop = desktop
        self.title = title
        self.std_input = std_input
        self.std_output = std_output
        self.std_error = std_error
        self.show_window = show_window


class CreateResult(Record):
    """CreateProcess's outcome: PROCESS_INFORMATION on success, else the Win32 error and the NTSTATUS."""

    _fields = ("ok", "error", "status", "process", "thread", "process_handle", "thread_handle", "pid", "tid",
               "message")

    def __init__(self, ok: bool, error: int = 0, status: int = 0, process: Process | None = None,
                 thread: Thread | None = None, process_handle: int = 0, thread_handle: int = 0, pid: int = 0,
                 tid: int = 0, message: str = "") -> None:
        self.ok = ok
        self.error = error  # GetLastError value
        self.status = status
        self.process = process
        self.thread = thread
        self.process_handle = process_handle
        self.thread_handle = thread_handle
        self.pid = pid
        self.tid = tid
        self.message = message


class CreateRequest(Record):
    """What Stage 1 hands to NtCreateUserProcess (an RTL_USER_PROCESS_PARAMETERS and its companions)."""

    _fields = ("image_path", "command_line", "current_directory", "environment", "desktop", "window_title",
               "priority_class", "creation_flags", "inherit_handles", "startup", "dll_path", "skip_ifeo_debugger",
               "trace")

    def __init__(self, image_path: str, command_line: str, current_directory: str, environment: dict[str, str],
                 desktop: str, window_title: str, priority_class: str, creation_flags: int, inherit_handles: bool,
                 startup: StartupInfo, dll_path: str = "", skip_ifeo_debugger: bool = False,
                 trace: list = NEW) -> None:
        self.image_path = image_path
        self.command_line = command_line
        self.current_directory = current_directory
        self.environment = environment
        self.desktop = desktop
        self.window_title = window_title
        self.priority_class = priority_class
        self.creation_flags = creation_flags
        self.inherit_handles = inherit_handles
        self.startup = startup
        self.dll_path = dll_path
        self.skip_ifeo_debugger = skip_ifeo_debugger
        self.trace = [] if trace is NEW else trace


def _stage(machine, name: str, pid: int = 0, tid: int = 0, /, **data):
    return machine.events.emit(ev.STAGE, name, pid, tid, **data)


class CreateProcessError(Exception):
    def __init__(self, error: int, status: int, message: str):
        super().__init__(message)
        self.error, self.status, self.message = error, status, message


# ======================================================================================== Stage 1
def CreateProcessInternalW(machine, creator: Thread | None, application_name: str | None, command_line: str | None,
                           *, inherit_handles: bool = False, creation_flags: int = 0,
                           environment: dict[str, str] | None = None, current_directory: str | None = None,
                           startup: StartupInfo | None = None) -> CreateResult:
    """Create a process as kernel32!CreateProcessInternalW does; `creator` None = the shell (explorer.exe)."""
    parent_proc = creator.process if creator is not None else machine.shell_process
    startup = startup or StartupInfo()
    _stage(machine, "CreateProcessInternalW", parent_proc.pid, creator.tid if creator else 0,
           application=application_name, command_line=command_line, flags=f"0x{creation_flags:08X}")
    try:
        with machine.events.nested():
            req = _stage1_convert(machine, parent_proc, creator, application_name, command_line, inherit_handles,
                                  creation_flags, environment, current_directory, startup)
            return NtCreateUserProcess(machine, parent_proc, creator, req)
    except CreateProcessError as e:
        _stage(machine, "CreateProcessFailed", parent_proc.pid, error=e.error, status=f"0x{e.status:08X}",
               message=e.message)
        return CreateResult(False, e.error, e.status, message=e.message)


def _stage1_convert(machine, parent: Process, creator, application_name, command_line, inherit_handles,
                    creation_flags, environment, current_directory, startup) -> CreateRequest:
    if creation_flags & ~F.VALID_FLAGS:
        raise CreateProcessError(ERROR_INVALID_PARAMETER, STATUS_INVALID_PARAMETER, "unknown creation flags")
    if creation_flags & F.DETACHED_PROCESS and creation_flags & F.CREATE_NEW_CONSOLE:
        raise CreateProcessError(ERROR_INVALID_PARAMETER, STATUS_INVALID_PARAMETER,
                                 "DETACHED_PROCESS cannot be combined with CREATE_NEW_CONSOLE")
    if creation_flags & F.CREATE_SEPARATE_WOW_VDM and creation_flags & F.CREATE_SHARED_WOW_VDM:
        raise CreateProcessError(ERROR_INVALID_PARAMETER, STATUS_INVALID_PARAMETER,
                                 "CREATE_SEPARATE_WOW_VDM cannot be combined with CREATE_SHARED_WOW_VDM")
    if application_name == "":
        # an empty (not NULL) lpApplicationName is a path that names nothing
        raise CreateProcessError(ERROR_PATH_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND, "an empty application name")
    if not application_name and not command_line:
        raise CreateProcessError(ERROR_INVALID_PARAMETER, STATUS_INVALID_PARAMETER,
                                 "no application name and no command line")
    # priority class: the lowest one given; none → normal, unless the creator is idle/below normal
    prio = None
    for bit, name in F.PRIORITY_FLAGS:
        if creation_flags & bit:
            prio = name
            break
    if prio is None:
        prio = parent.priority_class if parent.priority_class in ("idle", "below_normal") else "normal"
    requested = prio
    if prio == "realtime" and SE_INC_BASE_PRIORITY not in parent.token.get("privileges", set()):
        prio = "high"
    _stage(machine, "BasepConvertPriorityClass", parent.pid, requested=requested, priority_class=prio,
           base_priority=PRIORITY_BASE[prio])
    if creation_flags & (F.DEBUG_PROCESS | F.DEBUG_ONLY_THIS_PROCESS):
        _stage(machine, "DbgUiConnectToDbg", parent.pid, debug_only_this=bool(creation_flags & F.DEBUG_ONLY_THIS_PROCESS))
    # an empty lpDesktop / lpTitle reaches the child empty; only NULL takes the default
    desktop = startup.desktop if startup.desktop is not None else parent.subsystem.get("desktop", r"WinSta0\Default")
    cwd = current_directory or parent.subsystem.get("cwd") or machine.default_cwd
    cwd = machine.vfs.full_path(cwd, machine.default_cwd)
    if current_directory:
        # lpCurrentDirectory must name an existing directory: CreateProcess fails with ERROR_DIRECTORY
        try:
            is_dir = machine.vfs.stat(cwd, machine.default_cwd).is_dir
        except NtStatusError:
            is_dir = False
        if not is_dir:
            raise CreateProcessError(ERROR_DIRECTORY, STATUS_NOT_A_DIRECTORY,
                                     f"the directory name is invalid: {current_directory}")
    env = dict(environment) if environment is not None else dict(parent.subsystem.get("environment")
                                                                  or machine.default_environment())
    creator_dir = parent.image_path.rsplit("\\", 1)[0] if parent.image_path else None
    dirs = appname.search_order(creator_dir, cwd, machine.system_root + "\\System32", machine.system_root,
                                _env_get(env, "PATH"))

    # the WoW64 file system redirector applies to a 32-bit creator's names: its System32 is SysWOW64, so
    # C:\Windows\System32\notepad.exe starts the 32-bit notepad (Microsoft's "File System Redirector";
    # Sysnative names the 64-bit folder)
    from winhatch.kernel.io.file_services import redirected
    wow = creator is not None and redirected(creator)

    def redirect(p: str) -> str:
        return machine.vfs.wow64_redirect(p, "x86", cwd) if wow else p   # it resolves p against cwd itself

    def exists(p: str) -> bool:
        p = redirect(p)
        try:
            _need_syswow64(machine, machine.vfs.full_path(p, cwd))
            st = machine.vfs.stat(p, cwd)
            return not st.is_dir
        except NtStatusError:
            return False

    image, tried = appname.resolve(application_name, command_line, exists=exists,
                                   full_path=lambda p: machine.vfs.full_path(p, cwd), dirs=dirs)
    if image is not None and wow:
        image = redirect(image)
    _stage(machine, "BasepResolveApplicationName", parent.pid, image=image, tried=tried[:12])
    if image is None and application_name:
        # lpApplicationName is opened as it is (no search): a missing directory on the way is
        # STATUS_OBJECT_PATH_NOT_FOUND → ERROR_PATH_NOT_FOUND, as the file system reports it
        try:
            machine.vfs.stat(application_name, cwd)
        except NtStatusError as e:
            if e.status == STATUS_OBJECT_PATH_NOT_FOUND:
                raise CreateProcessError(ERROR_PATH_NOT_FOUND, e.status,
                                         f"the system cannot find the path specified: {application_name}")
    if image is None:
        raise CreateProcessError(ERROR_FILE_NOT_FOUND, STATUS_OBJECT_NAME_NOT_FOUND,
                                 f"the system cannot find the file specified: {application_name or command_line}")
    cmd = command_line if command_line else application_name
    title = startup.title if startup.title is not None else image
    req = CreateRequest(image_path=image, command_line=cmd, current_directory=cwd, environment=env,
                        desktop=desktop, window_title=title, priority_class=prio,
                        creation_flags=creation_flags, inherit_handles=inherit_handles, startup=startup)
    req.skip_ifeo_debugger = bool(creation_flags & (F.DEBUG_PROCESS | F.DEBUG_ONLY_THIS_PROCESS))
    _stage(machine, "RtlCreateProcessParametersEx", parent.pid, image_path=image, command_line=cmd,
           current_directory=cwd, desktop=desktop, environment_variables=len(env))
    return req


def _need_syswow64(machine, path: str) -> None:
    """A program of SysWOW64 (C:\\Windows\\SysWOW64\\cmd.exe) is looked for: the 32-bit system files, which a
    machine set up for x64 programs only mounts when first needed (machine.add_architecture), are there first."""
    if machine.add_architecture is not None and \
            path.lower().startswith(machine.system_dir("x86").lower() + "\\"):
        machine.add_architecture("x86")


def _env_get(env: dict[str, str], name: str) -> str:
    for k, v in env.items():
        if k.upper() == name.upper():
            return v
    return ""


# ======================================================================================== Stage 2
def _open_image(machine, req: CreateRequest):
    """Open the file and classify it: the CreateProcess decision matrix."""
    from winhatch.pe import PEFile, PEFormatError
    ext = req.image_path.rsplit(".", 1)[-1].lower() if "." in req.image_path.rsplit("\\", 1)[-1] else ""
    if ext in ("bat", "cmd"):
        return ("batch", None)
    try:
        host, _ro = machine.vfs.resolve(req.image_path, req.current_directory)
    except NtStatusError as e:
        raise CreateProcessError(nt_to_win32(e.status), e.status, f"cannot open {req.image_path}: {e.message}")
    try:
        data = host.read_bytes()
    except OSError as e:
        raise CreateProcessError(ERROR_ACCESS_DENIED, STATUS_ACCESS_DENIED, f"cannot read {req.image_path}: {e}")
    if data[:2] != b"MZ":
        raise CreateProcessError(ERROR_BAD_EXE_FORMAT, STATUS_INVALID_IMAGE_NOT_MZ,
                                 f"{req.image_path} is not a valid Win32 application (no MZ header)")
    try:
        pe = PEFile(data, name=req.image_path)
        pe.sections  # the headers and section table must parse
    except PEFormatError as e:
        if e.status == STATUS_INVALID_IMAGE_WIN_16 or ext in ("com", "pif"):
            raise CreateProcessError(ERROR_BAD_EXE_FORMAT, STATUS_INVALID_IMAGE_WIN_16,
                                     f"{req.image_path} is a 16-bit or DOS program, which 64-bit Windows cannot run")
        raise CreateProcessError(ERROR_BAD_EXE_FORMAT, e.status, f"{req.image_path}: {e.reason}")
    return ("pe", pe)


def NtCreateUserProcess(machine, parent: Process, creator: Thread | None, req: CreateRequest) -> CreateResult:
    _stage(machine, "NtCreateUserProcess", parent.pid, image=req.image_path)
    with machine.events.nested():
        _need_syswow64(machine, req.image_path)
        kind, pe = _open_image(machine, req)
        if kind == "batch":
            cmd = machine.system_root + "\\System32\\cmd.exe"
            try:
                machine.vfs.stat(cmd, req.current_directory)
            except NtStatusError:
                raise CreateProcessError(ERROR_FILE_NOT_FOUND, STATUS_OBJECT_NAME_NOT_FOUND,
                                         f"{req.image_path} is a batch file and {cmd} is not present")
            _stage(machine, "DecisionMatrix", parent.pid, kind="batch", runs=cmd)
            req.command_line = f'{cmd} /c "{req.command_line}"'
            req.image_path = cmd
            kind, pe = _open_image(machine, req)
        if pe.arch not in ("x86", "x64") or pe.is_dll:
            raise CreateProcessError(ERROR_BAD_EXE_FORMAT, STATUS_INVALID_IMAGE_FORMAT,
                                     f"{req.image_path} is not a valid Win32 application "
                                     f"({'a DLL' if pe.is_dll else f'machine 0x{pe.machine:04x}'})")
        _stage(machine, "DecisionMatrix", parent.pid, kind="windows-exe", image_machine=pe.arch,
               subsystem=pe.subsystem)
        if machine.add_architecture is not None:   # System32 / SysWOW64 for an image of the other architecture
            machine.add_architecture(pe.arch)
        # Image File Execution Options
        base_name = req.image_path.rsplit("\\", 1)[-1]
        ifeo = _read_ifeo(machine, base_name)
        if ifeo.get("Debugger") and not req.skip_ifeo_debugger:
            debugger = ifeo["Debugger"]
            _stage(machine, "IFEO", parent.pid, image=base_name, debugger=debugger)
            if req.trace and len(req.trace) > 4:
                raise CreateProcessError(ERROR_INVALID_PARAMETER, STATUS_INVALID_PARAMETER, "IFEO Debugger loop")
            req.trace.append(base_name)
            new_cmd = f"{debugger} {req.command_line}"
            redo = _stage1_convert(machine, parent, creator, None, new_cmd, req.inherit_handles,
                                   req.creation_flags, req.environment, req.current_directory, req.startup)
            redo.trace = req.trace
            redo.skip_ifeo_debugger = True  # the debugger itself is not redirected again
            return NtCreateUserProcess(machine, parent, creator, redo)
        perf = ifeo.get("PerfOptions", {})
        if perf:
            if "CpuPriorityClass" in perf and perf["CpuPriorityClass"] in F.IFEO_CPU_PRIORITY:
                req.priority_class = F.IFEO_CPU_PRIORITY[perf["CpuPriorityClass"]]
            _stage(machine, "IFEO", parent.pid, image=base_name, perf_options=perf)
        section = machine.mm_create_image_section(pe, req.image_path)
        _stage(machine, "NtCreateSection", parent.pid, kind="SEC_IMAGE", image=base_name,
               size=f"0x{pe.size_of_image:x}", image_base=f"0x{pe.image_base:x}")

        proc = PspAllocateProcess(machine, parent, creator, req, pe, section)
        try:
            status = PspInsertProcess(machine, proc, parent, creator, req)
        except CreateProcessError:
            machine.discard_process(proc)
            raise
        # the start address in the image's pointer width: an x86 entry RVA past 4 GiB wraps, as 32-bit
        # address arithmetic does
        start = (proc.image_base + pe.entry_point_rva) & (0xFFFFFFFF if proc.arch == "x86" else (1 << 64) - 1)
        thread = PspCreateThread(machine, proc, start=pe.image_base and start,
                                 parameter=proc.peb, initial=True, pe=pe)
    # PspInsertProcess / PspInsertThread: the creator receives both handles (explorer.exe too)
    ph = parent.handles.insert(proc, PROCESS_ALL_ACCESS)
    th = parent.handles.insert(thread, THREAD_ALL_ACCESS)
    CsrCreateProcess(machine, proc, thread, req, subsystem=getattr(pe, "subsystem", 3))
    # Stage 6
    if not req.creation_flags & F.CREATE_SUSPENDED:
        thread.suspend_count = 0
        _stage(machine, "NtResumeThread", parent.pid, tid=thread.tid, pid=proc.pid)
    else:
        _stage(machine, "CreateSuspended", parent.pid, tid=thread.tid, pid=proc.pid, suspend_count=1)
    _stage(machine, "ProcessInformation", parent.pid, hProcess=ph, hThread=th, dwProcessId=proc.pid,
           dwThreadId=thread.tid)
    return CreateResult(True, 0, status, proc, thread, ph, th, proc.pid, thread.tid)


def _read_ifeo(machine, base_name: str) -> dict:
    from winhatch.kernel.cm import decode
    out: dict = {}
    try:
        key = machine.registry.open_key(IFEO_KEY + "\\" + base_name)
    except NtStatusError:
        return out
    for name in ("Debugger", "GlobalFlag"):
        try:
            t, d = key.query_value(name)
            out[name] = decode(t, d)
        except NtStatusError:
            pass
    try:
        perf = machine.registry.open_key("PerfOptions", key)
        out["PerfOptions"] = {n: decode(*perf.query_value(n)) for n in perf.value_names()}
    except NtStatusError:
        pass
    return out


# ======================================================================================== Stage 3
def PspAllocateProcess(machine, parent: Process, creator, req: CreateRequest, pe, section) -> Process:
    name = req.image_path.rsplit("\\", 1)[-1]
    parent = getattr(req.startup, "parent_process", None) or parent      # PROC_THREAD_ATTRIBUTE_PARENT_PROCESS
    proc = Process(image_name=name, parent=parent, arch=pe.arch)
    proc.image_path = req.image_path
    proc.command_line = req.command_line
    proc.create_flags = req.creation_flags
    proc.image_section = section
    proc.subsystem["machine"] = machine
    if req.creation_flags & F.INHERIT_PARENT_AFFINITY:
        proc.affinity = parent.affinity
    _stage(machine, "PspAllocateProcess", parent.pid, image=name, exit_status="STATUS_PENDING (0x103)",
           inherited_from=parent.pid, affinity=f"0x{proc.affinity:x}", io_priority=proc.io_priority,
           page_priority=proc.page_priority, session=proc.session_id)
    with machine.events.nested():
        _stage(machine, "PspInheritQuota", parent.pid, quota_block=str(proc.quota_block.get("owner")),
               min_working_set=f"0x{proc.min_working_set:x}", max_working_set=f"0x{proc.max_working_set:x}")
        _stage(machine, "SeAssignPrimaryToken", parent.pid, user=proc.token.get("user"),
               integrity=proc.token.get("integrity"))
        MmCreateProcessAddressSpace(machine, proc)
        KeInitializeProcess(machine, proc, req.priority_class)
        MmInitializeProcessAddressSpace(machine, proc, pe)
        MmCreatePeb(machine, proc, pe, req)
    return proc


def MmCreateProcessAddressSpace(machine, proc: Process) -> None:
    from winhatch.cpu import Cpu
    from winhatch.kernel.mm import AddressSpace
    proc.cpu = Cpu(proc.arch)
    prof = machine.profile
    proc.cpu.set_cpuid_model(brand=prof.cpu_brand, processors=prof.cpu_count)   # the machine's processor
    proc.aspace = AddressSpace(proc.cpu, arch=proc.arch, commit_limit=machine.limits.get("commit_limit"),
                               large_address_aware=True, commit_pool=machine.commit_pool)
    proc.handles.limit = machine.max_handles
    # the GDT lives in kernel space, above the user address space (no VAD describes it)
    from winhatch.cpu import PROT_READ, PROT_WRITE
    proc.cpu.mem_map(GDT_VA[proc.arch], 0x1000, PROT_READ | PROT_WRITE)
    machine.dispatcher.attach(proc)
    _stage(machine, "MmCreateProcessAddressSpace", proc.inherited_from_pid, arch=proc.arch,
           user_limit=f"0x{machine.user_limit(proc.arch):x}")


def KeInitializeProcess(machine, proc: Process, priority_class: str) -> None:
    proc.priority_class = priority_class
    proc.base_priority = PRIORITY_BASE[priority_class]
    proc.quantum = 6
    _stage(machine, "KeInitializeProcess", proc.inherited_from_pid, base_priority=proc.base_priority, priority_class=priority_class,
           quantum=proc.quantum, affinity=f"0x{proc.affinity:x}")


def MmInitializeProcessAddressSpace(machine, proc: Process, pe) -> None:
    base = machine.mm_map_image(proc, proc.image_section, proc.image_path)
    proc.image_base = base
    _stage(machine, "MmMapViewOfSection", proc.inherited_from_pid, image=proc.image_name, base=f"0x{base:x}",
           size=f"0x{pe.size_of_image:x}", relocated=base != pe.image_base)
    ntdll_path = machine.system_dir(proc.arch) + "\\ntdll.dll"
    ntdll_pe, ntdll_section = machine.open_system_image(ntdll_path)
    proc.ntdll_base = machine.mm_map_image(proc, ntdll_section, ntdll_path)
    _stage(machine, "PspMapSystemDll", proc.inherited_from_pid, image="ntdll.dll", base=f"0x{proc.ntdll_base:x}", path=ntdll_path)
    _write_system_dll_init_block(proc, ntdll_pe)
    machine.map_kuser_shared_data(proc)
    _stage(machine, "MmMapKUserSharedData", proc.inherited_from_pid, address="0x7ffe0000", protect="PAGE_READONLY")


#: PS_SYSTEM_DLL_INIT_BLOCK of Windows 10 2004 and later (0xF0 bytes, the same 64-bit layout in both ntdlls):
#: ULONG Size; ULONG64 SystemDllWowRelocation, SystemDllNativeRelocation; ULONG64 Wow64SharedInformation[16];
#: ULONG RngData, Flags; ULONG64 MitigationOptionsMap[3], CfgBitMap, CfgBitMapSize, Wow64CfgBitMap,
#: Wow64CfgBitMapSize, MitigationAuditOptionsMap[3]
SYSTEM_DLL_INIT_BLOCK_SIZE = 0xF0
#: Wow64SharedInformation: the 32-bit ntdll's entry points the kernel and WoW64 start 32-bit code at, its base,
#: the block itself and RtlpFreezeTimeBias (indexes 0..8)
WOW64_SHARED = ("LdrInitializeThunk", "KiUserExceptionDispatcher", "KiUserApcDispatcher", "KiUserCallbackDispatcher",
                "RtlUserThreadStart", "RtlpQueryProcessDebugInformationRemote", None, "LdrSystemDllInitBlock",
                "RtlpFreezeTimeBias")


def _write_system_dll_init_block(proc: Process, ntdll_pe) -> None:
    """PspPrepareSystemDllInitBlock: the kernel fills ntdll's LdrSystemDllInitBlock when it maps the system DLL.
    For a WoW64 process the Wow64SharedInformation array holds the 32-bit ntdll's entry points (and its base);
    a native process has none. The relocation fields are 0 (ntdll is mapped at its preferred base), and so are
    the mitigation option maps and the CFG bitmaps: winhatch applies no process mitigation policy and has no
    Control Flow Guard bitmap."""
    exports = ntdll_pe.exports
    if exports is None:
        return
    hit = exports.lookup("LdrSystemDllInitBlock").entry
    if hit is None or hit.rva is None:
        return
    block = bytearray(SYSTEM_DLL_INIT_BLOCK_SIZE)
    struct.pack_into("<I", block, 0, SYSTEM_DLL_INIT_BLOCK_SIZE)
    if proc.arch == "x86":
        for i, name in enumerate(WOW64_SHARED):
            if name is None:
                addr = proc.ntdll_base
            else:
                e = exports.lookup(name).entry
                addr = proc.ntdll_base + e.rva if e is not None and e.rva is not None else 0
            struct.pack_into("<Q", block, 0x18 + 8 * i, addr)
    proc.aspace.write(proc.ntdll_base + hit.rva, bytes(block))


def MmCreatePeb(machine, proc: Process, pe, req: CreateRequest) -> None:
    info = machine.write_peb(proc, pe, req)
    _stage(machine, "MmCreatePeb", proc.inherited_from_pid, peb=f"0x{proc.peb:x}", image_base=f"0x{proc.image_base:x}",
           process_parameters=f"0x{info['parameters']:x}", api_set_map=f"0x{info['api_set_map']:x}",
           os_version=info["os_version"], number_of_processors=info["processors"])


def PspInsertProcess(machine, proc: Process, parent: Process, creator, req: CreateRequest) -> int:
    from winhatch.kernel.ps.job import job_allows_child
    try:
        # the parent's job (the PROC_THREAD_ATTRIBUTE_PARENT_PROCESS one's), unless the child breaks away
        job = job_allows_child(getattr(req.startup, "parent_process", None) or parent, req.creation_flags)
    except NtStatusError as e:
        raise CreateProcessError(nt_to_win32(e.status), e.status, e.message) from None
    proc.job = None
    proc.pid = machine.cid.allocate(proc)
    if req.inherit_handles:
        from winhatch.kernel.ob import HandleTable
        source = getattr(req.startup, "parent_process", None) or parent
        proc.handles = HandleTable.inherit(source.handles, getattr(req.startup, "handle_list", None))
    proc.creation_time = machine.clock.system_time()
    _stage(machine, "PspInsertProcess", parent.pid, pid=proc.pid, parent_pid=parent.pid,
           inherited_handles=len(proc.handles) if req.inherit_handles else 0,
           job=job is not None, debug_port=bool(req.creation_flags & (F.DEBUG_PROCESS | F.DEBUG_ONLY_THIS_PROCESS)))
    from winhatch.kernel.notify import PsCreateNotifyInfo
    info = PsCreateNotifyInfo(parent.pid, parent.pid, creator.tid if creator else 0, proc.image_path,
                              proc.command_line)
    status = machine.notify.process_create(proc, info)
    if status & 0x80000000:
        _stage(machine, "PspCallProcessNotifyRoutines", parent.pid, pid=proc.pid, vetoed=f"0x{status:08X}")
        machine.cid.free(proc.pid)
        raise CreateProcessError(nt_to_win32(status), status,
                                 f"process creation vetoed by a notify routine (0x{status:08X})")
    _stage(machine, "PspCallProcessNotifyRoutines", parent.pid, pid=proc.pid, routines=len(machine.notify.process))
    if req.creation_flags & (F.DEBUG_PROCESS | F.DEBUG_ONLY_THIS_PROCESS):
        # the creating thread's debug object (kernel32 connected it: DbgUiConnectToDbg, TEB DbgSsReserved[1])
        from winhatch.kernel.ps import dbgk
        proc.debug_port = dbgk.connect(machine, parent, creator)
        # DEBUG_ONLY_THIS_PROCESS: the children of the debuggee are not debugged (NoDebugInherit)
        proc.no_debug_inherit = bool(req.creation_flags & F.DEBUG_ONLY_THIS_PROCESS)
    elif parent.debug_port is not None and not getattr(parent, "no_debug_inherit", False):
        proc.debug_port = parent.debug_port  # inherited unless NoDebugInherit
    machine.processes.append(proc)  # PsActiveProcessHead
    if job is not None:
        job.add(proc)
    machine.events.emit(ev.PROCESS, "process_create", proc.pid, 0, parent_pid=parent.pid, image=proc.image_path,
                        command_line=proc.command_line, arch=proc.arch)
    return STATUS_SUCCESS


# ======================================================================================== Stage 4
def PspCreateThread(machine, proc: Process, *, start: int, parameter: int, initial: bool = False, pe=None,
                    stack_reserve: int = 0, stack_commit: int = 0, suspended: bool = True,
                    stack_highest: int | None = None) -> Thread:
    thread = Thread(proc)
    thread.creation_time = machine.clock.system_time()
    thread.initial = initial
    thread.start_address = start
    thread.start_parameter = parameter
    thread.suspend_count = 1 if suspended else 0
    if pe is not None:
        stack_reserve = stack_reserve or pe.size_of_stack_reserve
        stack_commit = stack_commit or pe.size_of_stack_commit
    stack_reserve = max(stack_reserve or 0x100000, 0x10000)
    stack_commit = max(stack_commit or 0x1000, 0x1000)
    _stage(machine, "PspCreateThread", proc.pid, start=f"0x{start:x}", initial=initial)
    with machine.events.nested():
        # PspAllocateThread: the stack and the TEB
        thread.tid = machine.cid.allocate(thread)
        try:
            thread.stack = machine.create_user_stack(thread, stack_reserve, stack_commit, stack_highest)
        except NtStatusError:   # no room for the stack (a ZeroBits limit): nothing is left behind
            machine.cid.free(thread.tid)
            raise
        thread.reference()   # a running thread keeps its object alive: closing every handle does not end it
        proc.reference()     # and the thread object its process's (ETHREAD's process reference): a process
        thread.holds_process = True   # whose handles are all closed lives on while a thread object of it does
        sh = proc.aspace.host_memory(thread.stack.reserve_base)
        if sh is not None:   # (buffer, host offset - address, lowest address, StackBase)
            thread.stack_host = (sh[0], sh[1] - thread.stack.reserve_base, thread.stack.reserve_base, thread.stack.base)
        thread.teb = machine.create_teb(thread)
        thread.teb_host = proc.aspace.host_memory(thread.teb)
        if not proc.subsystem.get("segments"):
            proc.cpu.setup_segments(thread.teb, GDT_VA[proc.arch])  # FS (x86) / GS (x64) → this TEB
            proc.subsystem["segments"] = True
        _stage(machine, "PspAllocateThread", proc.pid, thread.tid, tid=thread.tid, teb=f"0x{thread.teb:x}",
               stack_base=f"0x{thread.stack.base:x}", stack_limit=f"0x{thread.stack.limit:x}",
               stack_reserve=f"0x{thread.stack.reserve:x}", stack_commit=f"0x{thread.stack.commit:x}")
        machine.init_thread_context(thread)
        # the context was taken from the CPU as the creator left it: FS (x86) / GS (x64) must be this TEB
        thread.user_context.set("gs_base" if proc.arch == "x64" else "fs_base", thread.teb)
        from winhatch.kernel.ps import wow64
        if wow64.is_wow64_thread(thread):     # a WoW64 thread starts in 64-bit mode: its 32-bit context saved
            wow64.save_cpu_area(thread, thread.user_context)
        _stage(machine, "KeInitThread", proc.pid, thread.tid, start="RtlUserThreadStart",
               entry=f"0x{start:x}", suspended=thread.suspend_count > 0)
        # PspInsertThread
        proc.threads.append(thread)
        machine.notify.thread_event(proc.pid, thread.tid, True)
        _stage(machine, "PspInsertThread", proc.pid, thread.tid, tid=thread.tid,
               routines=len(machine.notify.thread))
    machine.events.emit(ev.THREAD, "thread_create", proc.pid, thread.tid, start=start)
    return thread


# ======================================================================================== Stage 5
def _pseudo_console(proc: Process, req: CreateRequest):
    """The console of the creator's pseudo console handle (CreatePseudoConsole), or None."""
    h = getattr(req.startup, "pseudo_console", 0)
    if not h or proc.parent is None:
        return None
    from winhatch.kernel.condrv import ConsoleFile
    try:
        obj = proc.parent.handles.lookup(h)
    except NtStatusError:
        return None
    return obj.console if isinstance(obj, ConsoleFile) and obj.kind == "server" else None


def CsrCreateProcess(machine, proc: Process, thread: Thread, req: CreateRequest, subsystem: int = 3) -> None:
    group = proc.pid if req.creation_flags & F.CREATE_NEW_PROCESS_GROUP else \
        (proc.parent.csr.process_group_id if proc.parent and proc.parent.csr else proc.pid)
    proc.csr = CsrProcess(proc.pid, 0x280, 0, group)
    thread.csr = CsrThread(thread.tid, proc.pid)
    proc.csr.threads.append(thread.csr)
    # the console (Windows 10's rules): a GUI program gets none; DETACHED_PROCESS none; CREATE_NEW_CONSOLE a new
    # one; CREATE_NO_WINDOW a new one without a window; a console program whose creator has none a new one;
    # otherwise the creator's. The first guest process (created by the shell) gets the machine's console, the
    # host terminal's.
    pty = _pseudo_console(proc, req)
    guest_parent = proc.parent is not None and proc.parent is not getattr(machine, "shell_process", None)
    flags = req.creation_flags
    if pty is not None:
        console = pty
    elif flags & F.DETACHED_PROCESS or (subsystem == 2 and guest_parent):
        console = None
    elif not guest_parent:
        console = machine.console if proc.parent is None or proc.parent.console is None else proc.parent.console
    elif flags & (F.CREATE_NEW_CONSOLE | F.CREATE_NO_WINDOW) or proc.parent.console is None:
        # a console of its own (its window is not shown, its screen buffers live in the console driver),
        # titled from STARTUPINFO.lpTitle
        from winhatch.kernel.io.console import Console
        console = Console(None, None, None, force_console=True)
        console.title = console.original_title = req.window_title or ""
        console.windowless = bool(flags & F.CREATE_NO_WINDOW) and not flags & F.CREATE_NEW_CONSOLE
    else:
        console = proc.parent.console
    proc.console = console
    proc.csr.console = console
    if console is not None and not console.title and not console.original_title:
        console.title = console.original_title = req.window_title or ""
    st = req.startup
    if req.inherit_handles and st.flags & F.STARTF_USESTDHANDLES:
        handles = (st.std_input, st.std_output, st.std_error)
        if console is not None and not all(handles):
            # a std handle left NULL is the console's (Windows 8 and later)
            from winhatch.kernel.condrv import attach_std_handles
            handles = tuple(h or c for h, c in zip(handles, attach_std_handles(proc, console,
                                                                              [not h for h in handles])))
    else:
        from winhatch.kernel.condrv import attach_std_handles
        handles = attach_std_handles(proc, console)
    from winhatch.kernel.ps.peb import write_std_handles
    write_std_handles(proc, proc.parameters["address"], *handles)
    from winhatch.kernel.condrv import connect
    from winhatch.kernel.structs import RTL_USER_PROCESS_PARAMETERS
    RTL_USER_PROCESS_PARAMETERS.write(proc.aspace, proc.parameters["address"], proc.arch,
                                      ConsoleHandle=connect(proc, console))
    _stage(machine, "CsrCreateProcess", proc.pid, pid=proc.pid, shutdown_level="0x280", process_group=group,
           console="none" if console is None else ("new" if req.creation_flags & F.CREATE_NEW_CONSOLE else "inherited"))
    _stage(machine, "CsrCreateThread", proc.pid, thread.tid, tid=thread.tid)


# ======================================================================================== Stage 7
def PspUserThreadStartup(machine, thread: Thread) -> None:
    """KiStartUserThread → PspUserThreadStartup: runs in the new thread before any user-mode code."""
    proc = thread.process
    _stage(machine, "KiStartUserThread", proc.pid, thread.tid, tid=thread.tid)
    with machine.events.nested():
        if thread.initial and not proc.subsystem.get("image_notified"):
            proc.subsystem["image_notified"] = True
            machine.notify_image_load(proc, proc.image_path, proc.image_base)
            machine.notify_image_load(proc, machine.system_dir(proc.arch) + "\\ntdll.dll", proc.ntdll_base)
        cookie = machine.ensure_system_cookie()
        _stage(machine, "PspUserThreadStartup", proc.pid, thread.tid, image_notifications=thread.initial,
               cookie=f"0x{cookie:08x}")
    machine.enter_ldr_initialize_thunk(thread)
    if proc.debug_port is not None:   # DbgkCreateThread: CREATE_PROCESS / CREATE_THREAD (the process waits)
        from winhatch.kernel.ps import dbgk
        dbgk.on_thread_startup(machine, thread)
