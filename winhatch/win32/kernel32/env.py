"""kernel32 / kernelbase: the process environment.

The environment lives twice, kept consistent: `proc.subsystem["environment"]` (an ordered dict, what the
C runtime start-up reads) and the Unicode block in guest memory that RTL_USER_PROCESS_PARAMETERS.Environment
points to. Every change rebuilds the block (a new allocation, the old one released, EnvironmentSize updated),
as RtlSetEnvironmentVariable does when a block has to grow. New variables are inserted in sorted
(case-insensitive) order, as RtlSetEnvironmentVariable inserts them.
"""
from __future__ import annotations

from winhatch.kernel.mm import MEM_RELEASE
from winhatch.kernel.structs import RTL_USER_PROCESS_PARAMETERS
from winhatch.ntstatus import ERROR_ENVVAR_NOT_FOUND, ERROR_INVALID_PARAMETER, NtStatusError
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, heap_alloc, heap_free, params_address, put_string_fits


def environment(c) -> dict[str, str]:
    return c.proc.subsystem.setdefault("environment", {})


def get_var(c, name: str) -> str | None:
    env = environment(c)
    up = name.upper()
    for k, v in env.items():
        if k.upper() == up:
            return v
    return None


def block_bytes(env: dict[str, str]) -> bytes:
    s = "".join(f"{k}={v}\0" for k, v in env.items()) + ("\0" if env else "\0\0")
    return s.encode("utf-16-le", "surrogatepass")


def _sync_block(c) -> None:
    """Rewrite the guest's environment block from the dict, as RtlSetEnvironmentVariable edits the block: in
    place when the new contents fit the block's process-heap allocation (which keeps its size:
    EnvironmentSize is the allocation's), else in a new allocation of exactly the size needed, the old one
    released."""
    proc = c.proc
    data = block_bytes(environment(c))
    p = params_address(c)
    old = RTL_USER_PROCESS_PARAMETERS.read(proc.aspace, p, c.arch, "Environment")["Environment"]
    new, size = write_block(c, old, data)
    RTL_USER_PROCESS_PARAMETERS.write(proc.aspace, p, c.arch, Environment=new, EnvironmentSize=size)
    if proc.parameters is not None:
        proc.parameters["environment"] = new


def heap_block_size(c, addr: int) -> int | None:
    from winhatch.ldr import loader
    return loader.state_of(c.proc).heaps.process_heap.size_of(addr) if addr else None


def write_block(c, old: int, data: bytes) -> tuple[int, int]:
    """Store an environment block's bytes over the heap block `old` when they fit, else in a new heap block
    (the old one freed; a block that is not a heap block is a virtual allocation, released). Returns the
    block's address and its allocation size."""
    proc = c.proc
    cap = heap_block_size(c, old)
    if cap is not None and len(data) <= cap:
        proc.aspace.write(old, data)
        return old, cap
    new = heap_alloc(c, len(data))
    if not new:
        raise NtStatusError(0xC0000017, "no memory for the environment block")
    proc.aspace.write(new, data)
    if old:
        if cap is not None:
            heap_free(c, old)
        else:
            try:
                proc.aspace.free(old, 0, MEM_RELEASE)
            except NtStatusError:
                pass
    return new, len(data)


def load_block(c, env: int) -> None:
    """Make the dict the contents of the block at env (RtlSetCurrentEnvironment)."""
    from winhatch.win32.ntdll.rtl_env import _entries, _text
    d = environment(c)
    d.clear()
    for e in _entries(c, env):
        s = _text(e)
        k, sep, v = s[1:].partition("=")
        if sep:
            d[s[0] + k] = v


def set_var(c, name: str, value: str | None) -> None:
    env = environment(c)
    up = name.upper()
    existing = next((k for k in env if k.upper() == up), None)
    if value is None:
        if existing is not None:
            del env[existing]
    elif existing is not None:
        env[existing] = value
    else:
        items = list(env.items())
        pos = next((i for i, (k, _) in enumerate(items) if k.upper() > up), len(items))
        items.insert(pos, (name, value))
        env.clear()
        env.update(items)
    _sync_block(c)


def _valid_name(name: str | None) -> bool:
    return bool(name) and "=" not in name[1:]


@api(K32, "DWORD WINAPI GetEnvironmentVariable%(LPCTSTR lpName, LPTSTR lpBuffer, DWORD nSize)")
def GetEnvironmentVariable(c, name, buf, size):
    if name is None:
        c.set_last_error(ERROR_ENVVAR_NOT_FOUND)
        return 0
    value = get_var(c, name) if name and "=" not in name[1:] else None
    if value is None:
        c.set_last_error(ERROR_ENVVAR_NOT_FOUND)
        return 0
    # an empty value: 0 with the last error untouched (Wine's environ.c test, which Windows passes)
    return put_string_fits(c, buf, size, value)


@api(K32, "BOOL WINAPI SetEnvironmentVariable%(LPCTSTR lpName, LPCTSTR lpValue)")
def SetEnvironmentVariable(c, name, value):
    if not _valid_name(name):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    if value is None and get_var(c, name) is None:
        c.set_last_error(ERROR_ENVVAR_NOT_FOUND)
        return 0
    set_var(c, name, value)
    return 1


def expand(c, src: str, lookup=None) -> str:
    """%NAME% references replaced by their values (`lookup(name)`, default the process environment)."""
    lookup = lookup or (lambda name: get_var(c, name))
    out = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        j = src.find("%", i + 1)
        if j < 0:
            out.append(src[i:])
            break
        name = src[i + 1:j]
        value = lookup(name) if name else None
        if value is None:
            out.append(src[i:j + 1])  # an undefined reference stays as written, "%name%"
            i = j + 1
        else:
            out.append(value)
            i = j + 1
    return "".join(out)


@api(K32, "DWORD WINAPI ExpandEnvironmentStrings%(LPCTSTR lpSrc, LPTSTR lpDst, DWORD nSize)")
def ExpandEnvironmentStrings(c, src, dst, size):
    if src is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    text = expand(c, src)
    data = c.encode_t(text) + bytes(c.tchar_size())
    n = len(data) // c.tchar_size()
    if dst and size >= n:
        c.write(dst, data)
    return n


@api(K32, "LPWCH WINAPI GetEnvironmentStringsW(void)")
def GetEnvironmentStringsW(c):
    data = block_bytes(environment(c))
    addr = heap_alloc(c, len(data))
    c.write(addr, data)
    return addr


@api(K32, "LPCH WINAPI GetEnvironmentStrings(void)")
def GetEnvironmentStrings(c):
    env = environment(c)
    data = ("".join(f"{k}={v}\0" for k, v in env.items()) + ("\0" if env else "\0\0")).encode("cp1252", "replace")
    addr = heap_alloc(c, len(data))
    c.write(addr, data)
    return addr


@api(K32, "LPCH WINAPI GetEnvironmentStringsA(void)")
def GetEnvironmentStringsA(c):
    return GetEnvironmentStrings(c)


@api(K32, "BOOL WINAPI FreeEnvironmentStrings%(LPTCH penv)")
def FreeEnvironmentStrings(c, penv):
    if penv:
        heap_free(c, penv)
    return 1


@api(K32, "BOOL WINAPI SetEnvironmentStringsW(LPWCH NewEnvironment)")
def SetEnvironmentStringsW(c, penv):
    """Replace the whole environment with a NAME=VALUE\\0…\\0 block."""
    entries = []
    a = penv
    while True:
        s = c.wstr(a)
        if not s:
            break
        a += 2 * (len(s) + 1)
        k, sep, v = s[1:].partition("=")
        if not sep:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        entries.append((s[0] + k, v))
    env = environment(c)
    env.clear()
    env.update(entries)
    _sync_block(c)
    return 1
