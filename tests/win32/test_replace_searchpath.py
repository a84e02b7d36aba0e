"""ReplaceFileA/W over the file services, and ntdll's search-path strings (RtlGetSearchPath, RtlGetExePath,
LdrGetDllPath, RtlReleasePath), on replace_searchpath.c.

wine64 prints the same lines but three, where Wine is lenient and Windows is followed (Wine's own
kernel32/tests/path.c and file.c, written on Windows, check them): Wine replaces a read-only replacement file
(Windows: ERROR_ACCESS_DENIED from merging into it, test_ReplaceFileA "replacement readonly"; with
REPLACEFILE_IGNORE_MERGE_ERRORS it goes ahead), Wine's RtlGetSearchPath puts the current directory right
after the program's (Windows: after the Windows directory, test_RtlGetSearchPath's build_search_path), and
Wine ends LdrGetDllPath's System32 with a backslash (the test's path_equal ignores it)."""
import shutil

from winhatch import runner

EXPECTED = """\
with backup: 1 0
  old.txt: new
  new.txt: missing 2
  bak.txt: old
without backup: 1 0
  old.txt: newer
  new.txt: missing 2
replaced open sharing delete: 1 0
  old.txt: newest
  new.txt: missing 2
replaced read-only: 0 5
  old.txt: newest
  new.txt: n2
  bak.txt: old
replacement read-only: 0 5
  old.txt: newest
  new.txt: n2
replacement read-only, merge errors ignored: 1 0
  old.txt: n2
  new.txt: missing 2
no replaced file: 0 2
  old.txt: missing 2
  new.txt: n3
no replacement file: 0 2
  old.txt: missing 2
  new.txt: missing 2
RtlGetSearchPath: <app>;<sys>;c:\\windows\\system;c:\\windows;.;foo
RtlGetExePath \\foo: <app>;.;<sys>;c:\\windows\\system;c:\\windows;foo
RtlGetExePath foo, no current dir: <app>;<sys>;c:\\windows\\system;c:\\windows;foo
RtlGetExePath \\foo, no current dir: <app>;.;<sys>;c:\\windows\\system;c:\\windows;foo
LdrGetDllPath 0: <app>;<sys>;c:\\windows\\system;c:\\windows;.;foo
LdrGetDllPath 0, dll directory: <app>;c:\\;<sys>;c:\\windows\\system;c:\\windows;foo
LdrGetDllPath system32: <sys>
LdrGetDllPath altered: c:\\temp;<sys>;c:\\windows\\system;c:\\windows;.;foo
LdrGetDllPath dll load dir: \\\\?\\c:
LdrGetDllPath relative dll load dir: status c000000d
"""


def test_replace_file_and_search_paths(build_fixture, tmp_path, arch):
    exe = tmp_path / "rs.exe"
    shutil.copy(build_fixture("replace_searchpath.c", arch), exe)
    res = runner.run(exe, timeout=60)
    assert res.error is None and res.exit_status == 0, res.error
    assert res.stdout.decode().replace("\r\n", "\n") == EXPECTED
