"""kernel32 Tool Help: CreateToolhelp32Snapshot for processes and threads, Process32First/Next(W),
Thread32First/Next, and K32EnumProcesses, over NtQuerySystemInformation(SystemProcessInformation).

As on Windows the snapshot is a pagefile-backed section the process maps while it reads it: the snapshot's
records and its two cursors live in the section (guest memory), written once at creation. winhatch's layout
of that private section: a header { ULONG ProcessCount, ProcessIndex, ThreadCount, ThreadIndex }, then one
record per process { ULONG Pid, Threads, ParentPid, BasePriority; WCHAR ExeFile[260] }, then one per thread
{ ULONG Tid, OwnerPid, BasePriority }, then one per module { ULONG64 Base; ULONG Size, Pid; WCHAR Module[256];
WCHAR ExePath[260] } (the header has a count and a cursor for the modules too).

A module snapshot (TH32CS_SNAPMODULE, th32ProcessID 0 for the caller) reads the target process's loader list
as Windows's toolhelp does: ProcessBasicInformation's PEB, PEB.Ldr, InLoadOrderModuleList, each
LDR_DATA_TABLE_ENTRY's DllBase, SizeOfImage, BaseDllName and FullDllName, through NtReadVirtualMemory. The
module list of a process of the other architecture (TH32CS_SNAPMODULE32, an x86 process seen from x64) and heap
lists (TH32CS_SNAPHEAPLIST) are not modelled: asking for one stops loudly.
"""
from __future__ import annotations

import struct

from winhatch.kernel.structs import (LDR_DATA_TABLE_ENTRY, PEB, PEB_LDR_DATA, SYSTEM_PROCESS_INFORMATION,
                                     SYSTEM_THREAD_INFORMATION)
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
HEADER = 24
PROC_REC = 16 + 520
THREAD_REC = 12
MOD_REC = 16 + 512 + 520
PROCESS_QUERY_INFORMATION, PROCESS_VM_READ = 0x400, 0x10
MAX_MODULES = 4096
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


def _read_remote(c, h: int, addr: int, size: int) -> bytes | None:
    buf = c.stack_alloc(size, 8)
    st = c.nt("NtReadVirtualMemory", h, addr, buf, size, 0)
    return None if st & 0x80000000 else c.read(buf, size)


def ldr_modules(c, h: int) -> list[dict] | None:
    """The modules of the process behind handle `h` as its PEB's loader list has them, read with
    NtQueryInformationProcess(ProcessBasicInformation) and NtReadVirtualMemory as psapi and toolhelp do:
    dicts of base, size, entry, name (BaseDllName), path (FullDllName), in load order; None with the last
    error set when the process cannot be read. Bounded by MAX_MODULES."""
    ps = c.ptr_size
    arch = c.arch
    pbi = c.stack_alloc(6 * ps)
    st = c.nt("NtQueryInformationProcess", h, 0, pbi, 6 * ps, 0)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return None
    peb = c.ptr(pbi + ps)
    fmt = "<Q" if ps == 8 else "<I"

    def rptr(addr):
        data = _read_remote(c, h, addr, ps)
        return None if data is None else struct.unpack(fmt, data)[0]

    def rstr(us_addr):
        data = _read_remote(c, h, us_addr, 2 * ps)
        if data is None:
            return ""
        length = struct.unpack_from("<H", data)[0]
        buf = struct.unpack_from(fmt, data, ps)[0]
        raw = _read_remote(c, h, buf, length) if length and buf else b""
        return (raw or b"").decode("utf-16-le", "replace")

    ldr = rptr(peb + PEB.offset(arch, "Ldr"))
    if not ldr:
        return []
    head = ldr + PEB_LDR_DATA.offset(arch, "InLoadOrderModuleList")
    out = []
    e = rptr(head)
    for _ in range(MAX_MODULES):
        if not e or e == head:
            break
        base = rptr(e + LDR_DATA_TABLE_ENTRY.offset(arch, "DllBase")) or 0
        entry = rptr(e + LDR_DATA_TABLE_ENTRY.offset(arch, "EntryPoint")) or 0
        size_at = e + LDR_DATA_TABLE_ENTRY.offset(arch, "SizeOfImage")
        size = struct.unpack("<I", _read_remote(c, h, size_at, 4) or b"\0\0\0\0")[0]
        name = rstr(e + LDR_DATA_TABLE_ENTRY.offset(arch, "BaseDllName"))
        path = rstr(e + LDR_DATA_TABLE_ENTRY.offset(arch, "FullDllName"))
        out.append({"base": base, "size": size, "entry": entry, "name": name, "path": path})
        e = rptr(e)
    return out


def module_records(c, pid: int) -> list[tuple[int, int, str, str]] | None:
    """(base, size, base name, full path) of each module in the load-order list of process `pid` (0: the
    caller), or None with the last error set."""
    ps = c.ptr_size
    arch = c.arch
    cur = (1 << (8 * ps)) - 1
    h, opened = cur, False
    if pid and pid != c.proc.pid:
        hout = c.stack_alloc(ps)
        cid = c.stack_alloc(2 * ps)
        c.write_ptr(cid, pid)
        c.write_ptr(cid + ps, 0)
        oa = c.object_attributes(0, 0)
        st = c.nt("NtOpenProcess", hout, PROCESS_QUERY_INFORMATION | PROCESS_VM_READ, oa, cid)
        if st & 0x80000000:
            c.set_last_nt_error(st)
            return None
        h, opened = c.ptr(hout), True
    try:
        target = c.proc if not opened else c.proc.handles.lookup(h, "Process", 0)
        if target.arch != arch:
            _stop(c, f"of the modules of a process of the other architecture ({target.arch})")
        mods = ldr_modules(c, h)
        return None if mods is None else [(m["base"], m["size"], m["name"], m["path"]) for m in mods]
    finally:
        if opened:
            c.nt("NtClose", h)


def _snapshot_bytes(c, flags: int, pid: int) -> bytes | None:
    mods = b""
    nmod = 0
    if flags & TH32CS_SNAPMODULE:
        recs_m = module_records(c, pid)
        if recs_m is None:
            return None
        owner = pid or c.proc.pid
        for base, size, name, path in recs_m:
            mods += struct.pack("<QII", base, size, owner) + name.encode("utf-16-le")[:510].ljust(512, b"\0") + \
                path.encode("utf-16-le")[:518].ljust(520, b"\0")
            nmod += 1
    if not flags & (TH32CS_SNAPPROCESS | TH32CS_SNAPTHREAD):
        return struct.pack("<IIIIII", 0, 0, 0, 0, nmod, 0) + mods
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
    return struct.pack("<IIIIII", nproc, 0, nthread, 0, nmod, 0) + procs + threads + mods


@api(K32, "HANDLE WINAPI CreateToolhelp32Snapshot(DWORD dwFlags, DWORD th32ProcessID)")
def CreateToolhelp32Snapshot(c, flags, pid):
    if flags & TH32CS_SNAPHEAPLIST:
        _stop(c, "of heaps (TH32CS_SNAPHEAPLIST)")
    if flags & TH32CS_SNAPMODULE32 and c.ptr_size == 8:
        _stop(c, "of 32-bit modules (TH32CS_SNAPMODULE32)")
    if flags & TH32CS_SNAPMODULE32:     # an x86 caller: its modules are the 32-bit ones
        flags |= TH32CS_SNAPMODULE
    data = _snapshot_bytes(c, flags, pid)
    if data is None:
        return INVALID_HANDLE_VALUE
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
    if kind == "module":      # MODULEENTRY32(W)
        names = 2 * (256 + 260) if wide else 256 + 260
        head = 48 if c.ptr_size == 8 else 32
        return (head + names + c.ptr_size - 1) & ~(c.ptr_size - 1)
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
        nproc, ppos, nthread, tpos, nmod, mpos = struct.unpack("<IIIIII", c.read(view, HEADER))
        count, pos = {"process": (nproc, ppos), "thread": (nthread, tpos), "module": (nmod, mpos)}[kind]
        if first:
            pos = 0
        if pos >= count:
            c.set_last_error(ERROR_NO_MORE_FILES)
            return 0
        if kind == "module":
            rec = c.read(view + HEADER + nproc * PROC_REC + nthread * THREAD_REC + pos * MOD_REC, MOD_REC)
            base, size, owner = struct.unpack_from("<QII", rec)
            name = rec[16:528].decode("utf-16-le").split("\0", 1)[0]
            path = rec[528:].decode("utf-16-le").split("\0", 1)[0]
            if wide:
                texts = name.encode("utf-16-le").ljust(512, b"\0")[:512] + path.encode("utf-16-le").ljust(520, b"\0")[:520]
            else:
                texts = name.encode("cp1252", "replace").ljust(256, b"\0")[:256] + \
                    path.encode("cp1252", "replace").ljust(260, b"\0")[:260]
            if c.ptr_size == 8:
                head = struct.pack("<IIIIIIQIIQ", c.u32(out), 1, owner, 0xFFFF, 0xFFFF, 0, base, size, 0, base)
            else:
                head = struct.pack("<IIIIIIII", c.u32(out), 1, owner, 0xFFFF, 0xFFFF, base, size, base)
            c.write(out, head + texts)
            c.write(view + 20, struct.pack("<I", pos + 1))
        elif kind == "process":
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


@api(K32, "BOOL WINAPI Module32FirstW(HANDLE hSnapshot, LPMODULEENTRY32W lpme)")
def Module32FirstW(c, h, out):
    return _next(c, h, out, "module", True, True)


@api(K32, "BOOL WINAPI Module32NextW(HANDLE hSnapshot, LPMODULEENTRY32W lpme)")
def Module32NextW(c, h, out):
    return _next(c, h, out, "module", False, True)


@api(K32, "BOOL WINAPI Module32First(HANDLE hSnapshot, LPMODULEENTRY32 lpme)")
def Module32First(c, h, out):
    return _next(c, h, out, "module", True, False)


@api(K32, "BOOL WINAPI Module32Next(HANDLE hSnapshot, LPMODULEENTRY32 lpme)")
def Module32Next(c, h, out):
    return _next(c, h, out, "module", False, False)


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
