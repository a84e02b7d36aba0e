"""Memory-manager services and ntdll helpers called by a real program (tests/fixtures/src/mm_native.c), x86 and
x64, against Windows' documented results and those Wine's conformance tests record on Windows (ntdll/virtual.c,
kernel32/virtual.c): MEM_ADDRESS_REQUIREMENTS rules, placeholders split / replaced by memory or a view / put back /
coalesced, MemoryRegionInformation, the VmPrefetchInformation argument checks, RtlCreateUserStack's rounding,
a guard page set in the committed stack moving StackLimit, NtCreateSection(SEC_IMAGE) of a file with its
SECTION_IMAGE_INFORMATION and a MEM_IMAGE view (STATUS_IMAGE_NOT_AT_BASE away from the base),
RtlFindExportedRoutineByName and LdrProcessRelocationBlock."""
from __future__ import annotations

from winhatch import runner


def test_memory_services(build_fixture, arch):
    res = runner.run(build_fixture("mm_native.c", arch), [], max_instructions=200_000_000)
    assert res.error is None, res.error
    got = dict(line.split(" ", 1) for line in res.stdout.decode().replace("\r\n", "\n").splitlines())
    x64 = arch == "x64"
    want = {
        "ex_twice": "c000000d", "ex_highest": "0", "ex_highest_fits": "1", "ex_base_with_req": "c000000d",
        "ex_highest_half_page": "c000000d",
        "ph_reserve": "0", "ph_state": "2000", "ph_type": "20000", "ph_protect": "1", "ph_split": "0",
        "ph_first_size": "4000", "ph_rest_size": "1c000", "ph_replace": "0", "ph_preserve": "0",
        "ph_back_state": "2000", "ph_map": "0", "ph_map_type": "40000", "ph_unmap": "0", "ph_unmap_state": "2000",
        "ph_coalesce": "0", "ph_release": "0",
        "region_status": "0", "region_base_ok": "1", "region_size": "10000", "region_commit": "3000",
        "region_len": "30" if x64 else "1c", "region_short": "c0000004",
        "prefetch_class": "c00000f0", "prefetch_len": "c00000f4", "prefetch_zero": "c00000f1", "prefetch_ok": "0",
        "stack_status": "0", "stack_reserve": "140000", "stack_commit": "14000", "stack_old": "0",
        "stack_guard": "104", "stack_align0": "c000000d", "stack_grown": "100000",
        "guard_status": "0", "guard_limit_moved": "2000",
        "image_none": "c0000020", "image_commit": "c000000d", "image_section": "0", "image_query_short": "c0000004",
        "image_query": "0", "image_query_len": "40" if x64 else "30", "image_entry_ok": "1",
        "image_stack_reserve_ok": "1", "image_map": "40000003", "image_headers_same": "1",
        "image_view_type": "1000000", "image_view_size_ok": "1", "find_export_ok": "1", "find_missing": "0",
        "reloc_next_ok": "1", "reloc_0": "1010", "reloc_2": "2010",
    }
    assert got == want
