"""The `winhatch` command."""
from __future__ import annotations

import os
import sys

import click

# the exit statuses and default budgets of `winhatch run`, and its work (winhatch.runcmd: the console script
# serves a plain `winhatch run PROGRAM` from there without importing click); re-exported
from winhatch.runcmd import (DEFAULT_MAX_API_CALLS, DEFAULT_MAX_EMULATED, DEFAULT_TIMEOUT,  # noqa: E402,F401
                             EXIT_DEADLOCK, EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED, EXIT_LIMIT, EXIT_REFUSED,
                             EXIT_UNIMPLEMENTED, _exit_message, _exit_status, _parse_env, _ResumeGc, _writable)


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


def _pause_gc_for_startup() -> _ResumeGc:
    """winhatch.runcmd.pause_gc_for_startup in the `winhatch` command's own process (main.command_process)."""
    from winhatch.runcmd import pause_gc_for_startup
    return pause_gc_for_startup(main.command_process)


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
@click.option("--timeout", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT, show_default=True,
              help="Stop after this many host seconds (0: no limit).")
@click.option("--max-instructions", type=click.IntRange(min=0),
              help="Stop after this many guest instructions (all threads; 0 or unset: no limit; counting them "
                   "slows the CPU 15-25x).")
@click.option("--max-api-calls", type=click.IntRange(min=0), default=DEFAULT_MAX_API_CALLS, show_default=True,
              help="Stop after this many API calls that reach winhatch's kernel or handlers (0: no limit).")
@click.option("--max-emulated-time", "max_emulated", type=click.FloatRange(min=0), default=DEFAULT_MAX_EMULATED,
              show_default=True, help="Stop when the guest's clock has advanced this many seconds (0: no limit). "
                                      "Sleeping costs no host time, so a sample that sleeps in a loop meets this "
                                      "budget, not --timeout.")
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
@click.option("--report-apis/--no-report-apis", "report_apis", default=True, show_default=True,
              help="Whether --report/--html list every API call and system service (their counts, the calls "
                   "with their arguments). Recording them sends the system DLLs' user-mode code (memcpy, "
                   "strlen, HeapAlloc, TlsGetValue...) to Python for each call, as a trace does; "
                   "--no-report-apis keeps it machine code, for long API-heavy runs: the report then has the "
                   "processes, modules, memory, files, registry, behaviour and exit, without the calls.")
@click.option("--dump", "dump_dir", type=click.Path(file_okay=False),
              help="At exit, write into this folder: a Windows minidump of the process (full memory; WinDbg and "
                   "the `minidump` package read it), each loaded module's image from memory, a PE file rebuilt "
                   "from memory (imports from the IAT) for the program and every image whose code changed, the "
                   "private executable regions, and manifest.json with their sizes and sha256.")
@click.option("--coverage", "coverage_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the basic blocks the guest executed, per module, as a drcov file (Lighthouse, bncov). "
                   "Optional: a Python call per executed block makes CPU-bound code several times slower.")
@click.option("--shellcode", "shellcode_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Run FILE as raw position-independent code (with --arch) in a host process: a loader that "
                   "reads it into a PAGE_EXECUTE_READWRITE allocation and calls it on the main thread; what "
                   "it returns is the exit code. The remaining arguments go to the loader's command line.")
@click.option("--arch", type=click.Choice(["x86", "x64"]), help="The architecture of --shellcode code.")
@click.option("--export", metavar="NAME",
              help="For a DLL: call this export (a name, or #ordinal) as rundll32 does — "
                   "f(hwnd, hinst, cmdline, nCmdShow), NAMEW with a wide command line when the DLL has it — "
                   "with the remaining arguments as its command line. A DLL given without --export is loaded "
                   "and freed (its DllMain attach and detach run).")
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
@click.option("--out", "out_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="The run's output folder: DIR/dropped/<drive>/<guest path> keeps a copy of every file the guest "
                   "created, modified or deleted anywhere (e.g. dropped/C/Users/user/AppData/Local/Temp/x.exe; "
                   "up to 256 MB, the report lists all of them with sha256 and says when the copies were "
                   "truncated), DIR/overlay the copy-on-write layer of the program's folder.")
@click.option("--writable", is_flag=True,
              help="Let the guest write the program's host folder, as Wine does. Without it the folder is a "
                   "copy-on-write overlay: the guest reads it and sees its own changes, which land in the "
                   "sandbox (or --out DIR/overlay); the host files never change.")
@click.option("--snapshot-at", "snapshot_at", metavar="WHEN",
              help="Save the running machine to --snapshot-file at this point: api:Name or api:Name#N (before the "
                   "Nth call of that API), addr:0xADDRESS or addr:module+0xOFFSET (when that instruction is about "
                   "to run), icount:N (after N guest instructions; counting them slows the CPU). The run goes on "
                   "unless --snapshot-stop.")
@click.option("--snapshot-file", "snapshot_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Where --snapshot-at writes the snapshot.")
@click.option("--snapshot-stop", is_flag=True, help="End the run once the snapshot is written (exit status 0).")
@click.option("--from-snapshot", "from_snapshot", type=click.Path(dir_okay=False), metavar="FILE",
              help="Continue the run saved in this snapshot instead of starting PROGRAM (no PROGRAM then): its "
                   "output, exit status and report are those of the rest of the run.")
@click.option("--gdb", "gdb_port", type=click.IntRange(min=0, max=65535), metavar="PORT",
              help="Start a GDB remote stub on this TCP port and wait for gdb when the program's process reaches "
                   "its entry point (gdb-multiarch -ex 'set architecture i386:x86-64' -ex 'target remote "
                   "127.0.0.1:PORT'; `set architecture i386` for x86): registers, memory, breakpoints and "
                   "watchpoints (without patching guest memory), stepping, threads (the guest's TIDs), the loaded "
                   "DLLs. With `set target-file-system-kind dos-based` gdb reads the program and its DLLs from the "
                   "guest (their symbols: exports, the program's own). The --timeout host-time limit is off while "
                   "debugging.")
@click.option("--gdb-host", default="127.0.0.1", show_default=True, metavar="ADDRESS",
              help="The address the --gdb stub listens on.")
@click.option("--gdb-stop", type=click.Choice(["entry", "loader"]), default="entry", show_default=True,
              help="Where the process first stops for gdb: its entry point (after the loader), or its very first "
                   "instruction (ntdll!LdrInitializeThunk), so breakpoints can be put in DllMain and TLS callbacks.")
@click.option("--profile", "profile_file", type=click.Path(dir_okay=False, exists=True), metavar="FILE.toml",
              help="The machine the guest finds (docs/profile.md): [machine] host_name, user_name, domain, "
                   "memory, memory_used, uptime, disk_size, disk_free, screen; [os] major, minor, build, ubr, "
                   "product_name, display_version; [cpu] count, brand, mhz; [network] mac, adapter; "
                   "[[programs]] name/version/publisher (the Uninstall keys); [[files]] path with host or "
                   "text; [[registry]] key/name/type/data. Default: an ordinary Windows 10 office desktop.")
@click.argument("program", type=click.Path(dir_okay=False), required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(trace, cwd, env, timeout, max_instructions, max_api_calls, max_emulated, max_memory, max_handles,
        events_file, vmmap, report_file, html_file, report_apis, net_mode, net_config, pcap_file, dump_dir, coverage_file,
        shellcode_file, arch, export, out_dir, writable, snapshot_at, snapshot_file, snapshot_stop, from_snapshot,
        gdb_port, gdb_host, gdb_stop, profile_file, program, args):
    """Create a process from PROGRAM the way Windows does and run it.

    The program's stdout and stderr reach the host's byte for byte; the exit status is the guest's exit
    code & 0xFF, as with Wine. The program's directory is mounted as C:\\app (its application
    directory and current directory).

    The sandbox: C:\\app is a copy-on-write overlay of the program's host folder (--writable opts out): the
    guest's writes, deletions and renames land in an upper layer and the host folder never changes. The
    rest of the guest's C: drive (C:\\Windows, C:\\Users\\user, %TEMP%, C:\\ProgramData) is a temporary
    folder of the sandbox, removed at the end. Paths never reach a host file outside them ('..', \\\\?\\,
    UNC, other drives, host symlinks leading out). Every file the guest created, modified or deleted is
    listed in the report (dropped_files: path, state, size, sha256) and kept in --out DIR/dropped/.

    An unhandled exception, a start-up failure (missing DLL or export) or an API that winhatch does not
    implement ends the guest with a one-line message on stderr.

    Ctrl-C (SIGINT) stops the run at once, even while the guest computes: the guest ends as a console
    process does on Windows, with STATUS_CONTROL_C_EXIT (0xC000013A, in the report), the --report,
    --html and --events files are still written, the sandbox's temporary folder is removed, and the
    exit status is 130 (128 + SIGINT).

    \b
    Exit status (the report's result.outcome names the case):
      0-255  the guest ended by itself: its exit code & 0xFF, as under Wine (outcome "exited"; "crashed"
             after an unhandled exception or a fail-fast, whose NTSTATUS is the exit code, e.g. 5 for
             0xC0000005; "startup-failed" when a DLL or export is missing, e.g. 0x35 for 0xC0000135)
      1      no process: the file is missing or not a loadable image ("refused")
      2      bad command line
      70     winhatch itself failed (a bug: please report it)
      124    winhatch ended the guest at a budget: --timeout, --max-instructions, --max-api-calls,
             --max-emulated-time ("limit")
      125    the guest called an API winhatch does not implement ("unimplemented")
      126    no guest thread could ever run again ("deadlock")
      130    interrupted by Ctrl-C, 143 by SIGTERM ("interrupted"; the report is still written)
    A guest may itself exit with 1, 124, 125 or 126: the report tells them apart.
    With --snapshot-stop the status is 0 once the snapshot is written (outcome "snapshot"), 1 when it could
    not be written; --from-snapshot refuses a damaged or foreign file with status 1.
    """
    from winhatch.runcmd import run_program
    run_program(trace, cwd, env, timeout, max_instructions, max_api_calls, max_emulated, max_memory, max_handles,
                events_file, vmmap, report_file, html_file, report_apis, net_mode, net_config, pcap_file, dump_dir,
                coverage_file, shellcode_file, arch, export, out_dir, writable, snapshot_at, snapshot_file,
                snapshot_stop, from_snapshot, gdb_port, gdb_host, gdb_stop, profile_file, program, args,
                command_process=main.command_process)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (regions and totals) instead of tables.")
@click.option("--no-free", is_flag=True, help="Leave free and unusable regions out of the details table.")
@click.option("--cwd", help="The guest's initial current directory.")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Set a guest environment variable.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop after this many host seconds (0: no limit).")
@click.option("--max-instructions", type=click.IntRange(min=0),
              help="Stop after this many guest instructions (all threads; 0: no limit).")
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
        from winhatch.report.console import output_console
        memmap.render(regions, output_console(), title=f"{res.process.image_name} (pid {res.process.pid})",
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
        from winhatch.report.console import output_console
        render(info, output_console(), missing_only=missing, limit=limit)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="The output folder: one sub-folder per sample (report.json, stdout.txt, stderr.txt, "
                   "result.json, report.html with --html) and summary.jsonl.")
@click.option("--list", "list_file", type=click.Path(dir_okay=False, exists=True),
              help="A file naming one sample path per line (# starts a comment), in addition to PATHS.")
@click.option("-j", "--jobs", type=click.IntRange(1), default=None,
              help="Worker processes on this machine (default: one per core).")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="Run the workers as Ray tasks: 'auto' (the cluster RAY_ADDRESS or a local `ray start` names), "
                   "HOST:PORT of a head node, or 'local' (a one-machine cluster started for this batch). Needs "
                   "`pip install ray` and winhatch on every node; the driver sends the samples and writes the "
                   "results, so no shared folder is needed.")
@click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Guest time budget per sample, in host seconds (winhatch run --timeout).")
@click.option("--max-instructions", type=click.IntRange(min=0), help="Guest instruction budget per sample.")
@click.option("--max-memory", metavar="SIZE", help="The guest machine's commit limit per sample (winhatch run "
                                                     "--max-memory; default 2G).")
@click.option("--worker-memory", type=_Size(), default="2G", show_default=True, metavar="SIZE",
              help="Host memory (resident) per worker; a worker past it is killed and the sample recorded as "
                   "'memory'.")
@click.option("--html", is_flag=True, help="Also write each sample's report as an HTML page.")
@click.option("--rerun", is_flag=True, help="Run every sample again, even those with a result in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON lines instead of a table.")
@click.option("--no-progress", is_flag=True, help="No progress display on stderr.")
def batch(paths, out_dir, list_file, jobs, ray_address, timeout, max_instructions, max_memory, worker_memory, html,
          rerun, as_json, no_progress):
    """Run many samples, each in its own worker process, and summarise them.

    PATHS are files (always taken) and directories (every file under them that starts with 'MZ'). Each sample
    runs as `winhatch run` would run it, in a fresh process and temporary folder, with the guest budgets
    (--timeout, --max-instructions, --max-memory) and a host bound on the worker: its memory
    (--worker-memory) and a hard wall-clock limit of the timeout plus 30 s. A sample that crashes, hangs,
    exhausts memory, calls an unimplemented API or is not a loadable image is recorded as such; it never
    stops the batch. A second batch into the same --out skips samples whose result is already there
    (--rerun runs them again).

    \b
    The summary (printed table, and OUT/summary.jsonl: one JSON object per sample, in input order) gives
    each sample's status, exit code, first unimplemented API or error, architecture, counts of what it did
    (processes started, files written or deleted, registry keys written, connections) and time. Statuses:
      exited          the guest ran to its exit (exit is its status)
      crashed         an unhandled exception ended the guest
      unimplemented   the guest called an API winhatch does not implement
      startup-failed  a missing DLL or export, or a failing DllMain
      refused         not a loadable image (the reason and NTSTATUS Windows would give)
      limit           a guest budget ran out
      deadlock        no guest thread could run again
      hung            killed after the hard wall-clock limit
      memory          killed at --worker-memory
      internal-error  winhatch failed on this sample (a bug: please report it)

    \b
    Exit status: 0 when every sample has a result (whatever the samples did), 1 on bad arguments or when no
    sample was found, 130 when interrupted (the results so far are kept and summary.jsonl is written).
    """
    import json

    from winhatch import batch as B

    if not paths and not list_file:
        raise click.UsageError("give sample PATHS or --list FILE")
    opts = B.Options(timeout=timeout, max_instructions=max_instructions, max_memory=max_memory,
                     worker_memory=worker_memory or (1 << 62), html=html)
    try:
        samples = B.collect(list(paths), list_file)
    except (OSError, ValueError) as e:
        click.echo(f"winhatch: {e}", err=True)
        sys.exit(1)
    if not samples:
        click.echo("winhatch: no samples found (directories are searched for files starting with 'MZ')", err=True)
        sys.exit(1)
    try:
        lines = B.run_batch(list(paths), out_dir, list_file=list_file, jobs=jobs, ray_address=ray_address,
                            opts=opts, progress=not no_progress, rerun=rerun)
    except KeyboardInterrupt:
        click.echo(f"winhatch: interrupted; the results so far are in {out_dir}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except RuntimeError as e:
        click.echo(f"winhatch: {e}", err=True)
        sys.exit(1)
    if as_json:
        for ln in lines:
            click.echo(json.dumps(ln))
    else:
        B.render_table(lines)


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
        from winhatch.report.console import output_console
        render(info, output_console(), show_imports=show_imports)
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
