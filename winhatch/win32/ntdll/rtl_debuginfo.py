"""ntdll's process debug information for the calling process: RtlCreateQueryDebugBuffer,
RtlQueryProcessDebugInformation (PDI_HEAPS, PDI_HEAP_BLOCKS), RtlDestroyQueryDebugBuffer.

The buffer is an RTL_DEBUG_INFORMATION header (phnt/ntrtl.h layout) at the start of a committed region that
also receives the information: RTL_PROCESS_HEAPS (NumberOfHeaps, then one RTL_HEAP_INFORMATION per heap of
PEB.ProcessHeaps) and, with PDI_HEAP_BLOCKS, one RTL_HEAP_ENTRY per busy block. A process id that is not a
process is STATUS_INVALID_CID (Wine's rtl.c passes a thread id); another process's information, modules,
back traces, locks and heap tags are not implemented and stop the guest loudly.
"""
from __future__ import annotations

from winhatch.ldr import loader
from winhatch.win32.api import api

NT = "ntdll.dll"
STATUS_SUCCESS = 0
STATUS_INVALID_CID = 0xC000000B
STATUS_NO_MEMORY = 0xC0000017
STATUS_BUFFER_TOO_SMALL = 0xC0000023
PDI_MODULES, PDI_BACKTRACE, PDI_HEAPS, PDI_HEAP_TAGS, PDI_HEAP_BLOCKS, PDI_LOCKS = 1, 2, 4, 8, 0x10, 0x20
DEFAULT_SIZE = 0x100000
HEAP_ENTRY_BUSY = 0x1


def _off(p: int) -> dict:
    """RTL_DEBUG_INFORMATION offsets."""
    names = ["SectionHandleClient", "ViewBaseClient", "ViewBaseTarget", "ViewBaseDelta", "EventPairClient",
             "EventPairTarget", "TargetProcessId", "TargetThreadHandle"]
    d = {n: i * p for i, n in enumerate(names)}
    d["Flags"] = 8 * p
    o = 8 * p + p            # ULONG Flags, then SIZE_T fields (aligned)
    for n in ("OffsetFree", "CommitSize", "ViewSize", "Modules", "BackTraces", "Heaps", "Locks", "SpecificHeap",
              "TargetProcessHandle", "VerifierOptions", "ProcessHeap", "CriticalSectionHandle",
              "CriticalSectionOwnerThread"):
        d[n] = o
        o += p
    d["size"] = o + 4 * p
    return d


@api(NT, "PVOID NTAPI RtlCreateQueryDebugBuffer(ULONG MaximumCommit, BOOLEAN UseEventPair)")
def RtlCreateQueryDebugBuffer(c, commit, use_event_pair):
    from winhatch.kernel.mm.constants import MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE
    size = max(DEFAULT_SIZE, (commit + 0xFFFF) & ~0xFFFF) if commit < (1 << 30) else DEFAULT_SIZE
    try:
        base, size = c.proc.aspace.allocate(None, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE,
                                            tag=("debug buffer",))
    except Exception:   # noqa: BLE001 — the commit limit: no buffer, as Windows returns NULL
        return 0
    o = _off(c.ptr_size)
    c.write_ptr(base + o["ViewBaseClient"], base)
    c.write_ptr(base + o["ViewBaseTarget"], base)
    c.write_ptr(base + o["OffsetFree"], o["size"])
    c.write_ptr(base + o["CommitSize"], size)
    c.write_ptr(base + o["ViewSize"], size)
    return base


@api(NT, "NTSTATUS NTAPI RtlDestroyQueryDebugBuffer(PVOID Buffer)")
def RtlDestroyQueryDebugBuffer(c, buf):
    from winhatch.kernel.mm.constants import MEM_RELEASE
    c.proc.aspace.free(buf, 0, MEM_RELEASE)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlQueryProcessDebugInformation(ULONG UniqueProcessId, ULONG Flags, PVOID Buffer)")
def RtlQueryProcessDebugInformation(c, pid, flags, buf):
    obj = c.machine.cid.lookup(pid)
    if obj is None or getattr(obj, "type_name", "") != "Process":
        return STATUS_INVALID_CID
    if obj is not c.proc:
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, "RtlQueryProcessDebugInformation of another process")
    if flags & (PDI_MODULES | PDI_BACKTRACE | PDI_HEAP_TAGS | PDI_LOCKS):
        from winhatch.win32.msvcrt.runtime import not_implemented
        not_implemented(c, f"RtlQueryProcessDebugInformation flags {flags:#x} (only PDI_HEAPS, PDI_HEAP_BLOCKS)")
    p = c.ptr_size
    o = _off(p)
    view = c.ptr(buf + o["ViewSize"])
    free = c.ptr(buf + o["OffsetFree"])
    c.write_u32(buf + o["Flags"], flags)
    c.write_ptr(buf + o["TargetProcessId"], pid)
    if flags & (PDI_HEAPS | PDI_HEAP_BLOCKS):
        mgr = loader.state_of(c.proc).heaps
        heaps = list(mgr.heaps.values())
        busy = {h.handle: h.busy_blocks() for h in heaps}
        info_size, entry_size = (88, 32) if p == 8 else (64, 16)
        heaps_at = (buf + free + 7) & ~7
        need = heaps_at - buf + p + info_size * len(heaps)
        entries_at = buf + need
        if flags & PDI_HEAP_BLOCKS:
            need += entry_size * sum(len(b) for b in busy.values())
        if need > view:
            return STATUS_NO_MEMORY
        c.write_u32(heaps_at, len(heaps))
        for i, h in enumerate(heaps):
            at = heaps_at + p + i * info_size
            allocated = sum(s for _, s in busy[h.handle])
            committed = sum(size for _, size in h.segments)
            c.write_ptr(at, h.handle)
            c.write_u32(at + p, h.flags)
            c.write(at + p + 4, h.header.to_bytes(2, "little"))
            c.write_ptr(at + 2 * p, allocated)
            c.write_ptr(at + 3 * p, committed)
            n_entries = len(busy[h.handle]) if flags & PDI_HEAP_BLOCKS else 0
            c.write_u32(at + 4 * p + 4, n_entries)
            c.write_ptr(at + info_size - 2 * p, 0)
            c.write_ptr(at + info_size - p, entries_at if n_entries else 0)
            for addr, size in sorted(busy[h.handle]) if n_entries else ():
                c.write_ptr(entries_at, size)
                c.write(entries_at + p, HEAP_ENTRY_BUSY.to_bytes(2, "little"))
                c.write_ptr(entries_at + 2 * p, 0)
                entries_at += entry_size
        c.write_ptr(buf + o["Heaps"], heaps_at)
        c.write_ptr(buf + o["ProcessHeap"], mgr.process_heap.handle if mgr.process_heap else 0)
        c.write_ptr(buf + o["OffsetFree"], need)
    return STATUS_SUCCESS
