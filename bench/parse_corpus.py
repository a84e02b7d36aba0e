"""Parse headers + imports + exports of every PE in the Wine corpus with winhatch.pe, pefile and LIEF.

Each parser reads every file and touches every imported function name/ordinal and every export. Prints one
line per parser, then, as the last line, ``ratio_vs_lief=<winhatch time / LIEF time>``.

    .venv/bin/python bench/parse_corpus.py [DIR] [--repeat N]
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WINE_DIR = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows"


def corpus(directory: str) -> list[str]:
    return sorted(str(p) for p in Path(directory).iterdir() if p.is_file())


def run_winhatch(files: list[str]) -> tuple[int, int]:
    from winhatch.pe import PEFile, PEFormatError
    n_imp = n_exp = 0
    for path in files:
        try:
            pe = PEFile.open(path)
        except PEFormatError:
            continue
        pe.sections
        for d in pe.imports:
            for f in d.functions:
                n_imp += 1 if (f.name or f.ordinal) is not None else 0
        e = pe.exports
        if e is not None:
            n_exp += len(e.functions)
        pe.close()
    return n_imp, n_exp


def run_pefile(files: list[str]) -> tuple[int, int]:
    import pefile
    n_imp = n_exp = 0
    dirs = [pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"], pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"]]
    for path in files:
        try:
            pe = pefile.PE(path, fast_load=True)
        except pefile.PEFormatError:
            continue
        pe.parse_data_directories(directories=dirs)
        for d in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
            for f in d.imports:
                n_imp += 1 if (f.name or f.ordinal) is not None else 0
        e = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
        if e is not None:
            n_exp += len(e.symbols)
        pe.close()
    return n_imp, n_exp


def run_lief(files: list[str]) -> tuple[int, int]:
    import lief
    lief.logging.disable()
    n_imp = n_exp = 0
    for path in files:
        b = lief.PE.parse(path)
        if b is None:
            continue
        for d in b.imports:
            for f in d.entries:
                n_imp += 1 if (f.name or f.ordinal) is not None else 0
        if b.has_exports:
            n_exp += len(b.get_export().entries)
    return n_imp, n_exp


def timed(fn, files, repeat: int) -> tuple[float, tuple[int, int]]:
    best = float("inf")
    res = (0, 0)
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        res = fn(files)
        best = min(best, time.perf_counter() - t0)
    return best, res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", nargs="?", default=WINE_DIR)
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per parser")
    args = ap.parse_args()
    files = corpus(args.directory)
    if not files:
        print(f"no files in {args.directory}", file=sys.stderr)
        return 1
    # warm the page cache so the first parser is not charged for disk reads
    for p in files:
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass
    print(f"corpus: {len(files)} files in {args.directory}")
    t_w, r_w = timed(run_winhatch, files, args.repeat)
    print(f"winhatch.pe: {t_w:.3f} s  ({r_w[0]} imported functions, {r_w[1]} exports)")
    t_p, r_p = timed(run_pefile, files, args.repeat)
    print(f"pefile:      {t_p:.3f} s  ({r_p[0]} imported functions, {r_p[1]} exports)")
    t_l, r_l = timed(run_lief, files, args.repeat)
    print(f"LIEF:        {t_l:.3f} s  ({r_l[0]} imported functions, {r_l[1]} exports)")
    print(f"ratio_vs_pefile={t_w / t_p:.3f}")
    print(f"ratio_vs_lief={t_w / t_l:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
