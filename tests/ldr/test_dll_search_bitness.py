"""The loader's DLL search passes over a DLL of the other bitness and goes on (a 32-bit and a 64-bit copy of a DLL
on the search path: each process finds its own), as on Windows (Wine's kernel32/tests/loader.c: a wrong-bitness
test DLL falls back to the copy further in the load path). With nothing else found, the load fails on the first
one: STATUS_INVALID_IMAGE_FORMAT (ERROR_BAD_EXE_FORMAT). wine64 prints the same for the x64 build."""
import fixturebuild
from winhatch import runner

OTHER = {"x86": "x64", "x64": "x86"}


def test_search_skips_a_dll_of_the_other_bitness(app_dir, arch):
    own = fixturebuild.build("ldr_initfault.c", arch, dll=True)
    other = fixturebuild.build("ldr_initfault.c", OTHER[arch], dll=True)
    exe = app_dir(fixturebuild.build("ldr_searchbitness.c", arch))
    app_dir(other, "twin.dll")
    app_dir(other, "other_only.dll")
    sub = app_dir.dir / "own"
    sub.mkdir()
    (sub / "twin.dll").write_bytes(own.read_bytes())
    res = runner.run(exe, [])
    assert res.exit_status == 0, (res.error, res.stdout)
    assert res.stdout.decode().splitlines() == ["other_only: loaded=0 err=193", "twin: loaded=1 from_dll_directory=1"]
