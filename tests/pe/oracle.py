"""pefile as a test oracle: the same facts winhatch.pe reports, extracted with pefile, in one comparable shape.

Known pefile divergences are handled here, each with the reason (never by copying pefile's answer):
* pefile keeps section names as the raw 8 bytes; both sides are compared NUL-stripped.
* pefile lists one export symbol per *name*, so an address exported under two names appears twice; winhatch has
  one ExportEntry per ordinal (first name in name-table order) plus the full ``names`` table. Both shapes are
  reduced to {ordinal: (rva, forwarder)} and the set of (name, ordinal) pairs.
* pefile reports a forwarder's address as the RVA of the forwarder string; winhatch reports rva=None for a
  forwarder (the slot holds no code address), so the RVA is not compared for forwarders.
* pefile drops unnamed export slots whose RVA is 0; winhatch does too (they are not exports).
"""
from __future__ import annotations

import pefile

from winhatch.pe import PEFile

_DIRS = [pefile.DIRECTORY_ENTRY[n] for n in (
    "IMAGE_DIRECTORY_ENTRY_IMPORT", "IMAGE_DIRECTORY_ENTRY_EXPORT", "IMAGE_DIRECTORY_ENTRY_BASERELOC",
    "IMAGE_DIRECTORY_ENTRY_TLS", "IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT")]


def _s(b) -> str | None:
    return None if b is None else b.decode("latin-1") if isinstance(b, bytes) else b


def facts_pefile(path) -> dict:
    pe = pefile.PE(str(path), fast_load=True)
    try:
        pe.parse_data_directories(directories=_DIRS)
        base = pe.OPTIONAL_HEADER.ImageBase
        out: dict = {
            "machine": pe.FILE_HEADER.Machine,
            "image_base": base,
            "entry_point_rva": pe.OPTIONAL_HEADER.AddressOfEntryPoint,
            "size_of_image": pe.OPTIONAL_HEADER.SizeOfImage,
            "subsystem": pe.OPTIONAL_HEADER.Subsystem,
            "dll_characteristics": pe.OPTIONAL_HEADER.DllCharacteristics,
            "data_directories": [(d.VirtualAddress, d.Size) for d in pe.OPTIONAL_HEADER.DATA_DIRECTORY][:16],
            "sections": [(s.Name.rstrip(b"\0").decode("latin-1"), s.VirtualAddress, s.Misc_VirtualSize,
                          s.PointerToRawData, s.SizeOfRawData, s.Characteristics) for s in pe.sections],
        }
        for key, attr in (("imports", "DIRECTORY_ENTRY_IMPORT"), ("delay_imports", "DIRECTORY_ENTRY_DELAY_IMPORT")):
            out[key] = [(_s(d.dll), [(_s(i.name), None if i.name else i.ordinal, i.hint if i.name else None,
                                      i.address - base) for i in d.imports])
                        for d in getattr(pe, attr, [])]
        exp = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
        if exp is None:
            out["exports"] = None
        else:
            by_ord = {}
            for sym in exp.symbols:
                fwd = _s(sym.forwarder)
                by_ord[sym.ordinal] = (None if fwd else sym.address, fwd)
            out["exports"] = {"dll_name": _s(pe.get_string_at_rva(exp.struct.Name)) if exp.struct.Name else "",
                              "ordinal_base": exp.struct.Base,
                              "by_ordinal": by_ord,
                              "names": sorted((_s(sym.name), sym.ordinal) for sym in exp.symbols if sym.name)}
        out["reloc_entries"] = sum(len(b.entries) for b in getattr(pe, "DIRECTORY_ENTRY_BASERELOC", []))
        out["reloc_blocks"] = len(getattr(pe, "DIRECTORY_ENTRY_BASERELOC", []))
        tls = getattr(pe, "DIRECTORY_ENTRY_TLS", None)
        if tls is None:
            out["tls_callbacks"] = None
        else:
            cbs = []
            addr = tls.struct.AddressOfCallBacks
            if addr:
                rva = addr - base
                ptr = 8 if pe.PE_TYPE == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS else 4
                while True:
                    v = pe.get_qword_at_rva(rva) if ptr == 8 else pe.get_dword_at_rva(rva)
                    if not v:
                        break
                    cbs.append(v)
                    rva += ptr
            out["tls_callbacks"] = cbs
        return out
    finally:
        pe.close()


def facts_winhatch(path) -> dict:
    pe = PEFile.open(path)
    try:
        out: dict = {
            "machine": pe.machine, "image_base": pe.image_base, "entry_point_rva": pe.entry_point_rva,
            "size_of_image": pe.size_of_image, "subsystem": pe.subsystem,
            "dll_characteristics": pe.dll_characteristics,
            "data_directories": [tuple(d) for d in pe.data_directories],
            "sections": [(s.name, s.virtual_address, s.virtual_size, s.raw_pointer, s.raw_size, s.characteristics)
                         for s in pe.sections],
        }
        for key in ("imports", "delay_imports"):
            out[key] = [(d.dll, [(f.name, f.ordinal, f.hint, f.iat_rva) for f in d.functions])
                        for d in getattr(pe, key)]
        exp = pe.exports
        if exp is None:
            out["exports"] = None
        else:
            by_ord = {e.ordinal: (e.rva, e.forwarder) for e in exp.functions if e.rva is not None or e.forwarder}
            out["exports"] = {"dll_name": exp.dll_name, "ordinal_base": exp.ordinal_base, "by_ordinal": by_ord,
                              "names": sorted(exp.names)}
        out["reloc_entries"] = sum(len(b.entries) for b in pe.relocations)
        out["reloc_blocks"] = len(pe.relocations)
        out["tls_callbacks"] = None if pe.tls is None else pe.tls.callbacks
        return out
    finally:
        pe.close()


def differences(path) -> list[str]:
    a, b = facts_winhatch(path), facts_pefile(path)
    diffs = []
    for k in a:
        if a[k] != b.get(k):
            diffs.append(f"{k}: winhatch={_short(a[k])} pefile={_short(b.get(k))}")
    return diffs


def _short(v) -> str:
    r = repr(v)
    return r if len(r) < 400 else r[:400] + "…"
