"""msvcp140_1.dll: the memory resources of <memory_resource> (std::pmr).

Three std::pmr::memory_resource objects live in the DLL's image (its internal data), each a vfptr to its
vftable: [the scalar deleting destructor, do_allocate(bytes, align), do_deallocate(p, bytes, align),
do_is_equal(other)] (memory_resource's virtual functions in declaration order); the slot in front of each
vftable, where a class's RTTI Complete Object Locator would be, is null (no RTTI is emitted for them here:
a dynamic_cast of one ends as the runtime's "no RTTI data" exception).

- new_delete_resource, aligned (_Aligned_new_delete_resource): an alignment above the default new alignment
  (x64 16, x86 8) allocates with the aligned operator new (_aligned_malloc) and frees with _aligned_free; a
  smaller one with operator new (malloc) and free. Out of memory: std::bad_alloc.
- new_delete_resource, unaligned (_Unaligned_new_delete_resource, /Zc:alignedNew-): operator new always.
- null_memory_resource: every allocation throws std::bad_alloc; deallocation does nothing.
do_is_equal is identity. The default resource (get/set_default_resource) is one pointer in the DLL's data:
null means the new_delete resource (the aligned or unaligned one, by the getter's name); setting null
restores that; the setters return the previous default.
"""
from __future__ import annotations

from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, internal_data, internal_function

DLL = "msvcp140_1.dll"
BLOB = "memory resources"
KINDS = ("aligned", "unaligned", "null")
SLOTS = ("`scalar deleting destructor'", "do_allocate", "do_deallocate", "do_is_equal")

internal_data(DLL, BLOB, 256)
for _k in KINDS:
    for _s in SLOTS:
        internal_function(DLL, f"{_k}_resource::{_s}")


class _Resources:
    def __init__(self, c):
        from winhatch.ldr import loader
        from winhatch.win32.vcruntime.cxx_classes import _internal_fn
        m = loader.state_of(c.proc).by_name[DLL]
        sec = next(x for x in m.pe.sections if x.name == api_mod.INTERNAL_DATA)
        layout, _ = api_mod.internal_data_layout(DLL)
        at = m.base + sec.virtual_address + layout[BLOB]
        P = c.ptr_size
        self.default_slot = at
        c.write_ptr(at, 0)
        self.obj: dict[str, int] = {}
        self.kind_of: dict[int, str] = {}
        at += P
        for kind in KINDS:
            vft = at + P                       # [COL (null)] [4 slots], then the object
            c.write_ptr(at, 0)
            for i, s in enumerate(SLOTS):
                c.write_ptr(vft + i * P, _internal_fn(c, DLL, f"{kind}_resource::{s}"))
            obj = vft + len(SLOTS) * P
            c.write_ptr(obj, vft)
            self.obj[kind] = obj
            self.kind_of[obj] = kind
            at = obj + P


def _res(c) -> _Resources:
    r = c.proc.subsystem.get("msvcp140_1")
    if r is None:
        r = c.proc.subsystem["msvcp140_1"] = _Resources(c)
    return r


def _declare(name: str, proto: str, fn, calls_guest: bool = False) -> None:
    api(DLL, proto, calls_guest=calls_guest)(fn)
    api_mod._REGISTRY[-1].name = name


def _default_new_align(c) -> int:
    return 16 if c.ptr_size == 8 else 8


def _allocate(c, this, nbytes, align):
    from winhatch.win32.msvcrt.stdlib import _aligned_malloc, _malloc
    from winhatch.win32.vcruntime.cxx_classes import MSVCP, throw
    kind = c.name.split("_resource::")[0]
    mask = (1 << (8 * c.ptr_size)) - 1
    nbytes, align = nbytes & mask, align & mask
    p = 0
    if kind == "aligned" and align > _default_new_align(c):
        p = _aligned_malloc(c, nbytes, align)
    elif kind != "null":
        p = _malloc(c, nbytes or 1)
    if not p:
        throw(c, "bad_alloc", dll=MSVCP)
        return 0
    return p


def _deallocate(c, this, p, nbytes, align):
    from winhatch.win32.msvcrt.stdlib import _aligned_free, free
    kind = c.name.split("_resource::")[0]
    if kind == "null" or not p:
        return
    if kind == "aligned" and (align & ((1 << (8 * c.ptr_size)) - 1)) > _default_new_align(c):
        _aligned_free(c, p)
    else:
        free(c, p)


def _is_equal(c, this, other):
    return int(this == other)


def _dtor(c, this, flags):
    return this     # the DLL's static objects are never deleted


for _k in KINDS:
    _declare(f"{_k}_resource::`scalar deleting destructor'",
             "void * __thiscall resource_dtor(void *this_, unsigned int flags)", _dtor)
    _declare(f"{_k}_resource::do_allocate", "void * __thiscall do_allocate(void *this_, size_t bytes, size_t align)",
             _allocate, calls_guest=True)
    _declare(f"{_k}_resource::do_deallocate",
             "void __thiscall do_deallocate(void *this_, void *p, size_t bytes, size_t align)", _deallocate,
             calls_guest=True)
    _declare(f"{_k}_resource::do_is_equal", "int __thiscall do_is_equal(void *this_, const void *other)", _is_equal)


@api(DLL, "void * __cdecl _Aligned_new_delete_resource(void)")
def _Aligned_new_delete_resource(c):
    return _res(c).obj["aligned"]


@api(DLL, "void * __cdecl _Unaligned_new_delete_resource(void)")
def _Unaligned_new_delete_resource(c):
    return _res(c).obj["unaligned"]


@api(DLL, "void * __cdecl null_memory_resource(void)")
def null_memory_resource(c):
    return _res(c).obj["null"]


def _get(c, kind: str) -> int:
    r = _res(c)
    return c.ptr(r.default_slot) or r.obj[kind]


@api(DLL, "void * __cdecl _Aligned_get_default_resource(void)")
def _Aligned_get_default_resource(c):
    return _get(c, "aligned")


@api(DLL, "void * __cdecl _Unaligned_get_default_resource(void)")
def _Unaligned_get_default_resource(c):
    return _get(c, "unaligned")


@api(DLL, "void * __cdecl _Aligned_set_default_resource(void *resource)")
def _Aligned_set_default_resource(c, resource):
    old = _get(c, "aligned")
    c.write_ptr(_res(c).default_slot, resource)
    return old


@api(DLL, "void * __cdecl _Unaligned_set_default_resource(void *resource)")
def _Unaligned_set_default_resource(c, resource):
    old = _get(c, "unaligned")
    c.write_ptr(_res(c).default_slot, resource)
    return old
