"""vcruntime140.dll: the compiler support library of MSVC programs. Its memory/string exports (memcpy, strchr,
...) forward to ucrtbase (see crt_string.py); the C++ exception machinery (_CxxThrowException,
__CxxFrameHandler*, __C_specific_handler) belongs to the exception-handling module. Here: type_info lists,
pure-call, std::exception helpers, the current-exception slots and the telemetry hooks."""
from __future__ import annotations

from winhatch.win32.msvcrt.runtime import crt_api as api
from winhatch.win32.msvcrt import runtime as R

U = R.UCRT_DLL
V = "vcruntime140.dll"


@api(U, "void __cdecl __std_type_info_destroy_list(void *head)")
def __std_type_info_destroy_list(c, head):
    """Free the undecorated names cached by type_info::name (__std_type_info_name): heap blocks on the
    SLIST_HEADER at head, flushed at once."""
    from winhatch.win32.ntdll.slist import RtlInterlockedFlushSList
    if not head:
        return
    node = RtlInterlockedFlushSList(c, head)
    seen = 0
    while node and seen < 1 << 16:
        nxt = c.ptr(node)
        R.heap(c).free_block(node)
        node = nxt
        seen += 1


@api(U, "void * __cdecl _set_purecall_handler(void *fn)")
def _set_purecall_handler(c, fn):
    s = R.state(c)
    old = getattr(s, "purecall_handler", 0)
    s.purecall_handler = fn
    return old


@api(U, "void * __cdecl _get_purecall_handler(void)")
def _get_purecall_handler(c):
    return getattr(R.state(c), "purecall_handler", 0)


@api(U, "int __cdecl _purecall(void)", calls_guest=True)
def _purecall(c):
    s = R.state(c)
    h = getattr(s, "purecall_handler", 0)
    if h:
        c.machine.dispatcher.call_guest(c.thread, h, [], stdcall=False)
    from winhatch.win32.msvcrt.process import abort
    abort(c)


def _exc_slots(c) -> int:
    """Per-thread __current_exception / __current_exception_context slots (vcruntime's per-thread data)."""
    s = R.state(c)
    t = s.thread(c.thread.tid)
    if not t.get("exc_slots"):
        t["exc_slots"] = R.alloc(c, 2 * c.ptr_size)
    return t["exc_slots"]


@api(U, "void ** __cdecl __current_exception(void)")
def __current_exception(c):
    return _exc_slots(c)


@api(U, "void ** __cdecl __current_exception_context(void)")
def __current_exception_context(c):
    return _exc_slots(c) + c.ptr_size


@api(U, "int * __cdecl __processing_throw(void)")
def __processing_throw(c):
    s = R.state(c)
    return R.static_buffer(c, s, "processing_throw_%d" % c.thread.tid, 4)


@api(U, "int __cdecl __uncaught_exception(void)")
def __uncaught_exception(c):
    return 0


@api(V, "int __cdecl __uncaught_exceptions(void)")
def __uncaught_exceptions(c):
    return 0


# std::exception's data: struct __std_exception_data { const char *_What; bool _DoFree; }
@api(U, "void __cdecl __std_exception_copy(const void *src, void *dst)")
def __std_exception_copy(c, src, dst):
    ps = c.ptr_size
    what = c.ptr(src)
    do_free = c.read(src + ps, 1)[0]
    if do_free and what:
        text = c.cstr(what, 1 << 20)
        c.write_ptr(dst, R.new_cstr(c, text))
        c.write(dst + ps, b"\x01")
    else:
        c.write_ptr(dst, what)
        c.write(dst + ps, b"\x00")


@api(U, "void __cdecl __std_exception_destroy(void *data)")
def __std_exception_destroy(c, data):
    ps = c.ptr_size
    if c.read(data + ps, 1)[0]:
        p = c.ptr(data)
        if p:
            R.heap(c).free_block(p)
    c.write_ptr(data, 0)
    c.write(data + ps, b"\x00")


@api(U, "void __cdecl __std_terminate(void)", calls_guest=True)
def __std_terminate(c):
    from winhatch.win32.msvcrt.ucrtbase import terminate
    terminate(c)


@api(U, "int __cdecl __std_type_info_compare(const void *a, const void *b)")
def __std_type_info_compare(c, a, b):
    if a == b:
        return 0
    ps = c.ptr_size
    x = c.cstr(a + ps + 1, 1 << 16)
    y = c.cstr(b + ps + 1, 1 << 16)
    return 0 if x == y else (0xFFFFFFFF if x < y else 1)


@api(U, "size_t __cdecl __std_type_info_hash(const void *data)")
def __std_type_info_hash(c, data):
    """FNV-1a over the decorated name (after the leading '.'), as vcruntime computes it."""
    name = c.cstr(c.ptr_size + data + 1, 1 << 16)
    if c.ptr_size == 8:
        h, prime, mask = 14695981039346656037, 1099511628211, (1 << 64) - 1
    else:
        h, prime, mask = 2166136261, 16777619, 0xFFFFFFFF
    for b in name:
        h = ((h ^ b) * prime) & mask
    return h


@api(V, "void __cdecl __telemetry_main_invoke_trigger(void *module)")
def __telemetry_main_invoke_trigger(c, m):
    pass    # telemetry hooks of the VS 2015 runtime: no effect


@api(V, "void __cdecl __telemetry_main_return_trigger(void *module)")
def __telemetry_main_return_trigger(c, m):
    pass
