"""advapi32 / kernelbase registry functions over winhatch's registry (winhatch/kernel/cm/registry.py).

Windows semantics:
- Every function returns an LSTATUS, a Win32 error code (ERROR_SUCCESS = 0); none sets the last error.
- The predefined keys HKEY_CLASSES_ROOT (0x80000000), HKEY_CURRENT_USER (0x80000001), HKEY_LOCAL_MACHINE
  (0x80000002), HKEY_USERS (0x80000003) and HKEY_CURRENT_CONFIG (0x80000005) are recognised by the low 32
  bits of the handle (an x64 program passes them sign-extended: 0xFFFFFFFF80000002); as advapi32 does, the
  first use of one opens its root once per process and caches it. Closing a predefined key succeeds and
  does nothing.
- Every other key is a real handle in the process handle table: a kernel object of type "Key" wrapping the
  RegKey, with its granted access (KEY_QUERY_VALUE for queries, KEY_SET_VALUE for changes,
  KEY_ENUMERATE_SUB_KEYS for RegEnumKeyEx, KEY_NOTIFY for RegNotifyChangeKeyValue); CloseHandle / NtClose
  close it like any handle. A key deleted while open answers ERROR_KEY_DELETED (1018).
- An x86 process sees the WoW64 view (HKLM\\SOFTWARE\\X → HKLM\\SOFTWARE\\WOW6432Node\\X, except the shared
  keys) unless it asks for KEY_WOW64_64KEY; an x64 process gets the 32-bit view with KEY_WOW64_32KEY.
- Value data is stored as Windows stores it (strings as UTF-16LE); the ANSI functions convert REG_SZ,
  REG_EXPAND_SZ and REG_MULTI_SZ through the ANSI code page, sizes included.

Every access is an event of category "registry" (op, path, value, status: the NTSTATUS, error: the Win32
code returned) and an entry of the registry's access log, which the JSON report lists (`registry`). Opening,
creating and deleting keys are logged by the registry itself; value operations and enumeration are logged
here.

The native layer (NtOpenKey, NtQueryValueKey, ...) is not declared: Wine's reg.exe, regedit.exe and
cmd.exe, the programs this was written against, import only the advapi32 functions.
"""
from __future__ import annotations

from winhatch.kernel import events as ev
from winhatch.kernel.cm.registry import (REG_EXPAND_SZ, REG_MULTI_SZ, REG_SZ, RegKey, REG_BINARY, REG_DWORD,
                                         REG_NONE, REG_QWORD)
from winhatch.kernel.ke.dispatcher import ProcessExit
from winhatch.kernel.ob import KObject
from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED, NtStatusError, nt_to_win32
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import sa_inherit, write_filetime
from winhatch.win32.kernel32.env import expand

ADV = ("advapi32.dll", "kernelbase.dll", "kernel32.dll")   # exported by all three
ADV_ONLY = "advapi32.dll"                                    # the old functions: advapi32 only

ERROR_SUCCESS = 0
ERROR_FILE_NOT_FOUND = 2
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_HANDLE = 6
ERROR_INVALID_PARAMETER = 87
ERROR_MORE_DATA = 234
ERROR_NO_MORE_ITEMS = 259
ERROR_NOACCESS = 998
ERROR_KEY_DELETED = 1018
ERROR_DATATYPE_MISMATCH = 1629
ERROR_UNSUPPORTED_TYPE = 1630

HKEY_CLASSES_ROOT = 0x80000000
HKEY_CURRENT_USER = 0x80000001
HKEY_LOCAL_MACHINE = 0x80000002
HKEY_USERS = 0x80000003
HKEY_PERFORMANCE_DATA = 0x80000004
HKEY_CURRENT_CONFIG = 0x80000005
HKEY_DYN_DATA = 0x80000006
PREDEFINED = {HKEY_CLASSES_ROOT: "HKEY_CLASSES_ROOT", HKEY_CURRENT_USER: "HKEY_CURRENT_USER",
              HKEY_LOCAL_MACHINE: "HKEY_LOCAL_MACHINE", HKEY_USERS: "HKEY_USERS",
              HKEY_CURRENT_CONFIG: "HKEY_CURRENT_CONFIG"}

KEY_QUERY_VALUE = 0x0001
KEY_SET_VALUE = 0x0002
KEY_CREATE_SUB_KEY = 0x0004
KEY_ENUMERATE_SUB_KEYS = 0x0008
KEY_NOTIFY = 0x0010
KEY_WOW64_64KEY = 0x0100
KEY_WOW64_32KEY = 0x0200
DELETE = 0x00010000
MAXIMUM_ALLOWED = 0x02000000

REG_OPTION_VOLATILE = 0x1
REG_OPTION_OPEN_LINK = 0x8
REG_CREATED_NEW_KEY = 1
REG_OPENED_EXISTING_KEY = 2

RRF_RT_REG_NONE = 0x01
RRF_RT_REG_SZ = 0x02
RRF_RT_REG_EXPAND_SZ = 0x04
RRF_RT_REG_BINARY = 0x08
RRF_RT_REG_DWORD = 0x10
RRF_RT_REG_MULTI_SZ = 0x20
RRF_RT_REG_QWORD = 0x40
RRF_RT_DWORD = RRF_RT_REG_BINARY | RRF_RT_REG_DWORD
RRF_RT_QWORD = RRF_RT_REG_BINARY | RRF_RT_REG_QWORD
RRF_RT_ANY = 0xFFFF
RRF_SUBKEY_WOW6464KEY = 0x00010000
RRF_SUBKEY_WOW6432KEY = 0x00020000
RRF_NOEXPAND = 0x10000000
RRF_ZEROONFAILURE = 0x20000000
_RRF_MASK = {REG_NONE: RRF_RT_REG_NONE, REG_SZ: RRF_RT_REG_SZ, REG_EXPAND_SZ: RRF_RT_REG_EXPAND_SZ,
             REG_BINARY: RRF_RT_REG_BINARY, REG_DWORD: RRF_RT_REG_DWORD, REG_MULTI_SZ: RRF_RT_REG_MULTI_SZ,
             REG_QWORD: RRF_RT_REG_QWORD}

REG_NOTIFY_CHANGE_NAME = 0x1
REG_NOTIFY_CHANGE_LAST_SET = 0x4

ANSI = "cp1252"   # the ANSI code page of the emulated system (as Call.encode_t)
_STRING_TYPES = (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ)


class KeyObject(KObject):
    """A registry key as the object manager sees it: what a key handle refers to."""
    type_name = "Key"

    def __init__(self, key: RegKey):
        super().__init__(None)
        self.key = key
        self.watchers: list[tuple[RegKey, bool, int, KObject]] = []

    def on_last_handle_close(self) -> None:
        # "If the key is closed, the event is signaled" (RegNotifyChangeKeyValue)
        for _, _, _, event in self.watchers:
            event.set()
            event.dereference()
        self.watchers.clear()


class _Fail(Exception):
    """A Win32 error code to return."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


# =========================================================================================== helpers
def _win32(e: NtStatusError) -> int:
    return nt_to_win32(e.status)


def _stop(c, why: str) -> None:
    """Fail loudly, as an unimplemented API does: the process stops with STATUS_NOT_IMPLEMENTED."""
    proc = c.proc
    where = proc.subsystem["images"].describe(c.ptr(c._sp)) if "images" in proc.subsystem else None
    msg = f"unimplemented: advapi32!{c.name} {why}" + (f" (called from {where})" if where else "")
    proc.subsystem.setdefault("unimplemented", []).append({"api": f"advapi32.dll!{c.name}", "caller": where})
    proc.stop_message = msg
    c.machine.events.emit(ev.API, "unimplemented", proc.pid, c.thread.tid, api=f"advapi32.dll!{c.name}",
                          caller=where, reason=why)
    raise ProcessExit(STATUS_NOT_IMPLEMENTED)


def _predefined_value(c, h: int) -> int | None:
    low = h & 0xFFFFFFFF
    if not 0x80000000 <= low <= 0x800000FF:
        return None
    if c.ptr_size == 8 and (h >> 32) not in (0, 0xFFFFFFFF):
        return None
    return low


def _predefined(c, low: int) -> RegKey:
    if low == HKEY_DYN_DATA:
        raise _Fail(ERROR_INVALID_HANDLE)   # Windows 9x only
    if low not in PREDEFINED:
        _stop(c, f"on predefined key 0x{low:08X} (performance data is not emulated)")
    cache = c.proc.subsystem.setdefault("reg_predefined", {})
    key = cache.get(low)
    if key is None or key.deleted:
        key = cache[low] = c.machine.registry.open_key(PREDEFINED[low])
    return key


def _key(c, h: int, access: int = 0) -> RegKey:
    """The RegKey behind a key handle (predefined keys included); raises _Fail with the error code."""
    low = _predefined_value(c, h)
    if low is not None:
        return _predefined(c, low)
    if not h:
        raise _Fail(ERROR_INVALID_HANDLE)
    try:
        obj = c.proc.handles.lookup(h, "Key", access)
    except NtStatusError as e:
        raise _Fail(_win32(e)) from None
    if obj.key.deleted:
        raise _Fail(ERROR_KEY_DELETED)
    return obj.key


def _wow64(c, sam: int) -> bool:
    """Does this access see the 32-bit view?"""
    if sam & KEY_WOW64_32KEY:
        return True
    return c.arch == "x86" and not sam & KEY_WOW64_64KEY


def _new_handle(c, key: RegKey, sam: int, inherit: bool = False) -> int:
    return c.proc.handles.insert(KeyObject(key), sam & ~(KEY_WOW64_32KEY | KEY_WOW64_64KEY), inherit=inherit)


# the NTSTATUS behind each Win32 code these functions log (the registry's own log entries carry NTSTATUS)
_NT_OF = {ERROR_SUCCESS: 0, ERROR_FILE_NOT_FOUND: 0xC0000034, ERROR_ACCESS_DENIED: 0xC0000022,
          ERROR_INVALID_HANDLE: 0xC0000008, ERROR_INVALID_PARAMETER: 0xC000000D, ERROR_NO_MORE_ITEMS: 0x8000001A,
          ERROR_KEY_DELETED: 0xC000017C}


def _event(c, op: str, path: str, error: int, value: str | None = None, *, log: bool = True) -> None:
    """The registry event and, for what the registry does not log itself (value operations, enumeration),
    the access-log entry the report reads: op, path, value, status (the NTSTATUS, as the registry's own
    entries) and error (the Win32 code the function returned)."""
    data = {"op": op, "path": path, "status": _NT_OF.get(error, 0xC0070000 | error), "error": error}
    if value is not None:
        data["value"] = value
    c.machine.events.emit(ev.REGISTRY, op, c.proc.pid, c.thread.tid, **data)
    reg = c.machine.registry
    if log and len(reg.log) < reg.log_limit:
        reg.log.append(dict(data))


def _path_of(c, h: int, sub: str | None = None) -> str:
    try:
        base = _key(c, h).path
    except (_Fail, NtStatusError):
        base = f"<handle 0x{h:X}>"
    return base + ("\\" + sub if sub else "")


def _peek(c, addr: int, n: int) -> bytes | None:
    try:
        return c.read(addr, n)
    except Exception:   # unmapped: nothing follows the caller's data
        return None


def _ansi(s: str) -> bytes:
    return s.encode(ANSI, "replace")


def _to_ansi_data(data: bytes) -> bytes:
    """UTF-16LE string data → the ANSI code page (every character, NULs included)."""
    if len(data) % 2:
        data = data[:-1]
    return _ansi(data.decode("utf-16-le", "replace"))


def _from_ansi_data(data: bytes) -> bytes:
    return data.decode(ANSI, "replace").encode("utf-16-le")


def _notify(c, key: RegKey, kind: int) -> None:
    """Signal the RegNotifyChangeKeyValue registrations that watch `key` for `kind` of change (each fires
    once, as on Windows: a program registers again after each notification)."""
    for entry in c.proc.handles.entries():
        obj = entry[1].obj
        if not isinstance(obj, KeyObject) or not obj.watchers:
            continue
        keep = []
        for w in obj.watchers:
            watched, subtree, flt, event = w
            k = key
            hit = False
            while k is not None:
                if k is watched:
                    hit = True
                    break
                if not subtree:
                    break
                k = k.parent
            if hit and flt & kind:
                event.set()
                event.dereference()
            else:
                keep.append(w)
        obj.watchers[:] = keep


# =========================================================================================== open / create
def _open(c, hkey: int, subkey: str | None, sam: int, options: int = 0) -> tuple[int, RegKey | None]:
    try:
        parent = _key(c, hkey)
    except _Fail as f:
        return f.code, None
    try:
        key = c.machine.registry.open_key(subkey or "", parent, wow64=_wow64(c, sam),
                                          open_link=bool(options & REG_OPTION_OPEN_LINK))
    except NtStatusError as e:
        code = _win32(e)
        _event(c, "open_key", parent.path + ("\\" + subkey if subkey else ""), code, log=False)
        return code, None
    _event(c, "open_key", key.path, 0, log=False)
    return 0, key


@api(ADV, "LSTATUS WINAPI RegOpenKeyEx%(HKEY hKey, LPCTSTR lpSubKey, DWORD ulOptions, REGSAM samDesired, "
          "PHKEY phkResult)")
def RegOpenKeyEx(c, hkey, subkey, options, sam, phk):
    if not phk:
        return ERROR_INVALID_PARAMETER
    c.write_ptr(phk, 0)
    code, key = _open(c, hkey, subkey, sam, options)
    if code:
        return code
    c.write_ptr(phk, _new_handle(c, key, sam))
    return ERROR_SUCCESS


@api(ADV_ONLY, "LSTATUS WINAPI RegOpenKey%(HKEY hKey, LPCTSTR lpSubKey, PHKEY phkResult)")
def RegOpenKey(c, hkey, subkey, phk):
    if not phk:
        return ERROR_INVALID_PARAMETER
    if not subkey:   # "the function returns the same handle that was passed in"
        c.write_ptr(phk, hkey)
        return ERROR_SUCCESS
    return RegOpenKeyEx(c, hkey, subkey, 0, MAXIMUM_ALLOWED, phk)


@api(ADV, "LSTATUS WINAPI RegOpenCurrentUser(REGSAM samDesired, PHKEY phkResult)")
def RegOpenCurrentUser(c, sam, phk):
    if not phk:
        return ERROR_INVALID_PARAMETER
    try:
        key = c.machine.registry.open_key("HKEY_CURRENT_USER")
    except NtStatusError as e:
        c.write_ptr(phk, 0)
        return _win32(e)
    c.write_ptr(phk, _new_handle(c, key, sam))
    return ERROR_SUCCESS


@api(ADV, "LSTATUS WINAPI RegCreateKeyEx%(HKEY hKey, LPCTSTR lpSubKey, DWORD Reserved, LPTSTR lpClass, "
          "DWORD dwOptions, REGSAM samDesired, LPSECURITY_ATTRIBUTES lpSecurityAttributes, PHKEY phkResult, "
          "LPDWORD lpdwDisposition)")
def RegCreateKeyEx(c, hkey, subkey, reserved, cls, options, sam, sa, phk, disp):
    if not phk:
        return ERROR_INVALID_PARAMETER
    c.write_ptr(phk, 0)
    try:
        parent = _key(c, hkey)
    except _Fail as f:
        return f.code
    shown = parent.path + ("\\" + subkey if subkey else "")
    try:
        key, created = c.machine.registry.create_key(subkey or "", parent, wow64=_wow64(c, sam),
                                                     intermediates=True,
                                                     volatile=bool(options & REG_OPTION_VOLATILE))
    except NtStatusError as e:
        code = _win32(e)
        _event(c, "create_key", shown, code, log=False)
        return code
    if created:
        if cls:
            key.class_name = c.tstr(cls) or ""
        _notify(c, key.parent, REG_NOTIFY_CHANGE_NAME)
    _event(c, "create_key", key.path, 0, log=False)
    c.write_ptr(phk, _new_handle(c, key, sam, sa_inherit(c, sa)))
    if disp:
        c.write_u32(disp, REG_CREATED_NEW_KEY if created else REG_OPENED_EXISTING_KEY)
    return ERROR_SUCCESS


@api(ADV_ONLY, "LSTATUS WINAPI RegCreateKey%(HKEY hKey, LPCTSTR lpSubKey, PHKEY phkResult)")
def RegCreateKey(c, hkey, subkey, phk):
    if not phk:
        return ERROR_INVALID_PARAMETER
    if not subkey:   # "phkResult receives the same handle passed in by hKey"
        c.write_ptr(phk, hkey)
        return ERROR_SUCCESS
    return RegCreateKeyEx(c, hkey, subkey, 0, 0, 0, MAXIMUM_ALLOWED, 0, phk, 0)


@api(ADV, "LSTATUS WINAPI RegCloseKey(HKEY hKey)")
def RegCloseKey(c, hkey):
    if not hkey:
        return ERROR_INVALID_HANDLE
    if _predefined_value(c, hkey) is not None:
        return ERROR_SUCCESS
    try:
        c.proc.handles.close(hkey)   # NtClose: any handle
    except NtStatusError as e:
        return _win32(e)
    return ERROR_SUCCESS


@api(ADV, "LSTATUS WINAPI RegFlushKey(HKEY hKey)")
def RegFlushKey(c, hkey):
    """The registry lives in memory: there is nothing to write back, only the handle to check."""
    try:
        _key(c, hkey)
    except _Fail as f:
        return f.code
    return ERROR_SUCCESS


# =========================================================================================== delete
def _delete(c, hkey: int, subkey: str | None, sam: int, *, tree: bool = False) -> int:
    if subkey is None and not tree:
        return ERROR_INVALID_PARAMETER
    code, key = _open(c, hkey, subkey, sam)
    if code:
        return code
    reg = c.machine.registry
    try:
        if tree and subkey is None:   # RegDeleteTree(hKey, NULL): the key's values and subkeys, not the key
            for name in key.subkey_names():
                reg.delete_key(key.subkey(name), recursive=True)
            for name in key.value_names():
                key.delete_value(name)
            _notify(c, key, REG_NOTIFY_CHANGE_NAME | REG_NOTIFY_CHANGE_LAST_SET)
            return ERROR_SUCCESS
        parent = key.parent
        reg.delete_key(key, recursive=tree)
    except NtStatusError as e:
        return _win32(e)
    _notify(c, parent, REG_NOTIFY_CHANGE_NAME)
    return ERROR_SUCCESS


@api(ADV_ONLY, "LSTATUS WINAPI RegDeleteKey%(HKEY hKey, LPCTSTR lpSubKey)")
def RegDeleteKey(c, hkey, subkey):
    return _delete(c, hkey, subkey, 0)


@api(ADV, "LSTATUS WINAPI RegDeleteKeyEx%(HKEY hKey, LPCTSTR lpSubKey, REGSAM samDesired, DWORD Reserved)")
def RegDeleteKeyEx(c, hkey, subkey, sam, reserved):
    return _delete(c, hkey, subkey, sam)


@api(ADV, "LSTATUS WINAPI RegDeleteTree%(HKEY hKey, LPCTSTR lpSubKey)")
def RegDeleteTree(c, hkey, subkey):
    return _delete(c, hkey, subkey, 0, tree=True)


@api(ADV, "LSTATUS WINAPI RegDeleteValue%(HKEY hKey, LPCTSTR lpValueName)")
def RegDeleteValue(c, hkey, name):
    try:
        key = _key(c, hkey, KEY_SET_VALUE)
        key.delete_value(name or "")
    except _Fail as f:
        _event(c, "delete_value", _path_of(c, hkey), f.code, name or "")
        return f.code
    except NtStatusError as e:
        _event(c, "delete_value", key.path, _win32(e), name or "")
        return _win32(e)
    _event(c, "delete_value", key.path, 0, name or "")
    _notify(c, key, REG_NOTIFY_CHANGE_LAST_SET)
    return ERROR_SUCCESS


# =========================================================================================== values
def _stored(c, key: RegKey, name: str | None, op: str) -> tuple[int, bytes]:
    try:
        t, data = key.query_value(name or "")
    except NtStatusError as e:
        _event(c, op, key.path, _win32(e), name or "")
        raise _Fail(_win32(e)) from None
    _event(c, op, key.path, 0, name or "")
    return t, data


def _as_seen(c, t: int, data: bytes) -> bytes:
    """The value's data as this (ANSI or wide) function returns it."""
    if not c.wide and t in _STRING_TYPES:
        return _to_ansi_data(data)
    return data


def _copy_out(c, t: int, data: bytes, buf: int, cap: int) -> int:
    """RegQueryValueEx's data convention for a non-NULL buffer of `cap` bytes: too small → ERROR_MORE_DATA
    (nothing copied); otherwise the data, plus a terminating NUL for a string value stored without one when
    the buffer has room for it (NT does this). The caller reports the data size either way."""
    if len(data) > cap:
        return ERROR_MORE_DATA
    c.write(buf, data)
    unit = 2 if c.wide else 1
    if t in _STRING_TYPES and data and len(data) + unit <= cap and data[-unit:] != bytes(unit):
        c.write(buf + len(data), bytes(unit))
    return ERROR_SUCCESS


@api(ADV, "LSTATUS WINAPI RegQueryValueEx%(HKEY hKey, LPCTSTR lpValueName, LPDWORD lpReserved, LPDWORD lpType, "
          "LPBYTE lpData, LPDWORD lpcbData)")
def RegQueryValueEx(c, hkey, name, reserved, ptype, buf, pcb):
    if (buf and not pcb) or reserved:
        return ERROR_INVALID_PARAMETER
    try:
        key = _key(c, hkey, KEY_QUERY_VALUE)
        t, data = _stored(c, key, name, "query_value")
    except _Fail as f:
        if f.code != ERROR_FILE_NOT_FOUND:
            _event(c, "query_value", _path_of(c, hkey), f.code, name or "")
        return f.code
    data = _as_seen(c, t, data)
    code = _copy_out(c, t, data, buf, c.u32(pcb)) if buf else ERROR_SUCCESS
    if ptype:
        c.write_u32(ptype, t)
    if pcb:
        c.write_u32(pcb, len(data))
    return code


@api(ADV, "LSTATUS WINAPI RegSetValueEx%(HKEY hKey, LPCTSTR lpValueName, DWORD Reserved, DWORD dwType, "
          "const BYTE *lpData, DWORD cbData)")
def RegSetValueEx(c, hkey, name, reserved, t, buf, cb):
    if cb and not buf:
        return ERROR_NOACCESS
    try:
        key = _key(c, hkey, KEY_SET_VALUE)
    except _Fail as f:
        _event(c, "set_value", _path_of(c, hkey), f.code, name or "")
        return f.code
    data = c.read(buf, cb) if cb else b""
    if t in _STRING_TYPES and cb:
        # "if user forgot to count terminating null, add it (yes NT does this)" — Wine's comment on NT
        unit = 2 if c.wide else 1
        if data[-unit:] != bytes(unit) and cb % unit == 0 and _peek(c, buf + cb, unit) == bytes(unit):
            data += bytes(unit)
        if not c.wide:
            data = _from_ansi_data(data)
    try:
        key.set_value(name or "", t, data)
    except NtStatusError as e:
        _event(c, "set_value", key.path, _win32(e), name or "")
        return _win32(e)
    _event(c, "set_value", key.path, 0, name or "")
    _notify(c, key, REG_NOTIFY_CHANGE_LAST_SET)
    return ERROR_SUCCESS


@api(ADV, "LSTATUS WINAPI RegGetValue%(HKEY hkey, LPCTSTR lpSubKey, LPCTSTR lpValue, DWORD dwFlags, "
          "LPDWORD pdwType, PVOID pvData, LPDWORD pcbData)")
def RegGetValue(c, hkey, subkey, name, flags, ptype, buf, pcb):
    if buf and not pcb:
        return ERROR_INVALID_PARAMETER
    if (flags & RRF_RT_REG_EXPAND_SZ and not flags & RRF_NOEXPAND
            and flags & RRF_RT_ANY != RRF_RT_ANY):
        return ERROR_INVALID_PARAMETER   # "RRF_RT_REG_EXPAND_SZ: use with RRF_NOEXPAND"
    cap = c.u32(pcb) if pcb else 0
    try:
        key = _key(c, hkey, 0 if subkey else KEY_QUERY_VALUE)
        if subkey:
            sam = (KEY_WOW64_64KEY if flags & RRF_SUBKEY_WOW6464KEY else 0) | \
                  (KEY_WOW64_32KEY if flags & RRF_SUBKEY_WOW6432KEY else 0)
            code, key = _open(c, hkey, subkey, sam)
            if code:
                return code
        t, data = _stored(c, key, name, "get_value")
    except _Fail as f:
        return f.code
    data = _as_seen(c, t, data)
    if t == REG_EXPAND_SZ and not flags & RRF_NOEXPAND:
        unit = 2 if c.wide else 1
        text = (data.decode("utf-16-le", "replace") if c.wide else data.decode(ANSI, "replace")).split("\0", 1)[0]
        data = c.encode_t(expand(c, text)) + bytes(unit)
        t = REG_SZ
    code = ERROR_SUCCESS
    if buf and len(data) > cap:
        code = ERROR_MORE_DATA
    elif buf:
        c.write(buf, data)
    # the type filter and the size checks (ADVAPI_ApplyRestrictions)
    if flags & _RRF_MASK.get(t, 0):
        expect = {REG_DWORD: 4, REG_QWORD: 8}.get(t, 0)
        if t == REG_BINARY:
            expect = 4 if flags & RRF_RT_DWORD == RRF_RT_DWORD else 8 if flags & RRF_RT_QWORD == RRF_RT_QWORD else 0
        if expect and len(data) != expect:
            code = ERROR_DATATYPE_MISMATCH
    else:
        code = ERROR_UNSUPPORTED_TYPE
    if buf and code and flags & RRF_ZEROONFAILURE:
        c.write(buf, bytes(cap))
    if ptype:
        c.write_u32(ptype, t)
    if pcb:
        c.write_u32(pcb, len(data))
    return code


# =========================================================================================== enumeration
@api(ADV, "LSTATUS WINAPI RegEnumKeyEx%(HKEY hKey, DWORD dwIndex, LPTSTR lpName, LPDWORD lpcchName, "
          "LPDWORD lpReserved, LPTSTR lpClass, LPDWORD lpcchClass, PFILETIME lpftLastWriteTime)")
def RegEnumKeyEx(c, hkey, index, name, pcch, reserved, cls, pcls, ft):
    if reserved or not name or not pcch:
        return ERROR_INVALID_PARAMETER
    try:
        key = _key(c, hkey, KEY_ENUMERATE_SUB_KEYS)
        sub_name = key.enumerate_key(index)
    except _Fail as f:
        return f.code
    except NtStatusError as e:
        _event(c, "enum_key", key.path, _win32(e))
        return _win32(e)
    _event(c, "enum_key", key.path, 0, sub_name)
    sub = key.subkey(sub_name)
    n = c.encode_t(sub_name)
    cl = c.encode_t(sub.class_name)
    unit = c.tchar_size()
    if len(n) // unit >= c.u32(pcch) or (cls and pcls and len(cl) // unit >= c.u32(pcls)):
        return ERROR_MORE_DATA
    c.write(name, n + bytes(unit))
    c.write_u32(pcch, len(n) // unit)
    if cls and pcls:
        c.write(cls, cl + bytes(unit))
    if pcls:
        c.write_u32(pcls, len(cl) // unit)
    write_filetime(c, ft, sub.last_write_time)
    return ERROR_SUCCESS


@api(ADV_ONLY, "LSTATUS WINAPI RegEnumKey%(HKEY hKey, DWORD dwIndex, LPTSTR lpName, DWORD cchName)")
def RegEnumKey(c, hkey, index, name, cch):
    try:
        key = _key(c, hkey, KEY_ENUMERATE_SUB_KEYS)
        sub_name = key.enumerate_key(index)
    except _Fail as f:
        return f.code
    except NtStatusError as e:
        return _win32(e)
    n = c.encode_t(sub_name)
    unit = c.tchar_size()
    if not name or len(n) // unit >= cch:
        return ERROR_MORE_DATA
    c.write(name, n + bytes(unit))
    return ERROR_SUCCESS


@api(ADV, "LSTATUS WINAPI RegEnumValue%(HKEY hKey, DWORD dwIndex, LPTSTR lpValueName, LPDWORD lpcchValueName, "
          "LPDWORD lpReserved, LPDWORD lpType, LPBYTE lpData, LPDWORD lpcbData)")
def RegEnumValue(c, hkey, index, name, pcch, reserved, ptype, buf, pcb):
    if reserved or (buf and not pcb) or not name or not pcch:
        return ERROR_INVALID_PARAMETER
    try:
        key = _key(c, hkey, KEY_QUERY_VALUE)
        vname, t, data = key.enumerate_value(index)
    except _Fail as f:
        return f.code
    except NtStatusError as e:
        _event(c, "enum_value", key.path, _win32(e))
        return _win32(e)
    _event(c, "enum_value", key.path, 0, vname)
    data = _as_seen(c, t, data)
    n = c.encode_t(vname)
    unit = c.tchar_size()
    code = ERROR_SUCCESS
    if len(n) // unit >= c.u32(pcch):
        code = ERROR_MORE_DATA
    else:
        c.write(name, n + bytes(unit))
        c.write_u32(pcch, len(n) // unit)
        if buf:
            code = _copy_out(c, t, data, buf, c.u32(pcb))
    if ptype:
        c.write_u32(ptype, t)
    if pcb:
        c.write_u32(pcb, len(data))
    return code


@api(ADV, "LSTATUS WINAPI RegQueryInfoKey%(HKEY hKey, LPTSTR lpClass, LPDWORD lpcchClass, LPDWORD lpReserved, "
          "LPDWORD lpcSubKeys, LPDWORD lpcbMaxSubKeyLen, LPDWORD lpcbMaxClassLen, LPDWORD lpcValues, "
          "LPDWORD lpcbMaxValueNameLen, LPDWORD lpcbMaxValueLen, LPDWORD lpcbSecurityDescriptor, "
          "PFILETIME lpftLastWriteTime)")
def RegQueryInfoKey(c, hkey, cls, pcls, reserved, nsub, maxsub, maxcls, nval, maxvname, maxval, sdlen, ft):
    if reserved:
        return ERROR_INVALID_PARAMETER
    try:
        key = _key(c, hkey, KEY_QUERY_VALUE)
        info = key.query_info()
    except _Fail as f:
        return f.code
    except NtStatusError as e:
        return _win32(e)
    _event(c, "query_info", key.path, 0)
    code = ERROR_SUCCESS
    if cls and pcls:
        cl = c.encode_t(info["class_name"])
        unit = c.tchar_size()
        if len(cl) // unit >= c.u32(pcls):
            code = ERROR_MORE_DATA
        else:
            c.write(cls, cl + bytes(unit))
        c.write_u32(pcls, len(cl) // unit)
    elif pcls:
        c.write_u32(pcls, len(info["class_name"]))
    max_data = info["max_value_data_len"]   # as stored (UTF-16 strings), for the ANSI function too
    for ptr, v in ((nsub, info["subkeys"]), (maxsub, info["max_name_len"] // 2),
                   (maxcls, info["max_class_len"] // 2), (nval, info["values"]),
                   (maxvname, info["max_value_name_len"] // 2), (maxval, max_data),
                   (sdlen, 0)):   # no security descriptors are modelled
        if ptr:
            c.write_u32(ptr, v)
    write_filetime(c, ft, info["last_write_time"])
    return code


# =========================================================================================== notification
@api(ADV, "LSTATUS WINAPI RegNotifyChangeKeyValue(HKEY hKey, BOOL bWatchSubtree, DWORD dwNotifyFilter, "
          "HANDLE hEvent, BOOL fAsynchronous)")
def RegNotifyChangeKeyValue(c, hkey, subtree, flt, hevent, asynchronous):
    """Asynchronous registration (the documented use with an event): the event is signalled, once, when a
    change of a watched kind is made to the key (or below it with bWatchSubtree) through these functions,
    or when the key handle is closed. A synchronous call would block the thread until another thread
    changes the key: winhatch does not wait there, it stops the process loudly."""
    if not asynchronous:
        _stop(c, "with fAsynchronous=FALSE (a synchronous wait for a registry change is not emulated)")
    if not hevent:
        return ERROR_INVALID_PARAMETER
    if flt & ~0x1000000F:
        return ERROR_INVALID_PARAMETER
    low = _predefined_value(c, hkey)
    try:
        if low is not None:
            _stop(c, "on a predefined key (the cached root handle is not a table entry)")
        obj = c.proc.handles.lookup(hkey, "Key", KEY_NOTIFY)
        event = c.proc.handles.lookup(hevent, "Event")
    except NtStatusError as e:
        return _win32(e)
    obj.watchers.append((obj.key, bool(subtree), flt, event.reference()))
    _event(c, "notify", obj.key.path, 0, log=False)
    return ERROR_SUCCESS
