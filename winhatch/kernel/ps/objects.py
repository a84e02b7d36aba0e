"""Executive process and thread objects (EPROCESS / ETHREAD, with their KPROCESS / KTHREAD parts).

State lives here; the guest-visible halves (PEB, TEB, stacks) live in guest memory and these objects only
hold their addresses.
"""
from __future__ import annotations

from typing import Any

from winhatch._record import NEW, Record
from winhatch.kernel.ob import HandleTable, KObject
from winhatch.ntstatus import STATUS_PENDING

# Priority classes (PROCESS_PRIORITY_CLASS_*) and their base priorities, as CreateProcess maps them.
PRIORITY_BASE = {"idle": 4, "below_normal": 6, "normal": 8, "above_normal": 10, "high": 13, "realtime": 24}


class Process(KObject):
    type_name = "Process"

    def __init__(self, *, image_name: str, parent: "Process | None", arch: str | None):
        super().__init__()
        self.image_name = image_name  # base name, e.g. hello.exe (EPROCESS.ImageFileName)
        self.image_path = ""  # the Win32 path of the image file
        self.command_line = ""
        self.arch = arch  # "x86" | "x64" | None for the system's own pseudo-processes
        self.pid = 0
        self.parent = parent
        self.inherited_from_pid = parent.pid if parent else 0  # InheritedFromUniqueProcessId
        self.exit_status = STATUS_PENDING
        self.exited = False
        # NtTerminateProcess(NULL) began the process's exit (ExitProcess's first step): no new threads
        self.exiting = False
        self.priority_class = "normal"
        self.base_priority = 8
        self.quantum = 6  # KeInitializeProcess hard-codes 6 until PspComputeQuantum runs
        self.affinity = parent.affinity if parent else 0b11
        self.io_priority = parent.io_priority if parent else 2
        self.page_priority = parent.page_priority if parent else 5
        self.session_id = parent.session_id if parent else 1
        self.token = parent.token if parent else {"user": "user", "integrity": "medium", "privileges": set()}
        self.job = parent.job if parent else None
        self.quota_block = parent.quota_block if parent else {"owner": "system"}
        self.min_working_set = 50 * 4096  # PspMinimumWorkingSet (pages) default
        self.max_working_set = 345 * 4096  # PspMaximumWorkingSet default
        self.debug_port = None
        self.debug_frozen = 0  # events of this process queued on its debug port and not continued yet
        self.handles = HandleTable()
        self.threads: list["Thread"] = []
        self.cpu = None  # winhatch.cpu.Cpu: the address space as Unicorn sees it
        self.aspace = None  # winhatch.kernel.mm.AddressSpace
        self.image_section = None
        self.image_base = 0
        self.peb = 0
        self.ntdll_base = 0
        self.kuser_shared = None  # host buffer of KUSER_SHARED_DATA mapped read-only
        self.parameters = None  # ProcessParametersInfo (Python view of what was written into the PEB)
        self.create_flags = 0
        self.csr = None  # CSR_PROCESS record (stage 5)
        self.subsystem: dict[str, Any] = {}  # per-process state of the layers above (loader, win32): owned by them
        self.creation_time = 0
        self.exit_time = 0
        # CPU time of all its threads, exited ones included (GetProcessTimes): instructions run in user mode
        # (in ns of the emulated clock) and the time charged for system calls (100 ns units)
        self.user_ns = 0
        self.kernel_time = 0
        self.console = None

    @property
    def is_wow64(self) -> bool:
        return self.arch == "x86"

    def signaled(self) -> bool:
        return self.exited

    def __repr__(self) -> str:
        return f"<Process {self.image_name} pid={self.pid}>"


class ThreadStack(Record):
    _fields = ("base", "limit", "reserve_base", "reserve", "commit")

    def __init__(self, base: int, limit: int, reserve_base: int, reserve: int, commit: int) -> None:
        self.base = base  # StackBase (highest address)
        self.limit = limit  # StackLimit (lowest committed)
        self.reserve_base = reserve_base  # DeallocationStack (allocation base)
        self.reserve = reserve
        self.commit = commit


class Thread(KObject):
    type_name = "Thread"

    def __init__(self, process: Process):
        super().__init__()
        self.process = process
        self.tid = 0
        self.teb = 0
        self.teb_host = None  # (buffer, offset): the TEB's host memory (winhatch.kernel.mm HostMemory)
        self.stack_host = None  # (buffer, offset - address, low, high): the stack's host memory
        self.call_objects: dict = {}  # per declared API: its Call object on this thread (winhatch.win32.api)
        self.stack: ThreadStack | None = None
        self.context = None  # saved winhatch.cpu.Context while not running
        self.start_address = 0  # the Win32 start address (image entry point for the initial thread)
        self.start_parameter = 0
        self.suspend_count = 0
        self.exit_status = STATUS_PENDING
        self.terminated = False
        self.started = False  # KiStartUserThread ran
        self.creation_time = 0     # system time (FILETIME units) of PspCreateThread
        self.user_ns = 0           # GetThreadTimes: its instructions, in ns of the emulated clock
        self.kernel_time = 0       # and the time charged for its system calls (100 ns units)
        self.priority = process.base_priority
        self.initial = False
        self.csr = None
        self.wait = None  # what the thread is blocked on, for the scheduler
        self.debug_held = 0  # its debug events not continued yet (it waits for the debugger's reply)
        #: its place in the dispatcher's ready queue: when its last slice began, or when the dispatcher first saw
        #: it runnable (0: not yet); the least recent goes first among equal priorities (Dispatcher._order)
        self.ready_seq = 0

    def signaled(self) -> bool:
        return self.terminated

    def on_delete(self) -> None:
        # the reference PspCreateThread took on the process for this thread object
        if getattr(self, "holds_process", False):
            self.holds_process = False
            self.process.dereference()

    @property
    def runnable(self) -> bool:
        return (not self.terminated and self.suspend_count == 0 and self.wait is None
                and not self.debug_held and not self.process.debug_frozen)

    def __repr__(self) -> str:
        return f"<Thread tid={self.tid} of pid={self.process.pid}>"


class CsrProcess(Record):
    """CSR_PROCESS: the Windows subsystem's record of a process (stage 5)."""

    _fields = ("pid", "shutdown_level", "shutdown_flags", "process_group_id", "threads", "console")

    def __init__(self, pid: int, shutdown_level: int = 0x280, shutdown_flags: int = 0, process_group_id: int = 0,
                 threads: list = NEW, console: Any = None) -> None:
        self.pid = pid
        self.shutdown_level = shutdown_level
        self.shutdown_flags = shutdown_flags
        self.process_group_id = process_group_id
        self.threads = [] if threads is NEW else threads
        self.console = console


class CsrThread(Record):
    _fields = ("tid", "pid")

    def __init__(self, tid: int, pid: int) -> None:
        self.tid = tid
        self.pid = pid
