"""advapi32's classic event log API, as a standard user sees it: OpenEventLog, RegisterEventSource, ReportEvent,
DeregisterEventSource, CloseEventLog, GetNumberOfEventLogRecords, GetOldestEventLogRecord, ReadEventLog,
ClearEventLog.

On Windows these are RPC calls (MS-EVEN, the \\PIPE\\eventlog endpoint) to the Windows Event Log service
(svchost.exe -k LocalServiceNetworkRestricted), and the handles are the client's RPC context handles, not
kernel handles. winhatch has no event log service process: the logs are machine-wide state of this layer
(EventLogService, machine.subsystem["eventlog"]) — the classic logs named under
HKLM\\SYSTEM\\CurrentControlSet\\Services\\EventLog (Application, System, Security), each a list of records —
and a handle is a small block in the process heap that the process's table maps to its log.

What a standard user may do, as the logs' default channel access on Windows 10 grants it (Microsoft's
"Event Logging Security": the ELF_LOGFILE_READ/WRITE/CLEAR rights of USER_RIGHTS and ADMIN_RIGHTS below):
- open the Application and System logs for reading, and register a source of the Application log and write
  events (a source not registered under any log writes to Application, as documented for an unknown log name
  too);
- not register a source of the System or Security log, nor open the Security log (ERROR_ACCESS_DENIED);
- not clear a log (ClearEventLog: ERROR_ACCESS_DENIED).
An administrator (a token in the Administrators group) may clear a log; backing one up is not modelled and
stops loudly.

The logs start empty (the machine's past events are not invented); what the program writes is there to read
back, as EVENTLOGRECORDs. Every ReportEvent is a behaviour event "eventlog_write" (log, source, type, event id,
strings) and every ClearEventLog attempt an "eventlog_clear" (log, the error): the report's behaviour summary
lists them under event_log — malware writes fake entries and clears logs to hide.
"""
from __future__ import annotations

import struct

from winhatch.kernel import events as ev
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import heap_alloc, heap_free

ADV = "advapi32.dll"
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_HANDLE = 6
ERROR_HANDLE_EOF = 38
ERROR_INVALID_PARAMETER = 87
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_INVALID_ADDRESS = 487

ELF_LOGFILE_READ, ELF_LOGFILE_WRITE, ELF_LOGFILE_CLEAR = 0x1, 0x2, 0x4
#: the logs' access (Microsoft's "Event Logging Security"): Interactive Users read and write the Application
#: log and read the System log; only administrators clear; the Security log needs SE_SECURITY_NAME (which a
#: standard user does not hold) to read or clear and only the LSA writes it
USER_RIGHTS = {"application": ELF_LOGFILE_READ | ELF_LOGFILE_WRITE, "system": ELF_LOGFILE_READ, "security": 0}
ADMIN_RIGHTS = {"application": 0x7, "system": 0x7, "security": ELF_LOGFILE_READ | ELF_LOGFILE_CLEAR}
EVENTLOG_SEQUENTIAL_READ, EVENTLOG_SEEK_READ = 0x1, 0x2
EVENTLOG_FORWARDS_READ, EVENTLOG_BACKWARDS_READ = 0x4, 0x8
LOG_SIGNATURE = 0x654C664C          # "LfLe"
MAX_STRING_CHARS = 31839           # ReportEvent: "each string is limited to 31,839 characters"
MAX_STRINGS = 0xFFFF
MAX_DATA = 0x3FFFF                 # a record's raw data stays under the file format's record size
MAX_RECORDS = 100_000              # per log, in memory (the oldest go, as a log that overwrites as needed)
EVENTLOG_KEY = ("MACHINE", "SYSTEM", "CurrentControlSet", "Services", "EventLog")
STANDARD_LOGS = ("Application", "Security", "System")
UNIX_EPOCH_FILETIME = 116444736000000000


class EventLogService:
    """The event log service's logs and the source → log registrations it read from the registry."""

    def __init__(self, machine):
        self.machine = machine
        self.logs: dict[str, dict] = {}
        self.sources: dict[str, str] = {}
        from winhatch.win32.advapi32.service_scm import _services_key
        services = _services_key(machine.registry)
        root = services.subkey("EventLog") if services is not None else None
        names = root.subkey_names() if root is not None else []
        for log in list(STANDARD_LOGS) + [n for n in names if n not in STANDARD_LOGS]:
            self.logs[log.lower()] = {"name": log, "records": [], "oldest": 1, "next": 1}
            key = root.subkey(log) if root is not None else None
            for src in (key.subkey_names() if key is not None else [])[:10_000]:
                self.sources.setdefault(src.lower(), log)

    def log(self, name: str) -> dict:
        return self.logs.get(name.lower()) or self.logs["application"]

    def log_of_source(self, source: str) -> dict:
        return self.log(self.sources.get(source.lower(), "Application"))

    def append(self, log: dict, rec: dict) -> int:
        rec["number"] = log["next"]
        log["next"] += 1
        log["records"].append(rec)
        if len(log["records"]) > MAX_RECORDS:
            log["records"].pop(0)
            log["oldest"] = log["records"][0]["number"]
        return rec["number"]


def service(machine) -> EventLogService:
    s = machine.subsystem.get("eventlog")
    if s is None:
        s = machine.subsystem["eventlog"] = EventLogService(machine)
    return s


class _Handle:
    __slots__ = ("kind", "log", "source", "pos")

    def __init__(self, kind, log, source=None):
        self.kind, self.log, self.source, self.pos = kind, log, source, None


def _table(c) -> dict:
    return c.proc.subsystem.setdefault("eventlog_handles", {})


def _new(c, obj: _Handle) -> int:
    addr = heap_alloc(c, 16)
    if addr:
        c.write(addr, struct.pack("<4I", 0x474F4C45, 0, 0, 0))
        _table(c)[addr] = obj
    return addr


def _fail(c, code: int) -> int:
    c.set_last_error(code)
    return 0


def _is_admin(c) -> bool:
    from winhatch.win32.advapi32.service_scm import _is_admin as admin
    return admin(c)


def _rights(c, log: dict) -> int:
    """What the log's security grants the caller: USER_RIGHTS for a standard user, ADMIN_RIGHTS for a member
    of Administrators (custom logs as Application)."""
    table = ADMIN_RIGHTS if _is_admin(c) else USER_RIGHTS
    return table.get(log["name"].lower(), table["application"])


def _check_server(c, server):
    if server:
        name = server.lstrip("\\").lower()
        if name not in (c.machine.profile.host_name.lower(), ".", "localhost"):
            from winhatch.win32.ntdll.seh import raise_unsupported
            raise_unsupported(c, f"the event log of a remote machine ({server!r}): no network RPC")


@api(ADV, "HANDLE WINAPI OpenEventLog%(LPCTSTR lpUNCServerName, LPCTSTR lpSourceName)")
def OpenEventLog(c, server, name):
    _check_server(c, server)
    if name is None:
        return _fail(c, ERROR_INVALID_PARAMETER)
    svc = service(c.machine)
    log = svc.log(name)
    if not _rights(c, log) & ELF_LOGFILE_READ:
        return _fail(c, ERROR_ACCESS_DENIED)
    h = _new(c, _Handle("read", log))
    c.set_last_error(0)
    return h


@api(ADV, "HANDLE WINAPI RegisterEventSource%(LPCTSTR lpUNCServerName, LPCTSTR lpSourceName)")
def RegisterEventSource(c, server, source):
    _check_server(c, server)
    if source is None:
        return _fail(c, ERROR_INVALID_PARAMETER)
    svc = service(c.machine)
    log = svc.log_of_source(source)
    if not _rights(c, log) & ELF_LOGFILE_WRITE:
        return _fail(c, ERROR_ACCESS_DENIED)
    h = _new(c, _Handle("source", log, source))
    c.set_last_error(0)
    return h


def _close(c, h, kind):
    obj = _table(c).get(h)
    if obj is None or obj.kind != kind:
        return _fail(c, ERROR_INVALID_HANDLE)
    del _table(c)[h]
    heap_free(c, h)
    return 1


@api(ADV, "BOOL WINAPI DeregisterEventSource(HANDLE hEventLog)")
def DeregisterEventSource(c, h):
    return _close(c, h, "source")


@api(ADV, "BOOL WINAPI CloseEventLog(HANDLE hEventLog)")
def CloseEventLog(c, h):
    return _close(c, h, "read")


def _sid_bytes(c, sid: int) -> bytes:
    if not sid:
        return b""
    head = c.read(sid, 8)
    count = head[1]
    if head[0] != 1 or count > 15:
        raise ValueError("not a SID")
    return head + c.read(sid + 8, 4 * count)


@api(ADV, "BOOL WINAPI ReportEvent%(HANDLE hEventLog, WORD wType, WORD wCategory, DWORD dwEventID, PSID lpUserSid, "
          "WORD wNumStrings, DWORD dwDataSize, const void *lpStrings, LPVOID lpRawData)")
def ReportEvent(c, h, etype, category, event_id, sid, nstrings, data_size, strings, raw):
    obj = _table(c).get(h)
    if obj is None or obj.kind != "source":
        return _fail(c, ERROR_INVALID_HANDLE)
    if (nstrings and not strings) or (data_size and not raw) or data_size > MAX_DATA:
        return _fail(c, ERROR_INVALID_PARAMETER)
    texts = []
    for i in range(nstrings & MAX_STRINGS):
        p = c.ptr(strings + i * c.ptr_size)
        s = (c.wstr(p, MAX_STRING_CHARS + 1) if c.wide else c.astr(p)) if p else ""
        if s is None or len(s) > MAX_STRING_CHARS:
            return _fail(c, ERROR_INVALID_PARAMETER)
        texts.append(s)
    try:
        sid_b = _sid_bytes(c, sid)
    except ValueError:
        return _fail(c, ERROR_INVALID_PARAMETER)
    data = c.read(raw, data_size) if data_size else b""
    now = (c.machine.clock.system_time() - UNIX_EPOCH_FILETIME) // 10_000_000
    rec = {"time": now, "event_id": event_id, "type": etype, "category": category, "source": obj.source,
           "computer": c.machine.profile.host_name.upper(), "sid": sid_b, "strings": texts, "data": data}
    number = service(c.machine).append(obj.log, rec)
    c.machine.events.emit(ev.BEHAVIOUR, "eventlog_write", c.proc.pid, c.thread.tid, log=obj.log["name"],
                          source=obj.source, type=etype, category=category, event_id=event_id,
                          strings=[s[:512] for s in texts[:16]], data_size=data_size, record=number)
    return 1


@api(ADV, "BOOL WINAPI GetNumberOfEventLogRecords(HANDLE hEventLog, PDWORD NumberOfRecords)")
def GetNumberOfEventLogRecords(c, h, out):
    obj = _table(c).get(h)
    if obj is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    if not out:
        return _fail(c, ERROR_INVALID_ADDRESS)
    c.write_u32(out, len(obj.log["records"]))
    return 1


@api(ADV, "BOOL WINAPI GetOldestEventLogRecord(HANDLE hEventLog, PDWORD OldestRecord)")
def GetOldestEventLogRecord(c, h, out):
    obj = _table(c).get(h)
    if obj is None:
        return _fail(c, ERROR_INVALID_HANDLE)
    if not out:
        return _fail(c, ERROR_INVALID_ADDRESS)
    recs = obj.log["records"]
    c.write_u32(out, recs[0]["number"] if recs else 0)
    return 1


def _record_bytes(c, rec: dict) -> bytes:
    """An EVENTLOGRECORD (winnt.h): the fixed part, source and computer names, the SID (DWORD-aligned), the
    strings, the data, padding to a DWORD, and the length again."""
    unit = c.tchar_size()

    def t(s: str) -> bytes:
        return c.encode_t(s) + bytes(unit)

    body = t(rec["source"]) + t(rec["computer"])
    sid_off = 56 + len(body)
    sid_off = (sid_off + 3) & ~3
    body = body.ljust(sid_off - 56, b"\0") + rec["sid"]
    str_off = 56 + len(body)
    body += b"".join(t(s) for s in rec["strings"])
    data_off = 56 + len(body)
    body += rec["data"]
    total = (56 + len(body) + 3) & ~3
    length = total + 4
    body = body.ljust(total - 56, b"\0")
    head = struct.pack("<6I4H6I", length, LOG_SIGNATURE, rec["number"], rec["time"], rec["time"],
                       rec["event_id"] & 0xFFFFFFFF, rec["type"] & 0xFFFF, len(rec["strings"]),
                       rec["category"] & 0xFFFF, 0, 0, str_off, len(rec["sid"]), sid_off if rec["sid"] else 0,
                       len(rec["data"]), data_off)
    return head + body + struct.pack("<I", length)


@api(ADV, "BOOL WINAPI ReadEventLog%(HANDLE hEventLog, DWORD dwReadFlags, DWORD dwRecordOffset, LPVOID lpBuffer, "
          "DWORD nNumberOfBytesToRead, DWORD *pnBytesRead, DWORD *pnMinNumberOfBytesNeeded)")
def ReadEventLog(c, h, flags, offset, buf, size, nread, nneeded):
    obj = _table(c).get(h)
    if obj is None or obj.kind != "read":
        return _fail(c, ERROR_INVALID_HANDLE)
    seq, seek = flags & EVENTLOG_SEQUENTIAL_READ, flags & EVENTLOG_SEEK_READ
    fwd, bwd = flags & EVENTLOG_FORWARDS_READ, flags & EVENTLOG_BACKWARDS_READ
    if bool(seq) == bool(seek) or bool(fwd) == bool(bwd) or flags & ~0xF:
        return _fail(c, ERROR_INVALID_PARAMETER)
    if not nread or not nneeded:
        return _fail(c, ERROR_INVALID_ADDRESS)
    c.write_u32(nread, 0)
    c.write_u32(nneeded, 0)
    recs = obj.log["records"]
    numbers = [r["number"] for r in recs]
    if seek:
        if offset not in numbers:
            return _fail(c, ERROR_INVALID_PARAMETER)
        idx = numbers.index(offset)
    elif obj.pos is None:
        idx = 0 if fwd else len(recs) - 1
    else:
        idx = next((i for i, n in enumerate(numbers) if n == obj.pos), None)
        if idx is None:      # the next record was cleared away: continue at the oldest/newest there is
            idx = next((i for i, n in enumerate(numbers) if n > obj.pos), len(recs)) if fwd else \
                max((i for i, n in enumerate(numbers) if n < obj.pos), default=-1)
    step = 1 if fwd else -1
    out = b""
    while 0 <= idx < len(recs):
        data = _record_bytes(c, recs[idx])
        if len(out) + len(data) > size or not buf:
            if not out:
                c.write_u32(nneeded, len(data))
                return _fail(c, ERROR_INSUFFICIENT_BUFFER)
            break
        out += data
        idx += step
    if not out:
        return _fail(c, ERROR_HANDLE_EOF)
    c.write(buf, out)
    c.write_u32(nread, len(out))
    obj.pos = recs[idx]["number"] if 0 <= idx < len(recs) else (obj.log["next"] if fwd else 0)
    return 1


@api(ADV, "BOOL WINAPI ClearEventLog%(HANDLE hEventLog, LPCTSTR lpBackupFileName)")
def ClearEventLog(c, h, backup):
    obj = _table(c).get(h)
    if obj is None or obj.kind != "read":
        return _fail(c, ERROR_INVALID_HANDLE)
    admin = bool(_rights(c, obj.log) & ELF_LOGFILE_CLEAR)
    error = 0 if admin else ERROR_ACCESS_DENIED
    c.machine.events.emit(ev.BEHAVIOUR, "eventlog_clear", c.proc.pid, c.thread.tid, log=obj.log["name"],
                          backup=backup, error=error, records=len(obj.log["records"]))
    if not admin:
        return _fail(c, ERROR_ACCESS_DENIED)
    if backup:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, "ClearEventLog with a backup file (BackupEventLog's .evt format)")
    obj.log["records"].clear()
    return 1
