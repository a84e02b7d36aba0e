"""The rich Console winhatch's commands print their tables with.

On a terminal rich measures the window. When the output is piped or redirected, rich falls back to 80
columns, which cuts a table's long cells (paths, command lines, export names) into folded fragments; a
piped table is read by grep and by people scrolling a file, so it gets the width of its content, up to
WIDE columns (or $COLUMNS when set). NO_COLOR is honoured (rich reads it), and so is FORCE_COLOR.
"""
from __future__ import annotations

import os
import sys

WIDE = 240


def output_console(stderr: bool = False, file=None, **kw):
    from rich.console import Console
    stream = file if file is not None else sys.stderr if stderr else sys.stdout
    kw.setdefault("highlight", False)
    if "width" not in kw and not (hasattr(stream, "isatty") and stream.isatty()):
        cols = os.environ.get("COLUMNS", "")
        kw["width"] = int(cols) if cols.isdigit() and int(cols) > 0 else WIDE
    return Console(file=stream, **kw)
