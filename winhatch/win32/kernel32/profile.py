"""kernel32 / kernelbase: initialization (.ini) files — Get/WritePrivateProfileString, GetPrivateProfileInt,
Get/WritePrivateProfileSection, GetPrivateProfileSectionNames, Get/WritePrivateProfileStruct and the win.ini
forms (GetProfileString, ...), A and W.

The file is read and rewritten through the file services (NtCreateFile, NtReadFile, NtWriteFile,
NtSetInformationFile): a reader opens it for reading sharing read, write and delete; a writer for reading and
writing sharing read and write, so another handle that does not share what the profile needs makes the call
fail with ERROR_SHARING_VIOLATION, as on Windows. Nothing is cached between calls.

File names: a name without a path separator is in the Windows directory (a NULL name is win.ini there);
otherwise it is resolved against the current directory. Text: an ANSI file (the ANSI code page), or UTF-16LE
with its byte-order mark (UTF-8 with its mark is read too); a file is written back in the encoding it had.

Parsing: lines end at CR LF, CR or LF; leading and trailing blanks are ignored; "[name]" starts a section
(the name trimmed); "key=value" is an entry (both trimmed), a line without "=" an entry with no value (it is
listed by GetPrivateProfileSection but not as a key); lines before the first section are kept as they are.
Names compare case-insensitively. A value in double quotes is returned without them.

Registry mapping (IniFileMapping): when HKLM\\Software\\Microsoft\\Windows NT\\CurrentVersion\\IniFileMapping has a
key named after the file's base name (its folder does not matter), the sections it names live in the registry,
not in the file (read through the registry services, NtOpenKeyEx/NtQueryValueKey/NtSetValueKey/...):
- a value named after a section: the section's keys are the values of that registry key;
- the key's default value: every section it does not name, in a subkey of that registry key named after the
  section;
- a subkey named after a section: its values named after keys map those keys alone, its default value the
  section's other keys (without one the other keys stay in the file).
A location is "USR:path" (below HKEY_CURRENT_USER) or "SYS:path" (below HKLM\\Software), after the optional
"!" (written to the file as well), "#" and "@" marks (the latter two concern logon and the file, which a mapped
key never reads on Windows 10 either). Only REG_SZ values are profile strings. Writing a section sets its keys
without removing the others; deleting a section deletes the mapped values; the section names list the mapped
sections, then the file's. The mapping key is read in the 64-bit registry view.
"""
from __future__ import annotations

import struct

from winhatch.ntstatus import (ERROR_FILE_NOT_FOUND, ERROR_INVALID_PARAMETER, ERROR_INVALID_DATA)
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, heap_alloc, heap_free

ERROR_BAD_LENGTH = 24
GENERIC_READ, GENERIC_WRITE, SYNCHRONIZE = 0x80000000, 0x40000000, 0x00100000
FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_SHARE_DELETE = 1, 2, 4
FILE_OPEN, FILE_OPEN_IF = 1, 3
FILE_NON_DIRECTORY_FILE, FILE_SYNCHRONOUS_IO_NONALERT = 0x40, 0x20
FileEndOfFileInformation = 20
MAX_PROFILE = 1 << 20          # a profile file is read whole: at most 1 MiB
BLANKS = " \t"


# ============================================================================================ the file
class Profile:
    """A parsed .ini file: `head` the raw lines before the first section, `sections` [name, entries] with
    entries [key, value or None]."""

    def __init__(self, text: str = ""):
        self.head: list[str] = []
        self.sections: list[list] = []
        cur = None
        for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            line = raw.strip(BLANKS + "\0")
            if line.startswith("["):
                end = line.find("]")
                name = (line[1:end] if end >= 0 else line[1:]).strip(BLANKS)
                cur = [name, []]
                self.sections.append(cur)
            elif cur is None:
                if raw.strip(BLANKS + "\0"):
                    self.head.append(raw)
            elif not line or line.startswith(";"):
                continue
            elif "=" in line:
                k, v = line.split("=", 1)
                cur[1].append([k.strip(BLANKS), v.strip(BLANKS)])
            else:
                cur[1].append([line, None])

    def section(self, name: str):
        low = name.lower()
        return next((s for s in self.sections if s[0].lower() == low), None)

    def text(self) -> str:
        out = [h + "\r\n" for h in self.head]
        for name, entries in self.sections:
            out.append(f"[{name}]\r\n")
            out += [(k if v is None else f"{k}={v}") + "\r\n" for k, v in entries]
        return "".join(out)


def _path(c, name: str | None) -> str:
    if name is None:
        name = "win.ini"
    if "\\" not in name and "/" not in name:
        root = c.machine.system_root
        return root + "\\" + name if name else root
    return name


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le", "replace"), "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace"), "utf-8"
    return data.decode("cp1252", "replace"), "ansi"


def _encode(text: str, enc: str) -> bytes:
    if enc == "utf-16":
        return b"\xff\xfe" + text.encode("utf-16-le", "surrogatepass")
    if enc == "utf-8":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    return text.encode("cp1252", "replace")


# ============================================================================================ IniFileMapping
MAPPING_KEY = "\\Registry\\Machine\\Software\\Microsoft\\Windows NT\\CurrentVersion\\IniFileMapping\\"
KEY_READ, KEY_WRITE, KEY_WOW64_64KEY = 0x20019, 0x20006, 0x100
KeyValuePartialInformation, KeyValueFullInformation, KeyBasicInformation = 2, 1, 0
REG_SZ = 1
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
MAX_ENTRIES = 4096            # values or subkeys read from one mapping key


class Target:
    """A registry key a mapped section (or key) lives in: its full name, and whether the file is written too."""

    def __init__(self, path: str, also_file: bool):
        self.path, self.also_file = path, also_file

    def below(self, name: str) -> "Target":
        return Target(self.path + "\\" + name, self.also_file)


class Mapping:
    """The IniFileMapping key of one file: values (lower-case name or None for the default → location) and
    subkeys (lower-case section → (name, values))."""

    def __init__(self):
        self.values: dict[str | None, str] = {}
        self.names: list[str] = []                      # the sections named, in the key's order
        self.subkeys: dict[str, tuple[str, dict[str | None, str]]] = {}


def _ok(st: int) -> bool:
    return not st & 0x80000000


def _reg_open(c, path: str, access: int) -> int:
    ph = c.stack_alloc(c.ptr_size)
    oa = c.object_attributes(c.unicode_string(path), 0x40, 0)
    st = c.nt("NtOpenKeyEx", ph, access, oa, 0)
    return c.ptr(ph) if _ok(st) else 0


def _reg_create(c, path: str, access: int, depth: int = 0) -> tuple[int, int]:
    """(handle, 0) or (0, NTSTATUS): NtCreateKey, creating the missing parents first (as RegCreateKeyEx)."""
    ph = c.stack_alloc(c.ptr_size)
    oa = c.object_attributes(c.unicode_string(path), 0x40, 0)
    st = c.nt("NtCreateKey", ph, access, oa, 0, 0, 0, 0)
    if st == STATUS_OBJECT_NAME_NOT_FOUND and depth < 32 and path.count("\\") > 2:
        parent = path.rsplit("\\", 1)[0]
        h, st = _reg_create(c, parent, KEY_READ, depth + 1)
        if h:
            c.nt("NtClose", h)
            st = c.nt("NtCreateKey", ph, access, oa, 0, 0, 0, 0)
    return (c.ptr(ph), 0) if _ok(st) else (0, st)


def _reg_values(c, h: int) -> list[tuple[str, int, bytes]]:
    """Every value of a key: (name, type, data), bounded."""
    from winhatch.win32.advapi32.reg import _Fail, _query
    out = []
    for i in range(MAX_ENTRIES):
        try:
            rec = _query(c, "NtEnumerateValueKey", (h, i), KeyValueFullInformation)
        except _Fail:
            break
        _ti, t, doff, dlen, nlen = struct.unpack_from("<IIIII", rec)
        out.append((rec[20:20 + nlen].decode("utf-16-le", "replace"), t, rec[doff:doff + dlen]))
    return out


def _reg_subkeys(c, h: int) -> list[str]:
    from winhatch.win32.advapi32.reg import _Fail, _query
    out = []
    for i in range(MAX_ENTRIES):
        try:
            rec = _query(c, "NtEnumerateKey", (h, i), KeyBasicInformation)
        except _Fail:
            break
        nlen = struct.unpack_from("<I", rec, 12)[0]
        out.append(rec[16:16 + nlen].decode("utf-16-le", "replace"))
    return out


def _sz(t: int, data: bytes) -> str | None:
    if t != REG_SZ:
        return None
    text = data[:len(data) & ~1].decode("utf-16-le", "replace")
    return text.split("\0", 1)[0]


def _string_values(c, h: int) -> dict[str | None, str]:
    vals: dict[str | None, str] = {}
    for n, t, d in _reg_values(c, h):
        v = _sz(t, d)
        if v is not None:
            vals[n.lower() if n else None] = v
    return vals


def mapping(c, name: str | None) -> Mapping | None:
    """The file's IniFileMapping key, read now (None: the file is not mapped)."""
    base = _path(c, name).replace("/", "\\").rsplit("\\", 1)[-1]
    if not base:
        return None
    h = _reg_open(c, MAPPING_KEY + base, KEY_READ | KEY_WOW64_64KEY)
    if not h:
        return None
    m = Mapping()
    try:
        for n, t, d in _reg_values(c, h):
            v = _sz(t, d)
            if v is None:
                continue
            if n:
                m.names.append(n)
            m.values[n.lower() if n else None] = v
        for sub in _reg_subkeys(c, h):
            hs = _reg_open(c, MAPPING_KEY + base + "\\" + sub, KEY_READ | KEY_WOW64_64KEY)
            if hs:
                m.subkeys[sub.lower()] = (sub, _string_values(c, hs))
                c.nt("NtClose", hs)
    finally:
        c.nt("NtClose", h)
    return m


def _target(c, location: str) -> Target | None:
    """A location "[!#@]USR:path" or "[!#@]SYS:path" as a registry key name (None: not a location)."""
    also_file = False
    loc = location
    while loc[:1] in ("!", "#", "@"):
        also_file |= loc[0] == "!"
        loc = loc[1:]
    kind, rest = loc[:4].upper(), loc[4:].strip("\\")
    if kind == "USR:":
        from winhatch.win32.advapi32.reg import current_user_key_path
        return Target(current_user_key_path(c) + ("\\" + rest if rest else ""), also_file)
    if kind == "SYS:":
        return Target("\\Registry\\Machine\\Software" + ("\\" + rest if rest else ""), also_file)
    return None


def section_target(c, m: Mapping, section: str) -> Target | None:
    """Where a section's keys not named by a subkey live (None: in the file)."""
    sub = m.subkeys.get(section.lower())
    if sub is not None:
        return _target(c, sub[1][None]) if None in sub[1] else None
    if section.lower() in m.values:
        return _target(c, m.values[section.lower()])
    if None in m.values:
        t = _target(c, m.values[None])
        return t.below(section) if t else None
    return None


def key_target(c, m: Mapping, section: str, key: str) -> Target | None:
    sub = m.subkeys.get(section.lower())
    if sub is not None and key.lower() in sub[1]:
        return _target(c, sub[1][key.lower()])
    return section_target(c, m, section)


def named_targets(c, m: Mapping, section: str) -> list[tuple[str, Target]]:
    """The keys a section's subkey maps one by one: (key name, target)."""
    sub = m.subkeys.get(section.lower())
    out = []
    for k, loc in (sub[1].items() if sub else ()):
        t = _target(c, loc) if k is not None else None
        if t is not None:
            out.append((k, t))
    return out


def is_mapped(c, m: Mapping | None, section: str) -> bool:
    return m is not None and (section.lower() in m.subkeys or section_target(c, m, section) is not None)


def reg_get(c, t: Target, key: str) -> str | None:
    from winhatch.win32.advapi32.reg import _Fail, _query
    h = _reg_open(c, t.path, KEY_READ)
    if not h:
        return None
    try:
        rec = _query(c, "NtQueryValueKey", (h, c.unicode_string(key)), KeyValuePartialInformation)
    except _Fail:
        return None
    finally:
        c.nt("NtClose", h)
    _ti, typ, n = struct.unpack_from("<III", rec)
    return _sz(typ, rec[12:12 + n])


def reg_entries(c, t: Target) -> list[tuple[str, str]]:
    h = _reg_open(c, t.path, KEY_READ)
    if not h:
        return []
    try:
        return [(n, v) for n, typ, d in _reg_values(c, h) if n and (v := _sz(typ, d)) is not None]
    finally:
        c.nt("NtClose", h)


def reg_set(c, t: Target, key: str, value: str | None) -> int:
    """Set (or, value None, delete) a value; 0 or the NTSTATUS."""
    h, st = _reg_create(c, t.path, KEY_READ | KEY_WRITE)
    if not h:
        return st
    try:
        if value is None:
            st = c.nt("NtDeleteValueKey", h, c.unicode_string(key))
            return 0 if st == STATUS_OBJECT_NAME_NOT_FOUND else st
        data = (value + "\0").encode("utf-16-le", "surrogatepass")
        buf = c.stack_alloc(len(data), 8)
        c.write(buf, data)
        return c.nt("NtSetValueKey", h, c.unicode_string(key), 0, REG_SZ, buf, len(data))
    finally:
        c.nt("NtClose", h)


def reg_clear(c, t: Target) -> int:
    """Delete every value of the key (created if missing, as deleting a mapped section does)."""
    h, st = _reg_create(c, t.path, KEY_READ | KEY_WRITE)
    if not h:
        return st
    try:
        for n, _t, _d in _reg_values(c, h):
            c.nt("NtDeleteValueKey", h, c.unicode_string(n))
        return 0
    finally:
        c.nt("NtClose", h)


def mapped_value(c, m: Mapping, section: str, key: str) -> tuple[bool, str | None]:
    """(True, value or None) for a key in the registry; (False, None) for a key in the file."""
    t = key_target(c, m, section, key)
    if t is None:
        return False, None
    return True, reg_get(c, t, key)


def mapped_lines(c, m: Mapping, section: str, prof: "Profile | None") -> list[tuple[str, str | None]]:
    """A mapped section's entries: the keys mapped one by one, the section's registry key, then (without
    one) the file's other keys."""
    out: list[tuple[str, str | None]] = []
    seen = set()
    for k, t in named_targets(c, m, section):
        v = reg_get(c, t, k)
        if v is not None:
            out.append((k, v))
            seen.add(k.lower())
    t = section_target(c, m, section)
    if t is not None:
        rest = reg_entries(c, t)
    else:
        sec = prof.section(section) if prof else None
        rest = [(k, v) for k, v in sec[1]] if sec else []
    out += [(k, v) for k, v in rest if k.lower() not in seen]
    return out


def _open(c, name: str | None, write: bool) -> tuple[int, int]:
    """(handle, 0) or (0, NTSTATUS)."""
    from winhatch.win32.kernel32.ntfile import nt_name, nt_open
    nt = nt_name(c, _path(c, name))
    if nt is None:
        return 0, 0xC0000033          # STATUS_OBJECT_NAME_INVALID
    access = GENERIC_READ | SYNCHRONIZE | (GENERIC_WRITE if write else 0)
    share = FILE_SHARE_READ | FILE_SHARE_WRITE | (0 if write else FILE_SHARE_DELETE)
    st, h, _info = nt_open(c, nt, access, share, FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT,
                           disposition=FILE_OPEN_IF if write else FILE_OPEN)
    if st & 0x80000000:
        return 0, st
    return h, 0


def _read_all(c, h: int) -> tuple[bytes | None, int]:
    ps = c.ptr_size
    iosb = c.stack_alloc(2 * ps, 8)
    off = c.stack_alloc(8, 8)
    chunk = 0x10000
    buf = heap_alloc(c, chunk)
    if not buf:
        return None, 0xC0000017
    out = bytearray()
    try:
        while len(out) < MAX_PROFILE:
            c.write(off, struct.pack("<q", len(out)))
            st = c.nt("NtReadFile", h, 0, 0, 0, iosb, buf, chunk, off, 0)
            if st == 0xC0000011:       # STATUS_END_OF_FILE
                break
            if st & 0x80000000:
                return None, st
            n = c.ptr(iosb + ps)
            if not n:
                break
            out += c.read(buf, n)
    finally:
        heap_free(c, buf)
    return bytes(out), 0


def _write_all(c, h: int, data: bytes) -> int:
    ps = c.ptr_size
    iosb = c.stack_alloc(2 * ps, 8)
    off = c.stack_alloc(8, 8)
    if data:
        buf = heap_alloc(c, len(data))
        if not buf:
            return 0xC0000017
        try:
            c.write(buf, data)
            c.write(off, struct.pack("<q", 0))
            st = c.nt("NtWriteFile", h, 0, 0, 0, iosb, buf, len(data), off, 0)
        finally:
            heap_free(c, buf)
        if st & 0x80000000:
            return st
    eof = c.stack_alloc(8, 8)
    c.write(eof, struct.pack("<q", len(data)))
    return c.nt("NtSetInformationFile", h, iosb, eof, 8, FileEndOfFileInformation)


def load(c, name: str | None) -> tuple[Profile | None, int]:
    """The parsed file, or (None, NTSTATUS) when it cannot be opened or read."""
    h, st = _open(c, name, False)
    if not h:
        return None, st
    try:
        data, st = _read_all(c, h)
    finally:
        c.nt("NtClose", h)
    if data is None:
        return None, st
    return Profile(_decode(data)[0]), 0


def update(c, name: str | None, change, create: bool = True) -> bool:
    """Open the file for writing (created if missing, unless create is False: then a missing file is left
    alone), apply change(profile), write it back."""
    if not create:
        if load(c, name)[0] is None:
            return True
    h, st = _open(c, name, True)
    if not h:
        c.set_last_nt_error(st)
        return False
    try:
        data, st = _read_all(c, h)
        if data is None:
            c.set_last_nt_error(st)
            return False
        text, enc = _decode(data)
        prof = Profile(text)
        if not change(prof):
            return True
        st = _write_all(c, h, _encode(prof.text(), enc))
        if st & 0x80000000:
            c.set_last_nt_error(st)
            return False
        return True
    finally:
        c.nt("NtClose", h)


# ============================================================================================ output
def _put(c, buf: int, size: int, text: str) -> int:
    """A string truncated to size-1 characters and its NUL; the count copied."""
    if size <= 0:
        return 0
    text = text[:size - 1]
    c.write(buf, c.encode_t(text) + bytes(c.tchar_size()))
    return len(text)


def _put_list(c, buf: int, size: int, items: list[str]) -> int:
    """A double-NUL list. When it does not fit with room to spare, it is cut to size-2 characters, ending in two
    NULs, and size-2 is returned; otherwise its length without the final NUL."""
    full = "".join(i + "\0" for i in items)
    if size <= 0:
        return 0
    if len(full) + 2 <= size or (not full and size >= 1):
        c.write(buf, c.encode_t(full + "\0") if full else c.encode_t("\0"))
        return len(full)
    if size < 2:
        c.write(buf, c.encode_t("\0"))
        return 0
    cut = full[:size - 2]
    c.write(buf, c.encode_t(cut + "\0\0"))
    return size - 2


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1]
    return v


def section_names(c, name) -> tuple[list[str], "Profile | None", int]:
    """The mapped sections, then the file's (each name once)."""
    m = mapping(c, name)
    prof, st = load(c, name)
    names = list(m.names) + [v[0] for v in m.subkeys.values()] if m else []
    seen = {n.lower() for n in names}
    for s in (prof.sections if prof else []):
        if s[0].lower() not in seen:
            names.append(s[0])
            seen.add(s[0].lower())
    return names, prof, st


def section_entries(c, section: str, name) -> tuple[list[tuple[str, str | None]] | None, int]:
    """A section's entries [key, value or None], None when the section does not exist; with the file's
    status."""
    m = mapping(c, name)
    prof, st = load(c, name)
    if is_mapped(c, m, section):
        return mapped_lines(c, m, section, prof), st
    sec = prof.section(section) if prof else None
    return ([(k, v) for k, v in sec[1]] if sec else None), st


def lookup(c, section: str, key: str, name) -> tuple[str | None, int]:
    """A key's value (quotes removed for the file's) or None; with the file's status."""
    m = mapping(c, name)
    if m is not None:
        in_reg, value = mapped_value(c, m, section, key)
        if in_reg:
            return value, 0
    prof, st = load(c, name)
    sec = prof.section(section) if prof else None
    if sec is not None:
        low = key.lower()
        for k, v in sec[1]:
            if v is not None and k.lower() == low:
                return _unquote(v), st
    return None, st


def get_string(c, section, key, default, buf, size, name) -> int:
    size = size & 0xFFFFFFFF
    if not size or not buf:
        return 0
    if section is None:
        return _put_list(c, buf, size, section_names(c, name)[0])
    if key is None:
        entries, _st = section_entries(c, section, name)
        return _put_list(c, buf, size, [k for k, v in entries or () if v is not None and k])
    value, st = lookup(c, section, key, name)
    if value is not None:
        return _put(c, buf, size, value)
    if st:
        c.set_last_nt_error(st)
    return _put(c, buf, size, (default or "").rstrip(" "))


# ============================================================================================ the API
@api(K32, "DWORD WINAPI GetPrivateProfileString%(LPCTSTR lpAppName, LPCTSTR lpKeyName, LPCTSTR lpDefault, "
     "LPTSTR lpReturnedString, DWORD nSize, LPCTSTR lpFileName)")
def GetPrivateProfileString(c, section, key, default, buf, size, name):
    """The value (quotes removed), else the default without its trailing blanks, truncated to nSize-1;
    a NULL section lists the section names, a NULL key the section's keys (double-NUL lists)."""
    return get_string(c, section, key, default, buf, size, name)


@api(K32, "DWORD WINAPI GetProfileString%(LPCTSTR lpAppName, LPCTSTR lpKeyName, LPCTSTR lpDefault, "
     "LPTSTR lpReturnedString, DWORD nSize)")
def GetProfileString(c, section, key, default, buf, size):
    return get_string(c, section, key, default, buf, size, None)


def get_int(c, section, key, default, name) -> int:
    """GetPrivateProfileString's answer with an empty default, read as a number: with a NULL section or key
    that is the list of sections or keys, whose first name is read."""
    if section is None:
        names = section_names(c, name)[0]
        value = names[0] if names else None
    elif key is None:
        entries, _st = section_entries(c, section, name)
        value = next((k for k, v in entries or () if v is not None and k), None)
    else:
        value = lookup(c, section, key, name)[0]
    if not value:
        return default & 0xFFFFFFFF
    # strtol's reading, wrapping at 32 bits: optional sign, then the leading digits (none: 0)
    s = value.lstrip(BLANKS)
    neg = s[:1] == "-"
    if s[:1] in "+-" and s:
        s = s[1:]
    digits = ""
    for ch in s:
        if not ch.isdigit() or not ch.isascii():
            break
        digits += ch
        if len(digits) > 64:
            break
    n = int(digits) if digits else 0
    return (-n if neg else n) & 0xFFFFFFFF


@api(K32, "UINT WINAPI GetPrivateProfileInt%(LPCTSTR lpAppName, LPCTSTR lpKeyName, INT nDefault, "
     "LPCTSTR lpFileName)")
def GetPrivateProfileInt(c, section, key, default, name):
    return get_int(c, section, key, default, name)


@api(K32, "UINT WINAPI GetProfileInt%(LPCTSTR lpAppName, LPCTSTR lpKeyName, INT nDefault)")
def GetProfileInt(c, section, key, default):
    return get_int(c, section, key, default, None)


def get_section(c, section, buf, size, name) -> int:
    size = size & 0xFFFFFFFF
    if section is None or not buf or not size:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if name is None:
        c.set_last_error(ERROR_FILE_NOT_FOUND)
        return 0
    entries, st = section_entries(c, section, name)
    if entries is None and st:
        c.set_last_nt_error(st)
        _put_list(c, buf, size, [])
        return 0
    lines = [k if v is None else f"{k}={v}" for k, v in entries or ()]
    c.set_last_error(0)
    return _put_list(c, buf, size, lines)


@api(K32, "DWORD WINAPI GetPrivateProfileSection%(LPCTSTR lpAppName, LPTSTR lpReturnedString, DWORD nSize, "
     "LPCTSTR lpFileName)")
def GetPrivateProfileSection(c, section, buf, size, name):
    """The section's lines ("key=value", or the line) as a double-NUL list; the last error is ERROR_SUCCESS
    when the file was read."""
    return get_section(c, section, buf, size, name)


@api(K32, "DWORD WINAPI GetProfileSection%(LPCTSTR lpAppName, LPTSTR lpReturnedString, DWORD nSize)")
def GetProfileSection(c, section, buf, size):
    return get_section(c, section, buf, size, "win.ini")


@api(K32, "DWORD WINAPI GetPrivateProfileSectionNames%(LPTSTR lpszReturnBuffer, DWORD nSize, LPCTSTR lpFileName)")
def GetPrivateProfileSectionNames(c, buf, size, name):
    size = size & 0xFFFFFFFF
    if not buf or not size:
        return 0
    names, prof, _st = section_names(c, name)
    if prof is None and not names:
        c.write(buf, c.encode_t("\0"))
        return 0
    return _put_list(c, buf, size, names)


def _reg_done(c, st: int) -> int:
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return 1


def delete_mapped_section(c, m: Mapping, section: str, name) -> int:
    """Delete a mapped section: the values its subkey maps one by one, every value of its registry key (created
    if missing, as on Windows), and the section in the file when the file exists."""
    for k, t in named_targets(c, m, section):
        st = reg_set(c, t, k, None)
        if st & 0x80000000:
            return _reg_done(c, st)
    t = section_target(c, m, section)
    if t is not None:
        st = reg_clear(c, t)
        if st & 0x80000000:
            return _reg_done(c, st)

    def change(prof: Profile) -> bool:
        sec = prof.section(section)
        if sec is None:
            return False
        prof.sections.remove(sec)
        return True
    update(c, name, change, create=False)
    return 1


def write_string(c, section, key, value, name) -> int:
    if section is None and key is None and value is None:
        return 1                # flush the profile cache: nothing is cached between calls
    if section is None:
        c.set_last_error(ERROR_FILE_NOT_FOUND)
        return 0
    m = mapping(c, name)
    if is_mapped(c, m, section):
        if key is None:
            return delete_mapped_section(c, m, section, name)
        t = key_target(c, m, section, key)
        if t is not None:
            if not _reg_done(c, reg_set(c, t, key, value)):
                return 0
            if not t.also_file:
                return 1

    def change(prof: Profile) -> bool:
        sec = prof.section(section)
        if key is None:                          # delete the section
            if sec is None:
                return False
            prof.sections.remove(sec)
            return True
        low = key.lower()
        if value is None:                        # delete the key
            if sec is None:
                return False
            before = len(sec[1])
            sec[1][:] = [e for e in sec[1] if e[1] is None or e[0].lower() != low]
            return len(sec[1]) != before
        if sec is None:
            sec = [section, []]
            prof.sections.append(sec)
        for e in sec[1]:
            if e[1] is not None and e[0].lower() == low:
                e[1] = value
                return True
        sec[1].append([key, value])
        return True
    return 1 if update(c, name, change) else 0


@api(K32, "BOOL WINAPI WritePrivateProfileString%(LPCTSTR lpAppName, LPCTSTR lpKeyName, LPCTSTR lpString, "
     "LPCTSTR lpFileName)")
def WritePrivateProfileString(c, section, key, value, name):
    """Set a key (the section is created at the end); a NULL string deletes the key, a NULL key the section.
    The file is created if missing. A NULL section is ERROR_FILE_NOT_FOUND."""
    return write_string(c, section, key, value, name)


@api(K32, "BOOL WINAPI WriteProfileString%(LPCTSTR lpAppName, LPCTSTR lpKeyName, LPCTSTR lpString)")
def WriteProfileString(c, section, key, value):
    return write_string(c, section, key, value, None)


def write_section(c, section, data: str | None, name) -> int:
    if section is None:
        c.set_last_error(ERROR_FILE_NOT_FOUND)
        return 0
    items = [] if data is None else data.split("\0")
    m = mapping(c, name)
    if is_mapped(c, m, section):
        if data is None:
            return delete_mapped_section(c, m, section, name)
        # the registry's keys are set one by one (the others stay); a key the mapping leaves to the file is
        # not written
        for item in items:
            if not item:
                break
            k, sep, v = item.strip(BLANKS).partition("=")
            t = key_target(c, m, section, k.strip(BLANKS)) if sep else None
            if t is not None and not _reg_done(c, reg_set(c, t, k.strip(BLANKS), v.strip(BLANKS))):
                return 0
        return 1

    def change(prof: Profile) -> bool:
        sec = prof.section(section)
        if data is None:
            if sec is None:
                return False
            prof.sections.remove(sec)
            return True
        entries = []
        for item in items:
            if not item:
                break
            line = item.strip(BLANKS)
            if "=" in line:
                k, v = line.split("=", 1)
                entries.append([k.strip(BLANKS), v.strip(BLANKS)])
            else:
                entries.append([line, None])
        if sec is None:
            prof.sections.append([section, entries])
        else:
            sec[1][:] = entries
        return True
    return 1 if update(c, name, change) else 0


def _read_list(c, addr: int) -> str | None:
    """A double-NUL list of TCHAR strings (bounded)."""
    if not addr:
        return None
    out, off, unit = [], 0, c.tchar_size()
    for _ in range(0x10000):
        s = c.wstr(addr + off) if c.wide else c.astr(addr + off)
        if not s:
            break
        out.append(s)
        off += (len(s.encode("utf-16-le")) // 2 + 1) * 2 if c.wide else len(s.encode("cp1252", "replace")) + 1
    return "\0".join(out) + "\0"


@api(K32, "BOOL WINAPI WritePrivateProfileSection%(LPCTSTR lpAppName, LPCVOID lpString, LPCTSTR lpFileName)")
def WritePrivateProfileSection(c, section, pdata, name):
    """Replace the section's lines with the double-NUL list (a NULL list deletes the section)."""
    return write_section(c, section, _read_list(c, pdata), name)


@api(K32, "BOOL WINAPI WriteProfileSection%(LPCTSTR lpAppName, LPCVOID lpString)")
def WriteProfileSection(c, section, pdata):
    return write_section(c, section, _read_list(c, pdata), None)


@api(K32, "BOOL WINAPI GetPrivateProfileStruct%(LPCTSTR lpszSection, LPCTSTR lpszKey, LPVOID lpStruct, "
     "UINT uSizeStruct, LPCTSTR szFile)")
def GetPrivateProfileStruct(c, section, key, buf, size, name):
    """The value is the bytes in hexadecimal then their checksum (the low byte of their sum): a length other than
    2*(uSizeStruct+1) is ERROR_BAD_LENGTH, a bad digit or checksum ERROR_INVALID_DATA."""
    if section is None or key is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    value, _st = lookup(c, section, key, name)
    if value is None:
        c.set_last_error(ERROR_BAD_LENGTH)     # the empty string GetPrivateProfileString answers is too short
        return 0
    if len(value) != 2 * (size + 1):
        c.set_last_error(ERROR_BAD_LENGTH)
        return 0
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        c.set_last_error(ERROR_INVALID_DATA)
        return 0
    if sum(raw[:-1]) & 0xFF != raw[-1]:
        c.set_last_error(ERROR_INVALID_DATA)
        return 0
    c.write(buf, raw[:-1])
    return 1


@api(K32, "BOOL WINAPI WritePrivateProfileStruct%(LPCTSTR lpszSection, LPCTSTR lpszKey, LPVOID lpStruct, "
     "UINT uSizeStruct, LPCTSTR szFile)")
def WritePrivateProfileStruct(c, section, key, buf, size, name):
    """The bytes in upper-case hexadecimal and their checksum; a NULL structure deletes the key."""
    if section is None or key is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if not buf:
        return write_string(c, section, key, None, name)
    raw = c.read(buf, size & 0xFFFFFFFF)
    text = raw.hex().upper() + "%02X" % (sum(raw) & 0xFF)
    return write_string(c, section, key, text, name)
