"""Memory manager: NtAllocate/Free/Protect/QueryVirtualMemory rules, sections and views, guard pages
through a real Unicorn run, and a model-based test against a per-page reference model."""
import ctypes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winhatch.cpu.ucbind import UcError
from winhatch.cpu.ucconst import (UC_HOOK_MEM_FETCH_PROT, UC_HOOK_MEM_READ_PROT, UC_HOOK_MEM_WRITE_PROT,
                                  UC_X86_REG_RAX, UC_X86_REG_RBX)
from winhatch.kernel.mm import (
    MEM_COMMIT, MEM_DECOMMIT, MEM_FREE, MEM_IMAGE, MEM_MAPPED, MEM_PRIVATE, MEM_RELEASE, MEM_RESERVE,
    MEM_TOP_DOWN, PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY,
    PAGE_GUARD, PAGE_NOACCESS, PAGE_NOCACHE, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOMBINE,
    PAGE_WRITECOPY, STATUS_IMAGE_NOT_AT_BASE, STATUS_MAPPED_ALIGNMENT, STATUS_NOT_COMMITTED,
    STATUS_SECTION_PROTECTION, STATUS_UNABLE_TO_DELETE_SECTION, AddressSpace, MemoryBackend,
    Section, UnicornBackend, to_perms,
)
from winhatch.ntstatus import (
    STATUS_ACCESS_VIOLATION, STATUS_CONFLICTING_ADDRESSES,
    STATUS_FREE_VM_NOT_AT_BASE, STATUS_GUARD_PAGE_VIOLATION, STATUS_INVALID_PAGE_PROTECTION,
    STATUS_INVALID_PARAMETER, STATUS_INVALID_VIEW_SIZE, STATUS_MEMORY_NOT_ALLOCATED, STATUS_NO_MEMORY, STATUS_COMMITMENT_LIMIT,
    STATUS_NOT_MAPPED_VIEW, STATUS_SUCCESS, STATUS_UNABLE_TO_FREE_VM, NtStatusError,
)

P = 0x1000
G = 0x10000


def new_space(arch="x64", **kw):
    be = UnicornBackend(arch=arch)
    return AddressSpace(be, arch=arch, **kw), be


def status_of(fn, *a, **kw):
    with pytest.raises(NtStatusError) as ei:
        fn(*a, **kw)
    return ei.value.status


def uc_pages(be, lo, hi):
    """page address -> unicorn perms for every mapped page in [lo, hi)."""
    out = {}
    for s, e, perms in be.regions():
        for pg in range(max(s, lo), min(e, hi), P):
            out[pg] = perms
    return out


# ------------------------------------------------------------------------------------------------
# allocation rules
# ------------------------------------------------------------------------------------------------
def test_backend_protocol():
    assert isinstance(UnicornBackend(), MemoryBackend)


def test_reserve_rounding_and_granularity():
    asp, _ = new_space()
    # explicit base: start rounded down to 64 KiB, end rounded up to a page
    assert asp.allocate(0x12345678, 0x1000, MEM_RESERVE, PAGE_READWRITE) == (0x12340000, 0x7000)
    # no base: 64 KiB aligned, bottom-up from 0x10000, the unusable tail of a 64 KiB block stays free
    b1, s1 = asp.allocate(None, 0x1001, MEM_RESERVE, PAGE_READWRITE)
    b2, s2 = asp.allocate(None, 0x1000, MEM_COMMIT, PAGE_READWRITE)  # COMMIT without base reserves too
    assert (b1, s1) == (0x10000, 0x2000)
    assert (b2, s2) == (0x20000, 0x1000)
    tail = asp.query(b1 + s1)
    assert (tail.State, tail.BaseAddress, tail.RegionSize, tail.AllocationBase) == (MEM_FREE, 0x12000, 0xE000, 0)
    assert tail.Protect == PAGE_NOACCESS and tail.Type == 0 and tail.AllocationProtect == 0


def test_commit_rounds_to_pages_inside_reservation():
    asp, be = new_space()
    base, _ = asp.allocate(None, 0x100000, MEM_RESERVE, PAGE_NOACCESS)
    assert asp.allocate(base + 0x1234, 0x10, MEM_COMMIT, PAGE_READWRITE) == (base + 0x1000, 0x1000)
    assert asp.allocate(base + 0x1FFF, 2, MEM_COMMIT, PAGE_READWRITE) == (base + 0x1000, 0x2000)
    assert asp.query(base + 0x1000).RegionSize == 0x2000
    assert uc_pages(be, base, base + 0x100000) == {base + 0x1000: 3, base + 0x2000: 3}


@pytest.mark.parametrize("arch,laa,expected", [
    ("x64", True, 0x7FFF_FFFE_0000),
    ("x86", True, 0xFFFE_0000),
    ("x86", False, 0x7FFE_0000),
])
def test_top_down(arch, laa, expected):
    asp, _ = new_space(arch, large_address_aware=laa)
    base, size = asp.allocate(None, 0x1000, MEM_RESERVE | MEM_TOP_DOWN, PAGE_READWRITE)
    assert base == expected and size == 0x1000
    b2, _ = asp.allocate(None, 0x20000, MEM_RESERVE, PAGE_READWRITE, top_down=True)
    assert b2 == expected - 0x20000
    assert asp.highest_user_address == {True: {"x64": 0x7FFF_FFFE_FFFF, "x86": 0xFFFE_FFFF},
                                        False: {"x86": 0x7FFE_FFFF}}[laa][arch]
    assert status_of(asp.query, asp.highest_user_address + 1) == STATUS_INVALID_PARAMETER
    last = asp.query(expected + 0x1000)
    assert last.State == MEM_FREE and last.BaseAddress + last.RegionSize == asp.highest_user_address + 1


def test_allocation_errors():
    asp, _ = new_space()
    base, _ = asp.allocate(0x400000, 0x20000, MEM_RESERVE, PAGE_READWRITE)
    assert status_of(asp.allocate, 0x410000, 0x1000, MEM_RESERVE, PAGE_READWRITE) == STATUS_CONFLICTING_ADDRESSES
    assert status_of(asp.allocate, 0x3F0000, 0x20000, MEM_RESERVE, PAGE_READWRITE) == STATUS_CONFLICTING_ADDRESSES
    # commit outside any reservation / across its end
    assert status_of(asp.allocate, 0x900000, 0x1000, MEM_COMMIT, PAGE_READWRITE) == STATUS_CONFLICTING_ADDRESSES
    assert status_of(asp.allocate, 0x41F000, 0x2000, MEM_COMMIT, PAGE_READWRITE) == STATUS_CONFLICTING_ADDRESSES
    # invalid protections
    for bad in (PAGE_GUARD | PAGE_NOACCESS, PAGE_READONLY | PAGE_READWRITE, 0, 0x800,
                PAGE_READWRITE | PAGE_NOCACHE | PAGE_WRITECOMBINE, PAGE_READWRITE | PAGE_GUARD | PAGE_NOCACHE,
                PAGE_WRITECOPY, PAGE_EXECUTE_WRITECOPY):
        assert status_of(asp.allocate, None, 0x1000, MEM_COMMIT, bad) == STATUS_INVALID_PAGE_PROTECTION, hex(bad)
    # modifiers on an accessible protection are fine
    b, _ = asp.allocate(None, 0x1000, MEM_COMMIT, PAGE_READWRITE | PAGE_NOCACHE)
    assert asp.query(b).Protect == PAGE_READWRITE | PAGE_NOCACHE
    # bad types / sizes / ranges
    assert status_of(asp.allocate, None, 0x1000, MEM_DECOMMIT, PAGE_READWRITE) == STATUS_INVALID_PARAMETER
    assert status_of(asp.allocate, None, 0x1000, 0, PAGE_READWRITE) == STATUS_INVALID_PARAMETER
    assert status_of(asp.allocate, None, 0, MEM_RESERVE, PAGE_READWRITE) == STATUS_INVALID_PARAMETER
    assert status_of(asp.allocate, 0x7FFF_FFFF_0000, 0x1000, MEM_RESERVE, PAGE_READWRITE) == STATUS_INVALID_PARAMETER
    assert status_of(asp.allocate, 0x1000, 0x1000, MEM_RESERVE, PAGE_READWRITE) == STATUS_INVALID_PARAMETER
    asp86, _ = new_space("x86", large_address_aware=False)
    assert status_of(asp86.allocate, 0x80000000, 0x1000, MEM_RESERVE, PAGE_READWRITE) == STATUS_INVALID_PARAMETER
    assert status_of(asp86.allocate, None, 0x8000_0000, MEM_RESERVE, PAGE_READWRITE) == STATUS_NO_MEMORY


def test_commit_limit_and_counters():
    asp, _ = new_space(commit_limit=0x10000)
    base, _ = asp.allocate(None, 0x100000, MEM_RESERVE, PAGE_READWRITE)  # reserving is free
    asp.allocate(base, 0x8000, MEM_COMMIT, PAGE_READWRITE)
    asp.allocate(base, 0x8000, MEM_COMMIT, PAGE_READONLY)                # re-commit charges nothing
    assert asp.counters["commit_charge"] == 0x8000
    assert asp.query(base).Protect == PAGE_READONLY                      # ... and takes the new protection
    # past the commit limit: STATUS_COMMITMENT_LIMIT (ERROR_COMMITMENT_LIMIT), as on Windows
    assert status_of(asp.allocate, base + 0x8000, 0x9000, MEM_COMMIT, PAGE_READWRITE) == STATUS_COMMITMENT_LIMIT
    assert asp.query(base + 0x8000).State == MEM_RESERVE                 # nothing half-done
    assert status_of(asp.allocate, None, 0x9000, MEM_COMMIT, PAGE_READWRITE) == STATUS_COMMITMENT_LIMIT
    asp.allocate(base + 0x8000, 0x8000, MEM_COMMIT, PAGE_READWRITE)
    asp.free(base, 0x4000, MEM_DECOMMIT)
    c = asp.counters
    assert c["commit_charge"] == c["private_bytes"] == 0xC000 and c["peak_commit"] == 0x10000
    asp.free(base, 0, MEM_RELEASE)
    assert asp.counters["commit_charge"] == 0 and asp.counters["peak_commit"] == 0x10000


def test_free_rules():
    asp, be = new_space()
    base, size = asp.allocate(None, 0x40000, MEM_COMMIT, PAGE_READWRITE)
    assert status_of(asp.free, base + 0x1000, 0, MEM_RELEASE) == STATUS_FREE_VM_NOT_AT_BASE
    assert status_of(asp.free, base, 0x41000, MEM_DECOMMIT) == STATUS_UNABLE_TO_FREE_VM
    assert status_of(asp.free, 0x7000_0000, 0, MEM_RELEASE) == STATUS_MEMORY_NOT_ALLOCATED
    assert status_of(asp.free, base, 0, MEM_DECOMMIT | MEM_RELEASE) == STATUS_INVALID_PARAMETER
    assert status_of(asp.free, base, 0, 0) == STATUS_INVALID_PARAMETER
    # decommit a middle range, rounded to pages: unmapped in the CPU, contents gone
    asp.write(base + 0x2000, b"hello")
    assert asp.free(base + 0x2010, 0x1000, MEM_DECOMMIT) == (base + 0x2000, 0x2000)
    m = asp.query(base + 0x2000)
    assert (m.State, m.Protect, m.RegionSize, m.AllocationBase) == (MEM_RESERVE, 0, 0x2000, base)
    assert base + 0x2000 not in uc_pages(be, base, base + size)
    assert status_of(asp.read, base + 0x2000, 1) == STATUS_ACCESS_VIOLATION
    asp.allocate(base + 0x2000, 0x1000, MEM_COMMIT, PAGE_READWRITE)
    assert asp.read(base + 0x2000, 5) == b"\0" * 5
    # decommit with size 0 means the whole allocation: only at its base (ntdll/virtual.c, written on Windows)
    assert status_of(asp.free, base + 0x30000, 0, MEM_DECOMMIT) == STATUS_FREE_VM_NOT_AT_BASE
    assert asp.free(base + 0xffe, 0, MEM_DECOMMIT) == (base, size)
    # release with size 0 at the base releases all (sizes reported)
    assert asp.free(base, 0, MEM_RELEASE) == (base, size)
    assert asp.query(base).State == MEM_FREE
    assert uc_pages(be, base, base + size) == {}
    assert status_of(asp.free, base, 0, MEM_RELEASE) == STATUS_MEMORY_NOT_ALLOCATED


def test_partial_release_splits_allocation():
    asp, _ = new_space()
    base, _ = asp.allocate(None, 0x10000, MEM_COMMIT, PAGE_READWRITE)
    assert asp.free(base + 0x4000, 0x4000, MEM_RELEASE) == (base + 0x4000, 0x4000)
    assert asp.query(base).RegionSize == 0x4000 and asp.query(base).AllocationBase == base
    assert asp.query(base + 0x4000).State == MEM_FREE and asp.query(base + 0x4000).RegionSize == 0x4000
    upper = asp.query(base + 0x8000)
    assert upper.AllocationBase == base + 0x8000 and upper.RegionSize == 0x8000 and upper.State == MEM_COMMIT
    assert asp.counters["private_bytes"] == 0xC000


def test_protect_rules():
    asp, be = new_space()
    base, _ = asp.allocate(None, 0x10000, MEM_RESERVE, PAGE_READWRITE)
    asp.allocate(base, 0x4000, MEM_COMMIT, PAGE_READWRITE)
    assert asp.protect(base + 0x1000, 0x1800, PAGE_EXECUTE_READ) == PAGE_READWRITE
    assert asp.protect(base + 0x1000, 1, PAGE_READONLY | PAGE_GUARD) == PAGE_EXECUTE_READ
    assert asp.protect(base + 0x1000, 1, PAGE_READONLY) == PAGE_READONLY | PAGE_GUARD  # old has GUARD
    assert uc_pages(be, base, base + 0x4000) == {base: 3, base + 0x1000: 1, base + 0x2000: 5, base + 0x3000: 3}
    assert status_of(asp.protect, base + 0x3000, 0x2000, PAGE_READONLY) == STATUS_NOT_COMMITTED
    assert status_of(asp.protect, base, 0x11000, PAGE_READONLY) == STATUS_CONFLICTING_ADDRESSES
    assert status_of(asp.protect, 0x7000_0000, 0x1000, PAGE_READONLY) == STATUS_MEMORY_NOT_ALLOCATED
    assert status_of(asp.protect, base, 0x1000, PAGE_WRITECOPY) == STATUS_INVALID_PAGE_PROTECTION
    assert status_of(asp.protect, base, 0x1000, PAGE_NOACCESS | PAGE_GUARD) == STATUS_INVALID_PAGE_PROTECTION
    assert status_of(asp.protect, base, 0, PAGE_READONLY) == STATUS_INVALID_PARAMETER
    # NOACCESS pages are mapped without access; the kernel can still read them
    asp.write(base, b"abc")
    asp.protect(base, 0x1000, PAGE_NOACCESS)
    assert uc_pages(be, base, base + 0x1000) == {base: 0}
    assert asp.read(base, 3) == b"abc"


def test_mbi_multi_protection_allocation():
    asp, _ = new_space()
    base, _ = asp.allocate(0x500000, 0x10000, MEM_RESERVE, PAGE_EXECUTE_READWRITE, tag=("heap",))
    asp.allocate(base, 0x3000, MEM_COMMIT, PAGE_READWRITE)
    asp.allocate(base + 0x3000, 0x2000, MEM_COMMIT, PAGE_READONLY)
    asp.protect(base + 0x1000, 0x1000, PAGE_READWRITE | PAGE_GUARD)
    asp.allocate(base + 0x8000, 0x1000, MEM_COMMIT, PAGE_EXECUTE_READ)
    got = [m.as_tuple() for m in asp.regions() if m.AllocationBase == base]
    ap, C, R, T = PAGE_EXECUTE_READWRITE, MEM_COMMIT, MEM_RESERVE, MEM_PRIVATE
    assert got == [
        (base, base, ap, 0x1000, C, PAGE_READWRITE, T),
        (base + 0x1000, base, ap, 0x1000, C, PAGE_READWRITE | PAGE_GUARD, T),
        (base + 0x2000, base, ap, 0x1000, C, PAGE_READWRITE, T),
        (base + 0x3000, base, ap, 0x2000, C, PAGE_READONLY, T),
        (base + 0x5000, base, ap, 0x3000, R, 0, T),
        (base + 0x8000, base, ap, 0x1000, C, PAGE_EXECUTE_READ, T),
        (base + 0x9000, base, ap, 0x7000, R, 0, T),
    ]
    # a query in the middle of a region starts at that page and runs to the region's end
    m = asp.query(base + 0x6123)
    assert (m.BaseAddress, m.RegionSize, m.State) == (base + 0x6000, 0x2000, MEM_RESERVE)
    assert all(m.tag == ("heap",) for m in asp.regions() if m.AllocationBase == base)
    assert asp.allocation_at(base + 0x9000).tag == ("heap",)
    # free space before: base 0, from the previous allocation's end to this one
    free = asp.query(0)
    assert (free.BaseAddress, free.RegionSize, free.State, free.AllocationBase) == (0, base, MEM_FREE, 0)
    walk = asp.regions()
    assert walk[0].BaseAddress == 0
    assert sum(m.RegionSize for m in walk) == asp.highest_user_address + 1


def test_huge_allocation_uses_runs_not_pages():
    asp, be = new_space()
    base, size = asp.allocate(None, 1 << 30, MEM_RESERVE, PAGE_READWRITE)  # 1 GiB
    asp.allocate(base, 256 << 20, MEM_COMMIT, PAGE_READWRITE)              # 256 MiB committed
    a = asp.allocation_at(base)
    assert len(a.pages) == 2
    asp.protect(base + (100 << 20), 0x1000, PAGE_READONLY)
    assert len(a.pages) == 4
    assert asp.query(base).RegionSize == 100 << 20
    assert asp.query(base + (256 << 20)).RegionSize == (1 << 30) - (256 << 20)
    asp.write(base + (200 << 20), b"x")
    assert asp.read(base + (200 << 20), 1) == b"x"
    asp.free(base, 0, MEM_RELEASE)


def test_backend_regions_stay_few_when_growing_page_by_page():
    """A stack committed one page at a time (guard page moving down) ends up as few CPU regions."""
    asp, be = new_space()
    base, size = asp.allocate(None, 0x100000, MEM_RESERVE, PAGE_READWRITE, tag=("stack", 1))
    top = base + size
    asp.allocate(top - 0x1000, 0x1000, MEM_COMMIT, PAGE_READWRITE)
    asp.allocate(top - 0x2000, 0x1000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD)
    for i in range(2, 60):
        g = top - (i + 1) * 0x1000
        asp.allocate(g, 0x1000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD)
        assert asp.handle_fault(g + 0x1000, 1) == STATUS_GUARD_PAGE_VIOLATION
    asp.write(top - 0x1000, b"top!")
    assert len(be.regions()) == 2 == asp.counters["backend_regions"]  # RW run + guard page
    assert asp.read(top - 0x1000, 4) == b"top!"
    assert asp.query(top - 60 * 0x1000).Protect == PAGE_READWRITE | PAGE_GUARD
    assert asp.query(top - 59 * 0x1000).RegionSize == 59 * 0x1000


def test_kernel_read_write_need_committed_memory():
    asp, _ = new_space()
    base, _ = asp.allocate(None, 0x3000, MEM_RESERVE, PAGE_READWRITE)
    asp.allocate(base, 0x1000, MEM_COMMIT, PAGE_READONLY)
    asp.write(base + 0xFFE, b"ab")   # ignores page protection
    assert asp.read(base + 0xFFE, 2) == b"ab"
    assert status_of(asp.write, base + 0xFFF, b"ab") == STATUS_ACCESS_VIOLATION  # 2nd byte reserved
    assert status_of(asp.read, 0x7000_0000, 1) == STATUS_ACCESS_VIOLATION
    # a read spanning two adjacent committed allocations works
    b2, _ = asp.allocate(0x6000_0000, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)
    b3, _ = asp.allocate(0x6001_0000, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)
    asp.write(b3 - 2, b"XYZW")
    assert asp.read(b2 + 0xFFFE, 4) == b"XYZW"


# ------------------------------------------------------------------------------------------------
# guard pages and faults through a real Unicorn run
# ------------------------------------------------------------------------------------------------
def test_guard_page_one_shot_through_unicorn():
    asp, be = new_space()
    uc = be.uc
    code, _ = asp.allocate(None, 0x1000, MEM_COMMIT, PAGE_READWRITE)
    asp.write(code, bytes.fromhex("488B03"))           # mov rax, [rbx]
    asp.protect(code, 0x1000, PAGE_EXECUTE_READ)
    data, _ = asp.allocate(None, 0x2000, MEM_COMMIT, PAGE_READWRITE)
    asp.write(data + 0x1008, (0x1122334455667788).to_bytes(8, "little"))
    asp.protect(data + 0x1000, 0x1000, PAGE_READWRITE | PAGE_GUARD)
    faults = []

    def on_prot(uc_, access, addr, size, value, user):
        faults.append(addr)
        return False

    uc.hook_add(UC_HOOK_MEM_READ_PROT | UC_HOOK_MEM_WRITE_PROT | UC_HOOK_MEM_FETCH_PROT, on_prot)

    def run():
        uc.reg_write(UC_X86_REG_RBX, data + 0x1008)
        uc.reg_write(UC_X86_REG_RAX, 0)
        uc.emu_start(code, code + 3)
        return uc.reg_read(UC_X86_REG_RAX)

    with pytest.raises(UcError):
        run()
    assert faults == [data + 0x1008]
    assert asp.handle_fault(faults[0], 0) == STATUS_GUARD_PAGE_VIOLATION
    assert asp.query(data + 0x1000).Protect == PAGE_READWRITE      # guard cleared
    assert run() == 0x1122334455667788                             # second touch succeeds
    assert len(faults) == 1
    # a NOACCESS page faults for good
    asp.protect(data + 0x1000, 0x1000, PAGE_NOACCESS)
    with pytest.raises(UcError):
        run()
    assert asp.handle_fault(data + 0x1008, 0) == STATUS_ACCESS_VIOLATION
    assert asp.handle_fault(0x7000_0000, 0) == STATUS_ACCESS_VIOLATION
    # executing a read-write (NX) page is a protection fault too
    asp.protect(code, 0x1000, PAGE_READWRITE)
    with pytest.raises(UcError):
        run()
    assert faults[-1] == code and asp.handle_fault(code, 8) == STATUS_ACCESS_VIOLATION


def test_to_perms():
    assert to_perms(PAGE_READONLY) == 1 and to_perms(PAGE_READWRITE) == 3
    assert to_perms(PAGE_EXECUTE_READ) == 5 and to_perms(PAGE_EXECUTE_READWRITE) == 7
    assert to_perms(PAGE_EXECUTE_READWRITE | PAGE_GUARD) == 0 and to_perms(PAGE_NOACCESS) == 0


# ------------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------------
def test_data_section_shared_between_two_address_spaces():
    sec = Section.create_data(0x3000, PAGE_READWRITE, name="shm")
    a1, be1 = new_space()
    a2, be2 = new_space("x86")
    v1 = a1.map_view(sec, tag=("mapped", "shm"))
    v2 = a2.map_view(sec, 0x30000000)
    assert v1 == (0x10000, 0x3000) and v1.status == STATUS_SUCCESS
    assert v2 == (0x30000000, 0x3000)
    m = a1.query(v1.base)
    assert (m.Type, m.State, m.Protect, m.AllocationProtect, m.RegionSize) == (MEM_MAPPED, MEM_COMMIT, PAGE_READWRITE, PAGE_READWRITE, 0x3000)
    a1.write(v1.base + 0x1800, b"shared!")
    assert a2.read(v2.base + 0x1800, 7) == b"shared!"
    be2.uc.mem_write(v2.base + 10, b"guest")           # a guest store in process 2...
    assert a1.read(v1.base + 10, 5) == b"guest"        # ...is seen by process 1
    assert a1.counters["mapped_bytes"] == 0x3000 and a1.counters["commit_charge"] == 0
    # a WRITECOPY view gets private copies
    a3, _ = new_space()
    v3 = a3.map_view(sec, protect=PAGE_WRITECOPY)
    assert a3.read(v3.base + 10, 5) == b"guest"
    a3.write(v3.base + 10, b"mine!")
    assert a1.read(v1.base + 10, 5) == b"guest"
    assert a3.query(v3.base).Protect == PAGE_READWRITE            # written copy-on-write page
    assert a3.query(v3.base + 0x1000).Protect == PAGE_WRITECOPY
    assert a3.counters["commit_charge"] == 0x3000
    # view protections are limited by the view's/section's
    ro = a1.map_view(sec, protect=PAGE_READONLY)
    assert status_of(a1.protect, ro.base, 0x1000, PAGE_READWRITE) == STATUS_SECTION_PROTECTION
    a1.protect(ro.base, 0x1000, PAGE_NOACCESS)
    assert status_of(a1.map_view, sec, protect=PAGE_EXECUTE_READ) == STATUS_SECTION_PROTECTION
    assert status_of(a1.map_view, Section.create_data(0x1000, PAGE_READONLY), protect=PAGE_READWRITE) == STATUS_SECTION_PROTECTION
    # views are not VirtualFree'able, unmapping takes any address inside
    assert status_of(a1.free, v1.base, 0, MEM_RELEASE) == STATUS_UNABLE_TO_DELETE_SECTION
    # MEM_COMMIT in a view of a pagefile section sets a protection the view allows (kernel32/virtual.c)
    assert a1.allocate(v1.base, 0x1000, MEM_COMMIT, PAGE_READONLY) == (v1.base, 0x1000)
    assert a1.query(v1.base).Protect == PAGE_READONLY
    assert status_of(a1.allocate, ro.base, 0x1000, MEM_COMMIT, PAGE_READWRITE) == STATUS_SECTION_PROTECTION
    a1.unmap_view(v1.base + 0x2000)
    assert a1.query(v1.base).State == MEM_FREE and a1.counters["mapped_bytes"] == 0x3000
    assert status_of(a1.unmap_view, v1.base) == STATUS_NOT_MAPPED_VIEW
    b, _ = a1.allocate(None, 0x1000, MEM_COMMIT, PAGE_READWRITE)
    assert status_of(a1.unmap_view, b) == STATUS_NOT_MAPPED_VIEW
    assert a2.read(v2.base + 0x1800, 7) == b"shared!"  # the other view lives on


def test_data_view_offsets_sizes_and_conflicts():
    sec = Section.create_data(0x30000)
    asp, _ = new_space()
    v = asp.map_view(sec, offset=0x10000, size=0x1800)
    assert v.size == 0x2000
    sec.write(0x10000, b"at64k")
    assert asp.read(v.base, 5) == b"at64k"
    assert status_of(asp.map_view, sec, offset=0x1000) == STATUS_MAPPED_ALIGNMENT
    assert status_of(asp.map_view, sec, 0x12341000) == STATUS_MAPPED_ALIGNMENT
    assert status_of(asp.map_view, sec, offset=0x20000, size=0x20000) == STATUS_INVALID_VIEW_SIZE
    assert status_of(asp.map_view, sec, offset=0x30000) == STATUS_INVALID_VIEW_SIZE
    asp.allocate(0x800000, 0x1000, MEM_RESERVE, PAGE_READWRITE)
    assert status_of(asp.map_view, sec, 0x7F0000) == STATUS_CONFLICTING_ADDRESSES
    assert status_of(asp.map_view, sec, 0x800000) == STATUS_CONFLICTING_ADDRESSES


def make_image(size=0x5000, image_base=0x140000000, name="demo.exe"):
    img = bytearray(size)
    img[0:2] = b"MZ"
    img[0x1000:0x1004] = b"\x90\x90\xC3\xCC"    # .text
    img[0x3000:0x3008] = b"rdata..."            # .rdata
    img[0x4000:0x4004] = b"DATA"                # .data
    prots = [(0x1000, 0x1800, PAGE_EXECUTE_READ), (0x3000, 0x1000, PAGE_READONLY), (0x4000, 0x800, PAGE_READWRITE)]
    return Section.create_image(img, prots, name, image_base)


def test_image_section_views():
    sec = make_image()
    a1, be1 = new_space()
    a2, be2 = new_space()
    v1 = a1.map_view(sec, tag=("image", "demo.exe"))
    v2 = a2.map_view(sec)
    assert v1 == (0x140000000, 0x5000) and v1.status == STATUS_SUCCESS and v2.status == STATUS_SUCCESS
    got = [(m.BaseAddress - v1.base, m.RegionSize, m.Protect, m.Type, m.AllocationProtect)
           for m in a1.regions() if m.AllocationBase == v1.base]
    E = PAGE_EXECUTE_WRITECOPY
    assert got == [(0, 0x1000, PAGE_READONLY, MEM_IMAGE, E), (0x1000, 0x2000, PAGE_EXECUTE_READ, MEM_IMAGE, E),
                   (0x3000, 0x1000, PAGE_READONLY, MEM_IMAGE, E), (0x4000, 0x1000, PAGE_WRITECOPY, MEM_IMAGE, E)]
    assert a1.allocation_at(v1.base).tag == ("image", "demo.exe")
    assert a1.counters["image_bytes"] == 0x5000 and a1.counters["commit_charge"] == 0x1000
    # read-only pages are the section's host memory: a change there shows in both processes
    sec.write(0x1000, b"\xCC")
    assert a1.read(v1.base + 0x1000, 1) == b"\xCC" == a2.read(v2.base + 0x1000, 1)
    # writable pages are private per view (a guest store in one process is not seen in the other)
    be1.uc.mem_write(v1.base + 0x4000, b"AAAA")
    assert a2.read(v2.base + 0x4000, 4) == b"DATA" and sec.read(0x4000, 4) == b"DATA"
    # a kernel write to a shared read-only page makes a private copy first
    a1.write(v1.base + 0x3000, b"patched")
    assert a1.read(v1.base + 0x3000, 7) == b"patched"
    assert a2.read(v2.base + 0x3000, 7) == b"rdata.." and sec.read(0x3000, 7) == b"rdata.."
    assert a1.query(v1.base + 0x3000).Protect == PAGE_READONLY
    assert a1.counters["commit_charge"] == 0x2000
    sec.write(0x3000, b"R")  # no longer shared in process 1
    assert a1.read(v1.base + 0x3000, 1) == b"p" and a2.read(v2.base + 0x3000, 1) == b"R"
    # VirtualProtect(RW) on code shows WRITECOPY and copies; a write then shows READWRITE
    old = a2.protect(v2.base + 0x1000, 0x1000, PAGE_EXECUTE_READWRITE)
    assert old == PAGE_EXECUTE_READ
    assert a2.query(v2.base + 0x1000).Protect == PAGE_EXECUTE_WRITECOPY
    be2.uc.mem_write(v2.base + 0x1000, b"\x90")   # guest-level write goes to the private copy
    assert sec.read(0x1000, 1) == b"\xCC" and a1.read(v1.base + 0x1000, 1) == b"\xCC"
    a2.write(v2.base + 0x1001, b"\x90")
    assert a2.query(v2.base + 0x1000).Protect == PAGE_EXECUTE_READWRITE
    assert a2.query(v2.base + 0x1000).RegionSize == 0x1000
    assert a2.protect(v2.base + 0x1000, 0x1000, PAGE_EXECUTE_READ) == PAGE_EXECUTE_READWRITE
    # CPU permissions follow the page protections; shared pages are never writable in the CPU
    perms = uc_pages(be1, v1.base, v1.base + 0x5000)
    assert [perms[v1.base + i * P] for i in range(5)] == [1, 5, 5, 1, 3]
    a1.unmap_view(v1.base)
    assert a1.counters["commit_charge"] == 0 and a1.counters["image_bytes"] == 0
    assert uc_pages(be1, v1.base, v1.base + 0x5000) == {}


def test_image_not_at_base_and_explicit_base():
    sec = make_image(image_base=0x400000)
    asp, _ = new_space("x86")
    v1 = asp.map_view(sec)
    assert v1.base == 0x400000 and v1.status == STATUS_SUCCESS
    v2 = asp.map_view(sec)
    assert v2.status == STATUS_IMAGE_NOT_AT_BASE and v2.base != 0x400000 and v2.base % G == 0
    assert asp.allocation_at(v2.base).relocated
    assert asp.read(v2.base + 0x1000, 2) == b"\x90\x90"
    assert status_of(asp.map_view, sec, 0x400000) == STATUS_CONFLICTING_ADDRESSES
    v3 = asp.map_view(sec, 0x20000000)
    assert v3 == (0x20000000, 0x5000)
    high = make_image(image_base=0x1_4000_0000)       # above a WoW64 address space
    v4 = asp.map_view(high)
    assert v4.status == STATUS_IMAGE_NOT_AT_BASE and v4.base < 0xFFFF0000


def test_image_writecopy_charge_respects_commit_limit():
    sec = make_image()
    asp, _ = new_space(commit_limit=0)
    assert status_of(asp.map_view, sec) == STATUS_COMMITMENT_LIMIT
    assert asp.query(0x140000000).State == MEM_FREE


def test_destroy_releases_everything():
    sec = make_image()
    asp, be = new_space()
    asp.map_view(sec)
    asp.allocate(None, 0x5000, MEM_COMMIT, PAGE_READWRITE)
    asp.destroy()
    assert be.regions() == [] and asp.allocations() == [] and asp.counters["commit_charge"] == 0
    assert sec.views == 0


# ------------------------------------------------------------------------------------------------
# model-based test against a per-page reference model
# ------------------------------------------------------------------------------------------------
WIN_LO, WIN_HI = 0x100000, 0x100000 + 8 * G
PROTS = [PAGE_READONLY, PAGE_READWRITE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_NOACCESS,
         PAGE_READWRITE | PAGE_GUARD, PAGE_EXECUTE, PAGE_WRITECOPY]
PERMS = {PAGE_READONLY: 1, PAGE_READWRITE: 3, PAGE_EXECUTE_READ: 5, PAGE_EXECUTE_READWRITE: 7,
         PAGE_NOACCESS: 0, PAGE_READWRITE | PAGE_GUARD: 0, PAGE_EXECUTE: 5}


class Model:
    """Per-page reference: page -> [alloc_base, state, protect]; allocs: base -> (end, alloc_protect)."""

    def __init__(self):
        self.pages = {}
        self.allocs = {}

    def alloc_of(self, addr):
        for b, (e, _) in self.allocs.items():
            if b <= addr < e:
                return b
        return None

    def reserve(self, base, size, commit, prot):
        if prot in (PAGE_WRITECOPY,):
            return STATUS_INVALID_PAGE_PROTECTION
        start, end = base & ~(G - 1), (base + size + P - 1) & ~(P - 1)
        if any(self.alloc_of(p) is not None for p in range(start, end, P)):
            return STATUS_CONFLICTING_ADDRESSES
        self.allocs[start] = (end, prot)
        for p in range(start, end, P):
            self.pages[p] = [start, MEM_COMMIT if commit else MEM_RESERVE, prot if commit else 0]
        return (start, end - start)

    def commit(self, base, size, prot):
        start, end = base & ~(P - 1), (base + size + P - 1) & ~(P - 1)
        a = self.alloc_of(start)
        if a is None or end > self.allocs[a][0]:
            return STATUS_CONFLICTING_ADDRESSES
        if prot == PAGE_WRITECOPY:
            return STATUS_INVALID_PAGE_PROTECTION
        for p in range(start, end, P):
            self.pages[p][1:] = [MEM_COMMIT, prot]
        return (start, end - start)

    def free(self, base, size, ftype):
        a = self.alloc_of(base)
        if a is None:
            return STATUS_MEMORY_NOT_ALLOCATED
        aend, aprot = self.allocs[a]
        start = base & ~(P - 1)
        if size == 0:   # the whole allocation, decommit or release: only at its base (ntdll/virtual.c)
            if start != a:
                return STATUS_FREE_VM_NOT_AT_BASE
            end = aend
        else:
            end = (base + size + P - 1) & ~(P - 1)
            if end > aend:
                return STATUS_UNABLE_TO_FREE_VM
        if ftype == MEM_DECOMMIT:
            for p in range(start, end, P):
                self.pages[p][1:] = [MEM_RESERVE, 0]
            return (start, end - start)
        for p in range(start, end, P):
            del self.pages[p]
        del self.allocs[a]
        if start > a:
            self.allocs[a] = (start, aprot)
        if aend > end:
            self.allocs[end] = (aend, aprot)
            for p in range(end, aend, P):
                self.pages[p][0] = end
        return (start, end - start)

    def protect(self, base, size, prot):
        start, end = base & ~(P - 1), (base + size + P - 1) & ~(P - 1)
        a = self.alloc_of(start)
        if a is None:
            return STATUS_MEMORY_NOT_ALLOCATED
        if end > self.allocs[a][0]:
            return STATUS_CONFLICTING_ADDRESSES
        if any(self.pages[p][1] != MEM_COMMIT for p in range(start, end, P)):
            return STATUS_NOT_COMMITTED
        if prot == PAGE_WRITECOPY:
            return STATUS_INVALID_PAGE_PROTECTION
        old = self.pages[start][2]
        for p in range(start, end, P):
            self.pages[p][2] = prot
        return old

    def expected_mbi(self, addr, user_end):
        if addr not in self.pages:
            nxt = min([b for b in self.allocs if b > addr], default=user_end)
            return (addr, 0, 0, nxt - addr, MEM_FREE, PAGE_NOACCESS, 0)
        a, state, prot = self.pages[addr]
        end = addr
        while end in self.pages and self.pages[end] == [a, state, prot]:
            end += P
        return (addr, a, self.allocs[a][1], end - addr, state, prot, MEM_PRIVATE)


addr_st = st.integers(WIN_LO, WIN_HI - 1)
op_st = st.one_of(
    st.tuples(st.just("reserve"), addr_st, st.integers(1, 3 * G), st.booleans(), st.sampled_from(PROTS)),
    st.tuples(st.just("commit"), addr_st, st.integers(1, 6 * P), st.sampled_from(PROTS)),
    st.tuples(st.just("free"), addr_st, st.sampled_from([0, 1, P, 3 * P, G]), st.sampled_from([MEM_DECOMMIT, MEM_RELEASE])),
    st.tuples(st.just("protect"), addr_st, st.integers(1, 5 * P), st.sampled_from(PROTS)),
    st.tuples(st.just("release_at_base"), addr_st),
)


def run_op(fn, *args):
    try:
        return fn(*args)
    except NtStatusError as e:
        return e.status


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_st, min_size=1, max_size=25))
def test_model_based_allocate_free_protect_query(ops):
    asp, be = new_space()
    model = Model()
    for op in ops:
        kind = op[0]
        if kind == "reserve":
            _, base, size, commit, prot = op
            if (base + size + P - 1) & ~(P - 1) > WIN_HI:  # the rounded end must stay inside the window
                continue
            t = MEM_RESERVE | (MEM_COMMIT if commit else 0)
            got, exp = run_op(asp.allocate, base, size, t, prot), model.reserve(base, size, commit, prot)
        elif kind == "commit":
            _, base, size, prot = op
            got, exp = run_op(asp.allocate, base, size, MEM_COMMIT, prot), model.commit(base, size, prot)
        elif kind == "free":
            _, base, size, ftype = op
            got, exp = run_op(asp.free, base, size, ftype), model.free(base, size, ftype)
        elif kind == "protect":
            _, base, size, prot = op
            got, exp = run_op(asp.protect, base, size, prot), model.protect(base, size, prot)
        else:
            a = model.alloc_of(op[1])
            if a is None:
                continue
            got, exp = run_op(asp.free, a, 0, MEM_RELEASE), model.free(a, 0, MEM_RELEASE)
        assert got == exp, (op, got, exp)
        # query agrees with the model on every page of the window
        for pg in range(WIN_LO, WIN_HI, P):
            assert asp.query(pg + 0x10).as_tuple() == model.expected_mbi(pg, asp.end), hex(pg)
        # the CPU mappings agree: committed pages mapped with their protection, the rest unmapped
        expected = {p: PERMS[v[2]] for p, v in model.pages.items() if v[1] == MEM_COMMIT}
        assert uc_pages(be, WIN_LO, WIN_HI) == expected
        committed = sum(1 for v in model.pages.values() if v[1] == MEM_COMMIT)
        assert asp.counters["commit_charge"] == committed * P


def test_huge_host_backed_reservation_takes_address_space_only():
    """A 64 GiB host-backed reservation (a thread stack: SizeOfStackReserve or CreateThread's reservation)
    succeeds like a Windows reservation; committing, writing and releasing its top pages works, and
    decommitting the whole range neither writes nor allocates it (issue 14: it failed with host ENOMEM)."""
    asp, _ = new_space()
    size = 64 << 30
    base, got = asp.allocate(None, size, MEM_RESERVE, PAGE_READWRITE, host=True)
    assert got == size
    top = base + size
    asp.allocate(top - 0x3000, 0x3000, MEM_COMMIT, PAGE_READWRITE)
    asp.write(top - 0x10, b"stacktop")
    buf, off = asp.host_memory(top - 0x10)
    assert bytes(buf[off:off + 8]) == b"stacktop"
    asp.free(base, size, MEM_DECOMMIT)
    asp.allocate(top - 0x1000, 0x1000, MEM_COMMIT, PAGE_READWRITE)
    assert asp.read(top - 0x10, 8) == bytes(8)              # decommitted pages come back zero
    asp.free(base, 0, MEM_RELEASE)
    assert asp.query(base).State == MEM_FREE


def test_commit_the_host_cannot_back_is_the_commitment_limit():
    """Committing more than the host can give (16 TiB, refused by the backend) fails with
    STATUS_COMMITMENT_LIMIT (ERROR_COMMITMENT_LIMIT 1455) and leaves nothing half-done."""
    with open("/proc/sys/vm/overcommit_memory") as f:
        if f.read().strip() == "1":
            pytest.skip("the host overcommits without limit: a 16 TiB mapping would succeed")
    asp, _ = new_space()
    size = 16 << 40
    assert status_of(asp.allocate, None, size, MEM_COMMIT, PAGE_READWRITE) == STATUS_COMMITMENT_LIMIT
    assert asp.allocations() == [] and asp.counters["commit_charge"] == 0
    base, _ = asp.allocate(None, size, MEM_RESERVE, PAGE_READWRITE)
    assert status_of(asp.allocate, base, size, MEM_COMMIT, PAGE_READWRITE) == STATUS_COMMITMENT_LIMIT
    assert asp.query(base).State == MEM_RESERVE and asp.counters["commit_charge"] == 0


# ------------------------------------------------------------------------------- placeholders (VirtualAlloc2)
MEM_RESERVE_PLACEHOLDER, MEM_REPLACE_PLACEHOLDER = 0x40000, 0x4000
MEM_PRESERVE_PLACEHOLDER, MEM_COALESCE_PLACEHOLDERS = 0x2, 0x1


def test_placeholder_split_replace_coalesce():
    """Placeholders as Windows documents them (VirtualAlloc2/VirtualFreeEx; Wine's ntdll/virtual.c checks the
    split on Windows): a reserved no-access range that can be split, replaced by an allocation or a view of
    exactly its size, turned back, and coalesced."""
    sp, _ = new_space()
    base, size = sp.allocate(None, 0x10000, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER, PAGE_NOACCESS)
    mbi = sp.query(base)
    assert (mbi.State, mbi.Type, mbi.AllocationProtect, mbi.RegionSize) == (MEM_RESERVE, MEM_PRIVATE,
                                                                            PAGE_NOACCESS, 0x10000)
    # a placeholder needs PAGE_NOACCESS and MEM_RESERVE alone, and cannot be committed
    assert status_of(sp.allocate, None, G, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER, PAGE_READWRITE) \
        == STATUS_INVALID_PARAMETER
    assert status_of(sp.allocate, base, P, MEM_COMMIT, PAGE_READWRITE) == STATUS_CONFLICTING_ADDRESSES
    # split in three: [0, 0x8000) [0x8000, 0xC000) [0xC000, 0x10000)
    assert sp.free(base + 0x8000, 0x4000, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER) == (base + 0x8000, 0x4000)
    assert [sp.query(base + o).RegionSize for o in (0, 0x8000, 0xC000)] == [0x8000, 0x4000, 0x4000]
    assert sp.query(base + 0x8000).AllocationBase == base + 0x8000
    # the whole placeholder is not a split
    assert status_of(sp.free, base + 0x8000, 0x4000, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER) \
        == STATUS_CONFLICTING_ADDRESSES
    # replace the middle one: its size exactly, at any page
    assert status_of(sp.allocate, base + 0x8000, 0x2000, MEM_RESERVE | MEM_COMMIT | MEM_REPLACE_PLACEHOLDER,
                     PAGE_READWRITE) == STATUS_INVALID_PARAMETER
    got = sp.allocate(base + 0x8000, 0x4000, MEM_RESERVE | MEM_COMMIT | MEM_REPLACE_PLACEHOLDER, PAGE_READWRITE)
    assert got == (base + 0x8000, 0x4000)
    sp.write(base + 0x8000, b"abc")
    assert sp.query(base + 0x8000).State == MEM_COMMIT
    # back to a placeholder (an ordinary allocation cannot)
    other, _ = sp.allocate(None, G, MEM_RESERVE, PAGE_READWRITE)
    assert status_of(sp.free, other, G, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER) == STATUS_CONFLICTING_ADDRESSES
    sp.free(base + 0x8000, 0x4000, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER)
    assert sp.query(base + 0x8000).State == MEM_RESERVE
    # coalesce the three again, then release
    assert sp.free(base, 0x10000, MEM_RELEASE | MEM_COALESCE_PLACEHOLDERS) == (base, 0x10000)
    assert sp.query(base).RegionSize == 0x10000
    sp.free(base, 0, MEM_RELEASE)
    assert sp.query(base).State == MEM_FREE


def test_view_replaces_placeholder_and_unmap_preserves_it():
    sp, _ = new_space()
    sec = Section.create_data(0x4000, PAGE_READWRITE)
    sec.write(0, b"section")
    base, _ = sp.allocate(None, 0x20000, MEM_RESERVE | MEM_RESERVE_PLACEHOLDER, PAGE_NOACCESS)
    sp.free(base, 0x4000, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER)
    # a view of another size does not fit the placeholder
    assert status_of(sp.map_view, sec, base, size=0x2000, replace_placeholder=True) == STATUS_INVALID_PARAMETER
    v = sp.map_view(sec, base, replace_placeholder=True)
    assert (v.base, v.size) == (base, 0x4000) and sp.read(base, 7) == b"section"
    assert sp.query(base).Type == MEM_MAPPED
    sp.unmap_view(base, preserve_placeholder=True)
    mbi = sp.query(base)
    assert (mbi.State, mbi.Type, mbi.RegionSize) == (MEM_RESERVE, MEM_PRIVATE, 0x4000)
    # a view at a page (not 64 KiB) boundary: the split placeholder after the first one
    assert sp.free(base + 0x4000, 0x4000, MEM_RELEASE | MEM_PRESERVE_PLACEHOLDER) == (base + 0x4000, 0x4000)
    v = sp.map_view(sec, base + 0x4000, replace_placeholder=True)
    assert v.base == base + 0x4000
    # an ordinary view cannot become a placeholder
    plain = sp.map_view(sec)
    assert status_of(sp.unmap_view, plain.base, preserve_placeholder=True) == STATUS_CONFLICTING_ADDRESSES


def test_allocation_highest_and_view_highest():
    sp, _ = new_space()
    base, _ = sp.allocate(None, G, MEM_RESERVE, PAGE_READWRITE, top_down=True, highest=0x7FFFFFFF)
    assert base + G - 1 <= 0x7FFFFFFF
    sec = Section.create_data(G, PAGE_READWRITE)
    v = sp.map_view(sec, top_down=True, highest=0xFFFFFFF)
    assert v.base + v.size - 1 <= 0xFFFFFFF
    assert status_of(sp.map_view, sec, highest=0xFFFF) == STATUS_NO_MEMORY


def test_write_watch_records_first_writes_and_resets():
    """MEM_WRITE_WATCH (GetWriteWatch): a page's first write since the last reset faults once and is recorded,
    kernel writes count, a reset (all, or only the pages reported) makes pages clean and write-protected again."""
    from winhatch.kernel.mm.constants import MEM_WRITE_WATCH
    sp, be = new_space()
    base, _ = sp.allocate(None, 0x10000, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH, PAGE_READWRITE)
    assert sp.write_watch(base, 0x10000) == []
    assert uc_pages(be, base, base + 0x10000)[base + P] == 1          # clean: no write access in the CPU
    assert sp.query(base).Protect == PAGE_READWRITE                    # ... but the protection is unchanged
    assert sp.handle_fault(base + P + 1, 1) == STATUS_SUCCESS          # the guest's first write
    assert uc_pages(be, base, base + 0x10000)[base + P] == 3
    sp.write(base + 4 * P + 8, b"k")                                   # a kernel write
    assert sp.write_watch(base, 0x10000) == [base + P, base + 4 * P]
    assert sp.write_watch(base + 3 * P, 2 * P) == [base + 4 * P]
    assert sp.write_watch(base, 0x10000, reset=True, limit=1) == [base + P]
    assert sp.write_watch(base, 0x10000) == [base + 4 * P]
    assert uc_pages(be, base, base + 0x10000)[base + P] == 1
    plain, _ = sp.allocate(None, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)
    assert status_of(sp.write_watch, plain, 0x1000) == STATUS_INVALID_PARAMETER
    assert sp.handle_fault(plain, 1) == STATUS_ACCESS_VIOLATION


def test_copy_on_write_data_view_page_is_written_on_first_write():
    """A PAGE_WRITECOPY page of a data view is mapped without write access until its first write, which faults
    once, makes it this process's written copy and shows it READWRITE (kernel32/virtual.c, on Windows)."""
    sp, be = new_space()
    sec = Section.create_data(0x2000, PAGE_READWRITE)
    v = sp.map_view(sec, protect=PAGE_WRITECOPY)
    assert sp.query(v.base).Protect == PAGE_WRITECOPY
    assert uc_pages(be, v.base, v.base + 0x2000)[v.base] == 1
    assert sp.handle_fault(v.base + 8, 1) == STATUS_SUCCESS
    mbi = sp.query(v.base)
    assert (mbi.Protect, mbi.RegionSize) == (PAGE_READWRITE, P)
    assert uc_pages(be, v.base, v.base + 0x2000)[v.base] == 3
    assert sp.query(v.base + P).Protect == PAGE_WRITECOPY
    sp.write(v.base + P, b"k")                                    # a kernel write makes it written too
    assert sp.query(v.base + P).Protect == PAGE_READWRITE
    assert sp.handle_fault(v.base + 8, 0) == STATUS_ACCESS_VIOLATION   # only writes


def test_image_page_made_copy_on_write_is_tracked_but_mapped_data_is_not():
    """An image's writable pages keep write access as mapped (no fault per page in every program); a page the
    program makes copy-on-write with VirtualProtect is tracked: its first write makes it READWRITE."""
    sp, be = new_space()
    v = sp.map_view(make_image())
    assert uc_pages(be, v.base, v.base + 0x5000)[v.base + 0x4000] == 3      # .data as mapped: writable
    assert sp.protect(v.base + 0x3000, 0x1000, PAGE_WRITECOPY) == PAGE_READONLY
    assert uc_pages(be, v.base, v.base + 0x5000)[v.base + 0x3000] == 1
    assert sp.handle_fault(v.base + 0x3004, 1) == STATUS_SUCCESS
    assert sp.query(v.base + 0x3000).Protect == PAGE_READWRITE
    assert uc_pages(be, v.base, v.base + 0x5000)[v.base + 0x3000] == 3
