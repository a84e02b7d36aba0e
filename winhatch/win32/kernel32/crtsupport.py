"""kernel32/ntdll functions that statically linked C runtimes (MSVC's libcmt in the pip/setuptools launchers)
call at start-up and that no other kernel32 module provides: pointer encoding, the debugger query, the
obsolete SetHandleCount, SetStdHandle."""
from __future__ import annotations

import hashlib

from winhatch.kernel.structs import PEB, RTL_USER_PROCESS_PARAMETERS
from winhatch.win32.api import api

K32 = ("kernel32.dll", "kernelbase.dll")


def _cookie(c) -> int:
    """The process's pointer-encoding cookie (NtQueryInformationProcess(ProcessCookie)): random per process
    on Windows, derived from the process here so runs are reproducible."""
    v = c.proc.subsystem.get("pointer_cookie")
    if v is None:
        h = hashlib.sha256(f"cookie:{c.proc.pid}:{c.proc.command_line}".encode()).digest()
        v = c.proc.subsystem["pointer_cookie"] = int.from_bytes(h[:4], "little") | 1
    return v


def _rotr(v: int, n: int, bits: int) -> int:
    n %= bits
    mask = (1 << bits) - 1
    return ((v >> n) | (v << (bits - n))) & mask


def encode_pointer(c, p: int) -> int:
    """RtlEncodePointer: (p XOR cookie) rotated right by (cookie & (bits-1))."""
    bits = 8 * c.ptr_size
    ck = _cookie(c)
    return _rotr(p ^ ck, ck & (bits - 1), bits)


def decode_pointer(c, p: int) -> int:
    bits = 8 * c.ptr_size
    ck = _cookie(c)
    return _rotr(p, bits - (ck & (bits - 1)), bits) ^ ck


@api(K32, "PVOID WINAPI EncodePointer(PVOID ptr)")
def EncodePointer(c, p):
    return encode_pointer(c, p)


@api(K32, "PVOID WINAPI DecodePointer(PVOID ptr)")
def DecodePointer(c, p):
    return decode_pointer(c, p)


@api(K32, "BOOL WINAPI IsDebuggerPresent(void)")
def IsDebuggerPresent(c):
    return PEB.read(c.proc.aspace, c.proc.peb, c.arch, "BeingDebugged")["BeingDebugged"] & 0xFF


@api("kernel32.dll", "UINT WINAPI SetHandleCount(UINT n)")
def SetHandleCount(c, n):
    return n      # obsolete since Win32: returns its argument


@api(K32, "BOOL WINAPI SetStdHandle(DWORD nStdHandle, HANDLE hHandle)")
def SetStdHandle(c, which, h):
    field = {0xFFFFFFF6: "StandardInput", 0xFFFFFFF5: "StandardOutput", 0xFFFFFFF4: "StandardError"}.get(which)
    if field is None:
        c.set_last_error(6)     # ERROR_INVALID_HANDLE
        return 0
    params = PEB.read(c.proc.aspace, c.proc.peb, c.arch, "ProcessParameters")["ProcessParameters"]
    RTL_USER_PROCESS_PARAMETERS.write(c.proc.aspace, params, c.arch, **{field: h})
    return 1
