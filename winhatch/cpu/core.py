"""The Unicorn-backed CPU (see the package docstring for the design decisions and measurements)."""
from __future__ import annotations

import ctypes
import heapq
import itertools
import struct
import threading
import time
from typing import Any, Callable, Optional


from winhatch import ntstatus as nt
from winhatch._record import FrozenRecord
from winhatch.cpu import _native as N
from winhatch.cpu import ucconst as X
from winhatch.cpu.ucbind import Engine, UcError
from winhatch.cpu.context import Context, context_fields

PROT_NONE = X.UC_PROT_NONE
PROT_READ = X.UC_PROT_READ
PROT_WRITE = X.UC_PROT_WRITE
PROT_EXEC = X.UC_PROT_EXEC
PROT_ALL = X.UC_PROT_ALL

#: The trap instruction: ``int 0x2e``.  A bare TRAP_STUB is a trap without a frame (the handler learns
#: its address from the pc and works on the registers); API exports use :func:`api_stub`.
TRAP_STUB = b"\xcd\x2e"
TRAP_VECTOR = 0x2E

#: The API trap frame lives in the running thread's TEB, in SystemReserved1 (x64 TEB+0x110, 30 pointers;
#: x86 TEB+0xCC, 26 pointers: "reserved for the system", and this is the system's use of it).  The
#: export stub stores into it through GS/FS, so a trap costs the handler no register reads:
#:   x64  +0 stub VA, +8 rsp, +0x10 rcx, +0x18 rdx, +0x20 r8, +0x28 r9 (written by the stub),
#:        +0x30 rax on return (written by the handler, loaded by the stub)
#:   x86  +0 stub VA, +4 esp (written by the stub), +8 eax, +0xC edx, +0x10 bytes to pop including the
#:        return address (written by the handler: 4 for cdecl, 4 + argument bytes for stdcall)
TRAP_FRAME = {"x64": 0x110, "x86": 0xCC}
FRAME_RESULT = {"x64": 0x30, "x86": 0x8}


def api_stub(arch: str, entry_back: int = 0) -> tuple[bytes, int | None, int]:
    """The code at an API export of a synthetic DLL: ``(code, offset of the absolute stub VA to relocate
    (x86) or None, offset of the int 0x2e)``.  The stub VA is 0 in the returned x86 code: the image
    builder writes it and a base relocation.  ``entry_back``: the stub starts that many bytes after the
    export's entry (the frame then names the export, x64's lea reaches back to it).

    x64:  lea rax,[rip-7] ; mov gs:[F],rax ; mov gs:[F+8],rsp ; mov gs:[F+0x10..0x28],rcx/rdx/r8/r9 ;
          int 0x2e ; mov rax,gs:[F+0x30] ; ret
    x86:  mov dword fs:[F],<stub VA> ; mov fs:[F+4],esp ; int 0x2e ; mov eax,fs:[F+8] ;
          mov edx,fs:[F+0xC] ; mov ecx,[esp] ; add esp,fs:[F+0x10] ; jmp ecx
    rax (x64) and ecx (x86) are volatile in every calling convention the stubs serve; no API handler
    takes an argument in them (a frameless TRAP_STUB serves those that do: the loader's entry points).
    """
    f = TRAP_FRAME[arch]
    d = lambda o: struct.pack("<I", f + o)   # noqa: E731
    if arch == "x64":
        code = (b"\x48\x8d\x05" + struct.pack("<i", -7 - entry_back)   # lea rax, [rip-7-back]: the export
                + b"\x65\x48\x89\x04\x25" + d(0x00)            # mov gs:[F], rax
                + b"\x65\x48\x89\x24\x25" + d(0x08)            # mov gs:[F+8], rsp
                + b"\x65\x48\x89\x0c\x25" + d(0x10)            # mov gs:[F+0x10], rcx
                + b"\x65\x48\x89\x14\x25" + d(0x18)            # mov gs:[F+0x18], rdx
                + b"\x65\x4c\x89\x04\x25" + d(0x20)            # mov gs:[F+0x20], r8
                + b"\x65\x4c\x89\x0c\x25" + d(0x28))           # mov gs:[F+0x28], r9
        at = len(code)
        code += TRAP_STUB + b"\x65\x48\x8b\x04\x25" + d(0x30) + b"\xc3"   # int 0x2e ; mov rax, gs:[F+0x30] ; ret
        return code, None, at
    code = (b"\x64\xc7\x05" + d(0x00) + b"\0\0\0\0"          # mov dword fs:[F], <stub VA>
            + b"\x64\x89\x25" + d(0x04))                       # mov fs:[F+4], esp
    at = len(code)
    code += (TRAP_STUB
             + b"\x64\xa1" + d(0x08)                            # mov eax, fs:[F+8]
             + b"\x64\x8b\x15" + d(0x0C)                        # mov edx, fs:[F+0xC]
             + b"\x8b\x0c\x24"                                  # mov ecx, [esp]: the return address
             + b"\x64\x03\x25" + d(0x10)                        # add esp, fs:[F+0x10]
             + b"\xff\xe1")                                      # jmp ecx
    return code, 7, at

PAGE = 0x1000
# An address the guest can never reach: used as Unicorn's `until` when the caller passes none, so a jump
# to address 0 faults (execute AV) instead of silently ending emulation.
_NEVER = 0xFFFF_FFFF_FFFF_F000
_monotonic = time.monotonic
#: seconds a run's wall-clock deadline may fire late (_Watchdog.arm does not wake its thread for less)
WATCHDOG_SLACK = 0.002
#: seconds between two TLB flushes that let the engine's TLB grow (Cpu._tlb_tick)
TLB_RESIZE_PERIOD = 0.05

# Windows GDT layout (selectors) -------------------------------------------------------------------
X86_R0_CODE, X86_R0_DATA, X86_R3_CODE, X86_R3_DATA, X86_R3_TEB = 0x08, 0x10, 0x1B, 0x23, 0x3B
X64_R0_CODE, X64_R0_DATA, X64_R3_CMCODE, X64_R3_DATA, X64_R3_CODE, X64_R3_CMTEB = 0x10, 0x18, 0x23, 0x2B, 0x33, 0x53
_GDT_LIMIT = 0x7F
_BOOT_OFF = 0x800      # ring-0 → ring-3 bootstrap code inside the GDT page
_BOOT_STACK = 0xF00

# Mnemonics that raise #GP at CPL 3 because they are privileged (Windows reports STATUS_PRIVILEGED_INSTRUCTION).
_PRIVILEGED = frozenset("""hlt cli sti in out insb insw insd outsb outsw outsd lgdt lidt lldt ltr lmsw clts invd wbinvd
    invlpg invlpga rdmsr wrmsr swapgs sysret sysretq sysexit sysexitq monitor mwait rdpmc wrfsbase wrgsbase
    xsetbv vmcall vmlaunch vmresume vmxoff""".split())


class CpuError(nt.NtStatusError):
    """A host-side request (map, read, write ...) the engine refused."""

    def __init__(self, status: int, message: str = "", address: Optional[int] = None):
        super().__init__(status, message)
        self.address = address


class GuestFault(FrozenRecord):
    _fields = ("status", "pc", "access", "address", "kind", "description", "vector")

    def __init__(self, status: int, pc: int, access: Optional[str] = None, address: Optional[int] = None,
                 kind: str = "unknown", description: str = "", vector: Optional[int] = None) -> None:
        init = object.__setattr__
        init(self, "status", status)             # NTSTATUS
        init(self, "pc", pc)                     # address of the faulting instruction
        init(self, "access", access)             # "read" | "write" | "execute" | None
        init(self, "address", address)           # faulting data VA (memory faults)
        init(self, "kind", kind)   # unmapped | protected | divide | breakpoint | invalid-opcode | privileged | gp | ...
        init(self, "description", description)
        init(self, "vector", vector)             # x86 exception vector when it came from one

    def __str__(self) -> str:
        return f"{nt.status_name(self.status)} at {self.pc:#x}: {self.description}"


class StopReason(FrozenRecord):
    _fields = ("kind", "pc", "trap_va", "fault", "instructions")

    def __init__(self, kind: str, pc: int, trap_va: Optional[int] = None, fault: Optional[GuestFault] = None,
                 instructions: int = 0) -> None:
        init = object.__setattr__
        init(self, "kind", kind)                 # trap | fault | budget | timeout | stopped | until
        init(self, "pc", pc)
        init(self, "trap_va", trap_va)
        init(self, "fault", fault)
        init(self, "instructions", instructions)  # executed by this run, when it had an instruction budget (else 0)


# ---------------------------------------------------------------------------------------------------
class _Watchdog:
    """One daemon thread that ends runs whose wall-clock deadline passed.

    Unicorn's own `timeout` argument spawns a thread per uc_emu_start (~1 ms per call, measured), which
    would dominate short slices.  uc_emu_start is called through ctypes, which releases the GIL, so this
    thread gets to run while the guest executes.

    How a run is ended matters when the thread is resumed later (a time slice).  uc_emu_stop from another
    host thread is *not* safe for that in Unicorn 2.1: the exit request it raises is tested at the start of
    every translated block and again after every guest memory access inside a block, and the exit taken
    after an access rolls the guest pc back to the start of the instruction that made it.  An exit right
    after the store of a read-modify-write instruction (`add [m], 1`, `lock xadd`, `lock cmpxchg`, `xchg`,
    `lock bts`, ...) therefore keeps the store while the instruction counts as not executed: resuming runs it
    a second time (a counter incremented twice, a cmpxchg that took a lock failing on its own store, the old
    value of an xchg lost).  See tests/cpu/test_preempt.py for the measurement.  Such runs get a
    *preemption slot* instead (Cpu._preempt_slot: the callback of a block hook that normally calls a no-op);
    at the deadline this thread points it at uc_emu_stop, so the stop is requested by the emulating thread
    itself at the start of the next translated block, between two instructions, where the exit leaves a
    state that resumes exactly.  Runs without a slot (none could be installed, or a stop that ends the
    machine anyway) get the asynchronous uc_emu_stop, repeated until disarmed.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, list] = {}
        self._ids = itertools.count(1)
        self._thread: Optional[threading.Thread] = None
        #: when the thread wakes next by itself (the deadline it sleeps towards; inf: until notified)
        self._wake_at = float("inf")

    def arm(self, handle, deadline: float, slot: Optional[ctypes.c_void_p] = None) -> int:
        with self._cv:
            tok = next(self._ids)
            self._live[tok] = [handle, False, slot]
            # Wake the watchdog only when this deadline comes before the time it wakes by itself (more than
            # WATCHDOG_SLACK before: a deadline fires that much late at most): a run arms and disarms once per
            # API call, and waking the thread each time (a GIL hand-over) cost more than the call itself.
            # The thread keeps sleeping towards a deadline whose run was disarmed meanwhile (disarm does not
            # wake it), so the next run's deadline, as late or later (the machine's time limit, or now plus
            # a time slice), finds it asleep until then: it wakes, finds the new head, sleeps again.
            # (Waking it whenever the heap was empty cost 0.4 ms a run: 10 of kernel32/debugger's 70 s.)
            wake = deadline < self._wake_at - WATCHDOG_SLACK
            heapq.heappush(self._heap, (deadline, tok))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="winhatch-cpu-watchdog", daemon=True)
                self._thread.start()
            if wake:
                self._cv.notify()
            return tok

    def disarm(self, tok: int) -> bool:
        """Returns whether the deadline fired.  A fired preemption slot is reset to the no-op here, before
        the engine runs again."""
        with self._cv:
            entry = self._live.pop(tok, None)
            # drop disarmed entries from the head (runs disarm in arming order, so this keeps the heap at the
            # few live runs: arm no longer wakes the thread that would otherwise prune them)
            heap = self._heap
            while heap and heap[0][1] not in self._live:
                heapq.heappop(heap)
            if entry is None:
                return False
            if entry[2] is not None and entry[1]:
                entry[2].value = _preempt_calls()[0]
            return entry[1]

    def fired(self, tok: int) -> bool:
        with self._cv:
            entry = self._live.get(tok)
            return bool(entry and entry[1])

    def _loop(self) -> None:
        with self._cv:
            while True:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake_at = float("inf")
                    self._cv.wait()
                    continue
                deadline, tok = self._heap[0]
                now = time.monotonic()
                if deadline > now:
                    self._wake_at = deadline
                    self._cv.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
                entry = self._live.get(tok)
                if entry is None:
                    continue
                entry[1] = True
                if entry[2] is not None:
                    # The next block the guest enters stops the run (the slot stays armed across the
                    # uc_emu_start calls of one run, so this stop cannot be lost between them).
                    entry[2].value = _preempt_calls()[1]
                else:
                    # Repeat the stop until the run is disarmed: a stop that lands between two
                    # uc_emu_start calls of one run (Cpu.run restarts after traps) is a no-op.
                    N.lib.uc_emu_stop(entry[0])
                    heapq.heappush(self._heap, (now + 0.01, tok))


_preempt_fns: list = []


def _preempt_calls() -> tuple[int, int]:
    """(no-op, stop): the two native functions a preemption slot points at.  Both are called as a block
    hook, fn(uc, address, size, user_data): the C library's abs() reads its first argument and does nothing
    else; uc_emu_stop(uc) requests the stop (the extra arguments are ignored, as the C calling conventions
    allow)."""
    if not _preempt_fns:
        noop = ctypes.cast(ctypes.CDLL(None).abs, ctypes.c_void_p).value
        stop = ctypes.cast(N.lib.uc_emu_stop, ctypes.c_void_p).value
        _preempt_fns.extend((noop, stop))
    return _preempt_fns[0], _preempt_fns[1]


_watchdog = _Watchdog()


# ---------------------------------------------------------------------------------------------------
_REG_IDS: dict[str, int] = {k[len("UC_X86_REG_"):].lower(): v for k, v in vars(X).items()
                            if k.startswith("UC_X86_REG_") and isinstance(v, int)}
_WIDE = {n for n in _REG_IDS if n.startswith(("xmm", "ymm", "zmm", "fp", "st")) and n[2:].isdigit() or
         n.startswith(("xmm", "ymm", "zmm")) or n in ("gdtr", "idtr", "ldtr", "tr", "msr")}
_FPREG = {f"fp{i}" for i in range(8)}
_PC_IDS = frozenset((X.UC_X86_REG_RIP, X.UC_X86_REG_EIP, X.UC_X86_REG_IP))

_old_exception_offset: dict[int, Optional[int]] = {}


def _new_engine(mode: int) -> Engine:
    """A Unicorn x86 engine in the TLB mode every engine of ours uses (calibration probes included).

    UC_TLB_VIRTUAL: the guest runs without paging (CR0.PG = 0), so both of Unicorn's TLB modes map linear
    addresses 1:1; what differs is the cost.  In the default UC_TLB_CPU mode every guest *store* takes
    the softmmu slow path (measured with bench/cpu_bench.py: a byte-store loop inside one page runs at
    ~80M insn/s, ~650M in virtual mode; loads are fast in both), which made store-heavy code (the
    sieve bench) 3x slower.  Mapping permissions (mem_protect) and unmapped accesses are checked by
    Unicorn's load/store helpers in both modes and fault the same way (tests/cpu).  A TLB refill costs
    a little more in virtual mode (~1.3x on a loop that misses the TLB on every access).
    """
    uc = Engine(X.UC_ARCH_X86, mode)
    uc.ctl_set_tlb_mode(X.UC_TLB_VIRTUAL)
    uc._winhatch_tlb_fill = _add_tlb_fill_hook(uc)
    return uc


#: The TLB fill callback's machine code for an x86-64 System V host (Linux, macOS):
#: bool fill(uc_engine *uc, uint64_t page, uc_mem_type type, uc_tlb_entry *result, void *user_data)
#:     result->paddr = page; result->perms = type == UC_MEM_FETCH ? UC_PROT_ALL : UC_PROT_READ | UC_PROT_WRITE;
#:     return true;
_TLB_FILL_SYSV64 = bytes.fromhex("48 89 31"              # mov [rcx], rsi
                                 "b8 03 00 00 00"        # mov eax, UC_PROT_READ | UC_PROT_WRITE
                                 "41 b8 07 00 00 00"     # mov r8d, UC_PROT_ALL
                                 "83 fa 12"              # cmp edx, UC_MEM_FETCH (18)
                                 "41 0f 44 c0"           # cmove eax, r8d
                                 "89 41 08"              # mov [rcx+8], eax
                                 "b8 01 00 00 00"        # mov eax, 1
                                 "c3")                   # ret
_tlb_fill_fn: list = []


def _tlb_fill_callback() -> Optional[int]:
    """The address of the native TLB fill callback (machine code in an executable host page), or None where
    that cannot be had (another host ABI, a host that refuses writable+executable memory)."""
    if not _tlb_fill_fn:
        fn = None
        try:
            import mmap
            import os
            # os.uname().machine is what platform.machine() reports on POSIX (importing platform: ~1.5 ms)
            if os.name == "posix" and os.uname().machine.lower() in ("x86_64", "amd64"):
                page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
                page.write(_TLB_FILL_SYSV64)
                fn = (page, ctypes.addressof(ctypes.c_char.from_buffer(page)))
        except (OSError, ValueError, AttributeError, TypeError):  # pragma: no cover - a hardened host
            fn = None
        _tlb_fill_fn.append(fn)
    fn = _tlb_fill_fn[0]
    return None if fn is None else fn[1]


def _py_tlb_fill(_uc, page, mem_type, entry, _ud) -> bool:
    """The fill callback in Python (the binding hands it the uc_tlb_entry structure itself)."""
    entry.paddr = page
    entry.perms = (X.UC_PROT_ALL if mem_type == X.UC_MEM_FETCH
                   else X.UC_PROT_READ | X.UC_PROT_WRITE)
    return True


def _add_tlb_fill_hook(uc) -> tuple[bool, int]:
    """Fill a data page's TLB entry for loads and stores at once, a code page's for every access.

    Without a UC_HOOK_TLB_FILL hook Unicorn's virtual TLB mode fills an entry for the one kind of access that
    missed (a load gets a read-only entry, a store a write-only one), so a page that is both read and written
    — every stack page — refills on every switch between loads and stores, and each refill restores the guest
    state from the running block (cpu_restore_state: a lookup in the tree of every translated block and a walk
    of the block's instructions).  Measured with perf on SWIG: 750,000 refills per CPU second, half the host time.

    What the entry holds decides the store path (Unicorn 2.1.4 softmmu, accel/tcg/cputlb.c): every writable
    entry starts with TLB_NOTDIRTY (Unicorn's cpu_physical_memory_is_clean is always true), so the first store
    takes the slow path, where notdirty_write drops translated blocks under it and clears the mark — but only
    if the entry has no code permission (`addr_code == -1`).  So an entry granting every access (the hook tried
    before, 350d5a2) kept every store slow (the sieve fell from 29 to 4.9 M instructions/s).  Here a load or
    store miss gets read+write (stores stay fast after the first), and an instruction-fetch miss gets
    read+write+execute: a page the guest runs code from keeps its stores on the slow path while its entry
    lives, so a store beside translated code no longer hides a later store over it (tests/cpu/test_engine_smc.py).
    The mapping's own permissions (mem_protect: PAGE_READONLY, PAGE_NOACCESS, no execute) are still enforced:
    a new writable entry's first store takes the slow path, which checks them, as do Unicorn's load and fetch
    helpers on a miss (tests/cpu/test_engine_tlb.py).  Native code where the host allows it; else a Python
    callback (called once per TLB miss)."""
    addr = _tlb_fill_callback()
    if addr is not None:
        hh = ctypes.c_size_t()
        if N.lib.uc_hook_add(uc._uch, ctypes.byref(hh), X.UC_HOOK_TLB_FILL, ctypes.c_void_p(addr), None,
                             1, 0) == 0:
            return True, hh.value
    return False, uc.hook_add(X.UC_HOOK_TLB_FILL, _py_tlb_fill)


def drop_tlb_fill_hook(uc) -> bool:
    """Back to Unicorn's own fill (an entry for the one kind of access that missed) once a process makes memory
    of its own executable (a JIT, unpacked or self-modifying code): an entry the hook filled for a load or store
    grants write without the code mark, so a later store over code translated on that page would go unseen
    (Wine's ntdll/exception rewrites its test code in one buffer; V8's code space). The TLB is flushed so no entry
    the hook filled survives. Returns whether a hook was dropped."""
    h = getattr(uc, "_winhatch_tlb_fill", None)
    if h is None:
        return False
    native, handle = h
    uc._winhatch_tlb_fill = None
    if native:
        N.lib.uc_hook_del(uc._uch, ctypes.c_size_t(handle))
    else:
        uc.hook_del(handle)
    uc.ctl(X.UC_CTL_TLB_FLUSH, X.UC_CTL_IO_WRITE)
    return True


def _calibrate_old_exception(mode: int) -> Optional[int]:
    """Find where CPUX86State.old_exception lives inside a uc_context blob.

    Unicorn hands every CPU exception to UC_HOOK_INTR *instead of* delivering it through the IDT, so
    QEMU never resets ``old_exception`` (it does so only after a successful delivery).  A second
    contributory fault (#DE, #TS, #NP, #SS, #GP) in the same engine then escalates to #DF and a third
    to a silent triple-fault stop.  We locate the field by diffing two saved contexts around a #DE and
    reset it to -1 after each contributory fault.
    """
    if mode in _old_exception_offset:
        return _old_exception_offset[mode]
    off = None
    try:
        uc = _new_engine(mode)
        uc.mem_map(0x10000, PAGE)
        uc.mem_write(0x10000, b"\x31\xc9\xf7\xf1\xf4")   # xor ecx,ecx ; div ecx
        uc.hook_add(X.UC_HOOK_INTR, lambda u, i, d: u.emu_stop())
        size = N.lib.uc_context_size(uc._uch)

        def blob() -> bytes:
            c = uc.context_save()
            return ctypes.string_at(ctypes.cast(c.context, ctypes.c_void_p).value, size)

        b0 = blob()
        uc.emu_start(0x10000, 0x10004)
        b1 = blob()
        cands = [o for o in range(0, size - 3, 4)
                 if b0[o:o + 4] == b"\xff\xff\xff\xff" and b1[o:o + 4] == b"\x00\x00\x00\x00"]
        if len(cands) == 1:
            off = cands[0]
    except Exception:  # pragma: no cover - calibration failure just disables the fix
        off = None
    _old_exception_offset[mode] = off
    return off


_PC_SYNC_PROBE = b"\xcd\x2e\x48\xff\xc1\x48\xff\xc3\x41\xc6\x03\x00\x48\xff\xc3\x90"
# int 0x2e ; inc rcx (skipped by the hook's pc write) ; inc rbx ; mov byte [r11], 0 (faults) ; inc rbx ; nop
_PC_SYNC_FAULT_AT = 8
_pc_sync_fix: Optional[tuple[str, Optional[int]]] = None


def _read_self(addr: int, size: int) -> bytes:
    """Bytes of this process's memory, page by page, up to the first unreadable page (/proc/self/mem
    reports EIO there instead of faulting)."""
    out = bytearray()
    with open("/proc/self/mem", "rb", buffering=0) as f:
        while len(out) < size:
            n = min(size - len(out), PAGE - (addr + len(out)) % PAGE)
            try:
                f.seek(addr + len(out))
                chunk = f.read(n)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return bytes(out)


def _pc_sync_probe(clear_off: Optional[int], snaps: Optional[list] = None) -> tuple[int, int, int]:
    """Run _PC_SYNC_PROBE on a scratch engine whose INTR hook moves the pc (as a trap handler returning
    to its caller does), optionally clearing the byte at `clear_off` of the engine's uc_struct right
    after; returns (pc reported for the write fault, rbx, rcx)."""
    uc = _new_engine(X.UC_MODE_64)
    uc.mem_map(0x10000, PAGE, PROT_ALL)
    uc.mem_map(0x20000, PAGE, PROT_NONE)
    uc.mem_write(0x10000, _PC_SYNC_PROBE)
    uc.reg_write(X.UC_X86_REG_R11, 0x20000)
    base = ctypes.cast(uc._uch, ctypes.c_void_p).value

    def on_intr(u, intno, _ud):
        if snaps is not None:
            snaps.append(_read_self(base, 0x10000))
        u.reg_write(X.UC_X86_REG_RIP, u.reg_read(X.UC_X86_REG_RIP) + 3)
        if snaps is not None:
            snaps.append(_read_self(base, 0x10000))
        if clear_off is not None:
            ctypes.c_uint8.from_address(base + clear_off).value = 0

    uc.hook_add(X.UC_HOOK_MEM_INVALID, lambda *a: False)
    uc.hook_add(X.UC_HOOK_INTR, on_intr)
    try:
        uc.emu_start(0x10000, 0x10000 + len(_PC_SYNC_PROBE))
    except UcError:
        pass
    return (uc.reg_read(X.UC_X86_REG_RIP) - 0x10000, uc.reg_read(X.UC_X86_REG_RBX),
            uc.reg_read(X.UC_X86_REG_RCX))


def _calibrate_pc_sync() -> tuple[str, Optional[int]]:
    """How to keep memory faults precise after a trap handler wrote the pc from inside a hook.

    Unicorn 2.1's uc_reg_write of the pc during emulation sets ``uc->skip_sync_pc_on_exit`` (so the
    exit it requests keeps the new pc) and nothing clears it until the next exit or uc_emu_start.
    While it is set, a memory fault leaves the CPU loop without restoring the guest state from the
    faulting host pc: the pc reads as the start of the translated block (or its last sync) while the
    registers already hold the updates of the block's earlier instructions, so resuming there
    re-executes them (measured: a guard-page fault inside cli-64.exe's __chkstk loop moved r11 down a
    second page per probe; `inc rbx ; call f` faulting on the push ran the inc twice).  Unicorn
    upstream fixed the reset later (PR #2181).

    Returns ("precise", None) when this Unicorn keeps such faults precise by itself; ("clear", off)
    when clearing the byte at `off` of the uc_struct right after the pc write makes them precise (found
    by diffing the struct around a pc write in a hook and checked by running the probe: the pc write
    still takes effect and the fault reports the store); ("restart", None) otherwise: Cpu.run then
    ends the emulation after each such pc write and starts a fresh uc_emu_start (which clears the
    flag) at the new pc — correct, but it costs a uc_emu_start per API call.
    """
    global _pc_sync_fix
    if _pc_sync_fix is not None:
        return _pc_sync_fix
    good = (_PC_SYNC_FAULT_AT, 1, 0)
    fix: tuple[str, Optional[int]] = ("restart", None)
    try:
        if _pc_sync_probe(None) == good:
            fix = ("precise", None)
        else:
            snaps: list = []
            _pc_sync_probe(None, snaps)
            before, after = snaps
            n = min(len(before), len(after))
            cands = [o for o in range(n) if before[o] == 0 and after[o] == 1]
            if len(cands) <= 8:
                for off in cands:
                    if _pc_sync_probe(off) == good:
                        fix = ("clear", off)
                        break
    except Exception:  # pragma: no cover - no /proc/self/mem, an unexpected engine: use the safe way
        fix = ("restart", None)
    _pc_sync_fix = fix
    return fix


_INVALID_PROBES = ((0x5A5A5123, b"\x8a\x03"),          # mov al,[rbx]      read of a no-access page
                   (0x5A5A5ABC, b"\xc6\x03\x01"),      # mov byte [rbx],1  write to a no-access page
                   (0x6B6B6B10, b"\xc6\x03\x01"),      # write to a read-only page
                   (0x6B6B6FFC, b"\x48\x89\x03"),      # qword write straddling read-only → unmapped
                   (0x6B6B7FFC, b"\x48\x8b\x03"),      # read of unmapped memory
                   (0x7C7C7000, b"\xff\xe3"),           # jmp rbx: fetch from unmapped memory
                   (0x6B6B6000, b"\xff\xe3"))           # fetch from a non-executable page
_invalid_addr_offset: list = []


def _calibrate_invalid_addr() -> Optional[int]:
    """Where the engine keeps the address of the last invalid memory access (uc_struct.invalid_addr).

    A UC_HOOK_MEM_INVALID hook is the official way to learn a fault's address, but its mere presence
    sends every guest store through the softmmu slow path (measured: a byte-store loop drops from
    ~650M to ~75M insn/s, the sieve bench runs 2.5x slower).  Instead we read the field the hook's
    argument comes from: found once by faulting a scratch engine (with the hook) at a set of distinct
    addresses and access kinds and keeping the offset of the uc_struct that held the hook's address
    every time.  None (no /proc/self/mem, no unique offset): Cpu installs the hook as before.
    """
    if _invalid_addr_offset:
        return _invalid_addr_offset[0]
    off = None
    try:
        uc = _new_engine(X.UC_MODE_64)
        uc.mem_map(0x10000, PAGE, PROT_ALL)
        uc.mem_map(0x5A5A5000, PAGE, PROT_NONE)
        uc.mem_map(0x6B6B6000, PAGE, PROT_READ)
        seen: list = []
        uc.hook_add(X.UC_HOOK_MEM_INVALID, lambda u, acc, addr, size, val, ud: seen.append(addr) or False)
        base = ctypes.cast(uc._uch, ctypes.c_void_p).value
        cands: Optional[set] = None
        for addr, code in _INVALID_PROBES:
            seen.clear()
            uc.mem_write(0x10000, code + b"\x90" * 4)
            uc.reg_write(X.UC_X86_REG_RBX, addr)
            try:
                uc.emu_start(0x10000, 0x10000 + len(code))
            except UcError:
                pass
            if not seen:
                cands = set()
                break
            blob = _read_self(base, 0x4000)
            want = struct.pack("<Q", seen[-1])
            found = {o for o in range(0, len(blob) - 7, 8) if blob[o:o + 8] == want}
            cands = found if cands is None else cands & found
        if cands is not None and len(cands) == 1:
            off = cands.pop()
    except Exception:  # pragma: no cover - fall back to the hook
        off = None
    _invalid_addr_offset.append(off)
    return off


_emu_counter_offset: list = []


def _calibrate_emu_counter() -> Optional[int]:
    """Where the engine counts the instructions of a run that has a budget (uc_struct.emu_counter).

    uc_emu_start(count=N) stops after N instructions, but a run that ends earlier (a trap that defers, a
    fault, an emu_stop) does not say how many it executed.  The counter it keeps is found once by running
    a scratch engine for 5 and 9 instructions (stopped at `until`) and for 7 and an `int` (8, stopped from
    the interrupt hook) and keeping the one offset of the uc_struct that held those numbers.  None: runs report no
    count (the dispatcher then counts only budgets used up, as before)."""
    if _emu_counter_offset:
        return _emu_counter_offset[0]
    off = None
    try:
        blobs = []
        for n, intr in ((5, False), (9, False), (7, True)):
            uc = _new_engine(X.UC_MODE_64)
            uc.mem_map(0x10000, PAGE, PROT_ALL)
            uc.mem_write(0x10000, b"\x90" * n + (TRAP_STUB if intr else b"") + b"\x90" * 8)
            if intr:
                uc.hook_add(X.UC_HOOK_INTR, lambda u, i, d: u.emu_stop())
            uc.emu_start(0x10000, 0x10000 + n + (8 if intr else 0), 0, 1000)
            blobs.append(_read_self(ctypes.cast(uc._uch, ctypes.c_void_p).value, 0x4000))
        n = min(len(b) for b in blobs)
        cands = [o for o in range(0, n - 7, 8)
                 if tuple(struct.unpack_from("<Q", b, o)[0] for b in blobs) == (5, 9, 8)]
        if len(cands) == 1:
            off = cands[0]
    except Exception:  # pragma: no cover - no count then
        off = None
    _emu_counter_offset.append(off)
    return off


def calibrations() -> tuple[tuple[str, Optional[int]], Optional[int], Optional[int]]:
    """The results of the engine calibrations (_calibrate_pc_sync, _calibrate_invalid_addr,
    _calibrate_emu_counter), computed once per process.  They are facts about the Unicorn library binary
    and these probes, so a caller may keep them across processes (winhatch.win32.startup_cache) and hand
    them back with seed_calibrations."""
    return _calibrate_pc_sync(), _calibrate_invalid_addr(), _calibrate_emu_counter()


def calibrated() -> bool:
    return _pc_sync_fix is not None and bool(_invalid_addr_offset) and bool(_emu_counter_offset)


def seed_calibrations(pc_sync: tuple[str, Optional[int]], invalid_addr: Optional[int],
                      emu_counter: Optional[int]) -> None:
    """Use results kept from an earlier process instead of probing (only where not calibrated yet)."""
    global _pc_sync_fix
    if _pc_sync_fix is None:
        _pc_sync_fix = (pc_sync[0], pc_sync[1])
    if not _invalid_addr_offset:
        _invalid_addr_offset.append(invalid_addr)
    if not _emu_counter_offset:
        _emu_counter_offset.append(emu_counter)


# ------------------------------------------------------------------------------------------------- CPUID
#: the leaves whose engine answers are measured once per mode (subleaves 0-7 of each basic leaf)
_CPUID_SUBLEAVES = 8
_engine_cpuid: dict[int, dict[tuple[int, int], tuple[int, int, int, int]]] = {}
#: where the engine's answers may be kept across processes (set by the layer that owns a cache:
#: winhatch.win32.startup_cache): fn(mode, compute) -> the table, compute() when it has none
engine_cpuid_store: Optional[Callable] = None


def _engine_cpuid_table(mode: int) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    """What the engine's own CPUID answers, leaf by leaf: the basic leaves up to its maximum (subleaves 0-7)
    and the extended ones up to its maximum (subleaf 0). The features are those the engine implements, so a
    program that trusts them runs; CpuidModel changes only what names the machine.  Asking costs ~20 ms (a
    few hundred one-instruction runs): once per process, kept across processes by engine_cpuid_store."""
    t = _engine_cpuid.get(mode)
    if t is not None:
        return t
    t = engine_cpuid_store(mode, lambda: _ask_engine_cpuid(mode)) if engine_cpuid_store is not None \
        else _ask_engine_cpuid(mode)
    _engine_cpuid[mode] = t
    return t


def _ask_engine_cpuid(mode: int) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    uc = _new_engine(mode)
    uc.mem_map(0x10000, PAGE)
    uc.mem_write(0x10000, b"\x0f\xa2")
    regs = (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX)

    def ask(leaf: int, sub: int) -> tuple[int, int, int, int]:
        uc.reg_write(X.UC_X86_REG_EAX, leaf)
        uc.reg_write(X.UC_X86_REG_ECX, sub)
        uc.emu_start(0x10000, 0x10002)
        return tuple(uc.reg_read(r) & 0xFFFFFFFF for r in regs)
    t = {}
    top = min(ask(0, 0)[0], 0x20)
    for leaf in range(top + 1):
        for sub in range(_CPUID_SUBLEAVES):
            t[leaf, sub] = ask(leaf, sub)
    ext = min(ask(0x80000000, 0)[0], 0x80000020)
    for leaf in range(0x80000000, ext + 1):
        t[leaf, 0] = ask(leaf, 0)
    return t


class CpuidModel:
    """The CPUID a guest sees: the engine's feature leaves, with the identity of the machine's processor —
    its signature (family/model/stepping), its logical-processor count, its brand string — and no
    hypervisor: leaf 1 ECX bit 31 clear and nothing at 0x40000000 (a leaf above the maximum answers as the
    highest basic leaf does, Intel's documented rule, so no hypervisor vendor string appears).  The table is
    made when the guest first executes CPUID (most programs never do)."""

    def __init__(self, mode: int, *, brand: str, processors: int, signature: int = 0x000906EA):
        self.mode = mode
        self.brand = brand
        self.processors = processors
        self.signature = signature
        self.table: Optional[dict] = None

    def _build(self) -> None:
        mode, brand, processors, signature = self.mode, self.brand, self.processors, self.signature
        engine = _engine_cpuid_table(mode)
        self.table = dict(engine)
        self.max_basic = engine[0, 0][0]
        self.max_ext = engine[0x80000000, 0][0]
        for sub in range(_CPUID_SUBLEAVES):
            a, b, c, d = engine[1, sub]
            logical = max(1, min(processors, 255))
            b = (b & 0x0000FF00) | (logical << 16)          # APIC id 0, CLFLUSH size, logical processors
            c &= ~(1 << 31)                                # not running under a hypervisor
            d |= 1 << 28 if logical > 1 else 0             # HTT: more than one logical processor
            self.table[1, sub] = (signature, b, c, d)
        raw = brand.encode("ascii", "replace")[:47].ljust(48, b"\0")
        if self.max_ext >= 0x80000004:
            for i in range(3):
                self.table[0x80000002 + i, 0] = struct.unpack_from("<4I", raw, 16 * i)

    def answer(self, leaf: int, sub: int) -> tuple[int, int, int, int]:
        if self.table is None:
            self._build()
        if leaf >= 0x80000000:
            if leaf > self.max_ext:
                leaf, sub = self.max_basic, 0 if sub >= _CPUID_SUBLEAVES else sub
            else:
                sub = 0
        elif leaf > self.max_basic:
            leaf = self.max_basic
        r = self.table.get((leaf, sub if sub < _CPUID_SUBLEAVES else 0))
        if r is None:
            r = self.table.get((leaf, 0), (0, 0, 0, 0))
        return r


class Cpu:
    """One emulated x86/x64 CPU (one per process; threads are switched with save/restore_context)."""

    DEFER = object()

    def __init__(self, arch: str):
        if arch not in ("x86", "x64"):
            raise ValueError(f"unsupported arch {arch!r}")
        self.arch = arch
        self.is64 = arch == "x64"
        self.ptr_size = 8 if self.is64 else 4
        self._mode = X.UC_MODE_64 if self.is64 else X.UC_MODE_32
        self.uc = _new_engine(self._mode)
        self._h = self.uc._uch
        self._buf = ctypes.c_uint64()
        self._bref = ctypes.byref(self._buf)
        self._wbuf = ctypes.create_string_buffer(64)
        # guest strings (_str_scan): a page and a unit of reads, searched in place
        self._sarr = bytearray(PAGE + 2)
        self._scarr = (ctypes.c_char * (PAGE + 2)).from_buffer(self._sarr)
        self._pc_id = X.UC_X86_REG_RIP if self.is64 else X.UC_X86_REG_EIP
        self._sp_id = X.UC_X86_REG_RSP if self.is64 else X.UC_X86_REG_ESP
        self._ax_id = X.UC_X86_REG_RAX if self.is64 else X.UC_X86_REG_EAX
        self._mask = (1 << (8 * self.ptr_size)) - 1
        self._host: dict[int, Any] = {}          # keep host buffers referenced per mapped base
        self._exec_pages: set[int] = set()         # page numbers mapped executable (mem_write drops their code)
        self._tlb_next = 0.0                       # when _tlb_tick flushes the TLB next (time.monotonic)
        # API trap fast path (trap_entry / trap_return): one uc_reg_read_batch for the stack pointer and the
        # argument registers, one uc_reg_write_batch for the return value, stack pointer and pc.
        in_ids = ((X.UC_X86_REG_RSP, X.UC_X86_REG_RCX, X.UC_X86_REG_RDX, X.UC_X86_REG_R8, X.UC_X86_REG_R9)
                  if self.is64 else (X.UC_X86_REG_ESP,))
        self._in_n = len(in_ids)
        self._in_ids = (ctypes.c_int * self._in_n)(*in_ids)
        self._in_vals = (ctypes.c_uint64 * self._in_n)()
        self._in_ptrs = (ctypes.c_void_p * self._in_n)(
            *(ctypes.addressof(self._in_vals) + 8 * i for i in range(self._in_n)))
        self._out_ids = (ctypes.c_int * 3)(self._ax_id, self._sp_id, self._pc_id)
        self._out_vals = (ctypes.c_uint64 * 3)()
        self._out_ptrs = (ctypes.c_void_p * 3)(*(ctypes.addressof(self._out_vals) + 8 * i for i in range(3)))
        self._out_ptrs_nr = (ctypes.c_void_p * 2)(self._out_ptrs[1], self._out_ptrs[2])
        self._out_ids_nr = (ctypes.c_int * 2)(self._sp_id, self._pc_id)
        self._trap_handler: Optional[Callable] = None
        self._syscall_handler: Optional[Callable] = None
        # The running thread's API trap frame as host memory (buffer, offset) — see TRAP_FRAME; set by
        # set_teb.  trap_frame is that pair during a trap that came through a frame, else None.
        self._frame: Optional[tuple[Any, int]] = None
        self.trap_frame: Optional[tuple[Any, int]] = None
        self.teb_host: Optional[tuple[Any, int]] = None     # (buffer, offset) of the TEB's host memory
        #: traps served inside the hook through the frame: stub VA -> fn(buffer, frame offset).  The kernel
        #: fills it; any other trap goes to the trap handler (set_trap_handler).
        self.fast_traps: dict[int, Callable] = {}
        self._user_hooks: dict[int, tuple[int, int]] = {}   # add_code_hook / add_mem_hook handles: their range
        self._pending_drops: list = []    # translations to drop when the run in progress returns
        #: (address, {code hook handles}) of a run stopped from a code hook before that instruction
        self._stopped_at: Optional[tuple[int, set]] = None
        self._pfmt_s = struct.Struct("<Q" if self.is64 else "<I")
        self._reason: Optional[StopReason] = None
        self._mem_fault: Optional[tuple[int, int]] = None
        self._stop_requested = False
        self._hook_exc: Optional[BaseException] = None
        self._in_run = False
        # A trap handler wrote the pc (returning to its caller, dispatching an exception ...): see
        # _calibrate_pc_sync for why that matters for later faults of the same run.
        self._pc_written = False
        self._restart = False
        self._can_restart = False
        self._run_budget = 0
        self._last_until: Optional[int] = None
        # the callback field of the block hook that stops time-sliced runs between two instructions (see
        # _Watchdog); None until the first such run installs it, False when it cannot be installed
        self._preempt_slot: Any = None
        self._preempt_hooks: list[int] = []
        self.gdt_va: Optional[int] = None
        self.teb_va: Optional[int] = None
        self.user_mode = False
        self._cs_engine = None  # capstone, created on first use (importing it costs ~0.1 s at start-up)
        # traps: those that reached the trap handler (the fast_traps served in the hook are the dispatcher's
        # api_calls)
        self.stats = {"runs": 0, "traps": 0, "faults": 0}
        how, off = _calibrate_pc_sync()
        self._pc_sync_flag = (ctypes.c_uint8.from_address(ctypes.cast(self._h, ctypes.c_void_p).value + off)
                              if how == "clear" else None)
        self._restart_on_pc_write = how == "restart"
        cnt = _calibrate_emu_counter()
        self._emu_counter = (ctypes.c_uint64.from_address(ctypes.cast(self._h, ctypes.c_void_p).value + cnt)
                             if cnt is not None else None)
        inv = _calibrate_invalid_addr()
        self._invalid_addr = (ctypes.c_uint64.from_address(ctypes.cast(self._h, ctypes.c_void_p).value + inv)
                              if inv is not None else None)
        self._install_hooks()

    # ---------------------------------------------------------------------------------------- hooks
    def _install_hooks(self) -> None:
        hh = ctypes.c_size_t()
        self._cb_intr = N.HOOK_INTR(self._on_intr)
        self._cb_mem = N.HOOK_MEM_INVALID(self._on_mem_invalid)
        hooks = [(X.UC_HOOK_INTR, self._cb_intr)]
        if self._invalid_addr is None:   # see _calibrate_invalid_addr: the hook slows every store down
            hooks.append((X.UC_HOOK_MEM_INVALID, self._cb_mem))
        for htype, cb in hooks:
            err = N.lib.uc_hook_add(self._h, ctypes.byref(hh), htype, ctypes.cast(cb, ctypes.c_void_p), None, 1, 0)
            if err:
                raise UcError(err)
        # in/out: Unicorn does not check IOPL / the TSS I/O bitmap, so at CPL 3 they would "work".
        # These hooks fire only when an in/out executes (no cost otherwise).
        self.uc.hook_add(X.UC_HOOK_INSN, self._on_in, None, 1, 0, X.UC_X86_INS_IN)
        self.uc.hook_add(X.UC_HOOK_INSN, self._on_out, None, 1, 0, X.UC_X86_INS_OUT)
        # system calls (winhatch.kernel.ke.services): these fire only when such an instruction runs.  syscall
        # exists in 64-bit mode only (#UD in a 32-bit process on Intel); sysenter in both.
        if self.is64:
            self.uc.hook_add(X.UC_HOOK_INSN, self._on_syscall, None, 1, 0, X.UC_X86_INS_SYSCALL)
        self.uc.hook_add(X.UC_HOOK_INSN, self._on_sysenter, None, 1, 0, X.UC_X86_INS_SYSENTER)
        # cpuid: answered from the machine's processor model (set_cpuid_model); fires only when cpuid runs
        self._cpuid: Optional[CpuidModel] = None
        self.uc.hook_add(X.UC_HOOK_INSN, self._on_cpuid, None, 1, 0, X.UC_X86_INS_CPUID)

    def set_cpuid_model(self, *, brand: str, processors: int) -> None:
        """The processor CPUID describes (the machine's profile: its brand string and processor count)."""
        self._cpuid = CpuidModel(self._mode, brand=brand, processors=processors)

    def _on_cpuid(self, uc, _ud) -> int:
        m = self._cpuid
        if m is None:
            return 0                  # the engine answers
        try:
            leaf = uc.reg_read(X.UC_X86_REG_EAX) & 0xFFFFFFFF
            sub = uc.reg_read(X.UC_X86_REG_ECX) & 0xFFFFFFFF
            a, b, c, d = m.answer(leaf, sub)
            if self.is64:    # a 32-bit register write zero-extends into the 64-bit register
                uc.reg_write(X.UC_X86_REG_RAX, a)
                uc.reg_write(X.UC_X86_REG_RBX, b)
                uc.reg_write(X.UC_X86_REG_RCX, c)
                uc.reg_write(X.UC_X86_REG_RDX, d)
            else:
                uc.reg_write(X.UC_X86_REG_EAX, a)
                uc.reg_write(X.UC_X86_REG_EBX, b)
                uc.reg_write(X.UC_X86_REG_ECX, c)
                uc.reg_write(X.UC_X86_REG_EDX, d)
        except BaseException as e:   # a bug: surface it from run()
            if self._hook_exc is None:
                self._hook_exc = e
            N.lib.uc_emu_stop(self._h)
        return 1                      # the instruction is served: the engine skips its own cpuid

    def set_syscall_handler(self, fn: Optional[Callable]) -> None:
        """fn(cpu, site, kind) serves a `syscall`/`sysenter` at `site` (kind "syscall" | "sysenter") on the
        live registers; execution continues after the instruction unless fn moves the pc."""
        self._syscall_handler = fn

    def _on_syscall(self, _uc, _ud) -> None:
        self._system_call("syscall")

    def _on_sysenter(self, _uc, _ud) -> None:
        self._system_call("sysenter")

    def _system_call(self, kind: str) -> None:
        # Unicorn runs these hooks before it adds the instruction's length to the pc: the pc reads as the
        # instruction, and a pc the handler writes is moved 2 bytes on (compensated below).
        try:
            site = self.pc
            fn = self._syscall_handler
            if fn is None:
                fault = GuestFault(nt.STATUS_ILLEGAL_INSTRUCTION, site, kind="invalid-opcode",
                                   description=f"{kind} with no system-service dispatcher", vector=6)
                self._reason = StopReason("fault", site, fault=fault)
                self.pc = site - 2
                N.lib.uc_emu_stop(self._h)
                return
            self.stats["traps"] += 1
            self._pc_written = False
            fn(self, site, kind)
            if self._pc_written:
                self.pc = (self.pc - 2) & self._mask
            if self._pc_written or self._stop_requested:
                self._after_trap()
        except BaseException as e:  # a bug in a handler: surface it from run()
            if self._hook_exc is None:
                self._hook_exc = e
            N.lib.uc_emu_stop(self._h)

    def _io_fault(self, what: str) -> None:
        if self.user_mode and self._reason is None:
            pc = self.pc
            fault = GuestFault(nt.STATUS_PRIVILEGED_INSTRUCTION, pc, kind="privileged",
                               description=f"privileged instruction: {what}", vector=13)
            self._reason = StopReason("fault", pc, fault=fault)
            N.lib.uc_emu_stop(self._h)

    def _on_in(self, _uc, port, size, _ud) -> int:
        self._io_fault(f"in from port {port:#x}")
        return 0

    def _on_out(self, _uc, port, size, value, _ud) -> None:
        self._io_fault(f"out to port {port:#x}")

    def _on_mem_invalid(self, _uc, access, address, size, value, _ud) -> bool:
        self._mem_fault = (access, address)
        return False

    def _tlb_tick(self) -> None:
        """Flush the engine's TLB every TLB_RESIZE_PERIOD (checked at traps and run starts), so that it can grow.

        Unicorn's softmmu TLB starts at 256 entries (1 MiB of pages, direct-mapped) and is resized only when it
        is flushed (grown when more than 70% of it was used since the last flush).  Nothing flushes it in a
        process that does not change its mappings, so a program whose working set is larger than 1 MiB missed
        on most accesses, and a miss is dear in the virtual TLB mode: the refill looks up the running block in
        the tree of every translated block to restore the guest state (perf on SWIG: half the host time in the
        refill).  Measured (tests/cpu/test_engine_tlb.py's loop): a load from each of 1024 pages in turn,
        55 ns per access without flushes, 10 ns with them."""
        now = _monotonic()
        if now >= self._tlb_next:
            self._tlb_next = now + TLB_RESIZE_PERIOD
            self.uc.ctl(X.UC_CTL_TLB_FLUSH, X.UC_CTL_IO_WRITE)

    def _on_intr(self, _uc, intno, _ud) -> None:
        try:
            if intno == TRAP_VECTOR:
                if _monotonic() >= self._tlb_next:
                    self._tlb_tick()
                fr = self._frame
                trap_va = 0
                if fr is not None:   # an API stub stored its address in the frame: no register read
                    buf, off = fr
                    trap_va = self._pfmt_s.unpack_from(buf, off)[0]
                    if trap_va:
                        self._pfmt_s.pack_into(buf, off, 0)
                        fast = self.fast_traps.get(trap_va)
                        if fast is not None:
                            self._pc_written = False
                            if fast(buf, off) is not Cpu.DEFER:
                                if self._pc_written or self._stop_requested:
                                    self._after_trap()
                                return
                            self._defer(trap_va)   # the entry asks for the call to be served after the run
                            return
                        self.trap_frame = fr
                if not trap_va:
                    self.trap_frame = None
                    trap_va = (self.pc - len(TRAP_STUB)) & self._mask
                self.stats["traps"] += 1
                handler = self._trap_handler
                self._pc_written = False
                res = Cpu.DEFER if handler is None else handler(self, trap_va)
                if res is Cpu.DEFER:
                    self._defer(trap_va)
                else:
                    self._after_trap()
                return
            fault = self._fault_from_vector(intno)
            self.pc = fault.pc
            self._reason = StopReason("fault", fault.pc, fault=fault)
            N.lib.uc_emu_stop(self._h)
        except BaseException as e:  # a bug in a handler: surface it from run()
            if self._hook_exc is None:
                self._hook_exc = e
            N.lib.uc_emu_stop(self._h)

    def stop_with_fault_at(self, address: int, kind: str, description: str) -> None:
        """From a code hook at `address` (before the instruction runs): end the run with STATUS_SINGLE_STEP at
        that address, as a debug-register execution breakpoint faults (winhatch.kernel.ke.hwbp)."""
        fault = GuestFault(nt.STATUS_SINGLE_STEP, address, kind=kind, description=description, vector=1)
        self.pc = address
        self._reason = StopReason("fault", address, fault=fault)
        N.lib.uc_emu_stop(self._h)

    def _defer(self, trap_va: int) -> None:
        """The trap's handler runs after this run ends, on the registers (the stub is restarted from trap_va
        when it returns without moving the pc)."""
        self.trap_frame = None
        self.pc = trap_va
        self._reason = StopReason("trap", trap_va, trap_va=trap_va)
        N.lib.uc_emu_stop(self._h)

    def _after_trap(self) -> None:
        if self._stop_requested:
            self._reason = StopReason("stopped", self.pc)
            N.lib.uc_emu_stop(self._h)
        elif self._pc_written:
            # The handler moved the pc (it returned to the caller): keep later memory faults
            # of this run precise (see _calibrate_pc_sync).
            if self._pc_sync_flag is not None:
                self._pc_sync_flag.value = 0
            elif self._restart_on_pc_write and self._can_restart:
                self._restart = True
                N.lib.uc_emu_stop(self._h)

    def _fault_from_vector(self, v: int) -> GuestFault:
        pc = self.pc
        if v == 3:
            # int3 is a trap: EIP is past it; Windows backs the breakpoint's address up one byte (the int3 of
            # `cc`; inside `cd 03`, the byte after `cd` — ntdll/exception.c test_breakpoint, x86 and x64)
            at = pc - 1
            return GuestFault(nt.STATUS_BREAKPOINT, at, kind="breakpoint", description="int3", vector=3)
        if v == 0:
            return GuestFault(nt.STATUS_INTEGER_DIVIDE_BY_ZERO, pc, kind="divide",
                              description="integer divide by zero / quotient overflow", vector=0)
        if v == 1:
            return GuestFault(nt.STATUS_SINGLE_STEP, pc, kind="single-step", description="debug trap", vector=1)
        if v == 4:
            return GuestFault(nt.STATUS_INTEGER_OVERFLOW, pc - 1, kind="overflow", description="into", vector=4)
        if v == 5:
            return GuestFault(nt.STATUS_ARRAY_BOUNDS_EXCEEDED, pc, kind="bounds", description="bound", vector=5)
        if v == 6:
            return GuestFault(nt.STATUS_ILLEGAL_INSTRUCTION, pc, kind="invalid-opcode", description="#UD", vector=6)
        if v == 16:
            return GuestFault(nt.STATUS_FLOAT_INVALID_OPERATION, pc, kind="x87", description="#MF", vector=16)
        if v == 17:
            return GuestFault(nt.STATUS_DATATYPE_MISALIGNMENT, pc, kind="alignment", description="#AC", vector=17)
        if v == 19:
            return GuestFault(nt.STATUS_FLOAT_INVALID_OPERATION, pc, kind="simd", description="#XM", vector=19)
        if v in (8, 10, 11, 12, 13):
            insn = self._insn_at(pc)
            if insn is not None and (insn.mnemonic in _PRIVILEGED or
                                     (insn.mnemonic == "mov" and ("cr" in insn.op_str or "dr" in insn.op_str))):
                return GuestFault(nt.STATUS_PRIVILEGED_INSTRUCTION, pc, kind="privileged",
                                  description=f"privileged instruction: {insn.mnemonic} {insn.op_str}".strip(), vector=v)
            text = f"{insn.mnemonic} {insn.op_str}".strip() if insn else "?"
            return GuestFault(nt.STATUS_ACCESS_VIOLATION, pc, access="read", address=self._mask, kind="gp",
                              description=f"general protection fault (#{v}) at {text}", vector=v)
        # `int n` to a vector other than ours: on Windows the IDT gate is DPL 0 (→ #GP → AV), except
        # the documented user-callable ones.
        if v == 0x29:
            return GuestFault(nt.STATUS_STACK_BUFFER_OVERRUN, pc - 2, kind="fastfail",
                              description=f"__fastfail({self.reg('ecx')})", vector=v)
        if v == 0x2C:
            return GuestFault(nt.STATUS_ASSERTION_FAILURE, pc - 2, kind="assertion", description="int 0x2c", vector=v)
        if v == 0x2D:
            # the debug service trap: reported (and resumed) past the instruction (Wine's ntdll/exception.c
            # test_debug_service, on Windows: the context's Rip/Eip is the byte after `int 0x2d`)
            return GuestFault(nt.STATUS_BREAKPOINT, pc, kind="debug_service", description="int 0x2d", vector=v)
        at = pc - 2 if self._peek(pc - 2, 1) == b"\xcd" else pc
        return GuestFault(nt.STATUS_ACCESS_VIOLATION, at, access="read", address=self._mask, kind="gp",
                          description=f"int {v:#x}", vector=v)

    # ------------------------------------------------------------------------------ instrumentation hooks
    def add_code_hook(self, begin: int, end: int, fn: Callable[[int, int], None]) -> int:
        """Instrument the instructions in [begin, end] (inclusive): fn(address, size) runs before each one
        executes (Unicorn UC_HOOK_CODE limited to that range: code outside it runs uninstrumented).  The
        blocks already translated there are dropped so the hook sees them.  fn may write registers (the pc
        too: execution continues there) and call stop(); an exception it raises ends the run and is raised
        from run().  Returns a handle for remove_hook.

        A run stopped from a code hook ends before that instruction executes, so the next run starts with it
        and its hooks would fire again: each hook that already ran there is skipped once (_stopped_at)."""
        box = [0]

        def cb(_uc, address, size, _ud):
            st = self._stopped_at
            if st is not None:
                if st[0] == address and box[0] in st[1]:
                    st[1].discard(box[0])
                    if not st[1]:
                        self._stopped_at = None
                    return
                if st[0] != address:
                    self._stopped_at = None
            fn(address, size)
            if self._stop_requested:      # the instruction runs when the thread resumes: not this hook again
                st = self._stopped_at
                if st is None or st[0] != address:
                    st = self._stopped_at = (address, set())
                st[1].add(box[0])
        box[0] = self._add_hook(X.UC_HOOK_CODE, begin, end, cb)
        return box[0]

    def add_mem_hook(self, access: str, begin: int, end: int, fn: Callable[[str, int, int, int], None]) -> int:
        """Watch guest reads ("read"), writes ("write") or both ("rw") of [begin, end] (inclusive): fn(access,
        address, size, value) with access "read"/"write" (value: the value written; 0 for a read).  Unicorn's
        UC_HOOK_MEM_READ/WRITE with that range: the Python callback runs only for accesses inside it.  Returns
        a handle for remove_hook."""
        kinds = {"read": X.UC_HOOK_MEM_READ, "write": X.UC_HOOK_MEM_WRITE,
                 "rw": X.UC_HOOK_MEM_READ | X.UC_HOOK_MEM_WRITE}
        if access not in kinds:
            raise ValueError(f"access must be 'read', 'write' or 'rw', not {access!r}")
        W = X.UC_MEM_WRITE

        def cb(_uc, acc, address, size, value, _ud):
            fn("write" if acc == W else "read", address, size, value if acc == W else 0)
        return self._add_hook(kinds[access], begin, end, cb)

    def _add_hook(self, htype: int, begin: int, end: int, cb: Callable) -> int:
        if end < begin:
            raise ValueError(f"empty range [{begin:#x}, {end:#x}]")

        def guarded(*a):
            self._pc_written = False
            try:
                cb(*a)
            except BaseException as e:  # the run ends; run() raises it
                if self._hook_exc is None:
                    self._hook_exc = e
                N.lib.uc_emu_stop(self._h)
                return
            if self._pc_written and not self._stop_requested:
                self._after_trap()
        handle = self.uc.hook_add(htype, guarded, None, begin, end)
        self._user_hooks[handle] = (begin, end)
        # a code hook is compiled into the blocks of its range, a memory hook into every block that accesses
        # memory: those translated before must be translated again
        self._drop_translations(None if htype != X.UC_HOOK_CODE else (begin, end + 1))
        return handle

    def remove_hook(self, handle: int) -> None:
        """Remove a hook of add_code_hook / add_mem_hook (a handle already removed is ignored)."""
        rng = self._user_hooks.pop(handle, None)
        if rng is None:
            return
        self.uc.hook_del(handle)
        self._drop_translations((rng[0], rng[1] + 1))

    def _drop_translations(self, rng: Optional[tuple[int, int]]) -> None:
        """Drop translated blocks (those of `rng`, or all): at once between runs; from inside a run (a hook added
        by a callback) the blocks may be executing, so the run is ended (the thread resumes where it was, as
        after any stop) and they are dropped when it has returned."""
        if not self._in_run:
            if rng is None:
                self.uc.ctl_flush_tb()
            else:
                self._drop_tbs(*rng)
            return
        self._pending_drops.append(rng)
        self.stop()

    def _apply_pending_drops(self) -> None:
        drops, self._pending_drops = self._pending_drops, []
        if any(r is None for r in drops):
            self.uc.ctl_flush_tb()
            return
        for r in drops:
            self._drop_tbs(*r)

    # ---------------------------------------------------------------------------------------- run
    def set_trap_handler(self, fn: Optional[Callable]) -> None:
        self._trap_handler = fn

    def stop(self) -> None:
        """From inside a handler: end the current run() with kind 'stopped'."""
        self._stop_requested = True
        if self._in_run:
            N.lib.uc_emu_stop(self._h)

    def stop_async(self) -> None:
        """From another host thread (a Ctrl-C watcher): end the emulation running now, if any (uc_emu_stop
        is thread-safe; a stop that lands between two runs is a no-op, so the caller repeats it until the
        kernel has seen its own flag)."""
        N.lib.uc_emu_stop(self._h)

    def prepare_stop_requests(self) -> bool:
        """Make request_stop() stop between two instructions: install the preemption hook (see _Watchdog) now,
        from the emulating thread and outside a run.  False when it cannot be installed (request_stop then
        falls back to an asynchronous uc_emu_stop)."""
        if self._preempt_slot is None:
            self._install_preempt_hook()
        return bool(self._preempt_slot)

    def request_stop(self) -> None:
        """From another host thread (a debugger's break-in): end the run in progress, or the next one, at the
        start of its next translated block, between two instructions, so the thread resumes exactly.  The
        request stays armed until clear_stop_request() (it cannot be lost between two runs)."""
        slot = self._preempt_slot
        if slot:
            slot.value = _preempt_calls()[1]
        else:
            N.lib.uc_emu_stop(self._h)

    def clear_stop_request(self) -> None:
        slot = self._preempt_slot
        if slot:
            slot.value = _preempt_calls()[0]

    def executed_in_run(self) -> int:
        """From inside the run (a trap handler): the instructions this run executed so far when it counts them
        (a run with a budget, the engine's counter found), else 0."""
        if self._in_run and self._run_budget and self._emu_counter is not None:
            return min(self._emu_counter.value, self._run_budget)
        return 0

    def run(self, begin: int, until: int = 0, max_instructions: int = 0, timeout_s: float = 0.0,
            resumable: bool = True) -> StopReason:
        """Run from `begin` until `until`, a trap that defers, a fault, `max_instructions` (then the reason
        says how many were executed, when the engine's counter was found) or `timeout_s`.

        A run ended by `timeout_s` stops between two instructions, so the thread resumes exactly where it
        was (the preemption hook, see _Watchdog).  `resumable=False`: the caller will not resume it (the
        machine's own time limit), so a single-threaded program need not pay for the hook."""
        reason = self._run(begin, until, max_instructions, timeout_s, resumable)
        if max_instructions:
            n = max_instructions if reason.kind == "budget" else (
                self._emu_counter.value if self._emu_counter is not None else 0)
            if n:
                reason = StopReason(reason.kind, reason.pc, reason.trap_va, reason.fault, min(n, max_instructions))
        return reason

    def _run(self, begin: int, until: int, max_instructions: int, timeout_s: float,
             resumable: bool = True) -> StopReason:
        self._reason = None
        self._mem_fault = None
        self._hook_exc = None
        self._stop_requested = False
        self.stats["runs"] += 1
        end = until if until else _NEVER
        if until:
            # Unicorn decides "stop at until" when it translates a block; a cached block that spans
            # `until` would run through it.  Drop blocks covering it (cheap).
            self._drop_tbs(until, until + 1)
        tok = 0
        if timeout_s > 0:
            slot = self._preempt_slot
            if slot is None and resumable:
                slot = self._install_preempt_hook()
            tok = _watchdog.arm(self._h, time.monotonic() + timeout_s, slot or None)
        # Precise faults after a trap handler moved the pc: when the flag cannot be cleared directly
        # (_calibrate_pc_sync gave "restart"), _on_intr ends the emulation after such a pc write and
        # this loop starts a fresh uc_emu_start at the new pc.  With an instruction budget Unicorn's
        # counting hook syncs the pc on every instruction, so faults are precise anyway and the run
        # is not split (a restart would also reset the budget).
        if self._stopped_at is not None and self._stopped_at[0] != begin:
            self._stopped_at = None
        self._can_restart = not max_instructions
        self._run_budget = max_instructions
        self._tlb_tick()
        self._restart = False
        self._in_run = True
        try:
            while True:
                err = N.lib.uc_emu_start(self._h, begin, end, 0, max_instructions)
                if not self._restart:
                    break
                self._restart = False
                if (err != N.UC_ERR_OK or self._reason is not None or self._hook_exc is not None
                        or self._stop_requested or (tok and _watchdog.fired(tok))):
                    break
                begin = self.pc
                if until and begin == until:
                    break
        finally:
            self._in_run = False
            self._restart = False
            timed_out = _watchdog.disarm(tok) if tok else False
            if self._pending_drops:
                self._apply_pending_drops()
        if self._hook_exc is not None:
            exc, self._hook_exc = self._hook_exc, None
            raise exc
        reason = self._reason
        if reason is None and err != N.UC_ERR_OK:
            reason = StopReason("fault", self.pc, fault=self._fault_from_error(err))
        if reason is not None:
            if reason.kind == "fault":
                self.stats["faults"] += 1
                self.pc = reason.fault.pc
                # A block that faulted at translation time (e.g. mov crN at CPL 3) is not always
                # invalidated by a later host write of new code there; drop it now.
                self._drop_code_page(reason.fault.pc)
                if reason.fault.kind in ("unmapped", "protected"):
                    # Unicorn fills the TLB entry before it checks the mapping's permissions and
                    # leaves it there when the check fails: without a flush, repeating a faulting
                    # read of a no-access page succeeds (measured with both TLB modes).
                    self.uc.ctl(X.UC_CTL_TLB_FLUSH, X.UC_CTL_IO_WRITE)
                if reason.fault.vector in (0, 8, 10, 11, 12, 13):
                    self._reset_old_exception()
            return reason
        pc = self.pc
        if self._stop_requested:
            return StopReason("stopped", pc)
        if until and pc == until:
            return StopReason("until", pc)
        if timed_out:
            # Unicorn quirk: a self-looping block interrupted by an asynchronous uc_emu_stop is not
            # invalidated by later host writes of new code at its address (measured: the old loop
            # keeps running).  Drop the blocks on the page we stopped in.
            self._drop_code_page(pc)
            return StopReason("timeout", pc)
        if max_instructions:
            return StopReason("budget", pc)
        return StopReason("stopped", pc)   # e.g. hlt executed at CPL 0 (no setup_segments)

    def _install_preempt_hook(self) -> Any:
        """Add the block hooks behind the preemption slot (see _Watchdog) and return the slot (False when it
        cannot be installed: the watchdog then stops runs asynchronously, as before).

        Two UC_HOOK_BLOCK hooks: with a single one Unicorn compiles a direct call of its callback into each
        translated block, so the callback could not be switched later; with two it calls them through its
        hook list, reading each hook's callback field when the block starts.  The first covers every
        address and is the slot; the second covers nothing.  The field is found in the hook record (the
        uc_hook handle is its address) as the one pointer-sized field holding the callback just passed.
        Blocks translated before the hooks existed do not call them: the translation cache is flushed.
        Cost, measured on a register-only 5-instruction loop: about 7 ns per block executed (2x on that
        loop; code with longer blocks and memory accesses pays less); a process pays it only from its first
        time-sliced run on (a program whose threads never compete, or that runs one thread, never does).
        """
        slot: Any = False
        try:
            noop, _stop = _preempt_calls()
            handles = []
            for begin, end in ((1, 0), (_NEVER, _NEVER)):   # begin > end: every address
                hh = ctypes.c_size_t()
                err = N.lib.uc_hook_add(self._h, ctypes.byref(hh), X.UC_HOOK_BLOCK, noop, None, begin, end)
                if err:
                    raise UcError(err)
                handles.append(hh.value)
            self._preempt_hooks = handles
            rec = ctypes.string_at(handles[0], 64)
            offs = [o for o in range(0, len(rec) - 7, ctypes.sizeof(ctypes.c_void_p))
                    if struct.unpack_from("P", rec, o)[0] == noop]
            if len(offs) == 1:
                slot = ctypes.c_void_p.from_address(handles[0] + offs[0])
            else:   # pragma: no cover - an unknown hook record: drop the hooks again
                for h in handles:
                    N.lib.uc_hook_del(self._h, h)
                self._preempt_hooks = []
            self.uc.ctl_flush_tb()
        except Exception:  # pragma: no cover - no C library to take abs() from, an unexpected engine
            slot = False
        self._preempt_slot = slot
        return slot

    def _drop_code_page(self, pc: int) -> None:
        """Drop the translated blocks of the page holding ``pc`` (the last page of the address space too: the
        range's end must not wrap past 2^64, or Unicorn refuses it)."""
        page = pc & ~(PAGE - 1) & 0xFFFFFFFFFFFFFFFF
        self.uc.ctl_remove_cache(page, min(page + PAGE, 0xFFFFFFFFFFFFFFFF))

    def _fault_from_error(self, err: int) -> GuestFault:
        pc = self.pc
        mf = self._mem_fault
        U = X
        if err in (U.UC_ERR_READ_UNMAPPED, U.UC_ERR_WRITE_UNMAPPED, U.UC_ERR_FETCH_UNMAPPED,
                   U.UC_ERR_READ_PROT, U.UC_ERR_WRITE_PROT, U.UC_ERR_FETCH_PROT):
            access = {U.UC_ERR_READ_UNMAPPED: "read", U.UC_ERR_READ_PROT: "read",
                      U.UC_ERR_WRITE_UNMAPPED: "write", U.UC_ERR_WRITE_PROT: "write",
                      U.UC_ERR_FETCH_UNMAPPED: "execute", U.UC_ERR_FETCH_PROT: "execute"}[err]
            kind = "unmapped" if err in (U.UC_ERR_READ_UNMAPPED, U.UC_ERR_WRITE_UNMAPPED, U.UC_ERR_FETCH_UNMAPPED) else "protected"
            if mf:
                address = mf[1] & self._mask
            elif self._invalid_addr is not None:
                address = self._invalid_addr.value & self._mask
            else:
                address = None
            if access == "execute":
                if address is None:
                    address = pc
                # A jump into the page: the engine's pc is the target, the faulting "instruction" itself. A block
                # that runs off the end of its page into the refused one (falling through, or an instruction that
                # straddles the boundary) faults while it is translated, before any of it ran: the engine's pc is
                # the block's start on the page before, and the run resumes there (taking the address instead
                # skipped the block's instructions before the boundary: node.js's code range, whose pages
                # executed-after-written tracking refuses to execute once, went wrong that way).
                if not (pc < address and (address & ~(PAGE - 1)) == (pc & ~(PAGE - 1)) + PAGE):
                    pc = address
            return GuestFault(nt.STATUS_ACCESS_VIOLATION, pc, access=access, address=address, kind=kind,
                              description=f"{access} of {kind} memory at {address:#x}" if address is not None
                              else f"{access} of {kind} memory")
        if err == U.UC_ERR_INSN_INVALID and self._peek(pc, 1) == b"\xf1":
            # icebp (int1) is a debug trap the engine does not know: STATUS_SINGLE_STEP past the instruction, as
            # on Windows (Wine's ntdll/exception.c, test 37 of the exception tests)
            self.pc = pc + 1
            return GuestFault(nt.STATUS_SINGLE_STEP, pc + 1, kind="single-step", description="icebp", vector=1)
        if err == U.UC_ERR_INSN_INVALID:
            return GuestFault(nt.STATUS_ILLEGAL_INSTRUCTION, pc, kind="invalid-opcode",
                              description=f"invalid opcode {self._peek(pc, 4).hex()}", vector=6)
        if err in (U.UC_ERR_READ_UNALIGNED, U.UC_ERR_WRITE_UNALIGNED, U.UC_ERR_FETCH_UNALIGNED):
            return GuestFault(nt.STATUS_DATATYPE_MISALIGNMENT, pc, kind="alignment", description=str(UcError(err)))
        return GuestFault(nt.STATUS_ILLEGAL_INSTRUCTION, pc, kind="engine",
                          description=f"unicorn: {UcError(err)}")

    def _reset_old_exception(self) -> None:
        off = _calibrate_old_exception(self._mode)
        if off is None:
            return
        ctx = self.uc.context_save()
        ptr = ctypes.cast(ctx.context, ctypes.c_void_p).value
        ctypes.memmove(ptr + off, b"\xff\xff\xff\xff", 4)
        self.uc.context_restore(ctx)

    # ---------------------------------------------------------------------------------------- memory
    def mem_map(self, addr: int, size: int, perms: int, host: Any = None) -> None:
        _check_aligned(addr, size)
        try:
            if host is None:
                self.uc.mem_map(addr, size, perms)
            else:
                ptr, ref = _host_pointer(host)
                self.uc.mem_map_ptr(addr, size, perms, ptr)
                self._host[addr] = ref
        except UcError as e:
            # the host could not back the pages: for the guest that is the system's commit limit
            status = nt.STATUS_COMMITMENT_LIMIT if e.errno == X.UC_ERR_NOMEM else nt.STATUS_CONFLICTING_ADDRESSES
            raise CpuError(status, f"mem_map({addr:#x}, {size:#x}): {e}", addr) from None
        self._note_exec(addr, size, perms)

    def _note_exec(self, addr: int, size: int, perms: int) -> None:
        """Keep the set of executable pages (see mem_write)."""
        pages = range(addr >> 12, (addr + size) >> 12)
        if perms & PROT_EXEC:
            self._exec_pages.update(pages)
        elif self._exec_pages:
            self._exec_pages.difference_update(pages)

    def mem_unmap(self, addr: int, size: int) -> None:
        _check_aligned(addr, size)
        try:
            self.uc.mem_unmap(addr, size)
        except UcError as e:
            raise CpuError(nt.STATUS_NOT_MAPPED_VIEW, f"mem_unmap({addr:#x}, {size:#x}): {e}", addr) from None
        self._note_exec(addr, size, 0)
        for base in [b for b in self._host if addr <= b < addr + size]:
            if not self._mapped(base):
                del self._host[base]

    def mem_protect(self, addr: int, size: int, perms: int) -> None:
        _check_aligned(addr, size)
        try:
            self.uc.mem_protect(addr, size, perms)
        except UcError as e:
            raise CpuError(nt.STATUS_NOT_MAPPED_VIEW, f"mem_protect({addr:#x}, {size:#x}): {e}", addr) from None
        if perms & PROT_EXEC and not self._exec_pages.issuperset(range(addr >> 12, (addr + size) >> 12)):
            # Unicorn quirk: the guest's stores to a page while it was not executable (a JIT's W^X cycle:
            # RW, write the code, RX, run it, RW again, write new code, RX) do not invalidate the blocks it
            # translated there before (measured: the old code ran).  A page becoming executable drops them.
            self._drop_tbs(addr, addr + size)
        self._note_exec(addr, size, perms)

    def _drop_tbs(self, begin: int, end: int) -> None:
        """Drop the translated blocks of [begin, end).  The range is clipped to the 64-bit space: a
        fault at the top page (a guest jump to 0xFFFFFFFFFFFFFFF0) must not make Unicorn reject the call
        (its end would wrap to 0: UC_ERR_ARG)."""
        end = min(end, (1 << 64) - 1)
        if begin < end:
            self.uc.ctl_remove_cache(begin, end)

    def own_code_runs(self) -> None:
        """The process made memory of its own executable: the engine goes back to the TLB fill that keeps
        stores over translated code seen (drop_tlb_fill_hook)."""
        if drop_tlb_fill_hook(self.uc):
            self.stats["tlb_fill_dropped"] = 1

    def flush_code(self, addr: int = 0, size: int = 0) -> None:
        """FlushInstructionCache: drop the translated code of [addr, addr+size) (everything when size is 0),
        so code the kernel wrote there (WriteProcessMemory, ReadFile into a buffer that already ran) runs as
        written.  Guest stores are noticed by the engine itself."""
        if size <= 0:
            self.uc.ctl_flush_tb()
        else:
            self._drop_tbs(addr & ~(PAGE - 1), (addr + size + PAGE - 1) & ~(PAGE - 1))

    def mem_regions(self) -> list[tuple[int, int, int]]:
        """[(begin, end_inclusive, perms)] as Unicorn sees them."""
        return list(self.uc.mem_regions())

    def _mapped(self, addr: int) -> bool:
        return any(b <= addr <= e for b, e, _ in self.uc.mem_regions())

    def mem_read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        buf = self._wbuf if size <= 64 else ctypes.create_string_buffer(size)
        if N.mem_read(self._h, addr, buf, size):
            raise CpuError(nt.STATUS_ACCESS_VIOLATION, f"read of {size:#x} bytes at {addr:#x}", addr)
        return buf.raw[:size]

    def mem_write(self, addr: int, data: bytes) -> None:
        """A host write (the kernel, a handler).  Unicorn notices the guest's own stores to code it has
        translated, not these (measured: ReadFile of new code into a buffer that already ran executed the old
        code), so a write that touches an executable page drops the translations of the pages written."""
        data = bytes(data)
        n = len(data)
        if n and N.mem_write(self._h, addr, data, n):
            raise CpuError(nt.STATUS_ACCESS_VIOLATION, f"write of {n:#x} bytes at {addr:#x}", addr)
        ex = self._exec_pages
        if n and ex and ((addr >> 12) in ex or ((addr + n - 1) >> 12) in ex or
                         (n > PAGE and not ex.isdisjoint(range(addr >> 12, (addr + n) >> 12)))):
            self._drop_tbs(addr & ~(PAGE - 1), (addr + n + PAGE - 1) & ~(PAGE - 1))

    def trap_entry(self, fmt: str, size: int) -> tuple[list, tuple]:
        """For an API trap: ([sp, rcx, rdx, r8, r9] on x64 / [esp] on x86, the `struct` format `fmt`
        (`size` bytes) unpacked from the stack at sp — the return address first).  Two engine calls."""
        n = self._in_n
        N.reg_read_batch(self._h, self._in_ids, self._in_ptrs, n)
        regs = self._in_vals[:n]
        buf = self._wbuf if size <= 64 else ctypes.create_string_buffer(size)
        if N.mem_read(self._h, regs[0], buf, size):
            raise CpuError(nt.STATUS_ACCESS_VIOLATION, f"read of {size:#x} bytes at {regs[0]:#x}", regs[0])
        return regs, struct.unpack_from(fmt, buf)

    def trap_return(self, retval: Optional[int], sp: int, pc: int) -> None:
        """Return from an API trap: eax/rax = retval (unless None), sp, pc — one engine call."""
        v = self._out_vals
        m = self._mask
        v[1] = sp & m
        v[2] = pc & m
        if retval is None:
            N.reg_write_batch(self._h, self._out_ids_nr, self._out_ptrs_nr, 2)
        else:
            v[0] = retval & m
            N.reg_write_batch(self._h, self._out_ids, self._out_ptrs, 3)
        self._pc_written = True

    def _peek(self, addr: int, size: int) -> bytes:
        try:
            return self.mem_read(addr & self._mask, size)
        except CpuError:
            return b""

    def _read_int(self, addr: int, size: int) -> int:
        b = self._buf
        b.value = 0
        if N.mem_read(self._h, addr, self._bref, size):
            raise CpuError(nt.STATUS_ACCESS_VIOLATION, f"read of {size} bytes at {addr:#x}", addr)
        return b.value

    def read_u8(self, addr: int) -> int:
        return self._read_int(addr, 1)

    def read_u16(self, addr: int) -> int:
        return self._read_int(addr, 2)

    def read_u32(self, addr: int) -> int:
        return self._read_int(addr, 4)

    def read_u64(self, addr: int) -> int:
        return self._read_int(addr, 8)

    def read_ptr(self, addr: int) -> int:
        return self._read_int(addr, self.ptr_size)

    def _write_int(self, addr: int, v: int, size: int) -> None:
        self._buf.value = v     # little-endian host: the low `size` bytes are written
        if N.mem_write_p(self._h, addr, self._bref, size):
            raise CpuError(nt.STATUS_ACCESS_VIOLATION, f"write of {size:#x} bytes at {addr:#x}", addr)

    def write_u8(self, addr: int, v: int) -> None:
        self._write_int(addr, v & 0xFF, 1)

    def write_u16(self, addr: int, v: int) -> None:
        self._write_int(addr, v & 0xFFFF, 2)

    def write_u32(self, addr: int, v: int) -> None:
        self._write_int(addr, v & 0xFFFFFFFF, 4)

    def write_u64(self, addr: int, v: int) -> None:
        self._write_int(addr, v & 0xFFFFFFFFFFFFFFFF, 8)

    def write_ptr(self, addr: int, v: int) -> None:
        self._write_int(addr, v & self._mask, self.ptr_size)

    # Guest strings are read in chunks that grow (64, 256, 1024, then up to a page) and never cross a page
    # boundary (a unit straddling one excepted), into one reused host buffer searched in place: a short
    # string costs one small engine read and one copy, a string that ends just before an unmapped page
    # reads nothing past its terminator, and a missing terminator stops at `limit`.
    _STR_CHUNKS = (64, 256, 1024)

    def _str_scan(self, addr: int, limit: int, unit: int) -> bytes:
        """The bytes of the `unit`-byte string at addr up to (not including) its terminator, at most
        `limit` bytes (a multiple of unit)."""
        arr, carr, h = self._sarr, self._scarr, self._h
        out = None
        got = 0
        step = 0
        chunks = self._STR_CHUNKS
        while got < limit:
            n = min(chunks[step] if step < 3 else PAGE, PAGE - (addr & (PAGE - 1)), limit - got)
            if n % unit:          # an odd address at a page end: take the unit across the boundary
                n += unit - n % unit
            step += 1
            if N.mem_read(h, addr, carr, n):
                raise CpuError(nt.STATUS_ACCESS_VIOLATION, f"read of {n:#x} bytes at {addr:#x}", addr)
            if unit == 1:
                i = arr.find(0, 0, n)
            else:
                i = arr.find(b"\0\0", 0, n)
                while i > 0 and i & 1:      # a terminator is a whole unit
                    i = arr.find(b"\0\0", i + 1, n)
            if i >= 0:
                if out is None:
                    return bytes(arr[:i])
                out += arr[:i]
                return bytes(out)
            if out is None:
                out = bytearray(arr[:n])
            else:
                out += arr[:n]
            got += n
            addr += n
        return bytes(out[:limit]) if out is not None else b""

    def read_cstr(self, addr: int, limit: int = 4096) -> bytes:
        """Bytes up to (not including) the NUL, at most `limit`."""
        return self._str_scan(addr, limit, 1)

    def read_wstr(self, addr: int, limit: int = 4096) -> str:
        """UTF-16LE string up to the NUL; `limit` counts characters."""
        return self._str_scan(addr, 2 * limit, 2).decode("utf-16-le", "surrogatepass")

    # ---------------------------------------------------------------------------------------- registers
    def _rid(self, name: str) -> int:
        name = name.lower()
        if name == "pc":
            return self._pc_id
        if name == "sp":
            return self._sp_id
        if self.is64 and name == "eflags":
            name = "rflags"
        try:
            return _REG_IDS[name]
        except KeyError:
            raise KeyError(f"unknown register {name!r}") from None

    def reg(self, name: str) -> int:
        rid = self._rid(name)
        lname = name.lower()
        if lname in _WIDE:
            return self._reg_read_wide(rid, lname)
        b = self._buf
        b.value = 0
        N.reg_read(self._h, rid, self._bref)
        return b.value

    def set_reg(self, name: str, value: int) -> None:
        rid = self._rid(name)
        lname = name.lower()
        if lname in _WIDE:
            self._reg_write_wide(rid, lname, value)
            return
        self._buf.value = value & 0xFFFFFFFFFFFFFFFF
        err = N.reg_write(self._h, rid, self._bref)
        if err:
            raise CpuError(nt.STATUS_INVALID_PARAMETER, f"writing {name}={value:#x}: {UcError(err)}")
        if rid in _PC_IDS:
            self._pc_written = True

    def _reg_read_wide(self, rid: int, name: str) -> int:
        buf = self._wbuf
        ctypes.memset(buf, 0, 64)
        N.reg_read(self._h, rid, buf)
        raw = buf.raw
        if name in _FPREG:
            mant, exp = struct.unpack_from("<QH", raw)
            return exp << 64 | mant
        return int.from_bytes(raw, "little")

    def _reg_write_wide(self, rid: int, name: str, value: int) -> None:
        if name in _FPREG:
            data = struct.pack("<QH", value & 0xFFFFFFFFFFFFFFFF, (value >> 64) & 0xFFFF)
        else:
            data = (value & ((1 << 512) - 1)).to_bytes(64, "little")
        buf = ctypes.create_string_buffer(data, 64)
        err = N.reg_write(self._h, rid, buf)
        if err:
            raise CpuError(nt.STATUS_INVALID_PARAMETER, f"writing {name}: {UcError(err)}")

    @property
    def pc(self) -> int:
        b = self._buf
        b.value = 0
        N.reg_read(self._h, self._pc_id, self._bref)
        return b.value

    @pc.setter
    def pc(self, v: int) -> None:
        self._buf.value = v & self._mask
        N.reg_write(self._h, self._pc_id, self._bref)
        self._pc_written = True

    @property
    def sp(self) -> int:
        b = self._buf
        b.value = 0
        N.reg_read(self._h, self._sp_id, self._bref)
        return b.value

    @sp.setter
    def sp(self, v: int) -> None:
        self._buf.value = v & self._mask
        N.reg_write(self._h, self._sp_id, self._bref)

    @property
    def retval(self) -> int:
        b = self._buf
        b.value = 0
        N.reg_read(self._h, self._ax_id, self._bref)
        return b.value

    @retval.setter
    def retval(self, v: int) -> None:
        self._buf.value = v & self._mask
        N.reg_write(self._h, self._ax_id, self._bref)

    def push(self, v: int) -> None:
        sp = (self.sp - self.ptr_size) & self._mask
        self.write_ptr(sp, v)
        self.sp = sp

    def pop(self) -> int:
        sp = self.sp
        v = self.read_ptr(sp)
        self.sp = sp + self.ptr_size
        return v

    # ---------------------------------------------------------------------------------------- segments
    def setup_segments(self, teb_va: int, gdt_va: int) -> None:
        """Build a Windows-like GDT in the (caller-mapped) page at `gdt_va`, drop the CPU to ring 3 and
        point FS (x86) / GS (x64) at the TEB.  The GDT page is left PROT_READ|PROT_WRITE (descriptor
        loads read it); user code can read it too (Unicorn has no U/S page bit without paging)."""
        if gdt_va % PAGE:
            raise ValueError("gdt_va must be page aligned")
        self.gdt_va = gdt_va
        gdt = bytearray(_GDT_LIMIT + 1)
        if self.is64:
            _put(gdt, X64_R0_CODE, _desc(0, 0, 0x9B, 0x2))     # L=1
            _put(gdt, X64_R0_DATA, _desc(0, 0xFFFFF, 0x93, 0xC))
            _put(gdt, X64_R3_CMCODE, _desc(0, 0xFFFFF, 0xFB, 0xC))
            _put(gdt, X64_R3_DATA, _desc(0, 0xFFFFF, 0xF3, 0xC))
            _put(gdt, X64_R3_CODE, _desc(0, 0, 0xFB, 0x2))
            _put(gdt, X64_R3_CMTEB, _desc(0, 0xFFF, 0xF3, 0x4))
        else:
            _put(gdt, X86_R0_CODE, _desc(0, 0xFFFFF, 0x9B, 0xC))
            _put(gdt, X86_R0_DATA, _desc(0, 0xFFFFF, 0x93, 0xC))
            _put(gdt, X86_R3_CODE, _desc(0, 0xFFFFF, 0xFB, 0xC))
            _put(gdt, X86_R3_DATA, _desc(0, 0xFFFFF, 0xF3, 0xC))
            _put(gdt, X86_R3_TEB, _desc(teb_va, 0xFFF, 0xF3, 0x4))
        self.mem_protect(gdt_va, PAGE, PROT_ALL)
        self.mem_write(gdt_va, bytes(gdt))
        self.uc.reg_write(X.UC_X86_REG_GDTR, (0, gdt_va, _GDT_LIMIT, 0))
        saved = {n: self.reg(n) for n in (("rax", "rcx", "rdx", "rsp", "rip", "rflags") if self.is64
                                          else ("eax", "ecx", "edx", "esp", "eip", "eflags"))}
        boot = gdt_va + _BOOT_OFF
        stack = gdt_va + _BOOT_STACK
        target = boot + 0x100        # iret lands here: that is the `until` of the bootstrap run
        if self.is64:
            self.uc.reg_write(X.UC_X86_REG_SS, X64_R0_DATA)
            # push 0x2b ; push rsp ; push 0x202 ; push 0x33 ; mov rax, target ; push rax ; iretq
            code = (b"\x6a" + bytes([X64_R3_DATA]) + b"\x54" + b"\x68" + struct.pack("<I", 0x202)
                    + b"\x6a" + bytes([X64_R3_CODE]) + b"\x48\xb8" + struct.pack("<Q", target) + b"\x50\x48\xcf")
        else:
            self.uc.reg_write(X.UC_X86_REG_SS, X86_R0_DATA)
            self.uc.reg_write(X.UC_X86_REG_CS, X86_R0_CODE)
            for seg in (X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_GS):
                self.uc.reg_write(seg, X86_R3_DATA)
            self.uc.reg_write(X.UC_X86_REG_FS, X86_R3_TEB)
            code = (b"\x6a" + bytes([X86_R3_DATA]) + b"\x54" + b"\x68" + struct.pack("<I", 0x202)
                    + b"\x6a" + bytes([X86_R3_CODE]) + b"\x68" + struct.pack("<I", target) + b"\xcf")
        if gdt_va + _BOOT_OFF + 0x100 + 1 > gdt_va + PAGE or (not self.is64 and target > 0xFFFFFFFF):
            raise ValueError("bad gdt_va")
        self.mem_write(boot, code)
        self.mem_write(target, b"\x90")
        self.sp = stack
        reason = self.run(boot, until=target, max_instructions=0)
        if reason.kind != "until":
            raise CpuError(nt.STATUS_UNSUCCESSFUL, f"ring-3 bootstrap failed: {reason}")
        self.mem_write(gdt_va + _BOOT_OFF, b"\0" * (PAGE - _BOOT_OFF))
        self.mem_protect(gdt_va, PAGE, PROT_READ | PROT_WRITE)
        self.user_mode = True
        if self.is64:
            self.uc.reg_write(X.UC_X86_REG_DS, X64_R3_DATA)
            self.uc.reg_write(X.UC_X86_REG_ES, X64_R3_DATA)
            self.uc.reg_write(X.UC_X86_REG_FS, X64_R3_CMTEB)
            self.uc.reg_write(X.UC_X86_REG_GS, X64_R3_DATA)
            self.uc.reg_write(X.UC_X86_REG_FS_BASE, 0)
        for n, v in saved.items():
            if n in ("eflags", "rflags"):
                v = (v & ~0x3000) | 0x202   # IOPL 0, IF set: in/out/cli fault as on Windows
            self.set_reg(n, v)
        self.set_teb(teb_va)

    def set_teb(self, teb_va: int, host: Optional[tuple[Any, int]] = None) -> None:
        """Point FS (x86) / GS (x64) at the running thread's TEB.  ``host``: (buffer, offset of the TEB)
        when the TEB's memory is reachable from Python; API traps then use its frame (TRAP_FRAME)."""
        self.teb_va = teb_va
        self.teb_host = host
        self._frame = None if host is None else (host[0], host[1] + TRAP_FRAME[self.arch])
        if self.is64:
            self.uc.reg_write(X.UC_X86_REG_GS_BASE, teb_va)
            return
        if self.gdt_va is None:
            raise CpuError(nt.STATUS_UNSUCCESSFUL, "set_teb before setup_segments")
        self.mem_write(self.gdt_va + (X86_R3_TEB & ~7), _desc(teb_va, 0xFFF, 0xF3, 0x4))
        self.uc.reg_write(X.UC_X86_REG_FS, X86_R3_TEB)

    # ---------------------------------------------------------------------------------------- context
    def save_context(self) -> Context:
        regs = {}
        for name in context_fields(self.is64):
            regs[name] = self.reg(name)
        return Context(self.arch, regs)

    def restore_context(self, ctx: Context) -> None:
        if ctx.arch != self.arch:
            raise ValueError("context of another architecture")
        r = ctx.regs
        # Segment selectors first (a selector load reloads the hidden base), bases after.
        for seg in ("ds", "es", "gs", "fs", "ss", "cs"):
            if seg in r and r[seg] != self.reg(seg):
                if seg == "fs" and not self.is64:
                    continue   # handled with fs_base through the GDT below
                self.set_reg(seg, r[seg])
        if self.is64:
            self.set_reg("fs_base", r["fs_base"])
            self.set_reg("gs_base", r["gs_base"])
        else:
            if self.gdt_va is not None and r["fs"] == X86_R3_TEB:
                if r["fs_base"] != self.reg("fs_base") or self.reg("fs") != X86_R3_TEB:
                    host = self.teb_host if r["fs_base"] == self.teb_va else None
                    self.set_teb(r["fs_base"], host)
            elif r["fs"] != self.reg("fs"):
                self.set_reg("fs", r["fs"])
        for name in ("fpcw", "fpsw", "fptag", "mxcsr"):
            self.set_reg(name, r[name])
        skip = {"cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base", "fpcw", "fpsw", "fptag", "mxcsr"}
        for name, v in r.items():
            if name not in skip:
                self.set_reg(name, v)
        # fptag last again: writing ST registers may retag them
        self.set_reg("fptag", r["fptag"])

    # ---------------------------------------------------------------------------------------- misc
    def _insn_at(self, addr: int):
        code = self._peek(addr, 16)
        if not code:
            return None
        for insn in self._cs().disasm(code, addr, 1):
            return insn
        return None

    def _cs(self):
        if self._cs_engine is None:
            import capstone
            self._cs_engine = capstone.Cs(capstone.CS_ARCH_X86,
                                          capstone.CS_MODE_64 if self.is64 else capstone.CS_MODE_32)
        return self._cs_engine

    def disassemble(self, addr: int, count: int = 1) -> list[str]:
        out: list[str] = []
        while len(out) < count:
            code = self._peek(addr, 16 * (count - len(out)))
            if not code:
                # read up to the end of the mapped part of this page
                code = self._peek(addr, PAGE - addr % PAGE)
            if not code:
                out.append(f"{addr:#x}: <unmapped>")
                break
            n0 = len(out)
            for insn in self._cs().disasm(code, addr, count - len(out)):
                out.append(f"{insn.address:#x}: {insn.mnemonic} {insn.op_str}".rstrip())
                addr = insn.address + insn.size
            if len(out) == n0:
                out.append(f"{addr:#x}: (bad) {code[:1].hex()}")
                break
        return out

    def close(self) -> None:
        self._host.clear()


# ---------------------------------------------------------------------------------------------------
def _desc(base: int, limit: int, access: int, flags: int) -> bytes:
    return struct.pack("<Q", (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (access << 40)
                       | (((limit >> 16) & 0xF) << 48) | (flags << 52) | (((base >> 24) & 0xFF) << 56))


def _put(gdt: bytearray, sel: int, d: bytes) -> None:
    i = sel & ~7
    gdt[i:i + 8] = d


def _check_aligned(addr: int, size: int) -> None:
    if addr % PAGE or size % PAGE or size <= 0:
        raise CpuError(nt.STATUS_INVALID_PARAMETER, f"unaligned range {addr:#x}+{size:#x}", addr)


def _host_pointer(host: Any) -> tuple[int, Any]:
    """(address, object to keep referenced) for a ctypes object, a writable buffer (mmap, bytearray)
    or a raw integer address."""
    if isinstance(host, int):
        return host, None
    if isinstance(host, ctypes._SimpleCData) or isinstance(host, (ctypes.Array, ctypes.Structure, ctypes.Union)):
        return ctypes.addressof(host), host
    view = (ctypes.c_char * 1).from_buffer(host)   # raises for read-only buffers
    return ctypes.addressof(view), (host, view)
