"""user32: dialog boxes from DLGTEMPLATE / DLGTEMPLATEEX resources, never shown, their logic run.

DialogBoxParam / CreateDialogParam (and the …Indirect… forms taking a template in memory) create the dialog
window (class #32770 unless the template names one, DefDlgProc its window procedure, the dialog procedure in
its DWLP_DLGPROC window data) and its controls as child windows (WS_EX_NOPARENTNOTIFY, positions in dialog
units converted with the base units of the template's font — 6 x 13 pixels for a DS_SETFONT dialog, the
system font's 8 x 16 otherwise — as a 96-DPI Windows 10 session measures MS Shell Dlg), then deliver
WM_INITDIALOG (wParam: the first WS_TABSTOP control, which gets the focus when the procedure returns TRUE).
No WM_SETFONT is sent (winhatch has no fonts) and nothing is drawn.

DialogBoxParam runs the modal loop: it disables the owner, takes the thread's messages in order and
dispatches them (IsDialogMessage) until EndDialog; the dialog is shown (WM_SHOWWINDOW…) when the queue is
first empty, and WM_ENTERIDLE goes to the owner each time it is. A loop with an empty queue waits for a
posted message or a due timer; when nothing could ever post (no timer, no other thread), the guest is stopped
loudly — a dialog waiting for a user who never comes. The loop is restartable (the thread's waits re-run the
API): its dialog is found again by the thread and stack pointer of the call.

DefDlgProc calls the dialog procedure and returns DWLP_MSGRESULT when it handled the message (the procedure's
own result for WM_INITDIALOG, WM_CTLCOLOR*, WM_COMPAREITEM, WM_VKEYTOITEM, WM_CHARTOITEM, WM_QUERYDRAGICON);
otherwise WM_CLOSE posts WM_COMMAND(IDCANCEL) as documented and the rest is DefWindowProc's.
Keyboard navigation (IsDialogMessage of a keyboard message) and dialog menus are not implemented: they stop
the guest loudly.
"""
from __future__ import annotations

import struct

from winhatch.win32.api import api
from winhatch.win32.user32 import window as W

U32 = "user32.dll"
RT_DIALOG = 5
WM_INITDIALOG, WM_ENTERIDLE = 0x110, 0x121
DS_SETFONT, DS_NOFAILCREATE, DS_NOIDLEMSG, DS_MODALFRAME = 0x40, 0x10, 0x100, 0x80
WS_TABSTOP, WS_GROUP = 0x10000, 0x20000
DM_GETDEFID, DM_SETDEFID, DC_HASDEFID, WM_NEXTDLGCTL = 0x400, 0x401, 0x534B, 0x28
IDCANCEL = 2
ERROR_CONTROL_ID_NOT_FOUND = 1421
ERROR_WINDOW_NOT_DIALOG = 1420
ERROR_RESOURCE_DATA_NOT_FOUND = 1812
MAX_ITEMS = 0xFFFF
CONTROL_ORDINALS = {0x80: "BUTTON", 0x81: "EDIT", 0x82: "STATIC", 0x83: "LISTBOX", 0x84: "SCROLLBAR",
                    0x85: "COMBOBOX"}
# system control classes winhatch does not provide (a template naming one stops loudly rather than failing)
UNSUPPORTED_CLASSES = frozenset(("SCROLLBAR", "MDICLIENT", "RICHEDIT", "RICHEDIT20A", "RICHEDIT20W",
                                 "RICHEDIT50W", "SYSLISTVIEW32", "SYSTREEVIEW32", "MSCTLS_PROGRESS32",
                                 "MSCTLS_TRACKBAR32", "MSCTLS_UPDOWN32", "SYSTABCONTROL32", "SYSLINK",
                                 "SYSDATETIMEPICK32", "SYSIPADDRESS32", "COMBOBOXEX32", "TOOLBARWINDOW32"))
_RESULT_ITSELF = {WM_INITDIALOG, 0x39, 0x2E, 0x2F, 0x37} | set(range(0x132, 0x139))


class Dlg:
    __slots__ = ("ended", "result", "modal", "base", "owner_disabled", "wide", "defid")

    def __init__(self, modal: bool, base: tuple[int, int], wide: bool):
        self.ended, self.result, self.modal, self.base = False, 0, modal, base
        self.owner_disabled = 0
        self.wide = wide
        self.defid = None           # DM_SETDEFID's id; None: the BS_DEFPUSHBUTTON of the template


# ------------------------------------------------------------------------------------------ templates
def _sz_or_ord(c, p: int):
    """A template's sz_Or_Ord field: (None | ordinal | (string, its guest address)), the next address."""
    first = int.from_bytes(c.read(p, 2), "little")
    if first == 0:
        return None, p + 2
    if first == 0xFFFF:
        return int.from_bytes(c.read(p + 2, 2), "little"), p + 4
    s = c.wstr(p, limit=0x10000) or ""
    return (s, p), p + 2 * len(s) + 2


def _align4(p: int) -> int:
    return (p + 3) & ~3


def parse_template(c, t: int) -> dict:
    """A DLGTEMPLATE or DLGTEMPLATEEX in guest memory (an access violation on a bad one, as on Windows)."""
    ver, sig = struct.unpack("<HH", c.read(t, 4))
    ex = ver == 1 and sig == 0xFFFF
    if ex:
        _help, exstyle, style, n, x, y, cx, cy = struct.unpack("<IIIHhhhh", c.read(t + 4, 22))
        p = t + 26
    else:
        style, exstyle, n, x, y, cx, cy = struct.unpack("<IIHhhhh", c.read(t, 18))
        p = t + 18
    menu, p = _sz_or_ord(c, p)
    cls, p = _sz_or_ord(c, p)
    title, p = _sz_or_ord(c, p)
    font = None
    if style & DS_SETFONT:
        pt = int.from_bytes(c.read(p, 2), "little")
        p += 6 if ex else 2                       # DLGTEMPLATEEX: pointsize, weight, italic, charset
        face = c.wstr(p, limit=256) or ""
        p += 2 * len(face) + 2
        font = (pt, face)
    items = []
    for _ in range(min(n, MAX_ITEMS)):
        p = _align4(p)
        if ex:
            _help, iex, istyle, ix, iy, icx, icy, iid = struct.unpack("<IIIhhhhI", c.read(p, 24))
            p += 24
        else:
            istyle, iex, ix, iy, icx, icy, iid = struct.unpack("<IIhhhhH", c.read(p, 18))
            p += 18
        icls, p = _sz_or_ord(c, p)
        ititle, p = _sz_or_ord(c, p)
        extra = int.from_bytes(c.read(p, 2), "little")
        data = p if extra else 0
        p += 2 + extra
        items.append({"style": istyle, "exstyle": iex, "rect": (ix, iy, icx, icy), "id": iid, "cls": icls,
                      "title": ititle, "data": data})
    return {"style": style, "exstyle": exstyle, "rect": (x, y, cx, cy), "menu": menu, "cls": cls,
            "title": title, "font": font, "items": items}


def find_template(c, hinst: int, name_ptr: int, wide: bool) -> int:
    """The guest address of a module's RT_DIALOG resource, or 0 (the last error set)."""
    from winhatch.win32.kernel32.resource import _key, find_resource, resource_view
    view = resource_view(c, hinst)
    if view is None:
        return 0
    e = find_resource(c, view, RT_DIALOG, _key(c, name_ptr, wide), None)
    if e is None:
        return 0
    addr = view.address(e.data.rva)
    if addr is None:
        c.set_last_error(ERROR_RESOURCE_DATA_NOT_FOUND)
        return 0
    return addr


# ------------------------------------------------------------------------------------------ creation
def _px(v: int, base: int, div: int) -> int:
    return (v * base + (div // 2 if v >= 0 else -(div // 2))) // div


def create_dialog(c, hinst: int, tmpl: int, owner: int, dlgproc: int, param: int, wide: bool,
                  modal: bool) -> int:
    t = parse_template(c, tmpl)
    if t["menu"] is not None:
        W._not_impl(c, "a dialog template with a menu (menus are not implemented)")
    style = t["style"]
    base = (6, 13) if t["font"] is not None else (8, 16)
    bx, by = base
    x, y, cx, cy = t["rect"]
    px, py = _px(x, bx, 4), _px(y, by, 8)
    pcx, pcy = _px(cx, bx, 4), _px(cy, by, 8)
    exstyle = t["exstyle"] | (W.WS_EX_DLGMODALFRAME if style & DS_MODALFRAME else 0)
    fl, ft, fr, fb = W.frame_of(style & 0xFFFF0000, exstyle)
    if not style & W.WS_CHILD:
        ow = W._state(c)["windows"].get(owner & 0xFFFFFFFF) if owner else None
        if ow is not None and not ow.msgonly:           # relative to the owner's client area
            px, py = px + ow.rect[0] + ow.client[0], py + ow.rect[1] + ow.client[1]
    cls = t["cls"]
    key = 0x8002 if cls is None else (cls if isinstance(cls, int) else cls[0].upper())
    title_ptr = t["title"][1] if isinstance(t["title"], tuple) else 0
    hwnd = W.create_window(c, exstyle, key, title_ptr, style & ~W.WS_VISIBLE & 0xFFFFFFFF, px, py,
                           pcx + fl + fr, pcy + ft + fb, owner, 0, hinst, param, True)
    if not hwnd:
        return 0
    w = W._state(c)["windows"][hwnd]
    ps = c.ptr_size
    if len(w.extra) >= 2 * ps:
        w.extra[ps:2 * ps] = (dlgproc & ((1 << (8 * ps)) - 1)).to_bytes(ps, "little")     # DWLP_DLGPROC
    w.dlg = Dlg(modal, base, wide)
    if not wide:
        W.ansi_system_window(c, hwnd)
    first_tab = 0
    for it in t["items"]:
        icls = it["cls"]
        if isinstance(icls, int):
            name = CONTROL_ORDINALS.get(icls)
            if name is None:
                ikey = icls
            else:
                ikey = name
        elif icls is None:
            ikey = "STATIC"
        else:
            ikey = icls[0].upper()
        ix, iy, icx, icy = it["rect"]
        ititle = it["title"]
        if isinstance(ititle, tuple):
            tptr = ititle[1]
        elif isinstance(ititle, int):
            tptr = 0                    # an icon or bitmap resource id: nothing is drawn
        else:
            tptr = 0
        h = W.create_window(c, it["exstyle"] | W.WS_EX_NOPARENTNOTIFY, ikey, tptr, it["style"] | W.WS_CHILD,
                            _px(ix, bx, 4), _px(iy, by, 8), _px(icx, bx, 4), _px(icy, by, 8), hwnd,
                            it["id"], hinst, it["data"], True)
        if w.destroyed:
            return 0
        if not h:
            if isinstance(ikey, str) and ikey in UNSUPPORTED_CLASSES:
                W._not_impl(c, f"the {ikey} control of a dialog template")
            if not style & DS_NOFAILCREATE:
                W._destroy(c, w, notify="top")
                return 0
            continue
        if not wide:
            W.ansi_system_window(c, h)
        cw = W._state(c)["windows"].get(h)
        if not first_tab and cw is not None and cw.style & WS_TABSTOP and cw.visible and \
                not cw.style & W.WS_DISABLED:
            first_tab = h
    r = W.send(c, w, WM_INITDIALOG, first_tab, param, True)
    if w.destroyed:
        return 0
    if r and first_tab and not w.dlg.ended:
        W.set_focus(c, first_tab)
    if style & W.WS_VISIBLE and not modal and not w.destroyed:
        W.show_window(c, w, 1)
    return 0 if w.destroyed else hwnd


def def_dlg_proc(c, w: W.Window, msg: int, wp: int, lp: int, wide: bool) -> int:
    ps = c.ptr_size
    proc = int.from_bytes(w.extra[ps:2 * ps], "little") if len(w.extra) >= 2 * ps else 0
    if proc:
        r = c.machine.dispatcher.call_guest(c.thread, proc, [w.hwnd, msg, wp, lp])
        r &= (1 << (8 * ps)) - 1
        if r:
            if msg in _RESULT_ITSELF:
                return r
            return int.from_bytes(w.extra[0:ps], "little")            # DWLP_MSGRESULT
        if w.destroyed:
            return 0
    if msg == W.WM_CLOSE:
        cancel = next((k for k in W.children(c, w) if k.id == IDCANCEL), None)
        if cancel is not None and cancel.style & W.WS_DISABLED:
            return 0
        W._post(c, w.tid, w.hwnd, W.WM_COMMAND, IDCANCEL, cancel.hwnd if cancel is not None else 0)
        return 0
    if msg == WM_INITDIALOG:
        return 0
    if msg == DM_GETDEFID:
        if w.dlg is not None and w.dlg.defid is not None:
            return (DC_HASDEFID << 16) | (w.dlg.defid & 0xFFFF)
        k = next((k for k in W.children(c, w) if k.cls.builtin == "button" and k.style & 0xF == 1), None)
        return (DC_HASDEFID << 16) | (k.id & 0xFFFF) if k is not None else 0
    if msg == DM_SETDEFID:
        if w.dlg is not None:
            w.dlg.defid = wp & 0xFFFF
        return 1
    if msg == WM_NEXTDLGCTL:
        if lp & 0xFFFF:                                  # wParam is the control to focus
            target = W._state(c)["windows"].get(wp & 0xFFFFFFFF)
        else:
            target = _next_tab(c, w, back=bool(wp))
        if target is not None:
            W.set_focus(c, target.hwnd)
        return 0
    return W.def_window_proc(c, w, w.hwnd, msg, wp, lp, wide)


def _next_tab(c, dlg: W.Window, back: bool) -> W.Window | None:
    """The next (or previous) WS_TABSTOP control after the focused one, visible and enabled, wrapping."""
    kids = [k for k in W.children(c, dlg) if k.style & WS_TABSTOP and k.visible and not k.style & W.WS_DISABLED]
    if not kids:
        return None
    focus = W._state(c).setdefault("focus", {}).get(c.thread.tid, 0)
    i = next((n for n, k in enumerate(kids) if k.hwnd == focus), -1 if not back else 0)
    return kids[(i + (-1 if back else 1)) % len(kids)]


@api(U32, "LRESULT WINAPI DefDlgProc%(HWND hDlg, UINT Msg, WPARAM wParam, LPARAM lParam)", calls_guest=True)
def DefDlgProc(c, hwnd, msg, wp, lp):
    w = W._window(c, hwnd)
    if w is None:
        return 0
    return def_dlg_proc(c, w, msg & 0xFFFFFFFF, wp, lp, c.wide)


# ------------------------------------------------------------------------------------------ the modal loop
def _modal(c, hinst, tmpl_fn, owner, dlgproc, param) -> int:
    key = (c.thread.tid, c._sp)
    loops = c.proc.subsystem.setdefault("modal_dialogs", {})
    hwnd = loops.get(key)
    if hwnd is None:
        if owner and W._window(c, owner) is None:
            return 0                        # documented: 0 when hWndParent is invalid
        tmpl = tmpl_fn()
        if not tmpl:
            return -1
        hwnd = create_dialog(c, hinst, tmpl, owner, dlgproc, param, c.wide, True)
        if not hwnd:
            return -1
        loops[key] = hwnd
        w = W._state(c)["windows"][hwnd]
        ow = W._state(c)["windows"].get(owner & 0xFFFFFFFF) if owner else None
        if ow is not None and not w.dlg.ended and not ow.style & W.WS_DISABLED:
            w.dlg.owner_disabled = ow.hwnd
            ow.style |= W.WS_DISABLED
            W.send(c, ow, W.WM_ENABLE, 0, 0)
    w = W._state(c)["windows"].get(hwnd)
    try:
        result = _run_modal(c, w, owner)
    except BaseException as e:
        from winhatch.kernel.ke.wait import WouldBlock
        if not isinstance(e, WouldBlock):
            loops.pop(key, None)
        raise
    loops.pop(key, None)
    return result


def _run_modal(c, w: W.Window | None, owner: int) -> int:
    while w is not None and not w.destroyed and not w.dlg.ended:
        m = W.peek_message(c, 0, 0, 0, W.PM_REMOVE)
        if m is not None:
            if m[1] == W.WM_QUIT:
                W._post(c, c.thread.tid, 0, W.WM_QUIT, m[2], 0)     # for the program's own loop
                break
            if not _is_dialog_message(c, w, m):
                W.dispatch(c, *m, c.wide)
            continue
        if not w.visible:
            W.show_window(c, w, 1)              # SW_SHOWNORMAL once the queue is empty
            continue
        ow = W._state(c)["windows"].get(owner & 0xFFFFFFFF) if owner else None
        if ow is not None and not w.style & DS_NOIDLEMSG and not ow.destroyed:
            W.send(c, ow, WM_ENTERIDLE, 0, w.hwnd)                  # MSGF_DIALOGBOX
            if W.peek_message(c, 0, 0, 0, 0) is not None or w.dlg.ended:
                continue
        W.wait_message(c, 0, "DialogBox")
    if w is None:
        return -1
    result = w.dlg.result if w.dlg is not None else 0
    _enable_owner(c, w)
    if not w.destroyed:
        W._destroy(c, w, notify="top")
    return result


def _enable_owner(c, w: W.Window) -> None:
    if w.dlg is not None and w.dlg.owner_disabled:
        ow = W._state(c)["windows"].get(w.dlg.owner_disabled)
        w.dlg.owner_disabled = 0
        if ow is not None and ow.style & W.WS_DISABLED:
            ow.style &= ~W.WS_DISABLED
            W.send(c, ow, W.WM_ENABLE, 1, 0)


def _is_dialog_message(c, dlg: W.Window, m) -> bool:
    hwnd, msg = m[0], m[1]
    w = W._state(c)["windows"].get(hwnd)
    inside = False
    for _ in range(1000):
        if w is None:
            break
        if w is dlg:
            inside = True
            break
        if not w.style & W.WS_CHILD:
            break
        w = W._state(c)["windows"].get(w.parent)
    if not inside:
        return False
    if 0x100 <= msg <= 0x109:
        W._not_impl(c, "keyboard navigation in a dialog (IsDialogMessage of a keyboard message)")
    W.dispatch(c, *m, c.wide)
    return True


@api(U32, "INT_PTR WINAPI DialogBoxParam%(HINSTANCE hInstance, LPCTSTR_OR_ID lpTemplateName, HWND hWndParent, "
     "DLGPROC lpDialogFunc, LPARAM dwInitParam)", calls_guest=True)
def DialogBoxParam(c, hinst, name, owner, proc, param):
    return _modal(c, hinst, lambda: find_template(c, hinst, name, c.wide), owner, proc, param)


@api(U32, "INT_PTR WINAPI DialogBoxIndirectParam%(HINSTANCE hInstance, LPCDLGTEMPLATE hDialogTemplate, "
     "HWND hWndParent, DLGPROC lpDialogFunc, LPARAM dwInitParam)", calls_guest=True)
def DialogBoxIndirectParam(c, hinst, tmpl, owner, proc, param):
    return _modal(c, hinst, lambda: tmpl, owner, proc, param)


@api(U32, "HWND WINAPI CreateDialogParam%(HINSTANCE hInstance, LPCTSTR_OR_ID lpTemplateName, HWND hWndParent, "
     "DLGPROC lpDialogFunc, LPARAM dwInitParam)", calls_guest=True)
def CreateDialogParam(c, hinst, name, owner, proc, param):
    tmpl = find_template(c, hinst, name, c.wide)
    if not tmpl:
        return 0
    return create_dialog(c, hinst, tmpl, owner, proc, param, c.wide, False)


@api(U32, "HWND WINAPI CreateDialogIndirectParam%(HINSTANCE hInstance, LPCDLGTEMPLATE lpTemplate, "
     "HWND hWndParent, DLGPROC lpDialogFunc, LPARAM lParamInit)", calls_guest=True)
def CreateDialogIndirectParam(c, hinst, tmpl, owner, proc, param):
    return create_dialog(c, hinst, tmpl, owner, proc, param, c.wide, False)


@api(U32, "BOOL WINAPI EndDialog(HWND hDlg, INT_PTR nResult)", calls_guest=True)
def EndDialog(c, hwnd, result):
    """The dialog is marked ended with its result and hidden; a modal dialog's owner is enabled again and its
    loop ends (and destroys it) — a modeless dialog stays until DestroyWindow."""
    w = W._window(c, hwnd)
    if w is None:
        return 0
    if w.dlg is None:
        c.set_last_error(ERROR_WINDOW_NOT_DIALOG)
        return 0
    w.dlg.ended = True
    w.dlg.result = result
    _enable_owner(c, w)
    if w.visible and w.tid == c.thread.tid:
        flags = W.SWP_HIDEWINDOW | W.SWP_NOSIZE | W.SWP_NOMOVE | W.SWP_NOZORDER | W.SWP_NOACTIVATE
        W._windowpos(c, w, W.WM_WINDOWPOSCHANGING, flags)
        w.style &= ~W.WS_VISIBLE
        W._windowpos(c, w, W.WM_WINDOWPOSCHANGED, flags | W.SWP_NOCLIENTSIZE | W.SWP_NOCLIENTMOVE)
    return 1


@api(U32, "BOOL WINAPI IsDialogMessage%(HWND hDlg, LPMSG lpMsg)", calls_guest=True)
def IsDialogMessage(c, hdlg, pmsg):
    w = W._state(c)["windows"].get(hdlg & 0xFFFFFFFF)
    if w is None:
        return 0
    ps = c.ptr_size
    m = (c.ptr(pmsg) & 0xFFFFFFFF, c.u32(pmsg + ps), c.ptr(pmsg + 2 * ps), c.ptr(pmsg + 3 * ps),
         c.u32(pmsg + 4 * ps))
    return int(_is_dialog_message(c, w, m))


# ------------------------------------------------------------------------------------------ items
def dlg_item(c, hdlg: int, item: int) -> W.Window | None:
    w = W._window(c, hdlg)
    if w is None:
        return None
    k = next((x for x in W.children(c, w) if x.id == item & 0xFFFFFFFF), None)
    if k is None:
        c.set_last_error(ERROR_CONTROL_ID_NOT_FOUND)
    return k


@api(U32, "HWND WINAPI GetDlgItem(HWND hDlg, int nIDDlgItem)")
def GetDlgItem(c, hdlg, item):
    k = dlg_item(c, hdlg, item)
    return k.hwnd if k is not None else 0


@api(U32, "LRESULT WINAPI SendDlgItemMessage%(HWND hDlg, int nIDDlgItem, UINT Msg, WPARAM wParam, LPARAM lParam)",
     calls_guest=True)
def SendDlgItemMessage(c, hdlg, item, msg, wp, lp):
    k = dlg_item(c, hdlg, item)
    if k is None:
        return 0
    return W.send(c, k, msg & 0xFFFFFFFF, wp, lp, c.wide)


@api(U32, "BOOL WINAPI SetDlgItemText%(HWND hDlg, int nIDDlgItem, LPCTSTR_RAW lpString)", calls_guest=True)
def SetDlgItemText(c, hdlg, item, text):
    k = dlg_item(c, hdlg, item)
    if k is None:
        return 0
    return int(bool(W.send(c, k, W.WM_SETTEXT, 0, text, c.wide)))


@api(U32, "UINT WINAPI GetDlgItemText%(HWND hDlg, int nIDDlgItem, LPTSTR lpString, int cchMax)", calls_guest=True)
def GetDlgItemText(c, hdlg, item, buf, cch):
    k = dlg_item(c, hdlg, item)
    if k is None:
        W.put_text(c, buf, cch, "", c.wide)
        return 0
    if cch <= 0 or cch & 0x80000000:
        return 0
    return W.send(c, k, W.WM_GETTEXT, cch, buf, c.wide)


@api(U32, "BOOL WINAPI SetDlgItemInt(HWND hDlg, int nIDDlgItem, UINT uValue, BOOL bSigned)", calls_guest=True)
def SetDlgItemInt(c, hdlg, item, value, signed):
    k = dlg_item(c, hdlg, item)
    if k is None:
        return 0
    value &= 0xFFFFFFFF
    if signed and value & 0x80000000:
        value -= 1 << 32
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    buf = heap_alloc(c, 32, 0x8)
    try:
        c.write(buf, str(value).encode("utf-16-le") + b"\0\0")
        W.send(c, k, W.WM_SETTEXT, 0, buf, True)
    finally:
        heap_free(c, buf)
    return 1


@api(U32, "UINT WINAPI GetDlgItemInt(HWND hDlg, int nIDDlgItem, BOOL *lpTranslated, BOOL bSigned)",
     calls_guest=True)
def GetDlgItemInt(c, hdlg, item, ptrans, signed):
    """The control's text as a decimal number: leading spaces skipped, a sign, then the digits up to the first
    character that is not one (documented: "stops translating when it ... encounters a nondigit character");
    no digit, or a value out of the range of the result's type, is not translated. Like Wine, a minus sign is
    taken even when bSigned is FALSE (the result is the value as a UINT)."""
    if ptrans:
        c.write_u32(ptrans, 0)
    k = dlg_item(c, hdlg, item)
    if k is None:
        return 0
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    buf = heap_alloc(c, 2 * 64, 0x8)
    try:
        n = W.send(c, k, W.WM_GETTEXT, 64, buf, True)
        text = c.read(buf, 2 * max(0, min(n, 63))).decode("utf-16-le", "replace")
    finally:
        heap_free(c, buf)
    s = text.lstrip(" ")
    neg = s.startswith("-")
    if s[:1] in ("-", "+"):
        s = s[1:]
    digits = ""
    for ch in s:                              # translation stops at the first character that is no digit
        if not "0" <= ch <= "9":
            break
        digits += ch
    if not digits:
        return 0
    v = -int(digits) if neg else int(digits)
    if signed and not -(1 << 31) <= v <= 0x7FFFFFFF:
        return 0
    if not signed and not -0xFFFFFFFF <= v <= 0xFFFFFFFF:
        return 0
    if ptrans:
        c.write_u32(ptrans, 1)
    return v & 0xFFFFFFFF


@api(U32, "BOOL WINAPI CheckDlgButton(HWND hDlg, int nIDButton, UINT uCheck)", calls_guest=True)
def CheckDlgButton(c, hdlg, item, check):
    k = dlg_item(c, hdlg, item)
    if k is None:
        return 0
    W.send(c, k, 0xF1, check, 0, True)
    return 1


@api(U32, "UINT WINAPI IsDlgButtonChecked(HWND hDlg, int nIDButton)", calls_guest=True)
def IsDlgButtonChecked(c, hdlg, item):
    k = dlg_item(c, hdlg, item)
    if k is None:
        return 0
    return W.send(c, k, 0xF0, 0, 0, True)


@api(U32, "BOOL WINAPI CheckRadioButton(HWND hDlg, int nIDFirstButton, int nIDLastButton, int nIDCheckButton)",
     calls_guest=True)
def CheckRadioButton(c, hdlg, first, last, check):
    w = W._window(c, hdlg)
    if w is None:
        return 0
    for k in W.children(c, w):
        if first <= k.id <= last:
            W.send(c, k, 0xF1, 1 if k.id == check else 0, 0, True)
    return 1


@api(U32, "BOOL WINAPI MapDialogRect(HWND hDlg, LPRECT lpRect)")
def MapDialogRect(c, hdlg, rect):
    w = W._window(c, hdlg)
    if w is None:
        return 0
    if w.dlg is None:
        c.set_last_error(ERROR_WINDOW_NOT_DIALOG)
        return 0
    bx, by = w.dlg.base
    l, t, r, b = struct.unpack("<iiii", c.read(rect, 16))
    c.write(rect, struct.pack("<iiii", _px(l, bx, 4), _px(t, by, 8), _px(r, bx, 4), _px(b, by, 8)))
    return 1


@api(U32, "LONG WINAPI GetDialogBaseUnits(void)")
def GetDialogBaseUnits(c):
    """The system font's average character size at 96 DPI: 8 x 16."""
    return (16 << 16) | 8
