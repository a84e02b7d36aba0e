"""The `winhatch` command."""
from __future__ import annotations

import sys

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


TRACE_CATEGORIES = {
    "stages": {"stage", "process", "thread"},
    "loader": {"stage", "loader", "image"},
    "api": {"api"},
    "all": None,
}


def _trace_printer(stream, categories):
    from rich.console import Console as RichConsole

    con = RichConsole(file=stream, highlight=False, soft_wrap=True)
    colours = {"stage": "bold cyan", "loader": "green", "image": "magenta", "api": "yellow", "process": "bold",
               "thread": "bold", "exception": "bold red"}

    def show(ev):
        if categories is not None and ev.category not in categories:
            return
        vals = " ".join(f"{k}={_fmt(v)}" for k, v in ev.data.items() if v is not None and v != "")
        ind = "  " * ev.depth
        con.print(f"[dim]{ev.time / 10_000:10.3f}ms pid={ev.pid:<5}[/dim] {ind}"
                  f"[{colours.get(ev.category, 'white')}]{ev.name}[/] {vals}", markup=True, highlight=False)

    return show


def _fmt(v):
    if isinstance(v, int) and not isinstance(v, bool) and v > 0xFFFF:
        return f"0x{v:x}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_fmt(x)}" for k, x in v.items()) + "}"
    return str(v).replace("[", "\\[")


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--trace", type=click.Choice(sorted(TRACE_CATEGORIES)), multiple=True,
              help="Print a timeline on stderr: the creation stages, the loader, API calls, or all events.")
@click.option("--cwd", help="The guest's initial current directory (default: the program's directory, C:\\app).")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Set a guest environment variable.")
@click.option("--timeout", type=float, help="Stop after this many host seconds.")
@click.option("--max-instructions", type=int, help="Stop after this many guest instructions (all threads).")
@click.option("--events", "events_file", type=click.Path(dir_okay=False), help="Write every event to a JSONL file.")
@click.argument("program", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(trace, cwd, env, timeout, max_instructions, events_file, program, args):
    """Create a process from PROGRAM the way Windows does and run it.

    The program's stdout and stderr reach the host's byte for byte; the exit status is the guest's exit
    code & 0xFF, as with Wine. The program's directory is mounted as C:\\app (its application
    directory and current directory). An unhandled exception, a start-up failure (missing DLL or export)
    or an API that winhatch does not implement ends the guest with a one-line message on stderr.
    """
    from winhatch import runner
    from winhatch.kernel.events import JsonlWriter

    envd = {}
    for e in env:
        if "=" not in e:
            raise click.BadParameter(f"{e!r} is not NAME=VALUE", param_hint="--env")
        k, v = e.split("=", 1)
        envd[k] = v
    subs = []
    cats = set()
    for t in trace:
        c = TRACE_CATEGORIES[t]
        cats = None if c is None or cats is None else cats | c
    if trace:
        subs.append(_trace_printer(sys.stderr, cats))
    writer = JsonlWriter(events_file) if events_file else None
    if writer:
        subs.append(writer)
    sys.stdout.flush()
    res = runner.run(program, list(args), cwd=cwd, env=envd, timeout=timeout, max_instructions=max_instructions,
                     stdout=sys.stdout.buffer, stderr=sys.stderr.buffer, stdin=sys.stdin.buffer, subscribers=subs)
    if writer:
        writer.close()
    sys.stdout.flush()
    from winhatch.ntstatus import status_name
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
    if res.exit_status is None:
        sys.exit(1 if res.error else 0)
    sys.exit(res.exit_status & 0xFF)


if __name__ == "__main__":
    main()
