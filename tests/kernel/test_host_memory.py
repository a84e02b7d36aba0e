"""Host memory stays bounded by what a file holds, not by the sizes it declares: a huge SizeOfImage (an
uninitialised section of 1 GiB) and a huge TLS template range are demand-zero, never materialised."""
import json
import struct
import subprocess
import sys

import pytest

GIB = 1 << 30
#: what a run of hello.exe may peak at on the host (it is ~45 MB; the old code peaked at 3.1 GB here)
RSS_BOUND_MB = 300

#: the peak is this process's own high-water mark (VmHWM), not getrusage's ru_maxrss: Linux carries into
#: ru_maxrss the memory the process had before exec — a copy of the pytest worker, which can be past the bound
_PROBE = r"""
import json, sys
from winhatch import runner
r = runner.run(sys.argv[1])
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"exit": r.exit_status, "error": r.error, "startup": (r.startup_error or {}).get("status"),
                  "message": (r.startup_error or {}).get("message"), "rss_mb": hwm // 1024}))
"""


def _run(path):
    p = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout.decode().splitlines()[-1])


def _headers(b):
    pe = struct.unpack_from("<I", b, 0x3C)[0]
    nsec = struct.unpack_from("<H", b, pe + 6)[0]
    opt = pe + 24
    sec0 = opt + struct.unpack_from("<H", b, pe + 20)[0]
    return opt, nsec, sec0, struct.unpack_from("<H", b, opt)[0] == 0x20B


def huge_bss(src: bytes, size: int = GIB) -> bytearray:
    """The last section's VirtualSize becomes `size` (an uninitialised tail), SizeOfImage follows."""
    b = bytearray(src)
    opt, nsec, sec0, _ = _headers(b)
    last = sec0 + 40 * (nsec - 1)
    va = struct.unpack_from("<I", b, last + 12)[0]
    struct.pack_into("<I", b, last + 8, size)
    struct.pack_into("<I", b, opt + 56, (va + size + 0xFFF) & ~0xFFF)
    return b


def tls_range(src: bytes, size: int) -> bytearray:
    """EndAddressOfRawData = StartAddressOfRawData + size."""
    b = bytearray(src)
    opt, nsec, sec0, pe64 = _headers(b)
    tls_rva = struct.unpack_from("<I", b, opt + (112 if pe64 else 96) + 9 * 8)[0]
    assert tls_rva, "the fixture has a TLS directory"
    for i in range(nsec):
        vs, va, rs, ro = struct.unpack_from("<IIII", b, sec0 + 40 * i + 8)
        if va <= tls_rva < va + max(vs, rs):
            off = ro + tls_rva - va
    fmt, ptr = ("<Q", 8) if pe64 else ("<I", 4)
    start = struct.unpack_from(fmt, b, off)[0]
    struct.pack_into(fmt, b, off + ptr, start + size)
    return b


def test_huge_size_of_image_is_demand_zero(build_fixture, arch, tmp_path):
    exe = tmp_path / "bigimage.exe"
    exe.write_bytes(huge_bss(build_fixture("hello.c", arch).read_bytes()))
    r = _run(exe)
    assert r["exit"] == 42, r       # it runs as hello does
    assert r["rss_mb"] < RSS_BOUND_MB, r


def test_tls_template_outside_the_image_is_refused(build_fixture, arch, tmp_path):
    exe = tmp_path / "bigtls.exe"
    exe.write_bytes(tls_range(build_fixture("hello.c", arch).read_bytes(), 2 * GIB))
    r = _run(exe)
    assert r["startup"] == 0xC000007B, r   # STATUS_INVALID_IMAGE_FORMAT: the image does not load
    assert "TLS template" in r["message"] and r["rss_mb"] < RSS_BOUND_MB, r


def test_huge_tls_template_inside_the_image_is_bounded(build_fixture, arch, tmp_path):
    exe = tmp_path / "bigtlsin.exe"
    exe.write_bytes(tls_range(huge_bss(build_fixture("hello.c", arch).read_bytes()), GIB - 0x100000))
    r = _run(exe)
    assert r["exit"] == 42, r
    assert r["rss_mb"] < RSS_BOUND_MB, r
