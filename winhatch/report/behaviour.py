"""The behaviour summary at the top of a report: what the sample did, at a glance.

Built after the run from what the kernel recorded — the behaviour events (winhatch.kernel.behaviour: acts on
other processes, memory made executable), process and registry events, the file system's access log, and the
API calls (a report records them) — never from guesses about handles after the fact:

    processes       started (image, command line, pid, parent, exit status) and attempted but failed
    files           created or overwritten, opened for writing, deleted, renamed; the final size and sha256 of
                    each file still there at the end
    dropped         every file created, modified or deleted (state, size, sha256, where the copy was kept)
    registry        values set (key, value, type, data) and keys or values deleted
    named_objects   mutexes, events, semaphores, sections and timers created or opened by name
    persistence     the autostart places written: Run keys, Winlogon, services, IFEO debuggers, AppInit_DLLs,
                    Startup folders, scheduled-task files, CreateService
    injection       NtWriteVirtualMemory/NtAllocateVirtualMemory/NtProtectVirtualMemory/NtMapViewOfSection into
                    another process, threads created in it, APCs queued and contexts set on its threads
    generated_code  memory outside images allocated or re-protected executable
    executed_code   pages of that memory that ran after being written (decoded shellcode, an unpacked stage): the
                    allocation, the page, the first address run, the round (a page rewritten and run again counts
                    again)
    anti_analysis   the checks observed: debugger probes, analysis-tool windows, VM artefacts in the registry and
                    the file system, long sleeps, machine-identity and hardware queries, the service list
    event_log       events written to the event log (log, source, type, event id, strings) and attempts to clear a
                    log (with the error: a standard user may not)
    services        attempts to create, delete, reconfigure, start or stop a service (with the error)

winhatch's own start-up look-ups (Image File Execution Options, KnownDLLs …) are not the sample's: only writes are
listed for the registry, and reads only where they are anti-analysis checks.
"""
from __future__ import annotations

import hashlib
import re

GENERIC_WRITE, GENERIC_ALL, FILE_WRITE_DATA, FILE_APPEND_DATA, DELETE = 0x40000000, 0x10000000, 2, 4, 0x10000
FILE_SUPERSEDED, FILE_OPENED, FILE_CREATED, FILE_OVERWRITTEN = 0, 1, 2, 3
MAX_ITEMS = 500
HASH_LIMIT = 64 << 20

PERSISTENCE_KEYS = [
    (r"\\software\\(wow6432node\\)?microsoft\\windows\\currentversion\\run(once|services|servicesonce)?(\\|$)",
     "Run key"),
    (r"\\policies\\explorer\\run(\\|$)", "Policies Run key"),
    (r"\\windows nt\\currentversion\\winlogon(\\|$)", "Winlogon"),
    (r"\\currentcontrolset\\services\\", "service"),
    (r"\\image file execution options\\", "Image File Execution Options"),
    (r"\\windows nt\\currentversion\\windows(\\|$)", "AppInit_DLLs / Load"),
    (r"\\active setup\\installed components\\", "Active Setup"),
    (r"\\environment$", "logon script environment"),
    (r"\\shell\\open\\command$", "file association command"),
]
PERSISTENCE_FILES = [
    (r"\\start menu\\programs\\startup\\", "Startup folder"),
    (r"\\windows\\system32\\tasks\\", "scheduled task"),
    (r"\\windows\\tasks\\", "scheduled task"),
]
ANALYSIS_WINDOWS = ("ollydbg", "windbgframeclass", "idaview", "ida", "x64dbg", "x32dbg", "immunity",
                    "procmon", "processhacker", "wireshark", "filemon", "regmon", "tcpview", "procexp")
VM_MARKERS = ("vbox", "virtualbox", "vmware", "vmtools", "vmmouse", "vmhgfs", "qemu", "xen", "sandboxie", "sbiedll",
              "wine", "parallels", "prl_", "hyper-v", "vmci", "vmsrvc", "vmusrvc")
DEBUG_CLASSES = {7: "ProcessDebugPort", 0x1E: "ProcessDebugObjectHandle", 0x1F: "ProcessDebugFlags"}
NAMED_OBJECT_APIS = re.compile(r"^(Create|Open)(Mutex|Event|Semaphore|FileMapping|WaitableTimer)(Ex)?[AW]?$")
IDENTITY_APIS = {"GetComputerNameA", "GetComputerNameW", "GetComputerNameExA", "GetComputerNameExW",
                 "GetUserNameA", "GetUserNameW", "GetVolumeInformationA", "GetVolumeInformationW",
                 "GlobalMemoryStatusEx", "GetSystemFirmwareTable", "EnumSystemFirmwareTables", "GetAdaptersInfo",
                 "GetCursorPos", "GetDiskFreeSpaceExA", "GetDiskFreeSpaceExW"}
DEBUGGER_APIS = {"IsDebuggerPresent", "CheckRemoteDebuggerPresent", "OutputDebugStringA", "OutputDebugStringW",
                 "DebugActiveProcess", "NtSetDebugFilterState", "DbgBreakPoint"}
PROCESS_LIST_APIS = {"CreateToolhelp32Snapshot", "Process32First", "Process32FirstW", "EnumProcesses",
                     "K32EnumProcesses"}
SERVICE_LIST_APIS = {"EnumServicesStatusA", "EnumServicesStatusW", "EnumServicesStatusExA", "EnumServicesStatusExW"}


def _api_name(ev) -> str:
    return str(ev.data.get("api", "")).rsplit("!", 1)[-1]


def _strings(args: dict):
    for k, v in (args or {}).items():
        if isinstance(v, str):
            yield k, v


def _add(lst: list, item: dict) -> None:
    if len(lst) < MAX_ITEMS and item not in lst:
        lst.append(item)


def _file_digest(machine, path: str) -> dict:
    try:
        st = machine.vfs.stat(path)
        if st.is_dir:
            return {"directory": True}
        size = getattr(st, "size", None)
        if size is not None and size > HASH_LIMIT:
            return {"size": size, "sha256": None}
        data = machine.vfs.read_file(path)
        return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    except Exception:  # noqa: BLE001 — gone, a device, or unreadable: no hash, the entry stays
        return {"exists": False}


def behaviour_summary(result) -> dict:
    machine = result.machine
    events = list(result.events or [])
    out = {"processes": {"started": [], "failed": []},
           "files": {"written": [], "deleted": [], "renamed": [], "links": []},
           "registry": {"set": [], "deleted": []},
           "named_objects": [], "persistence": [], "injection": [], "generated_code": [], "executed_code": [],
           "anti_analysis": [], "event_log": [], "services": []}
    if machine is None:
        return out
    first = result.process

    # processes
    for p in machine.processes:
        if p.arch is None or p is first:
            continue
        _add(out["processes"]["started"], {"pid": p.pid, "parent_pid": p.inherited_from_pid,
                                           "image": p.image_path, "command_line": p.command_line,
                                           "exit_status": p.exit_status if p.exited else None})

    # files (the log from the program's creation on: what the runner itself put there is not the sample's)
    log = list(getattr(machine.vfs, "log", []))[getattr(machine, "behaviour_log_mark", 0):]
    written: dict[str, dict] = {}
    for e in log:
        op, path, status = e.get("op"), e.get("path"), e.get("status")
        if status != 0 or not isinstance(path, str):
            continue
        if op == "open":
            access = e.get("access") or 0
            info = e.get("info")
            writes = access & (GENERIC_WRITE | GENERIC_ALL | FILE_WRITE_DATA | FILE_APPEND_DATA)
            if info in (FILE_CREATED, FILE_OVERWRITTEN, FILE_SUPERSEDED) or (info == FILE_OPENED and writes):
                how = {FILE_CREATED: "created", FILE_OVERWRITTEN: "overwritten", FILE_SUPERSEDED: "superseded"} \
                    .get(info, "opened for writing")
                if path not in written:
                    written[path] = {"path": path, "how": how}
        elif op in ("delete", "rmdir"):
            _add(out["files"]["deleted"], {"path": path, "directory": op == "rmdir"})
            written.pop(path, None)
        elif op == "set_reparse":      # a symbolic link or junction the guest made (its target as stored)
            tag = e.get("tag") or 0
            kind = {0xA000000C: "symlink", 0xA0000003: "junction"}.get(tag, f"reparse tag {tag:#x}")
            _add(out["files"]["links"], {"path": path, "kind": kind, "target": e.get("target"),
                                         "relative": bool(e.get("relative"))})
        elif op == "rename":
            _add(out["files"]["renamed"], {"from": path, "to": e.get("dst")})
            if path in written:
                written[e.get("dst")] = dict(written.pop(path), path=e.get("dst"))
    for path, item in list(written.items())[:MAX_ITEMS]:
        if path.startswith(("\\\\.\\", "\\??\\pipe", "\\\\?\\pipe")) or "\\pipe\\" in path.lower():
            continue
        item.update(_file_digest(machine, path))
        if item.get("directory"):
            continue
        out["files"]["written"].append(item)

    # registry, behaviour events, API calls
    for ev in events:
        cat = ev.category
        if cat == "registry" and ev.data.get("status") == 0:
            if ev.name == "set_value":
                item = {"key": ev.data.get("path"), "value": ev.data.get("value"), "type": ev.data.get("type"),
                        "data": ev.data.get("data"), "pid": ev.pid}
                _add(out["registry"]["set"], item)
                _persistence_key(out, item)
            elif ev.name in ("delete_key", "delete_value"):
                _add(out["registry"]["deleted"], {"key": ev.data.get("path"), "value": ev.data.get("value"),
                                                  "pid": ev.pid})
            elif ev.name in ("open_key", "query_value") and _vm_marker(ev.data.get("path")):
                _add(out["anti_analysis"], {"check": "VM artefact in the registry", "pid": ev.pid,
                                            "detail": ev.data.get("path")})
        elif cat == "behaviour":
            d = dict(ev.data)
            if ev.name == "cross_process":
                _add(out["injection"], d)
            elif ev.name == "executable_memory":
                _add(out["generated_code"], d)
            elif ev.name == "executed_written":
                _add(out["executed_code"], dict(d, pid=ev.pid, tid=ev.tid))
            elif ev.name == "eventlog_write":
                _add(out["event_log"], dict(d, action="write", pid=ev.pid))
            elif ev.name == "eventlog_clear":
                _add(out["event_log"], dict(d, action="clear", pid=ev.pid))
            elif ev.name == "service_change":
                _add(out["services"], dict(d, pid=ev.pid))
        elif cat == "api" and ev.name == "call":
            _api(out, ev)
        elif cat == "syscall":
            _syscall(out, ev)
    dropped = getattr(result, "dropped", None)
    if dropped and dropped.get("files"):     # files written or deleted, with hashes (the file system's own record: runner dropped_files)
        out["dropped"] = [{k: f.get(k) for k in ("path", "state", "size", "sha256", "kept")}
                          for f in dropped.get("files", [])[:MAX_ITEMS]]
    for f in out["files"]["written"]:
        for pat, kind in PERSISTENCE_FILES:
            if re.search(pat, f["path"].lower()):
                _add(out["persistence"], {"kind": kind, "where": f["path"]})
    return out


def _vm_marker(text) -> bool:
    t = str(text or "").lower()
    return any(m in t for m in VM_MARKERS)


def _persistence_key(out: dict, item: dict) -> None:
    key = str(item.get("key") or "").lower()
    for pat, kind in PERSISTENCE_KEYS:
        if re.search(pat, key):
            if kind == "Winlogon" and str(item.get("value") or "").lower() not in ("shell", "userinit", "taskman",
                                                                                  "notify"):
                continue
            if kind == "AppInit_DLLs / Load" and str(item.get("value") or "").lower() not in ("appinit_dlls",
                                                                                              "load", "run"):
                continue
            if kind == "Image File Execution Options" and str(item.get("value") or "").lower() not in (
                    "debugger", "globalflag"):
                continue
            _add(out["persistence"], {"kind": kind, "where": f"{item.get('key')}\\{item.get('value') or ''}",
                                      "data": item.get("data")})
            return


def _api(out: dict, ev) -> None:
    name = _api_name(ev)
    args = ev.data.get("args") or {}
    ret = ev.data.get("ret")
    if name.startswith("CreateProcess") and ret == 0:
        cmd = next((v for k, v in _strings(args) if "command" in k.lower() or "cmd" in k.lower()), None) or \
            next((v for _k, v in _strings(args)), None)
        _add(out["processes"]["failed"], {"api": name, "command_line": cmd, "pid": ev.pid})
        return
    if name in ("WinExec", "ShellExecuteA", "ShellExecuteW", "ShellExecuteExA", "ShellExecuteExW") and ret in (0, 2, 3):
        _add(out["processes"]["failed"], {"api": name, "command_line": next((v for _k, v in _strings(args)), None),
                                          "pid": ev.pid})
    if NAMED_OBJECT_APIS.match(name):
        obj = NAMED_OBJECT_APIS.match(name).group(2)
        for k, v in _strings(args):
            if "name" in k.lower() and v:
                _add(out["named_objects"], {"type": obj, "name": v, "api": name, "pid": ev.pid,
                                            "created": name.startswith("Create")})
        return
    if name in ("CreateServiceA", "CreateServiceW") and ret:     # a service installed (attempts: `services`)
        vals = [v for _k, v in _strings(args)]
        _add(out["persistence"], {"kind": "service (CreateService)", "where": vals[0] if vals else None,
                                  "data": vals[-1] if vals else None})
    if name in DEBUGGER_APIS:
        _add(out["anti_analysis"], {"check": "debugger", "api": name, "pid": ev.pid})
    elif name in ("FindWindowA", "FindWindowW", "FindWindowExA", "FindWindowExW"):
        vals = " ".join(v for _k, v in _strings(args)).lower()
        if any(w in vals for w in ANALYSIS_WINDOWS):
            _add(out["anti_analysis"], {"check": "analysis-tool window", "api": name, "pid": ev.pid,
                                        "detail": vals})
    elif name in ("Sleep", "SleepEx"):
        ms = next((v for v in args.values() if isinstance(v, int)), 0)
        if 30_000 <= ms < 0xFFFFFFFF:
            _add(out["anti_analysis"], {"check": "long sleep", "api": name, "pid": ev.pid, "detail": f"{ms} ms"})
    elif name in IDENTITY_APIS:
        _add(out["anti_analysis"], {"check": "machine identity or hardware", "api": name, "pid": ev.pid})
    elif name in PROCESS_LIST_APIS:
        _add(out["anti_analysis"], {"check": "process list", "api": name, "pid": ev.pid})
    elif name in SERVICE_LIST_APIS:
        _add(out["anti_analysis"], {"check": "service list", "api": name, "pid": ev.pid})
    elif name in ("OpenServiceA", "OpenServiceW", "GetServiceDisplayNameA", "GetServiceDisplayNameW"):
        vals = " ".join(v for _k, v in _strings(args))
        if _vm_marker(vals):
            _add(out["anti_analysis"], {"check": "VM artefact: a service", "api": name, "pid": ev.pid,
                                        "detail": vals})
    elif name.startswith(("GetFileAttributes", "CreateFile", "PathFileExists")):
        vals = " ".join(v for _k, v in _strings(args))
        if _vm_marker(vals) and ("\\drivers\\" in vals.lower() or vals.lower().endswith((".sys", ".dll"))):
            _add(out["anti_analysis"], {"check": "VM artefact in the file system", "api": name, "pid": ev.pid,
                                        "detail": vals})
    elif name in ("GetModuleHandleA", "GetModuleHandleW"):
        vals = " ".join(v for _k, v in _strings(args)).lower()
        if any(m in vals for m in ("sbiedll", "dbghelp", "api_log", "dir_watch", "pstorec", "vmcheck", "wpespy")):
            _add(out["anti_analysis"], {"check": "analysis DLL loaded", "api": name, "pid": ev.pid, "detail": vals})


def _syscall(out: dict, ev) -> None:
    svc = ev.data.get("service") or ev.name
    args = ev.data.get("args") or {}
    vals = list(args.values()) if isinstance(args, dict) else list(args)
    if svc == "NtQueryInformationProcess" and len(vals) > 1 and vals[1] in DEBUG_CLASSES:
        _add(out["anti_analysis"], {"check": "debugger", "api": f"{svc}({DEBUG_CLASSES[vals[1]]})", "pid": ev.pid})
    elif svc == "NtSetInformationThread" and len(vals) > 1 and vals[1] == 0x11:
        _add(out["anti_analysis"], {"check": "debugger", "api": f"{svc}(ThreadHideFromDebugger)", "pid": ev.pid})
    elif svc == "NtQuerySystemInformation" and vals and vals[0] in (0x23, 0x95):
        _add(out["anti_analysis"], {"check": "debugger", "api": f"{svc}(SystemKernelDebuggerInformation)",
                                    "pid": ev.pid})
