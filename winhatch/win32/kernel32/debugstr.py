"""kernel32 / kernelbase: OutputDebugStringA/W — a string for the debugger, told to it by an exception.

On Windows OutputDebugStringA raises DBG_PRINTEXCEPTION_C (parameters: the length with its NUL, the string)
inside its own __try/__except(EXCEPTION_EXECUTE_HANDLER): a debugger attached to the process receives it as
OUTPUT_DEBUG_STRING_EVENT; otherwise the exception is dispatched in the process, where the vectored handlers
see it first and then kernelbase's own frame catches it, so the program's frame-based handlers never do.
Caught, it goes to a DBWIN listener (DbgView's DBWIN_BUFFER section and events) if one runs — none does
on this machine — and the call returns. OutputDebugStringW (Windows 10) first raises
DBG_PRINTEXCEPTION_WIDE_C (the wide length and string, then the ANSI ones) and, if nothing continued it,
passes the ANSI conversion to OutputDebugStringA.

Here: the vectored handlers run with the exception as Windows gives it (EXCEPTION_CONTINUE_EXECUTION ends
the call, after the continue handlers, as RaiseException returning would); the string is recorded as a
`console` event `debug_string` for the trace and reports. A process with a debug port stops loudly: the
debug event queue is not modelled.
"""
from __future__ import annotations

from winhatch.kernel import events as ev
from winhatch.kernel.structs import EXCEPTION_RECORD
from winhatch.win32.api import api
from winhatch.win32.ntdll import exceptions as X

from winhatch.win32.kernel32.common import K32

DBG_PRINTEXCEPTION_C = 0x40010006
DBG_PRINTEXCEPTION_WIDE_C = 0x4001000A
MAX_STRING = 1 << 16           # characters read from the guest


def _gen(c, raises, entry_ctx, low, rec_addr, ctx_addr, ep_addr):
    """The vectored handlers for each (code, params) in turn; stop at the first one a handler continues."""
    mem = X.Mem(c.proc)
    st = X.state_of(c.proc)
    arch = c.arch
    is64 = arch == "x64"
    for code, params in raises:
        rec = X.build_record(code, 0, c.cpu.pc, params)
        mem.write(ctx_addr, X.context_to_guest(entry_ctx))
        mem.write(rec_addr, EXCEPTION_RECORD.pack(arch, **rec))
        mem.wptr(ep_addr, rec_addr, is64)
        mem.wptr(ep_addr + (8 if is64 else 4), ctx_addr, is64)
        continued = False
        for _h, fn in list(st.vectored):
            res = X._signed32((yield X.GuestCall(fn, (ep_addr,))))
            if res == X.EXCEPTION_CONTINUE_EXECUTION:
                yield from X._call_continue_handlers(st, ep_addr)
                continued = True
                break
        if continued:
            break
    return None


def _output(c, text: str, raises, ansi: bytes = b"") -> None:
    """raises: [(code, params)] or a function of the address where `ansi` (a copy kernelbase keeps in its
    frame) is laid on the stack."""
    proc = c.proc
    if proc.debug_port is not None and _to_debugger(c, raises, ansi):
        return
    c.machine.events.emit(ev.CONSOLE, "debug_string", proc.pid, c.thread.tid, text=text)
    if not X.state_of(proc).vectored:
        return      # no vectored handler: kernelbase's own __except catches it; no DBWIN listener
    from winhatch.win32.ntdll.seh import caller_context
    entry = caller_context(c)
    is64 = c.arch == "x64"
    csize = X.X64_CONTEXT_SIZE if is64 else X.X86_CONTEXT_SIZE
    str_addr = (c.cpu.sp - 0x100 - len(ansi)) & ~0xF
    if callable(raises):
        c.write(str_addr, ansi)
        raises = raises(str_addr)
    ctx_addr = (str_addr - csize) & ~0xF
    rec_addr = (ctx_addr - EXCEPTION_RECORD.size(c.arch)) & ~0xF
    ep_addr = rec_addr - 0x20
    low = ep_addr - 0x40
    X.ensure_stack(c.thread, low - X.HANDLER_STACK_MARGIN)
    co = X.Coroutine(c.thread, None, "api", low, resume_ctx=entry.copy())

    def wrapper():
        yield from _gen(c, raises, entry, low, rec_addr, ctx_addr, ep_addr)
        return entry.copy()

    co.gen = wrapper()
    X.start(c.thread, co)


def _to_debugger(c, raises, ansi: bytes) -> bool:
    """A process being debugged: each exception goes to the debugger first (first chance, the thread waiting for
    its continue); True when the debugger continued one (DBG_CONTINUE), False when none was handled. The call is
    re-run after each wait: the replies so far are kept on the thread under the call's key."""
    from winhatch.kernel.ke import wait as kwait
    from winhatch.kernel.ps import dbgk
    thread = c.thread
    key = ("OutputDebugString", c._sp)
    book = thread.__dict__.setdefault("ods_replies", {})
    replies = book.setdefault(key, [])
    done = kwait.take_done(thread, key)
    if done is not None:
        replies.append(done.objects[0].status)
    if callable(raises):
        str_addr = (c.cpu.sp - 0x100 - len(ansi)) & ~0xF
        c.write(str_addr, ansi)
        raises = raises(str_addr)
    for i, (code, params) in enumerate(raises):
        if i < len(replies):
            if replies[i] in (dbgk.DBG_CONTINUE, dbgk.DBG_EXCEPTION_HANDLED):
                book.pop(key, None)
                return True
            continue
        info = {"ExceptionCode": code, "ExceptionFlags": 0, "ExceptionRecord": 0, "ExceptionAddress": c.cpu.pc,
                "NumberParameters": len(params), "ExceptionInformation": list(params), "FirstChance": 1}
        e = dbgk.queue(c.machine, thread, dbgk.EXCEPTION, info, reply=True)
        if e is None:
            break
        raise kwait.WouldBlock(kwait.WaitBlock([e.reply], False, None, "OutputDebugString", key))
    book.pop(key, None)
    return False


def _ansi(text: str) -> bytes:
    return text.encode("cp1252", "replace")


@api(K32, "void WINAPI OutputDebugStringA(LPVOID lpOutputString)", calls_guest=True)
def OutputDebugStringA(c, p):
    if not p:
        return
    raw = c.cstr(p, MAX_STRING)
    _output(c, raw.decode("cp1252", "replace"), [(DBG_PRINTEXCEPTION_C, (len(raw) + 1, p))])


@api(K32, "void WINAPI OutputDebugStringW(LPVOID lpOutputString)", calls_guest=True)
def OutputDebugStringW(c, p):
    """The wide exception carries the ANSI conversion too; the ANSI exception that follows points at it."""
    if not p:
        return
    text = c.wstr(p, MAX_STRING)
    data = _ansi(text) + b"\0"
    wlen = len(text.encode("utf-16-le", "surrogatepass")) // 2
    _output(c, text, lambda a: [(DBG_PRINTEXCEPTION_WIDE_C, (wlen + 1, p, len(data), a)),
                                (DBG_PRINTEXCEPTION_C, (len(data), a))], data)
