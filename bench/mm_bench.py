"""Memory-manager bench: allocate/protect/query/free throughput, and the host-memory cost of
mapping one image section into many address spaces versus giving each process its own copy.

    .venv/bin/python bench/mm_bench.py [--spaces 50] [--code-mb 8] [--iters 300]

Note: Unicorn 2.1 itself makes partial-region protect/unmap cost grow with the number of mapped
regions (each split rebuilds its memory map), which is why the address space merges neighbours.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from winhatch.kernel.mm import (  # noqa: E402
    MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_EXECUTE_READ, PAGE_READONLY, PAGE_READWRITE,
    AddressSpace, Section, UnicornBackend,
)

MB = 1 << 20


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def rate(n: int, dt: float) -> str:
    return f"{n / dt:>10,.0f} ops/s"


def bench_ops(iters: int) -> None:
    asp = AddressSpace(UnicornBackend(), "x64")
    t0 = time.perf_counter()
    bases = [asp.allocate(None, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)[0] for _ in range(iters)]
    t1 = time.perf_counter()
    for b in bases:
        asp.protect(b + 0x1000, 0x1000, PAGE_READONLY)
    t2 = time.perf_counter()
    for b in bases:
        asp.query(b + 0x1000)
    t3 = time.perf_counter()
    n_regions = len(asp.regions())
    t4 = time.perf_counter()
    for b in bases:
        asp.free(b, 0, MEM_RELEASE)
    t5 = time.perf_counter()
    # a reservation committed page by page (heap/stack growth)
    asp2 = AddressSpace(UnicornBackend(), "x64")
    base, _ = asp2.allocate(None, 64 * MB, MEM_RESERVE, PAGE_READWRITE)
    t6 = time.perf_counter()
    for i in range(iters):
        asp2.allocate(base + i * 0x1000, 0x1000, MEM_COMMIT, PAGE_READWRITE)
    t7 = time.perf_counter()
    print(f"ops ({iters} allocations of 64 KiB, x64, Unicorn backend)")
    print(f"  allocate (reserve+commit) {rate(iters, t1 - t0)}")
    print(f"  protect (1 page)          {rate(iters, t2 - t1)}")
    print(f"  query                     {rate(iters, t3 - t2)}")
    print(f"  regions() walk            {n_regions} regions in {1e3 * (t4 - t3):.1f} ms")
    print(f"  free (release)            {rate(iters, t5 - t4)}")
    print(f"  commit page-by-page       {rate(iters, t7 - t6)}  -> {asp2.counters['backend_regions']} backend region(s)")


def make_image(code_mb: int) -> Section:
    code = code_mb * MB
    size = 0x1000 + code + 0x10000
    img = bytearray(size)
    img[:2] = b"MZ"
    pattern = bytes(range(1, 256)) * 16
    for off in range(0x1000, 0x1000 + code, len(pattern)):
        img[off: off + len(pattern)] = pattern[: min(len(pattern), 0x1000 + code - off)]
    img[0x1000 + code: 0x1000 + code + 0x10000] = b"D" * 0x10000
    prots = [(0x1000, code, PAGE_EXECUTE_READ), (0x1000 + code, 0x10000, PAGE_READWRITE)]
    return Section.create_image(img, prots, "big.dll", 0x180000000)


def bench_sharing(spaces: int, code_mb: int) -> None:
    gc.collect()
    backends = [UnicornBackend() for _ in range(spaces)]
    for be in backends:                        # warm up each Unicorn instance
        be.uc.mem_map(0x1000, 0x1000)
        be.uc.mem_unmap(0x1000, 0x1000)
    r0 = rss()
    sec = make_image(code_mb)
    t0 = time.perf_counter()
    aspaces = [AddressSpace(be, "x64") for be in backends]
    for asp in aspaces:
        asp.map_view(sec)
    t1 = time.perf_counter()
    # touch every page of every view (a guest would fetch the code) to make sure nothing is lazily deferred
    for asp in aspaces:
        for off in range(0, sec.size, 0x1000):
            asp.backend.uc.mem_read(0x180000000 + off, 1)
    r1 = rss()
    host_counted = sec.host_bytes + sum(a.counters["commit_charge"] for a in aspaces)
    shared_rss = r1 - r0
    del aspaces
    gc.collect()

    backends2 = [UnicornBackend() for _ in range(spaces)]
    for be in backends2:
        be.uc.mem_map(0x1000, 0x1000)
        be.uc.mem_unmap(0x1000, 0x1000)
    r2 = rss()
    content = sec.read(0, sec.size)
    t2 = time.perf_counter()
    for be in backends2:                       # the naive way: one private copy per process
        be.uc.mem_map(0x180000000, sec.size, 7)
        be.uc.mem_write(0x180000000, content)
    t3 = time.perf_counter()
    r3 = rss()
    copies_rss = r3 - r2
    print(f"image sharing ({code_mb} MiB RX code + 64 KiB data, {spaces} address spaces)")
    print(f"  shared section: counted host bytes {host_counted / MB:8.1f} MiB "
          f"(1 section {sec.host_bytes / MB:.1f} MiB + {spaces} x private data {aspaces_data_kib(sec)} KiB), "
          f"RSS +{shared_rss / MB:8.1f} MiB, map time {1e3 * (t1 - t0):.0f} ms")
    print(f"  {spaces} private copies:  counted host bytes {spaces * sec.size / MB:8.1f} MiB, "
          f"RSS +{copies_rss / MB:8.1f} MiB, map time {1e3 * (t3 - t2):.0f} ms")
    if shared_rss > 0:
        print(f"  -> sharing uses {copies_rss / shared_rss:.1f}x less resident memory")


def aspaces_data_kib(sec: Section) -> int:
    return sum(e - s for s, e, p in sec.page_protect.iter() if p & 0x88) * 4


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spaces", type=int, default=50)
    ap.add_argument("--code-mb", type=int, default=8)
    ap.add_argument("--iters", type=int, default=300)
    a = ap.parse_args()
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}")
    bench_ops(a.iters)
    bench_sharing(a.spaces, a.code_mb)


if __name__ == "__main__":
    main()
