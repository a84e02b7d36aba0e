"""A GDB remote-serial-protocol stub for one guest process (`winhatch run --gdb PORT`).

    gdb-multiarch -ex 'set architecture i386:x86-64' -ex 'target remote 127.0.0.1:PORT'

The protocol is the one of the GDB manual's "Remote Protocol" appendix: packets ``$data#checksum`` with
``+``/``-`` acknowledgements until ``QStartNoAckMode``, a 0x03 byte to interrupt a running target.

How it sits in winhatch: the stub is the dispatcher's ``debugger`` (winhatch.kernel.ke.dispatcher, the hook
points of ``_run_until``).  Before every CPU run of a thread of the debugged process, ``before_run`` looks for a
pending stop (the first stop, a breakpoint, a watchpoint, a finished single-step, an interrupt, a DLL load);
when there is one, it holds the whole machine in the gdb session (all-stop: nothing runs while gdb looks) until
gdb resumes, and tells the dispatcher whether the run is a single step (an instruction budget of 1).  The
session runs in the thread that runs the guest, between two CPU runs, so registers and memory are quiet.

- Breakpoints (Z0/Z1) are Unicorn code hooks limited to their one address: guest memory is never patched, so a
  read shows the original bytes and the guest's own checksums see nothing.  A thread resumed at a breakpoint
  it stopped at passes it once.
- Watchpoints (Z2 write, Z3 read, Z4 access) are memory hooks on the range.  A hook stops the run after the
  access; Unicorn then reports the pc of the accessing instruction with a store already done, so the stub puts
  the old bytes back and single-steps the instruction once more with the watch muted (exactly what a fault
  restarts), then reports ``watch:ADDR;`` with the pc after the instruction, as x86 debug registers do.
- Stepping: a CPU run with an instruction budget of 1.  An API stub's ``int 0x2e`` is one instruction: stepping
  it runs the API.
- Nothing costs anything on the hot path while no breakpoint, watchpoint or step is active: the hooks exist
  only while gdb has them inserted (gdb removes them at every stop).  An interrupt (0x03, gdb's Ctrl-C) uses
  the CPU's preemption slot (a native block hook calling a no-op), so it stops between two instructions.
- Threads are the guest's: thread ids are TIDs, registers of a thread that is not on the CPU come from its
  saved context.
- Libraries: ``qXfer:libraries:read`` gives the loaded images as Windows-style paths with the address of their
  first section (what gdb's Windows support reports); a stop reply carries ``library:;`` when the list changed.
- The run ends: ``W`` with the exit code.  ``k`` ends the process (TerminateProcess(h, 0), as gdbserver does on
  Windows); ``D`` and a closed connection detach: the run continues without the debugger.
"""
from __future__ import annotations

import queue
import socket
import struct
import sys
import threading
from typing import Callable

from winhatch.cpu import ucconst as UC
from winhatch.cpu.ucbind import UcError
from winhatch.kernel import events as ev
from winhatch.ntstatus import NtStatusError

SIGINT, SIGTRAP = 2, 5
PACKET_SIZE = 0x4000

# -- registers ---------------------------------------------------------------------------------------------------
# (gdb name, bits, tdesc type, winhatch register or a special form): "st<i>" is ST(i), relative to the x87 top;
# "zero" a register Unicorn does not keep (the x87 last-instruction pointers), read as 0, writes ignored
_X87 = [(f"st{i}", 80, "i387_ext", f"st{i}") for i in range(8)] + [
    ("fctrl", 32, "int", "fpcw"), ("fstat", 32, "int", "fpsw"), ("ftag", 32, "int", "fptag"),
    ("fiseg", 32, "int", "zero"), ("fioff", 32, "int", "zero"), ("foseg", 32, "int", "zero"),
    ("fooff", 32, "int", "zero"), ("fop", 32, "int", "zero")]
_SEGS = [(s, 32, "int32", s) for s in ("cs", "ss", "ds", "es", "fs", "gs")]

REGS64 = ([(r, 64, "data_ptr" if r in ("rbp", "rsp") else "int64", r)
           for r in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp")]
          + [(f"r{i}", 64, "int64", f"r{i}") for i in range(8, 16)]
          + [("rip", 64, "code_ptr", "rip"), ("eflags", 32, "i386_eflags", "eflags")] + _SEGS + _X87
          + [(f"xmm{i}", 128, "vec128", f"xmm{i}") for i in range(16)] + [("mxcsr", 32, "int", "mxcsr")]
          + [("fs_base", 64, "int", "fs_base"), ("gs_base", 64, "int", "gs_base")])
REGS32 = ([(r, 32, "data_ptr" if r in ("ebp", "esp") else "int32", r)
           for r in ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")]
          + [("eip", 32, "code_ptr", "eip"), ("eflags", 32, "i386_eflags", "eflags")] + _SEGS + _X87
          + [(f"xmm{i}", 128, "vec128", f"xmm{i}") for i in range(8)] + [("mxcsr", 32, "int", "mxcsr")])
# (no org.gnu.gdb.i386.segments for x86: gdb 13's i386 support fails an internal assertion with it; the TEB is
# at the FS selector's base, $fs is 0x3b)

_TYPES = """<flags id="i386_eflags" size="4">
 <field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
 <field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
 <field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
 <field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
 <field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
 <field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/>
</flags>
"""
_SSE_TYPES = """<vector id="v4f" type="ieee_single" count="4"/><vector id="v2d" type="ieee_double" count="2"/>
<vector id="v16i8" type="int8" count="16"/><vector id="v8i16" type="int16" count="8"/>
<vector id="v4i32" type="int32" count="4"/><vector id="v2i64" type="int64" count="2"/>
<union id="vec128"><field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>
 <field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/>
 <field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/></union>
"""


def target_xml(is64: bool) -> str:
    """The target description: org.gnu.gdb.i386.core, .sse and .segments (the names and order gdb's i386 and
    amd64 support require)."""
    regs = REGS64 if is64 else REGS32
    feats = {"core": [], "sse": [], "segments": []}
    for i, (name, bits, typ, _src) in enumerate(regs):
        f = "sse" if name.startswith("xmm") or name == "mxcsr" else \
            "segments" if name in ("fs_base", "gs_base") else "core"
        group = ' group="float"' if name.startswith("st") or name.startswith("f") and name not in (
            "fs", "fs_base") else ' group="vector"' if f == "sse" else ""
        feats[f].append(f'<reg name="{name}" bitsize="{bits}" type="{typ}" regnum="{i}"{group}/>')
    out = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">', "<target>",
           f"<architecture>{'i386:x86-64' if is64 else 'i386'}</architecture>"]
    for f in ("core", "sse", "segments") if is64 else ("core", "sse"):
        out.append(f'<feature name="org.gnu.gdb.i386.{f}">')
        if f == "core":
            out.append(_TYPES)
        elif f == "sse":
            out.append(_SSE_TYPES)
        out.extend(feats[f])
        out.append("</feature>")
    out.append("</target>")
    return "\n".join(out)


class _Regs:
    """A thread's registers: live from the CPU when it is the one on it, else its saved context."""

    def __init__(self, thread):
        self.thread = thread
        proc = thread.process
        self.cpu = proc.cpu
        self.is64 = self.cpu.is64
        self.live = proc.subsystem.get("running_thread") is thread
        ctx = None if self.live else (thread.context or getattr(thread, "user_context", None))
        self.ctx = ctx

    def _raw(self, name: str) -> int:
        if self.live:
            try:
                return self.cpu.reg(name)
            except (KeyError, NtStatusError):
                return 0
        if self.ctx is None:
            return 0
        try:
            return self.ctx.get(name)
        except KeyError:
            return 0

    def get(self, src: str) -> int:
        if src == "zero":
            return 0
        if src.startswith("st"):
            top = (self._raw("fpsw") >> 11) & 7
            return self._raw(f"fp{(top + int(src[2:])) & 7}")
        return self._raw(src)

    def set(self, src: str, value: int) -> None:
        if src == "zero":
            return
        if src.startswith("st"):
            top = (self._raw("fpsw") >> 11) & 7
            src = f"fp{(top + int(src[2:])) & 7}"
        if self.get(src) == value:
            return
        if src in ("cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base"):
            raise ValueError(f"{src} cannot be changed by the debugger")
        if self.live:
            self.cpu.set_reg(src, value)
        elif self.ctx is not None:
            self.ctx.set(src, value)
        else:
            raise ValueError("the thread has no context yet")


# -- packets -----------------------------------------------------------------------------------------------------
def _checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


def _escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in (0x23, 0x24, 0x7D, 0x2A):
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def _unescape(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            b = next(it, 0x20) ^ 0x20
        out.append(b)
    return bytes(out)


class _Connection:
    """One gdb connection: a reader thread splits the byte stream into packets (acknowledging them while acks
    are on) and turns a 0x03 into an interrupt; the guest's thread takes packets from the queue."""

    def __init__(self, sock: socket.socket, on_interrupt: Callable[[], None]):
        self.sock = sock
        self.on_interrupt = on_interrupt
        self.packets: queue.Queue = queue.Queue()
        self.ack = True
        self.closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="winhatch-gdb-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buf = bytearray()
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
                while buf:
                    c = buf[0]
                    if c == 0x03:
                        del buf[0]
                        self.on_interrupt()
                    elif c == 0x24:            # $data#cs
                        end = buf.find(b"#", 1)
                        if end < 0 or len(buf) < end + 3:
                            break
                        body = bytes(buf[1:end])
                        ok = _checksum(body) == bytes(buf[end + 1:end + 3]).lower()
                        del buf[:end + 3]
                        if self.ack:
                            self._raw(b"+" if ok else b"-")
                        if ok or not self.ack:
                            self.packets.put(body)
                    else:                      # '+', '-' and noise between packets
                        del buf[0]
                if len(buf) > 4 * PACKET_SIZE:   # a packet that never ends: drop it
                    buf.clear()
        except OSError:
            pass
        self.closed = True
        self.packets.put(None)

    def _raw(self, data: bytes) -> None:
        with self._lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("latin-1")
        self._raw(b"$" + data + b"#" + _checksum(data))

    def recv(self, give_up: Callable[[], bool]) -> bytes | None:
        """The next packet; None when the connection closed or give_up() became true (polled)."""
        while True:
            if self.closed and self.packets.empty():
                return None
            try:
                return self.packets.get(timeout=0.2)
            except queue.Empty:
                if give_up():
                    return None

    def close(self, drain_s: float = 0.0) -> None:
        """Close; with drain_s, first let gdb read what was sent (shut the write side, read until gdb closes)."""
        try:
            if drain_s:
                self.sock.shutdown(socket.SHUT_WR)
                self._thread.join(drain_s)
            self.sock.close()
        except OSError:
            pass


# -- the stub ----------------------------------------------------------------------------------------------------
class _Resume:
    def __init__(self, step_tid: int | None, signal: int = 0):
        self.step_tid = step_tid
        self.signal = signal


def _signal_of(code: int) -> int:
    """The gdb signal of an exception code, as gdb's Windows support maps them."""
    code &= 0xFFFFFFFF
    if code in (0xC0000005, 0xC00000FD, 0x80000001):    # access violation, stack overflow, guard page
        return 11                                         # SIGSEGV
    if code in (0xC0000094, 0xC0000095) or 0xC000008D <= code <= 0xC0000093 or code in (0xC00002B4, 0xC00002B5):
        return 8                                          # SIGFPE
    if code in (0xC000001D, 0xC0000096):                  # illegal / privileged instruction
        return 4                                          # SIGILL
    if code in (0x40010005, 0xC000013A):                  # DBG_CONTROL_C, STATUS_CONTROL_C_EXIT
        return SIGINT
    return SIGTRAP                                        # breakpoint, single step, and the others


class _Kill(Exception):
    pass


class _Detach(Exception):
    pass


class GdbStub:
    """The GDB stub of one process.  ``GdbStub(machine, process, port=…)`` listens at once; the connection is
    accepted at the first stop (the entry point, or with ``stop="loader"`` the first instruction), so gdb
    finds a stopped process.  ``log``: where the stub says where it listens (stderr)."""

    def __init__(self, machine, process, port: int, host: str = "127.0.0.1", stop: str = "entry", log=None):
        if stop not in ("entry", "loader"):
            raise ValueError("stop must be 'entry' or 'loader'")
        self.machine = machine
        self.process = process
        self.cpu = process.cpu
        self.is64 = self.cpu.is64
        self.regs = REGS64 if self.is64 else REGS32
        self.stop_at = stop
        self.log = log if log is not None else sys.stderr
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(1)
        self.address = self.listener.getsockname()
        self.conn: _Connection | None = None
        self.active = True
        self.breakpoints: dict[int, tuple] = {}        # address -> (kind, hook handle)
        self.watchpoints: dict[tuple, int] = {}        # (kind, address, length) -> hook handle
        self._callbacks: list = []                     # keep the hook callbacks alive with the engine
        self._files: dict = {}                         # vFile descriptors
        self._entry_hook = None
        self._pending: tuple | None = None             # (thread, reply, nest): a stop to report
        self._last_reply = "S05"
        self._waiting = False                          # gdb waits for a stop reply (it resumed us)
        self._step_tid: int | None = None
        self._step_nest = 0
        self._step_after: str = ""                     # the reason a step ends with (after a watch hit)
        self._hit: tuple | None = None                 # what stopped the current run: (kind, address, …)
        self._skip: tuple | None = None                # (tid, pc): pass the breakpoint at pc once
        self._skip_pc: int | None = None
        self._mute_watch = False
        self._break = False
        self._libs_changed = False
        self._g_tid = 0
        self._c_tid = 0
        self._started = False
        self.exit_status: int | None = None
        machine.events.subscribe(self._on_event, (ev.IMAGE,))
        machine.dispatcher.debugger = self
        print(f"winhatch: gdb stub on {self.address[0]}:{self.address[1]} (pid {process.pid}); the process stops "
              f"at its {'first instruction' if stop == 'loader' else 'entry point'}", file=self.log, flush=True)

    # -- the dispatcher's hook points ------------------------------------------------------------------------------
    def before_run(self, thread) -> int:
        if not self.active:
            return 0
        if not self._started:
            self._started = True
            self.cpu.prepare_stop_requests()
            if self.stop_at == "loader":
                self._pending = (thread, "", 0)
            else:
                self._arm_entry()
        if self._pending is not None and (self._pending[0].terminated or self._pending[0].process.exited):
            self._pending = None          # its thread is gone: nothing left to report
        if self._break:
            self._break = False
            self.cpu.clear_stop_request()
            if self._pending is None or self._pending[0] is not thread:
                # the interrupt stops the thread that runs now (a step of a thread still blocked ends with it)
                self._step_tid = None
                self._pending = (thread, f"T{SIGINT:02x}", self._nest())
        if self._pending is None and self._libs_changed and self.conn is not None:
            self._pending = (thread, "", self._nest())
        p = self._pending
        if p is not None and p[0] is thread and self._nest() <= p[2]:
            self._pending = None
            try:
                self._stopped(thread, p[1])
            except _Detach:
                self._detach()
                return 0
            except _Kill:
                self._kill()
        if not self.active:
            return 0
        pc = self.cpu.pc
        sk, self._skip = self._skip, None
        self._skip_pc = pc if sk is not None and sk == (thread.tid, pc) else None
        if self._step_tid == thread.tid:
            self._step_nest = self._nest()
            # a block translated by an uncounted run has no instruction-count calls: the engine would run all of it
            # (measured: a re-step after a watch hit ran to the end of the block); drop the blocks of this page
            self.cpu.flush_code(pc, 1)
            return 1
        return 0

    def after_run(self, thread, reason) -> bool:
        if not self.active:
            return False
        hit, self._hit = self._hit, None
        self._skip_pc = None
        if hit is not None and hit[0] == "entry":
            self._remove_entry()          # one-shot (removed here, outside the engine's hook call)
        stepping = self._step_tid == thread.tid
        if hit is not None and hit[0] in ("watch", "rwatch", "awatch"):
            kind, addr, at, old = hit
            if self.cpu.pc != at:        # the instruction completed: report it as it is
                self._step_tid = None
                self._pending = (thread, f"T{SIGTRAP:02x}{kind}:{addr:x};", self._nest())
                return True
            # the engine stopped after the access with the pc back on the instruction: undo its store and run it
            # once more with the watch muted (as a fault restarts it), then report it
            if old is not None:
                try:
                    self.cpu.mem_write(old[0], old[1])
                except NtStatusError:
                    pass
            self._step_tid = thread.tid
            self._step_after = f"{kind}:{addr:x};"
            self._mute_watch = True
            return True
        if stepping:
            done = reason.kind in ("budget", "trap", "fault") or hit is not None
            if done:
                extra = self._step_after
                self._step_after = ""
                self._mute_watch = False
                self._step_tid = None
                if hit is not None and hit[0] in ("swbreak", "hwbreak", "entry"):
                    extra = ""
                self._pending = (thread, f"T{SIGTRAP:02x}{extra}", self._step_nest)
                # a step that ended in a trap or a fault: the dispatcher serves it first, the stop comes after
                return reason.kind not in ("trap", "fault")
            return False
        if hit is not None:
            extra = f"{hit[0]}:;" if hit[0] in ("swbreak", "hwbreak") else ""
            self._pending = (thread, f"T{SIGTRAP:02x}{extra}", self._nest())
            return True
        if self._break:
            return reason.kind in ("stopped", "timeout", "budget")
        return False

    def exception(self, thread, info) -> bool:
        """A first-chance exception of the debugged process (the dispatcher's raise_exception, before the guest's
        own handlers): gdb sees a signal (access violation: SIGSEGV, ...).  Continuing with the signal (gdb's
        default for SIGSEGV, SIGFPE, SIGILL) passes the exception to the guest; continuing without it means the
        debugger handled it: the thread resumes at its (possibly changed) registers, past an int3."""
        if not self.active or not self._started:
            return False
        if self._pending is not None and self._pending[0] is thread:
            self._pending = None            # a step that ended in this fault: the signal is its stop
        sig = _signal_of(info.code)
        try:
            resume = self._stopped(thread, f"T{sig:02x}")
        except _Detach:
            self._detach()
            return False
        except _Kill:
            self._kill()
        if resume is None or resume.signal:
            return False
        cpu = self.cpu
        if info.code == 0x80000003 and cpu.pc == info.address and cpu.mem_read(cpu.pc, 1) == b"\xcc":
            cpu.pc = cpu.pc + 1
        return True

    def _kill(self):
        from winhatch.kernel.ke.dispatcher import ProcessExit
        self._detach()
        self.process.stop_message = "killed by the debugger (gdb kill): TerminateProcess(process, 0)"
        raise ProcessExit(0)

    def process_exited(self, status: int) -> None:
        """The debugged process ended: tell gdb (W), close."""
        if not self.active:
            return
        self.exit_status = status & 0xFFFFFFFF
        if self.conn is None:
            print(f"winhatch: the process ended (exit code 0x{self.exit_status:x}) before the debugger stop",
                  file=self.log, flush=True)
        else:
            self.conn.send(f"W{self.exit_status:02x}")
        self._detach(drain=True)

    # -- hooks -----------------------------------------------------------------------------------------------------
    def _nest(self) -> int:
        return getattr(self.machine.dispatcher, "_nest", 0)

    def _code_hook(self, addr: int, kind: str):
        def on_code(uc, address, size, _ud):
            if address == self._skip_pc:
                self._skip_pc = None
                return
            self._hit = (kind, address)
            self.cpu.stop()
        self._callbacks.append(on_code)
        return self.cpu.uc.hook_add(UC.UC_HOOK_CODE, on_code, None, addr, addr)

    def _arm_entry(self) -> None:
        try:
            base = self.process.image_base
            lfanew = self.cpu.read_u32(base + 0x3C)
            rva = self.cpu.read_u32(base + lfanew + 0x28)
        except NtStatusError:
            rva = 0
        if not rva:
            self._pending = (self.process.threads[0], "", 0) if self.process.threads else None
            return
        entry = (base + rva) & ((1 << (64 if self.is64 else 32)) - 1)

        def on_code(uc, address, size, _ud):
            self._hit = ("entry", address)
            self.cpu.stop()
        self._callbacks.append(on_code)
        self._entry_hook = self.cpu.uc.hook_add(UC.UC_HOOK_CODE, on_code, None, entry, entry)

    def _remove_entry(self) -> None:
        if self._entry_hook is not None:
            self.cpu.uc.hook_del(self._entry_hook)
            self._entry_hook = None

    def _watch_hook(self, kind: str, addr: int, length: int):
        hook_kind = {"watch": UC.UC_HOOK_MEM_WRITE, "rwatch": UC.UC_HOOK_MEM_READ,
                     "awatch": UC.UC_HOOK_MEM_WRITE | UC.UC_HOOK_MEM_READ}[kind]
        end = addr + length

        def on_mem(uc, access, address, size, value, _ud):
            if self._mute_watch or self._hit is not None or not (address < end and address + size > addr):
                return
            old = None
            if access == UC.UC_MEM_WRITE:
                try:
                    old = (address, self.cpu.mem_read(address, size))
                except NtStatusError:
                    old = None
            self._hit = (kind, addr, self.cpu.pc, old)
            self.cpu.stop()
        self._callbacks.append(on_mem)
        # Unicorn matches a memory hook's range against the access's first byte: widen it by an access's size
        return self.cpu.uc.hook_add(hook_kind, on_mem, None, max(0, addr - 15), end - 1)

    # -- interrupts, events ----------------------------------------------------------------------------------------
    def _on_interrupt(self) -> None:      # the reader thread: gdb sent 0x03 while the guest runs
        if self._waiting:
            self._break = True
            self.cpu.request_stop()

    def _on_event(self, e) -> None:
        if self.active and e.category == ev.IMAGE and e.pid == self.process.pid:
            self._libs_changed = True

    # -- the session -----------------------------------------------------------------------------------------------
    def _stopped(self, thread, reply: str) -> "_Resume":
        """Report the stop of `thread` and serve gdb until it resumes the process."""
        if not reply:
            reply = f"T{SIGTRAP:02x}"
        reply += f"thread:{thread.tid:x};"
        if self._libs_changed and self.conn is not None:
            reply += "library:;"
        self._libs_changed = False
        self._last_reply = reply
        self._g_tid = self._c_tid = thread.tid
        self._stop_thread = thread
        if self.conn is None:
            self._accept()
        elif self._waiting:
            self._waiting = False
            self.conn.send(reply)
        while True:
            pkt = self.conn.recv(self._machine_stopping)
            if pkt is None:             # gdb went away, or winhatch is being stopped (Ctrl-C): detach
                raise _Detach()
            out = self._handle(pkt)
            if isinstance(out, _Resume):
                self._libs_changed = False
                self._step_tid = out.step_tid
                self._step_after = ""
                pc = thread.process.cpu.pc if thread.process.subsystem.get("running_thread") is thread else None
                if pc is not None and pc in self.breakpoints:
                    self._skip = (thread.tid, pc)
                self._waiting = True
                return out
            if out is not None:
                self.conn.send(out)

    def _accept(self) -> None:
        host, port = self.address
        print(f"winhatch: waiting for gdb on {host}:{port} (target remote {host}:{port})", file=self.log,
              flush=True)
        self.listener.settimeout(0.2)   # a Ctrl-C of winhatch still ends the run while nobody connects
        while True:
            try:
                sock, _ = self.listener.accept()
                break
            except socket.timeout:
                if self._machine_stopping():
                    raise _Detach() from None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = _Connection(sock, self._on_interrupt)

    def _machine_stopping(self) -> bool:
        return bool(getattr(self.machine.dispatcher, "interrupted", False))

    def _detach(self, drain: bool = False) -> None:
        """Remove every hook; the run continues without the debugger."""
        if not self.active:
            return
        self.active = False
        cpu = self.cpu
        for _kind, h in self.breakpoints.values():
            cpu.uc.hook_del(h)
        for h in self.watchpoints.values():
            cpu.uc.hook_del(h)
        self.breakpoints.clear()
        self.watchpoints.clear()
        self._remove_entry()
        cpu.clear_stop_request()
        if self.machine.dispatcher.debugger is self:
            self.machine.dispatcher.debugger = None
        for f in self._files.values():
            f.close()
        self._files.clear()
        if self.conn is not None:
            self.conn.close(drain_s=2.0 if drain else 0.0)
        self.listener.close()

    # -- packets ---------------------------------------------------------------------------------------------------
    def _threads(self) -> list:
        return [t for t in self.process.threads if not t.terminated]

    def _thread(self, tid: int):
        for t in self._threads():
            if t.tid == tid:
                return t
        return None

    def _handle(self, pkt: bytes):
        try:
            return self._dispatch(pkt)
        except (_Kill, _Detach):
            raise
        except (ValueError, IndexError, KeyError, OverflowError, NtStatusError, UcError):
            return "E16"          # EINVAL: a malformed packet or a request the engine refused

    def _dispatch(self, pkt: bytes):
        if not pkt:
            return ""
        c = chr(pkt[0])
        text = pkt.decode("latin-1")
        if c == "?":
            return self._last_reply
        if c == "q":
            return self._query(text)
        if c == "Q":
            if text == "QStartNoAckMode":
                self.conn.send("OK")
                self.conn.ack = False
                return None
            return ""
        if c == "H":
            tid = self._tid_arg(text[2:])
            if tid is not None and tid > 0 and self._thread(tid) is None:
                return "E01"
            if text[1] == "g":
                self._g_tid = tid if tid and tid > 0 else self._stop_thread.tid
            else:
                self._c_tid = tid if tid and tid > 0 else 0
            return "OK"
        if c == "T":
            return "OK" if self._thread(int(text[1:], 16)) is not None else "E01"
        if c == "g":
            return self._read_regs()
        if c == "G":
            return self._write_regs(bytes.fromhex(text[1:]))
        if c == "p":
            return self._read_reg(int(text[1:], 16))
        if c == "P":
            n, v = text[1:].split("=")
            return self._write_reg(int(n, 16), bytes.fromhex(v))
        if c == "m":
            a, n = text[1:].split(",")
            return self._read_mem(int(a, 16), min(int(n, 16), PACKET_SIZE // 2 - 16))
        if c == "M":
            head, data = text[1:].split(":")
            a, n = head.split(",")
            return self._write_mem(int(a, 16), bytes.fromhex(data)[:int(n, 16)])
        if c == "X":
            i = pkt.index(b":")
            a, n = pkt[1:i].decode().split(",")
            return self._write_mem(int(a, 16), _unescape(pkt[i + 1:])[:int(n, 16)])
        if c in "Zz":
            return self._breakpoint(c == "Z", text[1:])
        if c == "c":
            return self._resume_at(text[1:], None)
        if c == "s":
            return self._resume_at(text[1:], self._c_tid or self._stop_thread.tid)
        if c in "CS":   # continue / step passing a signal: the stopping exception goes on to the guest
            sig, _, addr = text[1:].partition(";")
            return self._resume_at(addr, None if c == "C" else (self._c_tid or self._stop_thread.tid),
                                   int(sig, 16))
        if c == "v":
            return self._v_packet(text)
        if c == "k":
            raise _Kill()
        if c == "D":
            self.conn.send("OK")
            raise _Detach()
        return ""

    def _tid_arg(self, s: str) -> int | None:
        if s in ("-1", ""):
            return -1
        if s.startswith("p"):          # multiprocess form p<pid>.<tid>
            s = s.split(".")[-1]
        return int(s, 16)

    def _resume_at(self, addr: str, step_tid, signal: int = 0):
        if addr:
            t = self._thread(self._c_tid) if self._c_tid else self._stop_thread
            _Regs(t or self._stop_thread).set("rip" if self.is64 else "eip", int(addr, 16))
        return _Resume(step_tid, signal)

    def _v_packet(self, text: str):
        if text == "vCont?":
            return "vCont;c;C;s;S"
        if text.startswith("vCont;"):
            step = None
            signal = 0
            stopped = self._stop_thread.tid
            for action in text[6:].split(";"):
                op, _, tid = action.partition(":")
                t = self._tid_arg(tid) if tid else -1
                if op[:1] in ("C", "S") and t in (-1, 0, stopped):
                    signal = int(op[1:], 16)          # passed to the thread that stopped with it
                if op[:1] in ("s", "S") and step is None:
                    step = stopped if t in (-1, 0, None) else t
            return _Resume(step, signal)
        if text.startswith("vKill"):
            raise _Kill()
        if text.startswith("vFile:"):
            return self._vfile(text[6:])
        return ""

    def _query(self, text: str) -> str:
        if text.startswith("qSupported"):
            return (f"PacketSize={PACKET_SIZE:x};QStartNoAckMode+;qXfer:features:read+;qXfer:libraries:read+;qXfer:exec-file:read+;"
                    "vContSupported+;swbreak+;hwbreak+")
        if text == "qC":
            return f"QC{self._stop_thread.tid:x}"
        if text == "qfThreadInfo":
            return "m" + ",".join(f"{t.tid:x}" for t in self._threads())
        if text == "qsThreadInfo":
            return "l"
        if text == "qAttached" or text.startswith("qAttached:"):
            return "0"       # the process was created under the debugger: gdb kills it when it quits
        if text.startswith("qThreadExtraInfo,"):
            t = self._thread(int(text.split(",")[1], 16))
            if t is None:
                return "E01"
            state = ("running" if t is self._stop_thread else "waiting" if t.wait is not None else
                     "suspended" if t.suspend_count else "ready")
            return f"{self.process.image_name} thread {t.tid} ({state})".encode().hex()
        if text.startswith("qSymbol"):
            return "OK"
        if text.startswith("qXfer:"):
            parts = text.split(":")
            if len(parts) < 5 or parts[2] != "read":
                return ""
            obj, annex = parts[1], parts[3]
            off, length = (int(x, 16) for x in parts[4].split(","))
            if obj == "features" and annex == "target.xml":
                data = target_xml(self.is64).encode()
            elif obj == "libraries" and annex == "":
                data = self.library_list().encode()
            elif obj == "exec-file":      # the program's Win32 path: gdb reads it with vFile
                data = self.process.image_path.encode()
            else:
                return "E00"
            chunk = data[off:off + min(length, PACKET_SIZE // 2)]
            return ("l" if off + len(chunk) >= len(data) else "m") + _escape(chunk).decode("latin-1")
        return ""

    # registers
    def _reg_thread(self):
        return self._thread(self._g_tid) or self._stop_thread

    def _read_regs(self) -> str:
        r = _Regs(self._reg_thread())
        return "".join((r.get(src) & ((1 << bits) - 1)).to_bytes(bits // 8, "little").hex()
                       for _n, bits, _t, src in self.regs)

    def _read_reg(self, n: int) -> str:
        if n >= len(self.regs):
            return "E45"
        _name, bits, _t, src = self.regs[n]
        return (_Regs(self._reg_thread()).get(src) & ((1 << bits) - 1)).to_bytes(bits // 8, "little").hex()

    def _write_regs(self, data: bytes) -> str:
        r = _Regs(self._reg_thread())
        off = 0
        for _name, bits, _t, src in self.regs:
            n = bits // 8
            if off + n > len(data):
                break
            try:
                r.set(src, int.from_bytes(data[off:off + n], "little"))
            except ValueError:
                return "E01"
            off += n
        return "OK"

    def _write_reg(self, n: int, value: bytes) -> str:
        if n >= len(self.regs):
            return "E45"
        try:
            _Regs(self._reg_thread()).set(self.regs[n][3], int.from_bytes(value, "little"))
        except ValueError:
            return "E01"
        return "OK"

    # memory: as the kernel reads and writes it (committed pages, whatever their protection)
    def _read_mem(self, addr: int, n: int) -> str:
        aspace = self.process.aspace
        out = bytearray()
        while len(out) < n:
            cur = addr + len(out)
            chunk = min(n - len(out), 0x1000 - (cur & 0xFFF))
            try:
                out += aspace.read(cur, chunk)
            except NtStatusError:
                break
        return out.hex() if out else "E0e"    # EFAULT

    def _write_mem(self, addr: int, data: bytes) -> str:
        try:
            self.process.aspace.write(addr, data)
        except NtStatusError:
            return "E0e"
        self.cpu.flush_code(addr, len(data))
        return "OK"

    # breakpoints and watchpoints
    def _breakpoint(self, insert: bool, args: str) -> str:
        kind_s, addr_s, length_s = args.split(";")[0].split(",")[:3]
        kind, addr, length = int(kind_s), int(addr_s, 16), int(length_s, 16)
        if kind in (0, 1):
            name = "swbreak" if kind == 0 else "hwbreak"
            if insert:
                if addr not in self.breakpoints:
                    self.breakpoints[addr] = (name, self._code_hook(addr, name))
            else:
                bp = self.breakpoints.pop(addr, None)
                if bp is not None:
                    self.cpu.uc.hook_del(bp[1])
            return "OK"
        if kind in (2, 3, 4):
            if length <= 0 or length > 0x1000:
                return "E16"
            key = ({2: "watch", 3: "rwatch", 4: "awatch"}[kind], addr, length)
            if insert:
                if key not in self.watchpoints:
                    self.watchpoints[key] = self._watch_hook(*key)
            else:
                h = self.watchpoints.pop(key, None)
                if h is not None:
                    self.cpu.uc.hook_del(h)
            return "OK"
        return ""

    # libraries
    def library_list(self) -> str:
        """The loaded images (the program's own excepted) as gdb's library list, Windows-style: the image's
        Win32 path and the address of its first section."""
        from xml.sax.saxutils import quoteattr
        images = self.process.subsystem.get("images")
        out = ["<library-list>"]
        for img in (images or []):
            if img.base == self.process.image_base:
                continue
            out.append(f'<library name={quoteattr(img.path)}><segment address="0x{self._first_section(img.base):x}"/>'
                       "</library>")
        out.append("</library-list>")
        return "\n".join(out)

    def _first_section(self, base: int) -> int:
        """The address of an image's first section, from its headers in guest memory (0x1000 past the base when
        they cannot be read)."""
        try:
            read = self.process.aspace.read
            lfanew = struct.unpack("<I", read(base + 0x3C, 4))[0]
            nsec, opt = struct.unpack("<HxxxxxxxxxxxxH", read(base + lfanew + 6, 16))
            if nsec:
                rva = struct.unpack("<I", read(base + lfanew + 24 + opt + 12, 4))[0]
                return base + rva
        except (NtStatusError, struct.error):
            pass
        return base + 0x1000

    # files (vFile: gdb reads a library's symbols from the target's file system, read-only)
    _ENOENT, _EBADF, _EACCES, _EINVAL = 2, 9, 13, 22

    def _vfile(self, text: str) -> str:
        op, _, args = text.partition(":")
        a = args.split(",")
        if op == "setfs":
            return "F0"
        if op == "open":
            path = bytes.fromhex(a[0]).decode("utf-8", "replace")
            if int(a[1], 16) & 3:          # O_WRONLY / O_RDWR: the debugger only reads the guest's files
                return f"F-1,{self._EACCES:x}"
            try:
                host, _ro = self.machine.vfs.resolve(path)
                f = open(host, "rb")
            except (NtStatusError, OSError, ValueError):
                return f"F-1,{self._ENOENT:x}"
            fd = self._next_fd = getattr(self, "_next_fd", 2) + 1
            self._files[fd] = f
            return f"F{fd:x}"
        fd = int(a[0], 16) if a and a[0] else -1
        f = self._files.get(fd)
        if op in ("pread", "close", "fstat") and f is None:
            return f"F-1,{self._EBADF:x}"
        if op == "close":
            f.close()
            del self._files[fd]
            return "F0"
        if op == "pread":
            count, offset = int(a[1], 16), int(a[2], 16)
            f.seek(offset)
            data = f.read(min(count, PACKET_SIZE // 2 - 32))
            return f"F{len(data):x};" + _escape(data).decode("latin-1")
        if op == "fstat":
            import os
            st = os.fstat(f.fileno())
            # gdb's fio stat: dev ino mode nlink uid gid rdev (4 bytes), size blksize blocks (8), a/m/ctime (4)
            raw = struct.pack(">IIIIIIIQQQIII", 0, 0, 0o100444, 1, 0, 0, 0, st.st_size, 4096,
                              (st.st_size + 511) // 512, int(st.st_atime), int(st.st_mtime), int(st.st_ctime))
            return f"F{len(raw):x};" + _escape(raw).decode("latin-1")
        return ""
