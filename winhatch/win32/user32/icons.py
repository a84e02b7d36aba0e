"""user32: icons and cursors as USER objects — what a window program asks for before it registers its class
(LoadIcon, LoadCursor, LoadImage of an icon or cursor) and SetCursor. Nothing is drawn, so an icon or cursor
is a handle naming its source: a predefined system image (IDI_*, IDC_*, OCR_*/OIC_* with LR_SHARED), or a
module's RT_GROUP_ICON / RT_GROUP_CURSOR resource, found as Windows finds it (a missing one fails with the
resource error). LoadIcon, LoadCursor and LoadImage(LR_SHARED) give the same handle for the same image each
time (documented: they return the existing handle of an image already loaded); DestroyIcon / DestroyCursor
free a non-shared one. Bitmaps (IMAGE_BITMAP) and images from files (LR_LOADFROMFILE) need GDI: they stop
the guest loudly.
"""
from __future__ import annotations

from winhatch.win32.api import api
from winhatch.win32.user32 import window as W

U32 = "user32.dll"
RT_CURSOR, RT_ICON, RT_GROUP_CURSOR, RT_GROUP_ICON = 1, 3, 12, 14
IMAGE_BITMAP, IMAGE_ICON, IMAGE_CURSOR = 0, 1, 2
LR_LOADFROMFILE, LR_SHARED = 0x10, 0x8000
ERROR_RESOURCE_NAME_NOT_FOUND = 1814
ERROR_INVALID_CURSOR_HANDLE, ERROR_INVALID_ICON_HANDLE = 1402, 1403
# winuser.h: IDI_APPLICATION .. IDI_SHIELD (IDI_WINLOGO 32517), IDC_ARROW .. IDC_HELP and the newer cursors
SYSTEM_ICONS = frozenset(range(32512, 32519))
SYSTEM_CURSORS = frozenset(list(range(32512, 32517)) + list(range(32640, 32652)) + [32671, 32672])
OEM_ICONS = frozenset(range(32512, 32519))
OEM_CURSORS = frozenset(list(range(32512, 32517)) + list(range(32640, 32652)) + [32631, 32671, 32672])


class Image:
    __slots__ = ("handle", "kind", "source", "shared")

    def __init__(self, handle, kind, source, shared):
        self.handle, self.kind, self.source, self.shared = handle, kind, source, shared


def _images(c) -> dict:
    st = W._state(c)
    return st.setdefault("images", {"by_handle": {}, "shared": {}})


def _new(c, kind: str, source, shared: bool) -> int:
    im = _images(c)
    if shared and (kind, source) in im["shared"]:
        return im["shared"][(kind, source)]
    st = W._state(c)
    h = st["next"]
    st["next"] += 2                      # the USER handle table windows use
    im["by_handle"][h] = Image(h, kind, source, shared)
    if shared:
        im["shared"][(kind, source)] = h
    return h


def _load(c, hinst: int, name_ptr: int, kind: str, shared: bool, wide: bool) -> int:
    cursor = kind == "cursor"
    if not hinst:
        if name_ptr >= 0x10000 or name_ptr not in (SYSTEM_CURSORS if cursor else SYSTEM_ICONS):
            c.set_last_error(ERROR_RESOURCE_NAME_NOT_FOUND)
            return 0
        return _new(c, kind, ("system", name_ptr), True)
    from winhatch.win32.kernel32.resource import _key, find_resource, resource_view
    view = resource_view(c, hinst)
    if view is None:
        return 0
    key = _key(c, name_ptr, wide)
    e = find_resource(c, view, RT_GROUP_CURSOR if cursor else RT_GROUP_ICON, key, None)
    if e is None:
        return 0
    return _new(c, kind, (view.base, key), shared)


@api(U32, "HICON WINAPI LoadIcon%(HINSTANCE hInstance, LPCTSTR_OR_ID lpIconName)")
def LoadIcon(c, hinst, name):
    return _load(c, hinst, name, "icon", True, c.wide)


@api(U32, "HCURSOR WINAPI LoadCursor%(HINSTANCE hInstance, LPCTSTR_OR_ID lpCursorName)")
def LoadCursor(c, hinst, name):
    return _load(c, hinst, name, "cursor", True, c.wide)


@api(U32, "HANDLE WINAPI LoadImage%(HINSTANCE hInst, LPCTSTR_OR_ID name, UINT type, int cx, int cy, UINT fuLoad)")
def LoadImage(c, hinst, name, typ, cx, cy, flags):
    if flags & LR_LOADFROMFILE:
        W._not_impl(c, "LoadImage(LR_LOADFROMFILE): images from files")
    if typ not in (IMAGE_ICON, IMAGE_CURSOR):
        W._not_impl(c, f"LoadImage of image type {typ} (bitmaps need GDI)")
    kind = "cursor" if typ == IMAGE_CURSOR else "icon"
    if not hinst:
        oem = OEM_CURSORS if kind == "cursor" else OEM_ICONS
        if not flags & LR_SHARED or name >= 0x10000 or name not in oem:
            c.set_last_error(ERROR_RESOURCE_NAME_NOT_FOUND)
            return 0
        return _new(c, kind, ("system", name), True)
    return _load(c, hinst, name, kind, bool(flags & LR_SHARED), c.wide)


def _destroy(c, h: int, kind: str) -> int:
    im = _images(c)
    img = im["by_handle"].get(h & 0xFFFFFFFF)
    if img is None or img.kind != kind:
        c.set_last_error(ERROR_INVALID_CURSOR_HANDLE if kind == "cursor" else ERROR_INVALID_ICON_HANDLE)
        return 0
    if not img.shared:
        del im["by_handle"][img.handle]
    return 1


@api(U32, "BOOL WINAPI DestroyIcon(HICON hIcon)")
def DestroyIcon(c, h):
    return _destroy(c, h, "icon")


@api(U32, "BOOL WINAPI DestroyCursor(HCURSOR hCursor)")
def DestroyCursor(c, h):
    return _destroy(c, h, "cursor")


@api(U32, "HCURSOR WINAPI SetCursor(HCURSOR hCursor)")
def SetCursor(c, h):
    """The thread's cursor (nothing shows it); the previous one is returned."""
    cur = W._state(c).setdefault("cursor", {})
    if h and (h & 0xFFFFFFFF) not in _images(c)["by_handle"]:
        c.set_last_error(ERROR_INVALID_CURSOR_HANDLE)
        return 0
    old = cur.get(c.thread.tid, 0)
    cur[c.thread.tid] = h & 0xFFFFFFFF
    return old


@api(U32, "HCURSOR WINAPI GetCursor(void)")
def GetCursor(c):
    return W._state(c).setdefault("cursor", {}).get(c.thread.tid, 0)
