"""user32: message boxes. There is no desktop: a message box is recorded as a `ui` event (its caption,
text and buttons are in the event log and the report) and answered at once as a user clicking the default
button would (IDOK for MB_OK, the first button otherwise), so the program goes on as it would on Windows.
"""
from __future__ import annotations

from winhatch.win32.api import api

U32 = "user32.dll"
IDOK, IDCANCEL, IDABORT, IDRETRY, IDIGNORE, IDYES, IDNO, IDTRYAGAIN, IDCONTINUE = 1, 2, 3, 4, 5, 6, 7, 10, 11
# MB_TYPEMASK value -> the default (first) button's result, or the result of MB_DEFBUTTON2/3
_BUTTONS = {0: (IDOK,), 1: (IDOK, IDCANCEL), 2: (IDABORT, IDRETRY, IDIGNORE), 3: (IDYES, IDNO, IDCANCEL),
            4: (IDYES, IDNO), 5: (IDRETRY, IDCANCEL), 6: (IDCANCEL, IDTRYAGAIN, IDCONTINUE)}


def _message_box(c, text, caption, style, api_name) -> int:
    buttons = _BUTTONS.get(style & 0xF, (IDOK,))
    default = (style >> 8) & 0xF  # MB_DEFBUTTON1..4 = 0x000, 0x100, 0x200, 0x300
    answer = buttons[default] if default < len(buttons) else buttons[0]
    c.machine.events.emit("ui", "message_box", c.proc.pid, c.thread.tid, api=api_name,
                          caption=caption if caption is not None else "Error", text=text or "",
                          style=f"0x{style:x}", answer=answer)
    return answer


@api(U32, "int WINAPI MessageBox%(HWND hWnd, LPCTSTR lpText, LPCTSTR lpCaption, UINT uType)")
def MessageBox(c, hwnd, text, caption, style):
    return _message_box(c, text, caption, style, c.name)


@api(U32, "int WINAPI MessageBoxEx%(HWND hWnd, LPCTSTR lpText, LPCTSTR lpCaption, UINT uType, WORD wLanguageId)")
def MessageBoxEx(c, hwnd, text, caption, style, lang):
    return _message_box(c, text, caption, style, c.name)


@api(U32, "int WINAPI MessageBoxTimeout%(HWND hWnd, LPCTSTR lpText, LPCTSTR lpCaption, UINT uType, "
          "WORD wLanguageId, DWORD dwMilliseconds)")
def MessageBoxTimeout(c, hwnd, text, caption, style, lang, ms):
    return _message_box(c, text, caption, style, c.name)


# ------------------------------------------------------------------------------------------ string tables
RT_STRING = 6
ERROR_RESOURCE_DATA_NOT_FOUND = 1812
ERROR_RESOURCE_TYPE_NOT_FOUND = 1813
ERROR_RESOURCE_NAME_NOT_FOUND = 1814


def _string_resource(c, hinst: int, uid: int) -> tuple[int, int] | None:
    """(guest address, length in WCHARs) of string `uid` in the module's RT_STRING table, or None.

    Strings live in blocks of 16: block id = uid / 16 + 1, each string a WORD length then UTF-16 text."""
    from winhatch.win32.kernel32.resource import resource_view
    view = resource_view(c, hinst)        # an image module, or a data-file module (LoadLibraryEx AS_DATAFILE)
    if view is None or view.pe.resources is None:
        c.set_last_error(ERROR_RESOURCE_TYPE_NOT_FOUND if view is not None else 6)
        return None
    entry = view.pe.resources.find(RT_STRING, (uid >> 4) + 1)
    if entry is None or entry.directory is None or not entry.directory.entries:
        c.set_last_error(ERROR_RESOURCE_NAME_NOT_FOUND)
        return None
    langs = {e.key: e for e in entry.directory.entries}
    leaf = (langs.get(0x409) or langs.get(0) or entry.directory.entries[0]).data  # English (US), else neutral
    if leaf is None:
        c.set_last_error(ERROR_RESOURCE_DATA_NOT_FOUND)
        return None
    addr = view.address(leaf.rva)
    if addr is None:
        c.set_last_error(ERROR_RESOURCE_DATA_NOT_FOUND)
        return None
    end = addr + leaf.size
    for _ in range(uid & 15):  # skip the strings before ours (bounded by the block's size)
        if addr + 2 > end:
            c.set_last_error(ERROR_RESOURCE_NAME_NOT_FOUND)
            return None
        addr += 2 + 2 * int.from_bytes(c.read(addr, 2), "little")
    if addr + 2 > end:
        c.set_last_error(ERROR_RESOURCE_NAME_NOT_FOUND)
        return None
    n = int.from_bytes(c.read(addr, 2), "little")
    if n == 0 or addr + 2 + 2 * n > end:
        c.set_last_error(ERROR_RESOURCE_NAME_NOT_FOUND)
        return None
    return addr + 2, n


@api(U32, "int WINAPI LoadString%(HINSTANCE hInstance, UINT uID, LPTSTR lpBuffer, int cchBufferMax)")
def LoadString(c, hinst, uid, buf, cch):
    """The string copied (truncated to cchBufferMax - 1 characters) and its length; LoadStringW with
    cchBufferMax 0 stores a read-only pointer to the resource text instead, as Windows documents."""
    found = _string_resource(c, hinst, uid & 0xFFFF)
    if found is None:
        if buf and cch:
            c.write(buf, bytes(c.tchar_size()))
        return 0
    addr, n = found
    if c.wide and cch == 0:
        c.write_ptr(buf, addr)
        return n
    if not buf or cch <= 0:
        return 0
    text = c.read(addr, 2 * n).decode("utf-16-le", "replace")
    data = c.encode_t(text)
    size = c.tchar_size()
    keep = min(len(data) // size, cch - 1)
    c.write(buf, data[:keep * size] + bytes(size))
    return keep


# ------------------------------------------------------------------------------------------ characters
def _char(c, ch: int) -> str:
    if c.wide:
        return chr(ch & 0xFFFF)
    return bytes([ch & 0xFF]).decode("cp1252", "replace")


@api(U32, "BOOL WINAPI IsCharAlpha%(TCHAR ch)")
def IsCharAlpha(c, ch):
    return 1 if _char(c, ch).isalpha() else 0


@api(U32, "BOOL WINAPI IsCharAlphaNumeric%(TCHAR ch)")
def IsCharAlphaNumeric(c, ch):
    return 1 if _char(c, ch).isalnum() else 0


@api(U32, "BOOL WINAPI IsCharUpper%(TCHAR ch)")
def IsCharUpper(c, ch):
    return 1 if _char(c, ch).isupper() else 0


@api(U32, "BOOL WINAPI IsCharLower%(TCHAR ch)")
def IsCharLower(c, ch):
    return 1 if _char(c, ch).islower() else 0


def _case_map(c, arg: int, upper: bool) -> int:
    """CharUpper/CharLower: a string converted in place, or (HIWORD 0) a single character converted."""
    def conv(s: str) -> str:
        out = s.upper() if upper else s.lower()
        return out if len(out) == len(s) else s  # ß and friends keep their length, as Windows does
    if arg >> 16 == 0:
        ch = conv(_char(c, arg))
        return ord(ch) if c.wide else ch.encode("cp1252", "replace")[0]
    text = c.tstr(arg) or ""
    c.write(arg, c.encode_t(conv(text)))
    return arg


@api(U32, "LPTSTR WINAPI CharUpper%(LPTSTR_OR_CHAR lpsz)")
def CharUpper(c, arg):
    return _case_map(c, arg, True)


@api(U32, "LPTSTR WINAPI CharLower%(LPTSTR_OR_CHAR lpsz)")
def CharLower(c, arg):
    return _case_map(c, arg, False)


@api(U32, "LPTSTR WINAPI CharNext%(LPCTSTR_RAW lpsz)")
def CharNext(c, p):
    size = c.tchar_size()
    return p if int.from_bytes(c.read(p, size), "little") == 0 else p + size


@api(U32, "LPTSTR WINAPI CharPrev%(LPCTSTR_RAW lpszStart, LPCTSTR_RAW lpszCurrent)")
def CharPrev(c, start, cur):
    return cur - c.tchar_size() if cur > start else start


def _lead_ranges(cp: int) -> list[tuple[int, int]]:
    """The lead-byte ranges of a code page (empty for single-byte and unknown code pages: a byte that
    IsDBCSLeadByteEx would not call a lead byte)."""
    from winhatch.win32.kernel32.codepages import VALID_CODE_PAGES, _cpinfo, resolve_cp
    rcp = resolve_cp(cp & 0xFFFF)
    if rcp not in VALID_CODE_PAGES:
        return []
    lead = _cpinfo(rcp)[2]
    return [(lead[i], lead[i + 1]) for i in range(0, 12, 2) if lead[i]]


def _is_lead(ranges, b: int) -> bool:
    return any(lo <= b <= hi for lo, hi in ranges)


@api(U32, "LPSTR WINAPI CharNextExA(WORD CodePage, LPCSTR_RAW lpCurrentChar, DWORD dwFlags)")
def CharNextExA(c, cp, p, flags):
    """The next character of a string in the code page: past a lead byte and its trail byte (unless the
    trail is the terminating NUL); the terminating NUL itself does not move."""
    b = c.read(p, 2)
    if b[0] == 0:
        return p
    return p + 2 if _is_lead(_lead_ranges(cp), b[0]) and b[1] != 0 else p + 1


CHARPREV_WALK_MAX = 1 << 20


@api(U32, "LPSTR WINAPI CharPrevExA(WORD CodePage, LPCSTR_RAW lpStart, LPCSTR_RAW lpCurrentChar, DWORD dwFlags)")
def CharPrevExA(c, cp, start, cur, flags):
    """The character before lpCurrentChar, found by walking from lpStart in a double-byte code page (one
    byte back in a single-byte one); lpStart when lpCurrentChar is not after it. (A walk longer than 1 MiB
    steps back one byte, as if single-byte.)"""
    if cur <= start:
        return start
    ranges = _lead_ranges(cp)
    if not ranges or cur - start > CHARPREV_WALK_MAX:
        return cur - 1
    data = c.read(start, cur - start + 1)
    i = prev = 0
    while i < cur - start:
        prev = i
        i += 2 if _is_lead(ranges, data[i]) and data[i + 1] != 0 else 1
    return start + prev


# ------------------------------------------------------------------------------------------ wsprintf
WSPRINTF_MAX = 1024  # documented: the output buffer is at most 1,024 characters


def _wsprintf(c, buf: int, fmt_ptr: int, va) -> int:
    """wsprintf's subset of printf (no floating point): the CRT's engine with msvcrt semantics, where %s is
    the function's own character width and %S the other, as wsprintf defines them."""
    from winhatch.win32.msvcrt.format import Flavor, format_printf
    fmt = c.wstr(fmt_ptr) if c.wide else c.cstr(fmt_ptr)
    out = format_printf(fmt, va, wide=c.wide, flavor=Flavor.MSVCRT, ptr_size=c.ptr_size, codepage="cp1252")
    data = c.encode_t(out) if isinstance(out, str) else out
    size = c.tchar_size()
    keep = min(len(data) // size, WSPRINTF_MAX - 1)
    c.write(buf, data[:keep * size] + bytes(size))
    return keep


@api(U32, "int __cdecl wsprintf%(LPTSTR_RAW buf, LPCTSTR_RAW fmt, ...)")
def wsprintf(c, buf, fmt):
    from winhatch.win32.va import VaArgs
    return _wsprintf(c, buf, fmt, VaArgs.after_params(c))


@api(U32, "int WINAPI wvsprintf%(LPTSTR_RAW buf, LPCTSTR_RAW fmt, va_list args)")
def wvsprintf(c, buf, fmt, args):
    from winhatch.win32.va import VaArgs
    return _wsprintf(c, buf, fmt, VaArgs(c, args))


# ------------------------------------------------------------------------------------------ system metrics
# The metrics a console program asks about its session (winuser.h SM_*): a local, normally booted Windows 10
# desktop session, not shutting down, not remote-controlled, not a server/tablet/media-center edition. The
# display, window and mouse metrics are not modelled (there is no desktop): asking for one stops loudly.
SYSTEM_METRICS = {
    22: 0,        # SM_DEBUG: not a checked build
    42: 0,        # SM_DBCSENABLED: no double-byte character set
    67: 0,        # SM_CLEANBOOT: a normal boot
    73: 0,        # SM_SLOWMACHINE
    74: 0,        # SM_MIDEASTENABLED
    86: 0,        # SM_TABLETPC
    87: 0,        # SM_MEDIACENTER
    88: 0,        # SM_STARTER
    89: 0,        # SM_SERVERR2
    0x1000: 0,    # SM_REMOTESESSION: the console session
    0x2000: 0,    # SM_SHUTTINGDOWN
    0x2001: 0,    # SM_REMOTECONTROL
}


SM_CXSCREEN, SM_CYSCREEN, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN, SM_CMONITORS = 0, 1, 78, 79, 80
SM_CYCAPTION = 4
SPI_GETWORKAREA = 0x30


@api("user32.dll", "int WINAPI GetSystemMetrics(int nIndex)")
def GetSystemMetrics(c, index):
    index &= 0xFFFFFFFF
    if index in SYSTEM_METRICS:
        return SYSTEM_METRICS[index]
    if index == SM_CYCAPTION:
        from winhatch.kernel.io.console import CAPTION_HEIGHT
        return CAPTION_HEIGHT        # a caption at 96 DPI with the Windows 10 theme
    if index in (SM_CXSCREEN, SM_CYSCREEN, SM_CMONITORS, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN):
        # the primary display of the machine's profile (one monitor: the virtual screen is the primary one)
        w, h = c.machine.profile.screen
        return {SM_CXSCREEN: w, SM_CYSCREEN: h, SM_CMONITORS: 1, SM_CXVIRTUALSCREEN: w,
                SM_CYVIRTUALSCREEN: h}[index]
    from winhatch.win32.msvcrt.runtime import not_implemented
    not_implemented(c, f"GetSystemMetrics({index}): display and input metrics (no desktop is modelled)")


@api(U32, "BOOL WINAPI SystemParametersInfo%(UINT uiAction, UINT uiParam, PVOID pvParam, UINT fWinIni)")
def SystemParametersInfo(c, action, param, pv, winini):
    """SPI_GETWORKAREA: the primary display less the taskbar at its bottom (40 pixels at 96 DPI, Windows 10).
    The other settings are not modelled: asking for one stops loudly."""
    if action == SPI_GETWORKAREA:
        from winhatch.kernel.io.console import work_area
        if not pv:
            c.set_last_error(87)
            return 0
        w, h = work_area(c.machine)
        c.write(pv, (0).to_bytes(4, "little") * 2 + w.to_bytes(4, "little") + h.to_bytes(4, "little"))
        return 1
    from winhatch.win32.msvcrt.runtime import not_implemented
    not_implemented(c, f"SystemParametersInfo(action {action:#x})")


# -- window station and desktop handles (win32k's NtUserGetProcessWindowStation / NtUserGetThreadDesktop) -------
@api(U32, "HWINSTA WINAPI GetProcessWindowStation(void)")
def GetProcessWindowStation(c):
    from winhatch.kernel.ob.winsta import process_window_station
    return process_window_station(c.machine, c.proc)


@api(U32, "HDESK WINAPI GetThreadDesktop(DWORD dwThreadId)")
def GetThreadDesktop(c, tid):
    from winhatch.kernel.ob.winsta import process_desktop
    t = c.machine.cid.lookup(tid)
    if t is None or getattr(t, "process", None) is None:
        c.set_last_error(87)          # ERROR_INVALID_PARAMETER: no such thread
        return 0
    if t.process is not c.proc:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, "GetThreadDesktop of another process's thread")
    return process_desktop(c.machine, c.proc)
