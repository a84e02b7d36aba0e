"""msvcp140.dll: std::exception_ptr (current_exception, rethrow_exception, make_exception_ptr).

An exception_ptr is { _Data1, _Data2 }, a shared pointer the header code only passes to these functions:
_Data1 is the captured exception's EXCEPTION_RECORD (a heap copy), _Data2 its reference count block
{ LONG refs; pad; record; object; object's destructor }. A C++ exception is captured as a copy of its object,
made with the CatchableType's copy constructor (or copied bytes for a simple type), as the runtime does: the
original ends with its catch block. rethrow_exception raises the record again with a fresh copy of the object
(the catch that takes it destroys that copy; the captured one lives until the last exception_ptr goes). The
last reference destroys the object (the ThrowInfo's destructor) and frees the blocks. An exception that is not
a C++ one (an SEH exception caught by catch(...)) is captured as its record and raised again as it was.
"""
from __future__ import annotations

from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcp140 import msvcp140 as P

DLL = "msvcp140.dll"


def _mem(c):
    from winhatch.win32.ntdll.exceptions import Mem
    return Mem(c.proc)


def _block(c, p: int) -> int:
    return c.ptr(p + c.ptr_size)


def _incref(c, blk: int) -> None:
    if blk:
        c.write_u32(blk, (c.u32(blk) + 1) & 0xFFFFFFFF)


def _release(c, data1: int, blk: int) -> None:
    """Drop one reference; the last destroys the captured object and frees the record and the block."""
    if not blk:
        return
    n = (c.u32(blk) - 1) & 0xFFFFFFFF
    c.write_u32(blk, n)
    if n:
        return
    ps = c.ptr_size
    obj, dtor = c.ptr(blk + 8 + ps), c.ptr(blk + 8 + 2 * ps)
    if obj and dtor:
        c.machine.dispatcher.call_guest(c.thread, dtor, [obj], stdcall=False, thiscall=True)
    heap = R.heap(c)
    for a in (obj, data1, blk):
        if a:
            heap.free_block(a)


def _set(c, p: int, data1: int, blk: int) -> None:
    c.write_ptr(p, data1)
    c.write_ptr(p + c.ptr_size, blk)


def _copy_object(c, thr) -> int:
    """A heap copy of the thrown object (its most derived CatchableType: copy constructor or bytes)."""
    from winhatch.win32.vcruntime.cxx_eh import CT_HasVirtualBase, CT_IsSimpleType
    ct = thr.types[0] if thr.types else None
    if ct is None:
        P.stop(c, "exception_ptr of an exception without catchable types")
    size = max(ct["size"], 1)
    dest = R.alloc(c, size)
    if ct["copy"] and not ct["props"] & CT_IsSimpleType:
        args = [dest, thr.obj] + ([1] if ct["props"] & CT_HasVirtualBase else [])
        c.machine.dispatcher.call_guest(c.thread, ct["copy"], args, stdcall=False, thiscall=True)
    else:
        c.write(dest, c.read(thr.obj, ct["size"]))
    return dest


def _capture(c, p: int, rec: dict) -> None:
    """exception_ptr at p := a new capture of rec (a C++ exception's object copied)."""
    from winhatch.kernel.structs import EXCEPTION_RECORD
    from winhatch.win32.vcruntime.cxx_eh import Throw, is_cxx
    ps = c.ptr_size
    obj = dtor = 0
    rec = dict(rec)
    if is_cxx(rec):
        thr = Throw(_mem(c), ps == 8, rec)
        obj = _copy_object(c, thr)
        dtor = thr.dtor
        params = list(rec["ExceptionInformation"])
        params[1] = obj
        rec["ExceptionInformation"] = params
    size = EXCEPTION_RECORD.size(c.arch)
    data1 = R.alloc(c, size)
    c.write(data1, EXCEPTION_RECORD.pack(c.arch, **rec))
    blk = R.alloc(c, 8 + 3 * ps)
    c.write_u32(blk, 1)
    c.write_ptr(blk + 8, data1)
    c.write_ptr(blk + 8 + ps, obj)
    c.write_ptr(blk + 8 + 2 * ps, dtor)
    _set(c, p, data1, blk)


# ------------------------------------------------------------------------------------------ the exports
def _create(c, p):
    _set(c, p, 0, 0)


def _destroy(c, p):
    _release(c, c.ptr(p), _block(c, p))
    _set(c, p, 0, 0)


def _copy(c, dst, src):
    d1, blk = c.ptr(src), _block(c, src)
    _incref(c, blk)
    _set(c, dst, d1, blk)


def _assign(c, dst, src):
    d1, blk = c.ptr(src), _block(c, src)
    if (d1, blk) == (c.ptr(dst), _block(c, dst)):
        return
    _incref(c, blk)
    old1, oldb = c.ptr(dst), _block(c, dst)
    _set(c, dst, d1, blk)
    _release(c, old1, oldb)


def _compare(c, a, b):
    return int(c.ptr(a) == c.ptr(b))


def _to_bool(c, p):
    return int(c.ptr(p) != 0)


def _swap(c, a, b):
    x = (c.ptr(a), _block(c, a))
    _set(c, a, c.ptr(b), _block(c, b))
    _set(c, b, *x)


def _current(c, p):
    """current_exception(): the exception of the innermost catch block running on this thread, else empty."""
    from winhatch.win32.ntdll import exceptions as X
    from winhatch.win32.vcruntime.cxx_eh import THROW_MAGIC, _catches
    live = _catches(c.thread)
    if not live:
        _set(c, p, 0, 0)
        return
    r = live[-1]
    params = [THROW_MAGIC, r["obj"], r["ti"]] + ([r["base"]] if c.ptr_size == 8 else [])
    from winhatch.win32.vcruntime.cxx_eh import CXX_CODE
    _capture(c, p, X.build_record(CXX_CODE, X.EXCEPTION_NONCONTINUABLE, 0, params))


def _copy_exception(c, p, obj, ti):
    """make_exception_ptr(e): a capture of `e` thrown with ThrowInfo ti."""
    from winhatch.win32.ntdll import exceptions as X
    from winhatch.win32.vcruntime.cxx_eh import CXX_CODE, THROW_MAGIC
    params = [THROW_MAGIC, obj, ti]
    if c.ptr_size == 8:
        img = c.proc.subsystem["images"].find(ti)
        params.append(img.base if img is not None else 0)
    _capture(c, p, X.build_record(CXX_CODE, X.EXCEPTION_NONCONTINUABLE, 0, params))


def _rethrow(c, p):
    """rethrow_exception(p): the captured exception raised again (a C++ one with a fresh copy of its object)."""
    from winhatch.win32.ntdll import exceptions as X
    from winhatch.win32.vcruntime.cxx_eh import Throw, is_cxx
    from winhatch.win32.ntdll.seh import _raise, caller_context
    data1 = c.ptr(p)
    if not data1:
        P.stop(c, "rethrow_exception of a null exception_ptr")
        return
    rec = X.read_record(_mem(c), data1, c.arch)
    rec = dict(rec)
    if is_cxx(rec):
        thr = Throw(_mem(c), c.ptr_size == 8, rec)
        params = list(rec["ExceptionInformation"])
        params[1] = _copy_object(c, thr)
        rec["ExceptionInformation"] = params
    rec["ExceptionAddress"] = c.cpu.pc
    _raise(c, rec, caller_context(c), "rethrow_exception")


for _name, _proto, _fn in (
        ("?__ExceptionPtrCreate@@YAXPEAX@Z", "void __cdecl ExceptionPtrCreate(void *p)", _create),
        ("?__ExceptionPtrDestroy@@YAXPEAX@Z", "void __cdecl ExceptionPtrDestroy(void *p)", _destroy),
        ("?__ExceptionPtrCopy@@YAXPEAXPEBX@Z", "void __cdecl ExceptionPtrCopy(void *dst, const void *src)", _copy),
        ("?__ExceptionPtrAssign@@YAXPEAXPEBX@Z", "void __cdecl ExceptionPtrAssign(void *dst, const void *src)",
         _assign),
        ("?__ExceptionPtrCompare@@YA_NPEBX0@Z", "int __cdecl ExceptionPtrCompare(const void *a, const void *b)",
         _compare),
        ("?__ExceptionPtrToBool@@YA_NPEBX@Z", "int __cdecl ExceptionPtrToBool(const void *p)", _to_bool),
        ("?__ExceptionPtrSwap@@YAXPEAX0@Z", "void __cdecl ExceptionPtrSwap(void *a, void *b)", _swap),
        ("?__ExceptionPtrCurrentException@@YAXPEAX@Z", "void __cdecl ExceptionPtrCurrentException(void *p)",
         _current),
        ("?__ExceptionPtrCopyException@@YAXPEAXPEBX1@Z",
         "void __cdecl ExceptionPtrCopyException(void *p, const void *obj, const void *ti)", _copy_exception),
        ("?__ExceptionPtrRethrow@@YAXPEBX@Z", "void __cdecl ExceptionPtrRethrow(const void *p)", _rethrow)):
    P._declare(_name, _proto, _fn)

