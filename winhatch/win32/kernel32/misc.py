"""kernel32 / kernelbase: FormatMessage (the system message table's English texts, FROM_STRING with
inserts, ALLOCATE_BUFFER) and small APIs that belong nowhere else."""
from __future__ import annotations

import struct

from winhatch.kernel.ke.dispatcher import ProcessExit
from winhatch.ntstatus import ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED
from winhatch.win32.api import api
from winhatch.win32.ntdll.rtl_message import format_message

from winhatch.win32.kernel32.common import K32
from winhatch.win32.kernel32.heap import _local_alloc

FORMAT_MESSAGE_ALLOCATE_BUFFER = 0x100
FORMAT_MESSAGE_IGNORE_INSERTS = 0x200
FORMAT_MESSAGE_FROM_STRING = 0x400
FORMAT_MESSAGE_FROM_HMODULE = 0x800
FORMAT_MESSAGE_FROM_SYSTEM = 0x1000
FORMAT_MESSAGE_ARGUMENT_ARRAY = 0x2000
FORMAT_MESSAGE_MAX_WIDTH_MASK = 0xFF
ERROR_MR_MID_NOT_FOUND = 317
ERROR_RESOURCE_LANG_NOT_FOUND = 1815
ERROR_INVALID_FLAGS = 1004

# The system message table (winerror.h texts, English, as Windows 10 formats them).
SYSTEM_MESSAGES = {
    0: "The operation completed successfully.",
    1: "Incorrect function.",
    2: "The system cannot find the file specified.",
    3: "The system cannot find the path specified.",
    4: "The system cannot open the file.",
    5: "Access is denied.",
    6: "The handle is invalid.",
    7: "The storage control blocks were destroyed.",
    8: "Not enough memory resources are available to process this command.",
    9: "The storage control block address is invalid.",
    10: "The environment is incorrect.",
    11: "An attempt was made to load a program with an incorrect format.",
    12: "The access code is invalid.",
    13: "The data is invalid.",
    14: "Not enough memory resources are available to complete this operation.",
    15: "The system cannot find the drive specified.",
    16: "The directory cannot be removed.",
    17: "The system cannot move the file to a different disk drive.",
    18: "There are no more files.",
    19: "The media is write protected.",
    21: "The device is not ready.",
    31: "A device attached to the system is not functioning.",
    32: "The process cannot access the file because it is being used by another process.",
    33: "The process cannot access the file because another process has locked a portion of the file.",
    38: "Reached the end of the file.",
    39: "The disk is full.",
    50: "The request is not supported.",
    53: "The network path was not found.",
    80: "The file exists.",
    82: "The directory or file cannot be created.",
    87: "The parameter is incorrect.",
    109: "The pipe has been ended.",
    111: "The file name is too long.",
    112: "There is not enough space on the disk.",
    120: "This function is not supported on this system.",
    122: "The data area passed to a system call is too small.",
    123: "The filename, directory name, or volume label syntax is incorrect.",
    126: "The specified module could not be found.",
    127: "The specified procedure could not be found.",
    131: "An attempt was made to move the file pointer before the beginning of the file.",
    145: "The directory is not empty.",
    158: "The segment is already unlocked.",
    161: "The specified path is invalid.",
    183: "Cannot create a file when that file already exists.",
    193: "%1 is not a valid Win32 application.",
    203: "The system could not find the environment option that was entered.",
    206: "The filename or extension is too long.",
    234: "More data is available.",
    259: "No more data is available.",
    267: "The directory name is invalid.",
    288: "Attempt to release mutex not owned by caller.",
    317: "The system cannot find message text for message number 0x%1 in the message file for %2.",
    487: "Attempt to access invalid address.",
    997: "Overlapped I/O operation is in progress.",
    998: "Invalid access to memory location.",
    1004: "Invalid flags.",
    1114: "A dynamic link library (DLL) initialization routine failed.",
    1168: "Element not found.",
    1113: "No mapping for the Unicode character exists in the target multi-byte code page.",
    1314: "A required privilege is not held by the client.",
    1460: "This operation returned because the timeout period expired.",
    0x800B0100: "No signature was present in the subject.",     # TRUST_E_NOSIGNATURE
    0x80004001: "Not implemented",                              # E_NOTIMPL
    0x80004005: "Unspecified error",                            # E_FAIL
}
ERROR_RESOURCE_TYPE_NOT_FOUND = 1813
ERROR_NO_WORK_DONE = 235
ERROR_NOT_ENOUGH_MEMORY = 8
MAX_MESSAGE_CHARS = 1 << 24     # a FROM_STRING message or a %s insert: bounded at 16 Mi characters
MAX_ANSI_MESSAGE = 32768        # FormatMessageA: nSize and the result stay below 32 Ki characters
RT_MESSAGETABLE = 11
MAX_MESSAGE_BLOCKS = 0x10000


def system_message(msgid: int) -> str | None:
    """The system table's text: a Win32 error, or an HRESULT of FACILITY_WIN32 (0x8007xxxx: the error xxxx's)."""
    text = SYSTEM_MESSAGES.get(msgid)
    if text is None and msgid >> 16 == 0x8007:
        text = SYSTEM_MESSAGES.get(msgid & 0xFFFF)
    return text


def module_message(c, module: int, msgid: int, lang: int) -> tuple[str | None, int]:
    """(text, 0) from the module's RT_MESSAGETABLE resource 1 (MESSAGE_RESOURCE_DATA: blocks of LowId, HighId,
    OffsetToEntries; entries of Length, Flags (1: UTF-16), Text), or (None, the Win32 error): the module has no
    message table (ERROR_RESOURCE_TYPE_NOT_FOUND), not in that language (ERROR_RESOURCE_LANG_NOT_FOUND), or no
    such message (ERROR_MR_MID_NOT_FOUND)."""
    from winhatch.win32.kernel32.resource import find_resource, resource_view
    view = resource_view(c, module)
    if view is None:
        return None, c.last_error()
    saved = c.last_error()
    entry = find_resource(c, view, RT_MESSAGETABLE, 1, lang or None)
    if entry is None:
        err = c.last_error()
        c.set_last_error(saved)
        if err in (1814, 1812):     # no name 1 / no data: as no table
            err = ERROR_RESOURCE_TYPE_NOT_FOUND
        return None, err
    base = view.address(entry.data.rva)
    size = entry.data.size
    if base is None or size < 4:
        return None, ERROR_MR_MID_NOT_FOUND
    data = c.read(base, size)
    (nblocks,) = struct.unpack_from("<I", data, 0)
    for b in range(min(nblocks, MAX_MESSAGE_BLOCKS)):
        if 4 + 12 * b + 12 > size:
            break
        low, high, off = struct.unpack_from("<III", data, 4 + 12 * b)
        if not low <= msgid <= high:
            continue
        for _ in range(msgid - low):
            if off + 4 > size:
                return None, ERROR_MR_MID_NOT_FOUND
            (length,) = struct.unpack_from("<H", data, off)
            if length < 4:
                return None, ERROR_MR_MID_NOT_FOUND
            off += length
        if off + 4 > size:
            return None, ERROR_MR_MID_NOT_FOUND
        length, flags = struct.unpack_from("<HH", data, off)
        raw = data[off + 4:off + max(length, 4)]
        if flags & 1:
            text = raw.decode("utf-16-le", "replace")
        else:
            text = raw.decode("cp1252", "replace")
        return text.split("\0", 1)[0], 0
    return None, ERROR_MR_MID_NOT_FOUND


@api(K32, "DWORD WINAPI FormatMessage%(DWORD dwFlags, LPCVOID lpSource, DWORD dwMessageId, DWORD dwLanguageId, "
          "LPTSTR lpBuffer, DWORD nSize, va_list *Arguments)")
def FormatMessage(c, flags, source, msgid, lang, buf, size, args):
    """The output buffer is checked first: with ALLOCATE_BUFFER a NULL lpBuffer is ERROR_NOT_ENOUGH_MEMORY (A) or
    ERROR_INVALID_PARAMETER (W); without, W rejects a NULL buffer, A only checks the size. An empty result is
    0 with ERROR_NO_WORK_DONE. Too small a buffer: ERROR_INSUFFICIENT_BUFFER, W having written what fits. A
    va_list is advanced past the arguments the message used."""
    wide = c.wide
    if flags & FORMAT_MESSAGE_ALLOCATE_BUFFER and not buf:
        c.set_last_error(ERROR_INVALID_PARAMETER if wide else ERROR_NOT_ENOUGH_MEMORY)
        return 0
    if flags & FORMAT_MESSAGE_ALLOCATE_BUFFER:
        c.write_ptr(buf, 0)
    if wide and not buf:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if not wide and size >= MAX_ANSI_MESSAGE:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if flags & FORMAT_MESSAGE_FROM_STRING:      # it takes precedence over FROM_SYSTEM / FROM_HMODULE
        if not source:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        fmt = c.wstr(source, MAX_MESSAGE_CHARS) if wide else c.astr(source)
    elif flags & (FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_FROM_HMODULE):
        text, err = None, ERROR_MR_MID_NOT_FOUND
        if flags & FORMAT_MESSAGE_FROM_HMODULE:
            text, err = module_message(c, source, msgid, lang)
        if text is None and flags & FORMAT_MESSAGE_FROM_SYSTEM:
            if lang not in (0, 0x400, 0x409, 0x800, 0x9):
                c.set_last_error(ERROR_RESOURCE_LANG_NOT_FOUND)
                return 0
            text = system_message(msgid)
            if text is not None:
                text += "\r\n"
            else:
                err = ERROR_MR_MID_NOT_FOUND
        if text is None:
            c.set_last_error(err)
            return 0
        fmt = text
    else:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if args and not flags & FORMAT_MESSAGE_ARGUMENT_ARRAY:
        args_base = c.ptr(args)  # a va_list: the address of the first vararg slot
    else:
        args_base = args
    used = [0]
    text = format_message(c, fmt, flags, args_base, wide, used)
    if args and not flags & FORMAT_MESSAGE_ARGUMENT_ARRAY and used[0]:
        slots = used[0]
        if text is not None and not flags & FORMAT_MESSAGE_ALLOCATE_BUFFER:
            # formatting stops at the insert that overflows the buffer: later arguments are not taken
            slots = next((n for length, n in used[1:] if length > size - 1), slots)
        c.write_ptr(args, args_base + slots * c.ptr_size)
    if text is None:
        return 0
    data = (text.encode("utf-16-le", "surrogatepass") if wide else text.encode("cp1252", "replace"))
    unit = 2 if wide else 1
    count = len(data) // unit
    if not wide and count >= MAX_ANSI_MESSAGE:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if not count:
        if wide and size and not flags & FORMAT_MESSAGE_ALLOCATE_BUFFER:
            c.write(buf, bytes(2))
        c.set_last_error(ERROR_NO_WORK_DONE)
        return 0
    if flags & FORMAT_MESSAGE_ALLOCATE_BUFFER:
        p = _local_alloc(c, 0, max(size * unit, len(data) + unit))
        if not p:
            return 0
        c.write(p, data + bytes(unit))
        c.write_ptr(buf, p)
        return count
    if count + 1 > size:
        if wide and size:
            c.write(buf, data[:(size - 1) * unit] + bytes(unit))
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data + bytes(unit))
    return count


# ============================================================================================ lstr*
# lstrlen, lstrcpy, lstrcpyn and lstrcat run inside an exception handler on Windows: a bad pointer makes
# them return 0 / NULL, the last error untouched (api(..., guarded=0)). lstrcmp and lstrcmpi do not.
def _t_read(c, p):
    return c.wstr(p) if c.wide else c.astr(p)


def _t_raw(c, p) -> bytes:
    """The string's bytes without its terminator."""
    if c.wide:
        return c.wstr(p).encode("utf-16-le", "surrogatepass")
    return c.cstr(p)


@api(K32, "int WINAPI lstrlen%(LPCTSTR_RAW lpString)", guarded=0)
def lstrlen(c, p):
    return len(_t_raw(c, p)) // c.tchar_size() if p else 0


def _null_order(a: int, b: int) -> int | None:
    """A NULL string sorts before every string, the empty one included, and equals another NULL (the checks of
    Wine's locale test, written to pass on Windows: lstrcmpA("", NULL) is 1)."""
    if a and b:
        return None
    return 0 if a == b else (1 if a else 0xFFFFFFFF)


@api(K32, "int WINAPI lstrcmp%(LPCTSTR_RAW lpString1, LPCTSTR_RAW lpString2)")
def lstrcmp(c, a, b):
    from winhatch.win32.kernel32.codepages import _compare
    null = _null_order(a, b)
    if null is not None:
        return null
    return (_compare(_t_read(c, a) or "", _t_read(c, b) or "", 0) - 2) & 0xFFFFFFFF


@api(K32, "int WINAPI lstrcmpi%(LPCTSTR_RAW lpString1, LPCTSTR_RAW lpString2)")
def lstrcmpi(c, a, b):
    from winhatch.win32.kernel32.codepages import _compare
    null = _null_order(a, b)
    if null is not None:
        return null
    return (_compare(_t_read(c, a) or "", _t_read(c, b) or "", 1) - 2) & 0xFFFFFFFF


@api(K32, "LPTSTR WINAPI lstrcpy%(LPTSTR lpString1, LPCTSTR_RAW lpString2)", guarded=0)
def lstrcpy(c, dst, src):
    c.write(dst, _t_raw(c, src) + bytes(c.tchar_size()))
    return dst


@api(K32, "LPTSTR WINAPI lstrcpyn%(LPTSTR lpString1, LPCTSTR_RAW lpString2, int iMaxLength)", guarded=0)
def lstrcpyn(c, dst, src, n):
    if n <= 0 or n & 0x80000000:
        return dst
    unit = c.tchar_size()
    data = _t_raw(c, src)[:(n - 1) * unit]
    c.write(dst, data + bytes(unit))
    return dst


@api(K32, "LPTSTR WINAPI lstrcat%(LPTSTR lpString1, LPCTSTR_RAW lpString2)", guarded=0)
def lstrcat(c, dst, src):
    c.write(dst + len(_t_raw(c, dst)), _t_raw(c, src) + bytes(c.tchar_size()))
    return dst


@api(K32, "int WINAPI MulDiv(int nNumber, int nNumerator, int nDenominator)")
def MulDiv(c, a, b, d):
    """a * b / d with a 64-bit product, rounded half away from zero; -1 when d is 0 or the result does not
    fit in an int."""
    a, b, d = (v - (1 << 32) if v & 0x80000000 else v for v in (a & 0xFFFFFFFF, b & 0xFFFFFFFF, d & 0xFFFFFFFF))
    if d == 0:
        return 0xFFFFFFFF
    p = a * b
    q, r = divmod(abs(p), abs(d))
    if 2 * r >= abs(d):
        q += 1
    if (p < 0) != (d < 0):
        q = -q
    if not -(1 << 31) <= q < (1 << 31):
        return 0xFFFFFFFF
    return q & 0xFFFFFFFF
