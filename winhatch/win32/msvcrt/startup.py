"""C runtime start-up: argv/envp construction, the runtime's exported data (ctype tables, version numbers,
command lines), shared by msvcrt's __getmainargs and ucrt's _configure_*_argv / _initialize_*_environment."""
from __future__ import annotations

import math
import struct
import unicodedata

from winhatch.kernel.structs import PEB, RTL_USER_PROCESS_PARAMETERS
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcrt.cmdline import parse_command_line

# ctype flag bits
_UPPER, _LOWER, _DIGIT, _SPACE, _PUNCT, _CONTROL, _BLANK, _HEX, _ALPHA = (0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40,
                                                                         0x80, 0x100)


def c_locale_ctype(ch: int) -> int:
    """The "C" locale classification of byte ch (0-255), as in the CRT's _ctype table."""
    if ch >= 0x80:
        return 0
    if 0x09 <= ch <= 0x0D:
        return _CONTROL | _SPACE
    if ch < 0x20 or ch == 0x7F:
        return _CONTROL
    if ch == 0x20:
        return _SPACE | _BLANK
    if 0x30 <= ch <= 0x39:
        return _DIGIT | _HEX
    if 0x41 <= ch <= 0x5A:
        return _ALPHA | _UPPER | (_HEX if ch <= 0x46 else 0)
    if 0x61 <= ch <= 0x7A:
        return _ALPHA | _LOWER | (_HEX if ch <= 0x66 else 0)
    return _PUNCT


def wide_ctype(ch: int) -> int:
    """iswctype classification of a UTF-16 code unit (GetStringTypeW's CT_CTYPE1)."""
    if ch < 0x80:
        return c_locale_ctype(ch)
    cat = unicodedata.category(chr(ch)) if not 0xD800 <= ch <= 0xDFFF else "Cs"
    v = 0
    if cat == "Lu":
        v = _ALPHA | _UPPER
    elif cat == "Ll":
        v = _ALPHA | _LOWER
    elif cat.startswith("L"):
        v = _ALPHA
    elif cat == "Nd":
        v = _DIGIT
    elif cat in ("Zs",):
        v = _SPACE | _BLANK
    elif cat in ("Zl", "Zp"):
        v = _SPACE
    elif cat == "Cc":
        v = _CONTROL | (_SPACE if ch == 0x85 else 0)
    elif cat[0] in "PS" or cat in ("No", "Nl"):
        v = _PUNCT
    return v


def ctype_table_bytes() -> bytes:
    return struct.pack("<257H", 0, *(c_locale_ctype(i) for i in range(256)))


def wctype_table_bytes() -> bytes:
    return struct.pack("<257H", 0, *(wide_ctype(i) for i in range(256)))


def init_runtime_data(c, s: R.CrtState, data_addr) -> None:
    """msvcrt's DLL start-up: fill the exported data."""
    ps = c.ptr_size
    cmd = c.proc.command_line
    a = R.new_cstr(c, cmd.encode("cp1252", "replace"))
    c.write_ptr(data_addr(c, "_acmdln"), a)
    c.write_ptr(data_addr(c, "_wcmdln"), R.new_wstr(c, cmd))
    ctype = data_addr(c, "_ctype")
    c.write(ctype, ctype_table_bytes())
    c.write_ptr(data_addr(c, "_pctype"), ctype + 2)
    wct = data_addr(c, "_wctype")
    c.write(wct, wctype_table_bytes())
    c.write_ptr(data_addr(c, "_pwctype"), wct + 2)
    c.write_u32(data_addr(c, "__mb_cur_max"), 1)
    c.write_u32(data_addr(c, "_fmode"), 0)
    c.write_u32(data_addr(c, "_commode"), 0)
    # GetVersion() of a program without a compatibility manifest: 6.2 build 9200
    c.write_u32(data_addr(c, "_osver"), 9200)
    c.write_u32(data_addr(c, "_winmajor"), 6)
    c.write_u32(data_addr(c, "_winminor"), 2)
    c.write_u32(data_addr(c, "_winver"), 0x602)
    c.write_u32(data_addr(c, "_osplatform"), 2)
    c.write(data_addr(c, "_HUGE"), struct.pack("<d", math.inf))
    c.write_u32(data_addr(c, "_sys_nerr"), len(R.ERRNO_MESSAGES) + 1)
    errlist = data_addr(c, "_sys_errlist")
    for i, msg in enumerate(R.ERRNO_MESSAGES + ["Unknown error"]):
        c.write_ptr(errlist + i * ps, R.new_cstr(c, msg.encode()))
    # the time-zone globals before _tzset (the CRT's documented defaults: Pacific time); _tzset, which
    # localtime, mktime and the like call first, gives them the machine's zone (winhatch.win32.msvcrt.time)
    tz = data_addr(c, "_tzname")
    c.write_ptr(tz, R.new_cstr(c, b"PST"))
    c.write_ptr(tz + ps, R.new_cstr(c, b"PDT"))
    c.write_u32(data_addr(c, "_timezone"), 28800)
    c.write_u32(data_addr(c, "_daylight"), 1)
    c.write_u32(data_addr(c, "_dstbias"), (-3600) & 0xFFFFFFFF)
    image = process_image_path(c)
    c.write_ptr(data_addr(c, "_pgmptr"), R.new_cstr(c, image.encode("cp1252", "replace")))
    c.write_ptr(data_addr(c, "_wpgmptr"), R.new_wstr(c, image))


def process_image_path(c) -> str:
    params = PEB.read(c.proc.aspace, c.proc.peb, c.arch, "ProcessParameters")["ProcessParameters"]
    v = RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, params, c.arch, "ImagePathName.Buffer",
                                         "ImagePathName.Length")
    buf, n = v["ImagePathName.Buffer"], v["ImagePathName.Length"]
    if not buf:
        return ""
    return c.read(buf, n).decode("utf-16-le", "replace")


def process_command_line(c) -> str:
    params = PEB.read(c.proc.aspace, c.proc.peb, c.arch, "ProcessParameters")["ProcessParameters"]
    v = RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, params, c.arch, "CommandLine.Buffer", "CommandLine.Length")
    buf, n = v["CommandLine.Buffer"], v["CommandLine.Length"]
    if not buf:
        return c.proc.command_line
    return c.read(buf, n).decode("utf-16-le", "replace")


def configure_argv(c, s: R.CrtState, *, wide: bool, wildcard: bool = False) -> None:
    """Build argc/argv (narrow) or wargv (wide) from the process command line, once each."""
    if (s.wargv if wide else s.argv) and s.argc:
        return
    args = parse_command_line(process_command_line(c))
    if wildcard and any(ch in a for a in args[1:] for ch in "*?"):
        R.not_implemented(c, "wildcard expansion of command-line arguments (_dowildcard / setargv.obj)")
    ps = c.ptr_size
    argv = R.alloc(c, (len(args) + 1) * ps)
    for i, a in enumerate(args):
        p = R.new_wstr(c, a) if wide else R.new_cstr(c, a.encode("cp1252", "replace"))
        c.write_ptr(argv + i * ps, p)
    s.argc = len(args)
    if wide:
        s.wargv = argv
    else:
        s.argv = argv


def environment_strings(c) -> list[str]:
    """The process environment block (ProcessParameters.Environment), "NAME=value" strings in order."""
    params = PEB.read(c.proc.aspace, c.proc.peb, c.arch, "ProcessParameters")["ProcessParameters"]
    v = RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, params, c.arch, "Environment", "EnvironmentSize")
    env, size = v["Environment"], v["EnvironmentSize"]
    if env:
        raw = c.read(env, size) if size else b""
        if not size:
            # walk to the double NUL
            out = bytearray()
            a = env
            while True:
                chunk = c.read(a, 512)
                out += chunk
                idx = out.find(b"\0\0\0\0")
                while idx >= 0 and idx % 2:
                    idx = out.find(b"\0\0\0\0", idx + 1)
                if idx >= 0:
                    raw = bytes(out[:idx + 2])
                    break
                a += 512
        text = raw.decode("utf-16-le", "replace")
        items = text.split("\0")
        out_items = []
        for it in items:
            if not it:
                break
            out_items.append(it)
        return out_items
    return [f"{k}={v}" for k, v in (c.proc.subsystem.get("environment") or {}).items()]


def crt_environ(c, s: R.CrtState) -> list[str]:
    if s.environ is None:
        # the CRT's copy skips the "=C:=C:\\dir" drive-directory entries
        s.environ = [e for e in environment_strings(c) if not e.startswith("=")]
    return s.environ


def build_environ_array(c, s: R.CrtState, wide: bool) -> int:
    items = crt_environ(c, s)
    ps = c.ptr_size
    arr = R.alloc(c, (len(items) + 1) * ps)
    for i, e in enumerate(items):
        p = R.new_wstr(c, e) if wide else R.new_cstr(c, e.encode("cp1252", "replace"))
        c.write_ptr(arr + i * ps, p)
    return arr


def environ_ptr(c, s: R.CrtState, wide: bool) -> int:
    """_environ / _wenviron (built on first use), also stored in msvcrt's data exports."""
    if wide:
        if not s.wenviron_ptr:
            s.wenviron_ptr = build_environ_array(c, s, True)
            _store_env_data(c, s, "_wenviron", s.wenviron_ptr)
        return s.wenviron_ptr
    if not s.environ_ptr:
        s.environ_ptr = build_environ_array(c, s, False)
        _store_env_data(c, s, "_environ", s.environ_ptr)
    return s.environ_ptr


def _store_env_data(c, s: R.CrtState, name: str, value: int) -> None:
    if s.flavor == R.MSVCRT:
        from winhatch.win32.msvcrt.exports import data_addr
        c.write_ptr(data_addr(c, name), value)
    else:
        slot = s.statics.get("p" + name)
        if slot is None:
            slot = s.statics["p" + name] = R.alloc(c, c.ptr_size)
        c.write_ptr(slot, value)


def env_slot(c, s: R.CrtState, name: str) -> int:
    """ucrt: the address of its _environ/_wenviron variable (__p__environ)."""
    slot = s.statics.get("p" + name)
    if slot is None:
        slot = s.statics["p" + name] = R.alloc(c, c.ptr_size)
    return slot


def rebuild_environ(c, s: R.CrtState) -> None:
    """After _putenv: rebuild the arrays the program may hold (both forms that exist)."""
    if s.environ_ptr:
        s.environ_ptr = build_environ_array(c, s, False)
        _store_env_data(c, s, "_environ", s.environ_ptr)
    if s.wenviron_ptr:
        s.wenviron_ptr = build_environ_array(c, s, True)
        _store_env_data(c, s, "_wenviron", s.wenviron_ptr)
