"""The national-language system services: the default locales and UI languages the kernel keeps
(winhatch.kernel.ex.nls, the profile's [locale]) — what kernelbase's GetUserDefaultLCID, GetSystemDefaultLCID,
GetUserDefaultUILanguage and GetSystemDefaultUILanguage ask."""
from __future__ import annotations

import struct

from winhatch.kernel.ke.services import kernel_service, user_write


@kernel_service("NtQueryDefaultLocale")
def NtQueryDefaultLocale(machine, thread, UserProfile, DefaultLocaleId):
    """The user's (UserProfile TRUE) or the system's default LCID; a bad pointer: STATUS_ACCESS_VIOLATION."""
    nls = machine.nls
    lcid = nls.user.lcid if UserProfile & 0xFF else nls.system.lcid
    user_write(thread.process, DefaultLocaleId, struct.pack("<I", lcid))
    return 0


@kernel_service("NtQueryDefaultUILanguage")
def NtQueryDefaultUILanguage(machine, thread, DefaultUILanguageId):
    """The user's UI language (a LANGID)."""
    user_write(thread.process, DefaultUILanguageId, struct.pack("<H", machine.nls.ui.langid))
    return 0


@kernel_service("NtQueryInstallUILanguage")
def NtQueryInstallUILanguage(machine, thread, InstallUILanguageId):
    """The language Windows was installed in: the UI language of the profile."""
    user_write(thread.process, InstallUILanguageId, struct.pack("<H", machine.nls.ui.langid))
    return 0


# ===================================================================== NtGetNlsSectionPtr
NLS_SECTION_SORTKEYS, NLS_SECTION_CASEMAP, NLS_SECTION_CODEPAGE, NLS_SECTION_NORMALIZE = 9, 10, 11, 12
STATUS_UNSUCCESSFUL = 0xC0000001
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_INVALID_PARAMETER_1 = 0xC00000EF


def _nls_section(machine, thread, name: str, build):
    """The machine's section \\NLS\\<name> (created from the file's bytes on first use, kept for every process as
    the session's NLS sections are)."""
    from winhatch.kernel.mm.constants import PAGE_READONLY
    from winhatch.kernel.mm.section import Section
    cache = machine.__dict__.setdefault("nls_sections", {})
    sec = cache.get(name)
    if sec is None:
        data = build()
        sec = Section.create_data(len(data), PAGE_READONLY, name=f"\\NLS\\{name}")
        sec.write(0, data)
        sec.data_size = len(data)
        cache[name] = sec
    return sec


@kernel_service("NtGetNlsSectionPtr")
def NtGetNlsSectionPtr(machine, thread, SectionType, SectionData, ContextData, SectionPointer, SectionSize):
    """Map a new read-only view of an NLS data file into the caller (every call its own view, released with
    NtUnmapViewOfSection): type 10 the case map (l_intl.nls, SectionData 0), 11 the code page SectionData
    (c_NNN.nls; none for UTF-7/UTF-8), 12 a normalization form's tables. The size written is the file's.
    Windows 10 refuses the sort-key type 9 and every other type with STATUS_INVALID_PARAMETER_1; a file that
    does not exist is STATUS_OBJECT_NAME_NOT_FOUND."""
    from winhatch.kernel.ex import nls_files
    from winhatch.kernel.mm.constants import PAGE_READONLY
    kind, data_id = SectionType & 0xFFFFFFFF, SectionData & 0xFFFFFFFF
    if kind == NLS_SECTION_CASEMAP:
        if data_id:
            return STATUS_UNSUCCESSFUL
        name, build = "NlsSectionLANG_INTL", nls_files.casemap_file
    elif kind == NLS_SECTION_CODEPAGE:
        if data_id not in nls_files.CODE_PAGE_FILES:
            return STATUS_OBJECT_NAME_NOT_FOUND
        name, build = f"NlsSectionCP{data_id}", (lambda: nls_files.code_page_file(data_id))
        try:
            nls_files.code_page_file(data_id)
        except nls_files.NoCodecError:
            from winhatch.kernel.ke.services import unsupported
            unsupported(thread, "NtGetNlsSectionPtr", f"the tables of code page {data_id} (no conversion data)")
    elif kind == NLS_SECTION_NORMALIZE:
        if data_id not in nls_files.NORMALIZATION_FILES:
            return STATUS_OBJECT_NAME_NOT_FOUND
        name, build = f"NlsSectionNORM{data_id:08X}", (lambda: nls_files.normalization_file(data_id))
    else:
        return STATUS_INVALID_PARAMETER_1
    sec = _nls_section(machine, thread, name, build)
    ptr_size = 8 if thread.process.arch == "x64" else 4
    user_write(thread.process, SectionPointer, bytes(ptr_size))      # probed before the view is made
    if SectionSize:
        user_write(thread.process, SectionSize, bytes(ptr_size))
    r = thread.process.aspace.map_view(sec, None, protect=PAGE_READONLY, tag=("section", sec.name))
    user_write(thread.process, SectionPointer, r.base.to_bytes(ptr_size, "little"))
    if SectionSize:
        user_write(thread.process, SectionSize, sec.data_size.to_bytes(ptr_size, "little"))
    return 0


# ===================================================================== NtInitializeNlsFiles
@kernel_service("NtInitializeNlsFiles")
def NtInitializeNlsFiles(machine, thread, BaseAddress, DefaultLocaleId, DefaultCasingTableSize):
    """Map a new read-only view of locale.nls (the machine's \\NLS\\NlsSectionLocale section) into the caller and
    write its address and the system's default LCID; the third argument receives the offset of the file's locale
    table (DWORD 4 of its header). Every call makes its own view (NtUnmapViewOfSection releases it)."""
    from winhatch.kernel.ex import nls_files
    from winhatch.kernel.mm.constants import PAGE_READONLY
    sec = _nls_section(machine, thread, "NlsSectionLocale", nls_files.locale_file)
    ptr_size = 8 if thread.process.arch == "x64" else 4
    user_write(thread.process, BaseAddress, bytes(ptr_size))         # probed before the view is made
    user_write(thread.process, DefaultLocaleId, bytes(4))
    r = thread.process.aspace.map_view(sec, None, protect=PAGE_READONLY, tag=("section", sec.name))
    user_write(thread.process, BaseAddress, r.base.to_bytes(ptr_size, "little"))
    user_write(thread.process, DefaultLocaleId, struct.pack("<I", machine.nls.system.lcid))
    if DefaultCasingTableSize:
        user_write(thread.process, DefaultCasingTableSize, struct.pack("<Q", nls_files.LOCALE_HEADER_SIZE))
    return 0
