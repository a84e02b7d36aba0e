"""Directory change notifications over NtNotifyChangeDirectoryFile (winhatch.kernel.io.notify), as kernelbase
builds them: FindFirstChangeNotification opens the directory (asynchronous I/O) and issues a request with no
buffer, whose completion signals the directory handle itself (the handle returned); FindNextChangeNotification
issues the next one; FindCloseChangeNotification closes the handle. ReadDirectoryChangesW returns the
FILE_NOTIFY_INFORMATION records (synchronously on a synchronous handle, or through an OVERLAPPED / completion
routine)."""
from __future__ import annotations

from winhatch.kernel.io import paths as P
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, cwd

INVALID = 0xFFFFFFFF_FFFFFFFF
FILE_LIST_DIRECTORY = 0x1
SYNCHRONIZE = 0x100000
FILE_SHARE_ALL = 0x7
FILE_DIRECTORY_FILE = 0x1
FILE_OPEN_FOR_BACKUP_INTENT = 0x4000
STATUS_PENDING = 0x103


def _iosb(c) -> int:
    """The IO_STATUS_BLOCK the change requests complete into (kernelbase keeps one static block: nobody reads
    it, the handle's signal is the result)."""
    addr = c.proc.subsystem.get("change_notification_iosb")
    if not addr:
        from winhatch.win32.ntdll.rtl_string import heap_alloc
        addr = heap_alloc(c, 16)
        c.proc.subsystem["change_notification_iosb"] = addr
    return addr


def _request(c, h: int, filt: int, subtree: int) -> int:
    return c.nt("NtNotifyChangeDirectoryFile", h, 0, 0, 0, _iosb(c), 0, 0, filt, 1 if subtree else 0)


@api(K32, "HANDLE WINAPI FindFirstChangeNotification%(LPCTSTR lpPathName, BOOL bWatchSubtree, "
          "DWORD dwNotifyFilter)")
def FindFirstChangeNotification(c, path, subtree, filt):
    if path is None:
        c.set_last_error(3)     # ERROR_PATH_NOT_FOUND
        return INVALID
    try:
        nt = P.to_nt_path(path, cwd(c))
    except Exception:       # noqa: BLE001 - a name the path syntax refuses
        c.set_last_error(123)
        return INVALID
    from winhatch.win32.kernel32.ntfile import nt_open
    st, h, _ = nt_open(c, nt, SYNCHRONIZE | FILE_LIST_DIRECTORY, FILE_SHARE_ALL,
                       FILE_DIRECTORY_FILE | FILE_OPEN_FOR_BACKUP_INTENT)
    if st >= 0xC0000000:
        c.set_last_nt_error(st)
        return INVALID
    st = _request(c, h, filt, subtree)
    if st >= 0xC0000000:
        c.nt("NtClose", h)
        c.set_last_nt_error(st)
        return INVALID
    c.proc.subsystem.setdefault("change_notifications", {})[h] = (filt, bool(subtree))
    return h


@api(K32, "BOOL WINAPI FindNextChangeNotification(HANDLE hChangeHandle)")
def FindNextChangeNotification(c, h):
    args = c.proc.subsystem.get("change_notifications", {}).get(h)
    if args is None:
        c.set_last_error(6)     # ERROR_INVALID_HANDLE
        return 0
    st = _request(c, h, *args)
    if st >= 0xC0000000:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI FindCloseChangeNotification(HANDLE hChangeHandle)")
def FindCloseChangeNotification(c, h):
    c.proc.subsystem.get("change_notifications", {}).pop(h, None)
    st = c.nt("NtClose", h)
    if st:
        c.set_last_nt_error(st)
        return 0
    return 1


@api(K32, "BOOL WINAPI ReadDirectoryChangesW(HANDLE hDirectory, LPVOID lpBuffer, DWORD nBufferLength, "
          "BOOL bWatchSubtree, DWORD dwNotifyFilter, LPDWORD lpBytesReturned, LPOVERLAPPED lpOverlapped, "
          "LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)")
def ReadDirectoryChangesW(c, h, buf, size, subtree, filt, pret, ov, routine):
    if routine:
        # kernelbase's own IO APC routine calls the completion routine: the request carries it (as ReadFileEx)
        from winhatch.kernel.io import file_services as FS
        from winhatch.ntstatus import NtStatusError
        if not ov:
            c.set_last_error(87)
            return 0
        c.write_ptr(ov, STATUS_PENDING)
        try:
            st = FS.notify_request(c.machine, c.thread, h, 0, 0, 0, ov, buf, size, filt, 1 if subtree else 0,
                                   c._sp, win32_routine=routine)
        except NtStatusError as e:
            st = e.status
        if st >= 0xC0000000:
            c.set_last_nt_error(st)
            return 0
        return 1
    if ov:
        ev = c.ptr(ov + 2 * c.ptr_size + 8)
        c.write_ptr(ov, STATUS_PENDING)
        st = c.nt("NtNotifyChangeDirectoryFile", h, ev, 0, ov, ov, buf, size, filt, 1 if subtree else 0)
        if st >= 0xC0000000:
            c.set_last_nt_error(st)
            return 0
        return 1
    iosb = c.stack_alloc(2 * c.ptr_size, 8)
    st = c.nt("NtNotifyChangeDirectoryFile", h, 0, 0, 0, iosb, buf, size, filt, 1 if subtree else 0)
    if st >= 0xC0000000:
        c.set_last_nt_error(st)
        return 0
    if st == STATUS_PENDING:
        from winhatch.win32.ntdll.seh import raise_unsupported
        raise_unsupported(c, "ReadDirectoryChangesW without an OVERLAPPED on an asynchronous handle")
    if pret:
        c.write_u32(pret, c.ptr(iosb + c.ptr_size) & 0xFFFFFFFF)
    if st == 0x10C:        # STATUS_NOTIFY_ENUM_DIR: the buffer could not hold the changes
        c.write_u32(pret, 0) if pret else None
    return 1
