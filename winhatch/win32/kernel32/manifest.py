"""The process's application manifest, as the process's default activation context is built from it at start-up:
the program's RT_MANIFEST resource CREATEPROCESS_MANIFEST_RESOURCE_ID (1), or, when it has none, the file
"<program>.manifest" beside it. Parsed with the standard XML parser (bounded size; a manifest that does not
parse is no manifest)."""
from __future__ import annotations

import re
import struct

from winhatch.ntstatus import NtStatusError

RT_MANIFEST = 24
MAX_MANIFEST = 1 << 20
#: supportedOS Ids of the compatibility section -> the (major, minor) GetVersionEx reports to such a program
SUPPORTED_OS = {
    "{35138b9a-5d96-4fbd-8e2d-a2440225f93a}": (6, 2),   # Windows 7 (not below the 6.2 floor)
    "{4a2f28e3-53b9-4441-ba9c-d69d4a4a6e38}": (6, 2),   # Windows 8
    "{1f676c76-80e1-4239-95bb-83d0f6d0da78}": (6, 3),   # Windows 8.1
    "{8e0f7a12-bfb3-4fe8-b9a5-48fd50a15a9a}": (10, 0),  # Windows 10 / 11
}


def _embedded(c) -> bytes | None:
    from winhatch.ldr import loader
    from winhatch.pe import PEFormatError
    try:
        mods = loader.state_of(c.proc).modules
        pe = mods[0].pe
        root = pe.resources
    except (PEFormatError, AttributeError, IndexError, KeyError):
        return None
    t = next((e for e in (root.entries if root else ()) if e.name is None and e.id == RT_MANIFEST), None)
    if t is None or t.directory is None:
        return None
    n = next((e for e in t.directory.entries if e.name is None and e.id == 1), None)
    if n is None or n.directory is None or not n.directory.entries:
        return None
    leaf = n.directory.entries[0]
    if leaf.data is None or leaf.data.size > MAX_MANIFEST:
        return None
    try:
        return pe.read_rva(leaf.data.rva, leaf.data.size)
    except (PEFormatError, ValueError):
        return None


def _external(c) -> bytes | None:
    from winhatch.ldr import loader
    from winhatch.win32.kernel32.resource import read_guest_file
    try:
        path = loader.state_of(c.proc).modules[0].path
    except (AttributeError, IndexError, KeyError):
        return None
    try:
        return read_guest_file(c, path + ".manifest", MAX_MANIFEST)
    except NtStatusError:
        return None


def process_manifest(c) -> bytes | None:
    """The bytes of the program's manifest (cached per process), or None."""
    st = c.proc.subsystem.setdefault("kernel32_manifest", {})
    if "data" not in st:
        data = _embedded(c)
        st["data"] = data if data is not None else _external(c)
    return st["data"]


def supported_os_ids(data: bytes) -> list[str] | None:
    """The supportedOS Ids of the manifest's compatibility/application section, or None when it has no
    compatibility section (or does not parse)."""
    import xml.etree.ElementTree as ET
    try:
        text = data.decode("utf-8-sig") if not data.startswith((b"\xff\xfe", b"\xfe\xff")) else data.decode("utf-16")
        root = ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text))
    except (ET.ParseError, UnicodeDecodeError, ValueError):
        return None
    found = None
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "compatibility" and found is None:
            found = []
        if tag == "supportedOS":
            found = found if found is not None else []
            found.append(el.get("Id", "").lower())
    return found


def reported_version(c, pe_os: tuple[int, int]) -> tuple[int, int]:
    """The (major, minor) GetVersion(Ex) reports: from the manifest's supportedOS entries when it declares
    any compatibility, else from the image's MajorOperatingSystemVersion (10.0 or later: 10.0, 6.3 or
    later: 6.3) — never below Windows 8's 6.2."""
    data = process_manifest(c)
    ids = supported_os_ids(data) if data else None
    if ids:
        return max([SUPPORTED_OS.get(i, (6, 2)) for i in ids] + [(6, 2)])
    if pe_os >= (10, 0):
        return 10, 0
    if pe_os >= (6, 3):
        return 6, 3
    return 6, 2


def image_os_version(c) -> tuple[int, int]:
    """MajorOperatingSystemVersion/MinorOperatingSystemVersion of the program's optional header (in memory)."""
    base = c.proc.image_base
    lfanew = struct.unpack("<I", c.read(base + 0x3C, 4))[0]
    return struct.unpack("<HH", c.read(base + lfanew + 24 + 40, 4))
