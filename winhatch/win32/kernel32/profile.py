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


def update(c, name: str | None, change) -> bool:
    """Open the file for writing (created if missing), apply change(profile), write it back."""
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


def get_string(c, section, key, default, buf, size, name) -> int:
    size = size & 0xFFFFFFFF
    if not size or not buf:
        return 0
    prof, _st = load(c, name)
    if section is None:
        return _put_list(c, buf, size, [s[0] for s in prof.sections] if prof else [])
    sec = prof.section(section) if prof else None
    if key is None:
        keys = [k for k, v in sec[1] if v is not None and k] if sec else []
        return _put_list(c, buf, size, keys)
    if sec is not None:
        low = key.lower()
        for k, v in sec[1]:
            if v is not None and k.lower() == low:
                return _put(c, buf, size, _unquote(v))
    if prof is None and _st:
        c.set_last_nt_error(_st)
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
    prof, _st = load(c, name)
    value = None
    if prof is not None:
        if section is None:
            value = prof.sections[0][0] if prof.sections else None
        else:
            sec = prof.section(section)
            if sec is not None:
                if key is None:
                    value = next((k for k, v in sec[1] if v is not None and k), None)
                else:
                    low = key.lower()
                    value = next((_unquote(v) for k, v in sec[1] if v is not None and k.lower() == low), None)
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
    prof, st = load(c, name)
    if prof is None:
        c.set_last_nt_error(st)
        _put_list(c, buf, size, [])
        return 0
    sec = prof.section(section)
    lines = [k if v is None else f"{k}={v}" for k, v in sec[1]] if sec else []
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
    prof, _st = load(c, name)
    if prof is None:
        c.write(buf, c.encode_t("\0"))
        return 0
    return _put_list(c, buf, size, [s[0] for s in prof.sections])


def write_string(c, section, key, value, name) -> int:
    if section is None:
        c.set_last_error(ERROR_FILE_NOT_FOUND)
        return 0

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
    prof, st = load(c, name)
    sec = prof.section(section) if prof else None
    low = key.lower()
    value = next((v for k, v in sec[1] if v is not None and k.lower() == low), None) if sec else None
    if value is None:
        if prof is None and st:
            c.set_last_nt_error(st)
        else:
            c.set_last_error(ERROR_BAD_LENGTH)
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
