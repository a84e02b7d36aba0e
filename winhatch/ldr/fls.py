"""Fiber-local storage as ntdll keeps it since Windows 10 1903 (RtlFlsAlloc, RtlFlsFree, RtlFlsSetValue,
RtlFlsGetValue, RtlProcessFlsData), in guest memory — the layout Wine's conformance tests read on Windows:

- one process-wide block (from the process heap): FLS_INFO_CHUNK *CallbackChunks[8]; LIST_ENTRY ListHead of
  every FLS data block; ULONG HighIndex (the highest index ever handed out);
- callback chunk i (allocated on first use) holds 0x10 << i entries: ULONG_PTR Count, then per index
  { PVOID Unknown; PFLS_CALLBACK_FUNCTION Callback } — an allocated index has a non-NULL Callback (~0 when
  FlsAlloc got none; index 0 is reserved that way), a free one NULL;
- per thread, or per fiber, TEB.FlsData points at { LIST_ENTRY Entry; PVOID *DataChunks[8] } (allocated by the
  first RtlFlsSetValue, or when a thread starts in a process that uses FLS); data chunk i holds 1 + (0x10 << i) pointers, the value of the index's slot j at [j + 1].

Indices run from 1 to 0xFEF (4079). Set/Get take any index in range (allocated or not, as on Windows); Get
without an FLS data block is STATUS_INVALID_PARAMETER. RtlFlsFree clears the index in every data block on the
list, calling its callback for each non-NULL value. RtlProcessFlsData(data, flags): bit 0 takes the block off
the list (its own links are left as they were) and calls the callbacks of its non-NULL values; bit 1 frees it.
A thread's exit and DeleteFiber do both.
"""
from __future__ import annotations

from winhatch.kernel.structs import TEB
from winhatch.ldr import loader

CHUNKS = 8
MAX_INDEX = sum(0x10 << i for i in range(CHUNKS)) - 1      # 0xFEF
NO_CALLBACK = -1
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_NO_MEMORY = 0xC0000017


def chunk_of(index: int) -> tuple[int, int]:
    ci = 0
    while index >= 0x10 << ci:
        index -= 0x10 << ci
        ci += 1
    return ci, index


class Fls:
    """The FLS state of one process, read and written in its memory."""

    def __init__(self, proc) -> None:
        self.proc = proc
        self.ps = 8 if proc.arch == "x64" else 4
        self.mask = (1 << (8 * self.ps)) - 1
        self.heap = loader.state_of(proc).heaps.process_heap
        g = proc.subsystem.get("fls_global")
        if g is None:
            g = self.heap.alloc(11 * self.ps, 0x8)
            if not g:
                from winhatch.ntstatus import NtStatusError
                raise NtStatusError(STATUS_NO_MEMORY, "FLS")
            self.wptr(g + 8 * self.ps, g + 8 * self.ps)        # ListHead: empty
            self.wptr(g + 9 * self.ps, g + 8 * self.ps)
            proc.subsystem["fls_global"] = g
        self.g = g

    # memory
    def rptr(self, addr: int) -> int:
        return int.from_bytes(self.proc.cpu.mem_read(addr, self.ps), "little")

    def wptr(self, addr: int, v: int) -> None:
        self.proc.cpu.mem_write(addr, (v & self.mask).to_bytes(self.ps, "little"))

    def teb_data_at(self, thread) -> int:
        return thread.teb + TEB.offset(self.proc.arch, "FlsData")

    # the callback chunks
    def callback_chunk(self, ci: int, create: bool) -> int:
        at = self.g + ci * self.ps
        chunk = self.rptr(at)
        if not chunk and create:
            n = 0x10 << ci
            chunk = self.heap.alloc(self.ps + 2 * self.ps * n, 0x8)
            if not chunk:
                return 0
            self.wptr(chunk, n)
            if ci == 0:
                self.wptr(chunk + 2 * self.ps, NO_CALLBACK)    # index 0 is never handed out
            self.wptr(at, chunk)
        return chunk

    def callback_at(self, index: int) -> tuple[int, int]:
        """(address of the index's Callback field or 0, its value)."""
        ci, j = chunk_of(index)
        chunk = self.callback_chunk(ci, False)
        if not chunk:
            return 0, 0
        at = chunk + self.ps + 2 * self.ps * j + self.ps
        return at, self.rptr(at)

    def alloc(self, callback: int) -> int | None:
        ps = self.ps
        for ci in range(CHUNKS):
            chunk = self.callback_chunk(ci, True)
            if not chunk:
                return None
            n = 0x10 << ci
            raw = self.proc.cpu.mem_read(chunk + ps, 2 * ps * n)
            for j in range(n):
                off = 2 * ps * j + ps
                if not any(raw[off:off + ps]):
                    self.wptr(chunk + ps + off, callback or NO_CALLBACK)
                    index = sum(0x10 << k for k in range(ci)) + j
                    hi = self.g + 10 * ps
                    cur = int.from_bytes(self.proc.cpu.mem_read(hi, 4), "little")
                    if index > cur:
                        self.proc.cpu.mem_write(hi, index.to_bytes(4, "little"))
                    return index
        return None

    # the data blocks
    def blocks(self) -> list[int]:
        head = self.g + 8 * self.ps
        out, e = [], self.rptr(head)
        for _ in range(1 << 20):
            if e == head or not e:
                break
            out.append(e)
            e = self.rptr(e)
        return out

    def value_slot(self, data: int, index: int, create: bool) -> int:
        ci, j = chunk_of(index)
        at = data + (2 + ci) * self.ps
        chunk = self.rptr(at)
        if not chunk and create:
            chunk = self.heap.alloc(self.ps * ((0x10 << ci) + 1), 0x8)
            if not chunk:
                return 0
            self.wptr(at, chunk)
        return chunk + (j + 1) * self.ps if chunk else 0

    def new_block(self) -> int:
        data = self.heap.alloc(10 * self.ps, 0x8)
        if not data:
            return 0
        head = self.g + 8 * self.ps
        last = self.rptr(head + self.ps)
        self.wptr(data, head)
        self.wptr(data + self.ps, last)
        self.wptr(last, data)
        self.wptr(head + self.ps, data)
        return data

    def set_value(self, thread, index: int, value: int) -> int:
        if not 0 < index <= MAX_INDEX:
            return STATUS_INVALID_PARAMETER
        at = self.teb_data_at(thread)
        data = self.rptr(at)
        if not data:
            data = self.new_block()
            if not data:
                return STATUS_NO_MEMORY
            self.wptr(at, data)
        slot = self.value_slot(data, index, True)
        if not slot:
            return STATUS_NO_MEMORY
        self.wptr(slot, value)
        return 0

    def get_value(self, thread, index: int) -> tuple[int, int]:
        if not 0 < index <= MAX_INDEX:
            return STATUS_INVALID_PARAMETER, 0
        data = self.rptr(self.teb_data_at(thread))
        if not data:
            return STATUS_INVALID_PARAMETER, 0
        slot = self.value_slot(data, index, False)
        return 0, self.rptr(slot) if slot else 0

    def free(self, machine, thread, index: int) -> int:
        if not 0 < index <= MAX_INDEX:
            return STATUS_INVALID_PARAMETER
        at, cb = self.callback_at(index)
        if not cb:
            return STATUS_INVALID_PARAMETER
        for data in self.blocks():
            slot = self.value_slot(data, index, False)
            v = self.rptr(slot) if slot else 0
            if v:
                self.wptr(slot, 0)
                if cb != self.mask:
                    machine.dispatcher.call_guest(thread, cb, [v])
        self.wptr(at, 0)
        return 0

    def process(self, machine, thread, data: int, flags: int) -> None:
        if not data:
            return
        ps = self.ps
        if flags & 1:
            flink, blink = self.rptr(data), self.rptr(data + ps)
            if flink and blink:
                self.wptr(blink, flink)
                self.wptr(flink + ps, blink)
            for ci in range(CHUNKS):
                chunk = self.rptr(data + (2 + ci) * ps)
                cbs = self.callback_chunk(ci, False)
                if not chunk or not cbs:
                    continue
                n = 0x10 << ci
                vals = self.proc.cpu.mem_read(chunk + ps, n * ps)
                for j in range(n):
                    v = int.from_bytes(vals[j * ps:(j + 1) * ps], "little")
                    if not v:
                        continue
                    self.wptr(chunk + (j + 1) * ps, 0)       # the value is gone once its callback ran
                    cb = self.rptr(cbs + ps + 2 * ps * j + ps)
                    if cb and cb != self.mask:
                        machine.dispatcher.call_guest(thread, cb, [v])
        if flags & 2:
            for ci in range(CHUNKS):
                chunk = self.rptr(data + (2 + ci) * ps)
                if chunk:
                    self.heap.free_block(chunk)
            self.heap.free_block(data)


def state(proc) -> Fls:
    return Fls(proc)


def thread_start(thread) -> None:
    """Every thread starts with an empty FLS data block on the process's list, the first one as well (its
    loader initialisation, once the process heap exists): ntdll's FLS context is part of every process since
    Windows 10 1903, and programs read TEB.FlsData's list entry without checking it (Wine's
    kernel32/tests/loader.c child process on Windows); FlsGetValue in it answers NULL with ERROR_SUCCESS
    (kernel32/tests/thread.c). A new fiber starts without one."""
    proc = thread.process
    if "ldr" not in proc.subsystem or not thread.teb:
        return
    if loader.state_of(proc).heaps.process_heap is None:
        return
    fls = Fls(proc)
    at = fls.teb_data_at(thread)
    if not fls.rptr(at):
        data = fls.new_block()
        if data:
            fls.wptr(at, data)


def thread_exit(machine, thread) -> None:
    """RtlProcessFlsData(TEB.FlsData, 3) as a thread ends (LdrShutdownThread) or its process exits."""
    proc = thread.process
    if "fls_global" not in proc.subsystem or "ldr" not in proc.subsystem or not thread.teb:
        return
    fls = Fls(proc)
    at = fls.teb_data_at(thread)
    data = fls.rptr(at)
    if data:
        fls.wptr(at, 0)
        fls.process(machine, thread, data, 3)


def process_exit(machine, thread) -> None:
    """ExitProcess, before DLL_PROCESS_DETACH: RtlProcessFlsData(TEB.FlsData, 1) for the exiting thread — its
    block leaves the list and its values' callbacks run (the values become NULL), but the block stays, so
    FlsGetValue/FlsSetValue still work in the DLLs' detach routines (Wine's kernel32/tests/loader.c on
    Windows). The threads NtTerminateProcess ended keep their blocks on the list: FlsFree still runs their
    callbacks."""
    proc = thread.process
    if "fls_global" not in proc.subsystem or "ldr" not in proc.subsystem or not thread.teb:
        return
    fls = Fls(proc)
    data = fls.rptr(fls.teb_data_at(thread))
    if data:
        fls.process(machine, thread, data, 1)


def thread_exit_begin(machine, thread) -> None:
    """LdrShutdownThread before DLL_THREAD_DETACH: RtlProcessFlsData(TEB.FlsData, 1) — the block leaves the
    list and its values' callbacks run, the block stays for the detach routines (FlsGetValue answers NULL with
    ERROR_SUCCESS there: Wine's kernel32/tests/loader.c on Windows)."""
    process_exit(machine, thread)


def thread_exit_end(machine, thread) -> None:
    """LdrShutdownThread after DLL_THREAD_DETACH: RtlProcessFlsData(TEB.FlsData, 2) frees the block."""
    proc = thread.process
    if "fls_global" not in proc.subsystem or "ldr" not in proc.subsystem or not thread.teb:
        return
    fls = Fls(proc)
    at = fls.teb_data_at(thread)
    data = fls.rptr(at)
    if data:
        fls.wptr(at, 0)
        fls.process(machine, thread, data, 2)
