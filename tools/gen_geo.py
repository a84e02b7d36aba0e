"""Generate winhatch/win32/kernel32/geo_data.py: the geographical locations (GEOIDs) Windows knows, for
GetGeoInfo(A/W/Ex), EnumSystemGeoID and the user's location.

    .venv/bin/python tools/gen_geo.py [--check]          (needs wine64 and x86_64-w64-mingw32-gcc)
    (optional cross-check of the ISO codes: pip install pycountry in any venv and pass --pycountry PYTHON)

Where each column comes from:
- the GEOIDs, the friendly (short) and official (long) English names: Microsoft's "Table of Geographical
  Locations" (learn.microsoft.com/windows/win32/intl/table-of-geographical-locations, ms.date 05/31/2018),
  transcribed in tools/data/geo_names.tsv; an empty long name there is no datum (asking for it stops loudly);
- the class (a nation: GEO_NATION answers the GEOID; a region: it answers nothing), the ISO 3166-1 alpha-2 and
  alpha-3 codes (GEO_ISO2/GEO_ISO3; "XX" for a region), the ISO/UN M.49 number (GEO_ISO_UN_NUMBER), the parent
  region (GEO_PARENT, territory containment), the dialing code (GEO_DIALINGCODE), the currency's ISO 4217 code
  and symbol (GEO_CURRENCYCODE/GEO_CURRENCYSYMBOL) and the set of GEOIDs itself (EnumSystemGeoID(GEOCLASS_ALL)):
  the reference, Wine 8's kernelbase, asked by a small program run under wine64 (in $WINEPREFIX, else
  ~/.cache/winhatch/wineprefix-geo; facts, read back through the
  documented API; Wine's own code and files are not used). One GEOID Wine knows is not in Microsoft's table
  (257, Western Sahara): it is kept, without names;
- not here: GEO_LATITUDE/GEO_LONGITUDE (Wine answers 0.000 everywhere; Windows' coordinates are not published),
  GEO_TIMEZONES/GEO_OFFICIALLANGUAGES (documented "Not implemented"), GEO_LCID: winhatch stops loudly on them.
With --pycountry, the ISO alpha-2/alpha-3/numeric codes of every nation are compared with pycountry's ISO 3166
data and the differences printed (none are applied: Windows' codes are the reference).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "winhatch" / "win32" / "kernel32" / "geo_data.py"
NAMES = ROOT / "tools" / "data" / "geo_names.tsv"

# the oracle: every GEOID of EnumSystemGeoID(GEOCLASS_ALL) and GetGeoInfoW of the types kept here
DUMPER = r"""
#include <windows.h>
#include <stdio.h>
static GEOID ids[4096]; static int n;
static BOOL CALLBACK cb(GEOID id) { if (n < 4096) ids[n++] = id; return TRUE; }
int main(void)
{
    static const int types[] = {1, 4, 5, 12, 13, 14, 15, 16};
    int i, t, r, k; WCHAR buf[256];
    EnumSystemGeoID(GEOCLASS_ALL, 0, cb);
    for (i = 0; i < n; i++) {
        printf("%ld", ids[i]);
        for (t = 0; t < 8; t++) {
            r = GetGeoInfoW(ids[i], types[t], buf, 256, 0);
            printf("\t");
            if (!r) printf("-");
            else for (k = 0; buf[k]; k++) printf("%04x", buf[k]);
        }
        printf("\n");
    }
    return 0;
}
"""
COLUMNS = ("nation", "iso2", "iso3", "un", "parent", "dial", "currency", "symbol")


def wine_table() -> dict[int, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp, "geodump.c"), Path(tmp, "geodump.exe")
        src.write_text(DUMPER)
        subprocess.run(["x86_64-w64-mingw32-gcc", "-O1", "-o", str(exe), str(src)], check=True)
        prefix = os.environ.get("WINEPREFIX") or str(Path.home() / ".cache" / "winhatch" / "wineprefix-geo")
        env = dict(os.environ, WINEDEBUG="-all", WINEPREFIX=prefix)
        out = subprocess.run(["/usr/lib/wine/wine64", str(exe)], check=True, capture_output=True, text=True,
                             env=env, timeout=300).stdout
    table = {}
    for line in out.splitlines():
        f = line.rstrip("\r").split("\t")
        if len(f) != 1 + len(COLUMNS):
            continue
        vals = [None if x == "-" else "".join(chr(int(x[i:i + 4], 16)) for i in range(0, len(x), 4)) for x in f[1:]]
        row = dict(zip(COLUMNS, vals))
        row["nation"] = row["nation"] is not None
        table[int(f[0])] = row
    if len(table) < 250:
        raise SystemExit(f"the oracle listed {len(table)} GEOIDs only")
    return table


def ms_names() -> dict[int, tuple[str, str | None]]:
    out = {}
    for line in NAMES.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        gid, short, long_ = line.split("\t")
        out[int(gid)] = (short, long_ or None)
    return out


def pycountry_check(python: str, table: dict[int, dict]) -> None:
    code = ("import json, pycountry; print(json.dumps({c.alpha_2: [c.alpha_3, c.numeric] "
            "for c in pycountry.countries}))")
    iso = json.loads(subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout)
    for gid, row in sorted(table.items()):
        if row["iso2"] in (None, "XX"):
            continue
        ref = iso.get(row["iso2"])
        if ref is None:
            print(f"  pycountry: {gid} {row['iso2']}: no such ISO 3166-1 code (a former or reserved one)")
        elif ref != [row["iso3"], row["un"]]:
            print(f"  pycountry: {gid} {row['iso2']}: {row['iso3']} {row['un']} vs ISO {ref[0]} {ref[1]}")


def render(table: dict[int, dict], names: dict[int, tuple[str, str | None]]) -> str:
    lines = ['"""The geographical locations (GEOIDs) of Windows: generated by tools/gen_geo.py, do not edit.',
             "",
             "GEO[geoid] = (nation, iso2, iso3, un_number, parent, dialing_code, currency_code, currency_symbol,",
             "              friendly_name, official_name)",
             "nation: True for a nation (GEOCLASS_NATION), False for a region (GEOCLASS_REGION); iso2 \"XX\" for a",
             "region; the names are Microsoft's English ones (None: not documented). The sources of each column are",
             'in the generator\'s docstring."""',
             "",
             "GEO: dict[int, tuple] = {"]
    for gid in sorted(table):
        row = table[gid]
        short, long_ = names.get(gid, (None, None))
        vals = [row["nation"]] + [row[k] for k in COLUMNS[1:]] + [short, long_]
        lines.append(f"    {gid}: ({', '.join(_lit(v) for v in vals)}),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _lit(v) -> str:
    if v is None or isinstance(v, bool):
        return repr(v)
    return '"' + "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else f"\\u{ord(ch):04x}" for ch in v) + '"'


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    ap.add_argument("--pycountry", metavar="PYTHON", help="a Python with pycountry: cross-check the ISO codes")
    args = ap.parse_args()
    table, names = wine_table(), ms_names()
    missing = sorted(set(names) - set(table))
    if missing:
        raise SystemExit(f"GEOIDs of Microsoft's table the oracle does not know: {missing}")
    for gid in sorted(set(table) - set(names)):
        print(f"  GEOID {gid} ({table[gid]['iso2']}) is not in Microsoft's table: kept without names")
    for gid, row in table.items():
        if row["iso2"] is None or row["iso3"] is None or row["un"] is None or row["parent"] is None:
            raise SystemExit(f"GEOID {gid}: a datum is missing: {row}")
    if args.pycountry:
        pycountry_check(args.pycountry, table)
    text = render(table, names)
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("geo_data.py is up to date" if same else "geo_data.py differs from the generator's output")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(table)} GEOIDs "
          f"({sum(r['nation'] for r in table.values())} nations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
