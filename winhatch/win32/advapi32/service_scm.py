"""advapi32's service control manager client: OpenSCManager, OpenService, CloseServiceHandle,
QueryServiceStatus(Ex), EnumServicesStatus(Ex), QueryServiceConfig(2), GetServiceDisplayName/KeyName,
ControlService, StartService, CreateService, DeleteService, ChangeServiceConfig — as a standard user sees them.

On Windows these functions are RPC calls (MS-SCMR, over the \\PIPE\\svcctl endpoint) to services.exe, the
service control manager, which built its database of services from HKLM\\SYSTEM\\CurrentControlSet\\Services
at boot and keeps their run state. An SC_HANDLE is the client's RPC context handle: a pointer into the
process heap, not a kernel handle (CloseHandle does not close it, CloseServiceHandle does). winhatch has no
services.exe process: the database (ScmDatabase) is machine-wide state of this layer, built once per machine
from the machine's registry (winhatch/kernel/cm/scm_services.json holds a Windows 10 desktop's services), read
without going through the guest's registry log (it is services.exe's read, not the program's); an SC_HANDLE is
a small block in the process heap (as Windows's is) that the process's table maps to its object and granted
access.

Access, as the SCM's and each service's default security descriptors grant it on Windows 10:
- the manager: a standard user (Interactive / Authenticated Users) gets SC_MANAGER_CONNECT, ENUMERATE_SERVICE,
  QUERY_LOCK_STATUS and READ_CONTROL; anything more (CREATE_SERVICE, LOCK, MODIFY_BOOT_CONFIG, SC_MANAGER_
  ALL_ACCESS, GENERIC_WRITE/EXECUTE/ALL) fails the open with ERROR_ACCESS_DENIED. OpenSCManager always asks for
  SC_MANAGER_CONNECT as well (documented), MAXIMUM_ALLOWED gets what is granted.
- a service: SERVICE_QUERY_CONFIG, QUERY_STATUS, ENUMERATE_DEPENDENTS, INTERROGATE, USER_DEFINED_CONTROL and
  READ_CONTROL; SERVICE_START/STOP/PAUSE_CONTINUE/CHANGE_CONFIG, DELETE, WRITE_DAC... are the
  administrators' and LocalSystem's. So a standard user's StartService, ControlService(STOP),
  DeleteService and ChangeServiceConfig fail with ERROR_ACCESS_DENIED (the handle lacks the right), and
  CreateService too (the manager handle lacks SC_MANAGER_CREATE_SERVICE).
A token in the Administrators group (winhatch's "system" token) is granted everything; what an administrator
could then change (creating, deleting, reconfiguring, starting and stopping services) is not modelled and
stops loudly.

Run state (the database's, at boot): a driver with boot/system/automatic start runs (except WdBoot, the
early-launch anti-malware driver, which is unloaded after boot); a Win32 service with automatic start runs;
demand-start services run when something started them on a typical desktop (RUNNING_ON_DEMAND), others are
stopped, disabled ones are stopped. A stopped service's exit code is ERROR_SERVICE_NEVER_STARTED.
Known gap: the service processes (svchost.exe, lsass.exe, MsMpEng.exe...) are not processes of the emulated
machine, so a running Win32 service's dwProcessId is a process id no process has.
"""
from __future__ import annotations

import struct

from winhatch.kernel import events as ev
from winhatch.kernel.cm.registry import decode
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import heap_alloc, heap_free

ADV = "advapi32.dll"

ERROR_ACCESS_DENIED = 5
ERROR_INVALID_HANDLE = 6
ERROR_INVALID_PARAMETER = 87
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_INVALID_NAME = 123
ERROR_INVALID_LEVEL = 124
ERROR_MORE_DATA = 234
ERROR_INVALID_ADDRESS = 487
ERROR_SERVICE_ALREADY_RUNNING = 1056
ERROR_SERVICE_DISABLED = 1058
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_SERVICE_NOT_ACTIVE = 1062
ERROR_DATABASE_DOES_NOT_EXIST = 1065
ERROR_SERVICE_NEVER_STARTED = 1077
ERROR_INVALID_SERVICE_CONTROL = 1052

# access rights (winsvc.h, winnt.h)
DELETE, READ_CONTROL, WRITE_DAC, WRITE_OWNER = 0x10000, 0x20000, 0x40000, 0x80000
STANDARD_RIGHTS_REQUIRED = 0xF0000
ACCESS_SYSTEM_SECURITY, MAXIMUM_ALLOWED = 0x01000000, 0x02000000
GENERIC_READ, GENERIC_WRITE, GENERIC_EXECUTE, GENERIC_ALL = 0x80000000, 0x40000000, 0x20000000, 0x10000000
SC_MANAGER_CONNECT, SC_MANAGER_CREATE_SERVICE, SC_MANAGER_ENUMERATE_SERVICE = 0x1, 0x2, 0x4
SC_MANAGER_LOCK, SC_MANAGER_QUERY_LOCK_STATUS, SC_MANAGER_MODIFY_BOOT_CONFIG = 0x8, 0x10, 0x20
SC_MANAGER_ALL_ACCESS = 0xF003F
SERVICE_QUERY_CONFIG, SERVICE_CHANGE_CONFIG, SERVICE_QUERY_STATUS = 0x1, 0x2, 0x4
SERVICE_ENUMERATE_DEPENDENTS, SERVICE_START, SERVICE_STOP, SERVICE_PAUSE_CONTINUE = 0x8, 0x10, 0x20, 0x40
SERVICE_INTERROGATE, SERVICE_USER_DEFINED_CONTROL = 0x80, 0x100
SERVICE_ALL_ACCESS = 0xF01FF
#: GENERIC_MAPPING of the manager and of a service (winsvc.h's documented mappings)
SCM_MAPPING = (READ_CONTROL | SC_MANAGER_ENUMERATE_SERVICE | SC_MANAGER_QUERY_LOCK_STATUS,
               READ_CONTROL | SC_MANAGER_CREATE_SERVICE | SC_MANAGER_MODIFY_BOOT_CONFIG,
               READ_CONTROL | SC_MANAGER_CONNECT | SC_MANAGER_LOCK, SC_MANAGER_ALL_ACCESS)
SERVICE_MAPPING = (READ_CONTROL | SERVICE_QUERY_CONFIG | SERVICE_QUERY_STATUS | SERVICE_INTERROGATE
                   | SERVICE_ENUMERATE_DEPENDENTS,
                   READ_CONTROL | SERVICE_CHANGE_CONFIG,
                   READ_CONTROL | SERVICE_START | SERVICE_STOP | SERVICE_PAUSE_CONTINUE
                   | SERVICE_USER_DEFINED_CONTROL, SERVICE_ALL_ACCESS)
#: what the default descriptors grant Interactive Users (D:(A;;CCLCRPRC;;;IU) and (A;;CCLCSWLOCRRC;;;IU))
USER_SCM_ACCESS = SC_MANAGER_CONNECT | SC_MANAGER_ENUMERATE_SERVICE | SC_MANAGER_QUERY_LOCK_STATUS | READ_CONTROL
USER_SERVICE_ACCESS = (SERVICE_QUERY_CONFIG | SERVICE_QUERY_STATUS | SERVICE_ENUMERATE_DEPENDENTS
                       | SERVICE_INTERROGATE | SERVICE_USER_DEFINED_CONTROL | READ_CONTROL)
ADMIN_SCM_ACCESS = SC_MANAGER_ALL_ACCESS | WRITE_DAC | WRITE_OWNER
ADMIN_SERVICE_ACCESS = SERVICE_ALL_ACCESS

# service types, start types, states, controls
SERVICE_KERNEL_DRIVER, SERVICE_FILE_SYSTEM_DRIVER = 0x1, 0x2
SERVICE_WIN32_OWN_PROCESS, SERVICE_WIN32_SHARE_PROCESS, SERVICE_INTERACTIVE_PROCESS = 0x10, 0x20, 0x100
SERVICE_DRIVER, SERVICE_WIN32 = 0x0B, 0x30
SERVICE_BOOT_START, SERVICE_SYSTEM_START, SERVICE_AUTO_START, SERVICE_DEMAND_START, SERVICE_DISABLED = range(5)
SERVICE_STOPPED, SERVICE_START_PENDING, SERVICE_STOP_PENDING, SERVICE_RUNNING = 1, 2, 3, 4
SERVICE_ACTIVE, SERVICE_INACTIVE, SERVICE_STATE_ALL = 1, 2, 3
SERVICE_ACCEPT_STOP, SERVICE_ACCEPT_SHUTDOWN = 0x1, 0x4
SERVICE_CONTROL_STOP, SERVICE_CONTROL_PAUSE, SERVICE_CONTROL_CONTINUE = 1, 2, 3
SERVICE_CONTROL_INTERROGATE, SERVICE_CONTROL_SHUTDOWN, SERVICE_CONTROL_PARAMCHANGE = 4, 5, 6
SC_ENUM_PROCESS_INFO = 0
SC_STATUS_PROCESS_INFO = 0
SERVICE_CONFIG_DESCRIPTION, SERVICE_CONFIG_DELAYED_AUTO_START_INFO = 1, 3
#: the other documented QueryServiceConfig2 levels (failure actions, SID info, privileges, pre-shutdown,
#: triggers, preferred node, launch protection): valid, not modelled (they stop loudly)
CONFIG2_OTHER_LEVELS = {2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

SERVICES_KEY = ("MACHINE", "SYSTEM", "CurrentControlSet", "Services")
#: demand-start services and drivers running on a Windows 10 desktop some minutes after logon (started by a
#: trigger, a dependent service, or the device they drive)
RUNNING_ON_DEMAND = {"plugplay", "securityhealthservice", "wdnissvc", "wdnisdrv", "mpsdrv", "e1iexpress", "http",
                     "srv2", "srvnet", "mrxsmb20", "bowser", "ntfs", "dxgkrnl", "igfx"}
#: boot drivers unloaded once the boot is done (the early-launch anti-malware driver)
STOPPED_AFTER_BOOT = {"wdboot"}
#: the process ids Windows gave the service host processes on the machine (see the known gap above)
FIRST_SERVICE_PID = 0x2A0
MAX_NAME = 256


class ServiceRecord:
    __slots__ = ("name", "display", "type", "start", "error_control", "image", "group", "depends", "account",
                 "description", "delayed", "tag", "state", "exit_code", "pid", "controls")

    def status(self, ex: bool = False) -> bytes:
        """SERVICE_STATUS (28 bytes), or SERVICE_STATUS_PROCESS (36 bytes) when `ex`."""
        data = struct.pack("<7I", self.type, self.state, self.controls if self.state == SERVICE_RUNNING else 0,
                           self.exit_code, 0, 0, 0)
        if ex:
            data += struct.pack("<2I", self.pid if self.state == SERVICE_RUNNING else 0, 0)
        return data


class ScmDatabase:
    """services.exe's database: the service records (sorted by name, as the SCM enumerates them)."""

    def __init__(self, machine):
        self.machine = machine
        self.records: list[ServiceRecord] = []
        self.by_name: dict[str, ServiceRecord] = {}
        env = {k.lower(): v for k, v in machine.default_environment().items()}
        key = _services_key(machine.registry)
        names = key.subkey_names() if key is not None else []
        pid = FIRST_SERVICE_PID
        hosts: dict[str, int] = {}
        for name in sorted(names, key=str.lower)[:10_000]:
            sub = key.subkey(name)
            vals = {}
            for vname in sub.value_names():
                try:
                    vals[vname.lower()] = decode(*sub.query_value(vname))
                except Exception:   # noqa: BLE001 — a value services.exe cannot decode is one it ignores
                    continue
            stype = vals.get("type")
            if not isinstance(stype, int) or not stype & (SERVICE_DRIVER | SERVICE_WIN32):
                continue            # not a service (EventLog's sources, a key without Type)
            r = ServiceRecord()
            r.name = sub.name
            r.type = stype
            r.start = vals.get("start") if isinstance(vals.get("start"), int) else SERVICE_DEMAND_START
            r.error_control = vals.get("errorcontrol") if isinstance(vals.get("errorcontrol"), int) else 1
            disp = vals.get("displayname")
            r.display = disp if isinstance(disp, str) and disp else r.name
            img = vals.get("imagepath") if isinstance(vals.get("imagepath"), str) else ""
            r.image = _expand(img, env) if stype & SERVICE_WIN32 else img
            r.group = vals.get("group") if isinstance(vals.get("group"), str) else ""
            deps = vals.get("dependonservice") if isinstance(vals.get("dependonservice"), list) else []
            groups = vals.get("dependongroup") if isinstance(vals.get("dependongroup"), list) else []
            r.depends = list(deps) + ["+" + g for g in groups]
            acct = vals.get("objectname")
            r.account = acct if isinstance(acct, str) else ("" if stype & SERVICE_DRIVER else "LocalSystem")
            desc = vals.get("description")
            r.description = desc if isinstance(desc, str) else None
            r.delayed = bool(vals.get("delayedautostart")) if isinstance(vals.get("delayedautostart"), int) else False
            r.tag = vals.get("tag") if isinstance(vals.get("tag"), int) else 0
            low = r.name.lower()
            if stype & SERVICE_DRIVER:
                running = (r.start <= SERVICE_AUTO_START and low not in STOPPED_AFTER_BOOT) or low in RUNNING_ON_DEMAND
            else:
                running = r.start == SERVICE_AUTO_START or (r.start == SERVICE_DEMAND_START and low in RUNNING_ON_DEMAND)
            r.state = SERVICE_RUNNING if running else SERVICE_STOPPED
            r.exit_code = 0 if running else ERROR_SERVICE_NEVER_STARTED
            r.controls = SERVICE_ACCEPT_STOP | (SERVICE_ACCEPT_SHUTDOWN if stype & SERVICE_WIN32 else 0)
            r.pid = 0
            if running and stype & SERVICE_WIN32:
                host = r.image.lower()
                if stype & SERVICE_WIN32_SHARE_PROCESS and host in hosts:
                    r.pid = hosts[host]
                else:
                    pid += 4 * 7
                    r.pid = hosts[host] = pid
            self.records.append(r)
            self.by_name[low] = r

    def find(self, name: str) -> ServiceRecord | None:
        return self.by_name.get(name.lower())

    def find_display(self, display: str) -> ServiceRecord | None:
        low = display.lower()
        return next((r for r in self.records if r.display.lower() == low), None)


def _services_key(registry):
    """HKLM\\SYSTEM\\CurrentControlSet\\Services, walked without the registry's access log (services.exe's
    own read), following the CurrentControlSet link."""
    key = registry.root
    comps = list(SERVICES_KEY)
    hops = 0
    while comps and key is not None:
        key = key.subkey(comps.pop(0))
        if key is not None and key.is_link and hops < 8:
            hops += 1
            try:
                target = decode(*key.query_value("SymbolicLinkValue"))
            except Exception:   # noqa: BLE001 — a broken link: no services
                return None
            parts = [p for p in str(target).split("\\") if p]
            if not parts or parts[0].lower() != "registry":
                return None
            key = registry.root
            comps = parts[1:] + comps
    return key


def _expand(text: str, env: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(text):
        j = text.find("%", i)
        if j < 0:
            out.append(text[i:])
            break
        k = text.find("%", j + 1)
        if k < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        name = text[j + 1:k]
        out.append(env.get(name.lower(), text[j:k + 1]))
        i = k + 1
    return "".join(out)


def database(machine) -> ScmDatabase:
    db = machine.subsystem.get("scm")
    if db is None:
        db = machine.subsystem["scm"] = ScmDatabase(machine)
    return db


# ------------------------------------------------------------------------------------------------- handles
class ScHandle:
    __slots__ = ("kind", "access", "record")

    def __init__(self, kind: str, access: int, record: ServiceRecord | None = None):
        self.kind, self.access, self.record = kind, access, record


def _table(c) -> dict:
    return c.proc.subsystem.setdefault("sc_handles", {})


def _new_handle(c, obj: ScHandle) -> int:
    addr = heap_alloc(c, 16)
    if not addr:
        return 0
    c.write(addr, struct.pack("<4I", 0x4D435343 if obj.kind == "manager" else 0x56524353, obj.access, 0, 0))
    _table(c)[addr] = obj
    return addr


def _handle(c, h: int, kind: str | None = None) -> ScHandle | None:
    obj = _table(c).get(h)
    if obj is None or (kind is not None and obj.kind != kind):
        return None
    return obj


def _is_admin(c) -> bool:
    from winhatch.kernel.se.token import primary_token
    tok = primary_token(c.proc)
    return "S-1-5-32-544" in tok.enabled_sids()


def _map(access: int, mapping) -> int:
    out = access & ~(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL)
    for bit, rights in zip((GENERIC_READ, GENERIC_WRITE, GENERIC_EXECUTE, GENERIC_ALL), mapping):
        if access & bit:
            out |= rights
    return out


def _grant(c, access: int, mapping, user_rights: int, admin_rights: int) -> int | None:
    """The granted access, or None (ERROR_ACCESS_DENIED)."""
    allowed = admin_rights if _is_admin(c) else user_rights
    want = _map(access, mapping)
    if want & ACCESS_SYSTEM_SECURITY:
        return None
    if want & MAXIMUM_ALLOWED:
        return (want & ~MAXIMUM_ALLOWED) | allowed if not (want & ~MAXIMUM_ALLOWED & ~allowed) else None
    return want if not want & ~allowed else None


def _fail(c, code: int, ret: int = 0) -> int:
    c.set_last_error(code)
    return ret


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and not any(ch in name for ch in "/\\")


# ------------------------------------------------------------------------------------------------ the APIs
@api(ADV, "SC_HANDLE WINAPI OpenSCManager%(LPCTSTR lpMachineName, LPCTSTR lpDatabaseName, DWORD dwDesiredAccess)")
def OpenSCManager(c, machine_name, db_name, access):
    if machine_name:
        name = machine_name.lstrip("\\").lower()
        local = c.machine.profile.host_name.lower()
        if name not in (local, ".", "localhost"):
            from winhatch.win32.ntdll.seh import raise_unsupported
            raise_unsupported(c, f"OpenSCManager of a remote machine ({machine_name!r}): no network RPC")
    if db_name is not None and db_name.lower() != "servicesactive":
        return _fail(c, ERROR_DATABASE_DOES_NOT_EXIST if db_name.lower() == "servicesfailed" else ERROR_INVALID_NAME)
    granted = _grant(c, access | SC_MANAGER_CONNECT, SCM_MAPPING, USER_SCM_ACCESS, ADMIN_SCM_ACCESS)
    if granted is None:
        if _map(access, SCM_MAPPING) & (SC_MANAGER_CREATE_SERVICE | SC_MANAGER_MODIFY_BOOT_CONFIG | SC_MANAGER_LOCK):
            _attempt(c, "open the manager to change it", None, ERROR_ACCESS_DENIED, access=access)
        return _fail(c, ERROR_ACCESS_DENIED)
    database(c.machine)
    h = _new_handle(c, ScHandle("manager", granted))
    c.set_last_error(0)
    return h


@api(ADV, "SC_HANDLE WINAPI OpenService%(SC_HANDLE hSCManager, LPCTSTR lpServiceName, DWORD dwDesiredAccess)")
def OpenService(c, hscm, name, access):
    if _handle(c, hscm, "manager") is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    if name is None:
        return _fail(c, ERROR_INVALID_ADDRESS)
    if not _valid_name(name):
        return _fail(c, ERROR_INVALID_NAME)
    rec = database(c.machine).find(name)
    if rec is None:
        return _fail(c, ERROR_SERVICE_DOES_NOT_EXIST)
    granted = _grant(c, access, SERVICE_MAPPING, USER_SERVICE_ACCESS, ADMIN_SERVICE_ACCESS)
    if granted is None:
        want = _map(access, SERVICE_MAPPING)
        acts = [n for bit, n in ((SERVICE_START, "start"), (SERVICE_STOP, "stop"), (SERVICE_PAUSE_CONTINUE, "pause"),
                                 (SERVICE_CHANGE_CONFIG, "change config"), (DELETE, "delete"),
                                 (WRITE_DAC | WRITE_OWNER, "change security")) if want & bit]
        if acts:
            _attempt(c, "open to " + "/".join(acts), rec.name, ERROR_ACCESS_DENIED, access=access)
        return _fail(c, ERROR_ACCESS_DENIED)
    h = _new_handle(c, ScHandle("service", granted, rec))
    c.set_last_error(0)
    return h


@api(ADV, "BOOL WINAPI CloseServiceHandle(SC_HANDLE hSCObject)")
def CloseServiceHandle(c, h):
    if _table(c).pop(h, None) is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    heap_free(c, h)
    return 1


def _service(c, h: int, right: int):
    """The service record of handle `h` holding `right`, or (None, error)."""
    obj = _handle(c, h, "service")
    if obj is None:
        return None, ERROR_INVALID_HANDLE
    if right and not obj.access & right:
        return None, ERROR_ACCESS_DENIED
    return obj.record, 0


@api(ADV, "BOOL WINAPI QueryServiceStatus(SC_HANDLE hService, LPVOID lpServiceStatus)")
def QueryServiceStatus(c, h, out):
    if _handle(c, h, "service") is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    if not out:
        return _fail(c, ERROR_INVALID_ADDRESS)
    rec, err = _service(c, h, SERVICE_QUERY_STATUS)
    if rec is None:
        return _fail(c, err)
    c.write(out, rec.status())
    return 1


@api(ADV, "BOOL WINAPI QueryServiceStatusEx(SC_HANDLE hService, DWORD InfoLevel, LPBYTE lpBuffer, DWORD cbBufSize, "
          "LPDWORD pcbBytesNeeded)")
def QueryServiceStatusEx(c, h, level, buf, size, needed):
    # the order Windows checks in (Wine's conformance tests): the level, the size, the handle, the access
    if level != SC_STATUS_PROCESS_INFO:
        return _fail(c, ERROR_INVALID_LEVEL)
    if not needed:
        return _fail(c, ERROR_INVALID_ADDRESS)
    if size < 36:
        c.write_u32(needed, 36)
        return _fail(c, ERROR_INSUFFICIENT_BUFFER)
    rec, err = _service(c, h, SERVICE_QUERY_STATUS)
    if rec is None:
        return _fail(c, err)
    if not buf:
        return _fail(c, ERROR_INVALID_ADDRESS)
    c.write(buf, rec.status(ex=True))
    return 1


# ---------------------------------------------------------------------------------------- enumeration
def _enum(c, h, stype, sstate, buf, size, needed, returned, resume, group, ex: bool):
    if _handle(c, h, "manager") is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    if not needed or not returned:
        return _fail(c, ERROR_INVALID_ADDRESS)
    c.write_u32(needed, 0)
    c.write_u32(returned, 0)
    if not stype & (SERVICE_DRIVER | SERVICE_WIN32) or stype & ~0x3FF or sstate not in (1, 2, 3):
        return _fail(c, ERROR_INVALID_PARAMETER)
    if not _handle(c, h).access & SC_MANAGER_ENUMERATE_SERVICE:
        return _fail(c, ERROR_ACCESS_DENIED)
    db = database(c.machine)
    start = c.u32(resume) if resume else 0
    wanted = []
    for i, r in enumerate(db.records):
        if i < start or not r.type & stype:
            continue
        active = r.state != SERVICE_STOPPED
        if (sstate == SERVICE_ACTIVE and not active) or (sstate == SERVICE_INACTIVE and active):
            continue
        if group is not None and r.group.lower() != group.lower():
            continue
        wanted.append((i, r))
    ps = c.ptr_size
    fixed = (2 * ps + (36 if ex else 28) + ps - 1) & ~(ps - 1)
    unit = c.tchar_size()

    def enc(s: str) -> bytes:
        return c.encode_t(s) + bytes(unit)

    # the room an entry takes: what the wide call needs (A and W report the same size, as Windows does)
    def room(r) -> int:
        return fixed + 2 * (len(r.name) + 1) + 2 * (len(r.display) + 1)

    top = buf + size if buf else 0
    pos = buf
    n = 0
    for k, (i, r) in enumerate(wanted):
        name_b, disp_b = enc(r.name), enc(r.display)
        if not buf or fixed + len(name_b) + len(disp_b) > top - pos:
            rest = sum(room(x) for _j, x in wanted[k:])
            c.write_u32(needed, rest)
            c.write_u32(returned, n)
            if resume:
                c.write_u32(resume, i)
            return _fail(c, ERROR_MORE_DATA)
        top -= len(name_b)
        c.write(top, name_b)
        name_at = top
        top -= len(disp_b)
        c.write(top, disp_b)
        disp_at = top
        c.write(pos, struct.pack("<II" if ps == 4 else "<QQ", name_at, disp_at) + r.status(ex=ex))
        pos += fixed
        n += 1
    c.write_u32(returned, n)
    if resume:
        c.write_u32(resume, 0)
    c.set_last_error(0)
    return 1


@api(ADV, "BOOL WINAPI EnumServicesStatus%(SC_HANDLE hSCManager, DWORD dwServiceType, DWORD dwServiceState, "
          "LPVOID lpServices, DWORD cbBufSize, LPDWORD pcbBytesNeeded, LPDWORD lpServicesReturned, "
          "LPDWORD lpResumeHandle)")
def EnumServicesStatus(c, h, stype, sstate, buf, size, needed, returned, resume):
    return _enum(c, h, stype, sstate, buf, size, needed, returned, resume, None, ex=False)


@api(ADV, "BOOL WINAPI EnumServicesStatusEx%(SC_HANDLE hSCManager, DWORD InfoLevel, DWORD dwServiceType, "
          "DWORD dwServiceState, LPBYTE lpServices, DWORD cbBufSize, LPDWORD pcbBytesNeeded, "
          "LPDWORD lpServicesReturned, LPDWORD lpResumeHandle, LPCTSTR pszGroupName)")
def EnumServicesStatusEx(c, h, level, stype, sstate, buf, size, needed, returned, resume, group):
    if level != SC_ENUM_PROCESS_INFO:
        return _fail(c, ERROR_INVALID_LEVEL)
    return _enum(c, h, stype, sstate, buf, size, needed, returned, resume, group, ex=True)


# --------------------------------------------------------------------------------------- configuration
def _multi(c, items: list[str]) -> bytes:
    unit = c.tchar_size()
    return b"".join(c.encode_t(s) + bytes(unit) for s in items) + bytes(unit)


@api(ADV, "BOOL WINAPI QueryServiceConfig%(SC_HANDLE hService, LPVOID lpServiceConfig, DWORD cbBufSize, "
          "LPDWORD pcbBytesNeeded)")
def QueryServiceConfig(c, h, buf, size, needed):
    rec, err = _service(c, h, SERVICE_QUERY_CONFIG)
    if rec is None:
        return _fail(c, err)
    if not needed:
        return _fail(c, ERROR_INVALID_ADDRESS)
    ps = c.ptr_size
    unit = c.tchar_size()
    strings = [c.encode_t(rec.image) + bytes(unit), c.encode_t(rec.group) + bytes(unit),
               _multi(c, rec.depends) if rec.depends else bytes(2 * unit),
               c.encode_t(rec.account) + bytes(unit), c.encode_t(rec.display) + bytes(unit)]
    fixed = 36 if ps == 4 else 64
    total = fixed + sum((len(s) + ps - 1) & ~(ps - 1) for s in strings)
    if size < total or not buf:
        c.write_u32(needed, total)
        return _fail(c, ERROR_INSUFFICIENT_BUFFER)
    ptrs, pos = [], buf + fixed
    for s in strings:
        c.write(pos, s)
        ptrs.append(pos)
        pos += (len(s) + ps - 1) & ~(ps - 1)
    if ps == 4:
        head = struct.pack("<9I", rec.type, rec.start, rec.error_control, ptrs[0], ptrs[1],
                           rec.tag, ptrs[2], ptrs[3], ptrs[4])
    else:
        head = struct.pack("<3I4xQQI4xQQQ", rec.type, rec.start, rec.error_control, ptrs[0], ptrs[1], rec.tag,
                           ptrs[2], ptrs[3], ptrs[4])
    c.write(buf, head)
    c.write_u32(needed, total)
    return 1


@api(ADV, "BOOL WINAPI QueryServiceConfig2%(SC_HANDLE hService, DWORD dwInfoLevel, LPBYTE lpBuffer, "
          "DWORD cbBufSize, LPDWORD pcbBytesNeeded)")
def QueryServiceConfig2(c, h, level, buf, size, needed):
    rec, err = _service(c, h, SERVICE_QUERY_CONFIG)
    if rec is None:
        return _fail(c, err)
    ps = c.ptr_size
    if level == SERVICE_CONFIG_DESCRIPTION:
        text = c.encode_t(rec.description) + bytes(c.tchar_size()) if rec.description is not None else b""
        total = ps + len(text)
    elif level == SERVICE_CONFIG_DELAYED_AUTO_START_INFO:
        total = 4
    elif level in CONFIG2_OTHER_LEVELS:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, f"QueryServiceConfig2 level {level} (only the description and delayed auto-start)")
    else:
        return _fail(c, ERROR_INVALID_LEVEL)
    if not needed:
        return _fail(c, ERROR_INVALID_ADDRESS)
    c.write_u32(needed, total)
    if size < total or not buf:
        return _fail(c, ERROR_INSUFFICIENT_BUFFER)
    if level == SERVICE_CONFIG_DESCRIPTION:
        c.write_ptr(buf, buf + ps if text else 0)
        if text:
            c.write(buf + ps, text)
    else:
        c.write_u32(buf, 1 if rec.delayed else 0)
    return 1


def _name_lookup(c, h, given, out, cch, find, result):
    """GetServiceDisplayName / GetServiceKeyName. The wide form takes and returns sizes in characters; the
    ANSI one reports the size the wide string would take in bytes (twice its length) when the buffer is too
    small, as Windows does (Wine's conformance tests, recorded on Windows)."""
    if _handle(c, h, "manager") is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    if not cch:
        return _fail(c, ERROR_INVALID_ADDRESS)
    size = c.u32(cch)
    unit = c.tchar_size()
    if given is None:
        return _fail(c, ERROR_INVALID_ADDRESS)
    rec = find(given) if given else None
    if rec is None:
        if c.wide:
            if size < 2:
                c.write_u32(cch, 2)
            elif out:
                c.write(out, b"\0\0")
        elif out and size >= 1:
            c.write(out, b"\0")
        else:
            c.write_u32(cch, 1)
        return _fail(c, ERROR_SERVICE_DOES_NOT_EXIST)
    text = result(rec)
    data = c.encode_t(text)
    n = len(data) // unit
    if not out or size <= n:
        if out and size:
            c.write(out, bytes(unit))
        c.write_u32(cch, n if c.wide else 2 * len(text))
        return _fail(c, ERROR_INSUFFICIENT_BUFFER)
    c.write(out, data + bytes(unit))
    if c.wide:
        c.write_u32(cch, n)
    return 1


@api(ADV, "BOOL WINAPI GetServiceDisplayName%(SC_HANDLE hSCManager, LPCTSTR lpServiceName, LPTSTR lpDisplayName, "
          "LPDWORD lpcchBuffer)")
def GetServiceDisplayName(c, h, name, out, cch):
    db = database(c.machine)
    return _name_lookup(c, h, name, out, cch, lambda n: db.find(n) if _valid_name(n) else None,
                        lambda r: r.display)


@api(ADV, "BOOL WINAPI GetServiceKeyName%(SC_HANDLE hSCManager, LPCTSTR lpDisplayName, LPTSTR lpServiceName, "
          "LPDWORD lpcchBuffer)")
def GetServiceKeyName(c, h, display, out, cch):
    db = database(c.machine)
    return _name_lookup(c, h, display, out, cch, db.find_display, lambda r: r.name)


# ----------------------------------------------------------------------------------- control and changes
def _attempt(c, what: str, service: str | None, error: int, **data) -> None:
    """A change to the services the program attempted (the report's behaviour summary lists them)."""
    c.machine.events.emit(ev.BEHAVIOUR, "service_change", c.proc.pid, c.thread.tid, api=c.name, action=what,
                          service=service, error=error, **data)


@api(ADV, "BOOL WINAPI ControlService(SC_HANDLE hService, DWORD dwControl, LPVOID lpServiceStatus)")
def ControlService(c, h, control, out):
    obj = _handle(c, h, "service")
    if obj is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    if control == SERVICE_CONTROL_STOP:
        right = SERVICE_STOP
    elif control in (SERVICE_CONTROL_PAUSE, SERVICE_CONTROL_CONTINUE) or 6 <= control <= 10:
        right = SERVICE_PAUSE_CONTINUE
    elif control == SERVICE_CONTROL_INTERROGATE:
        right = SERVICE_INTERROGATE
    elif 128 <= control <= 255:
        right = SERVICE_USER_DEFINED_CONTROL
    else:
        return _fail(c, ERROR_INVALID_PARAMETER)
    rec = obj.record
    if not obj.access & right:
        if control != SERVICE_CONTROL_INTERROGATE:
            _attempt(c, "stop" if control == SERVICE_CONTROL_STOP else f"control {control}", rec.name,
                     ERROR_ACCESS_DENIED)
        return _fail(c, ERROR_ACCESS_DENIED)
    if not out:
        return _fail(c, ERROR_INVALID_ADDRESS)
    if rec.state == SERVICE_STOPPED:
        c.write(out, rec.status())
        return _fail(c, ERROR_SERVICE_NOT_ACTIVE)
    if control == SERVICE_CONTROL_INTERROGATE:
        c.write(out, rec.status())     # the service reports the state it is in
        c.set_last_error(0)
        return 1
    from winhatch.win32.ntdll.seh import raise_unsupported
    raise_unsupported(c, f"ControlService({rec.name}, {control}): sending a control to a running service "
                         "(an administrator's stop or the service's own control handler)")


@api(ADV, "BOOL WINAPI StartService%(SC_HANDLE hService, DWORD dwNumServiceArgs, LPCTSTR *lpServiceArgVectors)")
def StartService(c, h, argc, argv):
    obj = _handle(c, h, "service")
    if obj is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    rec = obj.record
    if not obj.access & SERVICE_START:
        _attempt(c, "start", rec.name, ERROR_ACCESS_DENIED)
        return _fail(c, ERROR_ACCESS_DENIED)
    if rec.state != SERVICE_STOPPED:
        return _fail(c, ERROR_SERVICE_ALREADY_RUNNING)
    if rec.start == SERVICE_DISABLED:
        return _fail(c, ERROR_SERVICE_DISABLED)
    from winhatch.win32.ntdll.seh import raise_unsupported
    raise_unsupported(c, f"StartService({rec.name}): starting a service process")


@api(ADV, "SC_HANDLE WINAPI CreateService%(SC_HANDLE hSCManager, LPCTSTR lpServiceName, LPCTSTR lpDisplayName, "
          "DWORD dwDesiredAccess, DWORD dwServiceType, DWORD dwStartType, DWORD dwErrorControl, "
          "LPCTSTR lpBinaryPathName, LPCTSTR lpLoadOrderGroup, LPDWORD lpdwTagId, LPCTSTR lpDependencies, "
          "LPCTSTR lpServiceStartName, LPCTSTR lpPassword)")
def CreateService(c, hscm, name, display, access, stype, start, errctl, path, group, tag, deps, account, pw):
    obj = _handle(c, hscm, "manager")
    if obj is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    if name is None or path is None:
        return _fail(c, ERROR_INVALID_ADDRESS)
    if not obj.access & SC_MANAGER_CREATE_SERVICE:
        _attempt(c, "create", name, ERROR_ACCESS_DENIED, display_name=display, binary_path=path,
                 service_type=stype, start_type=start)
        return _fail(c, ERROR_ACCESS_DENIED)
    from winhatch.win32.ntdll.seh import raise_unsupported
    raise_unsupported(c, f"CreateService({name!r}) by an administrator")


@api(ADV, "BOOL WINAPI DeleteService(SC_HANDLE hService)")
def DeleteService(c, h):
    obj = _handle(c, h, "service")
    if obj is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    if not obj.access & DELETE:
        _attempt(c, "delete", obj.record.name, ERROR_ACCESS_DENIED)
        return _fail(c, ERROR_ACCESS_DENIED)
    from winhatch.win32.ntdll.seh import raise_unsupported
    raise_unsupported(c, f"DeleteService({obj.record.name}) by an administrator")


@api(ADV, "BOOL WINAPI ChangeServiceConfig%(SC_HANDLE hService, DWORD dwServiceType, DWORD dwStartType, "
          "DWORD dwErrorControl, LPCTSTR lpBinaryPathName, LPCTSTR lpLoadOrderGroup, LPDWORD lpdwTagId, "
          "LPCTSTR lpDependencies, LPCTSTR lpServiceStartName, LPCTSTR lpPassword, LPCTSTR lpDisplayName)")
def ChangeServiceConfig(c, h, stype, start, errctl, path, group, tag, deps, account, pw, display):
    obj = _handle(c, h, "service")
    if obj is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    if not obj.access & SERVICE_CHANGE_CONFIG:
        _attempt(c, "change config", obj.record.name, ERROR_ACCESS_DENIED, binary_path=path,
                 start_type=start if start != 0xFFFFFFFF else None)
        return _fail(c, ERROR_ACCESS_DENIED)
    from winhatch.win32.ntdll.seh import raise_unsupported
    raise_unsupported(c, f"ChangeServiceConfig({obj.record.name}) by an administrator")
