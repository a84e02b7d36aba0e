"""Fetch the real-world corpus by package name and pinned version, through each registry's ordinary client:

    pypi: pip download --no-deps --only-binary=:all: --platform TAG PACKAGE==VERSION
    npm:  npm pack PACKAGE@VERSION
    deb:  apt-get download PACKAGE=VERSION     (then dpkg-deb -x)

into a cache (~/.cache/winhatch/realworld, or $WINHATCH_REALWORLD_CACHE), one folder per package with the
download and its extracted tree (x/). Each archive's SHA-256 is checked against realworld/expected/lock.json
(written by `--lock`), each Windows program must be a PE of the entry's architecture.

    python realworld/fetch.py [--only ID] [--ci] [--lock]
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realworld.corpus import EXPECTED, Entry, Package, cache_dir, load  # noqa: E402

LOCK = EXPECTED / "lock.json"
CLIENT_TIMEOUT = 600
# platform = "manylinux": any x86-64 Linux wheel tag this machine's glibc runs
LINUX_TAGS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_12_x86_64",
              "manylinux2010_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64", "linux_x86_64"]


_APT_UPDATED = False


class FetchError(Exception):
    pass


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _client(cmd: list[str], cwd: Path, what: str) -> None:
    exe = shutil.which(cmd[0])
    if exe is None:
        raise FetchError(f"{what}: the client {cmd[0]!r} is not installed")
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=CLIENT_TIMEOUT,
                           env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "npm_config_update_notifier": "false"})
    except subprocess.TimeoutExpired:
        raise FetchError(f"{what}: {cmd[0]} did not answer within {CLIENT_TIMEOUT} s") from None
    if p.returncode != 0:
        lines = [ln for ln in (p.stderr + p.stdout).splitlines() if ln.strip() and "is ignored" not in ln]
        raise FetchError(f"{what}: the registry refused ({' '.join(cmd[:2])} exit {p.returncode}): "
                         + " | ".join(lines[-3:]))


def _download(pkg: Package, dl: Path) -> Path:
    what = f"{pkg.source} {pkg.package} {pkg.version}" + (f" ({pkg.platform})" if pkg.platform else "")
    dl.mkdir(parents=True, exist_ok=True)
    if pkg.source == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(dl)]
        for tag in (LINUX_TAGS if pkg.platform == "manylinux" else pkg.platform.split(",")):
            cmd += ["--platform", tag.strip()]
        cmd.append(f"{pkg.package}=={pkg.version}")
        _client(cmd, dl, what)
        files = sorted(dl.glob("*.whl"))
    elif pkg.source == "npm":
        _client(["npm", "pack", "--silent", f"{pkg.package}@{pkg.version}"], dl, what)
        files = sorted(dl.glob("*.tgz"))
    else:
        spec = f"{pkg.package}:{pkg.platform}={pkg.version}" if pkg.platform and pkg.platform != "all" else \
            f"{pkg.package}={pkg.version}"
        try:
            _client(["apt-get", "download", spec], dl, what)
        except FetchError:
            # a fresh machine may have no package lists yet: read them once, then ask again
            global _APT_UPDATED
            if _APT_UPDATED:
                raise
            _APT_UPDATED = True
            _client(["apt-get", "update", "-qq"], dl, "apt-get update")
            _client(["apt-get", "download", spec], dl, what)
        files = sorted(dl.glob("*.deb"))
    if len(files) != 1:
        raise FetchError(f"{what}: expected one archive from the client, found {[f.name for f in files]}")
    return files[0]


def _extract(archive: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    elif archive.suffix == ".tgz":
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")
    else:
        subprocess.run(["dpkg-deb", "-x", str(archive), str(dest)], check=True, timeout=CLIENT_TIMEOUT)
    for p in dest.rglob("*"):  # wheels and tarballs may drop the executable bit
        if p.is_file():
            p.chmod(p.stat().st_mode | 0o755)


def fetch(pkg: Package, lock: dict | None = None, log=print) -> Path:
    """The extracted program path (fetched and extracted once, then cached)."""
    root = cache_dir() / pkg.key
    stamp = root / ".ok"
    if not stamp.is_file():
        root.mkdir(parents=True, exist_ok=True)
        with open(root / ".lock", "w") as lockf:  # parallel test workers may want the same package
            fcntl.flock(lockf, fcntl.LOCK_EX)
            if not stamp.is_file():
                log(f"  fetching {pkg.key} ...")
                dl = root / "dl"
                if dl.exists():
                    shutil.rmtree(dl)
                archive = _download(pkg, dl)
                _extract(archive, root / "x")
                stamp.write_text(json.dumps({"archive": archive.name, "sha256": _sha256(archive)}))
    info = json.loads(stamp.read_text())
    if lock is not None:
        want = lock.get(pkg.key)
        if want and want != info["sha256"]:
            raise FetchError(f"{pkg.key}: archive SHA-256 {info['sha256']} differs from the locked {want}")
    exe = root / "x" / pkg.exe
    if not exe.is_file():
        raise FetchError(f"{pkg.key}: {pkg.exe} is not in the package")
    return exe


def _check_pe(e: Entry, exe: Path) -> None:
    from winhatch.pe import PEFile, PEFormatError
    try:
        pe = PEFile.open(str(exe))
    except PEFormatError as err:
        raise FetchError(f"{e.id}: {exe.name} is not a PE file: {err}") from None
    try:
        if pe.arch != e.arch:
            raise FetchError(f"{e.id}: {exe.name} is {pe.arch}, not {e.arch}")
    finally:
        pe.close()


def fetch_entry(e: Entry, lock: dict | None = None, linux: bool = True, log=print) -> tuple[Path, Path | None]:
    exe = fetch(e.pkg, lock, log)
    _check_pe(e, exe)
    from realworld.identify import identify
    found = identify(exe)
    if found["toolchain"] != e.toolchain:
        raise FetchError(f"{e.id}: corpus.toml says toolchain {e.toolchain}, the binary says {found['toolchain']} "
                         f"({'; '.join(found['evidence'])})")
    lx = fetch(e.linux, lock, log) if (linux and e.linux is not None) else None
    return exe, lx


def read_lock() -> dict:
    return json.loads(LOCK.read_text()) if LOCK.is_file() else {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="an entry id (ruff.x64) or program id (ruff); repeatable")
    ap.add_argument("--ci", action="store_true", help="only the CI subset")
    ap.add_argument("--no-linux", action="store_true", help="do not fetch the Linux counterparts")
    ap.add_argument("--lock", action="store_true", help="write the archives' SHA-256 into realworld/expected/lock.json")
    a = ap.parse_args(argv)
    entries = select(load(), a.only, a.ci)
    lock = read_lock()
    failed = 0
    for e in entries:
        try:
            exe, lx = fetch_entry(e, None if a.lock else lock, not a.no_linux)
            print(f"{e.id}: {exe}" + (f" (linux: {lx.name})" if lx else ""))
        except FetchError as err:
            failed += 1
            print(f"{e.id}: FETCH FAILED: {err}", file=sys.stderr)
    if a.lock:
        for e in entries:
            for pkg in (e.pkg, e.linux):
                stamp = cache_dir() / pkg.key / ".ok" if pkg else None
                if stamp and stamp.is_file():
                    lock[pkg.key] = json.loads(stamp.read_text())["sha256"]
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        LOCK.write_text(json.dumps(dict(sorted(lock.items())), indent=1) + "\n")
    print(f"{len(entries) - failed} fetched, {failed} failed")
    return 1 if failed else 0


def select(entries: list[Entry], only: list[str] | None, ci: bool, candidates: bool = False) -> list[Entry]:
    out = [e for e in entries if (not ci or e.ci) and (not candidates or e.ci_candidate)]
    if only:
        out = [e for e in out if e.id in only or e.program in only]
        if not out:
            raise SystemExit(f"no corpus entry named {', '.join(only)}")
    return out


if __name__ == "__main__":
    sys.exit(main())
