"""user32: window classes, message-only windows and the thread message queue — what a console program's
libraries use to get a window for messages without showing anything (Qt's event dispatcher creates one, for
instance).

There is a desktop window (GetDesktopWindow: 0x10010, class #32769, owned by no guest process) but nothing
is drawn on it: CreateWindowEx makes only message-only windows (hWndParent HWND_MESSAGE); a window on
the desktop stops the guest loudly. A window belongs to the thread that creates it; its window procedure is
guest code, called on that thread with WM_NCCREATE, WM_NCCALCSIZE and WM_CREATE during creation (a FALSE from
WM_NCCREATE fails the creation; -1 from WM_CREATE too, after WM_NCDESTROY) and with WM_DESTROY and
WM_NCDESTROY by DestroyWindow. Classes (RegisterClass(Ex)W, UnregisterClassW) are per process, keyed by
name (case-insensitive) and module, with atoms from 0xC000 up as Windows gives registered classes; window
extra bytes (cbWndExtra) and the GWLP_* values are kept with the window (Get/SetWindowLongPtr).

Each thread has a posted-message queue (PostMessage, PostThreadMessage); PeekMessage takes messages from it
in order (filtered by window — NULL for all, -1 for thread messages — and by message range), then WM_TIMER
for a due timer (SetTimer / SetCoalescableTimer, on the emulated clock; the tolerance of a coalescable
timer is not used); DispatchMessage calls the window procedure (or a WM_TIMER's TIMERPROC). TranslateMessage
has no keyboard to translate for and returns FALSE. GetQueueStatus reports what the queue holds (QS_POSTMESSAGE,
QS_TIMER; the "new since last call" half is the same set). Sent messages between threads, input, painting and
MsgWaitForMultipleObjects(Ex) blocking on the queue are not implemented.
"""
from __future__ import annotations

import struct

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
GWLP_WNDPROC, GWLP_HINSTANCE, GWLP_HWNDPARENT, GWLP_ID, GWL_STYLE, GWL_EXSTYLE, GWLP_USERDATA = \
    -4, -6, -8, -12, -16, -20, -21
PM_REMOVE = 0x1
QS_POSTMESSAGE, QS_TIMER, QS_ALLPOSTMESSAGE = 0x8, 0x10, 0x100
DESKTOP_HWND = 0x10010
MAX_QUEUE = 10000      # Windows's default per-thread limit of posted messages (USERPostMessageLimit)


class WndClass:
    __slots__ = ("atom", "name", "wndproc", "style", "cls_extra", "wnd_extra", "hinstance", "windows")

    def __init__(self, atom, name, wndproc, style, cls_extra, wnd_extra, hinstance):
        self.atom, self.name, self.wndproc, self.style = atom, name, wndproc, style
        self.cls_extra, self.wnd_extra, self.hinstance = cls_extra, wnd_extra, hinstance
        self.windows = 0


class Window:
    __slots__ = ("hwnd", "cls", "wndproc", "tid", "pid", "style", "exstyle", "hinstance", "id", "userdata",
                 "extra", "parent", "timers", "console")

    def __init__(self, hwnd, cls, tid, pid, style, exstyle, hinstance, id_, parent):
        self.hwnd, self.cls, self.wndproc, self.tid, self.pid = hwnd, cls, cls.wndproc, tid, pid
        self.style, self.exstyle, self.hinstance, self.id = style, exstyle, hinstance, id_
        self.userdata = 0
        self.extra = bytearray(cls.wnd_extra)
        self.parent = parent
        self.timers = {}
        self.console = None     # the console a ConsoleWindowClass window shows


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
        st["windows"][DESKTOP_HWND] = Window(DESKTOP_HWND, desktop, 0, 0, 0x96000000, 0, 0, 0, 0)
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
    Other windows have no geometry in winhatch (message-only windows): asking stops loudly."""
    w = _window(c, hwnd)
    if w is None:
        return 0
    if w.console is None:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "GetClientRect of a window that is not a console's")
    sb = w.console.active
    fw, fh = sb.font_size
    c.write(rect, struct.pack("<iiii", 0, 0, sb.window_cols * fw, sb.window_lines * fh))
    return 1


def _classes(c) -> dict:
    """(NAME in upper case, hinstance) -> WndClass, and the atoms, for the process."""
    return c.proc.subsystem.setdefault("window_classes", {"by_name": {}, "next_atom": 0xC000})


def _queue(c, tid: int) -> list:
    return _state(c)["queues"].setdefault(tid, [])


def _window(c, hwnd: int) -> Window | None:
    w = _state(c)["windows"].get(hwnd & 0xFFFFFFFF)
    if w is None:
        c.set_last_error(ERROR_INVALID_WINDOW_HANDLE)
    return w


def _class_key(c, ptr: int, wide: bool = True):
    if ptr < 0x10000:
        return ptr
    s = c.wstr(ptr) if wide else c.astr(ptr)
    return (s or "").upper()


def _find_class(c, key, hinst: int) -> WndClass | None:
    """The process's class of that name or atom registered by hinst, else a CS_GLOBALCLASS one."""
    found = None
    for (name, h), cls in _classes(c)["by_name"].items():
        if cls.atom == key if isinstance(key, int) else name == key:
            if h == hinst:
                return cls
            if cls.style & 0x4000 or not hinst:      # CS_GLOBALCLASS
                found = found or cls
    return found


def _register(c, name_ptr, wndproc, style, cls_extra, wnd_extra, hinst) -> int:
    if not wndproc or not name_ptr or cls_extra < 0 or wnd_extra < 0 or cls_extra > 40000 or wnd_extra > 40000:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    key = _class_key(c, name_ptr)
    if isinstance(key, int):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    cl = _classes(c)
    if (key, hinst) in cl["by_name"]:
        c.set_last_error(ERROR_CLASS_ALREADY_EXISTS)
        return 0
    atom = cl["next_atom"]
    cl["next_atom"] += 1
    cl["by_name"][(key, hinst)] = WndClass(atom, c.wstr(name_ptr), wndproc, style, cls_extra, wnd_extra, hinst)
    return atom


@api(U32, "ATOM WINAPI RegisterClassW(const WNDCLASSW *lpWndClass)")
def RegisterClassW(c, wc):
    ps = c.ptr_size
    style = c.u32(wc)
    wndproc = c.ptr(wc + ps)
    cls_extra, wnd_extra = struct.unpack("<ii", c.read(wc + 2 * ps, 8))
    hinst = c.ptr(wc + 2 * ps + 8)
    name = c.ptr(wc + 2 * ps + 8 + 5 * ps)
    return _register(c, name, wndproc, style, cls_extra, wnd_extra, hinst)


@api(U32, "ATOM WINAPI RegisterClassExW(const WNDCLASSEXW *lpWndClass)")
def RegisterClassExW(c, wc):
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


@api(U32, "BOOL WINAPI UnregisterClassW(LPCWSTR_OR_ATOM lpClassName, HINSTANCE hInstance)")
def UnregisterClassW(c, name_ptr, hinst):
    key = _class_key(c, name_ptr)
    by = _classes(c)["by_name"]
    for k, cls in list(by.items()):
        if k[1] == hinst and (cls.atom == key if isinstance(key, int) else k[0] == key):
            if cls.windows:
                c.set_last_error(ERROR_CLASS_HAS_WINDOWS)
                return 0
            del by[k]
            return 1
    c.set_last_error(ERROR_CLASS_DOES_NOT_EXIST)
    return 0


def _call_wndproc(c, w: Window, msg: int, wp: int, lp: int) -> int:
    return c.machine.dispatcher.call_guest(c.thread, w.wndproc, [w.hwnd, msg, wp, lp])


@api(U32, "HWND WINAPI CreateWindowExW(DWORD dwExStyle, LPCWSTR_OR_ATOM lpClassName, LPVOID lpWindowName, "
     "DWORD dwStyle, int X, int Y, int nWidth, int nHeight, HWND hWndParent, HMENU hMenu, HINSTANCE hInstance, "
     "LPVOID lpParam)", calls_guest=True)
def CreateWindowExW(c, exstyle, name_ptr, title_ptr, style, x, y, cx, cy, parent, menu, hinst, param):
    ps = c.ptr_size
    if parent & 0xFFFFFFFF != HWND_MESSAGE & 0xFFFFFFFF:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "CreateWindowEx of a window on the desktop (winhatch has no desktop; only "
                           "message-only windows, hWndParent HWND_MESSAGE)")
    cls = _find_class(c, _class_key(c, name_ptr), hinst)
    if cls is None:
        c.set_last_error(ERROR_CANNOT_FIND_WND_CLASS)
        return 0
    st = _state(c)
    hwnd = st["next"]
    st["next"] += 2
    w = Window(hwnd, cls, c.thread.tid, c.proc.pid, style & 0xFFFFFFFF, exstyle & 0xFFFFFFFF, hinst,
               menu & 0xFFFFFFFF, parent)
    st["windows"][hwnd] = w
    cls.windows += 1
    # CREATESTRUCTW: lpCreateParams, hInstance, hMenu, hwndParent, cy, cx, y, x, style, lpszName, lpszClass,
    # dwExStyle (x64: the pointers after style start at 56)
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    names_at = (4 * ps + 20 + ps - 1) & ~(ps - 1)
    cs = heap_alloc(c, names_at + 2 * ps + 4 + 4, 0x8)
    for i, v in enumerate((param, hinst, menu, st["message_root"])):
        c.write_ptr(cs + i * ps, v)
    c.write(cs + 4 * ps, struct.pack("<IIIII", cy & 0xFFFFFFFF, cx & 0xFFFFFFFF, y & 0xFFFFFFFF, x & 0xFFFFFFFF,
                                     style & 0xFFFFFFFF))
    c.write_ptr(cs + names_at, title_ptr)
    c.write_ptr(cs + names_at + ps, name_ptr)
    c.write_u32(cs + names_at + 2 * ps, exstyle)
    rect = heap_alloc(c, 16, 0x8)
    try:
        if not _call_wndproc(c, w, WM_NCCREATE, 0, cs) & 0xFFFFFFFF:
            _destroy(c, w, notify=False)
            return 0
        _call_wndproc(c, w, WM_NCCALCSIZE, 0, rect)
        if (_call_wndproc(c, w, WM_CREATE, 0, cs) & 0xFFFFFFFF) == 0xFFFFFFFF:
            _call_wndproc(c, w, WM_NCDESTROY, 0, 0)       # no WM_DESTROY (as Wine's message tests record)
            _destroy(c, w, notify=False)
            return 0
    finally:
        heap_free(c, cs)
        heap_free(c, rect)
    return hwnd


def _destroy(c, w: Window, notify: bool) -> None:
    if notify:
        _call_wndproc(c, w, WM_DESTROY, 0, 0)
        _call_wndproc(c, w, WM_NCDESTROY, 0, 0)
    st = _state(c)
    st["windows"].pop(w.hwnd, None)
    w.cls.windows -= 1
    q = st["queues"].get(w.tid)
    if q:
        q[:] = [m for m in q if m[0] != w.hwnd]


@api(U32, "BOOL WINAPI DestroyWindow(HWND hWnd)", calls_guest=True)
def DestroyWindow(c, hwnd):
    w = _window(c, hwnd)
    if w is None:
        return 0
    if w.tid != c.thread.tid:
        c.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    _destroy(c, w, notify=True)
    return 1


@api(U32, "LRESULT WINAPI DefWindowProcW(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam)", calls_guest=True)
def DefWindowProcW(c, hwnd, msg, wp, lp):
    """WM_NCCREATE: TRUE (go on creating); WM_CLOSE: DestroyWindow; every other message: 0 (there is no
    frame, painting or input for a message-only window to handle)."""
    if msg == WM_NCCREATE:
        return 1
    if msg == WM_CLOSE:
        w = _window(c, hwnd)
        if w is not None and w.tid == c.thread.tid:
            _destroy(c, w, notify=True)
    return 0


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
        setattr(w, attr, value)
        c.set_last_error(0)
    return old


@api(U32, "LONG_PTR WINAPI GetWindowLongPtrW(HWND hWnd, int nIndex)")
def GetWindowLongPtrW(c, hwnd, index):
    return _long(c, hwnd, index)


@api(U32, "LONG_PTR WINAPI SetWindowLongPtrW(HWND hWnd, int nIndex, LONG_PTR dwNewLong)")
def SetWindowLongPtrW(c, hwnd, index, value):
    return _long(c, hwnd, index, value)


@api(U32, "LONG WINAPI GetWindowLongW(HWND hWnd, int nIndex)")
def GetWindowLongW(c, hwnd, index):
    return _long(c, hwnd, index) & 0xFFFFFFFF


@api(U32, "LONG WINAPI SetWindowLongW(HWND hWnd, int nIndex, LONG dwNewLong)")
def SetWindowLongW(c, hwnd, index, value):
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
    return int((hwnd & 0xFFFFFFFF) in _state(c)["windows"])


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


@api(U32, "BOOL WINAPI PostMessageW(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam)")
def PostMessageW(c, hwnd, msg, wp, lp):
    if not hwnd:
        return _post(c, c.thread.tid, 0, msg, wp, lp)
    if (hwnd & 0xFFFFFFFF) == 0xFFFF:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "PostMessage(HWND_BROADCAST): there are no top-level windows to broadcast to")
    w = _window(c, hwnd)
    if w is None:
        return 0
    return _post(c, w.tid, w.hwnd, msg, wp, lp)


@api(U32, "BOOL WINAPI PostThreadMessageW(DWORD idThread, UINT Msg, WPARAM wParam, LPARAM lParam)")
def PostThreadMessageW(c, tid, msg, wp, lp):
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


@api(U32, "BOOL WINAPI PeekMessageW(LPMSG lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax, "
     "UINT wRemoveMsg)")
def PeekMessageW(c, pmsg, hwnd, lo, hi, remove):
    return _peek(c, pmsg, hwnd & 0xFFFFFFFF, lo, hi, remove)


def _peek(c, pmsg, hwnd, lo, hi, remove):
    q = _queue(c, c.thread.tid)
    for i, m in enumerate(q):
        if _matches(m, hwnd, lo, hi):
            if remove & PM_REMOVE:
                del q[i]
            _write_msg(c, pmsg, *m)
            return 1
    if not (lo or hi) or lo <= WM_TIMER <= hi:
        due = _due_timer(c, hwnd)
        if due is not None:
            w, timer_id, t = due
            now = c.machine.clock.now() // 10_000
            if remove & PM_REMOVE:
                t[1] = now + t[0]
            _write_msg(c, pmsg, w.hwnd if w else 0, WM_TIMER, timer_id, t[2], now & 0xFFFFFFFF)
            return 1
    return 0


@api(U32, "BOOL WINAPI GetMessageW(LPMSG lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax)")
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
        wait_for(c, [_queue_event(c)], False, _next_timer_ms(c, hwnd), reason="GetMessage")
    wait_for(c, [_queue_event(c)], False, _next_timer_ms(c, hwnd), reason="GetMessage")
    return 0


@api(U32, "BOOL WINAPI GetMessageA(LPMSG lpMsg, HWND hWnd, UINT wMsgFilterMin, UINT wMsgFilterMax)")
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


@api(U32, "LRESULT WINAPI DispatchMessageW(const MSG *lpMsg)", calls_guest=True)
def DispatchMessageW(c, pmsg):
    ps = c.ptr_size
    hwnd, msg = c.ptr(pmsg), c.u32(pmsg + ps)
    wp, lp = c.ptr(pmsg + 2 * ps), c.ptr(pmsg + 3 * ps)
    if msg == WM_TIMER and lp:
        time = c.u32(pmsg + 4 * ps)
        return c.machine.dispatcher.call_guest(c.thread, lp, [hwnd, msg, wp, time])
    if not hwnd:
        return 0
    w = _window(c, hwnd)
    if w is None:
        return 0
    if w.tid != c.thread.tid:
        c.set_last_error(ERROR_ACCESS_DENIED)
        return 0
    return _call_wndproc(c, w, msg, wp, lp)


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
