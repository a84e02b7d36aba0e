"""Activation context details, actctx_info.c: QueryActCtxW's compatibility information (supportedOS and
maxversiontested elements in document order, ERROR_INSUFFICIENT_BUFFER with the size needed),
QueryActCtxSettingsW (windowsSettings values by namespace, the short-buffer rule), ZombifyActCtx, a relative
lpSource looked for in lpAssemblyDirectory (ERROR_PATH_NOT_FOUND / ERROR_FILE_NOT_FOUND when it is not
there), a UTF-16 manifest without a byte order mark (ERROR_SXS_CANT_GEN_ACTCTX), LoadPackagedLibrary in a
process without package identity (APPMODEL_ERROR_NO_PACKAGE). Compared with wine64 8.0's output, which is the
same except ZombifyActCtx: Wine 8 does not implement it (FALSE, ERROR_INVALID_FUNCTION); on Windows it
succeeds for a context and fails with ERROR_INVALID_PARAMETER for NULL (Wine's kernel32/tests/actctx.c
test_ZombifyActCtx, todo_wine)."""
import shutil

from winhatch import runner

EXPECTED = [
    "compat: ok=1 size=104 count=3",
    "  0: type=1 id=8e0f7a12 version=0",
    "  1: type=3 id=00000000 version=a000047ba0001",
    "  2: type=1 id=35138b9a version=0",
    "compat short: ok=0 err=122 size=104",
    "zombify: 1 3735928559",
    "zombify null: 0 87",
    "no compat: ok=1 size=8 count=0",
    "dpiAware: 1 true/pm 8",
    "longPathAware: 1 true 5",
    "wrong namespace: 0 14007",
    "unknown namespace: 0 87",
    "short: 0 122 8",
    "no directory: 0 3",
    "not in directory: 0 2",
    "in directory: 1",
    "utf-16 without bom: 0 14001",
    "LoadPackagedLibrary: 0 15700",
]


def test_actctx_info(build_fixture, arch, tmp_path):
    exe = tmp_path / "actctx_info.exe"
    shutil.copy(build_fixture("actctx_info.c", arch), exe)
    res = runner.run(exe, [])
    assert res.error is None and res.exit_status == 0, (res.error, res.stdout)
    assert res.stdout.decode().replace("\r\n", "\n").splitlines() == EXPECTED
