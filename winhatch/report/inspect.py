"""`winhatch inspect FILE [--json]`: a PE file's headers, sections, imports, exports, relocations, TLS and debug
info, as rich tables (in the spirit of `dumpbin /headers /imports /exports`) or one JSON object."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

from winhatch.ntstatus import status_name
from winhatch.pe import PEFile, PEFormatError
from winhatch.pe.constants import (DIRECTORY_NAMES, DLLCHARACTERISTICS, PROTECTION_NAMES, RT_NAMES, SUBSYSTEMS)


def _fn(f) -> dict:
    return {"name": f.name, "ordinal": f.ordinal, "hint": f.hint, "iat_rva": f.iat_rva}


def collect(pe: PEFile) -> dict:
    """Everything `inspect --json` prints (RVAs and sizes as integers)."""
    exp = pe.exports
    tls = pe.tls
    relocs = pe.relocations
    return {
        "file": pe.name,
        "machine": pe.machine,
        "arch": pe.arch,
        "is_pe32_plus": pe.is_pe32_plus,
        "is_dll": pe.is_dll,
        "characteristics": pe.characteristics,
        "timestamp": pe.timestamp,
        "image_base": pe.image_base,
        "entry_point_rva": pe.entry_point_rva,
        "size_of_image": pe.size_of_image,
        "size_of_headers": pe.size_of_headers,
        "section_alignment": pe.section_alignment,
        "file_alignment": pe.file_alignment,
        "subsystem": pe.subsystem,
        "subsystem_version": [pe.major_subsystem_version, pe.minor_subsystem_version],
        "dll_characteristics": pe.dll_characteristics,
        "checksum": pe.checksum,
        "stack": [pe.size_of_stack_reserve, pe.size_of_stack_commit],
        "heap": [pe.size_of_heap_reserve, pe.size_of_heap_commit],
        "data_directories": [{"name": DIRECTORY_NAMES[i], "rva": d.rva, "size": d.size}
                             for i, d in enumerate(pe.data_directories)],
        "sections": [s.to_dict() for s in pe.sections],
        "imports": [{"dll": d.dll, "functions": [_fn(f) for f in d.functions]} for d in pe.imports],
        "delay_imports": [{"dll": d.dll, "functions": [_fn(f) for f in d.functions]} for d in pe.delay_imports],
        "exports": None if exp is None else {
            "dll_name": exp.dll_name, "ordinal_base": exp.ordinal_base, "timestamp": exp.timestamp,
            "functions": [{"ordinal": e.ordinal, "name": e.name, "rva": e.rva, "forwarder": e.forwarder}
                          for e in exp.functions]},
        "relocations": {"blocks": len(relocs), "entries": sum(len(b.entries) for b in relocs)},
        "tls": None if tls is None else {
            "callbacks": tls.callbacks, "start_address_of_raw_data": tls.start_address_of_raw_data,
            "end_address_of_raw_data": tls.end_address_of_raw_data, "address_of_index": tls.address_of_index,
            "size_of_zero_fill": tls.size_of_zero_fill},
        "pdb": pe.pdb,
        "clr": _clr(pe.clr),
    }


def _clr(h) -> dict | None:
    if h is None:
        return None
    return {"runtime_version": list(h.runtime_version), "flags": h.flags, "flag_names": h.flag_names,
            "entry_point": h.entry_point, "metadata_rva": h.metadata_rva, "metadata_size": h.metadata_size,
            "metadata_version": h.metadata_version,
            "streams": [{"name": s.name, "offset": s.offset, "size": s.size} for s in h.streams]}


def _flags(value: int, names: dict) -> str:
    return " ".join(n for bit, n in names.items() if value & bit) or "-"


def _render(pe: PEFile, info: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from winhatch.report.console import output_console
    con = output_console()
    ts = datetime.fromtimestamp(info["timestamp"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    # the heading on a line of its own: a table's title wraps at the table's width, and a path is longer
    from rich.markup import escape
    con.print(f"[bold]{escape(pe.name)}: {'DLL' if info['is_dll'] else 'EXE'} {info['arch']} "
              f"({'PE32+' if info['is_pe32_plus'] else 'PE32'})[/]", soft_wrap=True, markup=True)
    h = Table(show_header=False)
    h.add_column(style="bold")
    h.add_column()
    rows = [
        ("Machine", f"0x{info['machine']:04X} ({info['arch']})"),
        ("Characteristics", f"0x{info['characteristics']:04X}"),
        ("TimeDateStamp", f"0x{info['timestamp']:08X} ({ts})"),
        ("ImageBase", f"0x{info['image_base']:X}"),
        ("AddressOfEntryPoint", f"0x{info['entry_point_rva']:X}"),
        ("SizeOfImage", f"0x{info['size_of_image']:X}"),
        ("SizeOfHeaders", f"0x{info['size_of_headers']:X}"),
        ("Section / file alignment", f"0x{info['section_alignment']:X} / 0x{info['file_alignment']:X}"),
        ("Subsystem", f"{info['subsystem']} ({SUBSYSTEMS.get(info['subsystem'], '?')}) "
                      f"{info['subsystem_version'][0]}.{info['subsystem_version'][1]}"),
        ("DllCharacteristics", f"0x{info['dll_characteristics']:04X} "
                               f"({_flags(info['dll_characteristics'], DLLCHARACTERISTICS)})"),
        ("CheckSum", f"0x{info['checksum']:08X}"),
        ("Stack reserve / commit", f"0x{info['stack'][0]:X} / 0x{info['stack'][1]:X}"),
        ("Heap reserve / commit", f"0x{info['heap'][0]:X} / 0x{info['heap'][1]:X}"),
    ]
    for k, v in rows:
        h.add_row(k, v)
    con.print(h)

    d = Table(title="Data directories", title_justify="left")
    for c in ("#", "Directory", "RVA", "Size"):
        d.add_column(c, justify="right" if c != "Directory" else "left")
    for i, e in enumerate(info["data_directories"]):
        if e["rva"] or e["size"]:
            d.add_row(str(i), e["name"], f"0x{e['rva']:X}", f"0x{e['size']:X}")
    con.print(d)

    st = Table(title="Sections", title_justify="left")
    for c in ("Name", "VirtAddr", "VirtSize", "RawPtr", "RawSize", "Flags", "Protection"):
        st.add_column(c, justify="left" if c in ("Name", "Protection") else "right")
    for s in pe.sections:
        name = s.full_name
        st.add_row(name, f"0x{s.virtual_address:X}", f"0x{s.virtual_size:X}", f"0x{s.raw_pointer:X}",
                   f"0x{s.raw_size:X}", f"0x{s.characteristics:08X}",
                   PROTECTION_NAMES.get(s.protection, "?").removeprefix("PAGE_"))
    con.print(st)

    for key, title in (("imports", "Imports"), ("delay_imports", "Delay-load imports")):
        if not info[key]:
            continue
        t = Table(title=title, title_justify="left")
        for c in ("DLL", "IAT RVA", "Hint", "Name / ordinal"):
            t.add_column(c, justify="right" if c in ("IAT RVA", "Hint") else "left")
        for dll in info[key]:
            for i, f in enumerate(dll["functions"]):
                what = f["name"] if f["name"] is not None else f"ordinal {f['ordinal']}"
                t.add_row(dll["dll"] if i == 0 else "", f"0x{f['iat_rva']:X}",
                          "" if f["hint"] is None else str(f["hint"]), what)
            if not dll["functions"]:
                t.add_row(dll["dll"], "", "", "(no functions)")
        con.print(t)

    exp = info["exports"]
    if exp is not None:
        t = Table(title=f"Exports of {exp['dll_name']} (ordinal base {exp['ordinal_base']})", title_justify="left")
        for c in ("Ordinal", "RVA", "Name", "Forwarder"):
            t.add_column(c, justify="right" if c in ("Ordinal", "RVA") else "left")
        for e in exp["functions"]:
            t.add_row(str(e["ordinal"]), "" if e["rva"] is None else f"0x{e['rva']:X}", e["name"] or "[NONAME]",
                      e["forwarder"] or "")
        con.print(t)

    extra = Table(title="Other", show_header=False, title_justify="left")
    extra.add_column(style="bold")
    extra.add_column()
    r = info["relocations"]
    extra.add_row("Base relocations", f"{r['entries']} entries in {r['blocks']} blocks")
    if info["tls"] is not None:
        extra.add_row("TLS callbacks", ", ".join(f"0x{v:X}" for v in info["tls"]["callbacks"]) or "none")
    if info["clr"] is not None:
        c = info["clr"]
        kind = "token" if c["entry_point"] >> 24 else "none" if not c["entry_point"] else "RVA"
        extra.add_row(".NET (CLR header)", f"runtime {c['runtime_version'][0]}.{c['runtime_version'][1]}, metadata "
                      f"{c['metadata_version'] or '(no valid root)'}, flags {' '.join(c['flag_names']) or '0'}, "
                      f"entry point {kind} 0x{c['entry_point']:08X}, streams "
                      f"{' '.join(s['name'] for s in c['streams']) or 'none'}")
    if info["pdb"]:
        p = info["pdb"]
        extra.add_row("PDB", f"{p['path']} ({p['signature']} {p['guid'] or ''} age {p['age']})")
    try:
        res = pe.resources
        if res is not None:
            extra.add_row("Resources", ", ".join(RT_NAMES.get(t, str(t)) if isinstance(t, int) else t
                                                 for t in res.types))
        vi = pe.version_info
        if vi and vi.get("fixed"):
            extra.add_row("File version", vi["fixed"]["file_version"])
    except PEFormatError as e:
        extra.add_row("Resources", f"[red]malformed: {e}[/red]")
    con.print(extra)


def run_inspect(path: str, as_json: bool) -> int:
    """Print the report; returns the process exit code (1 for a missing or malformed file)."""
    try:
        pe = PEFile.open(path)
    except FileNotFoundError:
        print(f"error: {path}: no such file", file=sys.stderr)
        return 1
    except IsADirectoryError:
        print(f"error: {path}: is a directory", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"error: {path}: permission denied", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {path}: {e.strerror or e}", file=sys.stderr)
        return 1
    except PEFormatError as e:
        _print_format_error(e)
        return 1
    try:
        info = collect(pe)
        if as_json:
            sys.stdout.write(json.dumps(info) + "\n")
        else:
            _render(pe, info)
    except PEFormatError as e:
        _print_format_error(e)
        return 1
    finally:
        pe.close()
    return 0


def _print_format_error(e: PEFormatError) -> None:
    where = f" at offset 0x{e.offset:x}" if e.offset is not None else ""
    print(f"error: {e.reason}{where} ({status_name(e.status)}, 0x{e.status:08X})", file=sys.stderr)
