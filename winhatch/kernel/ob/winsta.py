"""Window stations and desktops as the object manager sees them: the interactive window station WinSta0 named
\\Sessions\\<n>\\Windows\\WindowStations\\WinSta0, and its Default desktop (ObjectNameInformation "\\Default",
a name relative to its window station). A process connected to the window manager holds a handle to each, the
ones GetProcessWindowStation and GetThreadDesktop return; winhatch opens them on the first ask, once per
process. Nothing else of the window manager lives here (there is no desktop to draw on)."""
from __future__ import annotations

from winhatch.kernel.ob.object import KObject

WINSTA_ALL_ACCESS = 0x37F
DESKTOP_ALL_ACCESS = 0x1FF
STANDARD_RIGHTS_REQUIRED = 0xF0000


class WindowStation(KObject):
    type_name = "WindowStation"


class Desktop(KObject):
    type_name = "Desktop"


def _interactive(machine) -> tuple[WindowStation, Desktop]:
    got = getattr(machine, "_winsta0", None)
    if got is None:
        ns = machine.namespace
        path = f"\\Sessions\\{ns.session_id}\\Windows\\WindowStations"
        ns.create_directory(path, exist_ok=True)
        winsta = WindowStation()
        ns.insert(path + "\\WinSta0", winsta)
        winsta.make_permanent()
        desk = Desktop("\\Default")        # named inside its window station, not in the object directory
        desk.make_permanent()
        got = machine._winsta0 = (winsta, desk)
    return got


def process_window_station(machine, proc) -> int:
    """The process's handle to its window station (opened once, as at the process's connection)."""
    h = getattr(proc, "winsta_handle", 0)
    if not h or h not in proc.handles:
        winsta, _desk = _interactive(machine)
        h = proc.handles.insert(winsta, STANDARD_RIGHTS_REQUIRED | WINSTA_ALL_ACCESS)
        proc.winsta_handle = h
    return h


def process_desktop(machine, proc) -> int:
    """The process's handle to the desktop its threads use (the startup desktop, WinSta0\\Default)."""
    h = getattr(proc, "desktop_handle", 0)
    if not h or h not in proc.handles:
        _winsta, desk = _interactive(machine)
        h = proc.handles.insert(desk, STANDARD_RIGHTS_REQUIRED | DESKTOP_ALL_ACCESS)
        proc.desktop_handle = h
    return h
