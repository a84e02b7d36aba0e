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


if __name__ == "__main__":
    main()
