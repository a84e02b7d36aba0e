"""The generated GEOID table (winhatch/win32/kernel32/geo_data.py, tools/gen_geo.py) and the geo-name rules of
winhatch/win32/kernel32/geo.py. The API's behaviour is checked against wine64 by the conformance fixture
tests/fixtures/src/conf_geo.c and by Wine's kernel32/locale test (test_GetGeoInfo, test_EnumSystemGeoID,
test_geo_name)."""
from __future__ import annotations

import re
from pathlib import Path

from winhatch.win32.kernel32.geo import WORLD, find_name, geo_name
from winhatch.win32.kernel32.geo_data import GEO

ROOT = Path(__file__).resolve().parents[2]


def test_shape():
    assert 290 <= len(GEO) <= 320
    for gid, row in GEO.items():
        nation, iso2, iso3, un, parent, dial, cur, sym, friendly, official = row
        assert isinstance(nation, bool)
        assert re.fullmatch(r"[A-Z]{2}", iso2) and re.fullmatch(r"[A-Z]{2,3}", iso3), (gid, iso2, iso3)
        assert (iso2 == "XX") == (iso3 == "XX"), gid
        assert re.fullmatch(r"\d{3}", un), (gid, un)
        assert int(parent) in GEO, (gid, parent)          # containment stays inside the table
        assert re.fullmatch(r"\d+", dial) and re.fullmatch(r"[A-Z]{3}", cur) and sym, gid
        assert friendly is None or friendly.strip() == friendly != ""
        assert official is None or official.strip() == official != ""


def test_microsofts_table_is_the_names():
    """Every row of the transcribed table is in GEO with its names; the one GEOID outside it has none."""
    rows = [line.split("\t") for line in (ROOT / "tools" / "data" / "geo_names.tsv").read_text("utf-8").splitlines()
            if line and not line.startswith("#")]
    assert len(rows) == 300
    for gid, short, long_ in rows:
        assert GEO[int(gid)][8:] == (short, long_ or None)
    assert set(GEO) - {int(r[0]) for r in rows} == {257}
    assert GEO[257][8:] == (None, None)


def test_facts():
    """Documented facts: Wine's test_GetGeoInfo, SYSGEOTYPE's examples, ISO 3166 / UN M.49."""
    assert GEO[203][:5] == (True, "RU", "RUS", "643", "47609")
    assert GEO[244][1:8] == ("US", "USA", "840", "23581", "1", "USD", "$")
    assert GEO[94][8:] == ("Germany", "Federal Republic of Germany")
    assert GEO[39070][:4] == (False, "XX", "XX", "001")
    assert GEO[47610][0] is False and GEO[333][0] is False and GEO[11][0] is True
    nations = [g for g, r in GEO.items() if r[0]]
    assert len(nations) == 270 and min(GEO) == 2


def test_names():
    assert geo_name(203) == "RU" and geo_name(42483) == "011" and geo_name(333) == "AN"
    assert geo_name(21242) == "XX" and geo_name(WORLD) == "001"
    assert find_name("ar") == 11 and find_name("AR") == 11
    assert find_name("Xx") == WORLD and find_name("001") == WORLD and find_name("150") == 10541
    assert find_name("830") == 308              # the Channel Islands: a region with a UN number
    # a nation's UN number is no name; nor is anything not two letters or three digits
    for bad in ("032", "643", "QQ", "", None, "USA", "1", "39070", "0150", "150a", "\u0661\u0665\u0660"):
        assert find_name(bad) is None, bad
    # every location's name leads back to it, but the nations without a code ("XX": the World)
    for gid in GEO:
        name = geo_name(gid)
        assert find_name(name) == {"XX": WORLD, "SJ": 220}.get(name, gid), gid
    assert geo_name(125) == geo_name(220) == "SJ"         # Jan Mayen and Svalbard share ISO 3166's SJ


LATITUDE = r"""
#include <windows.h>
#include <stdio.h>
int main(void)
{
    char buf[32];
    int r = GetGeoInfoA(244, GEO_ISO2, buf, sizeof buf, 0);
    printf("iso2 %d %s\n", r, buf);
    fflush(stdout);
    r = GetGeoInfoA(244, GEO_LATITUDE, buf, sizeof buf, 0);    /* no data: the run stops here */
    printf("not reached %d\n", r);
    return 0;
}
"""


def test_a_datum_without_data_stops_loudly(tmp_path, arch):
    """Windows' coordinates are not published (Wine answers 0.000 for every location): GEO_LATITUDE stops the
    program loudly rather than answer a made-up value."""
    import subprocess

    import fixturebuild
    from winhatch import runner
    src = tmp_path / "geolat.c"
    src.write_text(LATITUDE)
    exe = tmp_path / f"geolat-{arch}.exe"
    subprocess.run([fixturebuild.compiler(arch), "-O1", "-o", str(exe), str(src)], check=True, capture_output=True)
    res = runner.run(exe, [])
    assert res.stdout.decode().splitlines() == ["iso2 3 US"]
    assert res.exit_status == 0xC0000002                   # STATUS_NOT_IMPLEMENTED
    assert res.error is not None and "GEO_LATITUDE" in res.error
