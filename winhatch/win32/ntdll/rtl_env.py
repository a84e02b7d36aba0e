"""ntdll's environment: RtlQueryEnvironmentVariable(_U), RtlExpandEnvironmentStrings_U, RtlCreateEnvironment(Ex),
RtlDestroyEnvironment, RtlSetEnvironmentVariable, RtlSetCurrentEnvironment, and the process parameters
RtlCreateProcessParameters(Ex) / RtlDestroyProcessParameters.

An environment is a block of NUL-terminated "name=value" UTF-16 strings ended by an empty string, read from
guest memory: the caller's block, or (Environment == NULL) the process's, the block
RTL_USER_PROCESS_PARAMETERS.Environment points to (kernel32/env.py keeps it current). A variable matches when its
entry begins, case-insensitively, with the name followed by '=' (so a name may itself contain '=': "sr=an"
finds "sr=an=ouo", and "=C:" finds the per-drive directory entries).
"""
from __future__ import annotations

import struct

from winhatch.kernel.structs import RTL_USER_PROCESS_PARAMETERS
from winhatch.ntstatus import STATUS_BUFFER_TOO_SMALL, STATUS_SUCCESS
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import params_address
from winhatch.win32.ntdll.rtl_string import get_str, read_units, set_str, upcase_unit

NT = "ntdll.dll"
STATUS_VARIABLE_NOT_FOUND = 0xC0000100
MAX_BLOCK_UNITS = 1 << 21          # a bounded scan of a guest block (4 MiB)


def _entries(c, env: int) -> list[list[int]]:
    if not env:
        p = params_address(c)
        env = RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, p, c.arch, "Environment")["Environment"]
    out, cur, i = [], [], 0
    while i < MAX_BLOCK_UNITS:
        # a chunk stops at its page's end: the block may end just before an unreadable page
        n = min(256, (0x1000 - ((env + 2 * i) & 0xFFF)) // 2) or 1
        chunk = struct.unpack(f"<{n}H", c.read(env + 2 * i, 2 * n))
        for u in chunk:
            if u:
                cur.append(u)
            elif cur:
                out.append(cur)
                cur = []
            else:
                return out
        i += n
    return out


def _units(s: str) -> list[int]:
    raw = s.encode("utf-16-le", "surrogatepass")
    return list(struct.unpack(f"<{len(raw) // 2}H", raw))


def _text(units: list[int]) -> str:
    return struct.pack(f"<{len(units)}H", *units).decode("utf-16-le", "surrogatepass")


def find(c, env: int, name: list[int]) -> list[int] | None:
    """The value units of variable `name` in the block at env (0: the process's), or None."""
    if not name:
        return None
    key = [upcase_unit(u) for u in name] + [0x3D]
    n = len(key)
    for e in _entries(c, env):
        if len(e) >= n and [upcase_unit(u) for u in e[:n]] == key:
            return e[n:]
    return None


@api(NT, "NTSTATUS NTAPI RtlQueryEnvironmentVariable_U(PWSTR Environment, PCUNICODE_STRING Name, "
         "PUNICODE_STRING Value)")
def RtlQueryEnvironmentVariable_U(c, env, pname, pvalue):
    """Value.Length is the value's size in bytes; STATUS_BUFFER_TOO_SMALL when it exceeds MaximumLength.
    The copy is NUL-terminated only when there is room."""
    val = find(c, env, read_units(c, pname))
    if val is None:
        return STATUS_VARIABLE_NOT_FOUND
    n = 2 * len(val)
    _, mx, buf = get_str(c, pvalue)
    set_str(c, pvalue, n)
    if n > mx:
        return STATUS_BUFFER_TOO_SMALL
    c.write(buf, struct.pack(f"<{len(val)}H", *val) + (b"\0\0" if n + 2 <= mx else b""))
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlQueryEnvironmentVariable(PWSTR Environment, PCWSTR_RAW Name, SIZE_T NameLength, "
         "PWSTR Value, SIZE_T ValueLength, PSIZE_T ReturnLength)")
def RtlQueryEnvironmentVariable(c, env, pname, name_len, pval, val_len, pret):
    """Lengths in characters. STATUS_BUFFER_TOO_SMALL, *ReturnLength = the length plus the NUL, when the
    value and its NUL do not fit; else the value and a NUL, *ReturnLength = the length."""
    name = list(struct.unpack(f"<{name_len}H", c.read(pname, 2 * name_len))) if name_len else []
    val = find(c, env, name)
    if val is None:
        return STATUS_VARIABLE_NOT_FOUND
    if len(val) >= val_len:
        if pret:
            c.write_ptr(pret, len(val) + 1)
        return STATUS_BUFFER_TOO_SMALL
    c.write(pval, struct.pack(f"<{len(val)}H", *val) + b"\0\0")
    if pret:
        c.write_ptr(pret, len(val))
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlExpandEnvironmentStrings_U(PWSTR Environment, PCUNICODE_STRING Source, "
         "PUNICODE_STRING Destination, PULONG ReturnedLength)")
def RtlExpandEnvironmentStrings_U(c, env, psrc, pdst, pret):
    """%NAME% references expanded from the block (kernel32.env.expand, the rule ExpandEnvironmentStrings uses);
    *ReturnedLength = bytes with the NUL. STATUS_BUFFER_TOO_SMALL, the destination untouched, when the result
    and its NUL do not fit MaximumLength."""
    from winhatch.win32.kernel32.env import expand

    def lookup(name: str) -> str | None:
        units = find(c, env, _units(name))
        return None if units is None else _text(units)

    src = _text(read_units(c, psrc))
    data = expand(c, src, lookup).encode("utf-16-le", "surrogatepass")
    if pret:
        c.write_u32(pret, len(data) + 2)
    _, mx, buf = get_str(c, pdst)
    if len(data) + 2 > mx:
        return STATUS_BUFFER_TOO_SMALL
    c.write(buf, data + b"\0\0")
    set_str(c, pdst, len(data))
    return STATUS_SUCCESS


# ------------------------------------------------------------------------------------------ environment blocks
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_NO_MEMORY = 0xC0000017


def _block_bytes(c, env: int) -> bytes:
    """A block's bytes through its terminating empty string."""
    return b"".join(struct.pack(f"<{len(e)}H", *e) + b"\0\0" for e in _entries(c, env)) + b"\0\0"


def _current_env(c) -> int:
    return RTL_USER_PROCESS_PARAMETERS.read(c.proc.aspace, params_address(c), c.arch, "Environment")["Environment"]


@api(NT, "NTSTATUS NTAPI RtlCreateEnvironment(BOOLEAN CloneCurrentEnvironment, PWSTR *Environment)")
def RtlCreateEnvironment(c, clone, penv):
    """A new process-heap block: a copy of the process's environment, or empty."""
    from winhatch.win32.kernel32.common import heap_alloc
    data = _block_bytes(c, _current_env(c)) if clone & 0xFF else b"\0\0"
    blk = heap_alloc(c, len(data))
    if not blk:
        return STATUS_NO_MEMORY
    c.write(blk, data)
    c.write_ptr(penv, blk)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlCreateEnvironmentEx(PVOID SourceEnv, PVOID *Environment, ULONG Flags)")
def RtlCreateEnvironmentEx(c, src, penv, flags):
    from winhatch.win32.kernel32.common import heap_alloc
    data = _block_bytes(c, src) if src else b"\0\0"
    blk = heap_alloc(c, len(data))
    if not blk:
        return STATUS_NO_MEMORY
    c.write(blk, data)
    c.write_ptr(penv, blk)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlDestroyEnvironment(PWSTR Environment)")
def RtlDestroyEnvironment(c, env):
    from winhatch.win32.kernel32.common import heap_free
    heap_free(c, env)
    return STATUS_SUCCESS


def _valid_name(units: list[int]) -> bool:
    """Not empty; an '=' only as the first character ("=C:" names a drive's directory)."""
    return bool(units) and 0x3D not in units[1:]


@api(NT, "NTSTATUS NTAPI RtlSetEnvironmentVariable(PWSTR *Environment, PCUNICODE_STRING Name, "
         "PCUNICODE_STRING Value)")
def RtlSetEnvironmentVariable(c, penv, pname, pvalue):
    """Set (Value) or remove (Value NULL) a variable of the block *Environment, or of the process's
    environment when Environment is NULL. A new variable goes in case-insensitive sorted order. The block is
    edited in place when the result fits its heap allocation, else moved to a new one (*Environment updated)."""
    from winhatch.win32.kernel32 import env as k32_env
    name = read_units(c, pname)
    if not name:
        return 0xC00000EF                 # STATUS_INVALID_PARAMETER_1 (as the reference ntdll answers)
    if not _valid_name(name):
        return STATUS_INVALID_PARAMETER
    value = read_units(c, pvalue) if pvalue else None
    if not penv:
        k32_env.set_var(c, _text(name), None if value is None else _text(value))
        return STATUS_SUCCESS
    env = c.ptr(penv)
    key = [upcase_unit(u) for u in name]
    entries = _entries(c, env)
    out, done = [], False
    for e in entries:
        # the entry's name: up to the first '=' after its first character
        eq = next((i for i in range(1, len(e)) if e[i] == 0x3D), len(e))
        ekey = [upcase_unit(u) for u in e[:eq]]
        if ekey == key:
            done = True
            if value is not None:
                out.append(name + [0x3D] + value)
            continue
        if not done and value is not None and ekey > key:
            out.append(name + [0x3D] + value)
            done = True
        out.append(e)
    if not done and value is not None:
        out.append(name + [0x3D] + value)
    data = b"".join(struct.pack(f"<{len(e)}H", *e) + b"\0\0" for e in out) + b"\0\0"
    new, _ = k32_env.write_block(c, env, data)
    c.write_ptr(penv, new)
    return STATUS_SUCCESS


@api(NT, "void NTAPI RtlSetCurrentEnvironment(PWSTR NewEnvironment, PWSTR *OldEnvironment)")
def RtlSetCurrentEnvironment(c, new, pold):
    """Make the block the process's environment (EnvironmentSize: its heap allocation's size)."""
    from winhatch.win32.kernel32 import env as k32_env
    p = params_address(c)
    old = _current_env(c)
    size = k32_env.heap_block_size(c, new)
    if size is None:
        size = len(_block_bytes(c, new))
    RTL_USER_PROCESS_PARAMETERS.write(c.proc.aspace, p, c.arch, Environment=new, EnvironmentSize=size)
    if c.proc.parameters is not None:
        c.proc.parameters["environment"] = new
    k32_env.load_block(c, new)
    if pold:
        c.write_ptr(pold, old)
    else:
        from winhatch.win32.kernel32.common import heap_free
        heap_free(c, old)


# ------------------------------------------------------------------------------------------ process parameters
MAX_PATH_BYTES = 260 * 2


def _ustr(c, pstr: int):
    """(Length, MaximumLength, bytes of MaximumLength) of a UNICODE_STRING, or None for a NULL pointer."""
    if not pstr:
        return None
    ln, mx, buf = get_str(c, pstr)
    data = c.read(buf, ln) if ln and buf else b""
    return ln, max(mx, ln), data


@api(NT, "NTSTATUS NTAPI RtlCreateProcessParametersEx(PVOID *pProcessParameters, PCUNICODE_STRING ImagePathName, "
         "PCUNICODE_STRING DllPath, PCUNICODE_STRING CurrentDirectory, PCUNICODE_STRING CommandLine, "
         "PVOID Environment, PCUNICODE_STRING WindowTitle, PCUNICODE_STRING DesktopInfo, "
         "PCUNICODE_STRING ShellInfo, PCUNICODE_STRING RuntimeData, ULONG Flags)")
def RtlCreateProcessParametersEx(c, pparams, pimage, pdll, pcur, pcmd, env, ptitle, pdesk, pshell, pruntime,
                                 flags):
    """One process-heap block: the structure, then each string (8-byte aligned on x64, 4 on x86, taking its
    MaximumLength), then the environment (a copy of Environment, or of the process's) at Size. Missing strings
    come from the process's parameters (current directory with a trailing backslash and room for MAX_PATH,
    DLL path), the image path (command line), an empty string (window title, desktop, shell info) or NULL
    (runtime data). The string buffers are offsets from the block (not normalized) unless Flags has
    RTL_USER_PROC_PARAMS_NORMALIZED (1)."""
    from winhatch.win32.kernel32.common import heap_alloc
    arch, p = c.arch, c.ptr_size
    S = RTL_USER_PROCESS_PARAMETERS
    cur = params_address(c)

    def cur_str(field):
        off = cur + S.offset(arch, field)
        return _ustr(c, off)

    image = _ustr(c, pimage)
    if image is None:
        return STATUS_INVALID_PARAMETER
    if pcur:
        ln, _, data = _ustr(c, pcur)
    else:
        ln, _, data = cur_str("CurrentDirectory.DosPath")
    if ln and data[-2:] != b"\\\0":
        data += b"\\\0"
        ln += 2
    curdir = (ln, MAX_PATH_BYTES, data)
    dll = _ustr(c, pdll) if pdll else cur_str("DllPath")
    empty = (0, 2, b"")
    fields = [("CurrentDirectory.DosPath", curdir), ("DllPath", dll), ("ImagePathName", image),
              ("CommandLine", _ustr(c, pcmd) if pcmd else image),
              ("WindowTitle", _ustr(c, ptitle) if ptitle else empty),
              ("DesktopInfo", _ustr(c, pdesk) if pdesk else empty),
              ("ShellInfo", _ustr(c, pshell) if pshell else empty),
              ("RuntimeData", _ustr(c, pruntime) if pruntime else None)]
    pos = S.size(arch)
    placed = []
    for name, v in fields:
        if v is None or not v[1]:
            placed.append((name, None, v))
            continue
        pos = (pos + p - 1) & ~(p - 1)
        placed.append((name, pos, v))
        pos += v[1]
    size = (pos + 3) & ~3
    envdata = _block_bytes(c, env if env else _current_env(c))
    total = (size + len(envdata) + p - 1) & ~(p - 1)
    blk = heap_alloc(c, total, 0x8)
    if not blk:
        return STATUS_NO_MEMORY
    normalized = flags & 1
    for name, off, v in placed:
        at = blk + S.offset(arch, name)
        if off is None:
            c.write(at, bytes(2 * p))
            continue
        ln, mx, data = v
        c.write(blk + off, data[:mx].ljust(mx, b"\0"))
        c.write(at, struct.pack("<HH", ln, mx))
        c.write_ptr(at + p, blk + off if normalized else off)
    c.write(blk + size, envdata)
    S.write(c.proc.aspace, blk, arch, MaximumLength=size, Length=size, Flags=normalized,
            Environment=blk + size, EnvironmentSize=total - size)
    c.write_ptr(pparams, blk)
    return STATUS_SUCCESS


@api(NT, "NTSTATUS NTAPI RtlCreateProcessParameters(PVOID *pProcessParameters, PCUNICODE_STRING ImagePathName, "
         "PCUNICODE_STRING DllPath, PCUNICODE_STRING CurrentDirectory, PCUNICODE_STRING CommandLine, "
         "PVOID Environment, PCUNICODE_STRING WindowTitle, PCUNICODE_STRING DesktopInfo, "
         "PCUNICODE_STRING ShellInfo, PCUNICODE_STRING RuntimeData)")
def RtlCreateProcessParameters(c, pparams, pimage, pdll, pcur, pcmd, env, ptitle, pdesk, pshell, pruntime):
    return RtlCreateProcessParametersEx(c, pparams, pimage, pdll, pcur, pcmd, env, ptitle, pdesk, pshell,
                                        pruntime, 0)


@api(NT, "void NTAPI RtlDestroyProcessParameters(PVOID ProcessParameters)")
def RtlDestroyProcessParameters(c, params):
    from winhatch.win32.kernel32.common import heap_free
    heap_free(c, params)
