"""`winhatch run`: the command's work, apart from its command line (winhatch.cli declares that with click).

The console script (`winhatch`: main) serves the plain form, `winhatch run PROGRAM [ARGS...]`
with no option, through `fast_main` without importing click (~25 ms of a hello world's ~0.2 s start): the
same code as the click command with every option at its default (RUN_DEFAULTS, checked against the click
command by tests/test_cli_fast.py), the same exit statuses and messages.  click is imported here only to
report a bad option value or a usage error, which the plain form cannot have.
"""
from __future__ import annotations

import os
import sys

EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE: a winhatch bug, never the guest's exit status
EXIT_INTERRUPTED = 130    # 128 + SIGINT: what shells expect from a command stopped by Ctrl-C
EXIT_REFUSED = 1          # no process: the file is missing or not a loadable image
EXIT_LIMIT = 124          # a budget ended the guest (as timeout(1) exits)
EXIT_UNIMPLEMENTED = 125  # the guest called an API winhatch does not implement
EXIT_DEADLOCK = 126       # no guest thread could run again

#: `winhatch run`'s default budgets (each option's 0 means none): generous for programs, finite for samples
DEFAULT_TIMEOUT = 600.0           # host seconds
DEFAULT_MAX_API_CALLS = 100_000_000
DEFAULT_MAX_EMULATED = 3600.0     # emulated seconds (an hour of the guest's clock)

#: `winhatch run`'s parameters when no option is given (what click gives the command then)
RUN_DEFAULTS = {
    "trace": (), "cwd": None, "env": (), "timeout": DEFAULT_TIMEOUT, "max_instructions": None,
    "max_api_calls": DEFAULT_MAX_API_CALLS, "max_emulated": DEFAULT_MAX_EMULATED, "max_memory": None,
    "max_handles": None, "events_file": None, "vmmap": False, "report_file": None, "html_file": None,
    "report_apis": True, "net_mode": "fake", "net_config": None, "pcap_file": None, "dump_dir": None,
    "coverage_file": None, "shellcode_file": None, "arch": None, "export": None, "out_dir": None,
    "writable": False, "snapshot_at": None, "snapshot_file": None, "snapshot_stop": False,
    "from_snapshot": None, "gdb_port": None, "gdb_host": "127.0.0.1", "gdb_stop": "entry",
    "profile_file": None,
}


def _echo_err(message: str) -> None:
    import click
    click.echo(message, err=True)


def _usage_error(message: str):
    import click
    return click.UsageError(message)


def _parse_env(env) -> dict:
    envd = {}
    for e in env:
        if "=" not in e:
            import click
            raise click.BadParameter(f"{e!r} is not NAME=VALUE", param_hint="--env")
        k, v = e.split("=", 1)
        envd[k] = v
    return envd


def _exit_message(res) -> None:
    if res.crash:
        cr = res.crash
        _echo_err(f"winhatch: unhandled exception {cr['code_name']} (0x{cr['code']:08X}) at {cr['where']}: "
                 f"{cr['instruction']}" + (f" ({cr['access']} of 0x{cr['fault_address']:x})"
                                            if cr.get("fault_address") is not None else ""))
    elif res.startup_error:
        se = res.startup_error
        _echo_err(f"winhatch: start-up failed: {se['message']} ({se['status_name']}, 0x{se['status']:08X})")
    elif res.error:
        _echo_err(f"winhatch: {res.error}")
    # what stopped a child process is said too (the run's own message is about the program)
    machine = getattr(res, "machine", None)
    for p in getattr(machine, "processes", []) or []:
        if p is res.process or getattr(p, "arch", None) is None:
            continue
        un = p.subsystem.get("unimplemented") or []
        msg = getattr(p, "stop_message", None)
        if un or msg:
            _echo_err(f"winhatch: in child {p.image_name} (pid {p.pid}): "
                     f"{msg or 'unimplemented API ' + un[0]['api']}")


def _writable(path: str, what: str) -> None:
    """Refuse an output path we cannot write before running anything (one clear line, no traceback)."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        import click
        raise click.BadParameter(f"directory {d} does not exist", param_hint=what)
    if os.path.isdir(path):
        import click
        raise click.BadParameter(f"{path} is a directory", param_hint=what)


class _ResumeGc:
    """Turns the cyclic garbage collector back on (once): call it, or let the machine's first thread_create
    event do it (`setup_machine`)."""

    def __init__(self, was_enabled: bool):
        self.pending = was_enabled

    def __call__(self) -> None:
        if self.pending:
            self.pending = False
            import gc
            gc.freeze()
            gc.enable()

    def setup_machine(self, machine) -> None:
        from winhatch.kernel.events import THREAD

        def on_thread_event(event) -> None:
            if event.name == "thread_create":
                self()
        machine.events.subscribe(on_thread_event, categories=(THREAD,))


def pause_gc_for_startup(command_process: bool) -> _ResumeGc:
    """Pause the cyclic garbage collector while a `run` starts up, in the `winhatch` command's own process.

    The start-up (the imports, the ~900 API declarations, the subsystem's trap table, process creation)
    allocates a few hundred thousand objects that live until the process exits; with the collector on,
    each is traversed about twice by young-generation collections (~15 ms of a ~250 ms hello run).  It is
    turned back on when the process's first thread exists, after `gc.freeze()` has moved what the start-up
    made out of its reach, so the guest's run is collected as usual.  Freezing is only right in a process
    that runs one program and exits (whatever is frozen, garbage included, stays until the end): when
    main() is called by a host program (a test's CliRunner), nothing changes."""
    import gc
    was_enabled = gc.isenabled() and command_process
    if was_enabled:
        gc.disable()
    return _ResumeGc(was_enabled)


def run_program(trace, cwd, env, timeout, max_instructions, max_api_calls, max_emulated, max_memory, max_handles,
                events_file, vmmap, report_file, html_file, report_apis, net_mode, net_config, pcap_file, dump_dir,
                coverage_file, shellcode_file, arch, export, out_dir, writable, snapshot_at, snapshot_file,
                snapshot_stop, from_snapshot, gdb_port, gdb_host, gdb_stop, profile_file, program, args, *,
                command_process: bool) -> None:
    """`winhatch run` with its parameters (see its help in winhatch.cli); exits the process (sys.exit) with
    the run's status.  `command_process`: this process is the `winhatch` command itself (not a host calling
    the click command), so the start-up may pause the garbage collector (pause_gc_for_startup)."""
    if from_snapshot:
        if program is not None or args:
            raise _usage_error("--from-snapshot continues a saved run: give no PROGRAM")
        for given, opt in ((shellcode_file, "--shellcode"), (export, "--export"), (cwd, "--cwd"), (env, "--env"),
                           (net_config, "--net-config"), (net_mode != "fake", "--net"),
                           (coverage_file, "--coverage"), (max_memory is not None, "--max-memory"),
                           (max_handles is not None, "--max-handles"), (snapshot_at, "--snapshot-at"),
                           (profile_file, "--profile")):
            if given:
                raise _usage_error(f"{opt} cannot be used with --from-snapshot (the snapshot has the "
                                   f"machine's settings)")
        program = None
    if snapshot_at or snapshot_file or snapshot_stop:
        if not (snapshot_at and snapshot_file):
            raise _usage_error("--snapshot-at WHEN and --snapshot-file FILE go together")
        from winhatch.snapshot import Trigger
        try:
            Trigger(snapshot_at)
        except ValueError as e:
            raise _usage_error(str(e)) from None
        _writable(snapshot_file, "--snapshot-file")
    if from_snapshot:
        pass
    elif shellcode_file:
        if not arch:
            raise _usage_error("--shellcode needs --arch x86 or --arch x64")
        if program is not None:
            args = (program,) + tuple(args)
        program = shellcode_file
    elif program is None:
        raise _usage_error("Missing argument 'PROGRAM' (or --shellcode FILE --arch ARCH).")
    elif arch:
        raise _usage_error("--arch is for --shellcode (a PE file names its own architecture)")
    gc_resume = pause_gc_for_startup(command_process)
    from winhatch import runner

    envd = _parse_env(env)
    for path, opt in ((events_file, "--events"), (report_file, "--report"), (html_file, "--html"),
                      (pcap_file, "--pcap")):
        if path:
            _writable(path, opt)
    cfg = None
    if net_config:
        from winhatch.kernel.net.internet import NetConfig, NetConfigError
        try:
            cfg = NetConfig.load(net_config)
        except NetConfigError as e:
            raise _usage_error(f"--net-config: {e}") from None
    profile = None
    if profile_file:
        from winhatch.kernel.profile import Profile, ProfileError
        try:
            profile = Profile.load(profile_file)
        except ProfileError as e:
            raise _usage_error(f"--profile: {e}") from None
    subs = []
    printer = None
    if trace:
        from winhatch.report.trace import TracePrinter, categories_for
        printer = TracePrinter(sys.stderr, categories_for(trace))
    if printer:
        subs.append(printer)
    writer = None
    if events_file:
        from winhatch.kernel.events import JsonlWriter
        writer = JsonlWriter(events_file)
    if writer:
        subs.append(writer)
    sys.stdout.flush()
    interrupted = False
    setup = gc_resume.setup_machine
    recorder = None
    if coverage_file:
        _writable(coverage_file, "--coverage")
        from winhatch.report.drcov import CoverageRecorder
        recorder = CoverageRecorder()

        def setup(machine, _first=gc_resume.setup_machine):
            recorder.setup(machine)
            _first(machine)
    if from_snapshot:
        gc_resume()
        setup = None
    try:
        res = runner.run(program, list(args), cwd=cwd, env=envd, timeout=timeout, max_instructions=max_instructions,
                         stdout=sys.stdout.buffer, stderr=sys.stderr.buffer, stdin=sys.stdin.buffer,
                         subscribers=subs, record=("api", "syscall") if (report_file or html_file) and report_apis else (),
                         setup_machine=setup, max_memory=max_memory, max_handles=max_handles,
                         shellcode=arch if shellcode_file else None, export=export,
                         max_api_calls=max_api_calls, max_emulated_s=max_emulated,
                         net=net_mode, net_config=cfg, writable=writable, out_dir=out_dir,
                         snapshot_at=snapshot_at, snapshot_file=snapshot_file,
                         snapshot_stop=snapshot_stop, from_snapshot=from_snapshot, profile=profile,
                         gdb={"port": gdb_port, "host": gdb_host, "stop": gdb_stop} if gdb_port is not None else None)
    except runner.Interrupted as e:   # Ctrl-C: the guests ended with STATUS_CONTROL_C_EXIT, report anyway
        res, interrupted = e.result, True
    finally:
        gc_resume()
        if printer:
            printer.flush()
        if writer:
            writer.close()
    sys.stdout.flush()
    _exit_message(res)
    if snapshot_at:
        info = getattr(res.machine, "snapshot_info", None)
        if info:
            _echo_err(f"winhatch: snapshot written to {info['path']} ({info['bytes']:,} bytes, "
                      f"{info['seconds']:.2f} s)")
        elif res.outcome != "snapshot":
            _echo_err(f"winhatch: the snapshot point {snapshot_at} was not reached: no snapshot written")
    if vmmap and res.process is not None and res.process.aspace is not None:
        from rich.console import Console
        from winhatch.report import memmap
        from winhatch.report.console import output_console
        memmap.render(memmap.memory_map(res.process.aspace), output_console(stderr=True),
                      title=f"{res.process.image_name} (pid {res.process.pid})")
    if pcap_file:
        from winhatch.kernel.net.internet import internet_of
        if res.machine is not None:
            internet_of(res.machine).capture.write_pcap(pcap_file)
    if recorder is not None:
        info = recorder.write(coverage_file)
        _echo_err(f"winhatch: coverage in {coverage_file}: {info['blocks']} blocks in {info['modules']} modules"
                  + (f" ({info['outside']} outside every module, not written)" if info["outside"] else ""))
    if dump_dir and res.process is not None:
        from winhatch.report.dump import write_dumps
        try:
            man = write_dumps(res, dump_dir)
            _echo_err(f"winhatch: dumps in {dump_dir} (minidump, {len(man['modules'])} modules, "
                      f"{len(man['unpacked'])} rebuilt images, {len(man['regions'])} regions)")
        except OSError as e:
            _echo_err(f"winhatch: --dump {dump_dir}: {e.strerror or e}")
    if report_file or html_file:
        from winhatch.report import jsonreport
        doc = res.report()
        if report_file:
            jsonreport.write(doc, report_file)
        if html_file:
            from winhatch.report.html import write_html
            write_html(doc, html_file)
    if interrupted:
        sys.exit(128 + getattr(res, "interrupt_signal", 2))     # 130 for Ctrl-C, 143 for SIGTERM
    status = _exit_status(res)
    if command_process and _CONSOLE_SCRIPT:
        _end_command_process(res, status)
    sys.exit(status)


#: set by main(): this process is the `winhatch` console script's (a run may end it with os._exit)
_CONSOLE_SCRIPT = False


def _end_command_process(res, status: int) -> None:
    """The `winhatch` console script's process ends here, once the run is over and every file it writes is
    closed: the sandbox removed, the exit functions run (atexit, weakref finalizers), the standard streams
    flushed, then os._exit.  The interpreter's own ending (collecting every module and object of the run,
    the CPU engine's memory freed block by block) did nothing this process needs and was ~20 ms of a Hello
    world run on a loaded machine.  (A program calling winhatch.cli.main itself ends as Python does.)"""
    import atexit
    machine = getattr(res, "machine", None)
    if machine is not None:
        machine.remove_sandbox()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _exit_status(res) -> int:
    """`winhatch run`'s exit status: the guest's own when it ended by itself, winhatch's when winhatch ended it."""
    outcome = res.outcome
    if outcome == "refused":
        return EXIT_REFUSED
    if outcome == "unimplemented":
        return EXIT_UNIMPLEMENTED
    if outcome == "limit":
        return EXIT_LIMIT
    if outcome == "deadlock":
        return EXIT_DEADLOCK
    if outcome == "interrupted":
        return EXIT_INTERRUPTED
    if outcome == "snapshot":
        return 0 if getattr(res.machine, "snapshot_info", None) else EXIT_REFUSED
    return res.exit_status & 0xFF



def plain_run(argv: list[str]) -> bool:
    """Is this command line `run PROGRAM [ARGS...]` with no option (the form fast_main serves)?  As click parses
    it (no interspersed options: everything after PROGRAM is the guest's), with PROGRAM not a directory
    (click's check) and no shell completion asked."""
    return (len(argv) >= 2 and argv[0] == "run" and not argv[1].startswith("-") and not os.path.isdir(argv[1])
            and "_WINHATCH_COMPLETE" not in os.environ)


def fast_main(argv: list[str]) -> None:
    """`winhatch run PROGRAM [ARGS...]` (plain_run) without click: what the click command does with every
    option at its default, its unexpected errors reported as winhatch.cli's group reports them (one line,
    status 70), Ctrl-C before the run's own handling as click reports it ("Aborted!", status 1)."""
    try:
        try:
            run_program(**RUN_DEFAULTS, program=argv[1], args=tuple(argv[2:]), command_process=True)
        except (SystemExit, KeyboardInterrupt, EOFError):
            raise
        except Exception as e:  # noqa: BLE001 — as winhatch.cli._Group.invoke
            if os.environ.get("WINHATCH_DEBUG"):
                raise
            _echo_err(f"winhatch: internal error: {type(e).__name__}: {e} "
                     f"(set WINHATCH_DEBUG=1 to see the traceback)")
            sys.exit(EXIT_INTERNAL_ERROR)
        sys.exit(0)
    except (EOFError, KeyboardInterrupt):
        import click
        click.echo(file=sys.stderr)     # the blank line closing the terminal's ^C echo, then click's word
        click.echo("Aborted!", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    """The `winhatch` console script: a plain `winhatch run PROGRAM [ARGS...]` (plain_run) served by fast_main,
    every other command line by winhatch.cli's click group."""
    global _CONSOLE_SCRIPT
    _CONSOLE_SCRIPT = True
    argv = sys.argv[1:]
    if plain_run(argv):
        fast_main(argv)
    from winhatch.cli import main as cli_main
    cli_main()
