"""winhatch's own ctypes binding of libunicorn: the engine operations winhatch uses, without Unicorn's Python package.

Importing the ``unicorn`` package costs more than half of a hello world's start-up imports: its library loader
imports inspect (ast, dis, tokenize ...) and importlib.resources (zipfile, tempfile, shutil, bz2, lzma ...),
and the package imports the constant modules of every architecture and its own large class module.  Only the
shared library is needed: this module loads it (from where the installed package keeps it, found without
importing the package) and declares the functions winhatch calls.  The numbers of the API are in
:mod:`winhatch.cpu.ucconst` (generated from the installed package, checked against it by the tests).

:class:`Engine` keeps the calling conventions of the package's ``Uc`` for what it offers (hook callbacks get
``(engine, ..., user_data)``, registers with a structure — GDTR, MSR, FP0..7, XMM/YMM/ZMM — read and write
as the package does, errors raise :class:`UcError` with the library's message), so code that used a ``Uc``
(the debugger stub, the coverage writer, the snapshot trigger, the tests) runs unchanged on it.  The hot paths
of winhatch.cpu.core do not go through it: they call :data:`lib` directly (winhatch.cpu._native).
"""
from __future__ import annotations

import ctypes
import os
import sys
import weakref
from typing import Any, Callable, Optional

from winhatch.cpu import ucconst as C

__all__ = ["Engine", "UcContext", "UcError", "lib", "LIB_PATH", "uc_version"]

_LIB_NAME = {"cygwin": "cygunicorn.dll", "darwin": "libunicorn.2.dylib", "linux": "libunicorn.so.2",
             "win32": "unicorn.dll"}.get(sys.platform, "libunicorn.so")


def _find_library() -> str:
    """Where libunicorn is: $LIBUNICORN_PATH (a directory, as the package reads it, or the file itself), else
    the lib/ folder of the installed unicorn package (found without importing it), else what the package's
    own loader picks (an unusual install: importing the package is then the price)."""
    env = os.environ.get("LIBUNICORN_PATH")
    if env:
        for cand in (os.path.join(env, _LIB_NAME), os.path.join(env, "libunicorn.so"), env):
            if os.path.isfile(cand):
                return cand
    import importlib.util
    try:
        spec = importlib.util.find_spec("unicorn")
    except (ImportError, ValueError):   # pragma: no cover - a broken install
        spec = None
    for d in (spec.submodule_search_locations or ()) if spec is not None else ():
        for name in (_LIB_NAME, "libunicorn.so"):
            cand = os.path.join(d, "lib", name)
            if os.path.isfile(cand):
                return cand
    try:   # pragma: no cover - the library lives elsewhere (a system install): ask the package
        from unicorn.unicorn_py3.unicorn import uclib
    except ImportError:   # pragma: no cover - unicorn 2.0.x
        from unicorn.unicorn import _uc as uclib   # type: ignore
    return uclib._name


LIB_PATH = _find_library()
lib = ctypes.CDLL(LIB_PATH)

_void_p = ctypes.c_void_p
_int = ctypes.c_int
_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64
_size = ctypes.c_size_t
_P = ctypes.POINTER


class uc_mem_region(ctypes.Structure):
    _fields_ = (("begin", _u64), ("end", _u64), ("perms", _u32))


class uc_tlb_entry(ctypes.Structure):
    """What a UC_HOOK_TLB_FILL callback fills: the physical page and the access it grants."""
    _fields_ = (("paddr", _u64), ("perms", _u32))


def _proto(name: str, restype, *argtypes) -> None:
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = argtypes


# uc_err is an int; uc_engine, uc_context pointers; uc_hook a size_t.
_proto("uc_version", _u32, _P(_int), _P(_int))
_proto("uc_strerror", ctypes.c_char_p, _int)
_proto("uc_open", _int, _u32, _u32, _P(_void_p))
_proto("uc_close", _int, _void_p)
_proto("uc_errno", _int, _void_p)
_proto("uc_free", _int, _void_p)
_proto("uc_emu_start", _int, _void_p, _u64, _u64, _u64, _size)
_proto("uc_emu_stop", _int, _void_p)
_proto("uc_reg_read", _int, _void_p, _int, _void_p)
_proto("uc_reg_write", _int, _void_p, _int, _void_p)
_proto("uc_mem_map", _int, _void_p, _u64, _size, _u32)
_proto("uc_mem_map_ptr", _int, _void_p, _u64, _size, _u32, _void_p)
_proto("uc_mem_unmap", _int, _void_p, _u64, _size)
_proto("uc_mem_protect", _int, _void_p, _u64, _size, _u32)
_proto("uc_mem_regions", _int, _void_p, _P(_P(uc_mem_region)), _P(_u32))
_proto("uc_mem_read", _int, _void_p, _u64, _void_p, _size)
_proto("uc_mem_write", _int, _void_p, _u64, ctypes.c_char_p, _size)
# uc_hook_add(uc, *hh, type, callback, user_data, begin, end, ...): variadic; an instruction hook passes the
# instruction id after `end` (an int: ctypes passes the extra argument as typed by the caller).
_proto("uc_hook_add", _int, _void_p, _P(_size), _int, _void_p, _void_p, _u64, _u64)
_proto("uc_hook_del", _int, _void_p, _size)
# uc_ctl(uc, control, ...): variadic; every argument after the control word is passed ctypes-typed.
_proto("uc_ctl", _int, _void_p, _int)
_proto("uc_context_size", _size, _void_p)
_proto("uc_context_alloc", _int, _void_p, _P(_void_p))
_proto("uc_context_save", _int, _void_p, _void_p)
_proto("uc_context_restore", _int, _void_p, _void_p)
_proto("uc_context_free", _int, _void_p)


def uc_version() -> tuple[int, int, int]:
    """(major, minor, patch) of the loaded library."""
    v = lib.uc_version(None, None)
    return (v >> 24) & 0xFF, (v >> 16) & 0xFF, (v >> 8) & 0xFF


class UcError(Exception):
    """An engine call failed: ``errno`` is the uc_err code; str() is the library's message (uc_strerror)."""

    def __init__(self, errno: int, *args: Any) -> None:
        super().__init__(*args)
        self.errno = errno

    def __str__(self) -> str:
        msg = lib.uc_strerror(self.errno)
        return msg.decode("ascii", "replace") if msg else f"unicorn error {self.errno}"


# ------------------------------------------------------------------------------------------------ registers
class _MMR(ctypes.Structure):
    """GDTR, IDTR, LDTR, TR: (selector, base, limit, flags)."""
    _fields_ = (("selector", ctypes.c_uint16), ("base", _u64), ("limit", _u32), ("flags", _u32))


class _MSR(ctypes.Structure):
    _fields_ = (("rid", _u32), ("val", _u64))


class _FPR(ctypes.Structure):
    """An x87 register: (mantissa, exponent)."""
    _fields_ = (("mantissa", _u64), ("exponent", ctypes.c_uint16))


_MMR_IDS = frozenset((C.UC_X86_REG_IDTR, C.UC_X86_REG_GDTR, C.UC_X86_REG_LDTR, C.UC_X86_REG_TR))
_FP_IDS = range(C.UC_X86_REG_FP0, C.UC_X86_REG_FP7 + 1)
#: register id -> bytes of a large register (an int of that many bytes, little-endian)
_LARGE = {**{r: 16 for r in range(C.UC_X86_REG_XMM0, C.UC_X86_REG_XMM31 + 1)},
          **{r: 32 for r in range(C.UC_X86_REG_YMM0, C.UC_X86_REG_YMM31 + 1)},
          **{r: 64 for r in range(C.UC_X86_REG_ZMM0, C.UC_X86_REG_ZMM31 + 1)}}


# ------------------------------------------------------------------------------------------------ hooks
_CB = ctypes.CFUNCTYPE
HOOK_INTR = _CB(None, _void_p, _u32, _void_p)
HOOK_CODE = _CB(None, _void_p, _u64, _u32, _void_p)
HOOK_MEM_INVALID = _CB(ctypes.c_bool, _void_p, _int, _u64, _int, ctypes.c_int64, _void_p)
HOOK_MEM_ACCESS = _CB(None, _void_p, _int, _u64, _int, ctypes.c_int64, _void_p)
HOOK_INSN_INVALID = _CB(ctypes.c_bool, _void_p, _void_p)
HOOK_TLB_FILL = _CB(ctypes.c_bool, _void_p, _u64, _int, _P(uc_tlb_entry), _void_p)
HOOK_INSN_IN = _CB(_u32, _void_p, _u32, _int, _void_p)
HOOK_INSN_OUT = _CB(None, _void_p, _u32, _int, _u32, _void_p)
HOOK_INSN_SYSCALL = _CB(None, _void_p, _void_p)
HOOK_INSN_CPUID = _CB(_u32, _void_p, _void_p)

_INVALID_MEM = (C.UC_HOOK_MEM_READ_UNMAPPED | C.UC_HOOK_MEM_WRITE_UNMAPPED | C.UC_HOOK_MEM_FETCH_UNMAPPED
                | C.UC_HOOK_MEM_READ_PROT | C.UC_HOOK_MEM_WRITE_PROT | C.UC_HOOK_MEM_FETCH_PROT)
_VALID_MEM = C.UC_HOOK_MEM_READ | C.UC_HOOK_MEM_WRITE | C.UC_HOOK_MEM_FETCH
#: hook type bits -> (prototype, what the callback returns when it raised)
_HOOK_KINDS = ((C.UC_HOOK_INTR, HOOK_INTR, None), (C.UC_HOOK_CODE | C.UC_HOOK_BLOCK, HOOK_CODE, None),
               (_INVALID_MEM, HOOK_MEM_INVALID, False), (_VALID_MEM, HOOK_MEM_ACCESS, None),
               (C.UC_HOOK_INSN_INVALID, HOOK_INSN_INVALID, False), (C.UC_HOOK_TLB_FILL, HOOK_TLB_FILL, False))
_INSN_KINDS = {C.UC_X86_INS_IN: (HOOK_INSN_IN, 0), C.UC_X86_INS_OUT: (HOOK_INSN_OUT, None),
               C.UC_X86_INS_SYSCALL: (HOOK_INSN_SYSCALL, None), C.UC_X86_INS_SYSENTER: (HOOK_INSN_SYSCALL, None),
               C.UC_X86_INS_CPUID: (HOOK_INSN_CPUID, 0)}


def _close(handle: ctypes.c_void_p) -> None:
    if handle:
        lib.uc_close(handle)


class UcContext:
    """A saved CPU context (uc_context_save): ``context`` is the uc_context pointer, ``size`` its bytes.
    Pickles as its bytes; one rebuilt from bytes (:meth:`from_bytes`) is restored as the library's own."""

    def __init__(self, handle, arch: int, mode: int) -> None:
        self.context = _void_p()
        self.size = lib.uc_context_size(handle)
        err = lib.uc_context_alloc(handle, ctypes.byref(self.context))
        if err:
            raise UcError(err)
        self._owned = True
        self.arch = arch
        self.mode = mode

    @classmethod
    def from_bytes(cls, blob: bytes, size: int, arch: int, mode: int) -> "UcContext":
        ctx = cls.__new__(cls)
        ctx._owned = False
        ctx._buf = ctypes.create_string_buffer(bytes(blob), size)
        ctx.context = _void_p(ctypes.addressof(ctx._buf))
        ctx.size, ctx.arch, ctx.mode = size, arch, mode
        return ctx

    def __bytes__(self) -> bytes:
        return ctypes.string_at(self.context.value, self.size)

    def __getstate__(self):
        return bytes(self), self.size, self.arch, self.mode

    def __setstate__(self, state) -> None:
        blob, size, arch, mode = state
        self._owned = False
        self._buf = ctypes.create_string_buffer(bytes(blob), size)
        self.context = _void_p(ctypes.addressof(self._buf))
        self.size, self.arch, self.mode = size, arch, mode

    def __del__(self) -> None:
        if getattr(self, "_owned", False) and self.context:
            self._owned = False
            lib.uc_context_free(self.context)


class Engine:
    """One libunicorn engine (uc_open), with the subset of the unicorn package's ``Uc`` interface winhatch uses.
    ``_uch`` is the uc_engine handle (a c_void_p) the hot paths pass to :data:`lib` themselves."""

    def __init__(self, arch: int, mode: int) -> None:
        self._arch = arch
        self._mode = mode
        h = _void_p()
        err = lib.uc_open(arch, mode, ctypes.byref(h))
        if err:
            raise UcError(err)
        self._uch = h
        #: hook handle -> the ctypes callback (the library calls it as long as the hook lives)
        self._callbacks: dict[int, Any] = {}
        # callbacks of hooks deleted, kept until no emulation can be inside them (a hook may delete itself)
        self._dead_callbacks: list = []
        self._hook_exception: Optional[BaseException] = None
        self._finalizer = weakref.finalize(self, _close, h)

    def close(self) -> None:
        self._finalizer()

    @property
    def errno(self) -> int:
        return lib.uc_errno(self._uch)

    # -------------------------------------------------------------------------------------------- emulation
    def emu_start(self, begin: int, until: int, timeout: int = 0, count: int = 0) -> None:
        """Run from `begin` to `until` (timeout in microseconds, count in instructions; 0: none).  Raises UcError
        when the run ends with an error, or what a hook callback raised."""
        self._hook_exception = None
        if self._dead_callbacks:
            self._dead_callbacks.clear()
        err = lib.uc_emu_start(self._uch, begin, until, timeout, count)
        if err:
            raise UcError(err)
        if self._hook_exception is not None:
            exc, self._hook_exception = self._hook_exception, None
            raise exc

    def emu_stop(self) -> None:
        err = lib.uc_emu_stop(self._uch)
        if err:
            raise UcError(err)

    # -------------------------------------------------------------------------------------------- registers
    def reg_read(self, reg_id: int, aux: Any = None):
        """The register's value: an int; (selector, base, limit, flags) for GDTR/IDTR/LDTR/TR; (mantissa, exponent)
        for FP0..FP7; for MSR the value of the MSR numbered `aux`."""
        if reg_id in _MMR_IDS:
            r = _MMR()
            self._reg(lib.uc_reg_read, reg_id, r)
            return r.selector, r.base, r.limit, r.flags
        if reg_id == C.UC_X86_REG_MSR:
            r = _MSR(aux or 0, 0)
            self._reg(lib.uc_reg_read, reg_id, r)
            return r.val
        if reg_id in _FP_IDS:
            r = _FPR()
            self._reg(lib.uc_reg_read, reg_id, r)
            return r.mantissa, r.exponent
        n = _LARGE.get(reg_id)
        if n is not None:
            b = ctypes.create_string_buffer(n)
            self._reg(lib.uc_reg_read, reg_id, b)
            return int.from_bytes(b.raw, "little")
        v = _u64()
        self._reg(lib.uc_reg_read, reg_id, v)
        return v.value

    def reg_write(self, reg_id: int, value) -> None:
        """Write a register (values shaped as reg_read returns them; MSR: (msr id, value))."""
        if reg_id in _MMR_IDS:
            r = _MMR(*value)
        elif reg_id == C.UC_X86_REG_MSR:
            r = _MSR(*value)
        elif reg_id in _FP_IDS:
            r = _FPR(*value)
        elif reg_id in _LARGE:
            r = ctypes.create_string_buffer(int(value).to_bytes(_LARGE[reg_id], "little"), _LARGE[reg_id])
        else:
            r = _u64(value & 0xFFFFFFFFFFFFFFFF)
        self._reg(lib.uc_reg_write, reg_id, r)

    def _reg(self, fn, reg_id: int, obj) -> None:
        err = fn(self._uch, reg_id, ctypes.byref(obj))
        if err:
            raise UcError(err, reg_id)

    # -------------------------------------------------------------------------------------------- memory
    def mem_map(self, address: int, size: int, perms: int = C.UC_PROT_ALL) -> None:
        err = lib.uc_mem_map(self._uch, address, size, perms)
        if err:
            raise UcError(err)

    def mem_map_ptr(self, address: int, size: int, perms: int, ptr: int) -> None:
        err = lib.uc_mem_map_ptr(self._uch, address, size, perms, ptr)
        if err:
            raise UcError(err)

    def mem_unmap(self, address: int, size: int) -> None:
        err = lib.uc_mem_unmap(self._uch, address, size)
        if err:
            raise UcError(err)

    def mem_protect(self, address: int, size: int, perms: int = C.UC_PROT_ALL) -> None:
        err = lib.uc_mem_protect(self._uch, address, size, perms)
        if err:
            raise UcError(err)

    def mem_regions(self) -> list[tuple[int, int, int]]:
        """[(begin, end inclusive, perms)] of the mapped regions, in address order."""
        regions = _P(uc_mem_region)()
        count = _u32()
        err = lib.uc_mem_regions(self._uch, ctypes.byref(regions), ctypes.byref(count))
        if err:
            raise UcError(err)
        try:
            return [(r.begin, r.end, r.perms) for r in regions[:count.value]]
        finally:
            lib.uc_free(regions)

    def mem_read(self, address: int, size: int) -> bytearray:
        buf = ctypes.create_string_buffer(size)
        err = lib.uc_mem_read(self._uch, address, buf, size)
        if err:
            raise UcError(err, address, size)
        return bytearray(buf.raw)

    def mem_write(self, address: int, data: bytes) -> None:
        data = bytes(data)
        err = lib.uc_mem_write(self._uch, address, data, len(data))
        if err:
            raise UcError(err, address, len(data))

    # -------------------------------------------------------------------------------------------- hooks
    def hook_add(self, htype: int, callback: Callable, user_data: Any = None, begin: int = 1, end: int = 0,
                 aux1: int = 0, aux2: int = 0) -> int:
        """Add a hook; `callback` gets (engine, <the hook type's arguments>, user_data), as with the unicorn
        package (a TLB fill hook gets the uc_tlb_entry structure itself).  An exception it raises stops the
        emulation and is raised by emu_start.  For UC_HOOK_INSN, aux1 is the instruction (UC_X86_INS_*).
        Returns the hook's handle."""
        extra: tuple = ()
        if htype == C.UC_HOOK_INSN:
            kind = _INSN_KINDS.get(aux1)
            if kind is None:
                raise UcError(C.UC_ERR_ARG)
            proto, dflt = kind
            extra = (_int(aux1),)
        else:
            kinds = [k for k in _HOOK_KINDS if htype & k[0]]
            if len(kinds) != 1 or htype & ~kinds[0][0]:   # one callback shape per hook
                raise UcError(C.UC_ERR_ARG)
            _bits, proto, dflt = kinds[0]
        tlb = proto is HOOK_TLB_FILL
        ref = weakref.ref(self)

        def thunk(_h, *args):
            uc = ref()
            try:
                if tlb:
                    args = (args[0], args[1], args[2].contents, None)
                return callback(uc, *args[:-1], user_data)
            except BaseException as e:   # the run ends; emu_start raises it
                if uc is not None:
                    if uc._hook_exception is None:
                        uc._hook_exception = e
                    lib.uc_emu_stop(uc._uch)
                return dflt

        fptr = proto(thunk)
        hh = _size()
        err = lib.uc_hook_add(self._uch, ctypes.byref(hh), htype, ctypes.cast(fptr, _void_p), None,
                              _u64(begin), _u64(end), *extra)
        if err:
            raise UcError(err)
        self._callbacks[hh.value] = fptr
        return hh.value

    def hook_del(self, handle: int) -> None:
        err = lib.uc_hook_del(self._uch, handle)
        if err:
            raise UcError(err)
        cb = self._callbacks.pop(handle, None)
        if cb is not None:
            self._dead_callbacks.append(cb)

    # -------------------------------------------------------------------------------------------- context
    def context_save(self) -> UcContext:
        ctx = UcContext(self._uch, self._arch, self._mode)
        err = lib.uc_context_save(self._uch, ctx.context)
        if err:
            raise UcError(err)
        return ctx

    def context_restore(self, ctx: UcContext) -> None:
        err = lib.uc_context_restore(self._uch, ctx.context)
        if err:
            raise UcError(err)

    # -------------------------------------------------------------------------------------------- controls
    def ctl(self, control: int, op: int, *args) -> None:
        """uc_ctl(control | op << 30 | len(args) << 26, *args): the arguments ctypes-typed (the call is
        variadic, so each is passed as its own type)."""
        if not 0 < op < 4 or len(args) > 15:
            raise UcError(C.UC_ERR_ARG)
        err = lib.uc_ctl(self._uch, (op << 30) | (len(args) << 26) | control, *args)
        if err:
            raise UcError(err)

    def ctl_set_tlb_mode(self, mode: int) -> None:
        self.ctl(C.UC_CTL_TLB_TYPE, C.UC_CTL_IO_WRITE, ctypes.c_uint(mode))

    def ctl_flush_tb(self) -> None:
        self.ctl(C.UC_CTL_TB_FLUSH, C.UC_CTL_IO_WRITE)

    def ctl_flush_tlb(self) -> None:
        self.ctl(C.UC_CTL_TLB_FLUSH, C.UC_CTL_IO_WRITE)

    def ctl_remove_cache(self, lbound: int, ubound: int) -> None:
        """Drop the translated blocks of [lbound, ubound)."""
        self.ctl(C.UC_CTL_TB_REMOVE_CACHE, C.UC_CTL_IO_WRITE, _u64(lbound), _u64(ubound))
