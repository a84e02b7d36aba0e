"""user32: window classes, windows that are never shown, and the thread message queue.

winhatch has no screen: windows exist with their classes, styles, text, geometry, parent/child links, IDs and
window data, and their messages are delivered to their window procedures (guest code) as Windows sends
them, but nothing is ever drawn. CreateWindowEx(A/W) makes top-level, child and message-only (hWndParent
HWND_MESSAGE) windows. Creation sends WM_GETMINMAXINFO (an overlapped or sizing window that is not
message-only), WM_NCCREATE, WM_NCCALCSIZE and WM_CREATE (a FALSE from WM_NCCREATE fails the creation; -1 from
WM_CREATE too, after WM_NCDESTROY), then WM_SIZE and WM_MOVE (an overlapped top-level window gets them
when first shown), WM_PARENTNOTIFY to a child's parent (unless WS_EX_NOPARENTNOTIFY), and WM_SHOWWINDOW for
a WS_VISIBLE child (a WS_VISIBLE top-level window is shown by ShowWindow's sequence). ShowWindow sends
WM_SHOWWINDOW, WM_WINDOWPOSCHANGING and WM_WINDOWPOSCHANGED (DefWindowProc turns the latter into WM_SIZE /
WM_MOVE); there is no activation, focus-by-click, painting or non-client drawing, so WM_ACTIVATE*,
WM_NCACTIVATE, WM_NCPAINT, WM_ERASEBKGND, WM_PAINT, WM_GETICON and the IME messages Windows also sends are
not (UpdateWindow has nothing to paint). DestroyWindow hides a visible window (WM_WINDOWPOSCHANGING/CHANGED),
notifies the parent (WM_PARENTNOTIFY), sends WM_DESTROY to the window then its children, and WM_NCDESTROY to
the children first. SetWindowPos / MoveWindow send WM_WINDOWPOSCHANGING, WM_NCCALCSIZE on a resize and
WM_WINDOWPOSCHANGED. The client area is the window less a frame of Windows 10's sizes at 96 DPI (caption 23,
sizing frame 8, dialog frame 3, border 1, client edge 2). Top-level windows are in z-order newest first, children
in creation order (FindWindow(Ex), EnumWindows, EnumChildWindows, GetWindow); nothing is ever raised or
activated. Icons and cursors are in user32.icons.

Classes (RegisterClass(Ex)(A/W), UnregisterClass(A/W)) are per process, keyed by name (case-insensitive)
and module, with atoms from 0xC000 up as Windows gives registered classes; window extra bytes (cbWndExtra)
and the GWLP_* values are kept with the window (Get/SetWindowLong(Ptr)). The system's control classes
(BUTTON, EDIT, STATIC, LISTBOX, COMBOBOX) and the dialog class #32770 are in user32.controls / user32.dialog.
Text messages between an ANSI caller and a Unicode window (or the reverse) are converted (WM_SETTEXT,
WM_GETTEXT, the CREATESTRUCT's names).

Each thread has a posted-message queue (PostMessage, PostThreadMessage); PeekMessage takes messages from it
in order (filtered by window — NULL for all, -1 for thread messages — and by message range), then WM_TIMER
for a due timer (SetTimer / SetCoalescableTimer, on the emulated clock; the tolerance of a coalescable
timer is not used); DispatchMessage calls the window procedure (or a WM_TIMER's TIMERPROC); SendMessage calls
it at once for a window of the calling thread, and queues a sent message for another thread's window, which
that thread handles before its posted messages and whose reply the sender waits for (user32.sent: also
SendMessageTimeout, SendNotifyMessage, SendMessageCallback, InSendMessage(Ex), ReplyMessage, WaitMessage,
MsgWaitForMultipleObjects(Ex), the marshalling of text and WM_COPYDATA across processes). A thread's windows
are gone once it has ended.
TranslateMessage has no keyboard to translate for and returns FALSE. GetQueueStatus reports what the queue
holds (QS_POSTMESSAGE, QS_TIMER, QS_SENDMESSAGE; the "new since last call" half is the same set). A GetMessage that would
wait when no timer is set and no other thread exists stops the guest loudly (nothing could ever post: the
program waits for a user). There is no input.
"""
from __future__ import annotations

import struct

from winhatch.kernel.ke.traps import SPECULATIVE
from winhatch.win32.api import api

U32 = "user32.dll"
HWND_MESSAGE = -3
ERROR_INVALID_WINDOW_HANDLE = 1400
ERROR_INVALID_HANDLE = 6
ERROR_CLASS_ALREADY_EXISTS = 1410
ERROR_CLASS_DOES_NOT_EXIST = 1411
ERROR_CLASS_HAS_WINDOWS = 1412
ERROR_CANNOT_FIND_WND_CLASS = 1407
ERROR_INVALID_PARAMETER = 87
ERROR_INVALID_INDEX = 1413
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_THREAD_ID = 1444
WM_CREATE, WM_DESTROY, WM_NCCREATE, WM_NCDESTROY, WM_NCCALCSIZE = 0x1, 0x2, 0x81, 0x82, 0x83
WM_TIMER, WM_CLOSE, WM_QUIT = 0x113, 0x10, 0x12
WM_MOVE, WM_SIZE, WM_SETTEXT, WM_GETTEXT, WM_GETTEXTLENGTH, WM_SHOWWINDOW = 0x3, 0x5, 0xC, 0xD, 0xE, 0x18
WM_GETMINMAXINFO, WM_WINDOWPOSCHANGING, WM_WINDOWPOSCHANGED, WM_PARENTNOTIFY, WM_ENABLE = 0x24, 0x46, 0x47, 0x210, 0xA
WM_SETFOCUS, WM_KILLFOCUS, WM_COMMAND, WM_NULL = 0x7, 0x8, 0x111, 0x0
WS_CHILD, WS_POPUP, WS_VISIBLE, WS_DISABLED, WS_THICKFRAME = 0x40000000, 0x80000000, 0x10000000, 0x08000000, 0x40000
WS_CAPTION, WS_BORDER, WS_DLGFRAME = 0xC00000, 0x800000, 0x400000
WS_EX_NOPARENTNOTIFY, WS_EX_CLIENTEDGE, WS_EX_DLGMODALFRAME = 0x4, 0x200, 0x1
SWP_NOSIZE, SWP_NOMOVE, SWP_NOZORDER, SWP_NOACTIVATE, SWP_SHOWWINDOW, SWP_HIDEWINDOW = 0x1, 0x2, 0x4, 0x10, 0x40, 0x80
SWP_NOCLIENTSIZE, SWP_NOCLIENTMOVE = 0x800, 0x1000
CW_USEDEFAULT = 0x80000000
ERROR_TLW_WITH_WSCHILD = 1406
ERROR_INVALID_MENU_HANDLE = 1401
GWLP_WNDPROC, GWLP_HINSTANCE, GWLP_HWNDPARENT, GWLP_ID, GWL_STYLE, GWL_EXSTYLE, GWLP_USERDATA = \
    -4, -6, -8, -12, -16, -20, -21
PM_REMOVE = 0x1
QS_POSTMESSAGE, QS_TIMER, QS_ALLPOSTMESSAGE = 0x8, 0x10, 0x100
DESKTOP_HWND = 0x10010
MAX_QUEUE = 10000      # Windows's default per-thread limit of posted messages (USERPostMessageLimit)


class WndClass:
    __slots__ = ("atom", "name", "wndproc", "style", "cls_extra", "wnd_extra", "hinstance", "windows", "unicode",
                 "builtin", "wndproc_a")

    def __init__(self, atom, name, wndproc, style, cls_extra, wnd_extra, hinstance, unicode=True, builtin=None,
                 wndproc_a=0):
        self.atom, self.name, self.wndproc, self.style = atom, name, wndproc, style
        self.cls_extra, self.wnd_extra, self.hinstance = cls_extra, wnd_extra, hinstance
        self.windows = 0
        self.unicode = unicode          # registered with the W function: its procedure gets UTF-16 text
        self.builtin = builtin          # a system class served in Python ("button", "dialog", …)
        self.wndproc_a = wndproc_a      # a system class's ANSI procedure


class Window:
    __slots__ = ("hwnd", "cls", "wndproc", "tid", "pid", "style", "exstyle", "hinstance", "id", "userdata",
                 "extra", "parent", "timers", "console", "text", "owner", "rect", "client", "need_size",
                 "msgonly", "ctl", "dlg", "destroyed", "icons")

    def __init__(self, hwnd, cls, tid, pid, style, exstyle, hinstance, id_, parent):
        self.hwnd, self.cls, self.wndproc, self.tid, self.pid = hwnd, cls, cls.wndproc, tid, pid
        self.style, self.exstyle, self.hinstance, self.id = style, exstyle, hinstance, id_
        self.userdata = 0
        self.extra = bytearray(cls.wnd_extra)
        self.parent = parent
        self.timers = {}
        self.console = None     # the console a ConsoleWindowClass window shows
        self.text = ""          # the window text (DefWindowProc's WM_SETTEXT / WM_GETTEXT)
        self.owner = 0
        self.rect = (0, 0, 0, 0)        # x, y, cx, cy in the parent's client coordinates (screen for top-level)
        self.client = (0, 0, 0, 0)      # the client area: left, top (in window coordinates), cx, cy
        self.need_size = False          # WM_SIZE / WM_MOVE still owed (sent when first shown)
        self.msgonly = False
        self.ctl = None                 # a system control's state (user32.controls)
        self.dlg = None                 # a dialog's state (user32.dialog)
        self.destroyed = False
        self.icons = [0, 0]             # WM_SETICON's ICON_SMALL, ICON_BIG

    @property
    def visible(self) -> bool:
        return bool(self.style & WS_VISIBLE)


def _state(c) -> dict:
    st = c.machine.subsystem.get("user32_windows")
    if st is None:
        # the message-only windows' parent (what GetAncestor(GA_PARENT) gives for them on Windows): a handle of
        # its own, not a window of any process
        st = c.machine.subsystem["user32_windows"] = {"windows": {}, "next": 0x10014, "queues": {},
                                                      "message_root": 0x10012}
        # the desktop window (GetDesktopWindow): class #32769, 0x10010 as on Windows; it belongs to no
        # process of the guest's (csrss's on Windows), so no guest thread may destroy or change it
        desktop = WndClass(0x8001, "#32769", 0, 0, 0, 0, 0)
        st["windows"][DESKTOP_HWND] = d = Window(DESKTOP_HWND, desktop, 0, 0, 0x96000000, 0, 0, 0, 0)
        sw, sh = c.machine.profile.screen
        d.rect, d.client = (0, 0, sw, sh), (0, 0, sw, sh)       # the primary display of the machine's profile
    return st


def console_window(c, console) -> int:
    """A new console's window (GetConsoleWindow): class ConsoleWindowClass, a top-level window of the
    console host, not of any guest process (so no guest thread may destroy or change it). Nothing draws it."""
    st = _state(c)
    hwnd = st["next"]
    st["next"] += 2
    cls = WndClass(0x8002, "ConsoleWindowClass", 0, 0, 0, 0, 0)
    w = st["windows"][hwnd] = Window(hwnd, cls, 0, 0, 0x14CF0000, 0, 0, 0, 0)   # WS_OVERLAPPEDWINDOW | WS_VISIBLE
    w.console = console
    return hwnd


@api(U32, "BOOL WINAPI GetClientRect(HWND hWnd, LPRECT lpRect)")
def GetClientRect(c, hwnd, rect):
    """A console window's client area: its active screen buffer's window in cells of the buffer's font.
    Another window's: its size less its frame (the window is never drawn, but it has a geometry)."""
    w = _window(c, hwnd)
    if w is None:
        return 0
    if w.console is None:
        c.write(rect, struct.pack("<iiii", 0, 0, w.client[2], w.client[3]))
        return 1
    sb = w.console.active
    fw, fh = sb.font_size
    c.write(rect, struct.pack("<iiii", 0, 0, sb.window_cols * fw, sb.window_lines * fh))
    return 1


def _classes(c) -> dict:
    """(NAME in upper case, hinstance) -> WndClass, and the atoms, for the process."""
    return c.proc.subsystem.setdefault("window_classes", {"by_name": {}, "next_atom": 0xC000})


def _queue(c, tid: int) -> list:
    return _state(c)["queues"].setdefault(tid, [])


def _thread_gone(c, tid: int) -> bool:
    from winhatch.kernel.ps.objects import Thread
    t = c.machine.cid.lookup(tid)
    return not isinstance(t, Thread) or t.terminated


def forget_dead_threads(c) -> None:
    """The windows of threads that have ended are gone (Windows destroys a thread's windows when it ends,
    without sending it anything: the thread is no more). Done when a window is looked up."""
    st = _state(c)
    dead = {w.tid for w in st["windows"].values() if w.tid}
    dead = {t for t in dead if _thread_gone(c, t)}
    if not dead:
        return
    for w in [w for w in st["windows"].values() if w.tid in dead]:
        w.destroyed = True
        st["windows"].pop(w.hwnd, None)
        w.cls.windows -= 1
    for t in dead:
        st.get("focus", {}).pop(t, None)
        st["queues"].pop(t, None)


def _window(c, hwnd: int) -> Window | None:
    w = _state(c)["windows"].get(hwnd & 0xFFFFFFFF)
    if w is not None and w.tid and _thread_gone(c, w.tid):
        forget_dead_threads(c)
        w = None
    if w is None:
        c.set_last_error(ERROR_INVALID_WINDOW_HANDLE)
    return w


def _class_key(c, ptr: int, wide: bool = True):
    if ptr < 0x10000:
        return ptr
    s = c.wstr(ptr) if wide else c.astr(ptr)
    return (s or "").upper()


def _find_class(c, key, hinst: int) -> WndClass | None:
    """The process's class of that name or atom registered by hinst, else a CS_GLOBALCLASS one (the system's
    control classes are global)."""
    from winhatch.win32.user32 import controls
    controls.system_classes(c)
    found = None
    for (name, h), cls in _classes(c)["by_name"].items():
        if cls.atom == key if isinstance(key, int) else name == key:
            if h == hinst:
                return cls
            if cls.style & 0x4000 or not hinst:      # CS_GLOBALCLASS
                found = found or cls
    return found


def add_class(c, name: str, wndproc: int, style: int, cls_extra: int, wnd_extra: int, hinst: int,
              unicode: bool = True, builtin=None, wndproc_a: int = 0, atom: int | None = None) -> WndClass:
    cl = _classes(c)
    if atom is None:
        atom = cl["next_atom"]
        cl["next_atom"] += 1
    cls = cl["by_name"][(name.upper(), hinst)] = WndClass(atom, name, wndproc, style, cls_extra, wnd_extra, hinst,
                                                          unicode, builtin, wndproc_a)
    return cls


def _register(c, name_ptr, wndproc, style, cls_extra, wnd_extra, hinst) -> int:
    if not wndproc or not name_ptr or cls_extra < 0 or wnd_extra < 0 or cls_extra > 40000 or wnd_extra > 40000:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    key = _class_key(c, name_ptr, c.wide)
    if isinstance(key, int):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    cl = _classes(c)
    if (key, hinst) in cl["by_name"]:
        c.set_last_error(ERROR_CLASS_ALREADY_EXISTS)
        return 0
    name = c.wstr(name_ptr) if c.wide else c.astr(name_ptr)
    return add_class(c, name, wndproc, style, cls_extra, wnd_extra, hinst, unicode=c.wide).atom


@api(U32, "ATOM WINAPI RegisterClass%(const WNDCLASS *lpWndClass)")
def RegisterClass(c, wc):
    ps = c.ptr_size
    style = c.u32(wc)
    wndproc = c.ptr(wc + ps)
    cls_extra, wnd_extra = struct.unpack("<ii", c.read(wc + 2 * ps, 8))
    hinst = c.ptr(wc + 2 * ps + 8)
    name = c.ptr(wc + 2 * ps + 8 + 5 * ps)
    return _register(c, name, wndproc, style, cls_extra, wnd_extra, hinst)


@api(U32, "ATOM WINAPI RegisterClassEx%(const WNDCLASSEX *lpWndClass)")
def RegisterClassEx(c, wc):
    ps = c.ptr_size
    size, style = c.u32(wc), c.u32(wc + 4)
    if size != 8 + ps + 8 + 6 * ps + ps:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    wndproc = c.ptr(wc + 8)
    cls_extra, wnd_extra = struct.unpack("<ii", c.read(wc + 8 + ps, 8))
    hinst = c.ptr(wc + 16 + ps)
    name = c.ptr(wc + 16 + 6 * ps)
    return _register(c, name, wndproc, style, cls_extra, wnd_extra, hinst)


@api(U32, "BOOL WINAPI UnregisterClass%(LPCTSTR_OR_ATOM lpClassName, HINSTANCE hInstance)")
def UnregisterClass(c, name_ptr, hinst):
    key = _class_key(c, name_ptr, c.wide)
    by = _classes(c)["by_name"]
    for k, cls in list(by.items()):
        if cls.builtin is None and k[1] == hinst and (cls.atom == key if isinstance(key, int) else k[0] == key):
            if cls.windows:
                c.set_last_error(ERROR_CLASS_HAS_WINDOWS)
                return 0
            del by[k]
            return 1
    c.set_last_error(ERROR_CLASS_DOES_NOT_EXIST)
    return 0


def _not_impl(c, what: str):
    from winhatch.win32.ntdll.seh import raise_unsupported
    raise_unsupported(c, f"user32: {what} (in {c.name})")


def text_bytes(c, text: str, wide: bool) -> bytes:
    return text.encode("utf-16-le") if wide else text.encode(c.machine.nls.ansi_codec, "replace")


def read_text(c, ptr: int, wide: bool) -> str:
    if not ptr:
        return ""
    return (c.wstr(ptr) if wide else c.astr(ptr)) or ""


def text_len(c, text: str, wide: bool) -> int:
    return len(text_bytes(c, text, wide)) // (2 if wide else 1)


def put_text(c, buf: int, cch: int, text: str, wide: bool) -> int:
    """Copy text into a caller's buffer of cch characters (truncated, always terminated); the count copied."""
    if not buf or cch <= 0:
        return 0
    size = 2 if wide else 1
    data = text_bytes(c, text, wide)
    keep = min(len(data) // size, cch - 1)
    c.write(buf, data[:keep * size] + bytes(size))
    return keep


def _guest_str(c, text: str, wide: bool) -> int:
    from winhatch.win32.kernel32.common import heap_alloc
    data = text_bytes(c, text, wide) + bytes(2 if wide else 1)
    buf = heap_alloc(c, len(data), 0x8)
    c.write(buf, data)
    return buf


def _call_wndproc(c, w: Window, msg: int, wp: int, lp: int, wide: bool | None = None) -> int:
    return send(c, w, msg, wp, lp, w.cls.unicode if wide is None else wide)


def send(c, w: Window, msg: int, wp: int, lp: int, wide: bool = True) -> int:
    """Deliver a message to w's window procedure now, on the calling thread: a system class's procedure in
    Python, a guest procedure as guest code (text converted when the sender's width is not the window's)."""
    if w.tid != c.thread.tid:
        # (the APIs send to another thread's window through user32.sent, which blocks and is re-run; an
        # internal message of an operation on this thread reaching another thread's window is not modelled)
        _not_impl(c, f"a message ({msg:#x}) sent to a window of another thread inside an operation of this one")
    cls = w.cls
    if cls.builtin is not None and w.wndproc in (cls.wndproc, cls.wndproc_a):
        from winhatch.win32.user32 import controls
        return controls.builtin_proc(c, w, msg, wp, lp, wide)
    call = c.machine.dispatcher.call_guest
    unicode = cls.unicode if not (cls.builtin and w.wndproc == cls.wndproc) else True
    if wide == unicode or msg not in (WM_SETTEXT, WM_GETTEXT):
        return call(c.thread, w.wndproc, [w.hwnd, msg, wp, lp])
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    if msg == WM_SETTEXT:
        buf = _guest_str(c, read_text(c, lp, wide), unicode) if lp else 0
        try:
            return call(c.thread, w.wndproc, [w.hwnd, msg, wp, buf])
        finally:
            if buf:
                heap_free(c, buf)
    cch = min(wp & 0xFFFFFFFF, 1 << 20)
    buf = heap_alloc(c, 2 * cch + 2, 0x8)
    try:
        call(c.thread, w.wndproc, [w.hwnd, msg, cch, buf])
        return put_text(c, lp, cch, read_text(c, buf, unicode), wide)
    finally:
        heap_free(c, buf)


def frame_of(style: int, exstyle: int) -> tuple[int, int, int, int]:
    """The non-client frame (left, top, right, bottom) of a window of these styles: Windows 10 at 96 DPI."""
    if style & WS_CHILD and not style & (WS_THICKFRAME | WS_BORDER | WS_DLGFRAME):
        b = 0
    elif style & WS_THICKFRAME:
        b = 8                                   # SM_CXSIZEFRAME 4 + SM_CXPADDEDBORDER 4
    elif style & WS_DLGFRAME or exstyle & WS_EX_DLGMODALFRAME:
        b = 3                                   # SM_CXFIXEDFRAME
    elif style & WS_BORDER:
        b = 1                                   # SM_CXBORDER
    else:
        b = 0
    if exstyle & WS_EX_CLIENTEDGE:
        b += 2                                  # SM_CXEDGE
    top = b
    if style & WS_CAPTION == WS_CAPTION:
        from winhatch.kernel.io.console import CAPTION_HEIGHT
        top += CAPTION_HEIGHT
    return b, top, b, b


def children(c, w: Window) -> list[Window]:
    return [x for x in _state(c)["windows"].values() if x.parent == w.hwnd and x.style & WS_CHILD
            and not x.destroyed]


def create_window(c, exstyle, cls_key, title_ptr, style, x, y, cx, cy, parent, menu, hinst, param,
                  wide: bool, class_ptr: int | None = None) -> int:
    """CreateWindowEx for both widths (the dialog manager creates its windows here too)."""
    ps = c.ptr_size
    style &= 0xFFFFFFFF
    exstyle &= 0xFFFFFFFF
    parent &= 0xFFFFFFFF if ps == 4 else 0xFFFFFFFFFFFFFFFF
    msgonly = parent & 0xFFFFFFFF == HWND_MESSAGE & 0xFFFFFFFF
    st = _state(c)
    pw = None
    if parent and not msgonly:
        pw = _window(c, parent)
        if pw is None:
            return 0
        parent = pw.hwnd
    if style & WS_CHILD and pw is None and not msgonly:
        c.set_last_error(ERROR_TLW_WITH_WSCHILD)
        return 0
    if (style & WS_CHILD) == 0 and menu and not msgonly:
        _not_impl(c, "CreateWindowEx with a menu (menus are not implemented)")
    cls = _find_class(c, cls_key, hinst)
    if cls is None:
        c.set_last_error(ERROR_CANNOT_FIND_WND_CLASS)
        return 0
    is_child = bool(style & WS_CHILD) and pw is not None
    if not is_child and not msgonly and not style & WS_POPUP:
        style |= WS_CAPTION | 0x04000000        # an overlapped window always has a caption (WS_CLIPSIBLINGS)
    hwnd = st["next"]
    st["next"] += 2
    w = Window(hwnd, cls, c.thread.tid, c.proc.pid, style & ~WS_VISIBLE, exstyle, hinst,
               (menu & 0xFFFFFFFF) if is_child or msgonly else 0, st["message_root"] if msgonly else
               (pw.hwnd if is_child else 0))
    w.msgonly = msgonly
    if not is_child and pw is not None:
        w.owner = pw.hwnd
    x, y, cx, cy = (v - (1 << 32) if v & 0x80000000 and v != CW_USEDEFAULT else v
                    for v in (x & 0xFFFFFFFF, y & 0xFFFFFFFF, cx & 0xFFFFFFFF, cy & 0xFFFFFFFF))
    if x == CW_USEDEFAULT or y == CW_USEDEFAULT:
        x = y = 0 if is_child or style & WS_POPUP else 26       # the first cascade position
    if cx == CW_USEDEFAULT or cy == CW_USEDEFAULT:
        if is_child or style & WS_POPUP:
            cx = cy = 0
        else:
            sw, sh = c.machine.profile.screen
            cx, cy = sw * 3 // 4, sh * 3 // 4
    w.rect = (x, y, max(cx, 0), max(cy, 0))
    w.need_size = not is_child and not msgonly and not style & WS_POPUP
    st["windows"][hwnd] = w
    cls.windows += 1
    unicode = cls.unicode
    # CREATESTRUCT: lpCreateParams, hInstance, hMenu, hwndParent, cy, cx, y, x, style, lpszName, lpszClass,
    # dwExStyle (x64: the pointers after style start at 56); its names in the window's own width
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    names_at = (4 * ps + 20 + ps - 1) & ~(ps - 1)
    cs = heap_alloc(c, names_at + 2 * ps + 8, 0x8)
    temps = []
    name_arg = title_ptr
    if title_ptr and wide != unicode:
        first = c.read(title_ptr, 2 if wide else 1)
        if first not in (b"\xff\xff", b"\xff"):          # not a resource ordinal (0xFFFF, id)
            name_arg = _guest_str(c, read_text(c, title_ptr, wide), unicode)
            temps.append(name_arg)
    class_arg = class_ptr if class_ptr is not None else cls_key if isinstance(cls_key, int) else 0
    if not class_arg or (class_arg >= 0x10000 and wide != unicode):
        # the caller's class name in the window's width (a dialog's class names are the template's)
        class_arg = _guest_str(c, read_text(c, class_ptr, wide) if class_ptr else cls.name, unicode)
        temps.append(class_arg)
    for i, v in enumerate((param, hinst, menu, st["message_root"] if msgonly else (parent if pw else 0))):
        c.write_ptr(cs + i * ps, v)
    c.write(cs + 4 * ps, struct.pack("<IIIII", cy & 0xFFFFFFFF, cx & 0xFFFFFFFF, y & 0xFFFFFFFF, x & 0xFFFFFFFF,
                                     style & 0xFFFFFFFF))
    c.write_ptr(cs + names_at, name_arg)
    c.write_ptr(cs + names_at + ps, class_arg)
    c.write_u32(cs + names_at + 2 * ps, exstyle)
    rect = heap_alloc(c, 16 + 40 + 2 * ps, 0x8)
    try:
        if not msgonly and (style & WS_THICKFRAME or not style & (WS_POPUP | WS_CHILD)):
            sw, sh = c.machine.profile.screen
            # MINMAXINFO: ptReserved, ptMaxSize, ptMaxPosition, ptMinTrackSize, ptMaxTrackSize
            c.write(rect + 16, struct.pack("<10i", 0, 0, sw + 16, sh + 16, -8, -8, 136, 39, sw + 24, sh + 24))
            send(c, w, WM_GETMINMAXINFO, 0, rect + 16, wide)
        if not send(c, w, WM_NCCREATE, 0, cs, wide) & 0xFFFFFFFF:
            _destroy(c, w, notify=False)
            return 0
        if w.destroyed:
            return 0
        c.write(rect, struct.pack("<iiii", x, y, x + w.rect[2], y + w.rect[3]))
        send(c, w, WM_NCCALCSIZE, 0, rect, wide)
        l, t, r, b = struct.unpack("<iiii", c.read(rect, 16))
        w.client = (l - x, t - y, max(0, r - l), max(0, b - t))
        if (send(c, w, WM_CREATE, 0, cs, wide) & 0xFFFFFFFF) == 0xFFFFFFFF:
            send(c, w, WM_NCDESTROY, 0, 0, wide)       # no WM_DESTROY (as Wine's message tests record)
            _destroy(c, w, notify=False)
            return 0
        if w.destroyed:
            return 0
    finally:
        for t in temps:
            heap_free(c, t)
        heap_free(c, cs)
        heap_free(c, rect)
    if msgonly:
        return hwnd
    if not w.need_size:
        _send_size_move(c, w)
    if is_child and not exstyle & WS_EX_NOPARENTNOTIFY:
        send(c, pw, WM_PARENTNOTIFY, (w.id << 16) | WM_CREATE, hwnd, pw.cls.unicode)
        if w.destroyed:
            return 0
    if style & WS_VISIBLE:
        if is_child:
            w.style |= WS_VISIBLE
            send(c, w, WM_SHOWWINDOW, 1, 0)
        else:
            show_window(c, w, 1)
    return 0 if w.destroyed else hwnd


def _send_size_move(c, w: Window) -> None:
    w.need_size = False
    l, t, cx, cy = w.client
    send(c, w, WM_SIZE, 0, (cx & 0xFFFF) | ((cy & 0xFFFF) << 16))
    x, y = w.rect[0] + l, w.rect[1] + t
    send(c, w, WM_MOVE, 0, (x & 0xFFFF) | ((y & 0xFFFF) << 16))


def _windowpos(c, w: Window, msg: int, flags: int) -> None:
    """WM_WINDOWPOSCHANGING / WM_WINDOWPOSCHANGED with a WINDOWPOS (hwnd, hwndInsertAfter, x, y, cx, cy,
    flags)."""
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    ps = c.ptr_size
    wp = heap_alloc(c, 2 * ps + 24, 0x8)
    try:
        c.write_ptr(wp, w.hwnd)
        c.write(wp + 2 * ps, struct.pack("<iiiiI", *w.rect, flags))
        send(c, w, msg, 0, wp)
    finally:
        heap_free(c, wp)


def show_window(c, w: Window, cmd: int) -> int:
    was = int(w.visible)
    if cmd == 0:                                                     # SW_HIDE
        if not was:
            return 0
        send(c, w, WM_SHOWWINDOW, 0, 0)
        flags = SWP_HIDEWINDOW | SWP_NOSIZE | SWP_NOMOVE | SWP_NOZORDER | SWP_NOACTIVATE
        _windowpos(c, w, WM_WINDOWPOSCHANGING, flags)
        w.style &= ~WS_VISIBLE
        _windowpos(c, w, WM_WINDOWPOSCHANGED, flags | SWP_NOCLIENTSIZE | SWP_NOCLIENTMOVE)
        return was
    if cmd in (2, 3, 6, 7, 11):        # SW_SHOWMINIMIZED, SW_MAXIMIZE, SW_MINIMIZE, SW_SHOWMINNOACTIVE, SW_FORCEMINIMIZE
        _not_impl(c, f"ShowWindow({cmd}): minimized and maximized windows")
    if was:
        return was
    send(c, w, WM_SHOWWINDOW, 1, 0)
    if w.destroyed:
        return 0
    flags = SWP_SHOWWINDOW | SWP_NOSIZE | SWP_NOMOVE | SWP_NOZORDER
    if w.style & WS_CHILD:
        flags |= SWP_NOACTIVATE
    _windowpos(c, w, WM_WINDOWPOSCHANGING, flags)
    w.style |= WS_VISIBLE
    _windowpos(c, w, WM_WINDOWPOSCHANGED, flags | SWP_NOCLIENTSIZE | SWP_NOCLIENTMOVE)
    if w.need_size and not w.destroyed:       # an overlapped window's first showing: WM_SIZE then WM_MOVE
        _send_size_move(c, w)
    return was


def _destroy(c, w: Window, notify: bool) -> None:
    st = _state(c)
    if notify:
        w.destroyed = True
        kids = children(c, w)
        if notify == "top":
            if w.visible:
                flags = SWP_HIDEWINDOW | SWP_NOSIZE | SWP_NOMOVE | SWP_NOZORDER | SWP_NOACTIVATE
                _windowpos(c, w, WM_WINDOWPOSCHANGING, flags)
                w.style &= ~WS_VISIBLE
                _windowpos(c, w, WM_WINDOWPOSCHANGED, flags | SWP_NOCLIENTSIZE | SWP_NOCLIENTMOVE)
            if w.style & WS_CHILD and not w.exstyle & WS_EX_NOPARENTNOTIFY:
                pw = st["windows"].get(w.parent)
                if pw is not None and not pw.destroyed:
                    send(c, pw, WM_PARENTNOTIFY, (w.id << 16) | WM_DESTROY, w.hwnd, pw.cls.unicode)
        send(c, w, WM_DESTROY, 0, 0)
        for k in kids:
            _destroy(c, k, notify=True)
        send(c, w, WM_NCDESTROY, 0, 0)
    w.destroyed = True
    if st["windows"].pop(w.hwnd, None) is not None:
        w.cls.windows -= 1
    if st.get("focus", {}).get(w.tid) == w.hwnd:
        st["focus"].pop(w.tid)
    q = st["queues"].get(w.tid)
    if q:
        q[:] = [m for m in q if m[0] != w.hwnd]


@api(U32, "HWND WINAPI CreateWindowEx%(DWORD dwExStyle, LPCTSTR_OR_ATOM lpClassName, LPVOID lpWindowName, "
     "DWORD dwStyle, int X, int Y, int nWidth, int nHeight, HWND hWndParent, HMENU hMenu, HINSTANCE hInstance, "
     "LPVOID lpParam)", calls_guest=True)
def CreateWindowEx(c, exstyle, name_ptr, title_ptr, style, x, y, cx, cy, parent, menu, hinst, param):
    h = create_window(c, exstyle, _class_key(c, name_ptr, c.wide), title_ptr, style, x, y, cx, cy, parent,
                      menu, hinst, param, c.wide, class_ptr=name_ptr)
    if h and not c.wide:
        ansi_system_window(c, h)
    return h


def ansi_system_window(c, hwnd: int) -> None:
    """A window of a system class made by an ANSI function is an ANSI window: its procedure is the class's
    ANSI one (IsWindowUnicode FALSE, GetWindowLongPtr(GWLP_WNDPROC) gives that procedure)."""
    w = _state(c)["windows"].get(hwnd)
    if w is not None and w.cls.builtin is not None and w.wndproc == w.cls.wndproc:
        w.wndproc = w.cls.wndproc_a


@api(U32, "BOOL WINAPI DestroyWindow(HWND hWnd)", calls_guest=True)
def DestroyWindow(c, hwnd):
    w = _window(c, hwnd)
    if w is None:
        return 0
    if w.tid != c.thread.tid:
        c.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    if not w.destroyed:
        _destroy(c, w, notify="top")
    return 1


def def_window_proc(c, w: Window | None, hwnd, msg, wp, lp, wide: bool) -> int:
    """DefWindowProc's handling of the messages of a window that is never drawn: creation (the window text
    from the CREATESTRUCT), the text messages, WM_CLOSE (DestroyWindow) and WM_WINDOWPOSCHANGED (WM_SIZE and
    WM_MOVE for what changed); every other message: 0 (no frame, painting or input to handle)."""
    msg &= 0xFFFFFFFF
    if w is None:
        return 0
    if msg == WM_NCCREATE:
        if lp:
            ps = c.ptr_size
            name = c.ptr(lp + ((4 * ps + 20 + ps - 1) & ~(ps - 1)))
            if name and c.read(name, 2 if wide else 1) not in (b"\xff\xff", b"\xff"):
                w.text = read_text(c, name, wide)
        return 1
    if msg == WM_SETTEXT:
        w.text = read_text(c, lp, wide)
        return 1
    if msg == WM_GETTEXT:
        return put_text(c, lp, min(wp & 0xFFFFFFFF, 1 << 20), w.text, wide)
    if msg == WM_GETTEXTLENGTH:
        return text_len(c, w.text, wide)
    if msg == WM_NCCALCSIZE:
        if lp:                  # the RECT, or NCCALCSIZE_PARAMS's first one: the new window rectangle
            fl, ft, fr, fb = frame_of(w.style, w.exstyle)
            l, t, r, b = struct.unpack("<iiii", c.read(lp, 16))
            c.write(lp, struct.pack("<iiii", l + fl, t + ft, max(l + fl, r - fr), max(t + ft, b - fb)))
        return 0
    if msg == 0x80:                             # WM_SETICON: the previous icon of that size
        if wp not in (0, 1):
            return 0
        old = w.icons[wp]
        w.icons[wp] = lp
        return old
    if msg == 0x7F:                             # WM_GETICON: ICON_SMALL, ICON_BIG, ICON_SMALL2
        if wp == 2:
            if not w.icons[0]:
                _not_impl(c, "WM_GETICON(ICON_SMALL2) of a window without a small icon (the system-generated "
                             "icon)")
            return w.icons[0]
        return w.icons[wp] if wp in (0, 1) else 0
    if msg == WM_CLOSE:
        if w.tid == c.thread.tid and not w.destroyed:
            _destroy(c, w, notify="top")
        return 0
    if msg == WM_WINDOWPOSCHANGED and lp:
        flags = c.u32(lp + 2 * c.ptr_size + 16)
        if not flags & SWP_NOCLIENTMOVE:
            x, y = w.rect[0] + w.client[0], w.rect[1] + w.client[1]
            send(c, w, WM_MOVE, 0, (x & 0xFFFF) | ((y & 0xFFFF) << 16))
        if not flags & SWP_NOCLIENTSIZE and not w.destroyed:
            l, t, cx, cy = w.client
            send(c, w, WM_SIZE, 0, (cx & 0xFFFF) | ((cy & 0xFFFF) << 16))
        return 0
    return 0


@api(U32, "LRESULT WINAPI DefWindowProc%(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam)", calls_guest=True)
def DefWindowProc(c, hwnd, msg, wp, lp):
    w = _state(c)["windows"].get(hwnd & 0xFFFFFFFF)
    return def_window_proc(c, w, hwnd, msg, wp, lp, c.wide)


@api(U32, "LRESULT WINAPI SendMessage%(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam)", calls_guest=True)
def SendMessage(c, hwnd, msg, wp, lp):
    if (hwnd & 0xFFFFFFFF) == 0xFFFF:
        _not_impl(c, "SendMessage(HWND_BROADCAST): there are no top-level windows to broadcast to")
    w = _window(c, hwnd)
    if w is None:
        return 0
    from winhatch.win32.user32 import sent
    return sent.send_any(c, w, msg & 0xFFFFFFFF, wp, lp, c.wide)


@api(U32, "LRESULT WINAPI CallWindowProc%(WNDPROC lpPrevWndFunc, HWND hWnd, UINT Msg, WPARAM wParam, "
     "LPARAM lParam)", calls_guest=True)
def CallWindowProc(c, proc, hwnd, msg, wp, lp):
    if not proc:
        return 0
    w = _state(c)["windows"].get(hwnd & 0xFFFFFFFF)
    if w is not None and w.cls.builtin is not None and proc in (w.cls.wndproc, w.cls.wndproc_a):
        from winhatch.win32.user32 import controls
        return controls.builtin_proc(c, w, msg & 0xFFFFFFFF, wp, lp, c.wide)
    return c.machine.dispatcher.call_guest(c.thread, proc, [hwnd, msg, wp, lp])


@api(U32, "BOOL WINAPI ShowWindow(HWND hWnd, int nCmdShow)", calls_guest=True)
def ShowWindow(c, hwnd, cmd):
    w = _window(c, hwnd)
    if w is None:
        return 0
    if w.tid != c.thread.tid:             # done by the thread that owns the window, as a sent message
        from winhatch.win32.user32 import sent
        cmd &= 0xFFFFFFFF
        if w.console is not None and cmd in (0, 1, 4, 5, 8, 9, 10):
            # the console host's window (its procedure is not guest code): shown or hidden, the previous
            # visibility returned (SW_HIDE, SW_SHOWNORMAL, SW_SHOWNOACTIVATE, SW_SHOW, SW_SHOWNA, SW_RESTORE,
            # SW_SHOWDEFAULT)
            was = int(w.visible)
            if cmd == 0:
                w.style &= ~WS_VISIBLE
            else:
                w.style |= WS_VISIBLE
            return was
        if not w.tid:
            _not_impl(c, f"ShowWindow({cmd}) of a window of the system ({w.cls.name})")
        return sent.run_action(c, w, ("show", cmd), "ShowWindow")
    return show_window(c, w, cmd & 0xFFFFFFFF)


@api(U32, "BOOL WINAPI UpdateWindow(HWND hWnd)")
def UpdateWindow(c, hwnd):
    """Nothing is ever drawn, so no window has an update region: no WM_PAINT is sent."""
    return int(_window(c, hwnd) is not None)


@api(U32, "BOOL WINAPI IsWindowVisible(HWND hWnd)")
def IsWindowVisible(c, hwnd):
    w = _state(c)["windows"].get(hwnd & 0xFFFFFFFF)
    for _ in range(1000):       # up the parent chain
        if w is None or not w.visible:
            return 0
        if not w.style & WS_CHILD:
            return 1
        w = _state(c)["windows"].get(w.parent)
    return 0


@api(U32, "BOOL WINAPI IsWindowEnabled(HWND hWnd)")
def IsWindowEnabled(c, hwnd):
    w = _window(c, hwnd)
    return int(w is not None and not w.style & WS_DISABLED)


@api(U32, "BOOL WINAPI EnableWindow(HWND hWnd, BOOL bEnable)", calls_guest=True)
def EnableWindow(c, hwnd, enable):
    w = _window(c, hwnd)
    if w is None:
        return 0
    was_disabled = int(bool(w.style & WS_DISABLED))
    if bool(enable) == was_disabled:          # a change
        if enable:
            w.style &= ~WS_DISABLED
        else:
            w.style |= WS_DISABLED
        if w.tid == c.thread.tid:
            send(c, w, WM_ENABLE, int(bool(enable)), 0)
    return was_disabled


@api(U32, "BOOL WINAPI SetWindowText%(HWND hWnd, LPCTSTR_RAW lpString)", calls_guest=True)
def SetWindowText(c, hwnd, text):
    w = _window(c, hwnd)
    if w is None:
        return 0
    from winhatch.win32.user32 import sent
    return int(bool(sent.send_any(c, w, WM_SETTEXT, 0, text, c.wide, "SetWindowText")))


@api(U32, "int WINAPI GetWindowText%(HWND hWnd, LPTSTR lpString, int nMaxCount)", calls_guest=True)
def GetWindowText(c, hwnd, buf, cch):
    w = _window(c, hwnd)
    if w is None:
        put_text(c, buf, cch, "", c.wide)
        return 0
    if cch <= 0 or cch & 0x80000000:
        return 0
    if w.pid != c.proc.pid:             # another process's window: its text as stored, no message
        return put_text(c, buf, cch, w.text, c.wide)
    from winhatch.win32.user32 import sent
    return sent.send_any(c, w, WM_GETTEXT, cch, buf, c.wide, "GetWindowText")


@api(U32, "int WINAPI GetWindowTextLength%(HWND hWnd)", calls_guest=True)
def GetWindowTextLength(c, hwnd):
    w = _window(c, hwnd)
    if w is None:
        return 0
    if w.pid != c.proc.pid:
        return text_len(c, w.text, c.wide)
    from winhatch.win32.user32 import sent
    return sent.send_any(c, w, WM_GETTEXTLENGTH, 0, 0, c.wide, "GetWindowTextLength")


@api(U32, "BOOL WINAPI IsWindowUnicode(HWND hWnd)")
def IsWindowUnicode(c, hwnd):
    w = _window(c, hwnd)
    if w is None:
        return 0
    cls = w.cls
    if cls.builtin is not None:
        return int(w.wndproc != cls.wndproc_a)
    return int(cls.unicode)


@api(U32, "HWND WINAPI GetParent(HWND hWnd)")
def GetParent(c, hwnd):
    w = _window(c, hwnd)
    if w is None:
        return 0
    if w.style & WS_CHILD:
        return w.parent
    if w.style & WS_POPUP:
        return w.owner
    return 0


@api(U32, "BOOL WINAPI IsChild(HWND hWndParent, HWND hWnd)")
def IsChild(c, parent, hwnd):
    w = _state(c)["windows"].get(hwnd & 0xFFFFFFFF)
    for _ in range(1000):
        if w is None or not w.style & WS_CHILD:
            return 0
        if w.parent == parent & 0xFFFFFFFF:
            return 1
        w = _state(c)["windows"].get(w.parent)
    return 0


@api(U32, "int WINAPI GetDlgCtrlID(HWND hWnd)")
def GetDlgCtrlID(c, hwnd):
    w = _window(c, hwnd)
    if w is None:
        return 0
    return w.id if w.style & WS_CHILD else 0


GW_HWNDFIRST, GW_HWNDLAST, GW_HWNDNEXT, GW_HWNDPREV, GW_OWNER, GW_CHILD = 0, 1, 2, 3, 4, 5


@api(U32, "HWND WINAPI GetWindow(HWND hWnd, UINT uCmd)")
def GetWindow(c, hwnd, cmd):
    """The window's relatives among its siblings in z-order (top-level windows newest first, children in
    creation order: nothing is raised without a desktop), its owner or its first child."""
    w = _window(c, hwnd)
    if w is None:
        return 0
    if cmd == GW_OWNER:
        return w.owner
    if cmd == GW_CHILD:
        kids = children(c, w)
        return kids[0].hwnd if kids else 0
    if cmd > GW_CHILD:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if w.style & WS_CHILD:
        sibs = [x for x in _state(c)["windows"].values() if x.parent == w.parent and x.style & WS_CHILD]
    else:
        sibs = _top_levels(c) if not w.msgonly else \
            [x for x in _state(c)["windows"].values() if x.msgonly and not x.destroyed]
    i = next((k for k, x in enumerate(sibs) if x is w), 0)
    pick = {GW_HWNDFIRST: 0, GW_HWNDLAST: len(sibs) - 1, GW_HWNDNEXT: i + 1, GW_HWNDPREV: i - 1}[cmd]
    return sibs[pick].hwnd if 0 <= pick < len(sibs) else 0


@api(U32, "int WINAPI GetClassName%(HWND hWnd, LPTSTR lpClassName, int nMaxCount)")
def GetClassName(c, hwnd, buf, cch):
    w = _window(c, hwnd)
    if w is None:
        return 0
    if cch <= 0 or cch & 0x80000000:
        c.set_last_error(ERROR_INVALID_PARAMETER)    # ERROR_INSUFFICIENT_BUFFER on some versions
        return 0
    return put_text(c, buf, cch, w.cls.name, c.wide)


def _top_levels(c) -> list[Window]:
    """The desktop's children in z-order: every top-level window of every process (the console windows
    included), the newest on top as CreateWindowEx places it (nothing is activated or raised without a
    desktop); message-only windows are not among them. Child windows keep their creation order."""
    forget_dead_threads(c)
    return [w for w in reversed(_state(c)["windows"].values()) if w.hwnd != DESKTOP_HWND
            and not w.style & WS_CHILD and not w.msgonly and not w.destroyed]


def _find(c, parent: int, after: int, cls_ptr: int, title: str | None) -> int:
    parent &= 0xFFFFFFFF
    after &= 0xFFFFFFFF
    if parent in (0, DESKTOP_HWND):
        cands = _top_levels(c)
    elif parent == HWND_MESSAGE & 0xFFFFFFFF:
        cands = [w for w in _state(c)["windows"].values() if w.msgonly and not w.destroyed]
    else:
        pw = _window(c, parent)
        if pw is None:
            return 0
        cands = children(c, pw)
    if after:
        i = next((k for k, w in enumerate(cands) if w.hwnd == after), None)
        if i is None:
            c.set_last_error(ERROR_INVALID_WINDOW_HANDLE)
            return 0
        cands = cands[i + 1:]
    key = _class_key(c, cls_ptr, c.wide) if cls_ptr else None
    want = title.upper() if title is not None else None
    for w in cands:
        if key is not None and (w.cls.atom != key if isinstance(key, int) else w.cls.name.upper() != key):
            continue
        if want is not None and w.text.upper() != want:
            continue
        return w.hwnd
    c.set_last_error(1400)          # documented: ERROR_FILE_NOT_FOUND on some versions; none found here
    return 0


@api(U32, "HWND WINAPI FindWindow%(LPCTSTR_OR_ATOM lpClassName, LPCTSTR lpWindowName)")
def FindWindow(c, cls_ptr, title):
    """The first top-level window of that class (name or atom) and title (case-insensitive), either NULL for
    any. Only the windows that exist in the emulated session are found (no shell, tray or tool windows)."""
    return _find(c, 0, 0, cls_ptr, title)


@api(U32, "HWND WINAPI FindWindowEx%(HWND hWndParent, HWND hWndChildAfter, LPCTSTR_OR_ATOM lpszClass, "
     "LPCTSTR lpszWindow)")
def FindWindowEx(c, parent, after, cls_ptr, title):
    return _find(c, parent, after, cls_ptr, title)


def _enum(c, wins: list[Window], fn: int, lparam: int) -> int:
    handles = [w.hwnd for w in wins]           # the list as it was when the enumeration began
    for h in handles:
        if h not in _state(c)["windows"]:
            continue
        if not c.machine.dispatcher.call_guest(c.thread, fn, [h, lparam]) & 0xFFFFFFFF:
            return 0
    return 1


@api(U32, "BOOL WINAPI EnumWindows(WNDENUMPROC lpEnumFunc, LPARAM lParam)", calls_guest=True)
def EnumWindows(c, fn, lparam):
    return _enum(c, _top_levels(c), fn, lparam)


@api(U32, "BOOL WINAPI EnumChildWindows(HWND hWndParent, WNDENUMPROC lpEnumFunc, LPARAM lParam)",
     calls_guest=True)
def EnumChildWindows(c, parent, fn, lparam):
    """The descendants of the window, depth first (a NULL parent: every top-level window)."""
    if not parent:
        return _enum(c, _top_levels(c), fn, lparam)
    pw = _window(c, parent)
    if pw is None:
        return 0
    out, stack = [], list(reversed(children(c, pw)))
    while stack and len(out) < 100_000:
        w = stack.pop()
        out.append(w)
        stack.extend(reversed(children(c, w)))
    return _enum(c, out, fn, lparam)


@api(U32, "HWND WINAPI GetFocus(void)")
def GetFocus(c):
    return _state(c).setdefault("focus", {}).get(c.thread.tid, 0)


@api(U32, "HWND WINAPI SetFocus(HWND hWnd)", calls_guest=True)
def SetFocus(c, hwnd):
    return set_focus(c, hwnd & 0xFFFFFFFF)


def set_focus(c, hwnd: int) -> int:
    """The thread's keyboard focus moves: WM_KILLFOCUS to the old window, WM_SETFOCUS to the new."""
    focus = _state(c).setdefault("focus", {})
    old = focus.get(c.thread.tid, 0)
    if hwnd:
        w = _window(c, hwnd)
        if w is None:
            return 0
        if w.tid != c.thread.tid:
            # documented: "If the hWnd parameter is invalid or the window is not attached to the calling
            # thread's message queue, the return value is NULL" (no AttachThreadInput here: no queue is shared)
            return 0
        if w.style & WS_DISABLED:
            return 0
    if old == hwnd:
        return old
    ow = _state(c)["windows"].get(old)
    focus[c.thread.tid] = hwnd
    if ow is not None and not ow.destroyed:
        send(c, ow, WM_KILLFOCUS, hwnd, 0)
    if hwnd:
        nw = _state(c)["windows"].get(hwnd)
        if nw is not None and focus.get(c.thread.tid) == hwnd:
            send(c, nw, WM_SETFOCUS, old, 0)
    return old


HWND_TOP, HWND_BOTTOM, HWND_TOPMOST, HWND_NOTOPMOST = 0, 1, -1, -2
SWP_FRAMECHANGED, SWP_NOREDRAW, SWP_NOOWNERZORDER, SWP_NOSENDCHANGING = 0x20, 0x8, 0x200, 0x400


def set_window_pos(c, w: Window, x, y, cx, cy, flags) -> int:
    """SetWindowPos of a window of the calling thread: WM_WINDOWPOSCHANGING (the procedure may change the
    WINDOWPOS), WM_NCCALCSIZE(TRUE) when the size changes, the new geometry, WM_WINDOWPOSCHANGED (DefWindowProc
    sends WM_SIZE / WM_MOVE for what changed); SWP_SHOWWINDOW / SWP_HIDEWINDOW change the visibility. There is
    no z-order to change (nothing overlaps on a screen that does not exist)."""
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    ps = c.ptr_size
    flags &= 0xFFFFFFFF
    ox, oy, ocx, ocy = w.rect
    wp = heap_alloc(c, 2 * ps + 24 + 48 + 2 * ps, 0x8)
    try:
        # WM_WINDOWPOSCHANGING sees the request as made; what does not change is worked out after it
        c.write_ptr(wp, w.hwnd)
        c.write(wp + 2 * ps, struct.pack("<iiiiI", x, y, cx, cy, flags))
        if not flags & SWP_NOSENDCHANGING:
            send(c, w, WM_WINDOWPOSCHANGING, 0, wp)
            if w.destroyed:
                return 0
            x, y, cx, cy, flags = struct.unpack("<iiiiI", c.read(wp + 2 * ps, 20))
        if flags & SWP_NOMOVE:
            x, y = ox, oy
        if flags & SWP_NOSIZE:
            cx, cy = ocx, ocy
        cx, cy = max(cx, 0), max(cy, 0)
        if (x, y) == (ox, oy):
            flags |= SWP_NOMOVE
        if (cx, cy) == (ocx, ocy):
            flags |= SWP_NOSIZE
        if flags & SWP_SHOWWINDOW and w.visible:
            flags &= ~SWP_SHOWWINDOW
        if flags & SWP_HIDEWINDOW and not w.visible:
            flags &= ~SWP_HIDEWINDOW
        client_moved = not flags & SWP_NOMOVE
        size_changed = not flags & SWP_NOSIZE or flags & SWP_FRAMECHANGED
        if size_changed:
            p = wp + 2 * ps + 24       # NCCALCSIZE_PARAMS: new window, old window, old client rects, lppos
            cl, ct, ccx, ccy = w.client
            c.write(p, struct.pack("<12i", x, y, x + cx, y + cy, ox, oy, ox + ocx, oy + ocy,
                                   ox + cl, oy + ct, ox + cl + ccx, oy + ct + ccy))
            c.write_ptr(p + 48, wp)
            send(c, w, WM_NCCALCSIZE, 1, p)
            l, t, r, b = struct.unpack("<iiii", c.read(p, 16))
            new_client = (l - x, t - y, max(0, r - l), max(0, b - t))
            if new_client[2:] == w.client[2:]:
                flags |= SWP_NOCLIENTSIZE
            w.client = new_client
        else:
            flags |= SWP_NOCLIENTSIZE
        if not client_moved:
            flags |= SWP_NOCLIENTMOVE
        w.rect = (x, y, cx, cy)
        if flags & SWP_SHOWWINDOW:
            w.style |= WS_VISIBLE
        if flags & SWP_HIDEWINDOW:
            w.style &= ~WS_VISIBLE
        c.write(wp + 2 * ps, struct.pack("<iiiiI", x, y, cx, cy, flags))
        if flags & (SWP_NOMOVE | SWP_NOSIZE | SWP_SHOWWINDOW | SWP_HIDEWINDOW | SWP_FRAMECHANGED) != \
                (SWP_NOMOVE | SWP_NOSIZE) or not flags & SWP_NOZORDER:
            send(c, w, WM_WINDOWPOSCHANGED, 0, wp)
    finally:
        heap_free(c, wp)
    return 1


@api(U32, "BOOL WINAPI SetWindowPos(HWND hWnd, HWND hWndInsertAfter, int X, int Y, int cx, int cy, UINT uFlags)",
     calls_guest=True)
def SetWindowPos(c, hwnd, after, x, y, cx, cy, flags):
    w = _window(c, hwnd)
    if w is None:
        return 0
    if w.hwnd == DESKTOP_HWND or w.console is not None:
        c.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    args = tuple(v - (1 << 32) if v & 0x80000000 else v for v in
                 (x & 0xFFFFFFFF, y & 0xFFFFFFFF, cx & 0xFFFFFFFF, cy & 0xFFFFFFFF)) + (flags,)
    if w.tid != c.thread.tid:             # done by the thread that owns the window, as a sent message
        from winhatch.win32.user32 import sent
        return sent.run_action(c, w, ("pos",) + args, "SetWindowPos")
    return set_window_pos(c, w, *args)


@api(U32, "BOOL WINAPI MoveWindow(HWND hWnd, int X, int Y, int nWidth, int nHeight, BOOL bRepaint)",
     calls_guest=True)
def MoveWindow(c, hwnd, x, y, cx, cy, repaint):
    return SetWindowPos(c, hwnd, 0, x, y, cx, cy, SWP_NOZORDER | SWP_NOACTIVATE | (0 if repaint else SWP_NOREDRAW))


@api(U32, "BOOL WINAPI GetWindowRect(HWND hWnd, LPRECT lpRect)")
def GetWindowRect(c, hwnd, rect):
    w = _window(c, hwnd)
    if w is None:
        return 0
    x, y, cx, cy = w.rect
    p = _state(c)["windows"].get(w.parent) if w.style & WS_CHILD else None
    for _ in range(1000):           # to screen coordinates through the parents' client areas
        if p is None:
            break
        x, y = x + p.rect[0] + p.client[0], y + p.rect[1] + p.client[1]
        p = _state(c)["windows"].get(p.parent) if p.style & WS_CHILD else None
    c.write(rect, struct.pack("<iiii", x, y, x + cx, y + cy))
    return 1


def _long(c, hwnd, index, value=None):
    w = _window(c, hwnd)
    if w is None:
        return 0
    index = index - (1 << 32) if index >= 0x80000000 else index
    names = {GWLP_WNDPROC: "wndproc", GWLP_HINSTANCE: "hinstance", GWLP_ID: "id", GWL_STYLE: "style",
             GWL_EXSTYLE: "exstyle", GWLP_USERDATA: "userdata", GWLP_HWNDPARENT: "parent"}
    ps = c.ptr_size
    if index >= 0:
        width = ps if c.name.startswith(("GetWindowLongPtr", "SetWindowLongPtr")) else 4
        if w.pid != c.proc.pid and value is not None:
            c.set_last_error(ERROR_ACCESS_DENIED)
            return 0
        if index + width > len(w.extra):
            c.set_last_error(ERROR_INVALID_INDEX)
            return 0
        old = int.from_bytes(w.extra[index:index + width], "little")
        if value is not None:
            w.extra[index:index + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        return old
    attr = names.get(index)
    if attr is None:
        c.set_last_error(ERROR_INVALID_INDEX)
        return 0
    old = getattr(w, attr)
    if value is not None:
        if index == GWLP_HWNDPARENT:
            from winhatch.win32.msvcrt.runtime import not_implemented
            not_implemented(c, "SetWindowLongPtr(GWLP_HWNDPARENT): owner windows")
        if w.pid != c.proc.pid:
            c.set_last_error(ERROR_ACCESS_DENIED)
            return 0
        # documented: a successful SetWindowLongPtr does not clear the last error (a caller tells a previous 0
        # from a failure by clearing it first)
        setattr(w, attr, value & 0xFFFFFFFF if index in (GWL_STYLE, GWL_EXSTYLE, GWLP_ID) else value)
    return old


@api(U32, "LONG_PTR WINAPI GetWindowLongPtr%(HWND hWnd, int nIndex)")
def GetWindowLongPtr(c, hwnd, index):
    return _long(c, hwnd, index)


@api(U32, "LONG_PTR WINAPI SetWindowLongPtr%(HWND hWnd, int nIndex, LONG_PTR dwNewLong)")
def SetWindowLongPtr(c, hwnd, index, value):
    return _long(c, hwnd, index, value)


@api(U32, "LONG WINAPI GetWindowLong%(HWND hWnd, int nIndex)")
def GetWindowLong(c, hwnd, index):
    return _long(c, hwnd, index) & 0xFFFFFFFF


@api(U32, "LONG WINAPI SetWindowLong%(HWND hWnd, int nIndex, LONG dwNewLong)")
def SetWindowLong(c, hwnd, index, value):
    return _long(c, hwnd, index, value) & 0xFFFFFFFF


@api(U32, "DWORD WINAPI GetWindowThreadProcessId(HWND hWnd, LPDWORD lpdwProcessId)")
def GetWindowThreadProcessId(c, hwnd, ppid):
    w = _window(c, hwnd)
    if w is None:
        return 0
    if ppid:
        c.write_u32(ppid, w.pid)
    return w.tid


@api(U32, "BOOL WINAPI IsWindow(HWND hWnd)")
def IsWindow(c, hwnd):
    w = _state(c)["windows"].get(hwnd & 0xFFFFFFFF)
    if w is not None and w.tid and _thread_gone(c, w.tid):
        forget_dead_threads(c)
        return 0
    return int(w is not None)


@api(U32, "HWND WINAPI GetDesktopWindow(void)")
def GetDesktopWindow(c):
    _state(c)
    return DESKTOP_HWND


# ------------------------------------------------------------------------------------------ messages
def _post(c, tid: int, hwnd: int, msg: int, wp: int, lp: int) -> int:
    q = _queue(c, tid)
    if len(q) >= MAX_QUEUE:
        c.set_last_error(1816)     # ERROR_NOT_ENOUGH_QUOTA
        return 0
    q.append((hwnd, msg & 0xFFFFFFFF, wp, lp, (c.machine.clock.now() // 10_000) & 0xFFFFFFFF))
    ev = _state(c).setdefault("queue_events", {}).get(tid)
    if ev is not None:
        ev.set()           # wakes the thread's GetMessage
    return 1


def _queue_event(c):
    """The event a thread's GetMessage waits on (win32k's per-queue wake event): set when a message is posted
    to the thread."""
    evs = _state(c).setdefault("queue_events", {})
    ev = evs.get(c.thread.tid)
    if ev is None:
        from winhatch.kernel.ke.sync import Event
        ev = evs[c.thread.tid] = Event(c.machine, manual_reset=False, initial=False)
    return ev


def _next_timer_ms(c, hwnd_filter: int) -> int:
    """Milliseconds until this thread's next timer is due (INFINITE when it has none)."""
    now = c.machine.clock.now() // 10_000
    dues = [t[1] for w in _state(c)["windows"].values() if w.tid == c.thread.tid for t in w.timers.values()]
    if hwnd_filter in (0, 0xFFFFFFFF):
        dues += [t[1] for t in c.proc.subsystem.setdefault("thread_timers", {}).get(c.thread.tid, {}).values()]
    if not dues:
        return 0xFFFFFFFF
    return max(0, min(dues) - now)


@api(U32, "BOOL WINAPI PostMessage%(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam)")
def PostMessage(c, hwnd, msg, wp, lp):
    if not hwnd:
        return _post(c, c.thread.tid, 0, msg, wp, lp)
    if (hwnd & 0xFFFFFFFF) == 0xFFFF:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "PostMessage(HWND_BROADCAST): there are no top-level windows to broadcast to")
    w = _window(c, hwnd)
    if w is None:
        return 0
    return _post(c, w.tid, w.hwnd, msg, wp, lp)


@api(U32, "BOOL WINAPI PostThreadMessage%(DWORD idThread, UINT Msg, WPARAM wParam, LPARAM lParam)")
def PostThreadMessage(c, tid, msg, wp, lp):
    from winhatch.kernel.ps.objects import Thread
    th = c.machine.cid.lookup(tid)
    if not isinstance(th, Thread) or th.terminated:
        c.set_last_error(ERROR_INVALID_THREAD_ID)
        return 0
    return _post(c, tid, 0, msg, wp, lp)


def _due_timer(c, hwnd_filter: int):
    now = c.machine.clock.now() // 10_000
    for w in list(_state(c)["windows"].values()):
        if w.tid != c.thread.tid or (hwnd_filter not in (0, w.hwnd)):
            continue
        for tid_, t in w.timers.items():
            if t[1] <= now:
                return w, tid_, t
    for tid_, t in c.proc.subsystem.setdefault("thread_timers", {}).get(c.thread.tid, {}).items():
        if hwnd_filter in (0, 0xFFFFFFFF) and t[1] <= now:
            return None, tid_, t
    return None


def _matches(m, hwnd_filter: int, lo: int, hi: int) -> bool:
    if hwnd_filter == 0xFFFFFFFF:
        if m[0]:
            return False
    elif hwnd_filter and m[0] != hwnd_filter:
        return False
    if lo or hi:
        return lo <= m[1] <= hi
    return True


def _write_msg(c, pmsg: int, hwnd: int, msg: int, wp: int, lp: int, time: int) -> None:
    ps = c.ptr_size
    c.write_ptr(pmsg, hwnd)
    c.write_u32(pmsg + ps, msg)
    if ps == 8:
        c.write_u32(pmsg + 12, 0)
    c.write_ptr(pmsg + 2 * ps, wp)
    c.write_ptr(pmsg + 3 * ps, lp)
    c.write(pmsg + 4 * ps, struct.pack("<Iii", time, 0, 0))


@api(U32, "BOOL WINAPI PeekMessage%(LPMSG lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax, "
     "UINT wRemoveMsg)", calls_guest=SPECULATIVE)
def PeekMessage(c, pmsg, hwnd, lo, hi, remove):
    return _peek(c, pmsg, hwnd & 0xFFFFFFFF, lo, hi, remove)


def _peek(c, pmsg, hwnd, lo, hi, remove):
    m = peek_message(c, hwnd, lo, hi, remove)
    if m is None:
        _input_idle(c)          # a thread that finds its queue empty is waiting for input with none pending
        return 0
    _write_msg(c, pmsg, *m)
    return 1


def peek_message(c, hwnd, lo, hi, remove):
    """The next message for the thread (hwnd, msg, wParam, lParam, time), or None. The thread's incoming sent
    messages are handled first (user32.sent), unless a PM_QS_* mask leaves QS_SENDMESSAGE out."""
    from winhatch.win32.user32 import sent
    if not remove >> 16 or (remove >> 16) & sent.QS_SENDMESSAGE:
        sent.receive(c)
    sent.note_pump(c)
    q = _queue(c, c.thread.tid)
    for i, m in enumerate(q):
        if _matches(m, hwnd, lo, hi):
            if remove & PM_REMOVE:
                del q[i]
            return m
    if not (lo or hi) or lo <= WM_TIMER <= hi:
        due = _due_timer(c, hwnd)
        if due is not None:
            w, timer_id, t = due
            now = c.machine.clock.now() // 10_000
            if remove & PM_REMOVE:
                t[1] = now + t[0]
            return (w.hwnd if w else 0, WM_TIMER, timer_id, t[2], now & 0xFFFFFFFF)
    return None


def dispatch(c, hwnd, msg, wp, lp, time, wide) -> int:
    """DispatchMessage: a WM_TIMER with a TIMERPROC calls it, any other message goes to its window."""
    if msg == WM_TIMER and lp:
        return c.machine.dispatcher.call_guest(c.thread, lp, [hwnd, msg, wp, time])
    if not hwnd:
        return 0
    w = _window(c, hwnd)
    if w is None:
        return 0
    if w.tid != c.thread.tid:
        c.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    return send(c, w, msg, wp, lp, wide)


@api(U32, "BOOL WINAPI GetMessageW(LPMSG lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax)",
     calls_guest=SPECULATIVE)
def GetMessageW(c, pmsg, hwnd, lo, hi):
    return _get_message(c, pmsg, hwnd, lo, hi)


def _get_message(c, pmsg, hwnd, lo, hi):
    """PeekMessage(PM_REMOVE) that waits: the thread blocks until a message is posted to it or one of its
    timers is due. WM_QUIT returns 0; a bad window handle -1 with ERROR_INVALID_WINDOW_HANDLE."""
    from winhatch.kernel.ke.wait import wait_for
    hwnd &= 0xFFFFFFFF
    if hwnd not in (0, 0xFFFFFFFF) and _window(c, hwnd) is None:
        return 0xFFFFFFFF
    for _ in range(8):
        if _peek(c, pmsg, hwnd, lo, hi, PM_REMOVE):
            return 0 if c.u32(pmsg + c.ptr_size) == WM_QUIT else 1
        wait_message(c, hwnd, "GetMessage")
    wait_message(c, hwnd, "GetMessage")
    return 0


def nothing_can_post(c) -> bool:
    """The calling thread's queue is empty for good: no timer of its own and no other live thread anywhere
    (of this process or another) that could post to it — winhatch has no input, so no user ever will."""
    if _next_timer_ms(c, 0) != 0xFFFFFFFF:
        return False
    for p in c.machine.processes:
        if getattr(p, "cpu", None) is None or getattr(p, "exited", False):
            continue            # the system's own processes run no guest code
        for t in p.threads:
            if t is not c.thread and not t.terminated:
                return False
    return True


def _idle_event(c, pid: int):
    """The process's input-idle event (win32k's, which WaitForInputIdle waits on): a notification event set
    the first time one of its threads waits for input with none pending, and set from then on."""
    evs = _state(c).setdefault("idle_events", {})
    ev = evs.get(pid)
    if ev is None:
        from winhatch.kernel.ke.sync import Event
        ev = evs[pid] = Event(c.machine, manual_reset=True, initial=False)
    return ev


def _input_idle(c) -> None:
    ev = _idle_event(c, c.proc.pid)
    if not ev.state:
        ev.set()


IMAGE_SUBSYSTEM_WINDOWS_GUI = 2
PROCESS_QUERY_INFORMATION = 0x0400
SYNCHRONIZE = 0x00100000
WAIT_FAILED = 0xFFFFFFFF


@api(U32, "DWORD WINAPI WaitForInputIdle(HANDLE hProcess, DWORD dwMilliseconds)")
def WaitForInputIdle(c, h, ms):
    """Wait until the process has waited for input with none pending once (GetMessage or WaitMessage on an
    empty queue, a PeekMessage that found nothing): 0, or WAIT_TIMEOUT. Once idle, it returns 0 at once from
    then on (Microsoft: it waits only once). A console program (its image's subsystem is not the GUI one)
    returns WAIT_FAILED at once without an error code, as does a process that exits before it is idle; a bad
    handle or one without PROCESS_QUERY_INFORMATION | SYNCHRONIZE fails with its error (wine64 agrees)."""
    from winhatch.kernel.ke.wait import WAIT_OBJECT_0, wait_for
    from winhatch.kernel.structs import PEB
    from winhatch.win32.kernel32.common import lookup
    p = lookup(c, h, "Process", PROCESS_QUERY_INFORMATION | SYNCHRONIZE)
    if p is None:
        return WAIT_FAILED
    try:
        sub = PEB.read(p.aspace, p.peb, p.arch, "ImageSubsystem")["ImageSubsystem"] if p.peb else 0
    except Exception:           # an address space already torn down: the process has exited
        sub = 0
    if sub != IMAGE_SUBSYSTEM_WINDOWS_GUI:
        return WAIT_FAILED
    st = wait_for(c, [_idle_event(c, p.pid), p], False, ms, reason="WaitForInputIdle")
    if st == WAIT_OBJECT_0:
        return 0
    return WAIT_FAILED if st == WAIT_OBJECT_0 + 1 else st


def wait_message(c, hwnd: int, reason: str) -> None:
    """Block until a message is posted to the thread or one of its timers is due — or, when nothing could
    ever post, stop the guest loudly with that reason rather than wait forever."""
    from winhatch.kernel.ke.wait import wait_for
    _input_idle(c)
    if nothing_can_post(c) and not _state(c)["queues"].get(c.thread.tid):
        from winhatch.kernel.ke.dispatcher import ProcessExit
        from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED
        c.proc.stop_message = (f"stopped: {reason} waits for input that never comes (the message queue is empty, "
                               "no timer is set and no other thread could post; winhatch has no desktop and "
                               "no user)")
        c.proc.subsystem.setdefault("unimplemented", []).append({"api": f"user32!{c.name}", "feature":
                                                                 "waiting for user input"})
        raise ProcessExit(STATUS_NOT_IMPLEMENTED)
    from winhatch.win32.user32 import sent
    wait_for(c, [_queue_event(c), sent.sent_queue(c, c.thread.tid)], False, _next_timer_ms(c, hwnd),
             reason=reason)


@api(U32, "BOOL WINAPI GetMessageA(LPMSG lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax)",
     calls_guest=SPECULATIVE)
def GetMessageA(c, pmsg, hwnd, lo, hi):
    """As GetMessageW: the messages that reach a queue here (posted ones, WM_TIMER, WM_QUIT) carry no text to
    convert."""
    return _get_message(c, pmsg, hwnd, lo, hi)


@api(U32, "void WINAPI PostQuitMessage(int nExitCode)")
def PostQuitMessage(c, code):
    """WM_QUIT with the exit code, for GetMessage to end the thread's message loop with."""
    _post(c, c.thread.tid, 0, WM_QUIT, code & 0xFFFFFFFF, 0)


@api(U32, "HWINEVENTHOOK WINAPI SetWinEventHook(DWORD eventMin, DWORD eventMax, HMODULE hmodWinEventProc, "
     "PVOID pfnWinEventProc, DWORD idProcess, DWORD idThread, DWORD dwFlags)")
def SetWinEventHook(c, emin, emax, hmod, pfn, pid, tid, flags):
    """Registers the hook. There is no desktop whose windows could move, get focus or change (no console
    window either: the console is the kernel's driver), so no event is ever raised to it."""
    if not pfn or emin > emax:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    st = _state(c)
    hooks = st.setdefault("win_event_hooks", {})
    h = st.setdefault("next_hook", 0x20001)
    st["next_hook"] = h + 2
    hooks[h] = (c.thread.tid, emin, emax, pfn, pid, tid, flags)
    return h


@api(U32, "BOOL WINAPI UnhookWinEvent(HWINEVENTHOOK hWinEventHook)")
def UnhookWinEvent(c, h):
    hooks = _state(c).setdefault("win_event_hooks", {})
    if hooks.pop(h & 0xFFFFFFFF, None) is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    return 1


@api(U32, "LRESULT WINAPI DispatchMessage%(const MSG *lpMsg)", calls_guest=True)
def DispatchMessage(c, pmsg):
    ps = c.ptr_size
    hwnd, msg = c.ptr(pmsg), c.u32(pmsg + ps)
    wp, lp = c.ptr(pmsg + 2 * ps), c.ptr(pmsg + 3 * ps)
    return dispatch(c, hwnd, msg, wp, lp, c.u32(pmsg + 4 * ps), c.wide)


@api(U32, "BOOL WINAPI TranslateMessage(const MSG *lpMsg)")
def TranslateMessage(c, pmsg):
    """Only WM_KEYDOWN/WM_KEYUP/WM_SYSKEYDOWN/WM_SYSKEYUP are translated; there is no keyboard input here, so
    no such message is ever queued by the system (a program posting one itself is not handled)."""
    msg = c.u32(pmsg + c.ptr_size)
    if msg in (0x100, 0x101, 0x104, 0x105):
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "TranslateMessage of a keyboard message")
    return 0


@api(U32, "DWORD WINAPI GetQueueStatus(UINT flags)")
def GetQueueStatus(c, flags):
    bits = 0
    if _queue(c, c.thread.tid):
        bits |= QS_POSTMESSAGE | QS_ALLPOSTMESSAGE
    if _due_timer(c, 0) is not None:
        bits |= QS_TIMER
    from winhatch.win32.user32 import sent
    if sent.has_sent(c):
        bits |= sent.QS_SENDMESSAGE
    bits &= flags
    return (bits << 16) | bits


def _set_timer(c, hwnd, timer_id, elapse, proc) -> int:
    elapse = max(10, min(elapse & 0xFFFFFFFF, 0x7FFFFFFF))     # USER_TIMER_MINIMUM .. USER_TIMER_MAXIMUM
    now = c.machine.clock.now() // 10_000
    if hwnd:
        w = _window(c, hwnd)
        if w is None:
            return 0
        if w.tid != c.thread.tid:
            c.set_last_error(ERROR_ACCESS_DENIED)
            return 0
        w.timers[timer_id] = [elapse, now + elapse, proc]
        return timer_id or 1
    timers = c.proc.subsystem.setdefault("thread_timers", {}).setdefault(c.thread.tid, {})
    if not timer_id or timer_id not in timers:
        nxt = c.proc.subsystem.get("next_timer_id", 0x7FFF)   # ids of window-less timers
        timer_id = nxt + 1
        c.proc.subsystem["next_timer_id"] = timer_id
    timers[timer_id] = [elapse, now + elapse, proc]
    return timer_id


@api(U32, "UINT_PTR WINAPI SetTimer(HWND hWnd, UINT_PTR nIDEvent, UINT uElapse, TIMERPROC lpTimerFunc)")
def SetTimer(c, hwnd, timer_id, elapse, proc):
    return _set_timer(c, hwnd, timer_id, elapse, proc)


@api(U32, "UINT_PTR WINAPI SetCoalescableTimer(HWND hWnd, UINT_PTR nIDEvent, UINT uElapse, TIMERPROC lpTimerFunc, "
     "ULONG uToleranceDelay)")
def SetCoalescableTimer(c, hwnd, timer_id, elapse, proc, tolerance):
    return _set_timer(c, hwnd, timer_id, elapse, proc)


@api(U32, "BOOL WINAPI KillTimer(HWND hWnd, UINT_PTR uIDEvent)")
def KillTimer(c, hwnd, timer_id):
    if hwnd:
        w = _window(c, hwnd)
        if w is None:
            return 0
        timers = w.timers
    else:
        timers = c.proc.subsystem.setdefault("thread_timers", {}).get(c.thread.tid, {})
    if timers.pop(timer_id, None) is None:
        return 0
    q = _queue(c, c.thread.tid)
    q[:] = [m for m in q if not (m[1] == WM_TIMER and m[2] == timer_id and m[0] == (hwnd & 0xFFFFFFFF))]
    return 1
