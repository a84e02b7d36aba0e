"""winhatch.Session: one run of a program with the analyst's instrumentation hooks.

    import winhatch

    s = winhatch.Session("prog.exe", args=["a"])
    h = s.hook_api("kernel32!GetTickCount", after=lambda call: setattr(call, "result", 1234))
    s.hook_service("NtCreateFile", before=lambda call: print(call.args))
    r = s.run()            # the RunResult, as winhatch.run returns it

Every hook belongs to its Session (its machine's registry, winhatch.kernel.hooks): two Sessions in one Python
process never see each other's hooks, and `hook.remove()` uninstalls one at once (also from inside a
callback).  Hooks added before `run()` are installed when the machine is created, those added from a callback
during the run at once.  What a hook costs: an API hook wraps only the hooked API's handler (and, while one
exists, sends the exports that are machine code — GetLastError, memcpy, … — to Python, as `--trace api`
does); code and memory hooks are Unicorn hooks limited to their range; the other kinds cost a test on their
own path.  `winhatch.win32.api.api(...)` (re-declaring a handler for the whole Python process) still works,
but cannot be undone and is not the supported way.

A callback that raises ends the run: the exception propagates out of `run()`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from winhatch.kernel.hooks import HookEntry, Registers

__all__ = ["Session", "Hook", "CodeEvent", "MemoryEvent", "ProcessEvent", "ThreadEvent", "ImageEvent",
           "Registers"]

#: the exit status the guests get when a hook stops the run (`Session.stop`) unless it names one:
#: DBG_TERMINATE_PROCESS (ntstatus.h: "Debugger terminated process"), as a debugger ending its debuggee
DBG_TERMINATE_PROCESS = 0x40010004


class Hook:
    """A hook of a Session; `remove()` uninstalls it (before the run, during it, or after)."""

    def __init__(self, session: "Session", kind: str, describe: str, make: Callable) -> None:
        self.session = session
        self.kind = kind
        self.describe = describe
        self._make = make              # make(machine) -> HookEntry | callable undo
        self._live: Any = None         # the installed entry (or an undo callable) of the running machine
        self.removed = False

    def _install(self, machine) -> None:
        if not self.removed:
            self._live = self._make(machine)

    def remove(self) -> None:
        """Uninstall the hook; removing twice is harmless."""
        if self.removed:
            return
        self.removed = True
        live, self._live = self._live, None
        if isinstance(live, HookEntry):
            live.remove()
        elif callable(live):
            live()
        if self in self.session._hooks:
            self.session._hooks.remove(self)

    def __repr__(self) -> str:
        return f"<Hook {self.kind} {self.describe}{' removed' if self.removed else ''}>"


class _Event:
    """What every callback event has: `session`, `process`, `thread` (None when no thread is involved),
    `pid`, `tid`, `regs` (the thread's Registers)."""

    def __init__(self, session: "Session", process, thread) -> None:
        self.session = session
        self.process = process
        self.thread = thread

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    @property
    def tid(self) -> int:
        return self.thread.tid if self.thread is not None else 0

    @property
    def regs(self) -> Registers:
        if self.thread is None:
            raise AttributeError("this event has no thread")
        return Registers(self.thread)


class CodeEvent(_Event):
    """An instruction about to execute (hook_address / hook_code / hook_memory(access="execute")):
    `address`, `size` (the instruction's length).  Writing `regs.pc` makes the thread continue there."""

    def __init__(self, session, process, thread, address: int, size: int) -> None:
        super().__init__(session, process, thread)
        self.address = address
        self.size = size

    def __repr__(self) -> str:
        return f"<CodeEvent pid={self.pid} tid={self.tid} {self.address:#x}>"


class MemoryEvent(_Event):
    """A guest read or write inside a watched range: `access` ("read" / "write"), `address`, `size`, `value`
    (the value being written; 0 for a read), `pc` (the accessing instruction)."""

    def __init__(self, session, process, thread, access: str, address: int, size: int, value: int) -> None:
        super().__init__(session, process, thread)
        self.access = access
        self.address = address
        self.size = size
        self.value = value

    @property
    def pc(self) -> int:
        return self.process.cpu.pc

    def __repr__(self) -> str:
        return f"<MemoryEvent {self.access} {self.address:#x} size={self.size} value={self.value:#x}>"


class ProcessEvent(_Event):
    """A process created (`created` True; `image`, `command_line`, `parent_pid`) or ending (`created` False,
    `exit_status`).  At creation `veto(status)` refuses it (PsSetCreateProcessNotifyRoutineEx's
    CreationStatus): the creator's CreateProcess fails with that NTSTATUS's Win32 error."""

    def __init__(self, session, process, info) -> None:
        super().__init__(session, process, None)
        self.created = info is not None
        self._info = info
        self.image = info.image_file_name if info is not None else process.image_path
        self.command_line = info.command_line if info is not None else process.command_line
        self.parent_pid = info.parent_process_id if info is not None else process.inherited_from_pid
        self.exit_status = None if info is not None else process.exit_status

    def veto(self, status: int = 0xC0000022) -> None:
        """Refuse the creation (default STATUS_ACCESS_DENIED)."""
        if self._info is None:
            raise RuntimeError("only a process creation can be vetoed")
        self._info.creation_status = status & 0xFFFFFFFF

    def __repr__(self) -> str:
        return f"<ProcessEvent {'created' if self.created else 'exited'} pid={self.pid} {self.image}>"


class ThreadEvent(_Event):
    """A thread created (`created` True) or ending (`created` False)."""

    def __init__(self, session, process, thread, created: bool) -> None:
        super().__init__(session, process, thread)
        self.created = created

    def __repr__(self) -> str:
        return f"<ThreadEvent {'created' if self.created else 'exited'} pid={self.pid} tid={self.tid}>"


class ImageEvent(_Event):
    """An image (the program, a DLL) mapped into a process: `path`, `name`, `base`, `size`."""

    def __init__(self, session, process, path: str, info) -> None:
        super().__init__(session, process, None)
        self.path = path
        self.name = info.image_name
        self.base = info.image_base
        self.size = info.image_size

    def __repr__(self) -> str:
        return f"<ImageEvent pid={self.pid} {self.name} at {self.base:#x}>"


class Session:
    """One run of a PE program with hooks.  `Session(exe, args=[...], **options)`: the options are those of
    `winhatch.run` (cwd, env, timeout, max_instructions, trace, record, stdout, stderr, stdin, …).

    Hooks (each returns a `Hook`; callbacks receive an event or call object whose `session` is this one):
    `hook_api`, `hook_address`, `hook_code`, `hook_memory`, `hook_service`, `hook_exception`, `on_process`,
    `on_thread`, `on_image`.  Guest access from a callback or after the run: `read`, `write`, `read_string`,
    `reg`, `set_reg`, `regs`; listings: `processes`, `threads`, `modules`, `memory`, `handles`.  `stop()`
    ends the run from a callback."""

    def __init__(self, exe: str | Path, args=(), **options) -> None:
        self.exe = str(exe)
        self.args = [str(a) for a in args]
        self.options = dict(options)
        self._hooks: list[Hook] = []
        self.machine = None
        self.result = None
        self._proc_stack: list = []

    # -- running ---------------------------------------------------------------------------------------------
    def run(self):
        """Create the process, run it (and whatever it starts) to the end with the hooks installed; returns the
        `winhatch.runner.RunResult` (also kept in `result`).  A run ended by `stop()` has outcome "stopped"."""
        from winhatch import runner
        self.machine = None
        self.result = None
        opts = dict(self.options)
        prev = opts.pop("setup_machine", None)

        def setup(machine):
            self.machine = machine
            machine.hooks.resolve = self._resolve
            for h in list(self._hooks):
                h._install(machine)
            if prev:
                prev(machine)
        self.result = runner.run(self.exe, self.args, setup_machine=setup, **opts)
        return self.result

    def stop(self, reason: str = "stopped by a hook", exit_status: int = DBG_TERMINATE_PROCESS) -> None:
        """End the run from a callback: when the callback returns, the API call being served completes (an
        instruction a code hook stands at does not run), then every guest process ends with `exit_status` and
        `run()` returns a result with outcome "stopped" and `error` = reason."""
        if self.machine is None:
            raise RuntimeError("the session is not running")
        self.machine.dispatcher.request_stop(reason, exit_status & 0xFFFFFFFF)

    # -- hooks -------------------------------------------------------------------------------------------------
    def _add(self, kind: str, describe: str, make: Callable) -> Hook:
        h = Hook(self, kind, describe, make)
        self._hooks.append(h)
        if self.machine is not None and self.result is None:   # during the run: install at once
            h._install(self.machine)
        return h

    def _entered(self, process):
        """Callbacks run with `process` as the default of read/write/reg (restored after)."""
        return _Current(self, process)

    def hook_api(self, target, before: Callable | None = None, after: Callable | None = None) -> Hook:
        """Hook a Windows API: `target` is "dll!Name" (the DLL case-insensitive, ".dll" optional, the name
        exact: "kernel32!CreateFileW"), "*!Name" (any DLL), or a callable filter(dll, name) -> bool.

        `before(call)` runs before the handler with a `winhatch.win32.apihooks.ApiCall`: `call.args` maps the
        prototype's parameter names to the values (strings decoded); assigning one writes it back where the
        caller passed it before the handler runs (a string parameter takes a str, an int address or None);
        `call.skip(retval)` returns `retval` without running the handler (the stack cleaned up as the
        prototype says).  `after(call)` sees `call.result` and may assign it; `call.set_last_error(code)`
        sets the thread's last error.  APIs that are machine code in winhatch's DLLs (GetLastError,
        memcpy, strlen, …) trap into Python while an API hook exists, so they can be hooked too.  ntdll's
        Nt*/Zw* exports are system calls: hook them with `hook_service`."""
        from winhatch.win32.apihooks import declared, parse_target
        parsed = parse_target(target)
        if not declared(parsed):
            raise ValueError(f"winhatch implements no {target}: a call of it stops the guest as unimplemented, "
                             "so a hook on it would never run")
        wb = self._wrap_call(before)
        wa = self._wrap_call(after)

        def make(machine):
            return machine.hooks.add(HookEntry(machine.hooks, "api", parsed, before=wb, after=wa))
        return self._add("api", str(target), make)

    def _wrap_call(self, fn):
        if fn is None:
            return None

        def cb(call):
            call.session = self
            with self._entered(call.process):
                fn(call)
        return cb

    def hook_service(self, service, before: Callable | None = None, after: Callable | None = None) -> Hook:
        """Hook a system service by name ("NtCreateFile"; "Zw…" is the same service) or number (Windows 10
        22H2's, as winhatch's ntdll stubs use).  It sees the guest's own system calls and those kernel32's
        handlers make.  `before(call)` gets a `winhatch.kernel.hooks.ServiceCall` (`name`, `number`, `args`:
        a list of integers it may change — the service gets the changed list —, `kind`, `caller`);
        `call.skip(status)` returns that NTSTATUS without running the service (also for a service winhatch
        does not implement).  `after(call)` sees `call.status` and may change it."""
        from winhatch.kernel.ke.services import BY_NAME, BY_NUMBER
        if isinstance(service, int):
            svc = BY_NUMBER.get(service)
        else:
            name = str(service)
            svc = BY_NAME.get(name) or (BY_NAME.get("Nt" + name[2:]) if name.startswith("Zw") else None)
        if svc is None:
            raise ValueError(f"no system service {service!r}")
        wb = self._wrap_call(before)
        wa = self._wrap_call(after)

        def make(machine):
            return machine.hooks.add(HookEntry(machine.hooks, "service", svc.number, before=wb, after=wa))
        return self._add("service", svc.name, make)

    def hook_exception(self, fn: Callable) -> Hook:
        """Hook guest exceptions: fn(event) with a `winhatch.kernel.hooks.ExceptionEvent` (`code`, `address`,
        `first_chance`, `access`, `fault_address`, `parameters`, `thread`, `process`) — at first chance,
        before the guest's vectored and frame handlers, and again at second chance when nothing handled it
        (just before the process ends with the code).  At first chance `event.handle()` continues the thread
        with its current registers without running the guest's handlers (change `event.regs.pc` first, or a
        fault repeats)."""
        def cb(event):
            event.session = self
            with self._entered(event.process):
                fn(event)

        def make(machine):
            return machine.hooks.add(HookEntry(machine.hooks, "exception", None, fn=cb))
        return self._add("exception", "exceptions", make)

    def hook_address(self, where, fn: Callable, *, pid: int | None = None) -> Hook:
        """Run fn(event) each time the instruction at `where` is about to execute: an int address,
        "module+0x1234" (relative to the module's base in each process that maps it) or "module!Export".
        `event` is a `CodeEvent`; writing `event.regs.pc` continues elsewhere.  `pid`: only that process."""
        return self._code_hook("address", where, None, fn, pid)

    def hook_code(self, begin, end=None, fn: Callable | None = None, *, pid: int | None = None) -> Hook:
        """Run fn(event) before every instruction in [begin, end) — ints or "module+0x…" / "module!Export"
        addresses; `hook_code("prog.exe", fn=...)` (a module name and no end) covers that whole image.  Only the
        range is instrumented (a Unicorn UC_HOOK_CODE limited to it)."""
        if fn is None:
            raise TypeError("hook_code needs fn")
        return self._code_hook("code", begin, end, fn, pid)

    def _code_hook(self, kind, begin, end, fn, pid):
        def cb(proc, address, size):
            thread = self.machine.dispatcher.current
            with self._entered(proc):
                fn(CodeEvent(self, proc, thread, address, size))
        spec = ("range", begin, end, kind == "address")

        def make(machine):
            return machine.hooks.add(HookEntry(machine.hooks, "code", spec, fn=cb, data={"pid": pid}))
        return self._add(kind, f"{begin}" + (f"..{end}" if end is not None else ""), make)

    def hook_memory(self, begin, end, fn: Callable, access: str = "rw", *, pid: int | None = None) -> Hook:
        """Run fn(event) for each guest access of [begin, end) (ints or "module+0x…"): `access` "read", "write",
        "rw" (a `MemoryEvent`) or "execute" (a `CodeEvent` per instruction executed there).  Accesses by
        winhatch's own handlers (an API writing its output buffer) are not guest accesses and are not seen."""
        if access == "execute":
            return self._code_hook("code", begin, end, fn, pid)
        if access not in ("read", "write", "rw"):
            raise ValueError(f"access must be 'read', 'write', 'rw' or 'execute', not {access!r}")

        def cb(proc, acc, address, size, value):
            thread = self.machine.dispatcher.current
            with self._entered(proc):
                fn(MemoryEvent(self, proc, thread, acc, address, size, value))
        spec = ("range", begin, end, False)

        def make(machine):
            return machine.hooks.add(HookEntry(machine.hooks, "mem", spec, fn=cb,
                                               data={"pid": pid, "access": access}))
        return self._add("memory", f"{begin}..{end} {access}", make)

    def on_process(self, fn: Callable) -> Hook:
        """fn(event) when a process is created (before it runs; `event.veto(status)` refuses it) and when one
        ends: a `ProcessEvent` (the kernel's PsSetCreateProcessNotifyRoutineEx)."""
        def routine(process, pid, info):
            with self._entered(process):
                fn(ProcessEvent(self, process, info))

        def make(machine):
            machine.notify.PsSetCreateProcessNotifyRoutineEx(routine)
            return lambda: machine.notify.PsSetCreateProcessNotifyRoutineEx(routine, remove=True)
        return self._add("process", "processes", make)

    def on_thread(self, fn: Callable) -> Hook:
        """fn(event) when a thread is created (before it runs) and when one ends: a `ThreadEvent`
        (PsSetCreateThreadNotifyRoutine)."""
        def routine(pid, tid, create):
            proc = self.machine.cid.lookup(pid)
            thread = self.machine.cid.lookup(tid)
            with self._entered(proc):
                fn(ThreadEvent(self, proc, thread, create))

        def make(machine):
            machine.notify.PsSetCreateThreadNotifyRoutine(routine)
            return lambda: machine.notify.PsSetCreateThreadNotifyRoutine(routine, remove=True)
        return self._add("thread", "threads", make)

    def on_image(self, fn: Callable) -> Hook:
        """fn(event) when an image (the program, ntdll, every DLL) is mapped into a process: an `ImageEvent`
        (PsSetLoadImageNotifyRoutine)."""
        def routine(path, pid, info):
            proc = self.machine.cid.lookup(pid)
            with self._entered(proc):
                fn(ImageEvent(self, proc, path, info))

        def make(machine):
            machine.notify.PsSetLoadImageNotifyRoutine(routine)
            return lambda: machine.notify.PsSetLoadImageNotifyRoutine(routine, remove=True)
        return self._add("image", "images", make)

    @property
    def hooks(self) -> list[Hook]:
        """The hooks installed and not removed."""
        return list(self._hooks)

    # -- address resolution ------------------------------------------------------------------------------------
    def _resolve(self, proc, spec) -> list[tuple[int, int]] | None:
        """The inclusive ranges of a code/memory hook's target in `proc`, or None while its module is not
        mapped there."""
        _tag, begin, end, single = spec
        if end is None and not single:   # a module's whole image
            img = self._image(proc, str(begin))
            if img is None:
                return None
            return [(img.base, img.base + img.size - 1)]
        b = self.address(begin, proc)
        if b is None:
            return None
        if single:
            return [(b, b)]
        e = self.address(end, proc)
        if e is None:
            return None
        if e <= b:
            raise ValueError(f"empty range {begin!r}..{end!r}")
        return [(b, e - 1)]

    @staticmethod
    def _image(proc, name: str):
        from winhatch.kernel.ps.mapping import images_of
        name = name.lower()
        for img in images_of(proc):
            n = img.name.lower()
            if n == name or n.rsplit(".", 1)[0] == name:
                return img
        return None

    def address(self, where, process=None) -> int | None:
        """The address `where` names in a process (default: the current one): an int, "module+0x1234" or
        "module!Export" (a forwarded export is refused); None when the module is not mapped there."""
        if isinstance(where, int):
            return where
        proc = process if process is not None else self._proc()
        text = str(where)
        if "!" in text:
            mod, _, export = text.partition("!")
            img = self._image(proc, mod)
            if img is None:
                return None
            pe, _sec = self.machine.open_system_image(img.path)
            exp = pe.exports
            for e in (exp.functions if exp is not None else ()):
                if e.name == export:
                    if e.forwarder:
                        raise ValueError(f"{text} is a forwarder to {e.forwarder}: hook its target")
                    return img.base + e.rva
            raise ValueError(f"{img.name} exports no {export!r}")
        if "+" in text:
            mod, _, off = text.partition("+")
            img = self._image(proc, mod.strip())
            if img is None:
                return None
            return img.base + int(off.strip(), 0)
        img = self._image(proc, text)
        if img is not None:
            return img.base
        raise ValueError(f"not an address: {where!r} (an int, 'module+0x10' or 'module!Export')")

    # -- guest access --------------------------------------------------------------------------------------------
    def _proc(self, pid: int | None = None):
        if self.machine is None:
            raise RuntimeError("the session has not run yet")
        if pid is not None:
            for p in self.machine.processes:
                if p.pid == pid and p.aspace is not None:
                    return p
            raise ValueError(f"no process {pid}")
        if self._proc_stack:
            return self._proc_stack[-1]
        cur = self.machine.dispatcher.current
        if cur is not None and self.result is None:
            return cur.process
        if self.result is not None and self.result.process is not None:
            return self.result.process
        guests = [p for p in self.machine.processes if p.aspace is not None]
        if not guests:
            raise RuntimeError("no guest process yet")
        return guests[0]

    @property
    def process(self):
        """The process callbacks and guest access default to: the one a callback is about, else the running
        thread's, else (after the run) the program's."""
        return self._proc()

    def read(self, addr: int, size: int, *, pid: int | None = None) -> bytes:
        """`size` bytes of guest memory at `addr` (kernel-mode: page protection ignored; an uncommitted page
        raises winhatch.ntstatus.NtStatusError STATUS_ACCESS_VIOLATION).  Works after the run too."""
        return self._proc(pid).aspace.read(addr, size)

    def write(self, addr: int, data: bytes, *, pid: int | None = None) -> None:
        """Write guest memory (kernel-mode, as WriteProcessMemory: code already translated there runs as
        written)."""
        self._proc(pid).aspace.write(addr, bytes(data))

    def read_string(self, addr: int, wide: bool = False, limit: int = 4096, *, pid: int | None = None) -> str:
        """A NUL-terminated string at `addr`: ANSI (cp1252) or, with `wide`, UTF-16; at most `limit`
        characters."""
        proc = self._proc(pid)
        unit = 2 if wide else 1
        out = bytearray()
        a = addr
        while len(out) < limit * unit:
            chunk_len = min(0x100, 0x1000 - (a & 0xFFF))
            chunk = proc.aspace.read(a, chunk_len)
            for i in range(0, len(chunk) - unit + 1, unit):
                if chunk[i:i + unit] == b"\0" * unit:
                    out += chunk[:i]
                    return out.decode("utf-16-le" if wide else "cp1252", "replace")[:limit]
            out += chunk
            a += chunk_len
        return out.decode("utf-16-le" if wide else "cp1252", "replace")[:limit]

    def regs(self, thread=None) -> Registers:
        """The Registers of `thread` (a kernel Thread, or a thread id), by default the running one (in a
        callback) or the program's first thread."""
        return Registers(self._thread(thread))

    def reg(self, name: str, thread=None) -> int:
        """One register of the running thread (or `thread`): s.reg("rip")."""
        return self.regs(thread)[name]

    def set_reg(self, name: str, value: int, thread=None) -> None:
        """Set one register of the running thread (or `thread`)."""
        self.regs(thread)[name] = value

    def _thread(self, thread):
        if self.machine is None:
            raise RuntimeError("the session has not run yet")
        if isinstance(thread, int):
            t = self.machine.cid.lookup(thread)
            if t is None or not hasattr(t, "process"):
                raise ValueError(f"no thread {thread}")
            return t
        if thread is not None:
            return thread
        cur = self.machine.dispatcher.current
        proc = self._proc()
        if cur is not None and cur.process is proc:
            return cur
        running = proc.subsystem.get("running_thread")
        if running is not None:
            return running
        if proc.threads:
            return proc.threads[0]
        raise RuntimeError(f"process {proc.pid} has no thread")

    # -- listings ------------------------------------------------------------------------------------------------
    def processes(self) -> list[dict]:
        """Every guest process: pid, parent_pid, name, path, command_line, arch, exited, exit_status."""
        if self.machine is None:
            return []
        return [{"pid": p.pid, "parent_pid": p.inherited_from_pid, "name": p.image_name, "path": p.image_path,
                 "command_line": p.command_line, "arch": p.arch, "exited": p.exited,
                 "exit_status": p.exit_status if p.exited else None}
                for p in self.machine.processes if p.aspace is not None]

    def threads(self, pid: int | None = None) -> list[dict]:
        """The threads of a process (default: the current one): tid, start_address, teb, terminated,
        exit_status, and `regs` (their Registers)."""
        proc = self._proc(pid)
        return [{"tid": t.tid, "pid": proc.pid, "start_address": t.start_address, "teb": t.teb,
                 "terminated": t.terminated, "exit_status": t.exit_status if t.terminated else None,
                 "regs": Registers(t), "thread": t} for t in proc.threads]

    def modules(self, pid: int | None = None) -> list[dict]:
        """The images mapped in a process: name, base, size, path."""
        from winhatch.kernel.ps.mapping import images_of
        proc = self._proc(pid)
        return [{"name": img.name, "base": img.base, "size": img.size, "path": img.path}
                for img in images_of(proc)]

    def memory(self, pid: int | None = None, *, free: bool = False) -> list:
        """The address space as VMMap shows it: `winhatch.report.memmap.Region` objects (base, size, type
        "Image"/"Heap"/"Stack"/…, state, protection, module, details); free regions only with `free`."""
        from winhatch.report import memmap
        regions = memmap.memory_map(self._proc(pid).aspace)
        return regions if free else [r for r in regions if r.type != "Free"]

    def handles(self, pid: int | None = None) -> list[dict]:
        """A process's open handles: value, type ("File", "Event", "Key", …), name (None when unnamed),
        access."""
        proc = self._proc(pid)
        out = []
        for value, entry in proc.handles.entries():
            obj = entry.obj
            name = getattr(obj, "name", None)
            for attr in ("path", "nt_path", "full_path"):
                if name is None:
                    name = getattr(obj, attr, None)
            out.append({"value": value, "type": getattr(obj, "type_name", type(obj).__name__),
                        "name": name if isinstance(name, str) else None, "access": entry.access})
        return out


class _Current:
    def __init__(self, session: Session, process) -> None:
        self.session = session
        self.process = process

    def __enter__(self):
        self.session._proc_stack.append(self.process)
        return self

    def __exit__(self, *exc) -> None:
        self.session._proc_stack.pop()
