"""ReOpenFile: a new handle to the file an existing handle has open, with other access, sharing and flags — as
kernelbase does it, NtCreateFile(FILE_OPEN) with the handle as the OBJECT_ATTRIBUTES' RootDirectory and an empty
name. The flags may be FILE_FLAG_* only: any FILE_ATTRIBUTE_* bit is ERROR_INVALID_PARAMETER (Microsoft's
documentation; Wine's kernel32/tests/file.c test_ReOpenFile, written on Windows). The new open meets the sharing
of the handles already open (ERROR_SHARING_VIOLATION)."""
from __future__ import annotations

from winhatch.kernel.io import vfs as V
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32, invalid_handle
from winhatch.win32.kernel32.ntfile import (FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_DELETE_ON_CLOSE,
                                            FILE_FLAG_NO_BUFFERING, FILE_FLAG_OPEN_REPARSE_POINT,
                                            FILE_FLAG_OVERLAPPED, FILE_FLAG_RANDOM_ACCESS,
                                            FILE_FLAG_SEQUENTIAL_SCAN, FILE_FLAG_WRITE_THROUGH,
                                            FILE_NO_INTERMEDIATE_BUFFERING, FILE_OPEN_FOR_BACKUP_INTENT,
                                            FILE_RANDOM_ACCESS)

ERROR_INVALID_PARAMETER = 87
FILE_ATTRIBUTE_VALID_FLAGS = 0x7FA7          # the FILE_ATTRIBUTE_* bits: none may be given
FILE_OPEN = 1


@api(K32, "HANDLE WINAPI ReOpenFile(HANDLE hOriginalFile, DWORD dwDesiredAccess, DWORD dwShareMode, "
          "DWORD dwFlagsAndAttributes)")
def ReOpenFile(c, h, access, share, flags):
    bad = invalid_handle(c)
    if flags & FILE_ATTRIBUTE_VALID_FLAGS:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return bad
    options = 0 if flags & FILE_FLAG_OVERLAPPED else V.FILE_SYNCHRONOUS_IO_NONALERT
    for flag, option in ((FILE_FLAG_WRITE_THROUGH, V.FILE_WRITE_THROUGH),
                         (FILE_FLAG_NO_BUFFERING, FILE_NO_INTERMEDIATE_BUFFERING),
                         (FILE_FLAG_RANDOM_ACCESS, FILE_RANDOM_ACCESS),
                         (FILE_FLAG_SEQUENTIAL_SCAN, V.FILE_SEQUENTIAL_ONLY),
                         (FILE_FLAG_DELETE_ON_CLOSE, V.FILE_DELETE_ON_CLOSE),
                         (FILE_FLAG_BACKUP_SEMANTICS, FILE_OPEN_FOR_BACKUP_INTENT),
                         (FILE_FLAG_OPEN_REPARSE_POINT, V.FILE_OPEN_REPARSE_POINT)):
        if flags & flag:
            options |= option
    if flags & FILE_FLAG_DELETE_ON_CLOSE:
        access |= V.DELETE
    ps = c.ptr_size
    hp = c.stack_alloc(ps, 8)
    iosb = c.stack_alloc(2 * ps, 8)
    oa = c.object_attributes(c.unicode_string(""), 0x40, root=h)
    st = c.nt("NtCreateFile", hp, access | V.SYNCHRONIZE | V.FILE_READ_ATTRIBUTES, oa, iosb, 0, 0,
              share & V.FILE_SHARE_ALL, FILE_OPEN, options, 0, 0)
    if st >> 31:
        c.set_last_nt_error(st)
        return bad
    c.set_last_error(0)
    return c.ptr(hp)
