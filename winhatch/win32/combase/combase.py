"""combase (ole32 forwards here): a thread's COM apartment and object creation.

CoInitializeEx enters the multithreaded or a single-threaded apartment and counts the calls; CoUninitialize
leaves after as many calls as entered it. CoCreateInstance(Ex) and CoGetClassObject look the class up in the
emulated registry (HKEY_CLASSES_ROOT\\CLSID, the WOW6432Node view for x86): a class that is not registered gives
REGDB_E_CLASSNOTREG (0x80040154), as on a Windows machine without the product that registers it (the Visual
Studio setup configuration clang's tools ask for, for instance); a thread outside COM gets CO_E_NOTINITIALIZED.
winhatch implements no COM server, so creating a class the registry does have stops the guest loudly."""
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


# ------------------------------------------------------------------------------------------ object creation
REGDB_E_CLASSNOTREG = 0x80040154
CO_E_NOTINITIALIZED = 0x800401F0
E_POINTER = 0x80004003
E_NOINTERFACE = 0x80004002
CLASS_E_NOAGGREGATION = 0x80040110
CLSCTX_VALID = 0x7FFF3F1F        # the documented CLSCTX_* bits (CLSCTX_INPROC_SERVER … CLSCTX_PS_DLL)


def guid_text(c, addr: int) -> str:
    """{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX} of the GUID at addr."""
    import struct
    d1, d2, d3 = struct.unpack("<IHH", c.read(addr, 8))
    d4 = c.read(addr + 8, 8)
    return f"{{{d1:08X}-{d2:04X}-{d3:04X}-{d4[:2].hex().upper()}-{d4[2:].hex().upper()}}}"


def _com_entered(c) -> bool:
    """The thread is in an apartment, or the process has a multithreaded apartment (the implicit MTA)."""
    aps = _apartments(c)
    return c.thread.tid in aps or any(mta for mta, _n in aps.values())


def _class_registered(c, clsid: str) -> bool:
    """HKEY_CLASSES_ROOT\\CLSID\\{clsid} in the emulated registry (the user's classes, then the machine's; an
    x86 process sees the WOW6432Node view)."""
    from winhatch.ntstatus import NtStatusError
    reg = c.machine.registry
    wow64 = c.arch == "x86"
    for root in (r"HKCU\Software\Classes\CLSID", r"HKLM\SOFTWARE\Classes\CLSID"):
        try:
            reg.open_key(root + "\\" + clsid, wow64=wow64)
            return True
        except NtStatusError:
            continue
    return False


def _create(c, pclsid: int, outer: int, ctx: int) -> int:
    """The HRESULT of creating an object of class *pclsid: CO_E_NOTINITIALIZED outside COM,
    REGDB_E_CLASSNOTREG for a class the registry does not have (a machine without the product that registers
    it). winhatch implements no COM server, so a registered class stops the guest loudly."""
    if not _com_entered(c):
        return CO_E_NOTINITIALIZED
    clsid = guid_text(c, pclsid)
    c.proc.subsystem.setdefault("com_classes_requested", []).append(clsid)
    if not _class_registered(c, clsid):
        return REGDB_E_CLASSNOTREG
    from winhatch.win32.msvcrt.runtime import not_implemented
    not_implemented(c, f"COM object creation: class {clsid} is registered, but winhatch has no COM server for it")


@api("combase.dll", "HRESULT WINAPI CoCreateInstance(REFCLSID rclsid, LPUNKNOWN pUnkOuter, DWORD dwClsContext, "
     "REFIID riid, LPVOID *ppv)")
def CoCreateInstance(c, pclsid, outer, ctx, piid, ppv):
    if not ppv:
        return E_POINTER
    c.write_ptr(ppv, 0)
    if not pclsid or not piid:
        return E_INVALIDARG
    if not ctx & CLSCTX_VALID or ctx & ~CLSCTX_VALID:
        return E_INVALIDARG
    return _create(c, pclsid, outer, ctx)


@api("combase.dll", "HRESULT WINAPI CoCreateInstanceEx(REFCLSID rclsid, LPUNKNOWN pUnkOuter, DWORD dwClsCtx, "
     "COSERVERINFO *pServerInfo, DWORD dwCount, MULTI_QI *pResults)")
def CoCreateInstanceEx(c, pclsid, outer, ctx, server, count, results):
    """A failed creation leaves each MULTI_QI with pItf NULL and hr E_NOINTERFACE (checked against Wine)."""
    if not count or not results or not pclsid:
        return E_INVALIDARG
    if server:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "CoCreateInstanceEx on a remote server (COSERVERINFO)")
    hr = _create(c, pclsid, outer, ctx)
    ps = c.ptr_size
    for i in range(min(count, 0x10000)):
        item = results + i * 3 * ps            # MULTI_QI: pIID, pItf, hr
        c.write_ptr(item + ps, 0)
        c.write_u32(item + 2 * ps, hr if hr == 0 else E_NOINTERFACE)
    return hr


@api("combase.dll", "HRESULT WINAPI CoGetClassObject(REFCLSID rclsid, DWORD dwClsContext, LPVOID pvReserved, "
     "REFIID riid, LPVOID *ppv)")
def CoGetClassObject(c, pclsid, ctx, reserved, piid, ppv):
    if not ppv:
        return E_INVALIDARG
    c.write_ptr(ppv, 0)
    if not pclsid or not piid:
        return E_INVALIDARG
    return _create(c, pclsid, 0, ctx)
