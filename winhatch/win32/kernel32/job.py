"""kernel32 / kernelbase: job objects — CreateJobObject, OpenJobObject, AssignProcessToJobObject,
TerminateJobObject, IsProcessInJob, QueryInformationJobObject, SetInformationJobObject — over the process
manager's job services (winhatch/kernel/ps/job.py)."""
from __future__ import annotations

from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, sa_inherit
from winhatch.win32.kernel32.sync import object_path

JOB_OBJECT_ALL_ACCESS = 0x1F003F
OBJ_CASE_INSENSITIVE, OBJ_INHERIT, OBJ_OPENIF = 0x40, 0x2, 0x80
STATUS_OBJECT_NAME_EXISTS = 0x40000000
STATUS_PROCESS_IN_JOB = 0x00000123
ERROR_ALREADY_EXISTS = 183


def _failed(c, st: int) -> bool:
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return True
    return False


@api(K32, "HANDLE WINAPI CreateJobObject%(LPSECURITY_ATTRIBUTES lpJobAttributes, LPCTSTR lpName)")
def CreateJobObject(c, sa, name):
    """A new job (a named one opened if it exists: ERROR_ALREADY_EXISTS), with all access."""
    attrs = OBJ_OPENIF | (OBJ_INHERIT if sa_inherit(c, sa) else 0)
    oa = c.object_attributes(c.unicode_string(object_path(c, name)) if name else 0, attrs)
    out = c.stack_alloc(c.ptr_size)
    st = c.nt("NtCreateJobObject", out, JOB_OBJECT_ALL_ACCESS, oa)
    if _failed(c, st):
        return 0
    c.set_last_error(ERROR_ALREADY_EXISTS if st == STATUS_OBJECT_NAME_EXISTS else 0)
    return c.ptr(out)


@api(K32, "HANDLE WINAPI OpenJobObject%(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCTSTR lpName)")
def OpenJobObject(c, access, inherit, name):
    if not name:
        c.set_last_error(87)
        return 0
    oa = c.object_attributes(c.unicode_string(object_path(c, name)),
                             OBJ_CASE_INSENSITIVE | (OBJ_INHERIT if inherit else 0))
    out = c.stack_alloc(c.ptr_size)
    if _failed(c, c.nt("NtOpenJobObject", out, access, oa)):
        return 0
    return c.ptr(out)


@api(K32, "BOOL WINAPI AssignProcessToJobObject(HANDLE hJob, HANDLE hProcess)")
def AssignProcessToJobObject(c, job, process):
    return 0 if _failed(c, c.nt("NtAssignProcessToJobObject", job, process)) else 1


@api(K32, "BOOL WINAPI TerminateJobObject(HANDLE hJob, UINT uExitCode)")
def TerminateJobObject(c, job, code):
    return 0 if _failed(c, c.nt("NtTerminateJobObject", job, code)) else 1


@api(K32, "BOOL WINAPI IsProcessInJob(HANDLE ProcessHandle, HANDLE JobHandle, PBOOL Result)")
def IsProcessInJob(c, process, job, result):
    st = c.nt("NtIsProcessInJob", process, job)
    if _failed(c, st):
        return 0
    c.write_u32(result, 1 if st == STATUS_PROCESS_IN_JOB else 0)
    return 1


@api(K32, "BOOL WINAPI QueryInformationJobObject(HANDLE hJob, JOBOBJECTINFOCLASS JobObjectInformationClass, "
     "LPVOID lpJobObjectInformation, DWORD cbJobObjectInformationLength, LPDWORD lpReturnLength)")
def QueryInformationJobObject(c, job, cls, info, size, pret):
    """NtQueryInformationJobObject; a NULL hJob is the caller's own job."""
    ret = c.stack_alloc(4)
    st = c.nt("NtQueryInformationJobObject", job, cls, info, size, ret)
    if pret:
        c.write_u32(pret, c.u32(ret))
    return 0 if _failed(c, st) else 1


@api(K32, "BOOL WINAPI SetInformationJobObject(HANDLE hJob, JOBOBJECTINFOCLASS JobObjectInformationClass, "
     "LPVOID lpJobObjectInformation, DWORD cbJobObjectInformationLength)")
def SetInformationJobObject(c, job, cls, info, size):
    return 0 if _failed(c, c.nt("NtSetInformationJobObject", job, cls, info, size)) else 1
