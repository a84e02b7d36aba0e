"""The `winhatch` command."""
from __future__ import annotations

import os
import sys

import click

EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE: a winhatch bug, never the guest's exit status
EXIT_INTERRUPTED = 130    # 128 + SIGINT: what shells expect from a command stopped by Ctrl-C


class _Group(click.Group):
    """Turns an unexpected Python exception (a winhatch bug) into one line instead of a traceback."""

    #: main() reads the process's own command line and exits at the end: this process is the `winhatch`
    #: command (the console script, `python -m winhatch.cli`), not a host calling main() with arguments
    #: (a test's CliRunner)
    command_process = False

    def main(self, args=None, *rest, standalone_mode: bool = True, **kwargs):
        self.command_process = args is None and standalone_mode
        return super().main(args, *rest, standalone_mode=standalone_mode, **kwargs)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit,
                KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 — the one place that catches everything
            if os.environ.get("WINHATCH_DEBUG"):
                raise
            click.echo(f"winhatch: internal error: {type(e).__name__}: {e} "
                       f"(set WINHATCH_DEBUG=1 to see the traceback)", err=True)
            sys.exit(EXIT_INTERNAL_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="winhatch")
def main() -> None:
    """winhatch — watch Windows give birth to a process.

    It takes a real PE executable (x86 or x64), creates the process the way Windows does, loads its DLLs as
    ntdll's loader does and runs it on an emulated CPU, showing every step.
    """


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def inspect(file: str, as_json: bool) -> None:
    """Show a PE file's headers, sections, imports, exports, relocations, TLS and debug info.

    Like `dumpbin /headers /imports /exports`. A malformed file prints one line with the reason, the file
    offset and the NTSTATUS Windows would give, and exits with status 1.
    """
    from winhatch.report.inspect import run_inspect

    sys.exit(run_inspect(file, as_json))


from winhatch.report.trace import TRACE_CATEGORIES  # noqa: E402  (re-exported: --trace choices)


def _parse_env(env) -> dict:
    envd = {}
    for e in env:
        if "=" not in e:
            raise click.BadParameter(f"{e!r} is not NAME=VALUE", param_hint="--env")
        k, v = e.split("=", 1)
        envd[k] = v
    return envd


def _exit_message(res) -> None:
    if res.crash:
        cr = res.crash
        click.echo(f"winhatch: unhandled exception {cr['code_name']} (0x{cr['code']:08X}) at {cr['where']}: "
                   f"{cr['instruction']}" + (f" ({cr['access']} of 0x{cr['fault_address']:x})"
                                             if cr.get("fault_address") is not None else ""), err=True)
    elif res.startup_error:
        se = res.startup_error
        click.echo(f"winhatch: start-up failed: {se['message']} ({se['status_name']}, 0x{se['status']:08X})",
                   err=True)
    elif res.error:
        click.echo(f"winhatch: {res.error}", err=True)


def _writable(path: str, what: str) -> None:
    """Refuse an output path we cannot write before running anything (one clear line, no traceback)."""
    import os
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise click.BadParameter(f"directory {d} does not exist", param_hint=what)
    if os.path.isdir(path):
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


def _pause_gc_for_startup() -> _ResumeGc:
    """Pause the cyclic garbage collector while a `run` starts up, in the `winhatch` command's own process.

    The start-up (the imports, the ~900 API declarations, the subsystem's trap table, process creation)
    allocates a few hundred thousand objects that live until the process exits; with the collector on,
    each is traversed about twice by young-generation collections (~15 ms of a ~250 ms hello run).  It is
    turned back on when the process's first thread exists, after `gc.freeze()` has moved what the start-up
    made out of its reach, so the guest's run is collected as usual.  Freezing is only right in a process
    that runs one program and exits (whatever is frozen, garbage included, stays until the end): when
    main() is called by a host program (a test's CliRunner), nothing changes."""
    import gc
    was_enabled = gc.isenabled() and main.command_process
    if was_enabled:
        gc.disable()
    return _ResumeGc(was_enabled)


class _Size(click.ParamType):
    """A byte count: 123, 512K, 256M, 2G (powers of 1024)."""

    name = "SIZE"
    _UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        unit = text[-1:] if text[-1:] in self._UNITS else ""
        number = text[:-1] if unit else text
        try:
            n = int(number)
        except ValueError:
            self.fail(f"{value!r} is not a size (e.g. 512M, 2G, 0 for no cap)", param, ctx)
        if n < 0:
            self.fail(f"{value!r} is negative", param, ctx)
        return n * self._UNITS[unit]


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--trace", type=click.Choice(sorted(TRACE_CATEGORIES)), multiple=True,
              help="Print a timeline on stderr: the creation stages, the loader (every import resolved, "
                   "forwarders, relocations, TLS and DllMain calls), API calls, or all events.")
@click.option("--cwd", help="The guest's initial current directory (default: the program's directory, C:\\app).")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Set a guest environment variable.")
@click.option("--timeout", type=float, help="Stop after this many host seconds.")
@click.option("--max-instructions", type=int, help="Stop after this many guest instructions (all threads).")
@click.option("--max-memory", type=_Size(), default=None, metavar="SIZE",
              help="Commit limit of the whole machine (all guest processes), e.g. 512M or 4G; an allocation "
                   "past it fails with ERROR_COMMITMENT_LIMIT (1455), as at Windows' commit limit. "
                   "Default 2G (what a 32-bit process can address; committed memory becomes host memory "
                   "once touched). 0: no cap.")
@click.option("--max-handles", type=click.IntRange(min=0), default=None, metavar="N",
              help="Open handles per process; a call past it fails with ERROR_NO_SYSTEM_RESOURCES (1450), "
                   "as at Windows' own limit of 2^24. Default 262144 (each handle costs the host about 0.5 KB). "
                   "0: only Windows' limit.")
@click.option("--events", "events_file", type=click.Path(dir_okay=False), help="Write every event to a JSONL file.")
@click.option("--vmmap", is_flag=True, help="At exit, print the address space (like Sysinternals VMMap) on stderr.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False),
              help="Write the JSON report of the run (docs/report-schema.json) to this file.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False),
              help="Write the report as a self-contained HTML page to this file.")
@click.option("--net", "net_mode", type=click.Choice(["fake", "host"]), default="fake", show_default=True,
              help="The network the guest's sockets reach. fake: a fake internet inside winhatch — every name "
                   "resolves (configured answers, else a fixed address per name in 198.18.0.0/15), every TCP "
                   "connection is accepted by an HTTP responder (a request beginning with an HTTP method gets "
                   "the configured response for its host and path, else a default page, 200 OK) or a sink "
                   "(optional banner), UDP port 53 answers DNS, 127.0.0.1 reaches the guest's own sockets; "
                   "nothing leaves the host. host: connections go to the real addresses (and names resolve "
                   "with the host's resolver) — for testing against a local server.")
@click.option("--net-config", type=click.Path(dir_okay=False, exists=True), metavar="FILE.toml",
              help="The fake internet's configuration: [dns] answers per name (\"name\" = [\"1.2.3.4\"]), "
                   "[http] default_page (a file) and default_content_type, [[http.response]] host/path/file/"
                   "status/content_type, [tcp.banners] \"port\" = \"text\". Files are relative to the TOML file.")
@click.option("--pcap", "pcap_file", type=click.Path(dir_okay=False),
              help="Write the guest's network traffic (synthesized IP/TCP/UDP packets of every flow, DNS "
                   "included) to this pcap file. The JSON report has the same flows under `network`.")
@click.argument("program", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(trace, cwd, env, timeout, max_instructions, max_memory, max_handles, events_file, vmmap, report_file,
        html_file, net_mode, net_config, pcap_file, program, args):
    """Create a process from PROGRAM the way Windows does and run it.

    The program's stdout and stderr reach the host's byte for byte; the exit status is the guest's exit
    code & 0xFF, as with Wine. The program's directory is mounted as C:\\app (its application
    directory and current directory). An unhandled exception, a start-up failure (missing DLL or export)
    or an API that winhatch does not implement ends the guest with a one-line message on stderr.

    Ctrl-C (SIGINT) stops the run at once, even while the guest computes: the guest ends as a console
    process does on Windows, with STATUS_CONTROL_C_EXIT (0xC000013A, in the report), the --report,
    --html and --events files are still written, the sandbox's temporary folder is removed, and the
    exit status is 130 (128 + SIGINT).
    """
    gc_resume = _pause_gc_for_startup()
    from winhatch import runner
    from winhatch.kernel.events import JsonlWriter
    from winhatch.report.trace import TracePrinter, categories_for

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
            raise click.UsageError(f"--net-config: {e}") from None
    subs = []
    printer = TracePrinter(sys.stderr, categories_for(trace)) if trace else None
    if printer:
        subs.append(printer)
    writer = JsonlWriter(events_file) if events_file else None
    if writer:
        subs.append(writer)
    sys.stdout.flush()
    interrupted = False
    try:
        res = runner.run(program, list(args), cwd=cwd, env=envd, timeout=timeout, max_instructions=max_instructions,
                         stdout=sys.stdout.buffer, stderr=sys.stderr.buffer, stdin=sys.stdin.buffer,
                         subscribers=subs, record=("api", "syscall") if report_file or html_file else (),
                         setup_machine=gc_resume.setup_machine, max_memory=max_memory, max_handles=max_handles,
                         net=net_mode, net_config=cfg)
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
    if vmmap and res.process is not None and res.process.aspace is not None:
        from rich.console import Console
        from winhatch.report import memmap
        memmap.render(memmap.memory_map(res.process.aspace), Console(file=sys.stderr, highlight=False),
                      title=f"{res.process.image_name} (pid {res.process.pid})")
    if pcap_file:
        from winhatch.kernel.net.internet import internet_of
        if res.machine is not None:
            internet_of(res.machine).capture.write_pcap(pcap_file)
    if report_file or html_file:
        from winhatch.report import jsonreport
        doc = res.report()
        if report_file:
            jsonreport.write(doc, report_file)
        if html_file:
            from winhatch.report.html import write_html
            write_html(doc, html_file)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if res.exit_status is None:
        sys.exit(1 if res.error else 0)
    sys.exit(res.exit_status & 0xFF)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (regions and totals) instead of tables.")
@click.option("--no-free", is_flag=True, help="Leave free and unusable regions out of the details table.")
@click.option("--cwd", help="The guest's initial current directory.")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Set a guest environment variable.")
@click.option("--timeout", type=float, help="Stop after this many host seconds.")
@click.option("--max-instructions", type=int, help="Stop after this many guest instructions (all threads).")
@click.argument("program", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def vmmap(as_json, no_free, cwd, env, timeout, max_instructions, program, args):
    """Run PROGRAM and show its address space at exit, like Sysinternals VMMap.

    Every region, free ones included, classified as Image (with its module), Mapped File, Shareable
    (KUSER_SHARED_DATA), Heap, Stack (with its thread), TEB, PEB, Private Data, Unusable or Free, with its
    state, protection ("Execute/Read") and committed size, and the totals per type. The program's own
    output goes to stderr so that --json output stays clean.
    """
    import json

    from rich.console import Console

    from winhatch import runner
    from winhatch.report import memmap

    envd = _parse_env(env)
    interrupted = False
    try:
        res = runner.run(program, list(args), cwd=cwd, env=envd, timeout=timeout,
                         max_instructions=max_instructions, stdout=sys.stderr.buffer, stderr=sys.stderr.buffer,
                         stdin=sys.stdin.buffer)
    except runner.Interrupted as e:   # Ctrl-C: the map at that moment
        res, interrupted = e.result, True
    _exit_message(res)
    if res.process is None or res.process.aspace is None:
        sys.exit(1)
    regions = memmap.memory_map(res.process.aspace)
    if as_json:
        doc = {"pid": res.process.pid, "image": res.process.image_path, "arch": res.process.arch,
               "exit_status": res.exit_status, **memmap.to_json(regions)}
        click.echo(json.dumps(doc, indent=1))
    else:
        memmap.render(regions, Console(highlight=False), title=f"{res.process.image_name} (pid {res.process.pid})",
                      show_free=not no_free)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (schema winhatch-coverage/1): the summary, every function with its "
                   "file count, the DLLs outside the system directory, and every file scanned.")
@click.option("--missing", is_flag=True, help="List only the functions winhatch does not implement.")
@click.option("--limit", type=click.IntRange(0), default=50, show_default=True,
              help="How many functions the table shows (0: all).")
@click.option("--no-progress", is_flag=True, help="No progress display on stderr.")
def coverage(paths, as_json, missing, limit, no_progress):
    """Which Windows functions the PE files under PATHS import, and whether winhatch implements them.

    PATHS are files or directories (searched recursively). A file that is not a PE file is skipped quietly;
    one that starts like a PE file but does not parse is counted as malformed. Each file's imports,
    delay-load ones included, are resolved as `winhatch deps` resolves them against winhatch's System32 (x64)
    or SysWOW64 (x86): API sets to their host DLL, ordinals to their export names, forwarders to the DLL
    whose code it is, so each function is named DLL!name where it really lives. A function is implemented
    when winhatch has a handler or native code for it (a data export: when winhatch declares it).
    Imports of DLLs that are not system DLLs are listed but not counted.

    The table is sorted by how many files import each function; the last line gives the coverage:
    implemented functions / imported functions, and weighted by files (the file-function import pairs
    whose function is implemented).
    """
    import json

    from rich.console import Console

    from winhatch.report.coverage import CoverageError, render, scan

    err = Console(stderr=True, highlight=False)
    progress = None
    if not no_progress and err.is_terminal:
        def progress(i, n, path, _last=[0.0]):
            import time
            now = time.monotonic()
            if now - _last[0] > 0.2 or i >= n:
                _last[0] = now
                err.print(f"\r[dim]{i}/{n} files[/] {path[-60:]:<60}", end="")
                if i >= n:
                    err.print("\r" + " " * 80 + "\r", end="")
    try:
        info = scan(paths, progress=progress)
    except CoverageError as e:
        click.echo(f"winhatch: {e}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(info, indent=1))
    else:
        render(info, Console(highlight=False), missing_only=missing, limit=limit)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the tree and the problems found).")
@click.option("--imports", "show_imports", is_flag=True, help="List every imported symbol under its DLL.")
@click.option("--max-depth", type=click.IntRange(1, 64), default=24, show_default=True,
              help="How deep to follow dependencies.")
def deps(file, as_json, show_imports, max_depth):
    """Show FILE's dependency tree without running it, like Dependencies / Dependency Walker.

    Each DLL is found as the loader would: API sets resolved through the schema to their host DLL, then the
    program's directory, then the synthetic System32 (x64) or SysWOW64 (x86). Forwarders are followed;
    missing DLLs and missing exports are flagged, and the exit status is 1 when a (non-delay-load) DLL
    or export is missing.
    """
    import json
    import os

    from rich.console import Console

    from winhatch.ntstatus import NtStatusError
    from winhatch.report.deps import dependency_tree, render

    if not os.path.isfile(file):
        click.echo(f"winhatch: {file}: no such file", err=True)
        sys.exit(1)
    try:
        info = dependency_tree(file, max_depth=max_depth)
    except NtStatusError as e:
        click.echo(f"winhatch: {file}: {e}", err=True)
        sys.exit(1)
    except OSError as e:
        click.echo(f"winhatch: {file}: {e.strerror or e}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(info, indent=1))
    else:
        render(info, Console(highlight=False), show_imports=show_imports)
    sys.exit(0 if info["ok"] else 1)


@main.command()
@click.argument("report_file", type=click.Path(dir_okay=False))
@click.option("--html", "html_file", type=click.Path(dir_okay=False), required=True,
              help="Write a self-contained HTML page (SVG memory map, stage timeline, process tree, modules, APIs).")
def report(report_file, html_file):
    """Turn a JSON report written by `winhatch run --report` into one self-contained HTML page."""
    from winhatch.report import jsonreport
    from winhatch.report.html import write_html

    try:
        doc = jsonreport.load(report_file)
    except ValueError as e:
        click.echo(f"winhatch: {e}", err=True)
        sys.exit(1)
    _writable(html_file, "--html")
    write_html(doc, html_file)
    click.echo(f"wrote {html_file}", err=True)


if __name__ == "__main__":
    main()
