"""Declared API handlers: one Python function per API, its C prototype driving everything else.

    @api("kernel32.dll", "DWORD WINAPI GetModuleFileName%(HMODULE hModule, LPTSTR lpFilename, DWORD nSize)")
    def GetModuleFileName(c, hModule, lpFilename, nSize): ...

- The prototype gives the calling convention (WINAPI/__stdcall, __cdecl, varargs `...`), the argument slots
  (64-bit values take two slots on x86), and how arguments are shown in the API trace.
- `%` in the name declares an ANSI/wide pair: one implementation registered as ...A and ...W; the handler
  reads `c.wide` and uses `c.tstr(ptr)` / `c.write_tstr(...)`.
- String parameters (LPCSTR, LPCWSTR, LPCTSTR, const char *, const wchar_t *) arrive decoded as Python str
  (None for NULL); everything else arrives as an int.
- The return value is written to eax/rax (edx:eax for 64-bit values on x86); the stack is cleaned up for
  stdcall, left for cdecl; x64 has one convention.
- A handler may also be declared for several DLLs (kernel32 and kernelbase export the same functions).
- `guarded=VALUE` declares an API that Windows runs inside __try/__except (lstrlen, lstrcpy, …): a guest
  access violation while the handler reads or writes the caller's memory makes the call return VALUE
  (see `guarded`).
"""
from __future__ import annotations

import math

import re
import struct
import sys
from typing import Callable

from winhatch._record import Record
from winhatch.cpu import TRAP_STUB
from winhatch.kernel import events as ev
from winhatch.kernel.structs import TEB

STRING_TYPES_A = {"LPCSTR", "LPSTR_IN", "PCSTR", "const char *", "const char*", "char const *"}
STRING_TYPES_W = {"LPCWSTR", "PCWSTR", "const wchar_t *", "const wchar_t*", "const WCHAR *", "LPCOLESTR"}
STRING_TYPES_T = {"LPCTSTR", "PCTSTR"}
WIDE64 = {"ULONGLONG", "LONGLONG", "DWORDLONG", "LARGE_INTEGER", "ULARGE_INTEGER", "DWORD64", "UINT64", "INT64",
          "__int64", "unsigned __int64", "long long", "unsigned long long", "uint64_t", "int64_t", "double",
          "FILETIME", "ULONG64", "LONG64"}
FLOAT_TYPES = {"double", "float"}
INT32_TYPES = {"DWORD", "BOOL", "UINT", "ULONG", "LONG", "INT", "int", "unsigned", "unsigned int", "long",
               "unsigned long", "WORD", "USHORT", "SHORT", "BYTE", "UCHAR", "CHAR", "BOOLEAN", "LCID", "LANGID",
               "DWORD32", "UINT32", "INT32", "NTSTATUS", "ACCESS_MASK", "WCHAR", "char", "short"}

# the parameters of kernel32's file functions that carry a file or directory name (SetFileApisToOEM)
FILE_NAME_PARAMS = frozenset(("lpFileName", "lpExistingFileName", "lpNewFileName", "lpPathName", "lpPrefixString",
                              "lpReplacedFileName", "lpReplacementFileName", "lpBackupFileName",
                              "lpDirectoryName", "lpRootPathName", "lpszLongPath", "lpszShortPath",
                              "lpNewDirectory", "lpTemplateDirectory", "lpSymlinkFileName", "lpTargetFileName"))

# kernel32's ANSI functions that return file names (...A without the A): OEM text after SetFileApisToOEM
FILE_NAME_RESULTS = frozenset(("GetModuleFileName", "GetCurrentDirectory", "GetTempPath", "GetTempFileName",
                               "GetFullPathName", "GetLongPathName", "GetShortPathName", "FindFirstFile",
                               "FindFirstFileEx", "FindNextFile", "GetSystemDirectory", "GetWindowsDirectory",
                               "GetSystemWindowsDirectory", "GetSystemWow64Directory", "SearchPath",
                               "GetDllDirectory", "GetFinalPathNameByHandle"))

_REGISTRY: list["ApiSpec"] = []
_LAST_ERROR = {a: TEB.offset(a, "LastErrorValue") for a in ("x86", "x64")}
_LAST_STATUS = {a: TEB.offset(a, "LastStatusValue") for a in ("x86", "x64")}
_DATA: list[tuple[str, str, int, Callable | None]] = []
_INIT: dict[str, Callable] = {}
_INTERNAL_FN: list[tuple[str, str]] = []
# the module whose import made each declaration (declaring_module): the handler index (winhatch.win32.
# handler_index) records it, and a run imports a handler module when the first of its APIs is called
_BY_ORIGIN: dict[str, list["ApiSpec"]] = {}
_DATA_ORIGIN: list[str] = []       # parallel to _DATA
_INIT_ORIGIN: dict[str, str] = {}  # dll -> the module of its dll_init
#: declarations made by code outside winhatch (a script re-declaring an API for the whole Python process):
#: while there is one, the subsystem imports every handler module and registers every declaration up front,
#: as it did before the index (so a later declaration replaces an earlier one in import order)
_FOREIGN: list = []
#: the complete declarations (winhatch.win32.handler_index.Index) once a start-up has loaded the index: the
#: functions below that describe the system DLLs (data exports, initialisers, internal functions and data)
#: answer from it, so they are the same whichever handler modules this process has imported
_INDEX = None


def declaring_module(depth: int = 2) -> str:
    """The module whose body is executing the declaration: the innermost frame of a module's top-level code
    (a declaration made by a helper function that the module body calls belongs to that module)."""
    f = sys._getframe(depth)
    for _ in range(64):   # bounded: declarations are made a few calls deep at most
        if f is None:
            break
        if f.f_code.co_name == "<module>":
            return f.f_globals.get("__name__", "?")
        f = f.f_back
    return "?"


def _note_origin(origin: str, what) -> None:
    if not origin.startswith("winhatch."):
        _FOREIGN.append(what)


def _before_foreign(origin: str) -> None:
    """A declaration from outside winhatch comes after every handler module's (it replaces theirs): they are
    imported first."""
    if not origin.startswith("winhatch."):
        from winhatch.win32 import handler_index
        handler_index.load_all()


class Param(Record):
    _fields = ("type", "name")

    def __init__(self, type: str, name: str) -> None:  # noqa: A002 (the field name)
        self.type = type
        self.name = name

    @property
    def kind(self) -> str:
        t = self.type
        if t in STRING_TYPES_A:
            return "str_a"
        if t in STRING_TYPES_W:
            return "str_w"
        if t in STRING_TYPES_T:
            return "str_t"
        if t in FLOAT_TYPES:
            return "float"
        if t in WIDE64:
            return "wide64"
        return "int"


class ApiSpec(Record):
    """A declared API: its DLLs, export name, prototype (return type, parameters, convention) and handler.

    An @api declaration's spec parses its prototype on first use (`declared`): registration needs only the
    export name, taken from the prototype with one cheap search; the return type and parameters are
    needed when the API is first called or inspected, and most of the ~900 declarations never are in a
    run (parsing them all was ~20 ms of every start-up).  Reading `ret`, `params`, `cdecl` or `varargs`
    parses the prototype once and stores the four fields as ordinary attributes."""

    _fields = ("dlls", "name", "ret", "params", "cdecl", "varargs", "fn", "tchar", "calls_guest", "wide_name")
    # thiscall (a C++ member function): x86 passes `this` (the first parameter) in ecx, the callee pops the rest;
    # fastcall (FASTCALL): x86 passes the first two arguments of 32 bits or less in ecx and edx, the rest
    # (64-bit ones included) on the stack, which the callee pops
    _LAZY = frozenset(("ret", "params", "cdecl", "varargs", "thiscall", "fastcall"))

    def __init__(self, dlls: tuple[str, ...], name: str, ret: str, params: list[Param], cdecl: bool, varargs: bool,
                 fn: Callable, tchar: bool, calls_guest: bool, wide_name: str | None = None) -> None:
        self.dlls = dlls
        self.name = name
        self.ret = ret
        self.params = params
        self.cdecl = cdecl
        self.varargs = varargs
        self.fn = fn
        self.tchar = tchar
        self.calls_guest = calls_guest
        self.wide_name = wide_name  # the wide twin served by the same implementation (fprintf / fwprintf)

    @classmethod
    def declared(cls, dlls: tuple[str, ...], name: str, proto: str, fn: Callable, tchar: bool, calls_guest: bool,
                 wide_name: str | None = None) -> "ApiSpec":
        """The spec of a declaration whose prototype `proto` is parsed when a field needing it is read."""
        spec = cls.__new__(cls)
        spec.dlls = dlls
        spec.name = name
        spec.fn = fn
        spec.tchar = tchar
        spec.calls_guest = calls_guest
        spec.wide_name = wide_name
        spec._proto = proto
        return spec

    def __getattr__(self, attr):  # only reached for an attribute not set yet: a field of a declared spec
        if attr not in ApiSpec._LAZY or "_proto" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")
        ret, cc, _name, params, varargs = parse_prototype(self._proto)
        self.ret = ret
        self.params = params
        self.varargs = varargs
        self.cdecl = cc in ("__cdecl", "CDECL") or varargs
        self.thiscall = cc == "__thiscall"
        self.fastcall = cc in ("__fastcall", "FASTCALL")
        return self.__dict__[attr]

    def names(self) -> list[tuple[str, bool]]:
        """(export name, wide) for every export this declaration serves."""
        if self.tchar:
            return [(self.name + "A", False), (self.name + "W", True)]
        if self.wide_name:
            return [(self.name, False), (self.wide_name, True)]
        return [(self.name, False)]


# the declared name in a prototype: the first identifier followed by "(" (what _PROTO's `name` matches)
_DECLARED_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*%?)\s*\(")

_PROTO = re.compile(r"^\s*(?P<ret>.+?)\s+(?P<cc>WINAPI\s+|__stdcall\s+|__cdecl\s+|__thiscall\s+|__fastcall\s+|FASTCALL\s+|CDECL\s+|NTAPI\s+|APIENTRY\s+)?"
                    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*%?)\s*\((?P<args>.*)\)\s*;?\s*$")


def parse_prototype(proto: str) -> tuple[str, str, str, list[Param], bool]:
    m = _PROTO.match(proto)
    if not m:
        raise ValueError(f"bad prototype: {proto}")
    ret = m["ret"].strip()
    cc = (m["cc"] or "").strip()
    args = m["args"].strip()
    params: list[Param] = []
    varargs = False
    if args and args != "void":
        for a in args.split(","):
            a = a.strip()
            if a == "...":
                varargs = True
                continue
            mm = re.match(r"^(.*?)([A-Za-z_][A-Za-z0-9_]*)$", a)
            if not mm or not mm.group(1).strip():
                params.append(Param(a, f"arg{len(params)}"))
            else:
                params.append(Param(" ".join(mm.group(1).replace("*", " * ").split()).replace(" *", " *"),
                                    mm.group(2)))
    for p in params:
        p.type = p.type.replace("* ", "*").replace(" *", " *").strip()
        if p.type.endswith("*") and not p.type.endswith(" *"):
            p.type = p.type[:-1].strip() + " *"
    return ret, cc, m["name"], params, varargs


def api(dlls: str | tuple[str, ...], proto: str, *, calls_guest: bool = False, wide: str | None = None,
        guarded: int | None = None):
    """Declare a handler. `dlls` is one DLL name or a tuple of them. `wide` names the wide-character twin
    that the same implementation serves with `c.wide` set, for pairs not named ...A/...W (the C runtime's
    printf / wprintf). `guarded`: the API's documented result when its own exception handler catches an
    access violation (see `guarded`).

    Declaring a handler again for a name already declared replaces it for every machine of the Python
    process, for good: that still works, but an analyst changing an API's behaviour for one run uses
    `winhatch.Session.hook_api` (per run, removable, sees and changes arguments and results)."""
    if isinstance(dlls, str):
        dlls = (dlls,)

    def deco(fn):
        m = _DECLARED_NAME.search(proto)
        if m is None:
            raise ValueError(f"bad prototype: {proto}")
        name = m[1]
        served = fn if guarded is None else _guarded(fn, name.rstrip("%"), proto, guarded)
        spec = ApiSpec.declared(tuple(d.lower() for d in dlls), name.rstrip("%"), proto, served,
                                name.endswith("%"), calls_guest, wide)
        origin = spec._origin = declaring_module()
        _before_foreign(origin)
        _REGISTRY.append(spec)
        _BY_ORIGIN.setdefault(origin, []).append(spec)
        _note_origin(origin, spec)
        return fn

    return deco


def _guarded(fn: Callable, name: str, proto: str, value: int) -> Callable:
    """The handler of an API that Windows wraps in __try/__except (documented for lstrcpy: "uses SEH to catch
    access violations and other errors. When this function catches SEH errors, it returns NULL ... without
    notifying the caller of the error"): an access violation on the guest memory the handler touches ends
    the call with `value`, the last error untouched, and an API event `guarded_fault` naming the address.
    (On Windows a vectored handler would see the first-chance fault before the API's own handler; here it
    does not.) Its string parameters must be raw pointers (…_RAW types): a decoded string would be read
    before the guard."""
    if any(t in proto for t in ("LPCSTR ", "LPCWSTR ", "LPCTSTR ", "const char *", "const wchar_t *")):
        raise ValueError(f"{name}: a guarded API reads its strings itself (use the _RAW pointer types)")
    from winhatch.ntstatus import STATUS_ACCESS_VIOLATION, NtStatusError

    def served(c, *args):
        try:
            return fn(c, *args)
        except NtStatusError as e:
            if e.status != STATUS_ACCESS_VIOLATION:
                raise
            proc = c.proc
            c.machine.events.emit(ev.API, "guarded_fault", proc.pid, c.thread.tid, api=c.name,
                                  address=getattr(e, "address", None), message=str(e))
            return value
    served.__name__ = fn.__name__
    served.__doc__ = fn.__doc__
    served.__wrapped__ = fn
    served.guarded_result = value
    return served


def data_export(dll: str, name: str, size: int, init: Callable | None = None) -> None:
    """Declare the size of a data export (e.g. msvcrt!_iob) and an optional initialiser fn(c, address)."""
    origin = declaring_module()
    _before_foreign(origin)
    _DATA.append((dll.lower(), name, size, init))
    _DATA_ORIGIN.append(origin)
    _note_origin(origin, _DATA[-1])


INTERNAL_DATA = ".whdata"
_INTERNAL_DATA: list = []


def internal_function(dll: str, name: str) -> None:
    """Declare a function of a synthetic DLL that is not exported (msvcp140's basic_filebuf members, reached
    through a vftable): the DLL gets a framed stub named `name` in its trap table, and an @api declaration
    whose registered name is `name` serves it."""
    _INTERNAL_FN.append((dll.lower(), name))
    _note_origin(declaring_module(), _INTERNAL_FN[-1])


def internal_functions() -> list[tuple[str, str]]:
    """Every declared internal function: the index's (complete, whatever is imported) and this process's."""
    if _INDEX is None:
        return list(_INTERNAL_FN)
    out = list(_INDEX.internal_functions)
    seen = set(out)
    return out + [x for x in _INTERNAL_FN if x not in seen]


def internal_data(dll: str, name: str, size: int) -> None:
    """Declare data of a synthetic DLL that is not exported (the RTTI, vftables and ThrowInfos of the
    exception classes the C++ runtime throws): it lives in the DLL's own image, in the section INTERNAL_DATA,
    laid out in declaration order (internal_data_offset), so image-relative references to it work."""
    _INTERNAL_DATA.append((dll.lower(), name, size))
    _note_origin(declaring_module(), _INTERNAL_DATA[-1])


def internal_data_items() -> list[tuple[str, str, int]]:
    """Every declared item of internal data, in the order of the index (the order of a full import, which
    lays the DLLs out), then this process's others."""
    if _INDEX is None:
        return list(_INTERNAL_DATA)
    out = list(_INDEX.internal_data)
    seen = set(out)
    return out + [x for x in _INTERNAL_DATA if x not in seen]


def internal_data_layout(dll: str) -> tuple[dict[str, int], int]:
    """{name: offset in the INTERNAL_DATA section} of a DLL's internal data, and the section's size."""
    out, off = {}, 0
    for d, name, size in internal_data_items():
        if d == dll.lower():
            off = (off + 15) & ~15
            out[name] = off
            off += size
    return out, off


def dll_init(dll: str):
    """Declare the Python initialiser run as the synthetic DLL's entry point (DllMain)."""
    def deco(fn):
        origin = declaring_module()
        _before_foreign(origin)
        _INIT[dll.lower()] = fn
        _INIT_ORIGIN[dll.lower()] = origin
        _note_origin(origin, (dll, fn))
        return fn
    return deco


def specs() -> list[ApiSpec]:
    """The declarations of the handler modules imported so far (all of them after
    winhatch.win32.subsystem.load_handler_modules)."""
    return list(_REGISTRY)


def data_exports() -> list[tuple[str, str, int, Callable | None]]:
    """Every declared data export (dll, name, size, initialiser or None): the index's, whatever is imported
    (an initialiser of a module not imported yet is a stand-in that imports it when called), then this
    process's others."""
    if _INDEX is None:
        return list(_DATA)
    real = {(d, n): init for d, n, _s, init in _DATA}
    out = [(d, n, size, real[(d, n)] if (d, n) in real else (_INDEX.deferred(origin, "data", (d, n)) if has_init
                                                             else None))
           for origin, d, n, size, has_init in _INDEX.data]
    seen = {(d, n) for _o, d, n, _s, _h in _INDEX.data}
    return out + [x for x in _DATA if (x[0], x[1]) not in seen]


def dll_initializers() -> dict[str, Callable]:
    """{dll: its dll_init}: the index's (a stand-in that imports the module for one not imported yet),
    then this process's."""
    if _INDEX is None:
        return dict(_INIT)
    out = {dll: _INIT.get(dll) or _INDEX.deferred(origin, "init", dll) for origin, dll in _INDEX.inits}
    out.update(_INIT)
    return out


def foreign_declarations() -> list:
    return list(_FOREIGN)


# ================================================================================ calls
class Call:
    """What a handler sees: the thread, the machine, guest memory helpers and the ANSI/wide flag.

    ``machine``, ``spec``, ``name`` and ``wide`` are class attributes of a subclass made once per declared
    export (:func:`call_class`); the trap path keeps one instance per thread and export (Thread.call_objects) and
    only updates its stack pointer, so a handler must not rely on a Call object outliving its call."""

    __slots__ = ("thread", "proc", "cpu", "_sp", "_scratch")
    machine = None
    spec: "ApiSpec | None" = None
    name = ""
    wide = False
    dll = ""   # the DLL whose trap stub the call came through, lower case ("" when not known)
    #: a guarded API (api(..., guarded=…)) reads and writes only where user-mode code could: an absent,
    #: no-access, guard or (for a write) read-only page is the access violation its exception handler
    #: catches (other handlers access memory as the kernel does)
    checked_access = False

    def __init__(self, thread, sp: int | None = None):
        self.thread = thread
        self.proc = proc = thread.process
        self.cpu = cpu = proc.cpu
        self._sp = cpu.sp if sp is None else sp
        self._scratch = None

    @property
    def arch(self) -> str:
        return self.proc.arch

    @property
    def ptr_size(self) -> int:
        return self.cpu.ptr_size

    # memory
    def read(self, addr: int, size: int) -> bytes:
        if self.checked_access:
            self._check(addr, size, False)
        return self.cpu.mem_read(addr, size)

    def _check(self, addr: int, size: int, write: bool) -> None:
        if not self.proc.aspace.accessible(addr, size, write):
            from winhatch.ntstatus import STATUS_ACCESS_VIOLATION, NtStatusError
            raise NtStatusError(STATUS_ACCESS_VIOLATION, f"{'write' if write else 'read'} of {size:#x} bytes "
                                                         f"at {addr:#x}")

    def write(self, addr: int, data: bytes) -> None:
        if self.checked_access:
            self._check(addr, len(data), True)
        self.cpu.mem_write(addr, bytes(data))
        if self.proc.aspace.watched:   # MEM_WRITE_WATCH allocations exist: a write by an API is a write too
            self.proc.aspace.note_write(addr, len(data))

    def u32(self, addr: int) -> int:
        return self.cpu.read_u32(addr)

    def ptr(self, addr: int) -> int:
        return self.cpu.read_ptr(addr)

    def write_u32(self, addr: int, v: int) -> None:
        self.cpu.write_u32(addr, v & 0xFFFFFFFF)

    def write_u64(self, addr: int, v: int) -> None:
        self.cpu.write_u64(addr, v & 0xFFFFFFFFFFFFFFFF)

    def write_ptr(self, addr: int, v: int) -> None:
        self.cpu.write_ptr(addr, v)

    def cstr(self, addr: int, limit: int = 1 << 16) -> bytes | None:
        if not addr:
            return None
        b = self.cpu.read_cstr(addr, limit)
        if self.checked_access:
            self._check(addr, len(b) + 1, False)
        return b

    def astr(self, addr: int) -> str | None:
        b = self.cstr(addr)
        return None if b is None else b.decode(self.machine.nls.ansi_codec, "replace")

    def wstr(self, addr: int, limit: int = 1 << 16) -> str | None:
        if not addr:
            return None
        s = self.cpu.read_wstr(addr, limit)
        if self.checked_access:
            self._check(addr, 2 * len(s.encode("utf-16-le", "surrogatepass")) // 2 + 2, False)
        return s

    def tstr(self, addr: int) -> str | None:
        return self.wstr(addr) if self.wide else self.astr(addr)

    def encode_t(self, s: str) -> bytes:
        """Text for the caller's ...A/...W form: UTF-16, or the ANSI code page — the OEM one (437) for the
        file names kernel32's ANSI file functions return after SetFileApisToOEM."""
        if self.wide:
            return s.encode("utf-16-le")
        if (self.name[:-1] in FILE_NAME_RESULTS and self.proc.subsystem.get("file_apis_oem")
                and self.spec is not None and ("kernel32.dll" in self.spec.dlls or "kernelbase.dll" in self.spec.dlls)):
            return s.encode(self.machine.nls.oem_codec, "replace")
        return s.encode(self.machine.nls.ansi_codec, "replace")

    def tchar_size(self) -> int:
        return 2 if self.wide else 1

    # errors: TEB.LastErrorValue, through the TEB's host memory (Thread.teb_host)
    def set_last_error(self, code: int) -> None:
        host = self.thread.teb_host
        if host is not None:
            _U32.pack_into(host[0], host[1] + _LAST_ERROR[self.proc.arch], code & 0xFFFFFFFF)
        else:
            self.cpu.write_u32(self.thread.teb + _LAST_ERROR[self.proc.arch], code & 0xFFFFFFFF)

    def last_error(self) -> int:
        host = self.thread.teb_host
        if host is not None:
            return _U32.unpack_from(host[0], host[1] + _LAST_ERROR[self.proc.arch])[0]
        return self.cpu.read_u32(self.thread.teb + _LAST_ERROR[self.proc.arch])


    # system services, as kernelbase reaches them through ntdll's stubs (see NtCall in the README)
    def nt(self, name: str, *args: int) -> int:
        """Call system service `name` (an Nt* name of services.tsv) with guest-visible arguments (handles,
        guest addresses — build structures with stack_alloc): the dispatcher's implementation, traced as a
        system service called by this API. Returns the NTSTATUS (unsigned 32-bit). A blocking service raises
        WouldBlock: the whole handler runs again when the thread wakes."""
        spec = self.spec
        dll = spec.dlls[0] if spec is not None else "?"
        status = self.machine.services.call(self.thread, name, args, self._sp, f"{dll}!{self.name}")
        return 0 if status is None else status & 0xFFFFFFFF

    def nt_native(self, name: str, *args: int) -> int:
        """WoW64's call of the 64-bit service `name` for a 32-bit process (what wow64.dll does for the NtWow64*64
        exports): 64-bit arguments, and the pointer-sized values the service reads or writes through them
        (BaseAddress, RegionSize, byte counts) are ULONG64s. Returns the NTSTATUS (unsigned 32-bit)."""
        spec = self.spec
        dll = spec.dlls[0] if spec is not None else "?"
        status = self.machine.services.call(self.thread, name, args, self._sp, f"{dll}!{self.name}", native=True)
        return 0 if status is None else status & 0xFFFFFFFF

    def trace_note(self, key: str, value) -> None:
        """Add what the API trace cannot read from the arguments to this call's event (the text a
        WriteConsole wrote); nothing when the call is not traced."""
        event = self.thread.call_objects.get("trace_event")
        if event is not None:
            event.data[key] = value

    def set_last_nt_error(self, status: int) -> int:
        """BaseSetLastNTError: the last error is RtlNtStatusToDosError(status) (which also records the status in
        TEB.LastStatusValue); returns the Win32 error."""
        from winhatch.ntstatus import nt_to_win32
        code = nt_to_win32(status & 0xFFFFFFFF)
        self.cpu.write_u32(self.thread.teb + _LAST_STATUS[self.proc.arch], status & 0xFFFFFFFF)
        self.set_last_error(code)
        return code

    def stack_alloc(self, size: int, align: int = 16) -> int:
        """Scratch in the calling thread's stack below the API's stack pointer — where kernelbase keeps the
        locals it passes to ntdll (OBJECT_ATTRIBUTES, UNICODE_STRING, IO_STATUS_BLOCK, OUT values). The pages
        are committed as a __chkstk probe would (the guard page moves down); the scratch is zeroed and lives
        until the API returns (an allocation of a handler run again after a wait gets the same address)."""
        thread = self.thread
        top = self._sp - 0x20            # leave the return address and a little room alone
        # each call starts again from the top (a call run again after a wait makes the same allocations in
        # the same order, so it gets the same addresses); within a call the scratch grows down
        low = self._scratch if self._scratch is not None else top
        addr = (low - max(size, 1)) & ~(align - 1)
        if top - addr > 0x40000:
            from winhatch.ntstatus import STATUS_STACK_OVERFLOW, NtStatusError
            raise NtStatusError(STATUS_STACK_OVERFLOW, f"{top - addr:#x} bytes of API scratch")
        _probe_stack(self.machine, thread, addr)
        self._scratch = addr
        self.cpu.mem_write(addr, bytes(size))
        return addr

    def unicode_string(self, text: str | None) -> int:
        """A UNICODE_STRING (and its NUL-terminated buffer) in stack_alloc scratch; 0 for None."""
        if text is None:
            return 0
        from winhatch.kernel.structs import UNICODE_STRING
        data = text.encode("utf-16-le", "surrogatepass")
        if len(data) > 0xFFFC:
            from winhatch.ntstatus import STATUS_NAME_TOO_LONG, NtStatusError
            raise NtStatusError(STATUS_NAME_TOO_LONG, f"a name of {len(data) // 2} characters")
        buf = self.stack_alloc(len(data) + 2, 8)
        self.cpu.mem_write(buf, data + b"\0\0")
        us = self.stack_alloc(UNICODE_STRING.size(self.arch), 8)
        self.cpu.mem_write(us, UNICODE_STRING.pack(self.arch, Length=len(data), MaximumLength=len(data) + 2,
                                                   Buffer=buf))
        return us

    def object_attributes(self, name: int, attributes: int = 0x40, root: int = 0, sd: int = 0) -> int:
        """An OBJECT_ATTRIBUTES in stack_alloc scratch (InitializeObjectAttributes; 0x40 = OBJ_CASE_INSENSITIVE)."""
        from winhatch.kernel.structs import OBJECT_ATTRIBUTES
        size = OBJECT_ATTRIBUTES.size(self.arch)
        oa = self.stack_alloc(size, 8)
        self.cpu.mem_write(oa, OBJECT_ATTRIBUTES.pack(self.arch, Length=size, RootDirectory=root, ObjectName=name,
                                                      Attributes=attributes, SecurityDescriptor=sd,
                                                      SecurityQualityOfService=0))
        return oa


def _probe_stack(machine, thread, addr: int) -> None:
    """Commit the thread's stack down to `addr` as touching each page would (__chkstk): the guard page becomes
    ordinary, a new one is set below, StackLimit follows; past the reservation is a stack overflow."""
    st = thread.stack
    if st is None or not (st.reserve_base <= addr < st.base):
        return
    page = addr & ~0xFFF
    if page >= st.limit:
        return
    from winhatch.kernel.mm import MEM_COMMIT, PAGE_GUARD, PAGE_READWRITE
    from winhatch.ntstatus import STATUS_STACK_OVERFLOW, NtStatusError
    if page - 0x1000 < st.reserve_base + 0x1000:
        raise NtStatusError(STATUS_STACK_OVERFLOW, f"API scratch at {addr:#x} past the stack's reservation")
    aspace = thread.process.aspace
    aspace.allocate(page, st.limit - page, MEM_COMMIT, PAGE_READWRITE)
    aspace.allocate(page - 0x1000, 0x1000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD)
    st.limit = page
    machine.write_teb_stack_limit(thread, page)


_U32 = struct.Struct("<I")


def call_class(machine, spec: ApiSpec, name: str, wide: bool, dll: str = "") -> type:
    """The Call subclass of one export: its machine, declaration, name, ANSI/wide flag and the DLL whose stub
    the call came through (lower case; "" when not known)."""
    return type(f"Call_{name}", (Call,), {"__slots__": (), "machine": machine, "spec": spec, "name": name,
                                          "wide": wide, "dll": dll,
                                          "checked_access": hasattr(spec.fn, "guarded_result")})


def _plan(spec: ApiSpec) -> tuple:
    """Per-parameter decoding plan, computed once per declaration: (kind, 32-bit mask?)."""
    plan = getattr(spec, "_plan", None)
    if plan is None:
        plan = tuple((p.kind if p.type != "float" else "float32", p.type in INT32_TYPES) for p in spec.params)
        spec._plan = plan
    return plan


def _x86_reg_params(spec: ApiSpec) -> tuple[int, ...]:
    """The indexes of the parameters an x86 call passes in ecx (then edx): `this` of a thiscall, the first two
    parameters of 32 bits or less of a fastcall; () for the stack conventions."""
    regs = getattr(spec, "_x86_regs", None)
    if regs is None:
        if getattr(spec, "thiscall", False):
            regs = (0,) if spec.params else ()
        elif getattr(spec, "fastcall", False):
            regs = tuple(i for i, (k, _) in enumerate(_plan(spec)) if k not in ("wide64", "float", "float32"))[:2]
        else:
            regs = ()
        spec._x86_regs = regs
    return regs


_X64_REGS = ("rcx", "rdx", "r8", "r9")
_X64_FREGS = ("xmm0", "xmm1", "xmm2", "xmm3")


def _fetch_args(cpu, spec: ApiSpec, sp: int) -> tuple[list, int]:
    """Read the declared arguments (sp = the stack pointer at the trap: the return address is at [sp]);
    returns (values, number of x86 stack slots they used)."""
    plan = _plan(spec)
    vals = []
    if cpu.is64:
        for i, (kind, int32) in enumerate(plan):
            if i < 4:
                if kind in ("float", "float32"):
                    bits = cpu.reg(_X64_FREGS[i])
                    v = (struct.unpack("<f", (bits & 0xFFFFFFFF).to_bytes(4, "little"))[0] if kind == "float32"
                         else struct.unpack("<d", (bits & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))[0])
                else:
                    v = cpu.reg(_X64_REGS[i])
            else:
                v = cpu.read_u64(sp + 8 + i * 8)
                if kind == "float":
                    v = struct.unpack("<d", v.to_bytes(8, "little"))[0]
                elif kind == "float32":
                    v = struct.unpack("<f", (v & 0xFFFFFFFF).to_bytes(4, "little"))[0]
            if int32:  # the callee sees only the low 32 bits of a 32-bit argument's register
                v &= 0xFFFFFFFF
            vals.append(v)
        return vals, len(plan)
    in_regs = _x86_reg_params(spec)
    if in_regs:
        regs = dict(zip(in_regs, (cpu.reg("ecx"), cpu.reg("edx"))))
        plan = [(k, m, regs.get(i)) for i, (k, m) in enumerate(plan)]
    else:
        plan = [(k, m, None) for k, m in plan]
    if not plan:
        return vals, 0
    raw = cpu.mem_read(sp + 4, 4 * (2 * len(plan)))
    slot = 0
    for kind, _, reg in plan:
        if reg is not None:
            vals.append(reg)
            continue
        if kind in ("wide64", "float"):
            if kind == "float":
                (v,) = struct.unpack_from("<d", raw, slot * 4)
            else:
                lo, hi = struct.unpack_from("<II", raw, slot * 4)
                v = lo | (hi << 32)
            slot += 2
        elif kind == "float32":
            (v,) = struct.unpack_from("<f", raw, slot * 4)
            slot += 1
        else:
            (v,) = struct.unpack_from("<I", raw, slot * 4)
            slot += 1
        vals.append(v)
    return vals, slot


_X86_SLOT_FMT = {"wide64": "Q", "float": "d", "float32": "f"}


def _fast_layout(spec: ApiSpec, is64: bool) -> tuple[str, int] | None:
    """The `struct` format and size of the stack bytes a trap needs (the return address, then the x86
    argument slots / the x64 stack arguments), or None when the generic path must decode (x64 floats
    arrive in xmm registers)."""
    plan = _plan(spec)
    if is64:
        if any(k in ("float", "float32") for k, _ in plan):
            return None
        n = len(plan)
        return (f"<{n + 1}Q", 8 * (n + 1)) if n > 4 else ("<Q", 8)
    if _x86_reg_params(spec):
        return None   # `this` / fastcall arguments are in ecx, edx: the generic path reads them
    fmt = "<I" + "".join(_X86_SLOT_FMT.get(k, "I") for k, _ in plan)
    return fmt, struct.calcsize(fmt)


def make_trap_handler(machine, spec: ApiSpec, dll: str, export_name: str, wide: bool):
    """The function the dispatcher calls when the guest calls dll!export_name: ``handler(thread, va)``,
    with ``handler.frames[is64](cpu, va, buf, off)`` for calls that arrive through an API stub's frame (the
    dispatcher's protocol: winhatch.kernel.ke.dispatcher, trap_exception).

    Through the frame (winhatch.cpu.api_stub: the stub stored the stack pointer and the x64 argument
    registers in the TEB, whose memory the kernel holds) a call costs no register access: x64 arguments
    are unpacked from the frame, x86 ones come with one stack read; the return value (and on x86 the
    bytes `ret` pops) go back into the frame, and the stub loads them and returns.  Without a frame (a
    bare trap, a deferred handler) the registers are read and the return (value, stack pointer, pc) is
    written explicitly.  A handler that moved the pc itself (longjmp, exception dispatch) returns nowhere.
    """
    events = machine.events
    API = ev.API
    kinds = [p.kind for p in spec.params]
    ret_wide = spec.ret in WIDE64 and spec.ret not in FLOAT_TYPES
    ret_void = spec.ret == "void" or spec.ret.startswith("DECLSPEC_NORETURN")
    ret_float = spec.ret in FLOAT_TYPES
    ret_single = spec.ret == "float"
    plan = _plan(spec)
    nparams = len(plan)
    int32 = tuple(i for i, (_, is32) in enumerate(plan) if is32)
    fn = spec.fn
    if machine.hooks.api:   # the machine's owner hooks this API (winhatch.Session.hook_api): wrap the handler
        from winhatch.win32 import apihooks
        fn = apihooks.wrap(machine, spec, dll, export_name, fn)
    cdecl = spec.cdecl
    CallT = call_class(machine, spec, export_name, wide, dll)

    api_name = f"{dll}!{export_name}"
    str_args = tuple((i, k) for i, k in enumerate(kinds) if k in ("str_a", "str_w", "str_t"))
    # kernel32's ANSI functions decode file names with the OEM code page after SetFileApisToOEM
    file_names = frozenset(i for i, p in enumerate(spec.params) if p.name in FILE_NAME_PARAMS) \
        if dll in ("kernel32.dll", "kernelbase.dll") and not wide else frozenset()
    x64_floats = any(k in ("float", "float32") for k, _ in plan)
    # x64 frame: sp at +8, then the register arguments (the first nparams of them); stack arguments
    # (the fifth on) at sp + 0x28
    x64_regs = struct.Struct(f"<Q{min(nparams, 4)}Q")
    x64_stack = struct.Struct(f"<{max(nparams - 4, 0)}Q")
    x64_ret = struct.Struct("<Q")
    in_regs = _x86_reg_params(spec)        # thiscall's `this`, fastcall's first two: in ecx, edx
    x86_args = struct.Struct("<" + "".join(_X86_SLOT_FMT.get(k, "I") for i, (k, _) in enumerate(plan)
                                           if i not in in_regs))
    x86_size = x86_args.size
    x86_sp = struct.Struct("<I")
    x86_ret = struct.Struct("<III")
    x86_pop = 4 if cdecl else 4 + x86_size
    M64, M32 = 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF
    layouts: dict[bool, tuple | bool] = {}   # register-path layout per arch

    def decode_strings(cpu, args):
        oem = file_names and disp.current is not None and disp.current.process.subsystem.get("file_apis_oem")
        for i, k in str_args:
            a = args[i]
            if not a:
                args[i] = None
            elif k == "str_w" or (k == "str_t" and wide):
                args[i] = cpu.read_wstr(a, 1 << 16)
            else:
                nls = disp.machine.nls
                cp = nls.oem_codec if oem and i in file_names else nls.ansi_codec
                args[i] = cpu.read_cstr(a, 1 << 16).decode(cp, "replace")

    def traced(thread, cpu, args, sp, ret_addr):
        """The call with its API event (someone listens)."""
        if ret_addr is None:
            ret_addr = cpu.read_ptr(sp)
        proc = thread.process
        event = events.emit(API, "call", proc.pid, thread.tid, api=api_name,
                            args={p.name: a for p, a in zip(spec.params, args)},
                            caller=proc.subsystem["images"].describe(ret_addr))
        notes = thread.call_objects
        outer = notes.get("trace_event")
        notes["trace_event"] = event          # Call.trace_note adds to it
        try:
            result = fn(CallT(thread, sp), *args)
        finally:
            notes["trace_event"] = outer
        event.data["ret"] = None if ret_void else result
        return result

    # the return: 0 plain value, 1 void, 2 float
    ret_kind = 1 if ret_void else 2 if ret_float else 0

    def finish(cpu, result):
        """The value for the frame's return slot, for the rarer returns."""
        if ret_kind == 1:
            return 0
        if result is None:       # the handler set the return registers itself
            return cpu.retval if cpu.is64 else cpu.retval | cpu.reg("edx") << 32
        set_float_return(cpu, float(result), ret_single)
        return 0

    disp = machine.dispatcher

    def call_object(thread, sp):
        """The thread's Call object of this API (everything in it but the stack pointer is the thread's)."""
        c = thread.call_objects.get(CallT)
        if c is None:
            c = thread.call_objects[CallT] = CallT(thread, sp)
        else:
            c._sp = sp
            c._scratch = None
        return c

    # x64 arguments that need no decoding: passed straight from the frame
    plain64 = not (x64_floats or str_args or int32) and nparams <= 4

    def frame64(cpu, va, buf, off):
        disp.api_calls += 1
        thread = disp.current
        try:
            regs = x64_regs.unpack_from(buf, off + 8)
            sp = regs[0]
            if plain64 and not events.api_wanted:
                result = fn(call_object(thread, sp), *regs[1:])
                if cpu._pc_written:
                    return
                if ret_kind or result is None:
                    result = finish(cpu, result)
                x64_ret.pack_into(buf, off + 0x30, result & M64)
                if disp.api_calls >= disp.slice_end:
                    cpu.stop()
                return
            if x64_floats:
                args, _ = _fetch_args(cpu, spec, sp)
            else:
                args = list(regs[1:])
                if nparams > 4:
                    sh = thread.stack_host
                    if sh is not None and sh[2] <= sp and sp + 0x28 + x64_stack.size <= sh[3]:
                        args += x64_stack.unpack_from(sh[0], sp + 0x28 + sh[1])
                    else:
                        args += x64_stack.unpack_from(cpu.mem_read(sp + 0x28, x64_stack.size))
                for i in int32:   # the callee sees only the low 32 bits of a 32-bit argument's register
                    args[i] &= M32
            if str_args:
                decode_strings(cpu, args)
            if events.api_wanted:
                result = traced(thread, cpu, args, sp, None)
            else:
                result = fn(call_object(thread, sp), *args)
            if cpu._pc_written:      # the handler sent the thread elsewhere
                return
            if ret_kind or result is None:
                result = finish(cpu, result)
            x64_ret.pack_into(buf, off + 0x30, result & M64)
        except BaseException as e:
            disp.trap_exception(thread, cpu, va, e)
            return
        if disp.api_calls >= disp.slice_end:
            cpu.stop()

    def frame32(cpu, va, buf, off):
        disp.api_calls += 1
        thread = disp.current
        try:
            sp = x86_sp.unpack_from(buf, off + 4)[0]
            if not x86_size:
                args = []
            else:
                sh = thread.stack_host   # the arguments from the stack's host memory when sp is in the stack
                if sh is not None and sh[2] <= sp and sp + 4 + x86_size <= sh[3]:
                    args = list(x86_args.unpack_from(sh[0], sp + 4 + sh[1]))
                else:
                    args = list(x86_args.unpack_from(cpu.mem_read(sp + 4, x86_size)))
            if in_regs:   # ecx and edx are untouched by the x86 stub until after the trap
                for i, r in zip(in_regs, ("ecx", "edx")):
                    args.insert(i, cpu.reg(r))
            if str_args:
                decode_strings(cpu, args)
            if events.api_wanted:
                result = traced(thread, cpu, args, sp, None)
            else:
                result = fn(call_object(thread, sp), *args)
            if cpu._pc_written:
                return
            if ret_kind or result is None:
                result = finish(cpu, result)
            x86_ret.pack_into(buf, off + 8, result & M32, (result >> 32) & M32, x86_pop)
        except BaseException as e:
            disp.trap_exception(thread, cpu, va, e)
            return
        if disp.api_calls >= disp.slice_end:
            cpu.stop()

    def handler(thread, va):
        cpu = thread.process.cpu
        if cpu.trap_frame is not None:
            raise RuntimeError(f"{api_name}: a trap through the frame reached the register path")
        # -- without a frame: registers in, registers out
        layout = layouts.get(cpu.is64)
        if layout is None:
            layout = layouts[cpu.is64] = (_fast_layout(spec, cpu.is64) or False) if hasattr(cpu, "trap_entry") \
                else False
        if layout:
            regs, stack = cpu.trap_entry(*layout)
            sp = regs[0]
            ret_addr = stack[0]
            if not cpu.is64:
                args = list(stack[1:])
                slots = (layout[1] >> 2) - 1
            else:
                args = regs[1:1 + nparams] if nparams <= 4 else regs[1:5] + list(stack[5:])
                for i in int32:
                    args[i] &= M32
                slots = nparams
            cpu._pc_written = False
        else:
            sp = cpu.sp
            args, slots = _fetch_args(cpu, spec, sp)
            ret_addr = cpu.read_ptr(sp)
        if str_args:
            decode_strings(cpu, args)
        if events.api_wanted:
            result = traced(thread, cpu, args, sp, ret_addr)
        else:
            result = fn(CallT(thread, sp), *args)
        # return to the caller (the handler may have redirected execution: then it set pc itself)
        if not layout or cpu._pc_written:
            pc = cpu.pc
            if pc != va and pc != va + len(TRAP_STUB):
                return
        new_sp = sp + 8 if cpu.is64 else sp + 4 + (0 if cdecl else 4 * slots)
        if result is not None and not ret_void:
            if ret_float:
                set_float_return(cpu, float(result), ret_single)
                result = None
            elif ret_wide and not cpu.is64:
                cpu.set_reg("edx", (result >> 32) & M32)
                result &= M32
        else:
            result = None
        if layout:
            cpu.trap_return(result, new_sp, ret_addr)
            return
        if result is not None:
            cpu.retval = result & (M64 if cpu.is64 else M32)
        cpu.sp = new_sp
        cpu.pc = ret_addr

    handler.frames = (frame32, frame64)
    handler.build_args = (machine, spec, dll, export_name, wide)   # to build it again (apihooks.rehook)
    return handler


def set_float_return(cpu, value: float, single: bool = False) -> None:
    """A floating-point return: x64 in xmm0 (a float in its low 32 bits, a double in its low 64), x86 in st(0)
    (which holds either exactly)."""
    import struct
    if cpu.is64:
        if single:
            bits = struct.unpack("<I", struct.pack("<f", value if abs(value) <= 3.4028234663852886e38
                                                   or not math.isfinite(value) else math.copysign(math.inf, value)))[0]
        else:
            bits = struct.unpack("<Q", struct.pack("<d", value))[0]
        cpu.set_reg("xmm0", bits)
    elif hasattr(cpu, "set_fp_return"):
        cpu.set_fp_return(value)
    else:   # x86: st(0) — push the value on the x87 register stack
        from winhatch.win32.msvcrt.runtime import push_x87
        push_x87(cpu, value)
