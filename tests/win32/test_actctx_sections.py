"""FindActCtxSectionString's window class redirection section (section 3) built from a manifest's
<file><windowClass> elements: actctx_wndclass.c, compared with what wine64 8.0 prints (the layout Wine's
kernel32/tests/actctx.c test_find_window_class checks on Windows)."""
import shutil

from winhatch import runner


def _expected(null: str) -> list[str]:
    tail = f"roster=1 global={null} hctx={null}"
    versioned = ("magic=64487353 ver=1 size=24 res=0 name=1.2.3.4!MyClass name_len=30 module=wndlib.dll "
                 f"module_len=20 module_follows=1 length_ok=1 {tail}")
    return ["created: 1", "activated: 1", f"MyClass: {versioned}", f"myclass: {versioned}",
            "PlainClass: magic=64487353 ver=1 size=24 res=0 name=PlainClass name_len=20 module=wndlib.dll "
            f"module_len=20 module_follows=1 length_ok=1 {tail}",
            "Missing: not found 14007"]          # ERROR_SXS_KEY_NOT_FOUND


def test_window_class_redirection_section(build_fixture, arch, tmp_path):
    exe = tmp_path / "actctx_wndclass.exe"
    shutil.copy(build_fixture("actctx_wndclass.c", arch), exe)
    res = runner.run(exe, [])
    assert res.error is None and res.exit_status == 0, (res.error, res.stdout)
    null = "0" * (16 if arch == "x64" else 8)
    assert res.stdout.decode().replace("\r\n", "\n").splitlines() == _expected(null)
