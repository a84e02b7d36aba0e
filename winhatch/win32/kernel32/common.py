"""Helpers shared by the kernel32/kernelbase handler modules (k32_*.py): no handlers live here.

- the Win32 "copy a string to a caller's buffer" conventions (the two families: length without the NUL
  when it fits / the size needed including the NUL when it does not),
- the process's current directory and the WoW64 file-system redirection of paths,
- setting the last error from an NtStatusError as kernelbase's BaseSetLastNTError does.
"""
from __future__ import annotations

from winhatch.kernel.io.file_services import fs_redirection_value
from winhatch.kernel.structs import PEB, RTL_USER_PROCESS_PARAMETERS
from winhatch.ldr import loader
from winhatch.ntstatus import NtStatusError, nt_to_win32

K32 = ("kernel32.dll", "kernelbase.dll")
ERROR_INSUFFICIENT_BUFFER = 122
INVALID_HANDLE_VALUE = -1


def invalid_handle(c) -> int:
    return (1 << (8 * c.ptr_size)) - 1


def signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def nt_error(c, e: NtStatusError) -> None:
    """BaseSetLastNTError."""
    c.set_last_error(nt_to_win32(e.status))


def params_address(c) -> int:
    return PEB.read(c.proc.aspace, c.proc.peb, c.arch, "ProcessParameters")["ProcessParameters"]


def heap_alloc(c, size: int, flags: int = 0) -> int:
    return loader.state_of(c.proc).heaps.process_heap.alloc(size, flags)


def heap_free(c, addr: int) -> bool:
    return loader.state_of(c.proc).heaps.process_heap.free_block(addr)


# ------------------------------------------------------------------------------------------ strings
def put_string_fits(c, buf: int, size: int, text: str, *, wide: bool | None = None) -> int:
    """The GetCurrentDirectory / GetTempPath / GetEnvironmentVariable convention: when `size` characters
    hold the text and its NUL, copy and return the length without the NUL; otherwise return the size
    needed including the NUL (nothing is copied)."""
    wide = c.wide if wide is None else wide
    data = text.encode("utf-16-le") if wide else c.encode_t(text) if not c.wide else text.encode("cp1252", "replace")
    unit = 2 if wide else 1
    n = len(data) // unit
    if buf and size > n:
        c.write(buf, data + bytes(unit))
        return n
    return n + 1


def put_string_truncate(c, buf: int, size: int, text: str) -> int:
    """The GetWindowsDirectory / GetSystemDirectory convention: same as put_string_fits (the size needed
    including the NUL when the buffer is too small)."""
    return put_string_fits(c, buf, size, text)


# ------------------------------------------------------------------------------------------ paths
def cwd(c) -> str:
    return c.proc.subsystem.get("cwd") or c.machine.default_cwd


def guest_path(c, path: str) -> str:
    """A path as the file system sees it for this process: WoW64 redirection for x86 processes."""
    if c.arch == "x86" and not fs_redirection_value(c.thread):
        return c.machine.vfs.wow64_redirect(path, "x86", cwd(c))
    return path


def set_current_directory(c, full: str) -> None:
    """Update the process's current directory: the Python view and RTL_USER_PROCESS_PARAMETERS.
    CurrentDirectory.DosPath in guest memory (kept with its trailing backslash, as ntdll stores it)."""
    proc = c.proc
    dos = full if full.endswith("\\") else full + "\\"
    data = dos.encode("utf-16-le")
    p = params_address(c)
    field = "CurrentDirectory.DosPath"
    us = RTL_USER_PROCESS_PARAMETERS.read(proc.aspace, p, c.arch, field)[field]
    cap = us["MaximumLength"]
    if len(data) + 2 > cap or not us["Buffer"]:
        raise NtStatusError(0xC0000106, "current directory too long")  # STATUS_NAME_TOO_LONG
    proc.aspace.write(us["Buffer"], data + b"\0\0")
    RTL_USER_PROCESS_PARAMETERS.write(proc.aspace, p, c.arch, **{field: {"Length": len(data),
                                                                        "MaximumLength": cap,
                                                                        "Buffer": us["Buffer"]}})
    proc.subsystem["cwd"] = full if len(full) <= 3 else full.rstrip("\\")
    from winhatch.kernel.io.file_services import set_current_directory_handle
    set_current_directory_handle(c.machine, proc, dos)


def write_filetime(c, addr: int, ft: int) -> None:
    if addr:
        c.write_u32(addr, ft & 0xFFFFFFFF)
        c.write_u32(addr + 4, (ft >> 32) & 0xFFFFFFFF)


def read_u64(c, addr: int) -> int:
    return c.u32(addr) | (c.u32(addr + 4) << 32)


def sa_inherit(c, sa: int) -> bool:
    """SECURITY_ATTRIBUTES.bInheritHandle."""
    return bool(sa and c.u32(sa + (16 if c.ptr_size == 8 else 8)))


def sa_descriptor(c, sa: int) -> int:
    """SECURITY_ATTRIBUTES.lpSecurityDescriptor (0 without one)."""
    return c.ptr(sa + c.ptr_size) if sa else 0


def lookup(c, h: int, type_name: str, access: int = 0):
    """The object behind a handle (pseudo-handles included), or None with the last error set."""
    try:
        return c.proc.handles.lookup(h, type_name, access, current_process=c.proc, current_thread=c.thread)
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return None
