"""user32 (win32k's message queues): messages sent to a window of another thread.

As Microsoft's "About Messages and Message Queues" describes it: SendMessage to a window of another thread
queues a *sent message* on the thread that owns the window and blocks the sender until that thread has run
the window procedure; the procedure's result is the sender's return value. The receiving thread handles its
incoming sent messages (all of them, before any posted message and whatever its filters) whenever it calls
GetMessage, PeekMessage (unless a PM_QS_* mask leaves QS_SENDMESSAGE out), WaitMessage, or while it waits in a
SendMessage of its own — so two threads sending to each other do not deadlock — and in the modal loops
(DialogBox). A thread that never does any of these leaves its senders waiting: a real deadlock, which the
dispatcher reports, naming the reply each sender waits for.

- SendMessageTimeout: SMTO_BLOCK (the sender does not handle its own incoming sent messages while it waits),
  SMTO_ABORTIFHUNG (a receiver that has not looked at its queue for 5 s and is not waiting for messages now
  fails the call at once), the time-out (0 with ERROR_TIMEOUT; the message, if not started yet, is not
  delivered any more, and a late result is dropped; *lpdwResult is 0 — wine64 agrees). SMTO_NOTIMEOUTIFNOTHUNG
  and SMTO_ERRORONEXIT are not told apart from SMTO_NORMAL.
- SendNotifyMessage: queued, no wait (to the same thread: a plain send). SendMessageCallback: queued; when the
  receiver has a result, the callback runs in the sender the next time it gets, peeks or waits for messages
  or sends one (to the same thread: procedure then callback at once). Both refuse the system messages that
  carry pointers (ERROR_MESSAGE_SYNC_ONLY), as Windows does.
- InSendMessage(Ex), ReplyMessage (the sender is released with that result; the procedure's own result is
  dropped), Get/SetMessageExtraInfo (no input here: only what the thread set itself).
- A receiver that ends (or whose process ends) before replying: the sender's call returns 0. A window
  destroyed before its sent message is handled: 0.
- Across processes the messages the system knows are marshalled: the receiver gets a copy in its own address
  space and the results are copied back — WM_SETTEXT (the text), WM_GETTEXT (a buffer of wParam characters,
  copied back up to the result and its terminator), EM_GETLINE (the buffer whose first WORD is its size),
  WM_COPYDATA (the COPYDATASTRUCT and its data, laid out for the receiver's pointer size); WM_GETTEXTLENGTH
  carries no pointer. Any other message's parameters reach the receiver unchanged (a pointer in them means
  nothing in the other process, as on Windows); the other text-carrying control messages (LB_GETTEXT,
  CB_GETLBTEXT, LB_ADDSTRING, …) are not marshalled.
- ShowWindow and SetWindowPos of another thread's window run in the owning thread (the whole operation, with
  its messages, as a sent message: InSendMessage is TRUE in its procedures), SetWindowText sends WM_SETTEXT,
  GetWindowText(Length) of a window of another thread of the same process sends WM_GETTEXT(LENGTH).
"""
from __future__ import annotations

from winhatch.win32.api import api
from winhatch.win32.user32 import window as W

U32 = "user32.dll"
ISMEX_NOSEND, ISMEX_SEND, ISMEX_NOTIFY, ISMEX_CALLBACK, ISMEX_REPLIED = 0, 1, 2, 4, 8
SMTO_NORMAL, SMTO_BLOCK, SMTO_ABORTIFHUNG, SMTO_NOTIMEOUTIFNOTHUNG, SMTO_ERRORONEXIT = 0, 1, 2, 8, 0x20
ERROR_TIMEOUT = 1460
ERROR_MESSAGE_SYNC_ONLY = 1159
QS_SENDMESSAGE = 0x40
HUNG_MS = 5000                  # the "not responding" time of IsHungAppWindow
INFINITE = 0xFFFFFFFF
MAX_ROUNDS = 100_000            # bound on the messages one call handles / the waits one send makes
WM_COPYDATA, EM_GETLINE = 0x4A, 0xC4
MAX_COPY = 64 << 20             # the largest WM_COPYDATA block copied
# system messages whose parameters carry pointers: not for the asynchronous send functions
POINTER_MESSAGES = frozenset((0x1, 0xC, 0xD, 0x14, 0x24, 0x2B, 0x2C, 0x2D, 0x39, 0x46, 0x47, 0x4A, 0x81, 0x83,
                              0xB0, 0xC2, 0xC4, 0x143, 0x14A, 0x148, 0x14C, 0x14D, 0x158, 0x180, 0x181, 0x189,
                              0x18C, 0x18F, 0x1A2))


class SentMessage:
    """A message sent to a thread (win32k's SENDMSG): what the sender waits on until it is replied to."""

    def __init__(self, kind: str, sender, receiver, hwnd: int, msg: int, wp: int, lp: int, wide: bool):
        self.kind = kind                # "send", "notify", "callback", or "result" (a callback to run)
        self.sender, self.receiver = sender, receiver
        self.hwnd, self.msg, self.wp, self.lp, self.wide = hwnd, msg, wp, lp, wide
        self.action = None              # an operation run in the receiver instead of a window procedure
        self.marshal = None             # the copy of the sender's data (across processes)
        self.out = None                 # the bytes copied back to the sender
        self.replied = False
        self.result = 0
        self.started = False
        self.cancelled = False          # the sender stopped waiting (time-out)
        self.deadline = None
        self.callback = self.data = 0

    def receiver_gone(self) -> bool:
        r = self.receiver
        return r.terminated or getattr(r.process, "exited", False)

    # a waitable object for the sender (winhatch.kernel.ke.wait): signalled once replied to
    def is_signaled_for(self, thread) -> bool:
        return self.replied or self.receiver_gone()

    def describe(self) -> str:
        return (f"the reply to message {self.msg:#x} sent to window {self.hwnd:#x} of thread {self.receiver.tid} "
                f"(pid {self.receiver.process.pid})")


class SentQueue:
    """A thread's incoming sent messages (and the results of its SendMessageCallback calls to run)."""

    def __init__(self, tid: int):
        self.tid = tid
        self.items: list[SentMessage] = []

    def is_signaled_for(self, thread) -> bool:
        return bool(self.items)

    def describe(self) -> str:
        return f"a message sent to thread {self.tid}"


def sent_queue(c, tid: int) -> SentQueue:
    qs = W._state(c).setdefault("sent_queues", {})
    q = qs.get(tid)
    if q is None:
        q = qs[tid] = SentQueue(tid)
    return q


def has_sent(c) -> bool:
    q = W._state(c).get("sent_queues", {}).get(c.thread.tid)
    return bool(q is not None and q.items)


def note_pump(c) -> None:
    """The thread looked at its queue (for SMTO_ABORTIFHUNG)."""
    c.thread.__dict__["user32_last_pump"] = c.machine.clock.now()


def _hung(c, t) -> bool:
    last = t.__dict__.get("user32_last_pump")
    if last is None:
        return False            # still starting up
    w = t.wait
    if w is not None and w.reason in ("GetMessage", "WaitMessage", "DialogBox", "SendMessage"):
        return False
    return c.machine.clock.now() - last > HUNG_MS * 10_000


def _enqueue(c, sm: SentMessage) -> None:
    sent_queue(c, sm.receiver.tid).items.append(sm)
    c.machine.dispatcher.signal_waiters()


def _received(c) -> list:
    return c.thread.__dict__.setdefault("user32_received", [])


# ------------------------------------------------------------------------------------------ the receiver
def receive(c) -> int:
    """Handle every sent message queued for the calling thread (and run its SendMessageCallback callbacks);
    the number handled. Runs guest code: a SPECULATIVE handler is served again deferred first."""
    q = W._state(c).get("sent_queues", {}).get(c.thread.tid)
    if q is None or not q.items:
        return 0
    c.machine.dispatcher.need_guest_code()
    n = 0
    while q.items and n < MAX_ROUNDS:
        sm = q.items.pop(0)
        n += 1
        if sm.kind == "result":
            c.machine.dispatcher.call_guest(c.thread, sm.callback, [sm.hwnd, sm.msg, sm.data, sm.result])
            continue
        if sm.cancelled:
            continue
        _handle(c, sm)
    return n


def _handle(c, sm: SentMessage) -> None:
    sm.started = True
    w = W._state(c)["windows"].get(sm.hwnd)
    stack = _received(c)
    stack.append(sm)
    result = 0
    try:
        if w is not None and not w.destroyed:
            if sm.action is not None:
                result = _run_action(c, w, sm.action)
            else:
                result = _deliver(c, w, sm)
    finally:
        stack.pop()
        if not sm.replied:
            _reply(c, sm, result)


def _deliver(c, w, sm: SentMessage) -> int:
    from winhatch.win32.kernel32.common import heap_alloc, heap_free
    m = sm.marshal
    if m is None:
        return W.send(c, w, sm.msg, sm.wp, sm.lp, sm.wide)
    size = 2 if sm.wide else 1
    temps = []
    try:
        kind = m[0]
        wp, lp = sm.wp, sm.lp
        if kind == "text":
            lp = W._guest_str(c, m[1], sm.wide)
            temps.append(lp)
        elif kind in ("gettext", "getline"):
            cch = m[1]
            lp = heap_alloc(c, (max(cch, 1) + 1) * size, 0x8)
            temps.append(lp)
            if kind == "getline":
                c.write(lp, (cch & 0xFFFF).to_bytes(2, "little"))
        elif kind == "copydata":
            _, dw, data, has_ptr = m
            ps = c.ptr_size
            lp = heap_alloc(c, 3 * ps, 0x8)
            temps.append(lp)
            p = 0
            if has_ptr:
                p = heap_alloc(c, max(len(data), 1), 0)
                temps.append(p)
                c.write(p, data)
            c.write_ptr(lp, dw)
            c.write_u32(lp + ps, len(data))
            c.write_ptr(lp + 2 * ps, p)
        result = W.send(c, w, sm.msg, wp, lp, sm.wide)
        if kind == "gettext" and m[1] > 0:
            n = min(result & 0xFFFFFFFF, m[1] - 1)
            sm.out = bytes(c.read(lp, n * size)) + bytes(size)
        elif kind == "getline":
            n = min(result & 0xFFFFFFFF, m[1])
            sm.out = bytes(c.read(lp, n * size))
        return result
    finally:
        for t in temps:
            heap_free(c, t)


def _run_action(c, w, action) -> int:
    op = action[0]
    if op == "show":
        return W.show_window(c, w, action[1])
    if op == "pos":
        return W.set_window_pos(c, w, *action[1:])
    raise ValueError(op)


def _reply(c, sm: SentMessage, result: int) -> None:
    sm.result, sm.replied = result, True
    if sm.kind == "callback" and not sm.sender.terminated:
        r = SentMessage("result", sm.receiver, sm.sender, sm.hwnd, sm.msg, 0, 0, sm.wide)
        r.callback, r.data, r.result = sm.callback, sm.data, result
        sent_queue(c, sm.sender.tid).items.append(r)
    c.machine.dispatcher.signal_waiters()


# ------------------------------------------------------------------------------------------ the sender
def _prepare(c, sm: SentMessage) -> None:
    """The sender's data the system copies to another process."""
    if sm.sender.process is sm.receiver.process or sm.action is not None:
        return
    msg, lp = sm.msg, sm.lp
    if msg == W.WM_SETTEXT and lp:
        sm.marshal = ("text", W.read_text(c, lp, sm.wide))
    elif msg == W.WM_GETTEXT and lp:
        sm.marshal = ("gettext", min(sm.wp & 0xFFFFFFFF, 1 << 20))
    elif msg == EM_GETLINE and lp:
        sm.marshal = ("getline", int.from_bytes(c.read(lp, 2), "little"))
    elif msg == WM_COPYDATA and lp:
        ps = c.ptr_size
        dw, cb, p = c.ptr(lp), c.u32(lp + ps), c.ptr(lp + 2 * ps)
        data = bytes(c.read(p, min(cb, MAX_COPY))) if p and cb else b""
        sm.marshal = ("copydata", dw, data, bool(p))


def _target(c, w):
    """The thread that owns window w, or None when it has ended."""
    from winhatch.kernel.ps.objects import Thread
    t = c.machine.cid.lookup(w.tid)
    if not isinstance(t, Thread) or t.terminated or getattr(t.process, "exited", False):
        return None
    return t


def send_to_thread(c, w, msg: int, wp: int, lp: int, wide: bool, *, reason: str = "SendMessage",
                   timeout_ms: int = INFINITE, flags: int = 0, action=None) -> tuple[bool, int]:
    """Send to w, a window of another thread, and wait for the reply: (completed, result). Re-run after each
    wait (the thread's pending send is found by the call's key); handles the caller's own incoming sent
    messages while it waits (unless SMTO_BLOCK)."""
    from winhatch.kernel.ke.wait import call_key, wait_for
    key = call_key(c, reason)
    sending = c.thread.__dict__.setdefault("user32_sending", {})
    sm = sending.get(key)
    if sm is None:
        if not w.tid:
            W._not_impl(c, f"{reason} to a window of the system ({w.cls.name}): its procedure is not modelled")
        receiver = _target(c, w)
        if receiver is None:
            return False, 0
        if flags & SMTO_ABORTIFHUNG and _hung(c, receiver):
            c.set_last_error(ERROR_TIMEOUT)
            return False, 0
        sm = SentMessage("send", c.thread, receiver, w.hwnd, msg & 0xFFFFFFFF, wp, lp, wide)
        sm.action = action
        if timeout_ms != INFINITE:
            sm.deadline = c.machine.clock.now() + timeout_ms * 10_000
        _prepare(c, sm)
        sending[key] = sm
        _enqueue(c, sm)
    block = bool(flags & SMTO_BLOCK)
    own = sent_queue(c, c.thread.tid)
    for _ in range(MAX_ROUNDS):
        if sm.replied:
            sending.pop(key, None)
            if sm.out is not None:
                c.write(lp, sm.out)
            return True, sm.result
        if sm.receiver_gone():
            sending.pop(key, None)
            return False, 0
        now = c.machine.clock.now()
        if sm.deadline is not None and now >= sm.deadline:
            sending.pop(key, None)
            sm.cancelled = True
            q = sent_queue(c, sm.receiver.tid)
            if sm in q.items:
                q.items.remove(sm)
            c.set_last_error(ERROR_TIMEOUT)
            return False, 0
        if not block and own.items:
            receive(c)
            continue
        ms = INFINITE if sm.deadline is None else max(1, -(-(sm.deadline - now) // 10_000))
        wait_for(c, [sm] if block else [sm, own], False, ms, reason=reason)
    W._not_impl(c, f"{reason}: more than {MAX_ROUNDS} messages handled while waiting for one reply")


def send_any(c, w, msg: int, wp: int, lp: int, wide: bool, reason: str = "SendMessage") -> int:
    """SendMessage's delivery: at once to a window of the calling thread, as a sent message otherwise."""
    if w.tid == c.thread.tid:
        return W.send(c, w, msg, wp, lp, wide)
    return send_to_thread(c, w, msg, wp, lp, wide, reason=reason)[1]


def run_action(c, w, action, reason: str) -> int:
    """An operation on another thread's window, run by that thread (its result)."""
    return send_to_thread(c, w, 0, 0, 0, c.wide, reason=reason, action=action)[1]


# ------------------------------------------------------------------------------------------ the APIs
@api(U32, "LRESULT WINAPI SendMessageTimeout%(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam, UINT fuFlags, "
     "UINT uTimeout, PDWORD_PTR lpdwResult)", calls_guest=True)
def SendMessageTimeout(c, hwnd, msg, wp, lp, flags, timeout, presult):
    if (hwnd & 0xFFFFFFFF) == 0xFFFF:
        W._not_impl(c, "SendMessageTimeout(HWND_BROADCAST): broadcasting to every top-level window")
    w = W._window(c, hwnd)
    if w is None:
        return 0
    if w.tid == c.thread.tid:
        ok, res = True, W.send(c, w, msg & 0xFFFFFFFF, wp, lp, c.wide)
    else:
        ok, res = send_to_thread(c, w, msg, wp, lp, c.wide, reason="SendMessageTimeout",
                                 timeout_ms=timeout & 0xFFFFFFFF, flags=flags & 0xFFFFFFFF)
    if presult:
        c.write_ptr(presult, res if ok else 0)
    return int(ok)


def _async(c, hwnd, msg, wp, lp, kind: str, callback: int = 0, data: int = 0) -> int:
    msg &= 0xFFFFFFFF
    if (hwnd & 0xFFFFFFFF) == 0xFFFF:
        W._not_impl(c, f"{c.name}(HWND_BROADCAST): broadcasting to every top-level window")
    if msg in POINTER_MESSAGES:
        c.set_last_error(ERROR_MESSAGE_SYNC_ONLY)
        return 0
    w = W._window(c, hwnd)
    if w is None:
        return 0
    if not w.tid:
        W._not_impl(c, f"{c.name} to a window of the system ({w.cls.name}): its procedure is not modelled")
    if w.tid == c.thread.tid:
        res = W.send(c, w, msg, wp, lp, c.wide)
        if kind == "callback":
            c.machine.dispatcher.call_guest(c.thread, callback, [w.hwnd, msg, data, res])
        return 1
    receiver = _target(c, w)
    if receiver is None:
        return 0
    sm = SentMessage(kind, c.thread, receiver, w.hwnd, msg, wp, lp, c.wide)
    sm.callback, sm.data = callback, data
    _enqueue(c, sm)
    return 1


@api(U32, "BOOL WINAPI SendNotifyMessage%(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam)", calls_guest=True)
def SendNotifyMessage(c, hwnd, msg, wp, lp):
    return _async(c, hwnd, msg, wp, lp, "notify")


@api(U32, "BOOL WINAPI SendMessageCallback%(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam, "
     "PVOID lpResultCallBack, ULONG_PTR dwData)", calls_guest=True)
def SendMessageCallback(c, hwnd, msg, wp, lp, callback, data):
    return _async(c, hwnd, msg, wp, lp, "callback", callback, data)


def _current(c):
    stack = c.thread.__dict__.get("user32_received")
    return stack[-1] if stack else None


@api(U32, "DWORD WINAPI InSendMessageEx(LPVOID lpReserved)")
def InSendMessageEx(c, reserved):
    sm = _current(c)
    if sm is None:
        return ISMEX_NOSEND
    flags = {"send": ISMEX_SEND, "notify": ISMEX_NOTIFY, "callback": ISMEX_CALLBACK}[sm.kind]
    return flags | (ISMEX_REPLIED if sm.replied and sm.kind == "send" else 0)


@api(U32, "BOOL WINAPI InSendMessage(void)")
def InSendMessage(c):
    """TRUE while the thread handles a message another thread sent with SendMessage(Timeout) — after a
    ReplyMessage too (it is still handling it; InSendMessageEx tells ISMEX_REPLIED)."""
    sm = _current(c)
    return int(sm is not None and sm.kind == "send")


@api(U32, "BOOL WINAPI ReplyMessage(LRESULT lResult)")
def ReplyMessage(c, result):
    """Release the sender of the message being handled with this result. TRUE while the thread handles a
    message another thread sent (a second reply changes nothing), FALSE otherwise (as documented)."""
    sm = _current(c)
    if sm is None or sm.kind != "send":
        return 0
    if not sm.replied:
        _reply(c, sm, result)
    return 1


@api(U32, "LPARAM WINAPI GetMessageExtraInfo(void)")
def GetMessageExtraInfo(c):
    """The extra information of the thread's last input message: there is no input device, so only what the
    thread set itself with SetMessageExtraInfo (0 otherwise)."""
    return c.thread.__dict__.get("user32_extra_info", 0)


@api(U32, "LPARAM WINAPI SetMessageExtraInfo(LPARAM lParam)")
def SetMessageExtraInfo(c, value):
    old = c.thread.__dict__.get("user32_extra_info", 0)
    c.thread.__dict__["user32_extra_info"] = value
    return old


@api(U32, "BOOL WINAPI WaitMessage(void)", calls_guest=True)
def WaitMessage(c):
    """Handle the thread's incoming sent messages; return when there are some, or when a message is posted to
    the thread or one of its timers is due (at once when its queue already holds a message)."""
    if receive(c):
        return 1
    note_pump(c)
    if W._queue(c, c.thread.tid) or W._due_timer(c, 0) is not None:
        return 1
    W.wait_message(c, 0, "WaitMessage")
    receive(c)
    return 1


QS_KEY, QS_MOUSEMOVE, QS_MOUSEBUTTON, QS_POSTMESSAGE, QS_TIMER, QS_PAINT, QS_HOTKEY, QS_ALLPOSTMESSAGE = \
    0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x80, 0x100
MWMO_WAITALL, MWMO_ALERTABLE, MWMO_INPUTAVAILABLE = 0x1, 0x2, 0x4
SYNCHRONIZE = 0x00100000
WAIT_FAILED = 0xFFFFFFFF


def _input_ready(c, mask: int) -> bool:
    if mask & QS_SENDMESSAGE and has_sent(c):
        return True
    if mask & (QS_POSTMESSAGE | QS_ALLPOSTMESSAGE) and W._queue(c, c.thread.tid):
        return True
    return bool(mask & QS_TIMER) and W._due_timer(c, 0) is not None


def _msg_wait(c, n: int, p: int, ms: int, mask: int, flags: int) -> int:
    """Wait for one of the objects or for input of the wake mask's kinds in the thread's queue (n: the
    queue). The queue's input counts while it is there (as with MWMO_INPUTAVAILABLE: winhatch does not keep
    the "new since the thread last looked" marks). Sent messages are not handled here: the caller's
    PeekMessage / GetMessage does that. Waiting for all the objects and the input (MWMO_WAITALL) is not
    implemented."""
    from winhatch.kernel.ke.wait import INFINITE as INF, WAIT_TIMEOUT, call_key, wait_for
    from winhatch.win32.kernel32.common import lookup
    n &= 0xFFFFFFFF
    if n > 63 or (n and not p):
        c.set_last_error(W.ERROR_INVALID_PARAMETER)
        return WAIT_FAILED
    if flags & MWMO_WAITALL and n:
        W._not_impl(c, "MsgWaitForMultipleObjectsEx(MWMO_WAITALL): waiting for every object and the input")
    objs = []
    for i in range(n):
        o = lookup(c, c.ptr(p + i * c.ptr_size), None, SYNCHRONIZE)
        if o is None:
            return WAIT_FAILED
        objs.append(o)
    mask &= 0xFFFF
    key = call_key(c, "MsgWaitForMultipleObjects")
    deadlines = c.thread.__dict__.setdefault("user32_msgwait", {})
    deadline = deadlines.get(key)
    if deadline is None and ms != INF:
        deadline = deadlines[key] = c.machine.clock.now() + ms * 10_000
    for _ in range(MAX_ROUNDS):
        left = INF if deadline is None else max(0, -(-(deadline - c.machine.clock.now()) // 10_000))
        if _input_ready(c, mask):
            deadlines.pop(key, None)
            return n
        if mask & QS_TIMER:
            left = min(left, W._next_timer_ms(c, 0))
        queue = [W._queue_event(c), sent_queue(c, c.thread.tid)]
        st = wait_for(c, objs + queue, False, left, reason="MsgWaitForMultipleObjects",
                      alertable=bool(flags & MWMO_ALERTABLE))
        if st < n or (0x80 <= st < 0x80 + n) or st == 0xC0:
            deadlines.pop(key, None)
            return st
        if st == WAIT_TIMEOUT and (deadline is None or c.machine.clock.now() >= deadline) \
                and not _input_ready(c, mask):
            deadlines.pop(key, None)
            return WAIT_TIMEOUT
    deadlines.pop(key, None)
    return WAIT_TIMEOUT


@api(U32, "DWORD WINAPI MsgWaitForMultipleObjects(DWORD nCount, const HANDLE *pHandles, BOOL fWaitAll, "
     "DWORD dwMilliseconds, DWORD dwWakeMask)", calls_guest=True)
def MsgWaitForMultipleObjects(c, n, p, wait_all, ms, mask):
    return _msg_wait(c, n, p, ms & 0xFFFFFFFF, mask, MWMO_WAITALL if wait_all else 0)


@api(U32, "DWORD WINAPI MsgWaitForMultipleObjectsEx(DWORD nCount, const HANDLE *pHandles, DWORD dwMilliseconds, "
     "DWORD dwWakeMask, DWORD dwFlags)", calls_guest=True)
def MsgWaitForMultipleObjectsEx(c, n, p, ms, mask, flags):
    return _msg_wait(c, n, p, ms & 0xFFFFFFFF, mask, flags)
