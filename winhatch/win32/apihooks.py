"""API hooks: a machine's instrumentation hooks on declared APIs (winhatch.kernel.hooks, kind "api").

A hook names its API as "dll!Name" (the DLL case-insensitive, ".dll" optional; the name exact), "*!Name"
(any DLL), or a callable filter(dll, name) -> bool.  It matches a trap — a call the guest makes into a
synthetic system DLL's export — when the export is that DLL and name, or when the handler serving the export
was declared for it (kernel32 and kernelbase share their declarations, and a forwarded export is served where
its code lives: a hook on kernel32!HeapAlloc sees the calls of ntdll!RtlAllocateHeap).

Only the handlers of hooked APIs are wrapped (make_trap_handler asks `wrap`), so an unhooked API costs
nothing more; when the set of hooks changes, `rehook` rebuilds the handlers and forgets the processes' trap
caches.  While any API hook exists the exports that are machine code (GetLastError, memcpy, …: see
winhatch.win32.native) trap into Python as they do while API calls are traced (Machine.set_trap_all_apis).
"""
from __future__ import annotations

import struct
from typing import Callable

from winhatch.kernel.ke.dispatcher import GuestCallNeeded
from winhatch.kernel.ke.wait import WouldBlock


def _norm_dll(dll: str) -> str:
    dll = dll.lower()
    return dll if dll == "*" or "." in dll else dll + ".dll"


def parse_target(target) -> tuple | Callable:
    """("kernel32.dll", "GetTickCount") from "kernel32!GetTickCount"; a callable is kept as the filter."""
    if callable(target):
        return target
    if not isinstance(target, str) or "!" not in target:
        raise ValueError(f"an API hook names 'dll!Name' or '*!Name' (or is a filter callable), not {target!r}")
    dll, _, name = target.rpartition("!")
    if not dll or not name:
        raise ValueError(f"an API hook names 'dll!Name' or '*!Name', not {target!r}")
    return (_norm_dll(dll), name)


def declared(target) -> bool:
    """Does winhatch implement an API the parsed target names (a filter callable: assumed so)?"""
    if callable(target):
        return True
    from winhatch.win32 import api as _api
    from winhatch.win32.subsystem import load_handler_modules
    load_handler_modules()
    tdll, tname = target
    for spec in _api.specs():
        if any(n == tname for n, _w in spec.names()) and (tdll == "*" or tdll in spec.dlls):
            return True
    return False


def matches(target, spec, dll: str, export_name: str) -> bool:
    """Does a parsed hook target match the trap dll!export_name served by declaration `spec`?"""
    if callable(target):
        return bool(target(dll, export_name))
    tdll, tname = target
    if tname == export_name and tdll in ("*", dll):
        return True
    if spec is None:
        return False
    names = [n for n, _w in spec.names()]
    return tname in names and (tdll == "*" or tdll in spec.dlls)


def wrap(machine, spec, dll: str, export_name: str, fn: Callable) -> Callable:
    """fn, or a wrapper that runs the machine's matching API hooks around it (when any matches)."""
    hooks = machine.hooks.api
    if not hooks or not any(matches(h.spec, spec, dll, export_name) for h in hooks):
        return fn
    from winhatch.win32 import api as _api
    api_name = f"{dll}!{export_name}"
    params = spec.params
    plan = _api._plan(spec)
    kinds = [k for k, _ in plan]
    registry = machine.hooks

    def hooked(c, *args):
        entries = [h for h in registry.api if matches(h.spec, spec, dll, export_name)]
        if not entries:
            return fn(c, *args)
        thread = c.thread
        retry = thread.__dict__.pop("api_hook_retry", None)
        if retry is not None and retry[0] == api_name and retry[1] == c._sp:
            call = retry[2]           # the call re-run after its wait: its `before` hooks already ran
            args = call._handler_args
        else:
            raw, _slots = _api._fetch_args(c.cpu, spec, c._sp)
            call = ApiCall(c, api_name, params, list(args), raw)
            for h in entries:
                if h.before is not None and not h.removed:
                    h.before(call)
                    if call.skipped:
                        break
            if not call.skipped:
                args = call._apply(c, kinds, plan)
            call._handler_args = args
        if call.skipped:
            result = call.result
        else:
            try:
                result = fn(c, *args)
            except (WouldBlock, GuestCallNeeded):   # served again from its start (after a wait / deferred)
                thread.__dict__["api_hook_retry"] = (api_name, c._sp, call)
                raise
            if c.cpu._pc_written:      # the handler sent the thread elsewhere (longjmp, an exception)
                return result
            call.result = result
        call.returned = True
        for h in entries:
            if h.after is not None and not h.removed:
                h.after(call)
        return call.result
    hooked.__wrapped__ = fn
    return hooked


def rehook(machine) -> None:
    """The API hooks changed: rebuild every built handler (so wrap() is asked again) and forget each process's
    trap look-ups (the dispatcher resolves and caches them again on the next call)."""
    from winhatch.win32.subsystem import _LazyHandler
    for h in list(machine.traps._by_name.values()):
        fn = h.fn
        build = getattr(fn, "build_args", None)
        if build is not None:
            h.fn = _LazyHandler(h, *build)
    for proc in machine.processes:
        cache = proc.subsystem.get("trap_cache")
        if cache is not None:
            cache.clear()
        if proc.cpu is not None:
            proc.cpu.fast_traps.clear()


class ApiCall:
    """One call of a hooked API, as its `before` and `after` callbacks see it.

    - `api` ("kernel32.dll!CreateFileA"), `dll`, `function`;
    - `args`: {parameter name: value} in prototype order — integers, and strings decoded for the string
      parameters (LPCSTR, LPCWSTR, …; None for NULL).  A `before` callback may assign new values: they are
      written back to the registers/stack where the caller passed them, and the handler runs with them.  A
      string parameter accepts a str (written into scratch memory below the caller's stack, for the
      duration of the call), an int (a guest address holding the string) or None (NULL);
    - `raw`: {parameter name: the integer the caller passed} (the pointers of the string parameters);
    - `skip(retval)` (in `before`): the handler does not run; the caller gets `retval`, the stack cleaned up
      as the prototype says (stdcall pops its arguments, cdecl leaves them);
    - `result` (in `after`): the handler's return value; assign to change what the caller gets;
    - `set_last_error(code)` / `last_error`: the thread's TEB.LastErrorValue;
    - `thread`, `process`, `regs` (the thread's registers), `return_address` (where the call returns to),
      `caller` (it as module+offset).

    A call that blocks (a wait) and is served again when the thread wakes runs its `before` callbacks once;
    `after` callbacks do not run for a call that does not return (ExitProcess, longjmp, an exception).
    """

    def __init__(self, c, api: str, params, args: list, raw: list) -> None:
        self._c = c
        self.api = api
        self.dll, _, self.function = api.partition("!")
        self.args = {p.name: a for p, a in zip(params, args)}
        self.raw = {p.name: r for p, r in zip(params, raw)}
        self._orig = dict(self.args)
        self._params = params
        self._raw_list = raw
        self._handler_args = args
        self.skipped = False
        self.returned = False
        self.result = None
        self.session = None

    @property
    def thread(self):
        return self._c.thread

    @property
    def process(self):
        return self._c.proc

    @property
    def regs(self):
        """The calling thread's registers (winhatch.kernel.hooks.Registers): at the call, before the handler."""
        from winhatch.kernel.hooks import Registers
        return Registers(self._c.thread)

    @property
    def return_address(self) -> int:
        return self._c.cpu.read_ptr(self._c._sp)

    @property
    def caller(self) -> str:
        return self._c.proc.subsystem["images"].describe(self.return_address)

    def skip(self, retval: int = 0) -> None:
        """Do not run the handler: the caller gets `retval` (ignored for a void API)."""
        self.skipped = True
        self.result = retval

    def set_last_error(self, code: int) -> None:
        """SetLastError(code) for the calling thread."""
        self._c.set_last_error(code)

    @property
    def last_error(self) -> int:
        return self._c.last_error()

    def __repr__(self) -> str:
        return f"<ApiCall {self.api} {self.args} result={self.result!r}>"

    # -- writing changed arguments back ---------------------------------------------------------------------
    def _apply(self, c, kinds: list[str], plan) -> list:
        """The handler's arguments after the `before` callbacks, with every changed one written back where the
        caller passed it."""
        out = list(self._handler_args)
        for i, p in enumerate(self._params):
            new = self.args.get(p.name)
            if new is self._orig[p.name] or (type(new) is type(self._orig[p.name]) and new == self._orig[p.name]):
                continue
            kind = kinds[i]
            if kind in ("str_a", "str_w", "str_t"):
                wide = kind == "str_w" or (kind == "str_t" and c.wide)
                if new is None:
                    ptr, val = 0, None
                elif isinstance(new, str):
                    data = new.encode("utf-16-le", "surrogatepass") + b"\0\0" if wide else \
                        new.encode("cp1252", "replace") + b"\0"
                    ptr = c.stack_alloc(len(data), 8)
                    c.cpu.mem_write(ptr, data)
                    val = new
                else:
                    ptr = int(new)
                    val = (c.cpu.read_wstr(ptr, 1 << 16) if wide else
                           c.cpu.read_cstr(ptr, 1 << 16).decode("cp1252", "replace")) if ptr else None
                self.raw[p.name] = ptr
                out[i] = val
                _write_arg(c, plan, i, ptr)
            else:
                if kind in ("float", "float32"):
                    new = float(new)
                else:   # a 32-bit parameter (DWORD, BOOL, …) keeps its low 32 bits, as the callee sees it
                    new = int(new) & (0xFFFFFFFFFFFFFFFF if (c.cpu.is64 and not plan[i][1]) or kind == "wide64"
                                      else 0xFFFFFFFF)
                self.raw[p.name] = new
                out[i] = new
                _write_arg(c, plan, i, new)
        return out


_X64_REGS = ("rcx", "rdx", "r8", "r9")


def _write_arg(c, plan, index: int, value) -> None:
    """Store argument `index` where the calling convention passed it (x64: rcx/rdx/r8/r9 or xmm0-3, then the
    stack above the home area; x86: its stack slots, `this` of a thiscall in ecx)."""
    cpu = c.cpu
    kind = plan[index][0]
    sp = c._sp
    if cpu.is64:
        if kind in ("float", "float32"):
            bits = struct.unpack("<Q", struct.pack("<d", value))[0] if kind == "float" else \
                struct.unpack("<I", struct.pack("<f", value))[0]
            if index < 4:
                cpu.set_reg(f"xmm{index}", bits)
            else:
                cpu.write_u64(sp + 8 + index * 8, bits)
            return
        if index < 4:
            cpu.set_reg(_X64_REGS[index], value)
        else:
            cpu.write_u64(sp + 8 + index * 8, value)
        return
    spec = c.spec
    thiscall = bool(getattr(spec, "thiscall", False))
    if thiscall and index == 0:
        cpu.set_reg("ecx", value)
        return
    off = 4
    for k, _ in plan[1 if thiscall else 0:index]:
        off += 8 if k in ("wide64", "float") else 4
    if kind == "float":
        cpu.mem_write(sp + off, struct.pack("<d", value))
    elif kind == "float32":
        cpu.mem_write(sp + off, struct.pack("<f", value))
    elif kind == "wide64":
        cpu.mem_write(sp + off, struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF))
    else:
        cpu.write_u32(sp + off, value)
