"""The address space of a process as Sysinternals VMMap shows it.

`memory_map(aspace)` walks every region (`AddressSpace.regions()`: MEMORY_BASIC_INFORMATION plus the
allocation's tag) and classifies it the way VMMap's "Type" column does:

=============  ==========================================================================
Image          a view of an image section (the module's name in ``module``/``details``)
Mapped File    a view of a section backed by a named file
Shareable      a view of a page-file-backed section (KUSER_SHARED_DATA)
Heap           an allocation made by the heap manager (tag ``("heap",)``)
Stack          a thread's stack (tag ``("stack", tid)``; ``thread`` holds the tid)
TEB / PEB      the thread / process environment blocks
Private Data   every other private allocation (process parameters, environment, API set map, VirtualAlloc)
Unusable       free space below the next 64 KiB boundary after an allocation (it can never be allocated)
Free           free address space
=============  ==========================================================================

Protections read as VMMap prints them: PAGE_EXECUTE_READ → "Execute/Read", PAGE_WRITECOPY → "Copy on
write", a guard page → "Read/Write/Guard".
"""
from __future__ import annotations

from dataclasses import dataclass

from winhatch.kernel.mm.constants import (
    ALLOCATION_GRANULARITY,
    MEM_COMMIT,
    MEM_FREE,
    MEM_IMAGE,
    MEM_MAPPED,
    MEM_PRIVATE,
    MEM_RESERVE,
    PAGE_GUARD,
    PAGE_NOCACHE,
    PAGE_WRITECOMBINE,
)

TYPES = ("Image", "Mapped File", "Shareable", "Heap", "Stack", "TEB", "PEB", "Private Data", "Unusable", "Free")

# one colour per type (VMMap's palette, roughly): used by the HTML report and the terminal table
COLOURS = {
    "Image": "#9b59d0", "Mapped File": "#2f9ed8", "Shareable": "#e0a030", "Heap": "#e05050",
    "Stack": "#e8c020", "TEB": "#40b080", "PEB": "#1f8a60", "Private Data": "#f0a0c0",
    "Unusable": "#707070", "Free": "#d8d8d8",
}
RICH_COLOURS = {
    "Image": "magenta", "Mapped File": "blue", "Shareable": "dark_orange", "Heap": "red", "Stack": "yellow",
    "TEB": "green", "PEB": "dark_green", "Private Data": "pink1", "Unusable": "grey50", "Free": "grey70",
}

_BASE_PROTECT = {
    0x01: "No access", 0x02: "Read", 0x04: "Read/Write", 0x08: "Copy on write", 0x10: "Execute",
    0x20: "Execute/Read", 0x40: "Execute/Read/Write", 0x80: "Execute/Copy on write",
}
_PAGE_NAMES = {
    0x01: "PAGE_NOACCESS", 0x02: "PAGE_READONLY", 0x04: "PAGE_READWRITE", 0x08: "PAGE_WRITECOPY",
    0x10: "PAGE_EXECUTE", 0x20: "PAGE_EXECUTE_READ", 0x40: "PAGE_EXECUTE_READWRITE",
    0x80: "PAGE_EXECUTE_WRITECOPY",
}
STATE_NAMES = {MEM_COMMIT: "MEM_COMMIT", MEM_RESERVE: "MEM_RESERVE", MEM_FREE: "MEM_FREE"}
MEM_TYPE_NAMES = {MEM_IMAGE: "MEM_IMAGE", MEM_MAPPED: "MEM_MAPPED", MEM_PRIVATE: "MEM_PRIVATE"}

_PRIVATE_DETAILS = {
    "process_parameters": "Process Parameters", "environment": "Environment Block",
    "apiset": "API Set Schema", "kuser_shared_data": "KUSER_SHARED_DATA",
}


def protection_string(protect: int) -> str:
    """A PAGE_* value as VMMap writes it ("" for 0, i.e. reserved or free memory)."""
    if not protect:
        return ""
    base = _BASE_PROTECT.get(protect & 0xFF)
    if base is None:
        return f"0x{protect:x}"
    mods = []
    if protect & PAGE_GUARD:
        mods.append("Guard")
    if protect & PAGE_NOCACHE:
        mods.append("No cache")
    if protect & PAGE_WRITECOMBINE:
        mods.append("Write combine")
    return "/".join([base, *mods])


def protection_constant(protect: int) -> str:
    """A PAGE_* value as its winnt.h name(s): 0x104 → "PAGE_READWRITE|PAGE_GUARD"."""
    if not protect:
        return "0"
    parts = [_PAGE_NAMES.get(protect & 0xFF, f"0x{protect & 0xFF:x}")]
    if protect & PAGE_GUARD:
        parts.append("PAGE_GUARD")
    if protect & PAGE_NOCACHE:
        parts.append("PAGE_NOCACHE")
    if protect & PAGE_WRITECOMBINE:
        parts.append("PAGE_WRITECOMBINE")
    return "|".join(parts)


@dataclass
class Region:
    base: int
    size: int
    allocation_base: int
    allocation_protect: int
    state: int
    protect: int
    mem_type: int
    type: str
    module: str | None = None
    thread: int | None = None
    details: str = ""

    @property
    def end(self) -> int:
        return self.base + self.size

    @property
    def committed(self) -> int:
        return self.size if self.state == MEM_COMMIT else 0

    @property
    def protection(self) -> str:
        return protection_string(self.protect)

    def to_dict(self) -> dict:
        return {
            "base": self.base, "size": self.size, "allocation_base": self.allocation_base,
            "allocation_protect": self.allocation_protect, "type": self.type,
            "mem_type": MEM_TYPE_NAMES.get(self.mem_type), "state": STATE_NAMES.get(self.state, str(self.state)),
            "protect": self.protect, "protection": self.protection, "module": self.module, "thread": self.thread,
            "details": self.details,
        }


def classify(mbi, section_name: str | None = None) -> tuple[str, str | None, int | None, str]:
    """(type, module, thread id, details) of one MEMORY_BASIC_INFORMATION with its tag."""
    tag = mbi.tag if isinstance(mbi.tag, tuple) else ((mbi.tag,) if mbi.tag is not None else ())
    kind = tag[0] if tag else None
    if mbi.State == MEM_FREE:
        return "Free", None, None, ""
    if kind == "kuser_shared_data":    # a shared page, though Windows reports its type MEM_PRIVATE
        return "Shareable", None, None, "KUSER_SHARED_DATA"
    if mbi.Type == MEM_IMAGE:
        name = tag[1] if kind == "image" and len(tag) > 1 else (section_name or "")
        return "Image", name or None, None, name
    if mbi.Type == MEM_MAPPED:
        if kind == "kuser_shared_data":
            return "Shareable", None, None, "KUSER_SHARED_DATA"
        if kind in ("file", "mapped_file") and len(tag) > 1:
            return "Mapped File", None, None, str(tag[1])
        if section_name and ("\\" in section_name or "/" in section_name):
            return "Mapped File", None, None, section_name
        return "Shareable", None, None, section_name or ""
    # private memory
    if kind == "stack":
        tid = tag[1] if len(tag) > 1 else None
        return "Stack", None, tid, f"Thread ID: {tid}" if tid is not None else "Stack"
    if kind == "teb":
        tid = tag[1] if len(tag) > 1 else None
        return "TEB", None, tid, f"Thread Environment Block ID: {tid}" if tid is not None else "TEB"
    if kind == "peb":
        return "PEB", None, None, "Process Environment Block"
    if kind == "heap":
        return "Heap", None, None, "Heap (Private Data)" if len(tag) < 2 else f"Heap ID: {tag[1]}"
    return "Private Data", None, None, _PRIVATE_DETAILS.get(kind, "" if kind is None else str(kind))


def memory_map(aspace) -> list[Region]:
    """Every region of the user address space (free ones included), classified."""
    out: list[Region] = []
    for mbi in aspace.regions():
        section_name = None
        if mbi.State != MEM_FREE and mbi.Type in (MEM_MAPPED, MEM_IMAGE):
            a = aspace.allocation_at(mbi.BaseAddress)
            sec = getattr(a, "section", None) if a is not None else None
            section_name = getattr(sec, "name", None)
        typ, module, tid, details = classify(mbi, section_name)
        if typ == "Free":
            # the tail of a 64 KiB granule after an allocation can never be allocated: VMMap's "Unusable"
            base, size = mbi.BaseAddress, mbi.RegionSize
            edge = min(base + size, (base + ALLOCATION_GRANULARITY - 1) & ~(ALLOCATION_GRANULARITY - 1))
            if edge > base and base % ALLOCATION_GRANULARITY:
                out.append(Region(base, edge - base, 0, 0, MEM_FREE, 0, 0, "Unusable"))
                base, size = edge, size - (edge - base)
            if size > 0:
                out.append(Region(base, size, 0, 0, MEM_FREE, 0, 0, "Free"))
            continue
        out.append(Region(mbi.BaseAddress, mbi.RegionSize, mbi.AllocationBase, mbi.AllocationProtect, mbi.State,
                          mbi.Protect, mbi.Type, typ, module, tid, details))
    return out


def totals(regions: list[Region]) -> dict[str, dict]:
    """Per type (VMMap's summary table): size (reserved + committed), committed, reserved, blocks
    (allocations), in TYPES order, plus "Total" over every non-free type."""
    out = {t: {"size": 0, "committed": 0, "reserved": 0, "blocks": 0} for t in TYPES}
    seen = set()
    for r in regions:
        t = out[r.type]
        t["size"] += r.size
        if r.state == MEM_COMMIT:
            t["committed"] += r.size
        elif r.state == MEM_RESERVE:
            t["reserved"] += r.size
        key = (r.type, r.allocation_base) if r.state != MEM_FREE else (r.type, r.base)
        if key not in seen:
            seen.add(key)
            t["blocks"] += 1
    total = {"size": 0, "committed": 0, "reserved": 0, "blocks": 0}
    for name, t in out.items():
        if name in ("Free", "Unusable"):
            continue
        for k in total:
            total[k] += t[k]
    out["Total"] = total
    return out


def to_json(regions: list[Region]) -> dict:
    return {"regions": [r.to_dict() for r in regions], "totals": totals(regions)}


def _kb(n: int) -> str:
    return f"{n // 1024:,} K"


def render(regions: list[Region], console, *, title: str = "", show_free: bool = True) -> None:
    """Print the summary table and the details table with rich."""
    from rich.table import Table

    if not console.is_terminal and console.width < 140:
        console.width = 140  # a file or a pipe: do not wrap the table to 80 columns
    tot = totals(regions)
    s = Table(title=f"{title} — summary" if title else "Summary", title_justify="left")
    for col in ("Type", "Size", "Committed", "Reserved", "Blocks"):
        s.add_column(col, justify="left" if col == "Type" else "right")
    for name in ("Total", *TYPES):
        t = tot[name]
        if name != "Total" and not t["blocks"]:
            continue
        style = "bold" if name == "Total" else RICH_COLOURS.get(name)
        s.add_row(name, _kb(t["size"]), _kb(t["committed"]), _kb(t["reserved"]), str(t["blocks"]), style=style)
    console.print(s)

    d = Table(title=f"{title} — details" if title else "Details", title_justify="left")
    for col in ("Address", "Type", "Size", "Committed", "State", "Protection", "Details"):
        d.add_column(col, justify="right" if col in ("Size", "Committed") else "left")
    width = 16 if any(r.end > 0xFFFFFFFF + 1 for r in regions if r.type not in ("Free", "Unusable")) else 8
    for r in regions:
        if not show_free and r.type in ("Free", "Unusable"):
            continue
        d.add_row(f"{r.base:0{width}X}", r.type, _kb(r.size), _kb(r.committed),
                  STATE_NAMES.get(r.state, "").replace("MEM_", "").capitalize(), r.protection, r.details,
                  style=RICH_COLOURS.get(r.type))
    console.print(d)
