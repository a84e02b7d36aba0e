"""winmm.dll: the multimedia timer's time and resolution (timeGetTime, timeGetDevCaps, timeBeginPeriod, timeEndPeriod).

The resolution bounds are Wine's (1 ms to 65535 ms). Raising the timer resolution changes nothing here: the
emulated clock's waits and sleeps end exactly at their deadline whatever the resolution, so the requests are
only checked and counted (each timeEndPeriod must match a timeBeginPeriod of the same period).
"""
from __future__ import annotations

import struct

from winhatch.win32.api import api

DLL = "winmm.dll"
MMSYSERR_NOERROR = 0
TIMERR_NOCANDO = 97
PERIOD_MIN, PERIOD_MAX = 1, 65535


@api(DLL, "MMRESULT WINAPI timeGetDevCaps(LPTIMECAPS ptc, UINT cbtc)")
def timeGetDevCaps(c, ptc, cb):
    if not ptc or cb < 8:
        return TIMERR_NOCANDO
    c.write(ptc, struct.pack("<II", PERIOD_MIN, PERIOD_MAX))
    return MMSYSERR_NOERROR


def _periods(c) -> dict[int, int]:
    return c.proc.subsystem.setdefault("winmm_periods", {})


@api(DLL, "MMRESULT WINAPI timeBeginPeriod(UINT uPeriod)")
def timeBeginPeriod(c, period):
    if not PERIOD_MIN <= period <= PERIOD_MAX:
        return TIMERR_NOCANDO
    p = _periods(c)
    p[period] = p.get(period, 0) + 1
    return MMSYSERR_NOERROR


@api(DLL, "MMRESULT WINAPI timeEndPeriod(UINT uPeriod)")
def timeEndPeriod(c, period):
    p = _periods(c)
    if not PERIOD_MIN <= period <= PERIOD_MAX or not p.get(period):
        return TIMERR_NOCANDO
    p[period] -= 1
    return MMSYSERR_NOERROR


@api(DLL, "DWORD WINAPI timeGetTime(void)")
def timeGetTime(c):
    """Milliseconds since the system started: the same interrupt-time count GetTickCount reads."""
    from winhatch.win32.kernel32.time import GetTickCount
    return GetTickCount(c)
