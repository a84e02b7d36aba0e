"""The Python API behind `winhatch run`: create a process from a host PE file and run it to its end.

    from winhatch import runner
    result = runner.run("hello.exe", ["a b", "c"], trace={"stages"})
    result.exit_status, result.stdout, result.events, result.modules, result.memory_map
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

from winhatch._record import NEW, Record
from winhatch.kernel.io.vfs import APP_DIR  # noqa: F401 (re-exported)
from winhatch.kernel.ke.dispatcher import MachineStop
from winhatch.ntstatus import NtStatusError, status_name


class RunResult(Record):
    _fields = ("exit_status", "stdout", "stderr", "process", "machine", "events", "error", "crash",
               "startup_error", "unimplemented", "program", "args", "interrupted", "stopped_by", "dropped")
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
    stopped_by: str | None  # winhatch ended the guest: "limit" (time/instruction budget), "deadlock", or
    #                         "stopped" (a Session hook called stop())
    dropped: dict | None  # the files the guest created, modified or deleted (Vfs.dropped_files), with the overlay

    def __init__(self, exit_status: int | None, stdout: bytes, stderr: bytes, process: object = None,
                 machine: object = None, events: list = NEW, error: str | None = None, crash: dict | None = None,
                 startup_error: dict | None = None, unimplemented: list = NEW, program: str | None = None,
                 args: list = NEW, interrupted: bool = False, stopped_by: str | None = None) -> None:
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
        self.stopped_by = stopped_by
        self.dropped = None

    #: how a run ended, in the report's result.outcome and `winhatch run`'s exit status (OUTCOME_EXIT)
    OUTCOMES = {
        "exited": "the guest ran to its exit (exit_status is its own)",
        "crashed": "an unhandled exception or a fail-fast ended the guest (exit_status is the NTSTATUS)",
        "startup-failed": "the process was created but did not start: a missing DLL or export, a failing DllMain",
        "refused": "no process: the file is missing or not a loadable image (the reason and NTSTATUS)",
        "unimplemented": "winhatch stopped the guest at an API it does not implement",
        "limit": "winhatch stopped the guest at a budget (--timeout, --max-instructions)",
        "deadlock": "winhatch stopped the guest: no thread could run again",
        "interrupted": "Ctrl-C or SIGTERM stopped the run",
        "snapshot": "the run stopped after writing its snapshot (--snapshot-stop)",
        "stopped": "a winhatch.Session hook ended the run (Session.stop)",
    }

    @property
    def outcome(self) -> str:
        if self.interrupted:
            return "interrupted"
        if self.stopped_by == "snapshot":
            return "snapshot"
        if self.process is None or self.exit_status is None:
            return "refused"
        if self.startup_error:
            return "startup-failed"
        if self.unimplemented:
            return "unimplemented"
        if self.stopped_by:
            return self.stopped_by
        if self.crash or (self.exit_status & 0xFFFFFFFF) == 0xC0000409:
            return "crashed"
        return "exited"

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
        self.signum = 2          # SIGINT unless a SIGTERM arrives

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
        # SIGTERM (a batch's or a service manager's stop) ends the run the same way, when nobody handles it
        self._old_term = None
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            self._old_term = signal.signal(signal.SIGTERM, self._on_signal)
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
        self.signum = signum
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
            if signal.SIGINT in data or signal.SIGTERM in data:
                self.signum = signal.SIGTERM if signal.SIGTERM in data else signal.SIGINT
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
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
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
        shellcode: str | None = None, export: str | None = None, max_api_calls: int | None = None,
        max_emulated_s: float | None = None, net: str = "fake", net_config=None, snapshot_at: str | None = None,
        snapshot_file: str | Path | None = None, snapshot_stop: bool = False,
        from_snapshot: str | Path | None = None, after_restore=None, gdb: dict | None = None,
        profile=None, writable: bool = False, out_dir: str | Path | None = None) -> RunResult:
    r"""Run a PE program. stdout/stderr: binary streams for the guest's output (captured copies are returned
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
    262,144); 0: no cap (Windows' own 2^24 handles still applies). `max_api_calls` (calls that reach the kernel
    or a Python handler) and `max_emulated_s` (emulated seconds since the machine started: a guest sleeping in a
    loop advances it without host time passing) end the run as `timeout` does (outcome "limit"); None or 0:
    no budget.

    Entry points other than an EXE: `shellcode="x86"|"x64"` runs `path` as raw position-independent code in a
    host process of that architecture (winhatch/hosts: it reads the file into a PAGE_EXECUTE_READWRITE
    allocation and calls it; its return value is the exit code). A DLL runs under rundll32's semantics
    (C:\Windows\System32\rundll32.exe, SysWOW64 for x86): loaded (DllMain attach), `export` called as
    rundll32 calls it with the remaining `args` as its command line, then freed (DllMain detach); without
    `export` only the attach and detach run.

    The sandbox: the program's folder (C:\app) is a copy-on-write overlay of the host folder — the guest reads
    it, its writes, deletions and renames land in an upper layer and the host folder never changes — unless
    `writable` (writes reach the host, as under Wine; `readonly_app_dir` refuses them).  Every file the guest
    created, modified or deleted anywhere is listed in ``result.dropped`` (and the report's dropped_files) with
    its sha256; with `out_dir` the overlay's upper layer is `out_dir`/overlay and a copy of each such file is
    kept in `out_dir`/dropped/<drive>/<guest path> (up to winhatch.kernel.io.vfs.DROPPED_CAP bytes).

    Ctrl-C (SIGINT, when this runs in the main thread and SIGINT has Python's default handler) stops the
    run within milliseconds, even while the guest computes: every guest process ends with
    STATUS_CONTROL_C_EXIT (0xC000013A) as a console process does on Windows, the sandbox's temporary folder
    is removed, and `Interrupted` (a KeyboardInterrupt) is raised with the result in its ``result``.

    Snapshots (winhatch.snapshot): `snapshot_at` ("api:Name[#N]", "addr:0x…", "addr:module+0x…",
    "icount:N") writes the machine to `snapshot_file` when that point is reached; the run goes on unless
    `snapshot_stop` (then the result's outcome is "snapshot").  `from_snapshot`: continue the run saved in that
    file instead of starting `path` (None then); `after_restore(machine)` runs on the restored machine before it
    goes on.  The result's stdout/stderr are what the guest printed from the snapshot on.

    `gdb`: ``{"port": N, "host": "127.0.0.1", "stop": "entry"|"loader"}`` starts a GDB remote stub for the
    program's process (winhatch.debug.gdbstub) and waits for gdb at its entry point (or, with "loader", at its
    first instruction, ntdll!LdrInitializeThunk); the host-time limit (`timeout`) is off while debugging.

    `profile`: the machine profile (winhatch.kernel.profile.Profile, or the path of a TOML file; docs/
    profile.md): host and user names, Windows version, processors, memory, uptime, disk, screen, MAC, installed
    programs, seeded files and registry values. None: the default desktop."""
    subscribers = list(subscribers)
    if profile is not None and not hasattr(profile, "host_name"):
        from winhatch.kernel.profile import Profile
        profile = Profile.load(profile)
    if net not in ("fake", "host"):
        raise ValueError(f"net must be 'fake' or 'host', not {net!r}")
    if net != "fake" or net_config is not None:
        from winhatch.kernel.net.internet import NetConfig
        cfg = net_config if isinstance(net_config, NetConfig) or net_config is None else NetConfig.load(net_config)
        prev_net = setup_machine

        def setup_machine(machine, _prev=prev_net, _cfg=cfg, _mode=net):
            from winhatch.kernel.net.internet import Internet
            machine.net = Internet(_cfg, _mode, clock=machine.clock, profile=machine.profile)
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
        if from_snapshot is not None:
            res = _run_snapshot(from_snapshot, timeout=timeout, max_instructions=max_instructions, stdout=stdout,
                                stderr=stderr, stdin=stdin, subscribers=subscribers, notify=notify,
                                setup_machine=setup_machine, max_api_calls=max_api_calls,
                                max_emulated_s=max_emulated_s, after_restore=after_restore)
        else:
            res = _run(path, args, cwd=cwd, env=env, timeout=timeout, max_instructions=max_instructions,
                       stdout=stdout, stderr=stderr, stdin=stdin, subscribers=subscribers, notify=notify,
                       readonly_app_dir=readonly_app_dir, setup_machine=setup_machine, shellcode=shellcode,
                       export=export, max_api_calls=max_api_calls, max_emulated_s=max_emulated_s,
                       writable=writable, out_dir=out_dir,
                       limits={k: v for k, v in (("max_memory", max_memory), ("max_handles", max_handles))
                               if v is not None},
                       snapshot=(snapshot_at, snapshot_file, snapshot_stop) if snapshot_at else None, gdb=gdb,
                       profile=profile)
    finally:
        if printer is not None:
            printer.flush()
    if from_snapshot is None:
        res.program = str(path)
        res.args = [str(a) for a in args]
    if res.interrupted:
        raise Interrupted(res)
    return res


def dropped_files(machine, out_dir=None) -> dict | None:
    """The files the guest created, modified or deleted (winhatch.kernel.io.vfs.Vfs.dropped_files), copied to
    `out_dir`/dropped when given, with the overlay's mode and copy-ups; None when that fails on the host side."""
    vfs = machine.vfs
    try:
        d = vfs.dropped_files(Path(out_dir) / "dropped" if out_dir is not None else None)
    except OSError:
        return None
    d["overlay"] = {"mode": "writable" if vfs.writable_mounts else "overlay", "copied_up": vfs.copied_up,
                    "upper": str(vfs.overlay_root) if out_dir is not None and not vfs.writable_mounts else None}
    return d


def _refusal(pe) -> str | None:
    """Why winhatch does not run this image, for the kinds a user may hand it by mistake."""
    if pe.subsystem == 1:           # IMAGE_SUBSYSTEM_NATIVE
        return ("a kernel driver or native application (subsystem NATIVE): winhatch runs Windows-subsystem "
                "(console and GUI) programs, not drivers")
    try:
        clr = pe.clr
    except Exception:  # noqa: BLE001 — a damaged CLR header is still a .NET image to refuse
        clr = True
    if clr:
        return ("a .NET assembly (it has a CLR header): winhatch runs native code and does not host the CLR "
                "(mscoree)")
    return None


def _host_program(name: str, arch: str) -> bytes:
    """A host program of winhatch/hosts (built from its sources there by tools/build_hosts.py)."""
    from importlib import resources
    return resources.files("winhatch.hosts").joinpath(f"{name}-{arch}.exe").read_bytes()


def _run(path, args, *, cwd, env, timeout, max_instructions, stdout, stderr, stdin, subscribers, notify,
         readonly_app_dir, setup_machine, limits=None, shellcode=None, export=None, max_api_calls=None,
         max_emulated_s=None, snapshot=None, gdb=None, profile=None, writable=False, out_dir=None) -> RunResult:
    from winhatch.kernel.io.console import Console
    from winhatch.kernel.machine import Machine
    from winhatch.kernel.ps.create import CreateProcessInternalW
    from winhatch.pe import PEFile, PEFormatError
    from winhatch.win32 import subsystem

    host = Path(path).resolve()
    if not host.is_file():
        return RunResult(None, b"", b"", error=f"{path}: no such file")
    is_dll = False
    if shellcode:
        if shellcode not in ("x86", "x64"):
            return RunResult(None, b"", b"", error=f"--shellcode needs --arch x86 or x64, not {shellcode!r}")
        arch = shellcode
    else:
        try:
            pe = PEFile.open(str(host))
            arch = pe.arch
            is_dll = pe.is_dll
            refusal = _refusal(pe)
        except PEFormatError as e:
            return RunResult(None, b"", b"", error=f"{path}: {e}")
        if refusal:
            return RunResult(None, b"", b"", error=f"{path}: {refusal}")
        if export and not is_dll:
            return RunResult(None, b"", b"", error=f"{path}: --export needs a DLL, and this is a program")
    out = stdout if stdout is not None else io.BytesIO()
    err = stderr if stderr is not None else io.BytesIO()
    console = Console(out, err, stdin)
    machine = Machine(console=console, limits=limits, profile=profile)
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
        machine.vfs.writable_mounts = bool(writable)
        machine.vfs.dropped_out = out_dir        # where dropped_files copies them at the end (None: not kept)
        if out_dir is not None and not writable:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            machine.vfs.overlay_root = Path(out_dir) / "overlay"
        machine.vfs.mount(APP_DIR, host.parent, readonly=readonly_app_dir)
        guest = APP_DIR + "\\" + host.name
        environment = machine.default_environment()
        if env:
            environment.update(env)
        machine.dispatcher.timeout_s = 0.0 if gdb else timeout or 0.0   # a debugger session takes host time
        machine.dispatcher.max_instructions = max_instructions or 0
        machine.dispatcher.max_api_calls = max_api_calls or 0
        machine.dispatcher.max_emulated = int((max_emulated_s or 0) * 10_000_000)
        args = list(args)
        if shellcode or is_dll:
            # the host program goes where Windows keeps rundll32 (an analyst's loader: the user's temp folder)
            if is_dll:     # System32 is read-only to guests: written on the host side, as the subsystem's DLLs
                sysdir = machine.system_root + ("\\SysWOW64" if arch == "x86" else "\\System32")
                program = sysdir + "\\rundll32.exe"
                args = [guest, export or "-"] + args
                (machine.vfs.system32(arch) / "rundll32.exe").write_bytes(_host_program("rundll32_host", arch))
            else:
                program = environment.get("TEMP", machine.system_root + "\\Temp") + "\\" + \
                    (host.stem or "shellcode") + "_loader.exe"
                args = [guest] + args
                machine.vfs.write_file(program, _host_program("shellcode_host", arch))
            guest = program
        cmd = build_command_line(guest, args)
        started: dict = {}
        if snapshot is not None:
            _install_snapshot(machine, snapshot, started, host)
        machine.behaviour_log_mark = len(getattr(machine.vfs, "log", []))   # the sample's file accesses start here
        machine.vfs.tracking = True          # and the files it drops
        # a file named without an extension (samples are often named by their hash) is given as
        # lpApplicationName: only a name looked up from the command line gets ".exe" appended
        app = guest if "." not in host.name else None
        res = CreateProcessInternalW(machine, None, app, cmd, environment=environment,
                                     current_directory=cwd or APP_DIR)
        if not res.ok:
            return RunResult(None, console.captured_stdout, console.captured_stderr, machine=machine,
                             events=machine.events.events,
                             error=f"CreateProcess failed: {res.message} (error {res.error}, "
                                   f"{status_name(res.status)})")
        proc = started["process"] = res.process
        stub = None
        if gdb:
            from winhatch.debug.gdbstub import GdbStub
            try:
                stub = GdbStub(machine, proc, int(gdb["port"]), gdb.get("host") or "127.0.0.1",
                               gdb.get("stop") or "entry")
            except OSError as e:
                machine.terminate_process(proc, 0xC0000001)
                return RunResult(None, console.captured_stdout, console.captured_stderr, machine=machine,
                                 events=machine.events.events,
                                 error=f"--gdb: cannot listen on {gdb.get('host') or '127.0.0.1'}:{gdb['port']}: "
                                       f"{e.strerror or e}")
        return _drive(machine, proc, console, ctrl_c, stub)
    except NtStatusError as e:
        return RunResult(None, console.captured_stdout, console.captured_stderr, machine=machine,
                         events=machine.events.events, error=str(e))
    finally:
        ctrl_c.__exit__(None, None, None)


def _install_snapshot(machine, snapshot, started: dict, host: Path) -> None:
    """--snapshot-at: write the machine to the file at the trigger's safe point (winhatch.snapshot)."""
    from winhatch import snapshot as snap
    when, path, stop = snapshot
    trigger = snap.Trigger(when)
    if not path:
        raise ValueError("a snapshot point needs a snapshot file")

    def take():
        import hashlib
        try:
            sha = hashlib.sha256(host.read_bytes()).hexdigest()
        except OSError:
            sha = None
        try:
            info = snap.save(machine, path, process=started.get("process"), program=str(host),
                             sample_sha256=sha, extra={"when": when})
        except snap.SnapshotError as e:   # the run stops: what was asked for cannot be given
            raise snap.StopAfterSnapshot(None, str(e)) from None
        machine.snapshot_info = info
        if stop:
            raise snap.StopAfterSnapshot(info)
    trigger.install(machine, take)
    machine.snapshot_trigger = trigger


def _run_snapshot(path, *, timeout, max_instructions, stdout, stderr, stdin, subscribers, notify, setup_machine,
                  max_api_calls, max_emulated_s, after_restore) -> RunResult:
    """Continue the run saved in the snapshot at `path` (winhatch.snapshot.load) to its end."""
    from winhatch import snapshot as snap
    from winhatch.kernel.io.console import Console
    out = stdout if stdout is not None else io.BytesIO()
    err = stderr if stderr is not None else io.BytesIO()
    console = Console(out, err, stdin)
    try:
        machine, proc, meta = snap.load(path, console=console, setup_machine=setup_machine, subscribers=subscribers)
    except snap.SnapshotError as e:
        return RunResult(None, b"", b"", error=str(e))
    if notify:
        if notify.get("process"):
            machine.notify.PsSetCreateProcessNotifyRoutineEx(notify["process"])
        if notify.get("thread"):
            machine.notify.PsSetCreateThreadNotifyRoutine(notify["thread"])
        if notify.get("image"):
            machine.notify.PsSetLoadImageNotifyRoutine(notify["image"])
    machine.dispatcher.timeout_s = timeout or 0.0
    machine.dispatcher.max_instructions = max_instructions or 0
    machine.dispatcher.max_api_calls = max_api_calls or 0
    machine.dispatcher.max_emulated = int((max_emulated_s or 0) * 10_000_000)
    machine.snapshot_meta = meta
    if after_restore:
        after_restore(machine)
    ctrl_c = _CtrlC(machine).__enter__()
    try:
        res = _drive(machine, proc, console, ctrl_c)
    except NtStatusError as e:
        res = RunResult(None, console.captured_stdout, console.captured_stderr, machine=machine,
                        events=machine.events.events, error=str(e))
    finally:
        ctrl_c.__exit__(None, None, None)
    res.program = meta.get("program")
    res.args = list(meta.get("args") or [])
    return res


class _NoSnapshot(Exception):
    """Never raised: what _drive catches for winhatch.snapshot.StopAfterSnapshot when no snapshot module is
    loaded (it raises that only once a snapshot was asked for, which imports it)."""


def _stop_after_snapshot() -> type:
    """winhatch.snapshot.StopAfterSnapshot if that module is loaded (an `except` clause evaluates this only
    when an exception arrives: a run without a snapshot never imports pickle, tarfile, zipfile, ...)."""
    snap = sys.modules.get("winhatch.snapshot")
    return snap.StopAfterSnapshot if snap is not None else _NoSnapshot


def _drive(machine, proc, console, ctrl_c, stub=None) -> RunResult:
    """Run the machine until `proc` and the processes it started have ended; the RunResult."""
    error = None
    machine.snapshot_process = proc    # the run's main process, for a snapshot requested from a callback

    def guests():
        return [p for p in machine.processes if p.cpu is not None]

    interrupted = False
    stopped_by = None
    try:
        # the program, then whatever it started: children outlive their parent, as on Windows
        machine.dispatcher.run(until=lambda: proc.exited)
        if stub is not None and proc.exited:
            stub.process_exited(proc.exit_status)   # gdb hears of the exit now, not after the children
        if proc.exited and any(not p.exited for p in guests()):
            machine.dispatcher.run(until=lambda: all(p.exited for p in guests()))
    except _stop_after_snapshot() as e:
        for p in guests():
            if not p.exited:
                machine.terminate_process(p, 0xC0000194)
        return RunResult(None, console.captured_stdout, console.captured_stderr, proc, machine,
                         machine.events.events,
                         e.error or f"stopped after writing the snapshot {e.info['path']}", stopped_by="snapshot")
    except MachineStop as e:
        error = e.reason
        interrupted = machine.dispatcher.interrupted
        stopped_by = ("stopped" if e is machine.dispatcher.stop_request
                      else "deadlock" if e.status == 0xC0000194 else "limit")
        for p in guests():
            if not p.exited:
                machine.terminate_process(p, e.status)
    if not proc.exited:
        stopped_by = stopped_by or "deadlock"
        error = error or "no thread can run (all threads are waiting)"
        machine.terminate_process(proc, 0xC0000194)
    if stub is not None:
        stub.process_exited(proc.exit_status)   # (once: a second call does nothing)
    for p in guests():  # still waiting forever after the program ended: end them, say so
        if not p.exited:
            error = error or f"{p.image_name} (pid {p.pid}) was still waiting when the run ended"
            machine.terminate_process(p, 0xC0000194)
    if getattr(proc, "stop_message", None) and not interrupted:
        error = proc.stop_message
    res = RunResult(proc.exit_status, console.captured_stdout, console.captured_stderr, proc, machine,
                    machine.events.events, error, getattr(proc, "crash", None),
                    getattr(proc, "startup_error", None), proc.subsystem.get("unimplemented", []),
                    interrupted=interrupted, stopped_by=None if interrupted else stopped_by)
    res.dropped = dropped_files(machine, getattr(machine.vfs, "dropped_out", None))
    if res.interrupted:
        res.interrupt_signal = ctrl_c.signum
        machine.remove_sandbox()
    return res

