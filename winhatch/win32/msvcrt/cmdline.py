"""The C runtime's command-line parsing (documented "Parsing C command-line arguments" rules)."""
from __future__ import annotations


def parse_command_line(cmd: str) -> list[str]:
    """argv as the CRT builds it: argv[0] up to the first unquoted blank (quotes removed, no escapes); then
    arguments split on blanks outside quotes, 2n backslashes + quote -> n backslashes and a quote toggle,
    2n+1 backslashes + quote -> n backslashes and a literal quote, "" inside quotes -> a literal quote."""
    args: list[str] = []
    i, n = 0, len(cmd)
    cur = []
    inq = False
    while i < n:
        ch = cmd[i]
        if ch == '"':
            inq = not inq
        elif ch in " \t" and not inq:
            break
        else:
            cur.append(ch)
        i += 1
    args.append("".join(cur))
    return split_arguments(cmd, i, args, pair_ends_quote=False)


def split_arguments(cmd: str, i: int, args: list[str], *, pair_ends_quote: bool) -> list[str]:
    """The arguments after argv[0] (which the CRT and shell32 read differently), appended to `args`: split on
    blanks outside quotes; 2n backslashes + quote -> n backslashes and a quote toggle, 2n+1 backslashes + quote
    -> n backslashes and a literal quote; "" inside quotes -> a literal quote, after which the CRT stays inside
    the quotes and CommandLineToArgvW (`pair_ends_quote`) does not."""
    n = len(cmd)
    while True:
        while i < n and cmd[i] in " \t":
            i += 1
        if i >= n:
            return args
        cur = []
        inq = False
        while i < n:
            ch = cmd[i]
            if ch == "\\":
                j = i
                while j < n and cmd[j] == "\\":
                    j += 1
                nb = j - i
                if j < n and cmd[j] == '"':
                    cur.append("\\" * (nb // 2))
                    if nb % 2:
                        cur.append('"')
                        i = j + 1
                    else:
                        i = j
                    continue
                cur.append("\\" * nb)
                i = j
                continue
            if ch == '"':
                if inq and i + 1 < n and cmd[i + 1] == '"':
                    cur.append('"')
                    i += 2
                    if pair_ends_quote:
                        inq = False
                    continue
                inq = not inq
                i += 1
                continue
            if ch in " \t" and not inq:
                break
            cur.append(ch)
            i += 1
        args.append("".join(cur))
