"""winhatch.pe — a lazy, strict PE/COFF parser.

    from winhatch.pe import PEFile, PEFormatError
    pe = PEFile.open("kernel32.dll")
    pe.imports, pe.exports.lookup("GetProcAddress"), pe.map_image(), ...

Headers are validated on open with the Windows memory manager's rules; each data directory is parsed on first
access and cached. Every malformation raises PEFormatError (an NtStatusError carrying the NTSTATUS Windows gives).
"""
from .constants import *  # noqa: F401,F403
from .directories import (BoundForwarder, BoundImport, DebugEntry, DelayImportDescriptor, ExportDirectory,
                          ExportEntry, ImportDescriptor, ImportEntry, LoadConfig, LookupResult, RelocBlock,
                          TlsDirectory)
from .errors import STATUS_INVALID_IMAGE_LE_FORMAT, PEFormatError
from .headers import DataDirectory, Section, align_up, section_protection
from .image import PEFile
from .resources import ResourceData, ResourceDirectory, ResourceEntry

__all__ = ["PEFile", "PEFormatError", "Section", "DataDirectory", "ImportDescriptor", "ImportEntry",
           "DelayImportDescriptor", "BoundImport", "BoundForwarder", "ExportDirectory", "ExportEntry",
           "LookupResult", "RelocBlock", "TlsDirectory", "DebugEntry", "LoadConfig", "ResourceDirectory",
           "ResourceEntry", "ResourceData", "align_up", "section_protection", "STATUS_INVALID_IMAGE_LE_FORMAT"]
