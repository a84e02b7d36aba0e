"""The Python API behind `winhatch run`: create a process from a host PE file and run it to its end.

    from winhatch import runner
    result = runner.run("hello.exe", ["a b", "c"], trace={"stages"})
    result.exit_status, result.stdout, result.events, result.modules, result.memory_map
"""
from __future__ import annotations

import io
from pathlib import Path

from winhatch._record import NEW, Record
from winhatch.kernel.io.vfs import APP_DIR  # noqa: F401 (re-exported)
from winhatch.kernel.ke.dispatcher import MachineStop
from winhatch.ntstatus import NtStatusError, status_name


class RunResult(Record):
    _fields = ("exit_status", "stdout", "stderr", "process", "machine", "events", "error", "crash",
               "startup_error", "unimplemented", "program", "args", "interrupted")
    exit_status: int | None
    stdout: bytes
    stderr: bytes
    process: object
    machine: object
    events: list
    error: str | None  # why the process could not start or was stopped (one line)
    crash: dict | None
    startup_error: dict | None
    unimplemented: list
    program: str | None  # the host path that was run
    args: list
    interrupted: bool  # a Ctrl-C stopped the run (the guests ended with STATUS_CONTROL_C_EXIT)

    def __init__(self, exit_status: int | None, stdout: bytes, stderr: bytes, process: object = None,
                 machine: object = None, events: list = NEW, error: str | None = None, crash: dict | None = None,
                 startup_error: dict | None = None, unimplemented: list = NEW, program: str | None = None,
                 args: list = NEW, interrupted: bool = False) -> None:
        self.exit_status = exit_status
        self.stdout = stdout
        self.stderr = stderr
        self.process = process
        self.machine = machine
        self.events = [] if events is NEW else events
        self.error = error
        self.crash = crash
        self.startup_error = startup_error
        self.unimplemented = [] if unimplemented is NEW else unimplemented
        self.program = program
        self.args = [] if args is NEW else args
        self.interrupted = interrupted

    @property
    def modules(self) -> list[dict]:
        st = self.process.subsystem.get("ldr") if self.process else None
        if st is None:
            return []
        return [{"name": m.name, "path": m.path, "base": m.base, "size": m.size, "load_count": m.load_count,
                 "hint_hits": m.hint_hits, "hint_misses": m.hint_misses} for m in st.modules]

    @property
    def memory_map(self) -> list[dict]:
        """The address space at exit, region by region (free ones included), as VMMap shows it: the
        MEMORY_BASIC_INFORMATION fields (BaseAddress … Type), the allocation's ``tag``, and the VMMap view
        (``base``, ``size``, ``type`` "Image"/"Heap"/"Stack"/…, ``state``, ``protect``, ``protection``
        "Execute/Read"…, ``module``, ``thread``, ``details``)."""
        if self.process is None or self.process.aspace is None:
            return []
        from winhatch.report import memmap
        out = []
        for r in memmap.memory_map(self.process.aspace):
            d = r.to_dict()
            d.update({"BaseAddress": r.base, "AllocationBase": r.allocation_base,
                      "AllocationProtect": r.allocation_protect, "RegionSize": r.size, "State": r.state,
                      "Protect": r.protect, "Type": r.mem_type})
            out.append(d)
        return out

    @property
    def regions(self) -> list:
        """The classified regions as `winhatch.report.memmap.Region` objects."""
        if self.process is None or self.process.aspace is None:
            return []
        from winhatch.report import memmap
        return memmap.memory_map(self.process.aspace)

    @property
    def threads(self) -> list[dict]:
        if self.process is None:
            return []
        from winhatch.report.jsonreport import _threads
        return _threads(self.process)

    def filter_events(self, category=None, name=None, pid=None, **kw) -> list:
        """The run's events matching the criteria (see `winhatch.kernel.events.Event.matches`)."""
        return [e for e in self.events if e.matches(category=category, name=name, pid=pid, **kw)]

    def report(self) -> dict:
        """The versioned JSON report of this run (docs/report-schema.json)."""
        from winhatch.report.jsonreport import build_report
        return build_report(self, program=self.program, args=self.args)


class Interrupted(KeyboardInterrupt):
    """Raised by `run` when a Ctrl-C (SIGINT) stopped the run, after the clean-up: every guest process was
    ended with STATUS_CONTROL_C_EXIT (0xC000013A) and the sandbox's temporary folder removed.  ``result`` is
    the run's `RunResult` (exit_status 0xC000013A, its report can still be built).  It is a
    KeyboardInterrupt, so a host that does not catch it stops as it would on any Ctrl-C."""

    def __init__(self, result: "RunResult"):
        super().__init__("interrupted (Ctrl-C)")
        self.result = result


class _CtrlC:
    """SIGINT during a run: stop the machine (Unicorn's uc_emu_stop), do not raise in the middle of it.

    Python runs a signal handler only when the main thread executes bytecode, which it does not while the
    guest computes inside uc_emu_start; so the handler is backed by the wakeup fd (signal.set_wakeup_fd):
    a watcher thread reads it and calls the dispatcher's interrupt(), which stops the CPU runs in
    progress, and repeats that every 10 ms until the run has ended (a stop landing between two runs is
    lost).  The Python-level handler sets the same flag and raises only inside a blocking host read
    (winhatch.kernel.hostwait), where nothing else would wake the machine.  Installed only in the main
    thread and only when SIGINT has Python's default handler (a host with its own keeps it)."""

    def __init__(self, machine):
        self.machine = machine
        self.fired = False
        self._done = False
        self._installed = False

    def __enter__(self):
        import os
        import signal
        import threading
        if (threading.current_thread() is not threading.main_thread()
                or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
            return self
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        try:
            self._old_fd = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        except ValueError:
            os.close(self._r)
            os.close(self._w)
            return self
        self._old_handler = signal.signal(signal.SIGINT, self._on_signal)
        self._installed = True
        self._thread = threading.Thread(target=self._watch, name="winhatch-ctrl-c", daemon=True)
        self._thread.start()
        return self

    def _fire(self) -> None:
        self.fired = True
        self.machine.dispatcher.interrupt()

    def _on_signal(self, signum, frame) -> None:
        from winhatch.kernel import hostwait
        from winhatch.kernel.ke.dispatcher import interrupted_stop
        self._fire()
        if hostwait.in_blocking_call():
            raise interrupted_stop()

    def _watch(self) -> None:
        import os
        import signal
        import time
        while True:
            try:
                data = os.read(self._r, 64)
            except OSError:
                return
            if not data or self._done:
                return
            if signal.SIGINT in data:
                break
        while not self._done:  # repeat until the machine has seen the flag and stopped
            self._fire()
            time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        self._done = True
        if not self._installed:
            return
        import os
        import signal
        signal.signal(signal.SIGINT, self._old_handler)
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._w)   # the watcher's read returns b"" and it ends
        self._thread.join(1.0)
        os.close(self._r)


def quote_arg(a: str) -> str:
    """Quote one argument so the C runtime's parser gives it back unchanged."""
    if a and not any(ch in a for ch in ' \t\n\v"'):
        return a
    out = ['"']
    bs = 0
    for ch in a:
        if ch == "\\":
            bs += 1
            continue
        if ch == '"':
            out.append("\\" * (bs * 2 + 1) + '"')
        else:
            out.append("\\" * bs + ch)
        bs = 0
    out.append("\\" * (bs * 2) + '"')
    return "".join(out)


def build_command_line(program_guest_path: str, args: list[str]) -> str:
    return " ".join([quote_arg(program_guest_path)] + [quote_arg(a) for a in args])


def run(path: str | Path, args: list[str] | tuple = (), *, cwd: str | None = None, env: dict[str, str] | None = None,
        timeout: float | None = None, max_instructions: int | None = None, stdout=None, stderr=None, stdin=None,
        trace=None, subscribers=(), notify=None, readonly_app_dir: bool = False, setup_machine=None,
        trace_stream=None, record=(), max_memory: int | None = None, max_handles: int | None = None,
        net: str = "fake", net_config=None) -> RunResult:
    """Run a PE program. stdout/stderr: binary streams for the guest's output (captured copies are returned
    in the result either way). `notify`: dict with optional 'process', 'thread', 'image' callbacks.
    `trace`: "stages", "loader", "api", "all" (or several of them, or True for all): print the timeline to
    `trace_stream` (default: the host's stderr) as `winhatch run --trace` does. `subscribers`: callables
    receiving every event as it is emitted. `record`: event categories the log keeps beyond its default
    (API calls are not kept unless asked for: `record=("api",)`, or "all") — e.g. for `result.report()`'s
    api_calls.

    `max_memory`: the machine's commit limit in bytes (every process's committed memory together; an
    allocation past it fails with ERROR_COMMITMENT_LIMIT); `max_handles`: open handles per process (a call
    that would pass it fails with ERROR_NO_SYSTEM_RESOURCES).  None: the defaults
    (winhatch.kernel.machine.DEFAULT_MAX_MEMORY, 2 GiB; winhatch.kernel.ob.handles.DEFAULT_MAX_HANDLES,
    262,144); 0: no cap (Windows' own 2^24 handles still applies).

    Ctrl-C (SIGINT, when this runs in the main thread and SIGINT has Python's default handler) stops the
    run within milliseconds, even while the guest computes: every guest process ends with
    STATUS_CONTROL_C_EXIT (0xC000013A) as a console process does on Windows, the sandbox's temporary folder
    is removed, and `Interrupted` (a KeyboardInterrupt) is raised with the result in its ``result``."""
    subscribers = list(subscribers)
    if net not in ("fake", "host"):
        raise ValueError(f"net must be 'fake' or 'host', not {net!r}")
    if net != "fake" or net_config is not None:
        from winhatch.kernel.net.internet import NetConfig
        cfg = net_config if isinstance(net_config, NetConfig) or net_config is None else NetConfig.load(net_config)
        prev_net = setup_machine

        def setup_machine(machine, _prev=prev_net, _cfg=cfg, _mode=net):
            from winhatch.kernel.net.internet import Internet
            machine.net = Internet(_cfg, _mode, clock=machine.clock)
            if _prev:
                _prev(machine)
    if record:
        cats = tuple(record) if not isinstance(record, str) else (() if record == "all" else (record,))
        prev = setup_machine

        def setup_machine(machine, _prev=prev, _cats=cats):
            machine.events.record(*_cats)
            if _prev:
                _prev(machine)
    printer = None
    if trace:
        import sys
        from winhatch.report.trace import TracePrinter, categories_for
        choices = ["all"] if trace is True else [trace] if isinstance(trace, str) else list(trace)
        printer = TracePrinter(trace_stream if trace_stream is not None else sys.stderr, categories_for(choices))
        subscribers.append(printer)
    try:
        res = _run(path, args, cwd=cwd, env=env, timeout=timeout, max_instructions=max_instructions, stdout=stdout,
                   stderr=stderr, stdin=stdin, subscribers=subscribers, notify=notify,
                   readonly_app_dir=readonly_app_dir, setup_machine=setup_machine,
                   limits={k: v for k, v in (("max_memory", max_memory), ("max_handles", max_handles))
                           if v is not None})
    finally:
        if printer is not None:
            printer.flush()
    res.program = str(path)
    res.args = [str(a) for a in args]
    if res.interrupted:
        raise Interrupted(res)
    return res


def _run(path, args, *, cwd, env, timeout, max_instructions, stdout, stderr, stdin, subscribers, notify,
         readonly_app_dir, setup_machine, limits=None) -> RunResult:
    from winhatch.kernel.io.console import Console
    from winhatch.kernel.machine import Machine
    from winhatch.kernel.ps.create import CreateProcessInternalW
    from winhatch.pe import PEFile, PEFormatError
    from winhatch.win32 import subsystem

    host = Path(path).resolve()
    if not host.is_file():
        return RunResult(None, b"", b"", error=f"{path}: no such file")
    try:
        arch = PEFile.open(str(host)).arch
    except PEFormatError as e:
        return RunResult(None, b"", b"", error=f"{path}: {e}")
    out = stdout if stdout is not None else io.BytesIO()
    err = stderr if stderr is not None else io.BytesIO()
    console = Console(out, err, stdin)
    machine = Machine(console=console, limits=limits)
    if setup_machine:
        setup_machine(machine)
    for fn in subscribers:
        machine.events.subscribe(fn)
    if notify:
        if notify.get("process"):
            machine.notify.PsSetCreateProcessNotifyRoutineEx(notify["process"])
        if notify.get("thread"):
            machine.notify.PsSetCreateThreadNotifyRoutine(notify["thread"])
        if notify.get("image"):
            machine.notify.PsSetLoadImageNotifyRoutine(notify["image"])
    ctrl_c = _CtrlC(machine).__enter__()   # from here a Ctrl-C stops the machine (at its first run if earlier)
    try:
        subsystem.setup(machine, arches=(arch,) if arch in ("x86", "x64") else ("x64",))
        machine.vfs.mount(APP_DIR, host.parent, readonly=readonly_app_dir)
        guest = APP_DIR + "\\" + host.name
        environment = machine.default_environment()
        if env:
            environment.update(env)
        machine.dispatcher.timeout_s = timeout or 0.0
        machine.dispatcher.max_instructions = max_instructions or 0
        cmd = build_command_line(guest, list(args))
        res = CreateProcessInternalW(machine, None, None, cmd, environment=environment,
                                     current_directory=cwd or APP_DIR)
        if not res.ok:
            return RunResult(None, console.captured_stdout, console.captured_stderr, machine=machine,
                             events=machine.events.events,
                             error=f"CreateProcess failed: {res.message} (error {res.error}, "
                                   f"{status_name(res.status)})")
        proc = res.process
        error = None

        def guests():
            return [p for p in machine.processes if p.cpu is not None]

        interrupted = False
        try:
            # the program, then whatever it started: children outlive their parent, as on Windows
            machine.dispatcher.run(until=lambda: proc.exited)
            if proc.exited and any(not p.exited for p in guests()):
                machine.dispatcher.run(until=lambda: all(p.exited for p in guests()))
        except MachineStop as e:
            error = e.reason
            interrupted = machine.dispatcher.interrupted
            for p in guests():
                if not p.exited:
                    machine.terminate_process(p, e.status)
        if not proc.exited:
            error = error or "no thread can run (all threads are waiting)"
            machine.terminate_process(proc, 0xC0000194)
        for p in guests():  # still waiting forever after the program ended: end them, say so
            if not p.exited:
                error = error or f"{p.image_name} (pid {p.pid}) was still waiting when the run ended"
                machine.terminate_process(p, 0xC0000194)
        if getattr(proc, "stop_message", None) and not interrupted:
            error = proc.stop_message
        res = RunResult(proc.exit_status, console.captured_stdout, console.captured_stderr, proc, machine,
                        machine.events.events, error, getattr(proc, "crash", None),
                        getattr(proc, "startup_error", None), proc.subsystem.get("unimplemented", []),
                        interrupted=interrupted)
        if res.interrupted:
            machine.remove_sandbox()
        return res
    except NtStatusError as e:
        return RunResult(None, console.captured_stdout, console.captured_stderr, machine=machine,
                         events=machine.events.events, error=str(e))
    finally:
        ctrl_c.__exit__(None, None, None)

