"""advapi32 / kernelbase registry functions over winhatch's registry (winhatch/kernel/cm/registry.py).

Windows semantics:
- Every function returns an LSTATUS, a Win32 error code (ERROR_SUCCESS = 0); none sets the last error.
- The predefined keys HKEY_CLASSES_ROOT (0x80000000), HKEY_CURRENT_USER (0x80000001), HKEY_LOCAL_MACHINE
  (0x80000002), HKEY_USERS (0x80000003) and HKEY_CURRENT_CONFIG (0x80000005) are recognised by the low 32
  bits of the handle (an x64 program passes them sign-extended: 0xFFFFFFFF80000002); as advapi32 does, the
  first use of one opens its root once per process and caches the handle. Closing a predefined key
  succeeds and does nothing.
- Every other key is a real handle in the process handle table: a kernel object of type "Key"
  (winhatch.kernel.cm.services.KeyObject), with its granted access (KEY_QUERY_VALUE for queries,
  KEY_SET_VALUE for changes, KEY_ENUMERATE_SUB_KEYS for RegEnumKeyEx, KEY_NOTIFY for
  RegNotifyChangeKeyValue); CloseHandle / NtClose close it like any handle. A key deleted while open answers
  ERROR_KEY_DELETED (1018).
- Every function calls the registry services (NtOpenKeyEx, NtCreateKey, NtQueryValueKey, NtSetValueKey,
  NtEnumerateKey, ... in winhatch.kernel.cm.services) as advapi32/kernelbase call ntdll, with the
  structures in stack scratch, and maps the NTSTATUS with RtlNtStatusToDosError. A predefined key is the
  handle of its root, opened once per process with NtOpenKey (HKEY_CURRENT_USER: \\Registry\\User\\<the
  token's user SID>, as RtlFormatCurrentUserKeyPath forms it).
- An x86 process sees the WoW64 view (HKLM\\SOFTWARE\\X → HKLM\\SOFTWARE\\WOW6432Node\\X, except the shared
  keys) unless it asks for KEY_WOW64_64KEY; an x64 process gets the 32-bit view with KEY_WOW64_32KEY.
- Value data is stored as Windows stores it (strings as UTF-16LE); the ANSI functions convert REG_SZ,
  REG_EXPAND_SZ and REG_MULTI_SZ through the ANSI code page, sizes included.

Every access is an event of category "registry" (op, path, value, status: the NTSTATUS, error: the Win32
code) and an entry of the registry's access log, which the JSON report lists (`registry`): the services
and the registry log them.
"""
from __future__ import annotations

import struct

from winhatch.kernel import events as ev
from winhatch.kernel.cm.registry import (REG_EXPAND_SZ, REG_MULTI_SZ, REG_SZ, REG_BINARY, REG_DWORD, REG_NONE,
                                         REG_QWORD, wow64_view)
from winhatch.kernel.ke.dispatcher import ProcessExit
from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED, nt_to_win32
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


ANSI = "cp1252"   # the ANSI code page of the emulated system (as Call.encode_t)
_STRING_TYPES = (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ)


class _Fail(Exception):
    """A Win32 error code to return."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


# =========================================================================================== helpers
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_PENDING = 0x103
KeyBasicInformation, KeyNodeInformation, KeyFullInformation = 0, 1, 2
KeyValueBasicInformation, KeyValueFullInformation, KeyValuePartialInformation = 0, 1, 2
OBJ_CASE_INSENSITIVE, OBJ_INHERIT, OBJ_OPENLINK = 0x40, 0x2, 0x100
KEY_NAME_INFORMATION = 3
SCRATCH_LIMIT = 0x2000      # larger data goes through a temporary allocation, not the stack


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


def current_user_key_path(c) -> str:
    """RtlFormatCurrentUserKeyPath: \\Registry\\User\\<SID> of the thread's token, else the process's."""
    ph = c.stack_alloc(c.ptr_size)
    st = c.nt("NtOpenThreadToken", -2 & ((1 << 8 * c.ptr_size) - 1), 0x8, 1, ph)
    if st & 0x80000000:
        st = c.nt("NtOpenProcessToken", -1 & ((1 << 8 * c.ptr_size) - 1), 0x8, ph)
        if st & 0x80000000:
            raise _Fail(nt_to_win32(st))
    tok = c.ptr(ph)
    buf = c.stack_alloc(0x100, 8)
    ret = c.stack_alloc(4)
    st = c.nt("NtQueryInformationToken", tok, 1, buf, 0x100, ret)     # TokenUser
    c.nt("NtClose", tok)
    if st & 0x80000000:
        raise _Fail(nt_to_win32(st))
    sid = c.ptr(buf)
    rev, n = c.read(sid, 2)
    auth = int.from_bytes(c.read(sid + 2, 6), "big")
    subs = struct.unpack(f"<{n}I", c.read(sid + 8, 4 * n))
    return "\\Registry\\User\\" + f"S-{rev}-{auth}" + "".join(f"-{x}" for x in subs)


_ROOTS = {HKEY_LOCAL_MACHINE: "\\Registry\\Machine", HKEY_USERS: "\\Registry\\User",
          HKEY_CLASSES_ROOT: "\\Registry\\Machine\\Software\\Classes",
          HKEY_CURRENT_CONFIG: "\\Registry\\Machine\\System\\CurrentControlSet\\Hardware Profiles\\Current"}


def _predefined(c, low: int) -> int:
    """The handle of a predefined key's root, opened (NtOpenKey, MAXIMUM_ALLOWED) on its first use."""
    if low == HKEY_DYN_DATA:
        raise _Fail(ERROR_INVALID_HANDLE)   # Windows 9x only
    if low not in PREDEFINED:
        _stop(c, f"on predefined key 0x{low:08X} (performance data is not emulated)")
    cache = c.proc.subsystem.setdefault("reg_predefined", {})
    h = cache.get(low)
    if h is not None and h in c.proc.handles and c.proc.handles.entry(h).obj.type_name == "Key" \
            and not c.proc.handles.entry(h).obj.key.deleted:
        return h
    path = current_user_key_path(c) if low == HKEY_CURRENT_USER else _ROOTS[low]
    st, h = _nt_open(c, 0, path, MAXIMUM_ALLOWED, 0)
    if st:
        raise _Fail(nt_to_win32(st))
    cache[low] = h
    return h


def _handle(c, h: int) -> int:
    """The key handle a function passes to the services (a predefined key: its root's handle)."""
    low = _predefined_value(c, h)
    if low is not None:
        return _predefined(c, low)
    if not h:
        raise _Fail(ERROR_INVALID_HANDLE)
    return h


def _view_32(c, root: int, name: str, sam: int) -> tuple[int, str]:
    """(root, name) to open for `sam`. A 64-bit process's KEY_WOW64_32KEY is advapi32's business (the system
    services of a 64-bit process ignore it): the key's full name (the root's from NtQueryKey
    KeyNameInformation) mapped to the 32-bit view, opened by that absolute name. A WoW64 process's services
    apply the view themselves."""
    if c.ptr_size != 8 or not sam & KEY_WOW64_32KEY or sam & KEY_WOW64_64KEY:
        return root, name
    base = ""
    if root:
        try:
            rec = _query(c, "NtQueryKey", (root,), KEY_NAME_INFORMATION, first=0x200)
        except _Fail:
            return root, name            # the service reports the bad handle itself
        base = rec[4:4 + struct.unpack_from("<I", rec)[0]].decode("utf-16-le", "surrogatepass")
    full = base + "\\" + name if base else name
    comps = [p for p in full.split("\\") if p]
    if not comps or comps[0].upper() != "REGISTRY" or (not root and not name.startswith("\\")):
        return root, name
    view = wow64_view(comps[1:])
    if view == comps[1:]:
        return root, name
    return 0, "\\REGISTRY\\" + "\\".join(view)


def _nt_open(c, root: int, name: str, access: int, options: int) -> tuple[int, int]:
    """NtOpenKeyEx; REG_OPTION_OPEN_LINK in options opens a symbolic link itself (OBJ_OPENLINK: the service
    takes the attribute, not the option)."""
    root, name = _view_32(c, root, name, access)
    ph = c.stack_alloc(c.ptr_size)
    oa = c.object_attributes(c.unicode_string(name),
                             OBJ_CASE_INSENSITIVE | (OBJ_OPENLINK if options & REG_OPTION_OPEN_LINK else 0), root)
    st = c.nt("NtOpenKeyEx", ph, access, oa, options)
    return st, (0 if st & 0x80000000 else c.ptr(ph))


def _check(st: int) -> None:
    if st & 0x80000000:
        raise _Fail(nt_to_win32(st))


def _close(c, h: int) -> None:
    if h:
        c.nt("NtClose", h)


class _Buffer:
    """Scratch for a service's output: the stack for small sizes, a temporary allocation for large ones."""

    def __init__(self, c, size: int):
        self.c, self.size, self.vm = c, max(size, 8), None
        if self.size <= SCRATCH_LIMIT:
            self.addr = c.stack_alloc(self.size, 8)
        else:
            io = c.stack_alloc(2 * c.ptr_size)
            c.write_ptr(io + c.ptr_size, self.size)
            _check(c.nt("NtAllocateVirtualMemory", (1 << 8 * c.ptr_size) - 1, io, 0, io + c.ptr_size,
                        0x3000, 0x04))
            self.addr = self.vm = c.ptr(io)

    def free(self) -> None:
        if self.vm:
            io = self.c.stack_alloc(2 * self.c.ptr_size)
            self.c.write_ptr(io, self.vm)
            self.c.nt("NtFreeVirtualMemory", (1 << 8 * self.c.ptr_size) - 1, io, io + self.c.ptr_size, 0x8000)
            self.vm = None


def _query(c, service: str, args_before: tuple, cls: int, args_after: tuple = (), first: int = 0x400) -> bytes:
    """Call a *Query*/Enumerate* service with its two-step size protocol; the whole record."""
    ret = c.stack_alloc(4)
    size = first
    for _ in range(4):
        buf = _Buffer(c, size)
        try:
            st = c.nt(service, *args_before, cls, buf.addr, size, ret, *args_after)
            if st in (STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL) and c.u32(ret) > size:
                size = c.u32(ret)
                continue
            _check(st)
            return c.read(buf.addr, c.u32(ret))
        finally:
            buf.free()
    raise _Fail(ERROR_MORE_DATA)


def _query_value(c, h: int, name: str | None) -> tuple[int, bytes]:
    """(type, data) of a value through NtQueryValueKey(KeyValuePartialInformation)."""
    rec = _query(c, "NtQueryValueKey", (h, c.unicode_string(name or "")), KeyValuePartialInformation)
    _, t, n = struct.unpack_from("<III", rec)
    return t, rec[12:12 + n]


def _ansi(s: str) -> bytes:
    return s.encode(ANSI, "replace")


def _to_ansi_data(data: bytes) -> bytes:
    """UTF-16LE string data → the ANSI code page (every character, NULs included)."""
    if len(data) % 2:
        data = data[:-1]
    return _ansi(data.decode("utf-16-le", "replace"))


def _from_ansi_data(data: bytes) -> bytes:
    return data.decode(ANSI, "replace").encode("utf-16-le")


def _peek(c, addr: int, n: int) -> bytes | None:
    try:
        return c.read(addr, n)
    except Exception:   # unmapped: nothing follows the caller's data
        return None


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


def _in_scratch(c, data: bytes) -> tuple[int, "_Buffer | None"]:
    if not data:
        return 0, None
    buf = _Buffer(c, len(data))
    c.write(buf.addr, data)
    return buf.addr, buf


# =========================================================================================== open / create
@api(ADV, "LSTATUS WINAPI RegOpenKeyEx%(HKEY hKey, LPCTSTR lpSubKey, DWORD ulOptions, REGSAM samDesired, "
          "PHKEY phkResult)")
def RegOpenKeyEx(c, hkey, subkey, options, sam, phk):
    if not phk:
        return ERROR_INVALID_PARAMETER
    c.write_ptr(phk, 0)
    try:
        root = _handle(c, hkey)
    except _Fail as f:
        return f.code
    st, h = _nt_open(c, root, subkey or "", sam, options & REG_OPTION_OPEN_LINK)
    if st:
        return nt_to_win32(st)
    c.write_ptr(phk, h)
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
    c.write_ptr(phk, 0)
    try:
        st, h = _nt_open(c, 0, current_user_key_path(c), sam, 0)
    except _Fail as f:
        return f.code
    if st:
        return nt_to_win32(st)
    c.write_ptr(phk, h)
    return ERROR_SUCCESS


def _create(c, root: int, name: str, sam: int, cls: str | None, options: int, inherit: bool) -> tuple[int, int, int]:
    """NtCreateKey of `name` below `root`: (status, handle, disposition)."""
    root, name = _view_32(c, root, name, sam)
    ph = c.stack_alloc(c.ptr_size)
    disp = c.stack_alloc(4)
    oa = c.object_attributes(c.unicode_string(name), OBJ_CASE_INSENSITIVE | (OBJ_INHERIT if inherit else 0), root)
    st = c.nt("NtCreateKey", ph, sam, oa, 0, c.unicode_string(cls) if cls else 0, options, disp)
    if st & 0x80000000:
        return st, 0, 0
    return st, c.ptr(ph), c.u32(disp)


@api(ADV, "LSTATUS WINAPI RegCreateKeyEx%(HKEY hKey, LPCTSTR lpSubKey, DWORD Reserved, LPTSTR lpClass, "
          "DWORD dwOptions, REGSAM samDesired, LPSECURITY_ATTRIBUTES lpSecurityAttributes, PHKEY phkResult, "
          "LPDWORD lpdwDisposition)")
def RegCreateKeyEx(c, hkey, subkey, reserved, cls, options, sam, sa, phk, disp):
    """NtCreateKey of the whole path; when a parent is missing, each component in turn (as kernelbase does)."""
    if not phk:
        return ERROR_INVALID_PARAMETER
    c.write_ptr(phk, 0)
    try:
        root = _handle(c, hkey)
    except _Fail as f:
        return f.code
    cname = c.tstr(cls) if cls else None
    inherit = sa_inherit(c, sa)
    name = subkey or ""
    st, h, d = _create(c, root, name, sam, cname, options, inherit)
    if st == STATUS_OBJECT_NAME_NOT_FOUND:
        parts = [p for p in name.split("\\") if p]
        cur = root
        for i, part in enumerate(parts[:256]):
            last = i == len(parts) - 1
            st, h, d = _create(c, cur, part, sam if last else (sam & (KEY_WOW64_32KEY | KEY_WOW64_64KEY))
                               | KEY_CREATE_SUB_KEY, cname if last else None, options, inherit and last)
            if cur != root:
                _close(c, cur)
            if st & 0x80000000:
                break
            cur = h
    if st & 0x80000000:
        return nt_to_win32(st)
    c.write_ptr(phk, h)
    if disp:
        c.write_u32(disp, d)
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
    st = c.nt("NtClose", hkey)
    return nt_to_win32(st) if st & 0x80000000 else ERROR_SUCCESS


@api(ADV, "LSTATUS WINAPI RegFlushKey(HKEY hKey)")
def RegFlushKey(c, hkey):
    """NtFlushKey (the registry lives in memory: only the handle is checked)."""
    try:
        _check(c.nt("NtFlushKey", _handle(c, hkey)))
    except _Fail as f:
        return f.code
    return ERROR_SUCCESS


# =========================================================================================== delete
class _NameSlot:
    """A reusable UNICODE_STRING (with a 64 KiB buffer) and OBJECT_ATTRIBUTES in scratch, for the loops that
    call a service per name (scratch lives until the API returns: a loop must not allocate per turn)."""

    def __init__(self, c):
        from winhatch.kernel.structs import OBJECT_ATTRIBUTES
        self.c = c
        self.buf = _Buffer(c, 0x10000)
        self.us = c.stack_alloc(2 * c.ptr_size, 8)
        self.oa = c.stack_alloc(OBJECT_ATTRIBUTES.size(c.arch), 8)
        self.ph = c.stack_alloc(c.ptr_size, 8)
        self.ret = c.stack_alloc(4)

    def name(self, text: str) -> int:
        data = text.encode("utf-16-le", "surrogatepass")[:0xFFFC]
        self.c.write(self.buf.addr, data + b"\0\0")
        self.c.write(self.us, struct.pack("<HH", len(data), len(data) + 2) + bytes(self.c.ptr_size - 4))
        self.c.write_ptr(self.us + self.c.ptr_size, self.buf.addr)
        return self.us

    def attributes(self, root: int, text: str) -> int:
        from winhatch.kernel.structs import OBJECT_ATTRIBUTES
        self.c.write(self.oa, OBJECT_ATTRIBUTES.pack(self.c.arch, Length=OBJECT_ATTRIBUTES.size(self.c.arch),
                                                     RootDirectory=root, ObjectName=self.name(text),
                                                     Attributes=OBJ_CASE_INSENSITIVE | OBJ_OPENLINK))
        return self.oa


def _delete_tree_below(c, h: int, slot: "_NameSlot", depth: int = 0) -> None:
    """Delete every subkey (depth first) and every value of the open key `h`."""
    if depth > 512:
        raise _Fail(ERROR_INVALID_PARAMETER)
    info = slot.buf.addr
    for _ in range(1_000_000):
        st = c.nt("NtEnumerateKey", h, 0, KeyBasicInformation, info, 0x10000, slot.ret)
        if st == 0x8000001A:           # STATUS_NO_MORE_ENTRIES
            break
        _check(st)
        name = c.read(info + 16, c.u32(info + 12)).decode("utf-16-le", "surrogatepass")
        _check(c.nt("NtOpenKeyEx", slot.ph, DELETE | KEY_ENUMERATE_SUB_KEYS | KEY_QUERY_VALUE | KEY_SET_VALUE,
                    slot.attributes(h, name), REG_OPTION_OPEN_LINK))
        sub = c.ptr(slot.ph)
        try:
            _delete_tree_below(c, sub, slot, depth + 1)
            _check(c.nt("NtDeleteKey", sub))
        finally:
            _close(c, sub)
    for _ in range(1_000_000):
        st = c.nt("NtEnumerateValueKey", h, 0, KeyValueBasicInformation, info, 0x10000, slot.ret)
        if st == 0x8000001A:
            break
        _check(st)
        name = c.read(info + 12, c.u32(info + 8)).decode("utf-16-le", "surrogatepass")
        _check(c.nt("NtDeleteValueKey", h, slot.name(name)))


def _delete(c, hkey: int, subkey: str | None, sam: int, *, tree: bool = False) -> int:
    if subkey is None and not tree:
        return ERROR_INVALID_PARAMETER
    try:
        root = _handle(c, hkey)
        access = DELETE | (KEY_ENUMERATE_SUB_KEYS | KEY_QUERY_VALUE | KEY_SET_VALUE if tree else 0) \
            | (sam & (KEY_WOW64_32KEY | KEY_WOW64_64KEY))
        st, h = _nt_open(c, root, subkey or "", access, 0)
        _check(st)
        try:
            if tree:
                slot = _NameSlot(c)
                try:
                    _delete_tree_below(c, h, slot)
                finally:
                    slot.buf.free()
            if not (tree and subkey is None):   # RegDeleteTree(hKey, NULL): the contents, not the key
                _check(c.nt("NtDeleteKey", h))
        finally:
            _close(c, h)
    except _Fail as f:
        return f.code
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
        _check(c.nt("NtDeleteValueKey", _handle(c, hkey), c.unicode_string(name or "")))
    except _Fail as f:
        return f.code
    return ERROR_SUCCESS


# =========================================================================================== values
@api(ADV, "LSTATUS WINAPI RegQueryValueEx%(HKEY hKey, LPCTSTR lpValueName, LPDWORD lpReserved, LPDWORD lpType, "
          "LPBYTE lpData, LPDWORD lpcbData)")
def RegQueryValueEx(c, hkey, name, reserved, ptype, buf, pcb):
    if (buf and not pcb) or reserved:
        return ERROR_INVALID_PARAMETER
    try:
        t, data = _query_value(c, _handle(c, hkey), name)
    except _Fail as f:
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
        h = _handle(c, hkey)
    except _Fail as f:
        return f.code
    addr, size, scratch = buf, cb, None
    if t in _STRING_TYPES and cb:
        data = c.read(buf, cb)
        # "if user forgot to count terminating null, add it (yes NT does this)" — Wine's comment on NT
        unit = 2 if c.wide else 1
        if data[-unit:] != bytes(unit) and cb % unit == 0 and _peek(c, buf + cb, unit) == bytes(unit):
            data += bytes(unit)
        if not c.wide:
            data = _from_ansi_data(data)
        addr, scratch = _in_scratch(c, data)
        size = len(data)
    try:
        st = c.nt("NtSetValueKey", h, c.unicode_string(name or ""), 0, t, addr if size else 0, size)
    finally:
        if scratch is not None:
            scratch.free()
    return nt_to_win32(st) if st & 0x80000000 else ERROR_SUCCESS


@api(ADV, "LSTATUS WINAPI RegGetValue%(HKEY hkey, LPCTSTR lpSubKey, LPCTSTR lpValue, DWORD dwFlags, "
          "LPDWORD pdwType, PVOID pvData, LPDWORD pcbData)")
def RegGetValue(c, hkey, subkey, name, flags, ptype, buf, pcb):
    if buf and not pcb:
        return ERROR_INVALID_PARAMETER
    if (flags & RRF_RT_REG_EXPAND_SZ and not flags & RRF_NOEXPAND
            and flags & RRF_RT_ANY != RRF_RT_ANY):
        return ERROR_INVALID_PARAMETER   # "RRF_RT_REG_EXPAND_SZ: use with RRF_NOEXPAND"
    cap = c.u32(pcb) if pcb else 0
    opened = 0
    try:
        h = _handle(c, hkey)
        if subkey:
            sam = KEY_QUERY_VALUE | (KEY_WOW64_64KEY if flags & RRF_SUBKEY_WOW6464KEY else 0) | \
                (KEY_WOW64_32KEY if flags & RRF_SUBKEY_WOW6432KEY else 0)
            st, opened = _nt_open(c, h, subkey, sam, 0)
            _check(st)
            h = opened
        t, data = _query_value(c, h, name)
    except _Fail as f:
        return f.code
    finally:
        _close(c, opened)
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
def _enum_key(c, hkey: int, index: int) -> tuple[str, str, int]:
    """(name, class, last write time) of the index-th subkey: NtEnumerateKey(KeyNodeInformation)."""
    rec = _query(c, "NtEnumerateKey", (_handle(c, hkey), index), KeyNodeInformation)
    lwt, _, coff, clen, nlen = struct.unpack_from("<qIIII", rec)
    name = rec[24:24 + nlen].decode("utf-16-le", "surrogatepass")
    cls = rec[coff:coff + clen].decode("utf-16-le", "surrogatepass") if clen else ""
    return name, cls, lwt


@api(ADV, "LSTATUS WINAPI RegEnumKeyEx%(HKEY hKey, DWORD dwIndex, LPTSTR lpName, LPDWORD lpcchName, "
          "LPDWORD lpReserved, LPTSTR lpClass, LPDWORD lpcchClass, PFILETIME lpftLastWriteTime)")
def RegEnumKeyEx(c, hkey, index, name, pcch, reserved, cls, pcls, ft):
    if reserved or not name or not pcch:
        return ERROR_INVALID_PARAMETER
    try:
        sub_name, sub_cls, lwt = _enum_key(c, hkey, index)
    except _Fail as f:
        return f.code
    n = c.encode_t(sub_name)
    cl = c.encode_t(sub_cls)
    unit = c.tchar_size()
    if len(n) // unit >= c.u32(pcch) or (cls and pcls and len(cl) // unit >= c.u32(pcls)):
        return ERROR_MORE_DATA
    c.write(name, n + bytes(unit))
    c.write_u32(pcch, len(n) // unit)
    if cls and pcls:
        c.write(cls, cl + bytes(unit))
    if pcls:
        c.write_u32(pcls, len(cl) // unit)
    write_filetime(c, ft, lwt)
    return ERROR_SUCCESS


@api(ADV_ONLY, "LSTATUS WINAPI RegEnumKey%(HKEY hKey, DWORD dwIndex, LPTSTR lpName, DWORD cchName)")
def RegEnumKey(c, hkey, index, name, cch):
    try:
        sub_name, _, _ = _enum_key(c, hkey, index)
    except _Fail as f:
        return f.code
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
        rec = _query(c, "NtEnumerateValueKey", (_handle(c, hkey), index), KeyValueFullInformation)
    except _Fail as f:
        return f.code
    _, t, doff, dlen, nlen = struct.unpack_from("<IIIII", rec)
    vname = rec[20:20 + nlen].decode("utf-16-le", "surrogatepass")
    data = _as_seen(c, t, rec[doff:doff + dlen])
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
    """NtQueryKey(KeyFullInformation)."""
    if reserved:
        return ERROR_INVALID_PARAMETER
    try:
        rec = _query(c, "NtQueryKey", (_handle(c, hkey),), KeyFullInformation)
    except _Fail as f:
        return f.code
    (lwt, _, coff, clen, subkeys, max_name, max_class, values, max_vname,
     max_data) = struct.unpack_from("<qIIIIIIIII", rec)
    class_name = rec[coff:coff + clen].decode("utf-16-le", "surrogatepass") if clen else ""
    code = ERROR_SUCCESS
    if cls and pcls:
        cl = c.encode_t(class_name)
        unit = c.tchar_size()
        if len(cl) // unit >= c.u32(pcls):
            code = ERROR_MORE_DATA
        else:
            c.write(cls, cl + bytes(unit))
        c.write_u32(pcls, len(cl) // unit)
    elif pcls:
        c.write_u32(pcls, len(class_name))
    for ptr, v in ((nsub, subkeys), (maxsub, max_name // 2), (maxcls, max_class // 2), (nval, values),
                   (maxvname, max_vname // 2), (maxval, max_data),   # data as stored, for the ANSI form too
                   (sdlen, 0)):   # no security descriptors are modelled
        if ptr:
            c.write_u32(ptr, v)
    write_filetime(c, ft, lwt)
    return code


# =========================================================================================== notification
@api(ADV, "LSTATUS WINAPI RegNotifyChangeKeyValue(HKEY hKey, BOOL bWatchSubtree, DWORD dwNotifyFilter, "
          "HANDLE hEvent, BOOL fAsynchronous)")
def RegNotifyChangeKeyValue(c, hkey, subtree, flt, hevent, asynchronous):
    """NtNotifyChangeKey, asynchronous with an event (the documented use): the event is signalled, once, when
    a change of a watched kind is made to the key (or below it with bWatchSubtree), or when the key handle
    is closed. A synchronous call would block the thread until another thread changes the key: winhatch
    does not wait there, it stops the process loudly."""
    if not asynchronous:
        _stop(c, "with fAsynchronous=FALSE (a synchronous wait for a registry change is not emulated)")
    if not hevent:
        return ERROR_INVALID_PARAMETER
    try:
        h = _handle(c, hkey)
    except _Fail as f:
        return f.code
    iosb = c.stack_alloc(2 * c.ptr_size)
    st = c.nt("NtNotifyChangeKey", h, hevent, 0, 0, iosb, flt, 1 if subtree else 0, 0, 0, 1)
    if st == STATUS_PENDING:
        return ERROR_SUCCESS
    return nt_to_win32(st) if st & 0x80000000 else ERROR_SUCCESS


# =========================================================================================== ntdll
@api("ntdll.dll", "NTSTATUS NTAPI RtlFormatCurrentUserKeyPath(PUNICODE_STRING KeyPath)")
def RtlFormatCurrentUserKeyPath(c, out):
    """\\Registry\\User\\<SID of the thread's or the process's token> in a buffer from the process heap."""
    from winhatch.win32.kernel32.common import heap_alloc
    try:
        path = current_user_key_path(c)
    except _Fail:
        return 0xC0000022
    data = path.encode("utf-16-le")
    buf = heap_alloc(c, len(data) + 2)
    c.write(buf, data + b"\0\0")
    c.write(out, struct.pack("<HH", len(data), len(data) + 2) + bytes(c.ptr_size - 4) +
            (struct.pack("<Q", buf) if c.ptr_size == 8 else struct.pack("<I", buf)))
    return 0


@api("ntdll.dll", "NTSTATUS NTAPI RtlOpenCurrentUser(ACCESS_MASK DesiredAccess, PHANDLE KeyHandle)")
def RtlOpenCurrentUser(c, access, out):
    """NtOpenKey of the current user's key (\\Registry\\User\\<SID>)."""
    try:
        path = current_user_key_path(c)
    except _Fail:
        return 0xC0000022
    oa = c.object_attributes(c.unicode_string(path), OBJ_CASE_INSENSITIVE)
    return c.nt("NtOpenKey", out, access, oa)


RTL_REGISTRY_ABSOLUTE, RTL_REGISTRY_SERVICES, RTL_REGISTRY_CONTROL, RTL_REGISTRY_WINDOWS_NT = 0, 1, 2, 3
RTL_REGISTRY_DEVICEMAP, RTL_REGISTRY_USER = 4, 5
RTL_REGISTRY_HANDLE, RTL_REGISTRY_OPTIONAL = 0x40000000, 0x80000000
_RTL_ROOTS = {RTL_REGISTRY_SERVICES: "\\Registry\\Machine\\System\\CurrentControlSet\\Services",
              RTL_REGISTRY_CONTROL: "\\Registry\\Machine\\System\\CurrentControlSet\\Control",
              RTL_REGISTRY_WINDOWS_NT: "\\Registry\\Machine\\Software\\Microsoft\\Windows NT\\CurrentVersion",
              RTL_REGISTRY_DEVICEMAP: "\\Registry\\Machine\\Hardware\\DeviceMap"}


@api("ntdll.dll", "NTSTATUS NTAPI RtlCheckRegistryKey(ULONG RelativeTo, PWSTR Path)")
def RtlCheckRegistryKey(c, relative, path):
    """Whether the key exists: NtOpenKey of Path below the RTL_REGISTRY_* root (RTL_REGISTRY_ABSOLUTE: Path is
    a full name; RTL_REGISTRY_USER: below the current user's key), closed again."""
    rel = relative & ~RTL_REGISTRY_OPTIONAL
    text = c.wstr(path) if path else ""
    if rel == RTL_REGISTRY_HANDLE:
        _stop(c, "with RTL_REGISTRY_HANDLE")
    if rel == RTL_REGISTRY_ABSOLUTE:
        name = text
    elif rel == RTL_REGISTRY_USER:
        try:
            name = current_user_key_path(c) + ("\\" + text if text else "")
        except _Fail:
            return 0xC0000022
    elif rel in _RTL_ROOTS:
        name = _RTL_ROOTS[rel] + ("\\" + text if text else "")
    else:
        return 0xC000000D              # STATUS_INVALID_PARAMETER
    st, h = _nt_open(c, 0, name, KEY_QUERY_VALUE, 0)
    _close(c, h)
    return st
