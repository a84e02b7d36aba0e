"""The activation context's COM sections (FindActCtxSectionGuid's COM server, interface, type library and CLR
surrogate GUID sections; FindActCtxSectionString's ProgID section) built from a manifest's <comClass>,
<typelib>, <comInterfaceExternalProxyStub> and <clrSurrogate>: actctx_com.c, compared with what wine64 8.0
prints (the layouts Wine's kernel32/tests/actctx.c checks on Windows). One difference: the type library's
language is the <typelib resourceid> LCID (Microsoft's manifest schema: "the hexadecimal string
representation of the locale identifier"), 0x409 here, where Wine leaves 0."""
import shutil

from winhatch import runner


def _expected(null: str) -> list[str]:
    def common(what, glob):
        return f"{what}: magic=64487347 hsize=40 ver=1 roster=1 hctx={null} global={glob} globlen_ok=1"
    return [
        "created: 1", "activated: 1",
        common("server", "names"),
        "server: size=120 flags=1100 model=4 clsid_ok=1 clsid2_ok=1 tlid_ok=1 module=comlib.dll name_len=20 "
        "progid=Winhatch.Thing progid_len=28 progid_offset=120 clr=0 len=150 misc=10 docprint=30000 icon=0",
        "alias: found=1 same=1",
        "progid Winhatch.Thing: found=1 size=12 reserved=0 alias_ok=1",
        "progid winhatch.thing.1: found=1 size=12 reserved=0 alias_ok=1",
        common("iface", "null"),
        "iface: size=68 mask=1 ps_ok=1 methods=7 tlbid_ok=1 name=IThing name_len=12 name_offset=68 len=82",
        common("typelib", "names"),
        "typelib: size=32 module=comlib.dll name_len=20 langid=409 flags=6 help_len=8 version=2.1 len=42",
        common("surrogate", "null"),
        "surrogate: size=40 res=0 clsid_ok=1 version=v4.0 version_offset=40 name=surr len=60",
        "missing: 0 14007",          # ERROR_SXS_KEY_NOT_FOUND
        "bad section: 0 14000",      # ERROR_SXS_SECTION_NOT_FOUND
        "null data: 0 87",           # ERROR_INVALID_PARAMETER
    ]


def test_com_sections(build_fixture, arch, tmp_path):
    exe = tmp_path / "actctx_com.exe"
    shutil.copy(build_fixture("actctx_com.c", arch), exe)
    res = runner.run(exe, [])
    assert res.error is None and res.exit_status == 0, (res.error, res.stdout)
    null = "0" * (16 if arch == "x64" else 8)
    assert res.stdout.decode().replace("\r\n", "\n").splitlines() == _expected(null)
