"""ntdll's RtlQueryRegistryValues: a query table walked over a key, through NtOpenKey, NtQueryValueKey,
NtEnumerateValueKey and NtDeleteValueKey.

RelativeTo names the base (RTL_REGISTRY_ABSOLUTE: Path is a full NT name; SERVICES, CONTROL, WINDOWS_NT,
DEVICEMAP: the documented keys below \\Registry\\Machine; USER: the caller's \\Registry\\User\\<SID>;
RTL_REGISTRY_HANDLE: Path is an open key handle; RTL_REGISTRY_OPTIONAL: a missing key is not an error). The
table is RTL_QUERY_REGISTRY_TABLE entries { QueryRoutine, Flags, Name, EntryContext, DefaultType,
DefaultData, DefaultLength }, ended by one with neither QueryRoutine nor Name, as MSDN documents them:

- SUBKEY opens Name below the top key as the current key (REQUIRED makes a missing one an error), TOPKEY goes
  back to the top key; NOVALUE calls the routine once without a value;
- a NULL Name calls the routine for every value of the current key; a missing named value is
  STATUS_OBJECT_NAME_NOT_FOUND with REQUIRED, else the default (DefaultType not REG_NONE; a DefaultLength of
  0 for a string type is the string's own length) is passed instead;
- REG_EXPAND_SZ is expanded (from Environment, or the process's) and passed as REG_SZ, REG_MULTI_SZ calls the
  routine once per string, unless NOEXPAND;
- DIRECT stores the value in EntryContext instead of calling the routine: a string type into the
  UNICODE_STRING there (its buffer allocated from the process heap when NULL, else filled up to
  MaximumLength, STATUS_BUFFER_TOO_SMALL when it does not fit); another type of at most four bytes into the
  ULONG there, a longer one into the buffer whose first LONG is minus its size (ULONG length, ULONG type,
  then the data);
- DELETE deletes the value after it is queried;
- the routine's failure ends the walk with its status.
"""
from __future__ import annotations

import struct

from winhatch.ntstatus import STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_NOT_FOUND
from winhatch.win32.api import api

NT = "ntdll.dll"
RTL_REGISTRY_ABSOLUTE, RTL_REGISTRY_USER, RTL_REGISTRY_MAXIMUM = 0, 5, 6
RTL_REGISTRY_HANDLE, RTL_REGISTRY_OPTIONAL = 0x40000000, 0x80000000
BASES = {1: "\\Registry\\Machine\\System\\CurrentControlSet\\Services",
         2: "\\Registry\\Machine\\System\\CurrentControlSet\\Control",
         3: "\\Registry\\Machine\\Software\\Microsoft\\Windows NT\\CurrentVersion",
         4: "\\Registry\\Machine\\Hardware\\DeviceMap"}
SUBKEY, TOPKEY, REQUIRED, NOVALUE, NOEXPAND, DIRECT, DELETE = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
REG_NONE, REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ = 0, 1, 2, 7
KEY_READ_WRITE = 0x20019 | 0x2        # KEY_READ | KEY_SET_VALUE (DELETE needs the latter)
KeyValueFullInformation, KeyValuePartialInformation = 1, 2
MAX_VALUES = 1 << 16


class _Stop(Exception):
    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def _open(c, name: str, root: int = 0) -> tuple[int, int]:
    ps = c.ptr_size
    out = c.stack_alloc(ps)
    oa = c.object_attributes(c.unicode_string(name), 0x40, root)
    st = c.nt("NtOpenKey", out, KEY_READ_WRITE, oa)
    if st & 0x80000000:
        st2 = c.nt("NtOpenKey", out, 0x20019, oa)
        if not st2 & 0x80000000:
            st = st2
    return st, (c.ptr(out) if not st & 0x80000000 else 0)


def _query(c, h: int, name: str) -> tuple[int, int, bytes]:
    """(status, type, data) of a named value."""
    size = 0x1000
    for _ in range(8):
        buf = c.stack_alloc(size + 16, 8)
        ret = c.stack_alloc(4)
        st = c.nt("NtQueryValueKey", h, c.unicode_string(name), KeyValuePartialInformation, buf, size, ret)
        if st in (0x80000005, STATUS_BUFFER_TOO_SMALL):      # STATUS_BUFFER_OVERFLOW
            size = c.u32(ret) + 16
            continue
        if st & 0x80000000:
            return st, 0, b""
        _, vtype, length = struct.unpack("<III", c.read(buf, 12))
        return 0, vtype, c.read(buf + 12, length)
    return STATUS_BUFFER_TOO_SMALL, 0, b""


def _values(c, h: int) -> list[tuple[str, int, bytes]]:
    out = []
    mark = c._scratch           # each value's buffers are scratch again for the next one
    for i in range(MAX_VALUES):
        c._scratch = mark
        size = 0x1000
        while True:
            buf = c.stack_alloc(size + 16, 8)
            ret = c.stack_alloc(4)
            st = c.nt("NtEnumerateValueKey", h, i, KeyValueFullInformation, buf, size, ret)
            if st in (0x80000005, STATUS_BUFFER_TOO_SMALL) and size < (1 << 24):
                size = c.u32(ret) + 16
                continue
            break
        if st & 0x80000000 or st == 0x8000001A:              # STATUS_NO_MORE_ENTRIES
            break
        _, vtype, off, length, nlen = struct.unpack("<IIIII", c.read(buf, 20))
        name = c.read(buf + 20, nlen).decode("utf-16-le", "surrogatepass")
        out.append((name, vtype, c.read(buf + off, length)))
    return out


def _strlen_bytes(c, addr: int, multi: bool) -> int:
    """The bytes of a default string (with its NUL; for REG_MULTI_SZ up to and with the final empty one)."""
    n = 0
    for _ in range(1 << 20):
        ch = c.read(addr + n, 2)
        n += 2
        if ch == b"\0\0":
            if not multi or n == 2 or c.read(addr + n - 4, 2) == b"\0\0":
                return n
    return n


def _call(c, entry: dict, name: str | None, vtype: int, data: bytes | None, ctx: int) -> None:
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    blocks = []
    try:
        pname = 0
        if name is not None:
            pname = heap_alloc(c, 2 * len(name) + 2)
            blocks.append(pname)
            c.write(pname, name.encode("utf-16-le", "surrogatepass") + b"\0\0")
        pdata = 0
        if data is not None:
            pdata = heap_alloc(c, max(len(data), 1))
            blocks.append(pdata)
            c.write(pdata, data)
        st = c.machine.dispatcher.call_guest(c.thread, entry["routine"],
                                             [pname, vtype, pdata, len(data or b""), ctx, entry["entry_ctx"]])
    finally:
        for b in blocks:
            heap_free(c, b)
    st &= 0xFFFFFFFF
    if st & 0x80000000:
        raise _Stop(st)


def _direct(c, entry: dict, vtype: int, data: bytes) -> None:
    from winhatch.win32.kernel32.common import heap_alloc
    ec = entry["entry_ctx"]
    ps = c.ptr_size
    if vtype in (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ):
        length, maximum = struct.unpack("<HH", c.read(ec, 4))
        buf = c.ptr(ec + ps)
        text = data
        if vtype != REG_MULTI_SZ and text.endswith(b"\0\0"):
            text = text[:-2]
        if not buf:
            buf = heap_alloc(c, len(text) + 2, 0x8)
            maximum = min(len(text) + 2, 0xFFFF)
            c.write_ptr(ec + ps, buf)
        elif len(text) + 2 > maximum:
            raise _Stop(STATUS_BUFFER_TOO_SMALL)
        c.write(buf, text + b"\0\0")
        c.write(ec, struct.pack("<HH", len(text) & 0xFFFF, maximum))
        return
    if len(data) <= 4:
        c.write(ec, data)
        return
    (room,) = struct.unpack("<i", c.read(ec, 4))
    if room >= 0 or -room < len(data) + 8:
        raise _Stop(STATUS_BUFFER_TOO_SMALL)
    c.write(ec, struct.pack("<II", len(data), vtype) + data)


def _deliver(c, entry: dict, name: str, vtype: int, data: bytes, ctx: int, env: int) -> None:
    flags = entry["flags"]
    if vtype == REG_EXPAND_SZ and not flags & NOEXPAND:
        from winhatch.win32.kernel32.env import expand
        from winhatch.win32.ntdll.rtl_env import _text, _units, find
        text = data.decode("utf-16-le", "surrogatepass").split("\0", 1)[0]
        lookup = None
        if env:
            def lookup(var: str) -> str | None:
                units = find(c, env, _units(var))
                return None if units is None else _text(units)
        data = expand(c, text, lookup).encode("utf-16-le", "surrogatepass") + b"\0\0"
        vtype = REG_SZ
    if flags & DIRECT:
        _direct(c, entry, vtype, data)
        return
    if vtype == REG_MULTI_SZ and not flags & NOEXPAND:
        for s in data.decode("utf-16-le", "surrogatepass").split("\0"):
            if not s:
                break
            _call(c, entry, name, REG_SZ, s.encode("utf-16-le", "surrogatepass") + b"\0\0", ctx)
        return
    _call(c, entry, name, vtype, data, ctx)


def _entries(c, table: int) -> list[dict]:
    ps = c.ptr_size
    size = 7 * ps if ps == 8 else 28
    out = []
    for i in range(4096):
        at = table + i * size
        routine, flags, name, ectx = c.ptr(at), c.u32(at + ps), c.ptr(at + 2 * ps), c.ptr(at + 3 * ps)
        dtype = c.u32(at + 4 * ps)
        ddata = c.ptr(at + 5 * ps)
        dlen = c.u32(at + 6 * ps)
        if not routine and not name and not flags & (DIRECT | SUBKEY | TOPKEY):
            break
        if not routine and not name:
            break
        out.append({"routine": routine, "flags": flags, "name": c.wstr(name) if name else None,
                    "entry_ctx": ectx, "dtype": dtype, "ddata": ddata, "dlen": dlen})
    return out


@api(NT, "NTSTATUS NTAPI RtlQueryRegistryValues(ULONG RelativeTo, PCWSTR_RAW Path, PVOID QueryTable, PVOID Context, "
         "PVOID Environment)", calls_guest=True)
def RtlQueryRegistryValues(c, relative, path_ptr, table, ctx, env):
    base = relative & ~(RTL_REGISTRY_HANDLE | RTL_REGISTRY_OPTIONAL)
    opened = []
    if relative & RTL_REGISTRY_HANDLE:
        top = path_ptr
    else:
        if base >= RTL_REGISTRY_MAXIMUM:
            return STATUS_INVALID_PARAMETER
        path = c.wstr(path_ptr) if path_ptr else ""
        if base == RTL_REGISTRY_ABSOLUTE:
            full = path
        else:
            if base == RTL_REGISTRY_USER:
                from winhatch.win32.advapi32.reg import current_user_key_path
                root = current_user_key_path(c)
            else:
                root = BASES[base]
            full = root + ("\\" + path.lstrip("\\") if path else "")
        st, top = _open(c, full)
        if st & 0x80000000:
            return 0 if relative & RTL_REGISTRY_OPTIONAL else st
        opened.append(top)
    try:
        cur = top
        mark = c._scratch
        for entry in _entries(c, table):
            c._scratch = mark       # (a query routine may have run on the stack below: nothing is kept there)
            flags = entry["flags"]
            if flags & TOPKEY:
                cur = top
            if flags & SUBKEY:
                if entry["name"] is None:
                    return STATUS_INVALID_PARAMETER
                st, sub = _open(c, entry["name"], top)
                if st & 0x80000000:
                    if flags & REQUIRED:
                        return st
                    continue
                opened.append(sub)
                cur = sub
                if not entry["routine"]:
                    continue
            if flags & NOVALUE:
                if entry["routine"]:
                    _call(c, entry, None, REG_NONE, None, ctx)
                continue
            if entry["name"] is None or (flags & SUBKEY and not flags & DIRECT):
                if not entry["routine"]:
                    continue
                for name, vtype, data in _values(c, cur):
                    _deliver(c, entry, name, vtype, data, ctx, env)
                continue
            st, vtype, data = _query(c, cur, entry["name"])
            if st:
                if st != STATUS_OBJECT_NAME_NOT_FOUND:
                    return st
                if flags & REQUIRED:
                    return STATUS_OBJECT_NAME_NOT_FOUND
                if entry["dtype"] == REG_NONE or not entry["ddata"] and entry["dtype"] not in (REG_NONE,) \
                        and entry["dlen"] == 0 and entry["dtype"] not in (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ):
                    continue
                dlen = entry["dlen"]
                if not dlen and entry["dtype"] in (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ) and entry["ddata"]:
                    dlen = _strlen_bytes(c, entry["ddata"], entry["dtype"] == REG_MULTI_SZ)
                data = c.read(entry["ddata"], dlen) if entry["ddata"] and dlen else b""
                _deliver(c, entry, entry["name"], entry["dtype"], data, ctx, env)
                continue
            _deliver(c, entry, entry["name"], vtype, data, ctx, env)
            if flags & DELETE:
                c.nt("NtDeleteValueKey", cur, c.unicode_string(entry["name"]))
        return 0
    except _Stop as e:
        return e.status
    finally:
        for h in opened:
            c.nt("NtClose", h)


@api(NT, "NTSTATUS NTAPI RtlpNtQueryValueKey(HANDLE KeyHandle, PULONG Type, PVOID Data, PULONG DataLength, "
         "ULONG Unused)")
def RtlpNtQueryValueKey(c, h, ptype, pdata, plen, unused):
    """The key's default (unnamed) value through NtQueryValueKey(KeyValuePartialInformation): its type, and
    its data when Data is given (*DataLength in: the room, out: the length; too little room is
    STATUS_BUFFER_OVERFLOW with the length)."""
    room = c.u32(plen) if pdata and plen else 0
    size = 12 + room
    buf = c.stack_alloc(size, 8)
    ret = c.stack_alloc(4)
    st = c.nt("NtQueryValueKey", h, c.unicode_string(""), KeyValuePartialInformation, buf, size, ret)
    if st & 0x80000000 and st not in (0x80000005,):
        return st
    _, vtype, length = struct.unpack("<III", c.read(buf, 12))
    if ptype:
        c.write_u32(ptype, vtype)
    if plen:
        c.write_u32(plen, length)
    if pdata and not st:
        c.write(pdata, c.read(buf + 12, length))
    return st


def _full_path(c, relative: int, path_ptr: int) -> str:
    base = relative & ~RTL_REGISTRY_OPTIONAL
    path = c.wstr(path_ptr) if path_ptr else ""
    if base == RTL_REGISTRY_ABSOLUTE:
        return path
    if base == RTL_REGISTRY_USER:
        from winhatch.win32.advapi32.reg import current_user_key_path
        root = current_user_key_path(c)
    else:
        root = BASES[base]
    return root + ("\\" + path.lstrip("\\") if path else "")


@api(NT, "NTSTATUS NTAPI RtlCreateRegistryKey(ULONG RelativeTo, PCWSTR_RAW Path)")
def RtlCreateRegistryKey(c, relative, path_ptr):
    """NtCreateKey of the path below the RelativeTo root (its parent must exist: STATUS_OBJECT_NAME_NOT_FOUND
    otherwise); a RelativeTo past RTL_REGISTRY_USER is STATUS_INVALID_PARAMETER (RTL_REGISTRY_OPTIONAL is
    ignored)."""
    if relative & RTL_REGISTRY_HANDLE:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, "RtlCreateRegistryKey relative to a handle (RTL_REGISTRY_HANDLE)")
    if relative & ~RTL_REGISTRY_OPTIONAL >= RTL_REGISTRY_MAXIMUM:
        return STATUS_INVALID_PARAMETER
    out = c.stack_alloc(c.ptr_size)
    oa = c.object_attributes(c.unicode_string(_full_path(c, relative, path_ptr)), 0x40)
    st = c.nt("NtCreateKey", out, 0x000F003F, oa, 0, 0, 0, 0)   # KEY_ALL_ACCESS
    if not st & 0x80000000:
        c.nt("NtClose", c.ptr(out))
    return st
