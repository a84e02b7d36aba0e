#!/usr/bin/env python3
"""Extract the API set mapping from Wine's apisetschema.dll into winhatch/kernel/apiset/apiset.json.

apisetschema.dll carries a version-6 API set schema in its ``.apiset`` section (the same
format Windows 10 maps into every process, PEB.ApiSetMap). It is decoded with
winhatch.kernel.apiset.schema.ApiSetSchema and written as
``{api set name: [default host | null, {importing module: host}]}``.

Usage: python tools/gen_apiset.py [--dll PATH] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from winhatch.kernel.apiset.schema import ApiSetSchema  # noqa: E402

DEFAULT_DLL = Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows/apisetschema.dll")
DEFAULT_OUT = ROOT / "winhatch" / "kernel" / "apiset" / "apiset.json"


def read_section(pe: bytes, want: str = ".apiset") -> bytes:
    """Raw data of section ``want`` of a PE image file (tiny self-contained reader)."""
    if pe[:2] != b"MZ":
        raise ValueError("not a PE file")
    (lfanew,) = struct.unpack_from("<I", pe, 0x3C)
    if pe[lfanew:lfanew + 4] != b"PE\0\0":
        raise ValueError("no PE signature")
    _machine, nsect, _ts, _sym, _nsym, opt_size, _chars = struct.unpack_from("<HHIIIHH", pe, lfanew + 4)
    sec = lfanew + 24 + opt_size
    for i in range(nsect):
        name, vsize, _va, rawsize, rawptr = struct.unpack_from("<8sIIII", pe, sec + 40 * i)
        if name.rstrip(b"\0").decode("latin-1") == want:
            return pe[rawptr:rawptr + min(rawsize, vsize or rawsize)]
    raise ValueError(f"no {want} section")


def extract(dll: Path) -> dict:
    return ApiSetSchema(read_section(dll.read_bytes())).mapping()


def dumps(mapping: dict) -> str:
    return json.dumps(mapping, sort_keys=True, indent=1) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dll", type=Path, default=DEFAULT_DLL)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    mapping = extract(args.dll)
    args.out.write_text(dumps(mapping))
    hosts = sorted({v[0] for v in mapping.values() if v[0]})
    print(f"{len(mapping)} API sets, {len(hosts)} hosts, "
          f"{sum(1 for v in mapping.values() if not v[0])} without host -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
