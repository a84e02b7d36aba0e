"""kernel32 Tool Help: CreateToolhelp32Snapshot for processes and threads, Process32First/Next(W),
Thread32First/Next, and K32EnumProcesses, over NtQuerySystemInformation(SystemProcessInformation).

As on Windows the snapshot is a pagefile-backed section the process maps while it reads it: the snapshot's
records and its two cursors live in the section (guest memory), written once at creation. winhatch's layout
of that private section: a header { ULONG ProcessCount, ProcessIndex, ThreadCount, ThreadIndex }, then one
record per process { ULONG Pid, Threads, ParentPid, BasePriority; WCHAR ExeFile[260] }, then one per thread
{ ULONG Tid, OwnerPid, BasePriority }. Module snapshots (TH32CS_SNAPMODULE/32) are not modelled: asking for
one stops loudly; Module32First/Next on a snapshot without modules answer ERROR_NO_MORE_FILES as Windows does.
"""
from __future__ import annotations

import struct

from winhatch.kernel.structs import SYSTEM_PROCESS_INFORMATION, SYSTEM_THREAD_INFORMATION
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32

TH32CS_SNAPHEAPLIST, TH32CS_SNAPPROCESS, TH32CS_SNAPTHREAD, TH32CS_SNAPMODULE, TH32CS_SNAPMODULE32 = 1, 2, 4, 8, 16
TH32CS_INHERIT = 0x80000000
ERROR_NO_MORE_FILES = 18
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_INVALID_PARAMETER = 87
INVALID_HANDLE_VALUE = -1
SECTION_ALL_ACCESS = 0xF001F
PAGE_READWRITE, SEC_COMMIT = 0x04, 0x08000000
HEADER = 16
PROC_REC = 16 + 520
THREAD_REC = 12
SystemProcessInformation = 5


def process_records(c) -> list[tuple[dict, list[dict], str]]:
    """The machine's processes and threads from NtQuerySystemInformation(SystemProcessInformation), as
    (process fields, thread fields, image name)."""
    arch = c.arch
    ret = c.stack_alloc(4)
    c.nt("NtQuerySystemInformation", SystemProcessInformation, 0, 0, ret)
    size = c.u32(ret) + 0x1000          # room for a process or thread created meanwhile
    buf = c.stack_alloc(size, 8)
    st = c.nt("NtQuerySystemInformation", SystemProcessInformation, buf, size, ret)
    if st & 0x80000000:
        return []
    data = c.read(buf, c.u32(ret))
    psize = SYSTEM_PROCESS_INFORMATION.size(arch)
    tsize = SYSTEM_THREAD_INFORMATION.size(arch)
    out = []
    off = 0
    for _ in range(100_000):
        p = SYSTEM_PROCESS_INFORMATION.unpack(arch, data[off:off + psize])
        threads = [SYSTEM_THREAD_INFORMATION.unpack(arch, data[off + psize + i * tsize: off + psize + (i + 1) * tsize])
                   for i in range(p["NumberOfThreads"])]
        img = p["ImageName"]
        name = ""
        if img["Length"]:
            start = img["Buffer"] - buf
            name = data[start:start + img["Length"]].decode("utf-16-le", "replace")
        out.append((p, threads, name))
        if not p["NextEntryOffset"]:
            break
        off += p["NextEntryOffset"]
    return out


def _stop(c, why: str) -> None:
    """A part of the API winhatch does not implement: stop the process loudly (STATUS_NOT_IMPLEMENTED)."""
    from winhatch.kernel import events as ev
    from winhatch.kernel.ke.dispatcher import ProcessExit
    proc = c.proc
    where = proc.subsystem["images"].describe(c.ptr(c._sp)) if "images" in proc.subsystem else None
    dll = c.spec.dlls[0] if c.spec is not None else "kernel32.dll"
    proc.subsystem.setdefault("unimplemented", []).append({"api": f"{dll}!{c.name}", "caller": where})
    proc.stop_message = f"unimplemented: {dll}!{c.name} {why}" + (f" (called from {where})" if where else "")
    c.machine.events.emit(ev.API, "unimplemented", proc.pid, c.thread.tid, api=f"{dll}!{c.name}",
                          caller=where, reason=why)
    raise ProcessExit(0xC0000002)


def _snapshot_bytes(c, flags: int) -> bytes:
    recs = process_records(c)
    procs = b""
    threads = b""
    nproc = nthread = 0
    for p, ts, name in recs:
        pid = p["UniqueProcessId"]
        if flags & TH32CS_SNAPPROCESS:
            shown = name or "[System Process]"
            procs += struct.pack("<IIIi", pid, p["NumberOfThreads"], p["InheritedFromUniqueProcessId"],
                                 p["BasePriority"]) + shown.encode("utf-16-le")[:518].ljust(520, b"\0")
            nproc += 1
        if flags & TH32CS_SNAPTHREAD:
            for t in ts:
                threads += struct.pack("<IIi", t["ClientId"]["UniqueThread"], pid, t["BasePriority"])
                nthread += 1
    return struct.pack("<IIII", nproc, 0, nthread, 0) + procs + threads


@api(K32, "HANDLE WINAPI CreateToolhelp32Snapshot(DWORD dwFlags, DWORD th32ProcessID)")
def CreateToolhelp32Snapshot(c, flags, pid):
    if flags & (TH32CS_SNAPMODULE | TH32CS_SNAPMODULE32 | TH32CS_SNAPHEAPLIST):
        _stop(c, "of modules or heaps (TH32CS_SNAPMODULE/MODULE32/HEAPLIST)")
    data = _snapshot_bytes(c, flags)
    hsec = c.stack_alloc(c.ptr_size)
    size = c.stack_alloc(8)
    c.write(size, struct.pack("<Q", len(data)))
    st = c.nt("NtCreateSection", hsec, SECTION_ALL_ACCESS, 0, size, PAGE_READWRITE, SEC_COMMIT, 0)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return INVALID_HANDLE_VALUE
    h = c.ptr(hsec)
    view = _map(c, h)
    if view is None:
        c.nt("NtClose", h)
        return INVALID_HANDLE_VALUE
    c.write(view, data)
    _unmap(c, view)
    if flags & TH32CS_INHERIT:
        c.proc.handles.set_information(h, inherit=True)
    return h


def _map(c, h: int) -> int | None:
    pbase = c.stack_alloc(c.ptr_size)
    psize = c.stack_alloc(c.ptr_size)
    st = c.nt("NtMapViewOfSection", h, (1 << (8 * c.ptr_size)) - 1, pbase, 0, 0, 0, psize, 1, 0, PAGE_READWRITE)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return None
    return c.ptr(pbase)


def _unmap(c, base: int) -> None:
    c.nt("NtUnmapViewOfSection", (1 << (8 * c.ptr_size)) - 1, base)


def _entry_size(c, kind: str, wide: bool) -> int:
    if kind == "process":
        name = 520 if wide else 260
        return (44 + name + 7) & ~7 if c.ptr_size == 8 else 36 + name
    return 28


def _next(c, h: int, out: int, kind: str, first: bool, wide: bool) -> int:
    """Copy the snapshot's next (or first) process or thread record into the caller's PROCESSENTRY32(W) /
    THREADENTRY32; ERROR_NO_MORE_FILES past the last."""
    if not out or c.u32(out) < _entry_size(c, kind, wide):
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER if out else ERROR_INVALID_PARAMETER)
        return 0
    view = _map(c, h)
    if view is None:
        return 0
    try:
        nproc, ppos, nthread, tpos = struct.unpack("<IIII", c.read(view, HEADER))
        count, pos = (nproc, ppos) if kind == "process" else (nthread, tpos)
        if first:
            pos = 0
        if pos >= count:
            c.set_last_error(ERROR_NO_MORE_FILES)
            return 0
        if kind == "process":
            rec = c.read(view + HEADER + pos * PROC_REC, PROC_REC)
            pid, threads, parent, prio = struct.unpack_from("<IIIi", rec)
            name = rec[16:].decode("utf-16-le").split("\0", 1)[0]
            text = name.encode("utf-16-le") + b"\0\0" if wide else name.encode("cp1252", "replace") + b"\0"
            if c.ptr_size == 8:
                head = struct.pack("<IIIIQIIIiI", c.u32(out), 0, pid, 0, 0, 0, threads, parent, prio, 0)
            else:
                head = struct.pack("<IIIIIIIiI", c.u32(out), 0, pid, 0, 0, threads, parent, prio, 0)
            c.write(out, head + text)
            c.write(view + 4, struct.pack("<I", pos + 1))
        else:
            tid, owner, prio = struct.unpack("<IIi", c.read(view + HEADER + nproc * PROC_REC + pos * THREAD_REC,
                                                           THREAD_REC))
            c.write(out, struct.pack("<IIIIiiI", c.u32(out), 0, tid, owner, prio, 0, 0))
            c.write(view + 12, struct.pack("<I", pos + 1))
        return 1
    finally:
        _unmap(c, view)


@api(K32, "BOOL WINAPI Process32FirstW(HANDLE hSnapshot, LPPROCESSENTRY32W lppe)")
def Process32FirstW(c, h, out):
    return _next(c, h, out, "process", True, True)


@api(K32, "BOOL WINAPI Process32NextW(HANDLE hSnapshot, LPPROCESSENTRY32W lppe)")
def Process32NextW(c, h, out):
    return _next(c, h, out, "process", False, True)


@api(K32, "BOOL WINAPI Process32First(HANDLE hSnapshot, LPPROCESSENTRY32 lppe)")
def Process32First(c, h, out):
    return _next(c, h, out, "process", True, False)


@api(K32, "BOOL WINAPI Process32Next(HANDLE hSnapshot, LPPROCESSENTRY32 lppe)")
def Process32Next(c, h, out):
    return _next(c, h, out, "process", False, False)


@api(K32, "BOOL WINAPI Thread32First(HANDLE hSnapshot, LPTHREADENTRY32 lpte)")
def Thread32First(c, h, out):
    return _next(c, h, out, "thread", True, False)


@api(K32, "BOOL WINAPI Thread32Next(HANDLE hSnapshot, LPTHREADENTRY32 lpte)")
def Thread32Next(c, h, out):
    return _next(c, h, out, "thread", False, False)


def _no_modules(c, h, out):
    """A snapshot made without TH32CS_SNAPMODULE holds no module: ERROR_NO_MORE_FILES."""
    view = _map(c, h)
    if view is None:
        return 0
    _unmap(c, view)
    c.set_last_error(ERROR_NO_MORE_FILES)
    return 0


for _name in ("Module32First", "Module32Next", "Module32FirstW", "Module32NextW"):
    api(K32, f"BOOL WINAPI {_name}(HANDLE hSnapshot, LPMODULEENTRY32 lpme)")(_no_modules)


@api(K32, "BOOL WINAPI K32EnumProcesses(DWORD *lpidProcess, DWORD cb, LPDWORD lpcbNeeded)")
@api(("psapi.dll", "kernelbase.dll"), "BOOL WINAPI EnumProcesses(DWORD *lpidProcess, DWORD cb, LPDWORD lpcbNeeded)")
def K32EnumProcesses(c, ids, cb, pneeded):
    """The process ids of SystemProcessInformation (the Idle process's 0 included, as on Windows), as many as
    fit in cb bytes; *lpcbNeeded the bytes written."""
    pids = [p["UniqueProcessId"] for p, _, _ in process_records(c)]
    n = min(len(pids), cb // 4)
    if n:
        c.write(ids, struct.pack(f"<{n}I", *pids[:n]))
    c.write_u32(pneeded, 4 * n)
    return 1
