"""gdi32: GDI objects. winhatch creates none yet — no pen, brush, font, bitmap, region, palette or DC
function is implemented, and calling one stops the guest as every unimplemented API does — so no handle a
program holds is a GDI object of this machine.

DeleteObject therefore answers as Windows does for a handle that is not a valid GDI object: FALSE (Microsoft's
DeleteObject documentation), without deleting anything and without setting the last error (as Wine's
gdi32, which the fixture conf_gdiobj checks; the documentation names no error code). When gdi32 objects are
added, DeleteObject must look them up first.
"""
from __future__ import annotations

from winhatch.win32.api import api

GDI = "gdi32.dll"


@api(GDI, "BOOL WINAPI DeleteObject(HGDIOBJ ho)")
def DeleteObject(c, h):
    return 0
