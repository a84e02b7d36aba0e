"""user32: the system's control classes — BUTTON, EDIT, STATIC, LISTBOX, COMBOBOX — and the dialog class
#32770, served in Python (their window procedures are user32 functions a guest can call: GetWindowLongPtr
(GWLP_WNDPROC) of a control gives user32's internal WhControlProcW, and a subclassing program's CallWindowProc
to it reaches the same code).

Nothing is drawn: the controls keep the state their messages read and change — the text (WM_SETTEXT /
WM_GETTEXT), a button's check state (BM_GETCHECK / BM_SETCHECK, BM_CLICK with its BN_CLICKED notification and
the automatic check boxes' and radio buttons' toggling), an edit control's limit and selection (EM_LIMITTEXT,
EM_SETSEL/GETSEL, EM_REPLACESEL; EN_UPDATE and EN_CHANGE to the parent when a single-line edit's text is set),
a list box's and combo box's items (…_ADDSTRING with LBS_SORT/CBS_SORT, …_INSERTSTRING, …_DELETESTRING,
…_GETCOUNT, …_GETTEXT(LEN) / CB_GETLBTEXT(LEN), …_FINDSTRING(EXACT), …_SELECTSTRING, …_SETCURSEL/GETCURSEL,
…_SETITEMDATA/GETITEMDATA, …_RESETCONTENT). A message of a control that needs drawing or input (owner-drawn
items, scrolling, multiple-selection list boxes' selection messages…) stops the guest loudly.
"""
from __future__ import annotations

from winhatch.win32.api import api, internal_function
from winhatch.win32.user32 import window as W

U32 = "user32.dll"
internal_function(U32, "WhControlProcW")
internal_function(U32, "WhControlProcA")

BN_CLICKED, EN_CHANGE, EN_UPDATE, EN_SETFOCUS, EN_KILLFOCUS = 0, 0x300, 0x400, 0x100, 0x200
BM_GETCHECK, BM_SETCHECK, BM_GETSTATE, BM_SETSTATE, BM_SETSTYLE, BM_CLICK = 0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5
EM_GETSEL, EM_SETSEL, EM_GETLINECOUNT, EM_REPLACESEL, EM_LIMITTEXT, EM_SETREADONLY, EM_GETLIMITTEXT = \
    0xB0, 0xB1, 0xBA, 0xC2, 0xC5, 0xCF, 0xD5
EM_GETMODIFY, EM_SETMODIFY = 0xB8, 0xB9
LB_ERR, LB_ERRSPACE = -1, -2
WM_SETFONT, WM_GETFONT, WM_GETDLGCODE, WM_NCCREATE = 0x30, 0x31, 0x87, 0x81
BS_CHECKBOX, BS_AUTOCHECKBOX, BS_RADIOBUTTON, BS_3STATE, BS_AUTO3STATE, BS_AUTORADIOBUTTON = 2, 3, 4, 5, 6, 9
ES_MULTILINE, ES_READONLY = 0x4, 0x800
LBS_SORT, CBS_SORT = 0x2, 0x100

# the list messages of LISTBOX and COMBOBOX: LB_* value, CB_* value -> operation
_LIST_OPS = {
    "add": (0x180, 0x143), "insert": (0x181, 0x14A), "delete": (0x182, 0x144), "reset": (0x184, 0x14B),
    "setcursel": (0x186, 0x14E), "getcursel": (0x188, 0x147), "gettext": (0x189, 0x148),
    "gettextlen": (0x18A, 0x149), "getcount": (0x18B, 0x146), "selectstring": (0x18C, 0x14D),
    "findstring": (0x18F, 0x14C), "getitemdata": (0x199, 0x150), "setitemdata": (0x19A, 0x151),
    "findexact": (0x1A2, 0x158),
}
_LB = {v[0]: k for k, v in _LIST_OPS.items()}
_CB = {v[1]: k for k, v in _LIST_OPS.items()}
CB_LIMITTEXT, CB_GETEDITSEL, CB_SETEDITSEL, CB_SHOWDROPDOWN, CB_GETDROPPEDSTATE = 0x141, 0x140, 0x142, 0x14F, 0x157

_RANGES = {"button": (0xF0, 0xFF), "edit": (0xB0, 0xDF), "static": (0x170, 0x17F), "listbox": (0x180, 0x1AF),
           "combobox": (0x140, 0x16F)}
CLASSES = ("Button", "Edit", "Static", "ListBox", "ComboBox")


def user32_function(c, name: str) -> int:
    """The guest address of a user32 function (an export or an internal function) in the calling process."""
    from winhatch.ldr import loader
    m = loader.state_of(c.proc).by_name.get(U32)
    img = c.proc.subsystem["images"].find(m.base) if m is not None else None
    va = next((m.base + rva for rva, n in ((img.traps or {}).items() if img else ()) if n == name), None)
    if va is None:
        W._not_impl(c, f"user32's {name} is missing from the process")
    return va


def system_classes(c) -> None:
    """Register the system's classes in the process (once): global classes of user32's module."""
    cl = W._classes(c)
    if cl.get("system"):
        return
    cl["system"] = True
    from winhatch.ldr import loader
    m = loader.state_of(c.proc).by_name.get(U32)
    base = m.base if m is not None else 0
    pw, pa = user32_function(c, "WhControlProcW"), user32_function(c, "WhControlProcA")
    for name in CLASSES:
        W.add_class(c, name, pw, 0x4000 | 0x8 | 0x3, 0, 2 * c.ptr_size, base, unicode=True,
                    builtin=name.lower(), wndproc_a=pa)      # CS_GLOBALCLASS | CS_DBLCLKS | CS_H/VREDRAW
    # the dialog class: DefDlgProc is its window procedure, DLGWINDOWEXTRA (30) bytes of window data
    W.add_class(c, "#32770", user32_function(c, "DefDlgProcW"), 0x4000 | 0x8 | 0x800, 0, 30, base,
                unicode=True, builtin="dialog", wndproc_a=user32_function(c, "DefDlgProcA"), atom=0x8002)


class Ctl:
    __slots__ = ("check", "state", "items", "cursel", "limit", "sel", "modify")

    def __init__(self):
        self.check = 0
        self.state = 0
        self.items: list[list] = []     # [text, item data]
        self.cursel = -1
        self.limit = 0x7FFE             # an edit control's default limit (EM_GETLIMITTEXT)
        self.sel = (0, 0)
        self.modify = 0


def _notify(c, w: W.Window, code: int) -> None:
    """WM_COMMAND(MAKEWPARAM(id, code), hwnd) to the control's parent."""
    p = W._state(c)["windows"].get(w.parent)
    if p is not None and not p.destroyed:
        W.send(c, p, W.WM_COMMAND, ((code & 0xFFFF) << 16) | (w.id & 0xFFFF), w.hwnd, p.cls.unicode)


def _signed(v: int, ps: int) -> int:
    v &= (1 << (8 * ps)) - 1
    return v - (1 << (8 * ps)) if v >> (8 * ps - 1) else v


def builtin_proc(c, w: W.Window, msg: int, wp: int, lp: int, wide: bool) -> int:
    kind = w.cls.builtin
    if kind == "dialog":
        from winhatch.win32.user32 import dialog
        return dialog.def_dlg_proc(c, w, msg, wp, lp, wide)
    if w.ctl is None:
        w.ctl = Ctl()
    s = w.ctl
    msg &= 0xFFFFFFFF
    if msg == WM_GETDLGCODE:
        return {"button": 0x2000, "edit": 0x89, "static": 0x100, "listbox": 0x4 | 0x8, "combobox": 0x4}.get(kind, 0)
    if msg in (WM_SETFONT, WM_GETFONT):
        return 0                          # no fonts: nothing is drawn (WM_GETFONT: the system font, NULL)
    if kind == "button":
        r = _button(c, w, s, msg, wp, lp, wide)
    elif kind == "edit":
        r = _edit(c, w, s, msg, wp, lp, wide)
    elif kind in ("listbox", "combobox"):
        r = _list(c, w, s, msg, wp, lp, wide, kind)
    else:
        r = None
    if r is not None:
        return r
    lo, hi = _RANGES[kind]
    if lo <= msg <= hi:
        W._not_impl(c, f"message {msg:#x} to a {kind} control")
    return W.def_window_proc(c, w, w.hwnd, msg, wp, lp, wide)


def _button(c, w, s, msg, wp, lp, wide):
    btype = w.style & 0xF
    if msg == BM_GETCHECK:
        return s.check if btype in (BS_CHECKBOX, BS_AUTOCHECKBOX, BS_RADIOBUTTON, BS_3STATE, BS_AUTO3STATE,
                                    BS_AUTORADIOBUTTON) else 0
    if msg == BM_SETCHECK:
        if btype in (BS_CHECKBOX, BS_AUTOCHECKBOX, BS_RADIOBUTTON, BS_AUTORADIOBUTTON):
            s.check = 1 if wp & 3 else 0          # BST_INDETERMINATE only for three-state buttons
        elif btype in (BS_3STATE, BS_AUTO3STATE):
            s.check = wp & 3 if wp & 3 != 3 else 0
        return 0
    if msg == BM_GETSTATE:
        return s.check | s.state
    if msg == BM_SETSTATE:
        s.state = 0x4 if wp else 0              # BST_PUSHED
        return 0
    if msg == BM_SETSTYLE:
        w.style = (w.style & ~0xFFFF) | (wp & 0xFFFF)
        return 0
    if msg == BM_CLICK:
        if w.style & W.WS_DISABLED:
            return 0
        W.set_focus(c, w.hwnd)                  # the simulated mouse click takes the focus
        if btype == BS_AUTOCHECKBOX:
            s.check ^= 1
        elif btype == BS_AUTO3STATE:
            s.check = (s.check + 1) % 3
        elif btype == BS_AUTORADIOBUTTON:
            s.check = 1
            _uncheck_group(c, w)
        _notify(c, w, BN_CLICKED)
        return 0
    return None


def _uncheck_group(c, w):
    """An automatic radio button checked clears the other automatic radio buttons of its group (the siblings
    from the WS_GROUP control before it to the next WS_GROUP one)."""
    p = W._state(c)["windows"].get(w.parent)
    if p is None:
        return
    sibs = W.children(c, p)
    i = sibs.index(w)
    start = i
    while start > 0 and not sibs[start].style & 0x20000:      # WS_GROUP
        start -= 1
    end = i + 1
    while end < len(sibs) and not sibs[end].style & 0x20000:
        end += 1
    for x in sibs[start:end]:
        if x is not w and x.cls.builtin == "button" and x.style & 0xF == BS_AUTORADIOBUTTON:
            if x.ctl is None:
                x.ctl = Ctl()
            x.ctl.check = 0


def _edit(c, w, s, msg, wp, lp, wide):
    if msg == W.WM_SETFOCUS:
        _notify(c, w, EN_SETFOCUS)
        return 0
    if msg == W.WM_KILLFOCUS:
        _notify(c, w, EN_KILLFOCUS)
        return 0
    if msg == W.WM_SETTEXT:
        text = W.read_text(c, lp, wide)
        w.text = text[:s.limit] if not w.style & ES_MULTILINE else text
        s.sel = (0, 0)
        s.modify = 0
        if not w.style & ES_MULTILINE:          # documented: not for a multiline edit's WM_SETTEXT
            _notify(c, w, EN_UPDATE)
            _notify(c, w, EN_CHANGE)
        return 1
    if msg in (EM_LIMITTEXT,):
        s.limit = (wp & 0xFFFFFFFF) or (0x7FFFFFFE if not w.style & ES_MULTILINE else 0xFFFFFFFF)
        return 0
    if msg == EM_GETLIMITTEXT:
        return s.limit
    if msg == EM_GETSEL:
        if wp:
            c.write_u32(wp, s.sel[0])
        if lp:
            c.write_u32(lp, s.sel[1])
        return (s.sel[0] & 0xFFFF) | ((s.sel[1] & 0xFFFF) << 16)
    if msg == EM_SETSEL:
        n = len(w.text)
        a, b = _signed(wp, c.ptr_size), _signed(lp, c.ptr_size)
        if a < 0:
            s.sel = (0, 0) if a == -1 else s.sel
            return 1
        a, b = min(a, n), (n if b < 0 else min(b, n))
        s.sel = (min(a, b), max(a, b))
        return 1
    if msg == EM_REPLACESEL:
        text = W.read_text(c, lp, wide)
        a, b = s.sel
        new = w.text[:a] + text + w.text[b:]
        if len(new) > s.limit:
            return 0
        w.text = new
        s.sel = (a + len(text), a + len(text))
        s.modify = 1
        _notify(c, w, EN_UPDATE)
        _notify(c, w, EN_CHANGE)
        return 0
    if msg == EM_GETLINECOUNT:
        return w.text.count("\r\n") + 1 if w.style & ES_MULTILINE else 1
    if msg == EM_SETREADONLY:
        w.style = (w.style | ES_READONLY) if wp else (w.style & ~ES_READONLY)
        return 1
    if msg == EM_GETMODIFY:
        return s.modify
    if msg == EM_SETMODIFY:
        s.modify = 1 if wp else 0
        return 0
    return None


def _list(c, w, s, msg, wp, lp, wide, kind):
    table = _LB if kind == "listbox" else _CB
    op = table.get(msg)
    if op is None:
        if kind == "combobox" and msg in (W.WM_GETTEXT, W.WM_GETTEXTLENGTH) and s.cursel >= 0 and \
                w.style & 3 == 3:                      # CBS_DROPDOWNLIST: the selected item's text
            text = s.items[s.cursel][0]
            if msg == W.WM_GETTEXTLENGTH:
                return W.text_len(c, text, wide)
            return W.put_text(c, lp, min(wp & 0xFFFFFFFF, 1 << 20), text, wide)
        if kind == "combobox" and msg == CB_LIMITTEXT:
            return 1
        if kind == "combobox" and msg == CB_GETDROPPEDSTATE:
            return 0
        if kind == "listbox" and msg in (0x190, 0x191, 0x192, 0x193, 0x19B, 0x185, 0x187):
            W._not_impl(c, f"list box message {msg:#x} (multiple selection, caret and anchor)")
        return None
    n = len(s.items)
    owner_drawn_nostr = (w.style & 0x30 and not w.style & 0x40) if kind == "listbox" else \
        (w.style & 0x30 and not w.style & 0x200)        # LBS_OWNERDRAW* without LBS_HASSTRINGS
    if owner_drawn_nostr:
        W._not_impl(c, f"an owner-drawn {kind} without strings")
    idx = _signed(wp, c.ptr_size)
    if op == "getcount":
        return n
    if op in ("add", "insert"):
        text = W.read_text(c, lp, wide)
        if op == "add":
            sort = LBS_SORT if kind == "listbox" else CBS_SORT
            if w.style & sort:
                key = text.upper()
                pos = next((i for i, it in enumerate(s.items) if it[0].upper() > key), n)
            else:
                pos = n
        else:
            if idx < -1 or idx > n:
                return LB_ERR
            pos = n if idx == -1 else idx
        s.items.insert(pos, [text, 0])
        if s.cursel >= pos:
            s.cursel += 1
        return pos
    if op == "delete":
        if not 0 <= idx < n:
            return LB_ERR
        del s.items[idx]
        if s.cursel == idx:
            s.cursel = -1
        elif s.cursel > idx:
            s.cursel -= 1
        return n - 1
    if op == "reset":
        s.items.clear()
        s.cursel = -1
        return 0 if kind == "listbox" else 1
    if op == "setcursel":
        if idx == -1 or not 0 <= idx < n:
            s.cursel = -1
            return LB_ERR if idx != -1 or kind == "combobox" else 0
        s.cursel = idx
        if kind == "combobox" and w.style & 3 != 3:
            w.text = s.items[idx][0]
        return idx
    if op == "getcursel":
        return s.cursel
    if op in ("gettext", "gettextlen"):
        if not 0 <= idx < n:
            return LB_ERR
        text = s.items[idx][0]
        if op == "gettextlen":
            return W.text_len(c, text, wide)
        if not lp:
            return LB_ERR
        data = W.text_bytes(c, text, wide)
        c.write(lp, data + bytes(2 if wide else 1))
        return len(data) // (2 if wide else 1)
    if op in ("getitemdata", "setitemdata"):
        if not 0 <= idx < n:
            return LB_ERR
        if op == "getitemdata":
            return s.items[idx][1]
        s.items[idx][1] = lp
        return 1 if kind == "listbox" else 1
    if op in ("findstring", "findexact", "selectstring"):
        text = W.read_text(c, lp, wide).upper()
        start = idx if -1 <= idx < n else -1
        order = list(range(start + 1, n)) + list(range(0, start + 1))
        for i in order:
            it = s.items[i][0].upper()
            if (it == text) if op == "findexact" else it.startswith(text):
                if op == "selectstring":
                    s.cursel = i
                    if kind == "combobox" and w.style & 3 != 3:
                        w.text = s.items[i][0]
                return i
        return LB_ERR
    return None


def _proc(c, hwnd, msg, wp, lp, wide):
    w = W._state(c)["windows"].get(hwnd & 0xFFFFFFFF)
    if w is None or w.cls.builtin is None:
        W._not_impl(c, "a control's window procedure called for a window that is not a control")
    return builtin_proc(c, w, msg & 0xFFFFFFFF, wp, lp, wide)


@api(U32, "LRESULT WINAPI WhControlProcW(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam)", calls_guest=True)
def WhControlProcW(c, hwnd, msg, wp, lp):
    return _proc(c, hwnd, msg, wp, lp, True)


@api(U32, "LRESULT WINAPI WhControlProcA(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam)", calls_guest=True)
def WhControlProcA(c, hwnd, msg, wp, lp):
    return _proc(c, hwnd, msg, wp, lp, False)
