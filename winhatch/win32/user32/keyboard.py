"""user32: the keyboard layouts of the session (win32k's list, loaded at logon from HKCU\\Keyboard Layout\\
Preload: the profile's [locale] keyboards, winhatch.kernel.ex.nls). Programs ask for them to learn where the
computer is (malware that spares Russian and CIS layouts, GetKeyboardLayoutList)."""
from __future__ import annotations

from winhatch.win32.api import api

U32 = "user32.dll"
ERROR_INVALID_PARAMETER = 87


def _hkl(c, value: int) -> int:
    """An HKL as the guest holds it: a handle-sized value, sign-extended on x64 (0xF0xx device ids)."""
    if c.ptr_size == 8 and value & 0x80000000:
        return value | 0xFFFFFFFF00000000
    return value


@api(U32, "int WINAPI GetKeyboardLayoutList(int nBuff, HKL *lpList)")
def GetKeyboardLayoutList(c, n, plist):
    """The session's layouts: nBuff 0 asks for their count; otherwise up to nBuff handles are copied and their
    count returned (a buffer too small keeps the first ones)."""
    hkls = c.machine.nls.hkls()
    n = n - (1 << 32) if n & 0x80000000 else n
    if n == 0:
        return len(hkls)
    if n < 0 or not plist:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    k = min(n, len(hkls))
    for i in range(k):
        c.write_ptr(plist + i * c.ptr_size, _hkl(c, hkls[i]))
    return k


@api(U32, "HKL WINAPI GetKeyboardLayout(DWORD idThread)")
def GetKeyboardLayout(c, tid):
    """The active layout of a thread: every thread starts with the session's default layout and winhatch has
    no input to switch it."""
    return _hkl(c, c.machine.nls.hkls()[0])


@api(U32, "BOOL WINAPI GetKeyboardLayoutName%(LPTSTR pwszKLID)")
def GetKeyboardLayoutName(c, buf):
    """The active layout's identifier (KLID), eight hexadecimal digits and the NUL (KL_NAMELENGTH)."""
    if not buf:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    klid = f"{c.machine.nls.keyboards[0].keyboard:08X}"
    c.write(buf, c.encode_t(klid) + bytes(c.tchar_size()))
    return 1
