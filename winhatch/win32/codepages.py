"""Code page conversions (MultiByteToWideChar / WideCharToMultiByte) for the code pages programs use."""
from __future__ import annotations

CP_ACP, CP_OEMCP, CP_UTF8 = 0, 1, 65001
ACP, OEMCP = 1252, 437


def _codec(cp: int) -> str:
    if cp in (CP_ACP, 3):
        cp = ACP
    elif cp == CP_OEMCP:
        cp = OEMCP
    return "utf-8" if cp == CP_UTF8 else f"cp{cp}"


def decode(data: bytes, cp: int) -> str:
    try:
        return data.decode(_codec(cp), "replace")
    except LookupError:
        return data.decode("latin-1")


def encode(text: str, cp: int) -> tuple[bytes, bool]:
    codec = _codec(cp)
    try:
        out = text.encode(codec)
        return out, False
    except UnicodeEncodeError:
        return text.encode(codec, "replace"), True
    except LookupError:
        return text.encode("latin-1", "replace"), True
