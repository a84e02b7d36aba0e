"""shcore (shell32!CommandLineToArgvW forwards here): CommandLineToArgvW with Windows's rules, which differ
from the C runtime's (winhatch.win32.msvcrt.cmdline) in two places:

- argv[0], the program name: when it starts with a quote it runs to the next quote and the next argument
  starts right after it ("quoted"tail gives <quoted> <tail>); otherwise it runs to the first blank, and a
  quote in it is an ordinary character. No backslash processing. A command line starting with a blank has
  an empty argv[0].
- in the other arguments, 2n backslashes before a quote give n backslashes and the quote toggles quoting;
  2n+1 give n backslashes and a literal quote; other backslashes are literal; and inside quotes, a doubled
  quote "" gives a literal quote and ends the quoted part (the CRT of Visual C++ 2008 and later stays
  quoted there).

(Checked against Wine, whose shell32 tests record Windows's results: tests/fixtures/src/conf_startup.c.)
An empty command line gives the program's own path as the only argument. The array is one LocalAlloc
block — the pointers, a NULL after them, then the strings — freed with LocalFree.
"""
from __future__ import annotations

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.msvcrt.cmdline import split_arguments

from winhatch.win32.kernel32.heap import _local_alloc

BLANKS = " \t"


def command_line_to_argv(cmd: str) -> list[str]:
    args: list[str] = []
    n = len(cmd)
    i = 0
    if cmd.startswith('"'):
        j = cmd.find('"', 1)
        j = n if j < 0 else j
        args.append(cmd[1:j])
        i = j + 1
    else:
        j = i
        while j < n and cmd[j] not in BLANKS:
            j += 1
        args.append(cmd[i:j])
        i = j
    return split_arguments(cmd, i, args, pair_ends_quote=True)


@api("shcore.dll", "LPWSTR * WINAPI CommandLineToArgvW(LPCWSTR lpCmdLine, int *pNumArgs)")
def CommandLineToArgvW(c, cmd, pnum):
    """NULL pNumArgs: ERROR_INVALID_PARAMETER. An empty (or NULL) command line: the module's path."""
    if not pnum:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if not cmd:
        from winhatch.ldr import loader
        args = [loader.state_of(c.proc).modules[0].path]
    else:
        args = command_line_to_argv(cmd)
    ps = c.ptr_size
    texts = [a.encode("utf-16-le", "surrogatepass") + b"\0\0" for a in args]
    table = (len(args) + 1) * ps
    block = _local_alloc(c, 0, table + sum(len(t) for t in texts))
    if not block:
        return 0
    out = bytearray()
    addr = block + table
    for t in texts:
        out += addr.to_bytes(ps, "little")
        addr += len(t)
    out += bytes(ps)
    c.write(block, bytes(out) + b"".join(texts))
    c.write_u32(pnum, len(args))
    return block
