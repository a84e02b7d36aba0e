"""The sandbox escape suite: a guest (tests/fixtures/src/escape_fs.c, x86 and x64) tries to read host files
outside the mounts and to write, delete or rename outside its folder — '..' chains, \\\\?\\, \\\\.\\,
\\\\?\\GLOBALROOT, UNC, other drive letters, forward-slash absolute paths, host symlinks and a hard link planted
in its folder, symbolic links and junctions it makes pointing out by every path form (they are reparse points
of the guest's namespace: their targets are guest paths), CreateHardLink, MoveFileEx/CopyFile out, long and
odd names, embedded NULs, DLL search-path tricks.

winhatch runs in a child Python under sys.addaudithook: every 'open', 'os.listdir' and 'os.scandir' (and
every host change: rename, remove, mkdir, link, symlink, utime, truncate) is recorded, and each path must lie
in an allowed root: the sample's folder (the overlay's read-only lower layer), the run's output folder, the
sandbox, the system-DLL cache and Python's own files.  The sample's folder and a canary folder outside it are
hashed before and after: nothing may change.  The guest gets the error Windows gives.

Windows is the reference, not Wine: Wine maps Z: to the host's / (its Z:\\...\\secret.txt reads the canary),
Windows has no Z: drive (ERROR_PATH_NOT_FOUND)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, os, sys
sys.path.insert(0, sys.argv[1])
events = []
WATCH = {"open": 1, "os.listdir": 1, "os.scandir": 1, "os.rename": 2, "os.remove": 1, "os.rmdir": 1,
         "os.mkdir": 1, "os.link": 2, "os.symlink": 2, "os.utime": 1, "os.truncate": 1, "os.chmod": 1,
         "shutil.copyfile": 2, "shutil.rmtree": 1}
def hook(event, args):
    n = WATCH.get(event)
    if n and args:
        for a in args[:n]:
            if isinstance(a, (str, bytes, os.PathLike)):
                p = os.fsdecode(a)
                if p:
                    events.append((event, p))
from winhatch import runner
box = {}
def setup(machine):
    box["sandbox"] = str(machine.sandbox)
exe, out, scenario, canary = sys.argv[2:6]
profile = None
if sys.argv[6:] == ["developer_mode"]:
    from winhatch.kernel.profile import Profile
    profile = Profile.default().with_(developer_mode=True)
sys.addaudithook(hook)
res = runner.run(exe, [scenario, canary], out_dir=out, setup_machine=setup, timeout=120, profile=profile)
rec = events[:]
sys.stdout.buffer.write(json.dumps({"stdout": res.stdout.decode("latin-1"), "outcome": res.outcome,
                                    "exit_status": res.exit_status, "error": res.error, "sandbox": box.get("sandbox"),
                                    "dropped": res.dropped, "events": rec}).encode())
'''


def snapshot(root: Path) -> dict:
    out = {}
    for dp, dns, fns in os.walk(root, followlinks=False):
        for n in sorted(dns + fns):
            p = os.path.join(dp, n)
            st = os.lstat(p)
            digest = None
            if os.path.islink(p):
                digest = os.readlink(p)
            elif os.path.isfile(p):
                digest = hashlib.sha256(Path(p).read_bytes()).hexdigest()
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


@pytest.fixture
def world(tmp_path, build_fixture, arch):
    exe = build_fixture("escape_fs.c", arch)
    sample = tmp_path / "sample"
    (sample / "subdir").mkdir(parents=True)
    shutil.copy(exe, sample / "escape_fs.exe")
    (sample / "keep.txt").write_bytes(b"keep\n")
    (sample / "victim.txt").write_bytes(b"victim\n")
    (sample / "renamed_src.txt").write_bytes(b"src\n")
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "secret.txt").write_bytes(b"CANARY secret outside the sandbox\n")
    (canary / "hard.txt").write_bytes(b"CANARY hard-linked\n")
    shutil.copy(exe, canary / "evil.dll")
    # host links planted in the mounted folder, leading out (the guest cannot make them)
    os.symlink(canary, sample / "planted_dir")
    os.symlink(canary / "secret.txt", sample / "planted_file")
    os.link(canary / "hard.txt", sample / "planted_hard.txt")
    out = tmp_path / "out"
    return sample, canary, out


def run_child(sample: Path, canary: Path, out: Path, scenario: str, *extra: str) -> dict:
    env = dict(os.environ)
    p = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(sample / "escape_fs.exe"), str(out), scenario,
                        str(canary), *extra], capture_output=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
    return json.loads(p.stdout)


def allowed_roots(doc: dict, sample: Path, out: Path) -> list[str]:
    from winhatch.cache import cache_root
    import sysconfig
    roots = {str(sample), str(out), doc["sandbox"], str(ROOT / "winhatch"), sys.prefix, sys.base_prefix,
             sys.exec_prefix, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"],
             os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    try:
        roots.add(str(cache_root()))
    except Exception:  # noqa: BLE001
        pass
    roots.add(os.path.join(os.path.expanduser("~"), ".cache", "winhatch"))
    if os.environ.get("WINHATCH_CACHE"):
        roots.add(os.environ["WINHATCH_CACHE"])
    return [os.path.realpath(r) for r in roots if r]


def check_isolation(doc, sample, canary, out, before_sample, before_canary):
    assert snapshot(sample) == before_sample, "the sample's host folder changed"
    assert snapshot(canary) == before_canary, "the canary folder changed"
    assert "LEAK" not in doc["stdout"], doc["stdout"]
    import tempfile
    roots = allowed_roots(doc, sample, out)
    outside = []
    # tempfile's probe of the temporary folder (a file made and removed at once, before the sandbox is made)
    probes = {p for e, p in doc["events"] if e == "os.remove" and os.path.dirname(p) == tempfile.gettempdir()}
    for event, path in doc["events"]:
        real = os.path.realpath(path)
        if path.startswith("/dev/") or path.startswith("/proc/self/") or path in ("/proc/meminfo",) \
                or path in probes:
            continue
        if not any(real == r or real.startswith(r + os.sep) for r in roots):
            outside.append((event, path))
    assert not outside, f"host accesses outside the allowed roots: {outside[:20]}"
    assert not any(os.path.realpath(p).startswith(str(canary)) for _e, p in doc["events"]), \
        "the canary folder was touched"
    assert not os.path.exists("/tmp/winhatch-escaped.txt")


def results(stdout: str) -> dict:
    out = {}
    for ln in stdout.splitlines():
        parts = ln.split()
        if len(parts) >= 3:
            out[parts[0]] = (parts[1], parts[2])
    return out


# Windows' answers (winerror.h): 2 FILE_NOT_FOUND, 3 PATH_NOT_FOUND, 5 ACCESS_DENIED, 53 BAD_NETPATH,
# 123 INVALID_NAME, 126 MOD_NOT_FOUND, 206 FILENAME_EXCED_RANGE
EXPECTED = {
    "own-create": ("ok", "0"),
    "dotdot-rel": ("err", "3"), "dotdot-abs": ("err", "3"), "dotdot-fwd": ("err", "3"),
    "verbatim-dotdot": ("err", "123"),       # \\?\ is not normalized: NTFS refuses the '..' component
    "device-dotdot": ("err", "3"),
    "unc-localhost": ("err", "53"), "unc-loopback": ("err", "53"), "unc-fwd": ("err", "53"),
    "nt-dosdevices": ("err", "53"),
    "drive-z": ("err", "3"), "drive-z-canary": ("err", "3"), "drive-d": ("err", "3"),
    "fwd-abs": ("err", "3"), "fwd-double": ("err", "53"), "fwd-canary": ("err", "3"),
    "list-z-canary": ("err", "3"),
    "planted-dirlink": ("err", "5"), "planted-filelink": ("err", "5"), "planted-hardlink": ("err", "5"),
    "planted-dirlink-w": ("err", "5"), "planted-dirlink-new": ("err", "5"), "planted-filelink-w": ("err", "5"),
    "planted-hardlink-w": ("err", "5"), "planted-dirlink-del": ("err", "5"), "planted-filelink-del": ("err", "5"),
    "planted-dirlink-list": ("err", "5"),
    "write-z": ("err", "3"), "delete-z": ("err", "3"), "write-fwd": ("err", "3"), "delete-fwd": ("err", "3"),
    "write-unc": ("err", "53"), "move-out-z": ("err", "3"), "move-out-unc": ("err", "53"),
    "move-in-z": ("err", "3"), "copy-in-z": ("err", "3"), "copy-out-z": ("err", "3"), "copy-out-fwd": ("err", "3"),
    "move-app-folder": ("err", "5"), "delete-app-exe": ("err", "5"),
    "delete-app-file": ("ok", "0"), "overwrite-app-file": ("ok", "0"), "rename-app-file": ("ok", "0"),
    "rmdir-app-subdir": ("ok", "0"),
    "long-33000": ("err", "206"),
    "embedded-nul": ("err", "0xc0000033"),   # STATUS_OBJECT_NAME_INVALID
    "loadlib-dotdot": ("err", "126"), "loadlib-z": ("err", "126"), "loadlib-fwd": ("err", "126"),
    "loadlib-after-setdlldir": ("err", "126"), "loadlib-unc": ("err", "126"),
}


def test_escape_paths(world):
    sample, canary, out = world
    before_sample, before_canary = snapshot(sample), snapshot(canary)
    doc = run_child(sample, canary, out, "paths")
    assert doc["outcome"] == "exited" and doc["exit_status"] == 0, (doc["error"], doc["stdout"][-2000:])
    assert doc["stdout"].rstrip().endswith("done")
    got = results(doc["stdout"])
    wrong = {k: (got.get(k), v) for k, v in EXPECTED.items() if got.get(k) != v}
    assert not wrong, wrong
    check_isolation(doc, sample, canary, out, before_sample, before_canary)
    # the guest saw its own changes; the overlay kept them, dropped/ has a copy of each file it wrote
    dropped = {f["path"]: f for f in doc["dropped"]["files"]}
    assert dropped["C:\\app\\victim.txt"]["state"] == "deleted"
    assert dropped["C:\\app\\keep.txt"]["state"] == "modified"
    assert dropped["C:\\app\\renamed_dst.txt"]["state"] == "created"
    assert (out / "dropped" / "C" / "app" / "keep.txt").read_bytes() == b"PWNED\n"
    assert (out / "dropped" / "C" / "app" / "renamed_dst.txt").read_bytes() == b"src\n"
    assert dropped["C:\\app\\keep.txt"]["sha256"] == hashlib.sha256(b"PWNED\n").hexdigest()
    assert not (sample / "mine.txt").exists() and (sample / "victim.txt").read_bytes() == b"victim\n"


def _link_expectations(made: dict[str, str], extra: dict) -> dict:
    """<link> ok 0 for each link made, and its -read/-write/-create attempts failing with its error."""
    out = {}
    for name, err in made.items():
        out[name] = ("ok", "0")
        for use in ("-read", "-write", "-create"):
            out[name + use] = ("err", err)
    out.update(extra)
    return out


# Links the guest makes lead only where it could name a path itself: their targets are guest NT paths (Z:,
# UNC, \\.\ devices, GLOBALROOT, '..' climbing above C:\, a host symlink planted in the folder all fail as
# the same path typed directly would); the links themselves live in the sandbox's overlay.
SYMLINKS = _link_expectations(
    {"symlink-dir": "3", "symlink-file": "3", "symlink-rel-up": "3", "symlink-rooted": "3",
     "symlink-globalroot": "5", "symlink-globalroot-up": "5", "symlink-unc": "53", "symlink-windows-up": "3",
     "symlink-device": "5", "symlink-planted": "5", "symlink-fwd": "123"},
    {"symlink-delete": ("ok", "0"), "symlink-move-out": ("err", "3"),
     "symlink-copy-into": ("err", "3"), "symlink-chain": ("ok", "0"), "symlink-chain-read": ("err", "3"),
     "symlink-loop-read": ("err", "1921")})
JUNCTIONS = {k: v for k, v in _link_expectations(
    {"junction": "3", "junction-globalroot": "5", "junction-unc": "53", "junction-dotdot": "123",
     "junction-planted": "5", "junction-device": "3", "junction-sysroot": "123", "junction-win32": "2"},
    {"junction-rmdir": ("ok", "0")}).items() if not k.endswith("-write")}


@pytest.mark.parametrize("scenario", ["symlink", "junction"])
def test_escape_links(world, scenario):
    """Symbolic links (in developer mode, so a standard user may make them) and junctions pointing out of the
    sandbox by every path form: made, in the guest's namespace only; nothing outside is read or changed."""
    sample, canary, out = world
    before_sample, before_canary = snapshot(sample), snapshot(canary)
    doc = run_child(sample, canary, out, scenario, *(["developer_mode"] if scenario == "symlink" else []))
    assert doc["outcome"] == "exited" and doc["exit_status"] == 0, (doc["error"], doc["stdout"][-2000:])
    got = results(doc["stdout"])
    want = SYMLINKS if scenario == "symlink" else JUNCTIONS
    wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    assert not wrong, wrong
    assert set(got) == set(want), set(got) ^ set(want)
    check_isolation(doc, sample, canary, out, before_sample, before_canary)
    # the links are in the sandbox, as reparse points: no host symlink was made anywhere
    assert not any(e == "os.symlink" for e, _p in doc["events"])


def test_escape_symlink_standard_user(world):
    """Without developer mode a standard user cannot make symbolic links at all (ERROR_PRIVILEGE_NOT_HELD)."""
    sample, canary, out = world
    before_sample, before_canary = snapshot(sample), snapshot(canary)
    doc = run_child(sample, canary, out, "symlink")
    got = results(doc["stdout"])
    made = [k for k in SYMLINKS if k in got and k + "-read" in SYMLINKS]
    assert made and all(got[k] == ("err", "1314") for k in made), {k: got.get(k) for k in made}
    assert not any(v[0] == "ok" for k, v in got.items() if k.endswith("-read"))
    check_isolation(doc, sample, canary, out, before_sample, before_canary)


def test_escape_hardlink(world):
    """CreateHardLink to a file outside: the target path does not exist in the guest (ERROR_PATH_NOT_FOUND);
    a hard link inside the sandbox is made."""
    sample, canary, out = world
    before_sample, before_canary = snapshot(sample), snapshot(canary)
    doc = run_child(sample, canary, out, "hardlink")
    assert doc["outcome"] == "exited", doc["error"]
    got = results(doc["stdout"])
    assert got["hardlink-out"] == ("err", "3") and got["hardlink-read"][0] == "err", got
    check_isolation(doc, sample, canary, out, before_sample, before_canary)
