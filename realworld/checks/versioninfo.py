"""Linux-side check of rcedit's output: the version resource of a PE file, read by winhatch's PE parser, must
hold the given values. Prints `ok` and exits 0 when every NAME=VALUE matches (names: the fixed
`file_version`/`product_version`, or a StringFileInfo string), else prints each mismatch and exits 1.

    python realworld/checks/versioninfo.py FILE.exe NAME=VALUE...
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from winhatch.pe import PEFile, PEFormatError  # noqa: E402

try:
    vi = PEFile.open(sys.argv[1]).version_info
except (OSError, PEFormatError) as e:
    print(f"cannot read {sys.argv[1]}: {e}")
    sys.exit(1)
if not vi:
    print("no version resource")
    sys.exit(1)
have = {**vi.get("strings", {}), **{k: v for k, v in vi.get("fixed", {}).items() if k.endswith("_version")}}
bad = [f"{k}: {have.get(k)!r}, expected {v!r}" for k, v in (a.split("=", 1) for a in sys.argv[2:]) if have.get(k) != v]
print("\n".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
