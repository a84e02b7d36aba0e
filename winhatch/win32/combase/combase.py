"""combase (ole32 forwards here): a thread's COM apartment. CoInitializeEx enters the multithreaded or a
single-threaded apartment and counts the calls; CoUninitialize leaves after as many calls as entered it.
winhatch has no COM class registrations: creating an object (CoCreateInstance) is not implemented and stops
the guest, like every undeclared export."""
from __future__ import annotations

from winhatch.win32.api import api

S_OK, S_FALSE = 0, 1
E_INVALIDARG = 0x80070057
RPC_E_CHANGED_MODE = 0x80010106
COINIT_APARTMENTTHREADED = 0x2
COINIT_MULTITHREADED = 0x0
_COINIT_FLAGS = 0x2 | 0x4 | 0x8    # APARTMENTTHREADED, DISABLE_OLE1DDE, SPEED_OVER_MEMORY


def _apartments(c) -> dict:
    """Thread id -> [multithreaded?, count] for the threads of the process that entered an apartment."""
    return c.proc.subsystem.setdefault("com_apartments", {})


@api("combase.dll", "HRESULT WINAPI CoInitializeEx(LPVOID pvReserved, DWORD dwCoInit)")
def CoInitializeEx(c, reserved, coinit):
    """S_OK for the thread's first call, S_FALSE for a later one of the same model, RPC_E_CHANGED_MODE (and
    nothing counted) when the thread is already in the other kind of apartment; unknown flags are E_INVALIDARG.
    pvReserved is documented as reserved (NULL) and not checked, as Wine records it."""
    if coinit & ~_COINIT_FLAGS:
        return E_INVALIDARG
    mta = not coinit & COINIT_APARTMENTTHREADED
    apt = _apartments(c).get(c.thread.tid)
    if apt is None:
        _apartments(c)[c.thread.tid] = [mta, 1]
        return S_OK
    if apt[0] != mta:
        return RPC_E_CHANGED_MODE
    apt[1] += 1
    return S_FALSE


@api("ole32.dll", "HRESULT WINAPI CoInitialize(LPVOID pvReserved)")
def CoInitialize(c, reserved):
    """CoInitializeEx(pvReserved, COINIT_APARTMENTTHREADED)."""
    return CoInitializeEx(c, reserved, COINIT_APARTMENTTHREADED)


@api("combase.dll", "void WINAPI CoUninitialize(void)")
def CoUninitialize(c):
    """One CoInitializeEx call undone; the thread leaves its apartment with the last one. A thread that never
    entered one: nothing happens."""
    aps = _apartments(c)
    apt = aps.get(c.thread.tid)
    if apt is not None:
        apt[1] -= 1
        if apt[1] <= 0:
            del aps[c.thread.tid]
