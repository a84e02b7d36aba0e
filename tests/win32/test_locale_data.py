"""The generated locale table (winhatch/kernel/ex/locale_data.py, from tools/gen_locale_data.py over CLDR):
its shape, its agreement with the locales nls.py models, and the generator's CLDR -> Windows conversions."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from winhatch.kernel.ex.locale_data import GENITIVE, LOCALE_DATA
from winhatch.kernel.ex.nls import LOCALES, NEUTRAL_NAME_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gen_locale_data", ROOT / "tools" / "gen_locale_data.py")
gen = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("gen_locale_data", gen)
_spec.loader.exec_module(gen)

#: the LCTYPEs every generated locale has
REQUIRED = ({0x04, 0x08, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x14, 0x15, 0x19, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x21,
             0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x78, 0x79, 0x1003, 0x1006, 0x1009, 0x100C, 0x100D}
            | set(range(0x2A, 0x50)) | set(range(0x60, 0x67)))
NUMERIC = {0x0D, 0x19, 0x1A, 0x1B, 0x1C, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x52, 0x53, 0x54, 0x55, 0x56,
           0x57, 0x70, 0x71, 0x74, 0x75, 0x1005, 0x1009, 0x100A, 0x100C, 0x100D, 0x1010, 0x1014}


def test_every_modelled_locale_has_its_data():
    assert set(LOCALE_DATA) == {x.name for x in LOCALES.values()} - {"en-US"}   # en-US: Windows' own table
    for name in NEUTRAL_NAME_DEFAULTS.values():
        assert name == "en-US" or name in LOCALE_DATA


@pytest.mark.parametrize("name", sorted(LOCALE_DATA))
def test_shape(name):
    d = LOCALE_DATA[name]
    assert REQUIRED <= set(d), sorted(hex(k) for k in REQUIRED - set(d))
    for k, v in d.items():
        assert isinstance(k, int) and isinstance(v, str)
        if k in NUMERIC:
            assert re.fullmatch(r"\d+", v), (hex(k), v)
    assert re.fullmatch(r"\d(;\d)*;0|0", d[0x10]), d[0x10]
    # the pictures use only Windows' picture letters outside quotes
    for k in (0x1F, 0x20, 0x1006, 0x78):
        assert set(re.sub(r"'[^']*'", "", d[k])) & set("abcefijklnopqruvwxzEGLQ") == set(), (hex(k), d[k])
    for k in (0x1003, 0x79):
        assert re.search(r"[hH]", d[k]) and "m" in d[k], (hex(k), d[k])
    assert all(d[0x38 + i] for i in range(12)) and len({d[0x38 + i] for i in range(12)}) == 12
    assert d[0x100C] in "0123456" and d[0x100D] in "012"


def test_genitive_months_are_month_lctypes():
    for name, g in GENITIVE.items():
        assert name in LOCALE_DATA
        assert set(g) <= set(range(0x38, 0x50))
    # Russian: "января" (of January) besides the nominative "январь"
    assert GENITIVE["ru-RU"][0x38] == "\u044f\u043d\u0432\u0430\u0440\u044f"
    assert LOCALE_DATA["ru-RU"][0x38] == "\u044f\u043d\u0432\u0430\u0440\u044c"
    assert "en-GB" not in GENITIVE


@pytest.mark.parametrize("cldr, windows, four", [
    ("dd.MM.y", "dd.MM.yyyy", True),
    ("M/d/yy", "M/d/yyyy", True),
    ("M/d/yy", "M/d/yy", False),
    ("EEEE, d MMMM y '\u0433'.", "dddd, d MMMM yyyy '\u0433'.", True),
    ("LLLL y", "MMMM yyyy", True),
    ("h:mm\u202fa", "h:mm tt", True),
    ("HH:mm:ss", "HH:mm:ss", True),
    ("EEEE, d \u05d1MMMM y", "dddd, d \u05d1MMMM yyyy", True),     # a non-ASCII letter is a literal
])
def test_picture_conversion(cldr, windows, four):
    assert gen.picture(cldr, four) == windows


def test_picture_rejects_unknown_letters():
    with pytest.raises(ValueError):
        gen.picture("y QQQ")


@pytest.mark.parametrize("pattern, grouping", [("#,##0.###", "3;0"), ("#,##,##0.###", "3;2;0"), ("0.###", "0")])
def test_grouping(pattern, grouping):
    assert gen._grouping(pattern) == grouping


@pytest.mark.parametrize("pattern, icur, ineg", [
    ("\u00a4#,##0.00", 0, 1), ("#,##0.00\u00a0\u00a4", 3, 8), ("\u00a4\u00a0#,##0.00", 2, 9), ("#,##0.00\u00a4", 1, 5)])
def test_currency_layout(pattern, icur, ineg):
    pre, space = gen._currency_layout(pattern)
    assert gen._icurrency(pre, space) == icur and gen._inegcurr(pre, space) == ineg


def test_committed_table_is_the_generators_output():
    pytest.importorskip("babel")
    import babel
    if babel.__version__ != "2.18.0":
        pytest.skip(f"the table is generated with babel 2.18.0 (installed: {babel.__version__})")
    assert gen.render() == gen.OUT.read_text(encoding="utf-8")
