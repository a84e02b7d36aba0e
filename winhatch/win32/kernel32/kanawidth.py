"""LCMapString's kana and width mappings (LCMAP_HIRAGANA, LCMAP_KATAKANA, LCMAP_FULLWIDTH, LCMAP_HALFWIDTH),
built from the Unicode Character Database (Python's unicodedata), not from a copied table:

- Hiragana <-> Katakana: the parallel blocks U+3041..U+3096 and U+30A1..U+30F6 (0x60 apart) and the iteration
  marks U+309D/E <-> U+30FD/E; the prolonged sound mark and the Katakana-only letters (U+30F7..U+30FA) stay.
- Full width <-> half width: the compatibility decompositions tagged <wide> (U+FF01 "FULLWIDTH EXCLAMATION
  MARK" is <wide> "!") and <narrow> (U+FF76 "HALFWIDTH KATAKANA KA" is <narrow> U+30AB), each direction its
  inverse, plus what Windows adds: the space and the ideographic space, the curly quotes to the ASCII quotes
  (half width), the spacing voiced sound marks U+309B/C, a voiced Katakana as its half-width letter and the
  half-width voiced mark (U+30AC -> U+FF76 U+FF9E, two characters) and the reverse composition, and, full
  width, a supplementary-plane character whose compatibility form is one character (the mathematical letters
  U+1D400.. -> A.., the CJK compatibility ideographs U+2F800.. -> their unified ideograph). The full-width
  reverse solidus U+FF3C is left alone both ways (a yen sign in Japanese fonts), as Windows does.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

_KANA_DELTA = 0x60
_VOICED, _SEMI = "\u3099", "\u309a"
_H_VOICED, _H_SEMI = "\uff9e", "\uff9f"


def to_hiragana(text: str) -> str:
    out = []
    for ch in text:
        o = ord(ch)
        if 0x30A1 <= o <= 0x30F6 or o in (0x30FD, 0x30FE):
            ch = chr(o - _KANA_DELTA)
        out.append(ch)
    return "".join(out)


def to_katakana(text: str) -> str:
    out = []
    for ch in text:
        o = ord(ch)
        if 0x3041 <= o <= 0x3096 or o in (0x309D, 0x309E):
            ch = chr(o + _KANA_DELTA)
        out.append(ch)
    return "".join(out)


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    """(to full width, to half width) of single characters, from the <wide>/<narrow> decompositions."""
    full: dict[str, str] = {" ": "\u3000", "\u309b": _VOICED, "\u309c": _SEMI}
    half: dict[str, str] = {"\u3000": " ", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                            "\u309b": _H_VOICED, "\u309c": _H_SEMI}
    for o in range(0x3000, 0x10000):
        ch = chr(o)
        d = unicodedata.decomposition(ch)
        if not d.startswith(("<wide>", "<narrow>")) or ch == "\uff3c":
            continue
        tag, *codes = d.split()
        if len(codes) != 1:
            continue
        base = chr(int(codes[0], 16))
        if tag == "<wide>":             # ch is the full-width form of base
            full.setdefault(base, ch)
            half.setdefault(ch, base)
        else:                           # ch is the half-width form of base
            half.setdefault(base, ch)
            full.setdefault(ch, base)
    return full, half


def _supplementary_compat(ch: str) -> str:
    if ord(ch) < 0x10000:
        return ch
    k = unicodedata.normalize("NFKC", ch)
    return k if len(k) == 1 else ch


def to_fullwidth(text: str) -> str:
    full, _ = _tables()
    out: list[str] = []
    for ch in text:
        m = full.get(ch)
        if m is None:
            m = _supplementary_compat(ch)
        if m in (_VOICED, _SEMI) and out:       # a half-width voiced mark composes with the letter before it
            composed = unicodedata.normalize("NFC", out[-1] + m)
            if len(composed) == 1:
                out[-1] = composed
                continue
        out.append(m)
    return "".join(out)


def to_halfwidth(text: str) -> str:
    _, half = _tables()
    out: list[str] = []
    for ch in text:
        m = half.get(ch)
        if m is None:
            d = unicodedata.normalize("NFD", ch)
            if len(d) == 2 and d[1] in (_VOICED, _SEMI) and 0x30A0 <= ord(d[0]) <= 0x30FF:
                mark = _H_VOICED if d[1] == _VOICED else _H_SEMI
                m = half.get(d[0], d[0]) + mark      # a voiced Katakana: its letter and the voiced mark
            else:
                m = ch
        out.append(m)
    return "".join(out)
