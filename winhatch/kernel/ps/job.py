"""Job objects (PsJob): a group of processes with limits, accounting and a completion port — and their system
services NtCreateJobObject, NtOpenJobObject, NtAssignProcessToJobObject, NtIsProcessInJob,
NtQueryInformationJobObject, NtSetInformationJobObject, NtTerminateJobObject.

What is modelled, as Microsoft documents it:
- membership: a process joins one job (a second assignment fails with STATUS_ACCESS_DENIED; nested jobs are
  not modelled) and its children are created in it (Process.__init__ inherits `job`) unless
  CREATE_BREAKAWAY_FROM_JOB is asked and the job allows it (JOB_OBJECT_LIMIT_BREAKAWAY_OK), or the job gives
  JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK;
- JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: closing the job's last handle terminates its processes (exit status 0);
- JOB_OBJECT_LIMIT_ACTIVE_PROCESS: a process beyond the limit is not created (ERROR_NOT_ENOUGH_QUOTA);
- the completion port (JobObjectAssociateCompletionPortInformation) gets JOB_OBJECT_MSG_NEW_PROCESS,
  JOB_OBJECT_MSG_EXIT_PROCESS / ABNORMAL_EXIT_PROCESS and JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO with the
  completion key and the process id;
- nested jobs (Windows 8+): a process in a job may be assigned to an empty job, which becomes nested in its
  innermost one, or to a job below it; a member of a nested job is a member of every job above it;
- queries: basic accounting (process counts; CPU times are the processes' own), basic and extended limits,
  the process id list; other classes stop loudly.
"""
from __future__ import annotations

import struct

from winhatch.kernel.ke.services import kernel_service, process_from_handle, unsupported, user_read, user_write
from winhatch.kernel.ob import KObject
from winhatch.ntstatus import NtStatusError

JOB_OBJECT_ASSIGN_PROCESS, JOB_OBJECT_SET_ATTRIBUTES, JOB_OBJECT_QUERY, JOB_OBJECT_TERMINATE = 0x1, 0x2, 0x4, 0x8
PROCESS_SET_QUOTA, PROCESS_TERMINATE = 0x0100, 0x0001
JOB_OBJECT_LIMIT_ACTIVE_PROCESS = 0x8
JOB_OBJECT_LIMIT_BREAKAWAY_OK = 0x800
JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK = 0x1000
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO, JOB_OBJECT_MSG_NEW_PROCESS = 4, 6
JOB_OBJECT_MSG_EXIT_PROCESS, JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS = 7, 8
(JobObjectBasicAccountingInformation, JobObjectBasicLimitInformation, JobObjectBasicProcessIdList,
 JobObjectBasicUIRestrictions) = 1, 2, 3, 4
JobObjectAssociateCompletionPortInformation = 7
JobObjectBasicAndIoAccountingInformation = 8
JobObjectExtendedLimitInformation = 9
STATUS_INVALID_INFO_CLASS = 0xC0000003
STATUS_INFO_LENGTH_MISMATCH = 0xC0000004
STATUS_ACCESS_DENIED = 0xC0000022
STATUS_PROCESS_IN_JOB, STATUS_PROCESS_NOT_IN_JOB = 0x00000123, 0x00000122
STATUS_BUFFER_OVERFLOW = 0x80000005
#: exit statuses Windows reports as a normal exit in JOB_OBJECT_MSG_EXIT_PROCESS (others are abnormal)
_NORMAL_EXIT_LIMIT = 0xC0000000


class Job(KObject):
    type_name = "Job"

    def __init__(self, machine, name: str | None = None):
        super().__init__(name)
        self.machine = machine
        self.processes: list = []          # members, in assignment order (dead ones stay for accounting)
        self.total_processes = 0
        self.terminated_processes = 0
        self.limit_flags = 0
        self.active_process_limit = 0
        self.basic_limits = b""            # the JOBOBJECT_BASIC_LIMIT_INFORMATION last set (arch layout)
        self.extended_tail = b""           # IO_COUNTERS + memory limits of the extended form
        self.ui_restrictions = 0
        self.port = None                   # (IoCompletion, key)
        self.parent_job = None             # the job this one is nested in (Windows 8+ job hierarchies)

    def chain(self) -> list:
        """This job and the jobs it is nested in, innermost first (bounded: a hierarchy is a tree)."""
        out, j = [], self
        while j is not None and len(out) < 64:
            out.append(j)
            j = j.parent_job
        return out

    def active(self) -> list:
        return [p for p in self.processes if not p.exited]

    def signaled(self) -> bool:
        """A job is signalled once it is terminated (TerminateJobObject; the end-of-job time limit, not
        modelled, would too) and stays so: a member ending by itself does not signal it, a new member does not
        reset it (Wine's kernel32/tests/process.c test_WaitForJobObject on Windows)."""
        return getattr(self, "signal_state", False)

    # -- membership -------------------------------------------------------------------------------------------
    def add(self, proc) -> None:
        """The process joins this job, its innermost, and through it every job this one is nested in (each
        that did not have it counts it and posts JOB_OBJECT_MSG_NEW_PROCESS, innermost first)."""
        proc.job = self
        for j in self.chain():
            if proc in j.processes:
                continue
            j.processes.append(proc)
            j.total_processes += 1
            j.post(JOB_OBJECT_MSG_NEW_PROCESS, proc.pid)

    def post(self, message: int, value: int) -> None:
        if self.port is None:
            return
        from winhatch.kernel.io.completion import Packet
        port, key = self.port
        # a job's packet: the message in the byte count, the key, the process id as the OVERLAPPED pointer
        port.insert(Packet(key, value, 0, message))

    def process_exited(self, proc) -> None:
        """A member ended: the exit message, then ACTIVE_PROCESS_ZERO when it was the last one running — in
        this job and each job it is nested in."""
        msg = (JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS if proc.exit_status >= _NORMAL_EXIT_LIMIT
               else JOB_OBJECT_MSG_EXIT_PROCESS)
        for j in self.chain():
            j.post(msg, proc.pid)
            if not j.active():
                j.post(JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO, 0)

    def terminate(self, status: int, caller=None) -> bool:
        """End every running member with `status`; True when the caller's own process was among them (it
        ends when the service returns)."""
        own = False
        for p in list(self.active()):
            if caller is not None and p is caller.process:
                own = True
                continue
            self.machine.terminate_process(p, status)
        self.signal_state = True
        self.machine.dispatcher.signal_waiters()
        return own

    def on_last_handle_close(self) -> None:
        if self.limit_flags & JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE:
            self.terminate(0)

    def describe(self) -> str:
        return f"job ({len(self.active())} active processes)"


def job_allows_child(parent, creation_flags: int):
    """The job a new child of `parent` joins (None: none), or raises NtStatusError when the job refuses it: the
    breakaway rules and the active-process limit (PspInsertProcess's checks)."""
    job = getattr(parent, "job", None)
    if job is None:
        return None
    breakaway = bool(creation_flags & 0x01000000)   # CREATE_BREAKAWAY_FROM_JOB
    if breakaway and not job.limit_flags & (JOB_OBJECT_LIMIT_BREAKAWAY_OK | JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK):
        raise NtStatusError(STATUS_ACCESS_DENIED, "the job does not allow breakaway")
    # the child leaves each job of the hierarchy, innermost first, that lets it (silently, or on request when
    # breakaway is allowed) and lands in the first that does not (None: out of every job)
    for _ in range(64):
        if job is None:
            return None
        if job.limit_flags & JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK or \
                (breakaway and job.limit_flags & JOB_OBJECT_LIMIT_BREAKAWAY_OK):
            job = job.parent_job
            continue
        break
    if job.limit_flags & JOB_OBJECT_LIMIT_ACTIVE_PROCESS and len(job.active()) >= job.active_process_limit:
        raise NtStatusError(0xC0000044, "the job's active-process limit")   # STATUS_QUOTA_EXCEEDED
    return job


# -- the services ---------------------------------------------------------------------------------------------------
def _ps(thread) -> int:
    return 8 if thread.process.arch == "x64" else 4


def _job(thread, handle: int, access: int) -> Job:
    return thread.process.handles.lookup(handle, "Job", access, current_process=thread.process,
                                         current_thread=thread)


@kernel_service("NtCreateJobObject")
def NtCreateJobObject(machine, thread, JobHandle, DesiredAccess, ObjectAttributes):
    # named through the object manager like every other object (RootDirectory, OBJ_OPENIF, type mismatches)
    from winhatch.kernel.ob.services import insert_object
    return insert_object(machine, thread, Job(machine), ObjectAttributes, DesiredAccess & 0xFFFFFFFF, JobHandle)


@kernel_service("NtOpenJobObject")
def NtOpenJobObject(machine, thread, JobHandle, DesiredAccess, ObjectAttributes):
    from winhatch.kernel.ob.services import open_object
    return open_object(machine, thread, ObjectAttributes, "Job", DesiredAccess & 0xFFFFFFFF, JobHandle)


@kernel_service("NtAssignProcessToJobObject")
def NtAssignProcessToJobObject(machine, thread, JobHandle, ProcessHandle):
    job = _job(thread, JobHandle, JOB_OBJECT_ASSIGN_PROCESS)
    proc = process_from_handle(thread, ProcessHandle, PROCESS_SET_QUOTA | PROCESS_TERMINATE)
    mine = getattr(proc, "job", None)
    if proc.exited:
        return STATUS_ACCESS_DENIED
    if mine is not None:
        # Windows 8+ job hierarchies: a process already in a job may join a job of its hierarchy (one of its
        # jobs: nothing to do; one nested below its innermost job: it moves down), or an empty job, which
        # becomes nested in the process's innermost job; any other is STATUS_ACCESS_DENIED
        if job in mine.chain():
            return 0
        if mine in job.chain()[1:]:
            pass
        elif not job.processes and job.parent_job is None and mine not in job.chain():
            job.parent_job = mine
        else:
            return STATUS_ACCESS_DENIED
    if job.limit_flags & JOB_OBJECT_LIMIT_ACTIVE_PROCESS and len(job.active()) >= job.active_process_limit:
        machine.terminate_process(proc, 0xC0000044)   # Windows ends a process the limit does not admit
        return 0xC0000044
    job.add(proc)
    return 0


@kernel_service("NtIsProcessInJob")
def NtIsProcessInJob(machine, thread, ProcessHandle, JobHandle):
    proc = process_from_handle(thread, ProcessHandle, 0x1000)   # PROCESS_QUERY_LIMITED_INFORMATION
    mine = getattr(proc, "job", None)
    if JobHandle:
        job = _job(thread, JobHandle, JOB_OBJECT_QUERY)
        return STATUS_PROCESS_IN_JOB if mine is not None and job in mine.chain() else STATUS_PROCESS_NOT_IN_JOB
    return STATUS_PROCESS_IN_JOB if mine is not None else STATUS_PROCESS_NOT_IN_JOB


@kernel_service("NtTerminateJobObject")
def NtTerminateJobObject(machine, thread, JobHandle, ExitStatus):
    from winhatch.kernel.ke.dispatcher import ProcessExit
    job = _job(thread, JobHandle, JOB_OBJECT_TERMINATE)
    if job.terminate(ExitStatus & 0xFFFFFFFF, caller=thread):
        raise ProcessExit(ExitStatus & 0xFFFFFFFF)
    return 0


def _basic_limit_size(ps: int) -> int:
    # PerProcessUserTimeLimit, PerJobUserTimeLimit (8 each), LimitFlags, [pad], MinimumWorkingSetSize,
    # MaximumWorkingSetSize, ActiveProcessLimit, [pad], Affinity, PriorityClass, SchedulingClass
    return 64 if ps == 8 else 48


def _extended_size(ps: int) -> int:
    # the basic limits, IO_COUNTERS (6 × 8), ProcessMemoryLimit, JobMemoryLimit, PeakProcessMemoryUsed,
    # PeakJobMemoryUsed (pointer-sized each)
    return _basic_limit_size(ps) + 48 + 4 * ps


def _limits_blob(job: Job, ps: int) -> bytes:
    blob = bytearray(job.basic_limits.ljust(_basic_limit_size(ps), b"\0"))
    struct.pack_into("<I", blob, 16, job.limit_flags)
    return bytes(blob)


@kernel_service("NtQueryInformationJobObject")
def NtQueryInformationJobObject(machine, thread, JobHandle, JobObjectInformationClass, JobObjectInformation,
                                JobObjectInformationLength, ReturnLength):
    cls = JobObjectInformationClass & 0xFFFFFFFF
    ps = _ps(thread)
    if JobHandle:
        job = _job(thread, JobHandle, JOB_OBJECT_QUERY)
    else:
        job = getattr(thread.process, "job", None)
        if job is None:
            return 0xC000000D   # no job of its own: STATUS_INVALID_PARAMETER (ERROR_INVALID_PARAMETER, as Wine answers)
    length = JobObjectInformationLength & 0xFFFFFFFF
    if cls == JobObjectBasicAccountingInformation:
        user = sum(getattr(p, "user_time", 0) or 0 for p in job.processes)
        kernel = sum(getattr(p, "kernel_time", 0) or 0 for p in job.processes)
        data = struct.pack("<QQQQIIII", user, kernel, 0, 0, 0, job.total_processes, len(job.active()),
                           job.terminated_processes)
    elif cls == JobObjectBasicLimitInformation:
        data = _limits_blob(job, ps)
    elif cls == JobObjectExtendedLimitInformation:
        data = _limits_blob(job, ps) + job.extended_tail.ljust(48 + 4 * ps, b"\0")
    elif cls == JobObjectBasicProcessIdList:
        active = job.active()
        head = 8
        if length < head + ps:      # less than sizeof(JOBOBJECT_BASIC_PROCESS_ID_LIST), its one-entry array
            return STATUS_INFO_LENGTH_MISMATCH
        fit = min(len(active), (length - head) // ps)
        data = struct.pack("<II", len(active), fit) + b"".join(p.pid.to_bytes(ps, "little") for p in active[:fit])
        user_write(thread.process, JobObjectInformation, data)
        if ReturnLength:
            user_write(thread.process, ReturnLength, struct.pack("<I", len(data)))
        return STATUS_BUFFER_OVERFLOW if fit < len(active) else 0
    elif cls == JobObjectBasicUIRestrictions:
        data = struct.pack("<I", job.ui_restrictions)
    else:
        unsupported(thread, "NtQueryInformationJobObject", f"information class {cls}")
        return STATUS_INVALID_INFO_CLASS
    if length < len(data):
        return STATUS_INFO_LENGTH_MISMATCH
    user_write(thread.process, JobObjectInformation, data)
    if ReturnLength:
        user_write(thread.process, ReturnLength, struct.pack("<I", len(data)))
    return 0


#: the limit flags winhatch enforces or that only describe (memory, time and priority limits are kept and
#: reported, not enforced: an emulated process is bounded by winhatch's own caps)
_KNOWN_LIMITS = 0x7FFF


@kernel_service("NtSetInformationJobObject")
def NtSetInformationJobObject(machine, thread, JobHandle, JobObjectInformationClass, JobObjectInformation,
                              JobObjectInformationLength):
    cls = JobObjectInformationClass & 0xFFFFFFFF
    ps = _ps(thread)
    job = _job(thread, JobHandle, JOB_OBJECT_SET_ATTRIBUTES)
    length = JobObjectInformationLength & 0xFFFFFFFF
    if cls in (JobObjectBasicLimitInformation, JobObjectExtendedLimitInformation):
        need = _basic_limit_size(ps) if cls == JobObjectBasicLimitInformation else _extended_size(ps)
        if length != need:
            return STATUS_INFO_LENGTH_MISMATCH
        raw = user_read(thread.process, JobObjectInformation, need)
        flags = struct.unpack_from("<I", raw, 16)[0]
        if cls == JobObjectBasicLimitInformation and flags & ~0xFF:
            return 0xC000000D   # the extended flags need the extended class (STATUS_INVALID_PARAMETER)
        if flags & ~_KNOWN_LIMITS:
            return 0xC000000D
        job.limit_flags = flags
        job.basic_limits = raw[:_basic_limit_size(ps)]
        off_active = 20 + (4 if ps == 8 else 0) + 2 * ps   # ActiveProcessLimit: 40 (x64), 28 (x86)
        job.active_process_limit = struct.unpack_from("<I", raw, off_active)[0]
        if cls == JobObjectExtendedLimitInformation:
            job.extended_tail = raw[_basic_limit_size(ps):]
        return 0
    if cls == JobObjectAssociateCompletionPortInformation:
        if length != 2 * ps:
            return STATUS_INFO_LENGTH_MISMATCH
        raw = user_read(thread.process, JobObjectInformation, 2 * ps)
        key = int.from_bytes(raw[:ps], "little")
        port_handle = int.from_bytes(raw[ps:], "little")
        if job.port is not None:
            return STATUS_ACCESS_DENIED if port_handle else 0   # a port is associated once (NULL: ignored)
        if not port_handle:
            return 0xC000000D
        port = thread.process.handles.lookup(port_handle, "IoCompletion", 0x2,   # IO_COMPLETION_MODIFY_STATE
                                             current_process=thread.process, current_thread=thread)
        job.port = (port, key)
        for p in job.active():   # the members it already has are announced
            job.post(JOB_OBJECT_MSG_NEW_PROCESS, p.pid)
        return 0
    if cls == JobObjectBasicUIRestrictions:
        if length != 4:
            return STATUS_INFO_LENGTH_MISMATCH
        job.ui_restrictions = struct.unpack("<I", user_read(thread.process, JobObjectInformation, 4))[0]
        return 0
    unsupported(thread, "NtSetInformationJobObject", f"information class {cls}")
    return STATUS_INVALID_INFO_CLASS
