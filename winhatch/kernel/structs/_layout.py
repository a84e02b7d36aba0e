"""A small declarative layout engine for Windows structures, with per-architecture (x86 / x64) layouts.

Offsets follow MSVC rules: every member is placed at the next multiple of its natural alignment (primitive
size, pointer size for pointer-sized types, the largest member alignment for structs and unions, the
element alignment for arrays), and a struct's size is rounded up to its alignment.  64-bit integers are
8-aligned on x86 too (MSVC, and mingw's gcc, agree).  A struct can force a larger alignment (M128A: 16).

Values:
  * integers (pointers are plain integers; negative values are stored two's-complement)
  * fixed arrays: lists of element values (shorter lists are zero-padded), or raw ``bytes``;
    arrays of WCHAR / CHAR also take ``str`` (zero-padded) and unpack to ``str`` (up to the first NUL)
  * nested structs and unions: dicts (members not named stay zero), or raw ``bytes`` of the full size
  * bit fields: declared on their container field; each bit name is usable like a member
    (``PEB.pack("x64", IsProtectedProcess=1)``), and the container itself takes an int

Names: ``"Ldr"``, nested ``"NtTib.Self"``, array elements ``"TlsSlots[3]"``; members of anonymous
unions/structs and bit names are promoted into the enclosing struct, as in C.
"""
from __future__ import annotations

import re
import struct as _struct
from typing import Any, Iterable

from winhatch._record import FrozenRecord, Record

ARCHES = ("x86", "x64")
PTR_SIZE = {"x86": 4, "x64": 8}
_INT_FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _check_arch(arch: str) -> str:
    if arch not in PTR_SIZE:
        raise ValueError(f"arch must be 'x86' or 'x64', not {arch!r}")
    return arch


class CType:
    name: str

    def size(self, arch: str) -> int:
        raise NotImplementedError

    def align(self, arch: str) -> int:
        raise NotImplementedError

    def pack_into(self, buf: bytearray, off: int, arch: str, value: Any) -> None:
        raise NotImplementedError

    def unpack_from(self, buf: bytes, off: int, arch: str) -> Any:
        raise NotImplementedError

    def to_bytes(self, arch: str, value: Any) -> bytes:
        buf = bytearray(self.size(arch))
        self.pack_into(buf, 0, arch, value)
        return bytes(buf)

    def type_name(self, arch: str) -> str:
        return self.name


class Prim(CType):
    """An integer of fixed size, or pointer-sized when ``size`` is None."""

    def __init__(self, name: str, size: int | None, signed: bool = False, text: str | None = None):
        self.name = name
        self._size = size
        self.signed = signed
        self.text = text  # codec used when an array of this type is given/returned as str

    def size(self, arch: str) -> int:
        return self._size if self._size is not None else PTR_SIZE[arch]

    align = size

    def pack_into(self, buf, off, arch, value):
        n = self.size(arch)
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (bytes, bytearray)) and len(value) == 1 and n == 1:
            value = value[0]
        if not isinstance(value, int):
            raise TypeError(f"{self.name}: expected int, got {type(value).__name__}")
        lo = -(1 << (8 * n - 1))
        if not (lo <= value < (1 << (8 * n))):
            raise OverflowError(f"{self.name}: {value:#x} does not fit in {n} bytes")
        _struct.pack_into("<" + _INT_FMT[n], buf, off, value & ((1 << (8 * n)) - 1))

    def unpack_from(self, buf, off, arch):
        n = self.size(arch)
        v = _struct.unpack_from("<" + _INT_FMT[n], buf, off)[0]
        if self.signed and v >= 1 << (8 * n - 1):
            v -= 1 << (8 * n)
        return v


class Array(CType):
    def __init__(self, elem: CType, count: int | dict[str, int]):
        self.elem = elem
        self._count = count

    @property
    def name(self) -> str:  # arch-independent display name
        c = self._count
        return f"{self.elem.name}[{c if isinstance(c, int) else '/'.join(map(str, c.values()))}]"

    def count(self, arch: str) -> int:
        return self._count if isinstance(self._count, int) else self._count[arch]

    def size(self, arch):
        return self.elem.size(arch) * self.count(arch)

    def align(self, arch):
        return self.elem.align(arch)

    def type_name(self, arch):
        return f"{self.elem.type_name(arch)}[{self.count(arch)}]"

    @property
    def text(self) -> str | None:
        return getattr(self.elem, "text", None)

    def pack_into(self, buf, off, arch, value):
        size = self.size(arch)
        if isinstance(value, str):
            if not self.text:
                raise TypeError(f"{self.name}: str only for WCHAR/CHAR arrays")
            value = value.encode(self.text, "surrogatepass")
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
            if len(value) > size:
                raise ValueError(f"{self.name}: {len(value)} bytes do not fit in {size}")
            buf[off:off + size] = value + bytes(size - len(value))
            return
        value = list(value)
        n = self.count(arch)
        if len(value) > n:
            raise ValueError(f"{self.name}: {len(value)} elements given, room for {n}")
        es = self.elem.size(arch)
        buf[off:off + size] = bytes(size)
        for i, v in enumerate(value):
            self.elem.pack_into(buf, off + i * es, arch, v)

    def unpack_from(self, buf, off, arch):
        es = self.elem.size(arch)
        n = self.count(arch)
        if self.text:
            raw = bytes(buf[off:off + es * n])
            for i in range(0, len(raw), es):
                if raw[i:i + es] == bytes(es):
                    raw = raw[:i]
                    break
            return raw.decode(self.text, "surrogatepass")
        return [self.elem.unpack_from(buf, off + i * es, arch) for i in range(n)]


class Field(FrozenRecord):
    _fields = ("name", "type", "arch", "bits")
    name: str | None          # None: anonymous union/struct (members promoted)
    type: CType
    arch: str | None          # present only on this arch
    bits: tuple[tuple[str, int], ...]  # (name, width) from bit 0 upwards; names promoted

    def __init__(self, name: str | None, type: CType, arch: str | None = None,  # noqa: A002 (the field name)
                 bits: tuple[tuple[str, int], ...] = ()) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "arch", arch)
        object.__setattr__(self, "bits", bits)

    @property
    def anonymous(self) -> bool:
        return self.name is None


def F(name: str | None, type_: CType, count: int | dict[str, int] | None = None, *, arch: str | None = None,
      bits: Iterable[tuple[str, int]] = ()) -> Field:
    """Declare a member: ``F("TlsSlots", PVOID, 64)``, ``F("Instrumentation", PVOID, {"x86": 9, "x64": 11})``."""
    if count is not None:
        type_ = Array(type_, count)
    return Field(name, type_, arch, tuple(bits))


class _Bit(FrozenRecord):
    _fields = ("container", "shift", "width")

    def __init__(self, container: CType, shift: int, width: int) -> None:
        object.__setattr__(self, "container", container)
        object.__setattr__(self, "shift", shift)
        object.__setattr__(self, "width", width)


class _Layout(Record):
    _fields = ("size", "align", "members", "names")

    def __init__(self, size: int, align: int, members: list[tuple[Field, int]],
                 names: dict[str, tuple[int, CType | _Bit]]) -> None:
        self.size = size
        self.align = align
        self.members = members  # declared members present on this arch, with offsets
        self.names = names      # every reachable name (promoted), with offset


_PATH_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")


class Struct(CType):
    """A C struct (or union, with ``union=True``) declared as a list of fields."""

    def __init__(self, name: str, fields: list[Field], *, union: bool = False, align: int | None = None,
                 scalar: str | None = None, doc: str = ""):
        self.name = name
        self.scalar = scalar  # member set when the struct is given a plain int (LARGE_INTEGER: QuadPart)
        self._fields = list(fields)
        self.union = union
        self._force_align = align
        self.__doc__ = doc or None
        self._cache: dict[str, _Layout] = {}

    # ---- layout -------------------------------------------------------------------------------------------
    def _layout(self, arch: str) -> _Layout:
        lay = self._cache.get(arch)
        if lay is not None:
            return lay
        _check_arch(arch)
        off = 0
        size = 0
        align = self._force_align or 1
        members: list[tuple[Field, int]] = []
        names: dict[str, tuple[int, CType | _Bit]] = {}

        def add(name, off_, t):
            if name in names:
                raise ValueError(f"{self.name}: duplicate member name {name!r}")
            names[name] = (off_, t)

        for f in self._fields:
            if f.arch is not None and f.arch != arch:
                continue
            a = f.type.align(arch)
            align = max(align, a)
            fo = 0 if self.union else (off + a - 1) // a * a
            members.append((f, fo))
            if f.anonymous:
                if not isinstance(f.type, Struct):
                    raise TypeError(f"{self.name}: anonymous member must be a struct/union")
                for n, (o, t) in f.type._layout(arch).names.items():
                    add(n, fo + o, t)
            else:
                add(f.name, fo, f.type)
            if f.bits:
                total = sum(w for _, w in f.bits)
                if total > 8 * f.type.size(arch):
                    raise ValueError(f"{self.name}.{f.name}: {total} bits overflow the container")
                shift = 0
                for bn, w in f.bits:
                    add(bn, fo, _Bit(f.type, shift, w))
                    shift += w
            end = fo + f.type.size(arch)
            size = max(size, end)
            off = end
        size = (size + align - 1) // align * align
        lay = _Layout(size, align, members, names)
        self._cache[arch] = lay
        return lay

    def size(self, arch: str) -> int:
        return self._layout(arch).size

    def align(self, arch: str) -> int:
        return self._layout(arch).align

    def _resolve(self, arch: str, path: str) -> tuple[int, CType | _Bit]:
        cache = self.__dict__.setdefault("_resolved", {})
        hit = cache.get((arch, path))
        if hit is None:
            hit = cache[(arch, path)] = self._resolve_uncached(arch, path)
        return hit

    def _resolve_uncached(self, arch: str, path: str) -> tuple[int, CType | _Bit]:
        off = 0
        t: CType | _Bit = self
        for part in path.split("."):
            m = _PATH_RE.match(part)
            if not m or not isinstance(t, Struct):
                raise KeyError(f"{self.name}: bad member path {path!r}")
            try:
                o, t = t._layout(arch).names[m.group(1)]
            except KeyError:
                raise KeyError(f"{self.name} ({arch}) has no member {path!r}") from None
            off += o
            for idx in re.findall(r"\[(\d+)\]", m.group(2)):
                if not isinstance(t, Array):
                    raise KeyError(f"{self.name}: {part!r} is not an array")
                i = int(idx)
                if i >= t.count(arch):
                    raise IndexError(f"{self.name}: index {i} out of range in {path!r}")
                off += i * t.elem.size(arch)
                t = t.elem
        return off, t

    def has(self, arch: str, path: str) -> bool:
        try:
            self._resolve(arch, path)
            return True
        except (KeyError, IndexError):
            return False

    def offset(self, arch: str, path: str) -> int:
        """Offset of a member (``"Ldr"``, ``"NtTib.Self"``, ``"TlsSlots[3]"``); a bit name gives its container's."""
        return self._resolve(arch, path)[0]

    def field_size(self, arch: str, path: str) -> int:
        t = self._resolve(arch, path)[1]
        return t.container.size(arch) if isinstance(t, _Bit) else t.size(arch)

    def field_type(self, arch: str, path: str) -> CType:
        t = self._resolve(arch, path)[1]
        return t.container if isinstance(t, _Bit) else t

    def bit(self, arch: str, path: str) -> tuple[int, int, int]:
        """(container offset, shift, width) of a bit field."""
        off, t = self._resolve(arch, path)
        if not isinstance(t, _Bit):
            raise KeyError(f"{self.name}: {path!r} is not a bit field")
        return off, t.shift, t.width

    def fields(self, arch: str) -> list[tuple[str, int, int, str]]:
        """Members in declaration order as (name, offset, size, type name); anonymous unions are expanded
        (their members share an offset).  Bit names are not listed (see ``bit``)."""
        out = []
        for f, off in self._layout(arch).members:
            if f.anonymous:
                out += [(n, off + o, s, tn) for n, o, s, tn in f.type.fields(arch)]
            else:
                out.append((f.name, off, f.type.size(arch), f.type.type_name(arch)))
        return out

    def members(self, arch: str) -> list[tuple[Field, int]]:
        return list(self._layout(arch).members)

    # ---- packing ------------------------------------------------------------------------------------------
    def _set(self, buf: bytearray, base: int, arch: str, path: str, value: Any) -> None:
        off, t = self._resolve(arch, path)
        if isinstance(t, _Bit):
            cur = t.container.unpack_from(buf, base + off, arch)
            t.container.pack_into(buf, base + off, arch, _setbits(cur, t, value, path))
        else:
            t.pack_into(buf, base + off, arch, value)

    def pack_into(self, buf, off, arch, value):
        if isinstance(value, (bytes, bytearray, memoryview)):
            n = self.size(arch)
            if len(value) != n:
                raise ValueError(f"{self.name}: {len(value)} bytes given, size is {n}")
            buf[off:off + n] = bytes(value)
            return
        if self.scalar is not None and isinstance(value, int):
            value = {self.scalar: value}
        if not isinstance(value, dict):
            raise TypeError(f"{self.name}: expected a dict of member values, got {type(value).__name__}")
        for k, v in value.items():
            self._set(buf, off, arch, k, v)

    def pack(self, arch: str, **values: Any) -> bytes:
        """Bytes of the struct with the named members set and everything else zero."""
        buf = bytearray(self.size(_check_arch(arch)))
        self.pack_into(buf, 0, arch, values)
        return bytes(buf)

    def unpack_from(self, buf, off, arch):
        out: dict[str, Any] = {}
        for f, fo in self._layout(arch).members:
            if f.anonymous:
                out.update(f.type.unpack_from(buf, off + fo, arch))
            else:
                out[f.name] = f.type.unpack_from(buf, off + fo, arch)
            if f.bits:
                cont = f.type.unpack_from(buf, off + fo, arch)
                shift = 0
                for bn, w in f.bits:
                    out[bn] = (cont >> shift) & ((1 << w) - 1)
                    shift += w
        return out

    def unpack(self, arch: str, data: bytes) -> dict:
        n = self.size(_check_arch(arch))
        if len(data) < n:
            raise ValueError(f"{self.name}: {len(data)} bytes given, need {n}")
        return self.unpack_from(data, 0, arch)

    # ---- guest memory -------------------------------------------------------------------------------------
    def write(self, mem, addr: int, arch: str, **values: Any) -> None:
        """Write only the named members at ``addr`` (nested dicts write only their named members)."""
        _check_arch(arch)
        for k, v in values.items():
            self._write_one(mem, addr, arch, k, v)

    def _write_one(self, mem, addr, arch, path, value):
        off, t = self._resolve(arch, path)
        if isinstance(t, _Bit):
            n = t.container.size(arch)
            cur = t.container.unpack_from(bytes(mem.read(addr + off, n)), 0, arch)
            mem.write(addr + off, t.container.to_bytes(arch, _setbits(cur, t, value, path)))
        elif isinstance(t, Struct) and isinstance(value, dict):
            for k, v in value.items():
                t._write_one(mem, addr + off, arch, k, v)
        else:
            mem.write(addr + off, t.to_bytes(arch, value))

    def read(self, mem, addr: int, arch: str, *names: str) -> dict:
        """Read the named members (all of them if none named) into a dict keyed by the names given."""
        _check_arch(arch)
        if not names:
            return self.unpack(arch, bytes(mem.read(addr, self.size(arch))))
        out = {}
        for path in names:
            off, t = self._resolve(arch, path)
            if isinstance(t, _Bit):
                n = t.container.size(arch)
                cur = t.container.unpack_from(bytes(mem.read(addr + off, n)), 0, arch)
                out[path] = (cur >> t.shift) & ((1 << t.width) - 1)
            else:
                out[path] = t.unpack_from(bytes(mem.read(addr + off, t.size(arch))), 0, arch)
        return out

    def view(self, mem, addr: int, arch: str) -> "StructView":
        """Attribute access to the struct in guest memory: ``v.NtTib.Self``, ``v.LastErrorValue = 5``."""
        return StructView(self, mem, addr, _check_arch(arch))

    def __repr__(self):
        return f"<{'union' if self.union else 'struct'} {self.name}>"


def Union(name: str, fields: list[Field], **kw) -> Struct:
    return Struct(name, fields, union=True, **kw)


def _setbits(cur: int, b: _Bit, value: int, path: str) -> int:
    value = int(value)
    mask = (1 << b.width) - 1
    if not (0 <= value <= mask):
        raise OverflowError(f"{path}: {value} does not fit in {b.width} bit(s)")
    return (cur & ~(mask << b.shift)) | (value << b.shift)


class StructView:
    __slots__ = ("_s", "_mem", "_addr", "_arch")

    def __init__(self, s: Struct, mem, addr: int, arch: str):
        object.__setattr__(self, "_s", s)
        object.__setattr__(self, "_mem", mem)
        object.__setattr__(self, "_addr", addr)
        object.__setattr__(self, "_arch", arch)

    @property
    def address(self) -> int:
        return self._addr

    def __getattr__(self, name):
        s, arch = self._s, self._arch
        try:
            off, t = s._resolve(arch, name)
        except KeyError as e:
            raise AttributeError(str(e)) from None
        if isinstance(t, Struct):
            return StructView(t, self._mem, self._addr + off, arch)
        return s.read(self._mem, self._addr, arch, name)[name]

    def __getitem__(self, path):
        return self.__getattr__(path)

    def __setattr__(self, name, value):
        self._s.write(self._mem, self._addr, self._arch, **{name: value})

    __setitem__ = __setattr__

    def addr_of(self, path: str) -> int:
        return self._addr + self._s.offset(self._arch, path)

    def __repr__(self):
        return f"<{self._s.name} view @ {self._addr:#x} ({self._arch})>"


class PerArch:
    """One name with a different structure per architecture (CONTEXT: CONTEXT_X86 on x86, CONTEXT_AMD64 on x64)."""

    def __init__(self, name: str, **by_arch: Struct):
        self.name = name
        self.by_arch = by_arch

    def __call__(self, arch: str) -> Struct:
        return self.by_arch[_check_arch(arch)]

    def size(self, arch):
        return self(arch).size(arch)

    def align(self, arch):
        return self(arch).align(arch)

    def offset(self, arch, path):
        return self(arch).offset(arch, path)

    def has(self, arch, path):
        return self(arch).has(arch, path)

    def fields(self, arch):
        return self(arch).fields(arch)

    def pack(self, arch, **values):
        return self(arch).pack(arch, **values)

    def unpack(self, arch, data):
        return self(arch).unpack(arch, data)

    def write(self, mem, addr, arch, **values):
        return self(arch).write(mem, addr, arch, **values)

    def read(self, mem, addr, arch, *names):
        return self(arch).read(mem, addr, arch, *names)

    def view(self, mem, addr, arch):
        return self(arch).view(mem, addr, arch)

    def __repr__(self):
        return f"<per-arch struct {self.name}>"


# ---- primitive types ------------------------------------------------------------------------------------------
UCHAR = Prim("UCHAR", 1)
CHAR = Prim("CHAR", 1, signed=True, text="latin-1")
BOOLEAN = Prim("BOOLEAN", 1)
USHORT = Prim("USHORT", 2)
SHORT = Prim("SHORT", 2, signed=True)
WCHAR = Prim("WCHAR", 2, text="utf-16-le")
ULONG = Prim("ULONG", 4)
LONG = Prim("LONG", 4, signed=True)
ULONGLONG = Prim("ULONGLONG", 8)
LONGLONG = Prim("LONGLONG", 8, signed=True)
PVOID = Prim("PVOID", None)
HANDLE = Prim("HANDLE", None)
SIZE_T = Prim("SIZE_T", None)
ULONG_PTR = Prim("ULONG_PTR", None)
LONG_PTR = Prim("LONG_PTR", None, signed=True)
# Windows SDK spellings
BYTE, WORD, DWORD, DWORD64 = UCHAR, USHORT, ULONG, ULONGLONG
BOOL = LONG
