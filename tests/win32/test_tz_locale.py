"""The profile's [locale] (docs/profile.md): the time zone and the locale every layer reads — tz_locale.c prints
the answers of kernel32, ntdll, KUSER_SHARED_DATA, the CRT and the registry under the default machine (Eastern
Standard Time, en-US) and a ru-RU / Russian Standard Time profile; the kernel's zone rules are checked against
Python's zoneinfo (IANA's data) for every hour of years the Windows rule covers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from winhatch import runner
from winhatch.kernel.ex.timezone import ZONES, TimeZone, to_datetime, to_filetime
from winhatch.kernel.profile import Profile, ProfileError

LIBS = ["-ladvapi32", "-luser32"]


def _lines(res) -> dict[str, str]:
    assert res.exit_status == 0, (res.error, res.stderr)
    return dict(line.split(": ", 1) if ": " in line else (line, "") for line in res.stdout.decode().splitlines())


def test_default_machine_zone_and_locale(build_fixture, arch):
    out = _lines(runner.run(build_fixture("tz_locale.c", arch, libs=LIBS)))
    # the machine starts on 2026-01-01: standard time in New York
    assert out["zone id"] == "1" and out["dynamic id"] == "1"
    assert out["bias"] == "300 0 -60"
    assert out["standard name"] == "Eastern Standard Time"
    assert out["daylight name"] == "Eastern Daylight Time"
    assert out["standard date"] == "11/0/1 2:00" and out["daylight date"] == "3/0/2 2:00"
    assert out["key name"] == "Eastern Standard Time"
    assert out["kuser bias minutes"] == "300 id 1"
    assert out["timeofday"] == "0 bias minutes 300 id 1"
    assert out["rtl"] == "0 bias 300"
    assert out["filetime to local minutes"] == "300 round trip 1"
    assert out["system - local minutes"] == "300"
    assert out["crt timezone"] == "18000 daylight 1"
    assert out["crt tzname"] == "Eastern Standard Time / Eastern Daylight Time"
    assert out["crt localtime 2025-07-01 12:00Z"] == "08:00 isdst 1"
    assert out["crt localtime 2025-01-15 12:00Z"] == "07:00 isdst 0"
    assert out["crt mktime round trip"] == "1"
    assert out["TZ=PST8PDT"] == "timezone 28800 daylight 1 PST/PDT, 2025-07-01 12:00Z -> 05:00 isdst 1"
    assert out["TZ=UTC"] == "timezone 0 daylight 0, -> 12:00"
    assert out["TZ unset"] == "timezone 18000"
    assert "machine 2025-01-15 12:00Z -> 1 2025-01-15 07:00 -> 1 12:00" in out
    assert "machine 2025-07-01 12:00Z -> 1 2025-07-01 08:00 -> 1 12:00" in out
    assert "sydney 2025-01-15 12:00Z -> 1 2025-01-15 23:00 -> 1 12:00" in out    # southern summer: +11
    assert "sydney 2025-07-01 12:00Z -> 1 2025-07-01 22:00 -> 1 12:00" in out
    assert out["sydney for 2025"] == "1 bias -600 AUS Eastern Standard Time"
    assert out["pacific dynamic years"] == "0 2006-2007"
    assert out["pacific 2006-03-20 12:00Z"] == "2006-03-20 04:00"    # the 2006 rule: DST from April
    assert out["pacific 2008-03-20 12:00Z"] == "2008-03-20 05:00"    # the 2007 rule: DST from March's 2nd Sunday
    assert out["zones enumerated"] == "1"
    assert out["reg TimeZoneKeyName"] == "Eastern Standard Time"
    assert out["reg ActiveTimeBias"] == "300"
    assert out["user lcid"] == out["system lcid"] == out["thread locale"] == "0409"
    assert out["code pages"] == "1252 437"
    assert out["keyboard layouts"] == "1 04090409"
    assert out["keyboard layout name"] == "00000409"


def test_russian_profile(build_fixture, arch, tmp_path):
    prof = tmp_path / "ru.toml"
    prof.write_text('[locale]\ntime_zone = "Russian Standard Time"\nlocale = "ru-RU"\n')
    lines = runner.run(build_fixture("tz_locale.c", arch, libs=LIBS), profile=prof)
    out = _lines(lines)
    assert out["zone id"] == "0"            # no daylight time: TIME_ZONE_ID_UNKNOWN
    assert out["bias"] == "-180 0 -60"
    assert out["standard name"] == "Russia TZ 2 Standard Time"
    assert out["key name"] == "Russian Standard Time"
    assert out["kuser bias minutes"] == "-180 id 0"
    assert out["timeofday"] == "0 bias minutes -180 id 0"
    assert out["system - local minutes"] == "-180"
    assert out["crt timezone"] == "-10800 daylight 0"
    assert out["crt localtime 2025-07-01 12:00Z"] == "15:00 isdst 0"
    assert "machine 2025-07-01 12:00Z -> 1 2025-07-01 15:00 -> 1 12:00" in out
    assert out["reg Bias"] == "-180" and out["reg ActiveTimeBias"] == "-180"
    assert out["user lcid"] == out["system lcid"] == out["thread locale"] == "0419"
    assert out["ui language"] == "0419 0419"
    assert out["user locale name"] == out["system locale name"] == "ru-RU"
    assert out["code pages"] == "1251 866"
    assert out["iso639"] == "ru" and out["iso3166"] == "RU" and out["ansi code page"] == "1251"
    assert out["keyboard layouts"] == "2 04190419 04090409"
    assert out["keyboard layout"] == "04190419" and out["keyboard layout name"] == "00000419"
    assert out["reg ACP"] == "1251" and out["reg OEMCP"] == "866"
    assert out["reg LocaleName"] == "ru-RU" and out["reg 1"] == "00000419"


@pytest.mark.parametrize("key", sorted(z.key for z in ZONES.values()))
def test_zone_rules_match_zoneinfo(key):
    """Every hour of 2023-2025 (the Windows rule in force then): the kernel's bias and UTC->local->UTC agree
    with IANA's zone. Europe/Moscow has had no DST since 2011 and +3 since 2014; the US rule dates from 2007."""
    zone = ZONES[key.lower()]
    tz = TimeZone(zone)
    iana = ZoneInfo(zone.iana)
    t = datetime(2023, 1, 1, tzinfo=timezone.utc)
    end = datetime(2026, 1, 1, tzinfo=timezone.utc)
    while t < end:
        ft = to_filetime(t.replace(tzinfo=None))
        expected = -int(t.astimezone(iana).utcoffset().total_seconds() // 60)
        bias, zid = tz.state(ft)
        assert bias == expected, (key, t)
        assert (zid == 2) == bool(t.astimezone(iana).dst()), (key, t)
        local = to_datetime(tz.to_local(ft))
        assert local == t.astimezone(iana).replace(tzinfo=None), (key, t)
        t += timedelta(hours=1)


def test_profile_locale_errors():
    with pytest.raises(ProfileError, match=r"time_zone: 'Mars Standard Time' is not a modelled"):
        Profile.from_dict({"locale": {"time_zone": "Mars Standard Time"}})
    with pytest.raises(ProfileError, match=r"locale: 'xx-YY' is not a modelled locale"):
        Profile.from_dict({"locale": {"locale": "xx-YY"}})
    p = Profile.from_dict({"locale": {"locale": "0x411", "keyboards": ["ja-JP", "en-us"]}})
    assert p.locale == "ja-JP" and p.keyboards == ("ja-JP", "en-US")
