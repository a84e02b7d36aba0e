"""kernel32 / kernelbase: serial communications — building a DCB from a device-control string
(BuildCommDCB(A/W), BuildCommDCBAndTimeouts(A/W)) and the default configuration of a port
(GetDefaultCommConfig(A/W)).

The emulated machine has no serial ports: there is no \\Device\\Serial* and no COMn DOS device, so opening a port
fails as on a Windows machine without one (the port functions that need a handle never get one).

Device-control strings, as the MODE command takes them, optionally after "COMn:" (n >= 1):
- new style: "name=value" words separated by blanks: baud (any 32-bit number), parity (n o e m s),
  data (5-8), stop (1, 1.5, 2), xon (on/off: fOutX and fInX), odsr (fOutxDsrFlow), octs (fOutxCtsFlow),
  dtr (on/off/hs), rts (on/off/hs/tg), idsr (fDsrSensitivity), to (on: a write timeout of 60 s, off: none);
  only the members named change;
- old style: "baud,parity,data,stop[,x|p]" with blanks allowed around the commas; a two-digit baud is the
  MODE abbreviation (11 is 110, 96 is 9600, 19 is 19200...); it also sets the flow control: none, x (XON/XOFF)
  or p (hardware handshaking).
A string that does not parse changes nothing and fails with ERROR_INVALID_PARAMETER; success leaves the last
error alone. DCBlength is not set."""
from __future__ import annotations

import re
import struct

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32

DCB_SIZE = 28
#: bit positions in the DCB's flags word
F_PARITY, F_CTS, F_DSR, F_DTR, F_DSRSENS, F_OUTX, F_INX, F_RTS = 1, 2, 3, 4, 6, 8, 9, 12
OLD_BAUD = {11: 110, 15: 150, 30: 300, 60: 600, 12: 1200, 24: 2400, 48: 4800, 96: 9600, 19: 19200}
PARITY = {"n": 0, "o": 1, "e": 2, "m": 3, "s": 4}
STOP = {"1": 0, "1.5": 1, "2": 2}
ONOFF = {"on": 1, "off": 0}


def _set(flags: int, bit: int, width: int, value: int) -> int:
    mask = ((1 << width) - 1) << bit
    return (flags & ~mask) | (value << bit)


def parse(text: str):
    """{field: value} for the DCB ("baud", "parity", "data", "stop", ("flag", bit, width)) and the timeouts
    ("to": None/0/1), or None if the string is not a device-control string."""
    m = re.match(r"(?i)COM(\d+)\s*:(.*)\Z", text, re.S)
    if m:
        if int(m.group(1)) < 1:
            return None
        text = m.group(2).lstrip(" ")
    out: dict = {}
    if "=" in text:
        if text.startswith(" "):
            return None
        for word in text.split():
            name, sep, value = word.partition("=")
            name, low = name.lower(), value.lower()
            if not sep or not value:
                return None
            if name == "baud" and value.isdigit() and value.isascii() and int(value) < 1 << 32:
                out["baud"] = int(value)
            elif name == "parity" and low in PARITY:
                out["parity"] = PARITY[low]
            elif name == "data" and low in ("5", "6", "7", "8"):
                out["data"] = int(low)
            elif name == "stop" and low in STOP:
                out["stop"] = STOP[low]
            elif name == "xon" and low in ONOFF:
                out[("flag", F_OUTX, 1)] = out[("flag", F_INX, 1)] = ONOFF[low]
            elif name == "odsr" and low in ONOFF:
                out[("flag", F_DSR, 1)] = ONOFF[low]
            elif name == "octs" and low in ONOFF:
                out[("flag", F_CTS, 1)] = ONOFF[low]
            elif name == "idsr" and low in ONOFF:
                out[("flag", F_DSRSENS, 1)] = ONOFF[low]
            elif name == "dtr" and low in ("on", "off", "hs"):
                out[("flag", F_DTR, 2)] = {"off": 0, "on": 1, "hs": 2}[low]
            elif name == "rts" and low in ("on", "off", "hs", "tg"):
                out[("flag", F_RTS, 2)] = {"off": 0, "on": 1, "hs": 2, "tg": 3}[low]
            elif name == "to" and low in ONOFF:
                out["to"] = ONOFF[low]
            else:
                return None
        return out
    parts = [p.strip(" ") for p in text.split(",")]
    if not 1 <= len(parts) <= 5 or not parts[0].isdigit() or not parts[0].isascii() \
            or int(parts[0]) >= 1 << 32:
        return None
    baud = int(parts[0])
    out["baud"] = OLD_BAUD.get(baud, baud) if len(parts[0]) == 2 else baud
    if len(parts) > 1:
        if parts[1].lower() not in PARITY:
            return None
        out["parity"] = PARITY[parts[1].lower()]
    if len(parts) > 2:
        if parts[2] not in ("5", "6", "7", "8"):
            return None
        out["data"] = int(parts[2])
    if len(parts) > 3:
        if parts[3] not in STOP:
            return None
        out["stop"] = STOP[parts[3]]
    flow = parts[4].lower() if len(parts) > 4 else ""
    if flow not in ("", "x", "p"):
        return None
    hw = flow == "p"
    xon = flow == "x"
    out[("flag", F_CTS, 1)] = out[("flag", F_DSR, 1)] = int(hw)
    out[("flag", F_DTR, 2)] = out[("flag", F_RTS, 2)] = 2 if hw else 1
    out[("flag", F_OUTX, 1)] = out[("flag", F_INX, 1)] = int(xon)
    return out


def build_dcb(c, text: str | None, pdcb: int, ptimeouts: int) -> int:
    fields = parse(text) if text is not None else None
    if fields is None or not pdcb:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    raw = bytearray(c.read(pdcb, DCB_SIZE))
    flags = struct.unpack_from("<I", raw, 8)[0]
    if "data" in fields and "stop" not in fields:
        fields["stop"] = 0            # a byte size without a stop-bit count: one stop bit
    for key, value in fields.items():
        if key == "baud":
            struct.pack_into("<I", raw, 4, value)
        elif key == "data":
            raw[18] = value
        elif key == "parity":
            raw[19] = value
        elif key == "stop":
            raw[20] = value
        elif isinstance(key, tuple):
            flags = _set(flags, key[1], key[2], value)
    struct.pack_into("<I", raw, 8, flags)
    c.write(pdcb, bytes(raw))
    if ptimeouts and "to" in fields:
        c.write(ptimeouts, struct.pack("<5I", 0, 0, 0, 0, 60000 if fields["to"] else 0))
    return 1


@api(K32, "BOOL WINAPI BuildCommDCB%(LPCTSTR lpDef, LPDCB lpDCB)")
def BuildCommDCB(c, text, pdcb):
    return build_dcb(c, text, pdcb, 0)


@api(K32, "BOOL WINAPI BuildCommDCBAndTimeouts%(LPCTSTR lpDef, LPDCB lpDCB, LPCOMMTIMEOUTS lpCommTimeouts)")
def BuildCommDCBAndTimeouts(c, text, pdcb, ptimeouts):
    return build_dcb(c, text, pdcb, ptimeouts)


@api(K32, "BOOL WINAPI GetDefaultCommConfig%(LPCTSTR lpszName, LPCOMMCONFIG lpCC, LPDWORD lpdwSize)")
def GetDefaultCommConfig(c, name, pcc, psize):
    """The port's provider would fill the COMMCONFIG; the machine has no serial port, so opening the named
    device (\\\\.\\COMn) fails and so does this, with that error (ERROR_FILE_NOT_FOUND)."""
    from winhatch.win32.kernel32.ntfile import nt_close, nt_open
    if not name or not pcc or not psize:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    st, h, _info = nt_open(c, "\\??\\" + name, 0x80000000 | 0x100000, 0, 0x20, disposition=1)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    nt_close(c, h)
    from winhatch.win32.msvcrt.runtime import not_implemented
    not_implemented(c, f"GetDefaultCommConfig of an existing device {name!r} (no serial provider)")
    return 0


IOCTL_SERIAL_GET_BAUD_RATE = 0x1B0050


@api(K32, "BOOL WINAPI GetCommState(HANDLE hFile, LPDCB lpDCB)")
def GetCommState(c, h, pdcb):
    """The port's settings, read with the serial IOCTLs (IOCTL_SERIAL_GET_BAUD_RATE first): a handle that is not
    a serial port fails with the driver's answer (ERROR_INVALID_FUNCTION). There are no serial ports here."""
    ps = c.ptr_size
    iosb = c.stack_alloc(2 * ps, 8)
    out = c.stack_alloc(4, 8)
    st = c.nt("NtDeviceIoControlFile", h, 0, 0, 0, iosb, IOCTL_SERIAL_GET_BAUD_RATE, 0, 0, out, 4)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    from winhatch.win32.msvcrt.runtime import not_implemented
    not_implemented(c, "GetCommState of a serial port")
    return 0
