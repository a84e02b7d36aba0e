"""The standard exception classes the C++ runtime DLLs throw (std::length_error from msvcp140's _Xlength_error,
std::bad_cast from __RTDynamicCast, ...), as real MSVC-ABI objects a guest catches, and the RTTI walk behind
dynamic_cast and typeid (__RTDynamicCast, __RTCastToVoid, __RTtypeid, __std_type_info_name).

Each DLL that throws keeps, in its own image (the internal data section, api.internal_data), what the compiler
would have emitted for these classes in it: per class a TypeDescriptor (type_info's vftable, a spare pointer,
the decorated name ".?AVlength_error@std@@"), the RTTI Complete Object Locator in front of the vftable, the
Class Hierarchy Descriptor with its Base Class Array and Base Class Descriptors, a vftable (the scalar deleting
destructor, what()), a CatchableType (with the class's copy constructor), and a ThrowInfo whose
CatchableTypeArray lists the class and its bases, most derived first. On x86 the references are pointers, on
x64 32-bit offsets from the image base (the x64 Complete Object Locator has signature 1 and its own offset).

    TypeDescriptor        pVFTable, spare, name[]
    CompleteObjectLocator signature, offset, cdOffset, pTypeDescriptor, pClassDescriptor[, pSelf (x64)]
    ClassHierarchyDesc.   signature, attributes (1 multiple, 2 virtual inheritance), numBaseClasses, pBaseClassArray
    BaseClassDescriptor   pTypeDescriptor, numContainedBases, PMD {mdisp, pdisp, vdisp}, attributes, pClassDescriptor
    CatchableType         properties, pType, PMD, sizeOrOffset, copyFunction
    ThrowInfo             attributes, pmfnUnwind, pForwardCompat, pCatchableTypeArray

The objects are laid out as MSVC's <exception> declares them: { vfptr; __std_exception_data { const char
*_What; bool _DoFree; } } (x64 24 bytes, x86 12). A thrown object lives on the process heap (the thrower's
frame is gone while the catch block runs); the ThrowInfo's destructor frees it after the catch.
"""
from __future__ import annotations

import struct

from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, internal_data, internal_function
from winhatch.win32.msvcrt import runtime as R

MSVCP = "msvcp140.dll"
UCRT = "ucrtbase.dll"
MSVCRT = "msvcrt.dll"
BLOB = "C++ exception classes"
BLOB_SIZE = 0x2000

# class -> (bases, most derived first; the message of its default constructor, None: constructed from a string)
CLASSES = {
    "exception": ((), "Unknown exception"),
    "logic_error": (("exception",), None),
    "length_error": (("logic_error", "exception"), None),
    "out_of_range": (("logic_error", "exception"), None),
    "invalid_argument": (("logic_error", "exception"), None),
    "runtime_error": (("exception",), None),
    "overflow_error": (("runtime_error", "exception"), None),
    "bad_alloc": (("exception",), "bad allocation"),
    "bad_function_call": (("exception",), "bad function call"),
    "bad_cast": (("exception",), "bad cast"),
    "bad_typeid": (("exception",), "bad typeid"),
    "__non_rtti_object": (("bad_typeid", "exception"), None),
    "_System_error": (("runtime_error", "exception"), None),
    "system_error": (("_System_error", "runtime_error", "exception"), None),
}
# members after std::exception's, in pointers: _System_error's error_code { int _Myval; const error_category
# *_Mycat; } (x64 16 bytes, x86 8)
EXTRA = {"_System_error": 2, "system_error": 2}
DLL_CLASSES = {
    MSVCP: ("exception", "logic_error", "length_error", "out_of_range", "invalid_argument", "runtime_error",
            "overflow_error", "bad_alloc", "bad_function_call", "_System_error", "system_error"),
    UCRT: ("exception", "bad_cast", "bad_typeid", "__non_rtti_object"),
    MSVCRT: ("exception", "bad_cast", "bad_typeid", "__non_rtti_object"),
}

# the string literals the runtime throws with (std::exception's (const char *, int) constructor: not copied)
BAD_DYNAMIC_CAST = "Bad dynamic_cast!"
TYPEID_NULL = "Attempted a typeid of nullptr pointer!"
NO_RTTI = "Access violation - no RTTI data!"
LITERALS = ("Unknown exception", BAD_DYNAMIC_CAST, TYPEID_NULL, NO_RTTI)

DTOR = "std::exception::`scalar deleting destructor'"
WHAT = "std::exception::what"
UNWIND = "std::exception::~exception (thrown object)"


def copy_ctor_name(cls: str) -> str:
    return f"std::{cls}::{cls}(const {cls} &)"


for _dll, _classes in DLL_CLASSES.items():
    internal_data(_dll, BLOB, BLOB_SIZE)
    for _n in (DTOR, WHAT, UNWIND) + tuple(copy_ctor_name(k) for k in _classes):
        internal_function(_dll, _n)


def _blob_addr(c, dll: str) -> int:
    from winhatch.ldr import loader
    m = loader.state_of(c.proc).by_name.get(dll)
    sec = next(x for x in m.pe.sections if x.name == api_mod.INTERNAL_DATA)
    layout, _ = api_mod.internal_data_layout(dll)
    return m.base + sec.virtual_address + layout[BLOB]


def _internal_fn(c, dll: str, name: str) -> int:
    from winhatch.ldr import loader
    m = loader.state_of(c.proc).by_name.get(dll)
    img = c.proc.subsystem["images"].find(m.base)
    for rva, n in (img.traps or {}).items():
        if n == name:
            return m.base + rva
    raise KeyError(name)


class DllClasses:
    """The exception classes built in one DLL's image: per class its vftable, TypeDescriptor and ThrowInfo."""

    def __init__(self, c, dll: str):
        from winhatch.ldr import loader
        self.dll = dll
        self.is64 = is64 = c.ptr_size == 8
        self.P = P = c.ptr_size
        self.base = loader.state_of(c.proc).by_name[dll].base
        self.obj_size = 3 * P

        def size_of(cls: str) -> int:
            return (3 + EXTRA.get(cls, 0)) * P
        self.size_of = size_of
        self.vftable: dict[str, int] = {}
        self.td: dict[str, int] = {}
        self.ti: dict[str, int] = {}
        self.cls_of_vftable: dict[int, str] = {}
        self.heap_objects: set[int] = set()
        self.messages: dict[str, int] = {}
        at = _blob_addr(c, dll)
        end = at + BLOB_SIZE

        def take(n: int, align: int = 8) -> int:
            nonlocal at
            at = (at + align - 1) & ~(align - 1)
            a = at
            at += n
            if at > end:
                raise RuntimeError("the C++ exception classes do not fit their internal data")
            return a

        def ref(a: int) -> bytes:       # an x86 pointer, an x64 image-relative offset
            return struct.pack("<I", (a - self.base) & 0xFFFFFFFF) if is64 else struct.pack("<I", a)

        try:
            vcr = loader.state_of(c.proc).by_name.get("vcruntime140.dll")
            e = vcr.pe.exports.lookup("??_7type_info@@6B@") if vcr is not None else None
            ti_vft = vcr.base + e.entry.rva if e is not None and e.entry is not None else 0
        except Exception:   # noqa: BLE001 - no vcruntime140 in this process
            ti_vft = 0
        classes = DLL_CLASSES[dll]
        dtor, what, unwind = (_internal_fn(c, dll, n) for n in (DTOR, WHAT, UNWIND))
        for cls in classes:
            name = f".?AV{cls}@std@@".encode() + b"\0"
            td = take(2 * P + len(name))
            c.write_ptr(td, ti_vft)
            c.write_ptr(td + P, 0)
            c.write(td + 2 * P, name)
            self.td[cls] = td
        chd: dict[str, int] = {}
        bcd: dict[str, int] = {}
        for cls in classes:          # every class of this set derives singly: attributes 0
            chain = (cls,) + CLASSES[cls][0]
            chd[cls] = take(16, 4)
            bcd[cls] = take(28, 4)
        for cls in classes:
            chain = (cls,) + CLASSES[cls][0]
            bca = take(4 * len(chain), 4)
            c.write(chd[cls], struct.pack("<III", 0, 0, len(chain)) + ref(bca))
            c.write(bca, b"".join(ref(bcd[k]) for k in chain))
            c.write(bcd[cls], ref(self.td[cls]) + struct.pack("<IiiiI", len(chain) - 1, 0, -1, 0, 0x40)
                    + ref(chd[cls]))    # BCD_HASPCHD: pClassDescriptor follows
        for cls in classes:
            col = take(24 if is64 else 20, 4)
            head = struct.pack("<III", 1 if is64 else 0, 0, 0) + ref(self.td[cls]) + ref(chd[cls])
            c.write(col, head + (ref(col) if is64 else b""))
            vft = take(3 * P)
            c.write_ptr(vft, col)
            c.write_ptr(vft + P, dtor)
            c.write_ptr(vft + 2 * P, what)
            self.vftable[cls] = vft + P
            self.cls_of_vftable[vft + P] = cls
        ct: dict[str, int] = {}
        for cls in classes:
            ct[cls] = a = take(28, 4)
            c.write(a, struct.pack("<I", 0) + ref(self.td[cls]) + struct.pack("<iiiI", 0, -1, 0, size_of(cls))
                    + ref(_internal_fn(c, dll, copy_ctor_name(cls))))
        for cls in classes:
            chain = (cls,) + CLASSES[cls][0]
            cta = take(4 + 4 * len(chain), 4)
            c.write(cta, struct.pack("<I", len(chain)) + b"".join(ref(ct[k]) for k in chain))
            ti = take(16, 4)
            c.write(ti, struct.pack("<I", 0) + ref(unwind) + struct.pack("<I", 0) + ref(cta))
            self.ti[cls] = ti
        for text in sorted({m for k in classes for m in (CLASSES[k][1],) if m} | set(LITERALS)):
            a = take(len(text) + 1, 1)
            c.write(a, text.encode() + b"\0")
            self.messages[text] = a


def classes(c, dll: str) -> DllClasses:
    key = "cxx_classes:" + dll
    s = c.proc.subsystem.get(key)
    if s is None:
        s = c.proc.subsystem[key] = DllClasses(c, dll)
    return s


def _dll_of(c) -> str:
    dll = R._caller_dll(c)
    if dll not in DLL_CLASSES:
        R.not_implemented(c, f"C++ exception classes of {dll}")
    return dll


def throw(c, cls: str, message: bytes | None = None, dll: str | None = None, null: bool = False,
          literal: str | None = None, extra: bytes = b"") -> None:
    """Throw a std::`cls` from the calling API, as `throw std::cls(message)` in that DLL would: the object is
    constructed (the message copied to the heap, _DoFree set, as exception(const char *) does; a class's
    default message is its static string) and _CxxThrowException's exception is raised from the caller."""
    from winhatch.win32.ntdll import exceptions as X
    from winhatch.win32.vcruntime.cxx_eh import CXX_CODE, THROW_MAGIC
    from winhatch.win32.ntdll.seh import _raise, caller_context
    dll = dll or _dll_of(c)
    k = classes(c, dll)
    P = k.P
    obj = R.alloc(c, k.size_of(cls))
    k.heap_objects.add(obj)
    c.write_ptr(obj, k.vftable[cls])
    if extra:
        c.write(obj + 3 * P, extra)
    if literal is not None:
        c.write_ptr(obj + P, k.messages[literal])
        c.write(obj + 2 * P, b"\x00")
    elif null:
        c.write_ptr(obj + P, 0)
        c.write(obj + 2 * P, b"\x00")
    elif message is None:
        text = CLASSES[cls][1]
        c.write_ptr(obj + P, k.messages[text] if text else 0)
        c.write(obj + 2 * P, b"\x00")
    else:
        c.write_ptr(obj + P, R.new_cstr(c, message))
        c.write(obj + 2 * P, b"\x01")
    params = [THROW_MAGIC, obj, k.ti[cls]] + ([k.base] if k.is64 else [])
    rec = X.build_record(CXX_CODE, X.EXCEPTION_NONCONTINUABLE, c.cpu.pc, params)
    _raise(c, rec, caller_context(c), f"C++ exception std::{cls}")


# ------------------------------------------------------------------------------------------ member functions
def _destroy_data(c, this: int) -> None:
    P = c.ptr_size
    if c.read(this + 2 * P, 1)[0]:
        p = c.ptr(this + P)
        if p:
            R.heap(c).free_block(p)
    c.write_ptr(this + P, 0)
    c.write(this + 2 * P, b"\x00")


def _dtor(c, this, flags):
    """The scalar deleting destructor: ~exception (the message freed when owned), then delete when flags & 1."""
    _destroy_data(c, this)
    if flags & 1:
        R.heap(c).free_block(this)
        for key, s in c.proc.subsystem.items():
            if isinstance(key, str) and key.startswith("cxx_classes:"):
                s.heap_objects.discard(this)
    return this


def _what(c, this):
    p = c.ptr(this + c.ptr_size)
    if p:
        return p
    return classes(c, _dll_of(c)).messages["Unknown exception"]


def _unwind(c, this):
    """The ThrowInfo's destructor, run after the catch block: ~exception, and the object's heap block."""
    _destroy_data(c, this)
    k = classes(c, _dll_of(c))
    if this in k.heap_objects:
        k.heap_objects.discard(this)
        R.heap(c).free_block(this)


def _copy_ctor(c, this, src):
    """cls(const cls &): this class's vftable, the message copied as __std_exception_copy does."""
    k = classes(c, _dll_of(c))
    cls = c.name[len("std::"):c.name.index("::", 5)]
    P = c.ptr_size
    c.write_ptr(this, k.vftable[cls])
    what = c.ptr(src + P)
    if c.read(src + 2 * P, 1)[0] and what:
        c.write_ptr(this + P, R.new_cstr(c, c.cstr(what, 1 << 20) or b""))
        c.write(this + 2 * P, b"\x01")
    else:
        c.write_ptr(this + P, what)
        c.write(this + 2 * P, b"\x00")
    if EXTRA.get(cls):
        c.write(this + 3 * P, c.read(src + 3 * P, EXTRA[cls] * P))
    return this


def _internal(dll: str, name: str, proto: str, fn) -> None:
    api(dll, proto)(fn)
    api_mod._REGISTRY[-1].name = name


for _dll, _classes in DLL_CLASSES.items():
    _internal(_dll, DTOR, "void * __thiscall exception_dtor(void *this_, unsigned int flags)", _dtor)
    _internal(_dll, WHAT, "const char * __thiscall what(void *this_)", _what)
    _internal(_dll, UNWIND, "void __thiscall exception_unwind(void *this_)", _unwind)
    for _k in _classes:
        _internal(_dll, copy_ctor_name(_k), "void * __thiscall exception_copy(void *this_, const void *src)",
                  _copy_ctor)


# ------------------------------------------------------------------------------------------ msvcp140's throwers
def _thrower(cls: str, with_message: bool):
    """std::_Xlength_error(msg) and friends: `throw cls(msg)` (a null msg keeps a null message, whose what()
    is "Unknown exception"); std::_Xbad_alloc() and friends: `throw cls()`."""
    if with_message:
        def fn(c, msg):
            throw(c, cls, (c.cstr(msg, 1 << 20) or b"") if msg else b"", dll=MSVCP, null=not msg)
    else:
        def fn(c):
            throw(c, cls, None, dll=MSVCP)
    return fn


def _declare(name: str, proto: str, fn) -> None:
    api(MSVCP, proto, calls_guest=True)(fn)
    api_mod._REGISTRY[-1].name = name


for _cls in ("length_error", "out_of_range", "invalid_argument", "runtime_error", "overflow_error"):
    for _n in (f"?_X{_cls}@std@@YAXPEBD@Z", f"?_X{_cls}@std@@YAXPBD@Z"):
        _declare(_n, "void __cdecl thrower(const void *msg)", _thrower(_cls, True))
_declare("?_Xbad_alloc@std@@YAXXZ", "void __cdecl thrower(void)", _thrower("bad_alloc", False))
_declare("?_Xbad_function_call@std@@YAXXZ", "void __cdecl thrower(void)", _thrower("bad_function_call", False))


# ------------------------------------------------------------------------------------------ RTTI: dynamic_cast, typeid
BCD_NOTVISIBLE, BCD_AMBIGUOUS = 0x1, 0x2
RT = (UCRT, MSVCRT)


class _NoRtti(Exception):
    pass


class _Rtti:
    """Guest-memory reads of an object's RTTI; any fault is the "no RTTI data" case."""

    def __init__(self, c):
        self.c = c
        self.P = c.ptr_size
        self.is64 = c.ptr_size == 8

    def read(self, a: int, n: int) -> bytes:
        try:
            data = self.c.read(a, n)
        except Exception as e:  # noqa: BLE001 - an unreadable address: the object has no RTTI
            raise _NoRtti() from e
        if data is None or len(data) != n:
            raise _NoRtti()
        return data

    def ptr(self, a: int) -> int:
        return struct.unpack("<Q" if self.is64 else "<I", self.read(a, self.P))[0]

    def i32(self, a: int) -> int:
        return struct.unpack("<i", self.read(a, 4))[0]

    def u32(self, a: int) -> int:
        return struct.unpack("<I", self.read(a, 4))[0]

    def col(self, obj: int) -> tuple[int, int]:
        """(the Complete Object Locator of the object's vftable, the image base its references are relative to)."""
        vft = self.ptr(obj)
        col = self.ptr(vft - self.P)
        if self.is64:
            if self.u32(col) != 1:
                raise _NoRtti()
            return col, col - self.u32(col + 20)
        return col, 0

    def ref(self, a: int, base: int) -> int:
        return base + self.u32(a) if self.is64 else self.u32(a)

    def complete(self, obj: int) -> tuple[int, int, int]:
        """(the complete object, its COL, the image base): the COL's offset back from this vftable's subobject,
        less the vtordisp the constructor stored in front of a virtual base's vfptr (cdOffset)."""
        col, base = self.col(obj)
        offset, cd = self.i32(col + 4), self.i32(col + 8)
        full = obj - offset
        if cd:
            full -= self.i32(obj - cd)
        return full & ((1 << (8 * self.P)) - 1), col, base

    def name(self, td: int) -> bytes:
        try:
            return self.c.cstr(td + 2 * self.P, 4096) or b""
        except Exception as e:  # noqa: BLE001 - an unreadable TypeDescriptor
            raise _NoRtti() from e

    def bases(self, full: int, col: int, base: int) -> list[dict]:
        """The Base Class Descriptors of the complete object's class, with each subobject's address."""
        chd = self.ref(col + 16, base)
        n = min(self.u32(chd + 8), 0x1000)
        bca = self.ref(chd + 12, base)
        out = []
        for i in range(n):
            bcd = self.ref(bca + 4 * i, base)
            td = self.ref(bcd, base)
            contained, mdisp, pdisp, vdisp, attrs = struct.unpack("<Iiiii", self.read(bcd + 4, 20))
            addr = full + mdisp
            if pdisp >= 0:
                vbt = self.ptr(full + pdisp)
                addr = full + pdisp + self.i32(vbt + vdisp) + mdisp
            out.append({"td": td, "contained": contained, "attrs": attrs,
                        "addr": addr & ((1 << (8 * self.P)) - 1)})
        return out

    def same(self, td1: int, td2: int) -> bool:
        return td1 == td2 or self.name(td1) == self.name(td2)


def _rt_dll(c) -> str:
    dll = R._caller_dll(c)
    if dll not in DLL_CLASSES:
        R.not_implemented(c, f"the RTTI functions of {dll}")
    return dll


@api(RT, "void * __cdecl __RTDynamicCast(void *inptr, long VfDelta, void *SrcType, void *TargetType, "
         "int isReference)", calls_guest=True)
def __RTDynamicCast(c, inptr, vfdelta, src_type, target_type, is_ref):
    """dynamic_cast<T*>(p) / dynamic_cast<T&>(r): the complete object from the vftable's COL, then the target
    among its Base Class Descriptors: a downcast to a class that contains the source subobject, else a cross
    cast to a public base the complete object has once. A failure: NULL, or std::bad_cast for a reference."""
    if not inptr:
        return 0
    rt = _Rtti(c)
    vfdelta = vfdelta - (1 << 32) if vfdelta & 0x80000000 else vfdelta
    try:
        full, col, base = rt.complete(inptr)
        src = (inptr - vfdelta) & ((1 << (8 * rt.P)) - 1)
        bases = rt.bases(full, col, base)
        src_idx = next((i for i, b in enumerate(bases) if b["addr"] == src and rt.same(b["td"], src_type)), None)
        result = None
        if src_idx is not None:
            down = {b["addr"] for j, b in enumerate(bases)
                    if rt.same(b["td"], target_type) and j <= src_idx <= j + b["contained"]
                    and not b["attrs"] & BCD_NOTVISIBLE}
            if len(down) == 1:
                result = down.pop()
        if result is None and (src_idx is None or not bases[src_idx]["attrs"] & BCD_NOTVISIBLE):
            cross = [b for b in bases if rt.same(b["td"], target_type)]
            addrs = {b["addr"] for b in cross}
            if len(addrs) == 1 and not any(b["attrs"] & (BCD_NOTVISIBLE | BCD_AMBIGUOUS) for b in cross):
                result = addrs.pop()
    except _NoRtti:
        throw(c, "__non_rtti_object", dll=_rt_dll(c), literal=NO_RTTI)
        return 0
    if result is None:
        if is_ref:
            throw(c, "bad_cast", dll=_rt_dll(c), literal=BAD_DYNAMIC_CAST)
        return 0
    return result


@api(RT, "void * __cdecl __RTCastToVoid(void *inptr)", calls_guest=True)
def __RTCastToVoid(c, inptr):
    """dynamic_cast<void*>(p): the complete object."""
    if not inptr:
        return 0
    try:
        return _Rtti(c).complete(inptr)[0]
    except _NoRtti:
        throw(c, "__non_rtti_object", dll=_rt_dll(c), literal=NO_RTTI)
        return 0


@api(RT, "void * __cdecl __RTtypeid(void *inptr)", calls_guest=True)
def __RTtypeid(c, inptr):
    """typeid(*p): the complete object's TypeDescriptor (its type_info); a null p throws std::bad_typeid."""
    if not inptr:
        throw(c, "bad_typeid", dll=_rt_dll(c), literal=TYPEID_NULL)
        return 0
    rt = _Rtti(c)
    try:
        col, base = rt.col(inptr)
        return rt.ref(col + 12, base)
    except _NoRtti:
        throw(c, "__non_rtti_object", dll=_rt_dll(c), literal=NO_RTTI)
        return 0


@api(UCRT, "const char * __cdecl __std_type_info_name(void *data, void *root)", calls_guest=True)
def __std_type_info_name(c, data, root):
    """type_info::name(): the undecorated name ("class std::length_error"), computed once and cached in the
    type_info's _UndecoratedName. The string lives in a heap block that starts with an SLIST_ENTRY (16 bytes on
    x64, 4 on x86) pushed on the module's list at root (an SLIST_HEADER), which __std_type_info_destroy_list
    flushes and frees."""
    from winhatch.win32.ntdll.slist import RtlInterlockedPushEntrySList
    P = c.ptr_size
    cached = c.ptr(data)
    if cached:
        return cached
    decorated = (c.cstr(data + P, 4096) or b"").decode("latin-1")
    try:
        text = undecorate_type(decorated, P == 8)
    except ValueError as e:
        R.not_implemented(c, f"type_info::name of {decorated!r}: {e}")
        return 0
    raw = text.encode("latin-1")
    entry = 16 if P == 8 else 4
    node = R.alloc(c, entry + len(raw) + 1)
    c.write(node + entry, raw + b"\0")
    if root:
        RtlInterlockedPushEntrySList(c, root, node)
    c.write_ptr(data, node + entry)
    return node + entry


# ------------------------------------------------------------------------------------------ type name undecoration
_BASIC = {"C": "signed char", "D": "char", "E": "unsigned char", "F": "short", "G": "unsigned short", "H": "int",
          "I": "unsigned int", "J": "long", "K": "unsigned long", "M": "float", "N": "double", "O": "long double",
          "X": "void", "_J": "__int64", "_K": "unsigned __int64", "_N": "bool", "_W": "wchar_t", "_S": "char16_t",
          "_U": "char32_t", "_Q": "char8_t"}
_KINDS = {"V": "class", "U": "struct", "T": "union"}


class _Undecorator:
    """The type-name subset of the MSVC decoration (what typeid().name() undecorates): builtin types, classes,
    structs, unions and enums with nested scopes and template arguments (types and integers), pointers and
    references with their const/volatile; anything else raises ValueError."""

    def __init__(self, s: str, is64: bool):
        self.s, self.i, self.is64 = s, 0, is64

    def peek(self, n: int = 1) -> str:
        return self.s[self.i:self.i + n]

    def take(self, n: int = 1) -> str:
        t = self.s[self.i:self.i + n]
        if len(t) != n:
            raise ValueError("truncated")
        self.i += n
        return t

    def number(self) -> int:
        neg = self.peek() == "?"
        if neg:
            self.take()
        ch = self.take()
        if ch.isdigit():
            v = int(ch) + 1
        else:
            v = 0
            while ch != "@":
                if not "A" <= ch <= "P":
                    raise ValueError("bad number")
                v = v * 16 + ord(ch) - ord("A")
                ch = self.take()
        return -v if neg else v

    def simple_name(self, names: list[str]) -> str:
        if self.peek().isdigit():
            k = int(self.take())
            if k >= len(names):
                raise ValueError("bad back reference")
            return names[k]
        if self.peek(2) == "?$":
            self.take(2)
            end = self.s.index("@", self.i)
            base = self.s[self.i:end]
            self.i = end + 1
            args, inner_names = [], [base]
            while self.peek() != "@":
                if len(args) > 64:
                    raise ValueError("too many template arguments")
                args.append(self.template_arg(inner_names))
            self.take()
            text = ",".join(args)
            name = f"{base}<{text}{' ' if text.endswith('>') else ''}>"
            names.append(name)
            return name
        if self.peek() == "?":
            raise ValueError("special name")
        end = self.s.index("@", self.i)
        name = self.s[self.i:end]
        self.i = end + 1
        if len(names) < 10:
            names.append(name)
        return name

    def qualified(self, names: list[str]) -> str:
        parts = [self.simple_name(names)]
        while self.peek() != "@":
            if len(parts) > 64:
                raise ValueError("too deep")
            parts.append(self.simple_name(names))
        self.take()
        return "::".join(reversed(parts))

    def template_arg(self, names: list[str]) -> str:
        if self.peek(2) == "$0":
            self.take(2)
            return str(self.number())
        if self.peek() == "$":
            raise ValueError("template argument form")
        return self.type(names)

    def type(self, names: list[str]) -> str:
        ch = self.peek()
        if ch in _KINDS:
            self.take()
            return f"{_KINDS[ch]} {self.qualified(names)}"
        if self.peek(2) == "W4":
            self.take(2)
            return f"enum {self.qualified(names)}"
        if ch == "_" and self.peek(2) in _BASIC:
            return _BASIC[self.take(2)]
        if ch in _BASIC:
            return _BASIC[self.take()]
        if ch in "PQAR":                     # pointer, const pointer, reference, volatile pointer
            self.take()
            ptr64 = self.peek() == "E"
            if ptr64:
                self.take()
            cv = self.take()
            quals = {"A": "", "B": " const", "C": " volatile", "D": " const volatile"}.get(cv)
            if quals is None:
                raise ValueError("pointer qualifier")
            inner = self.type(names)
            mark = "&" if ch == "A" else "*"
            own = {"P": "", "Q": " const", "R": " volatile"}.get(ch, "")
            return f"{inner}{quals} {mark}{own}{' __ptr64' if ptr64 else ''}"
        raise ValueError(f"type code {ch!r}")


def undecorate_type(decorated: str, is64: bool) -> str:
    """A TypeDescriptor's decorated name (".?AVlength_error@std@@", ".H") as type_info::name() shows it."""
    if not decorated.startswith("."):
        raise ValueError("not a type name")
    body = decorated[1:]
    u = _Undecorator(body[2:] if body.startswith("?A") else body, is64)
    text = u.type([])
    if u.i != len(u.s):
        raise ValueError("trailing characters")
    return text
