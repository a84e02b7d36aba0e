"""RtlNtStatusToDosError's mapping (winhatch.ntstatus.nt_to_win32): the named entries the project relies on
agree with the measured table (winhatch/ntstatus_map.py), and the rules outside the table hold.
Wine's dlls/ntdll/tests/error.c (tests/winetest, ntdll/error) checks the whole mapping against Windows."""
from winhatch import ntstatus as nt
from winhatch.ntstatus_map import NT_TO_DOS


def test_named_entries_agree_with_the_table():
    bad = {hex(s): (e, NT_TO_DOS.get(s, 317)) for s, e in nt._NT_TO_DOS.items() if NT_TO_DOS.get(s, 317) != e}
    assert not bad, f"entries that disagree with winhatch/ntstatus_map.py (ours, table): {bad}"


def test_rules():
    assert nt.nt_to_win32(0) == 0
    assert nt.nt_to_win32(0xC0000005) == 998                 # ACCESS_VIOLATION -> ERROR_NOACCESS
    assert nt.nt_to_win32(0xD0000005) == 998                 # 0xD... is read as 0xC...
    assert nt.nt_to_win32(0xC0000022) == 5                   # ACCESS_DENIED
    assert nt.nt_to_win32(0x80070002) == 2                   # FACILITY_WIN32 wraps its error
    assert nt.nt_to_win32(0xC0070057) == 87                  # FACILITY_NTWIN32
    assert nt.nt_to_win32(0xE0001234) == 0xE0001234          # a customer status is its own error
    assert nt.nt_to_win32(0xC0000001 | 0x0FFF0000) == 317    # no mapping: ERROR_MR_MID_NOT_FOUND
    assert nt.nt_to_win32(0xC000001D) == 0xC000001D          # exception codes map to themselves
    assert nt.STATUS_INVALID_IMAGE_NE_FORMAT == 0xC000011B
    assert nt.nt_to_win32(nt.STATUS_INVALID_IMAGE_NE_FORMAT) == nt.ERROR_BAD_EXE_FORMAT
