"""kernel32 / kernelbase: resources — data-file modules (LoadLibraryEx with LOAD_LIBRARY_AS_DATAFILE,
_AS_DATAFILE_EXCLUSIVE, _AS_IMAGE_RESOURCE), finding and loading resources (FindResource(Ex), LoadResource,
LockResource, SizeofResource, FreeResource, EnumResourceTypes/Names/Languages) and the resource update API
(BeginUpdateResource, UpdateResource, EndUpdateResource).

A data-file module is the file read through the emulated file system into a read-only private allocation of
the process: flat (LOAD_LIBRARY_AS_DATAFILE: the file's bytes; the handle is the base | 1) or laid out as an
image (LOAD_LIBRARY_AS_IMAGE_RESOURCE: sections at their RVAs; base | 2), as Windows's handles are tagged.
Any architecture, EXE or DLL, is accepted, and it is not on the loader's lists nor initialised (Windows maps
it as a view of the file: winhatch's is a private copy, so VMMap shows it as Private, not Mapped). A module
already loaded as an image is returned as is (its reference count raised).

Resource look-up follows the loader's (LdrFindResource_U): type, then name, then language; for a language of
0 (LANG_NEUTRAL, what FindResource asks for) the first match of: the neutral language, the user's default
(en-US 0x409 here), LANG_ENGLISH with any sublanguage, and the first language the name has.

EndUpdateResource rewrites the file's .rsrc section for real (`winhatch.pe.rsrcwrite`) through the file system.
"""
from __future__ import annotations

from winhatch.kernel.mm import MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READONLY, PAGE_READWRITE
from winhatch.ldr import loader
from winhatch.ntstatus import (ERROR_ACCESS_DENIED, ERROR_BAD_EXE_FORMAT, ERROR_FILE_NOT_FOUND,
                               ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_MOD_NOT_FOUND, NtStatusError,
                               nt_to_win32)
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import cwd, guest_path, heap_alloc, heap_free

K32 = ("kernel32.dll", "kernelbase.dll")
LOAD_LIBRARY_AS_DATAFILE = 0x2
ERROR_FILE_INVALID = 1006
LOAD_LIBRARY_AS_IMAGE_RESOURCE = 0x20
LOAD_LIBRARY_AS_DATAFILE_EXCLUSIVE = 0x40
DATAFILE_FLAGS = LOAD_LIBRARY_AS_DATAFILE | LOAD_LIBRARY_AS_IMAGE_RESOURCE | LOAD_LIBRARY_AS_DATAFILE_EXCLUSIVE
ERROR_RESOURCE_DATA_NOT_FOUND = 1812
ERROR_RESOURCE_TYPE_NOT_FOUND = 1813
ERROR_RESOURCE_NAME_NOT_FOUND = 1814
ERROR_RESOURCE_LANG_NOT_FOUND = 1815
ERROR_RESOURCE_ENUM_USER_STOP = 15106
ERROR_FILE_INVALID = 1006         # an empty file cannot be mapped
GHND = 0x42                       # GMEM_MOVEABLE | GMEM_ZEROINIT
USER_DEFAULT_LANG = 0x409
MAX_FILE = 1 << 30            # a data-file module or a file being updated: at most 1 GiB


class ResourceView:
    """The resources of a module as the guest sees them: the parsed file and where its bytes are."""

    def __init__(self, pe, base: int, flat: bool):
        self.pe, self.base, self.flat = pe, base, flat

    def address(self, rva: int) -> int | None:
        if not self.flat:
            return self.base + rva
        off = self.pe.rva_to_offset(rva)
        return None if off is None else self.base + off


def _datafiles(c) -> dict:
    """base -> (PEFile, flat, size, path) of the process's data-file modules."""
    return c.proc.subsystem.setdefault("datafile_modules", {})


def read_guest_file(c, path: str, limit: int = MAX_FILE) -> bytes:
    """The whole file through the emulated file system (WoW64 redirection for x86); raises NtStatusError."""
    from winhatch.kernel.io import vfs as V
    f = c.machine.vfs.open(guest_path(c, path), access=V.GENERIC_READ | V.SYNCHRONIZE, disposition=V.FILE_OPEN,
                           options=V.FILE_NON_DIRECTORY_FILE, share=V.FILE_SHARE_READ | V.FILE_SHARE_DELETE
                           | V.FILE_SHARE_WRITE, cwd=cwd(c))
    try:
        if f.size > limit:
            raise NtStatusError(0xC0000017, f"{path}: larger than {limit} bytes")   # STATUS_NO_MEMORY
        return f.read(-1, 0)
    finally:
        f.close()


def find_module_file(c, name: str) -> str | None:
    """The path LoadLibraryEx would open for `name` (the loader's search order), or None."""
    st = loader.state_of(c.proc)
    n = name
    if "." not in n.replace("/", "\\").rsplit("\\", 1)[-1]:
        n += ".dll"
    from winhatch.kernel.io.file_services import redirected
    if redirected(c.thread) and ("\\" in n or "/" in n):
        # a path is opened as a file: the WoW64 file system redirector applies (System32 is SysWOW64)
        from winhatch.win32.kernel32.common import cwd
        n = c.machine.vfs.wow64_redirect(n, "x86", cwd(c))
    return loader.find_dll(st, n, None)


def load_datafile(c, name: str, flags: int) -> int:
    """LoadLibraryEx's data-file forms: the tagged handle, or 0 with the last error set."""
    st = loader.state_of(c.proc)
    path = find_module_file(c, name)
    if path is None:
        c.set_last_error(ERROR_FILE_NOT_FOUND)    # a file search, not a module load (checked against Wine)
        return 0
    for m in st.modules:
        if m.path.lower() == path.lower():
            return loader.LdrLoadDll(c.machine, c.thread, path, 0)     # already an image: that module
    held = 0
    if flags & LOAD_LIBRARY_AS_DATAFILE_EXCLUSIVE:
        held = _open_exclusive(c, path)
        if not held:
            return 0
    try:
        data = read_guest_file(c, path)
    except NtStatusError as e:
        _release(c, held)
        c.set_last_error(nt_to_win32(e.status))
        return 0
    if not data:
        # the file is mapped to be read (NtCreateSection over it): an empty file cannot be,
        # STATUS_MAPPED_FILE_SIZE_ZERO -> ERROR_FILE_INVALID (Wine's module test, on Windows)
        _release(c, held)
        c.set_last_error(ERROR_FILE_INVALID)
        return 0
    from winhatch.pe import PEFile, PEFormatError
    try:
        pe = PEFile(data, path)
        image = None if not flags & LOAD_LIBRARY_AS_IMAGE_RESOURCE else pe.map_image()
    except PEFormatError:
        _release(c, held)
        c.set_last_error(ERROR_BAD_EXE_FORMAT)
        return 0
    blob = data if image is None else bytes(image)
    size = max(len(blob), 1)
    base, _ = c.proc.aspace.allocate(None, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE, tag=("datafile", path))
    c.write(base, blob)
    c.proc.aspace.protect(base, size, PAGE_READONLY)
    _datafiles(c)[base] = (pe, image is None, size, path)
    if held:
        _held_files(c)[base] = held
    return base | (1 if image is None else 2)


def _held_files(c) -> dict:
    """base -> the file handle an exclusive data-file module keeps open."""
    return c.proc.subsystem.setdefault("datafile_exclusive_handles", {})


def _open_exclusive(c, path: str) -> int:
    """LOAD_LIBRARY_AS_DATAFILE_EXCLUSIVE: the file stays open for reading, sharing reading and deletion only,
    until FreeLibrary: nobody may write it meanwhile (ERROR_SHARING_VIOLATION), and a file already open for
    writing cannot be loaded so. The handle, or 0 with the last error set."""
    from winhatch.kernel.io import vfs as V
    from winhatch.win32.kernel32.ntfile import nt_name, nt_open
    nt = nt_name(c, path)
    if nt is None:
        return 0
    st, h, _info = nt_open(c, nt, V.GENERIC_READ | V.SYNCHRONIZE, V.FILE_SHARE_READ | V.FILE_SHARE_DELETE,
                           V.FILE_NON_DIRECTORY_FILE | V.FILE_SYNCHRONOUS_IO_NONALERT, disposition=V.FILE_OPEN)
    if st & 0x80000000:
        c.set_last_nt_error(st)
        return 0
    return h


def _release(c, h: int) -> None:
    if h:
        c.nt("NtClose", h)


def free_datafile(c, h: int) -> bool | None:
    """FreeLibrary of a data-file handle: True when freed, False for a tagged handle that is not one, None
    when `h` is not tagged (an image module)."""
    if not h & 3:
        return None
    ent = _datafiles(c).pop(h & ~3, None)
    if ent is None:
        return False
    c.proc.aspace.free(h & ~3, 0, MEM_RELEASE)
    _release(c, _held_files(c).pop(h & ~3, 0))
    handles = _resource_handles(c)
    for hres in [k for k, v in handles.items() if v[0].base == h & ~3]:
        del handles[hres]          # its HRSRCs die with the view
    return True


def resource_view(c, h: int) -> ResourceView | None:
    """The module of handle `h` (0: the program), or None (the last error is set)."""
    if h & 3:
        ent = _datafiles(c).get(h & ~3)
        if ent is None:
            c.set_last_error(ERROR_INVALID_HANDLE)
            return None
        return ResourceView(ent[0], h & ~3, ent[1])
    st = loader.state_of(c.proc)
    m = st.modules[0] if not h else next((x for x in st.modules if x.base == h), None)
    if m is None:
        c.set_last_error(ERROR_MOD_NOT_FOUND if h else ERROR_INVALID_HANDLE)
        return None
    return ResourceView(m.pe, m.base, False)


def _key(c, v: int, wide: bool):
    """A resource type/name argument: MAKEINTRESOURCE (an id below 0x10000), "#123", or a name (upper case)."""
    if v < 0x10000:
        return v
    s = c.wstr(v) if wide else c.astr(v)
    if s.startswith("#"):
        try:
            return int(s[1:], 10) & 0xFFFF
        except ValueError:
            pass
    return s.upper()


def _match(d, key):
    if d is None:
        return None
    for e in d.entries:
        if isinstance(key, str):
            if e.name is not None and e.name.upper() == key:
                return e
        elif e.name is None and e.id == key:
            return e
    return None


def find_resource(c, view: ResourceView, rtype, name, lang: int | None):
    """The data entry, or None with ERROR_RESOURCE_{TYPE,NAME,LANG}_NOT_FOUND set. `lang` None: neutral."""
    from winhatch.pe import PEFormatError
    try:
        root = view.pe.resources
    except PEFormatError:
        root = None
    t = _match(root, rtype)
    if t is None or t.directory is None:
        c.set_last_error(ERROR_RESOURCE_DATA_NOT_FOUND if root is None else ERROR_RESOURCE_TYPE_NOT_FOUND)
        return None
    n = _match(t.directory, name)
    if n is None or n.directory is None or not n.directory.entries:
        c.set_last_error(ERROR_RESOURCE_NAME_NOT_FOUND)
        return None
    langs = n.directory.entries
    by = {e.id: e for e in langs if e.name is None}
    if lang:
        e = by.get(lang)
        if e is None:
            c.set_last_error(ERROR_RESOURCE_LANG_NOT_FOUND)
            return None
    else:
        e = by.get(0) or by.get(USER_DEFAULT_LANG) or next((x for k, x in by.items() if k & 0x3FF == 9), None) \
            or langs[0]
    if e.data is None:
        c.set_last_error(ERROR_RESOURCE_DATA_NOT_FOUND)
        return None
    return e


def _resource_handles(c) -> dict:
    """HRSRC (the data entry's address) -> (view base, data rva, size)."""
    return c.proc.subsystem.setdefault("resource_handles", {})


def _hrsrc(c, view: ResourceView, entry) -> int:
    """The HRSRC: the guest address of the IMAGE_RESOURCE_DATA_ENTRY, as Windows's is."""
    res_rva = view.pe.data_directories[2][0]
    off = _data_entry_offset(view, entry)
    addr = view.address(res_rva + off) if off is not None else None
    if addr is None:
        addr = view.address(entry.data.rva) or view.base
    _resource_handles(c)[addr] = (view, entry.data.rva, entry.data.size)
    return addr


def _data_entry_offset(view: ResourceView, entry) -> int | None:
    """Offset of `entry`'s IMAGE_RESOURCE_DATA_ENTRY from the resource directory (the directory entry that
    points at it holds it)."""
    import struct
    stack = [view.pe.resources]
    seen = 0
    while stack and seen < 0x10000:
        cur = stack.pop()
        seen += 1
        for i, e in enumerate(cur.entries):
            if e is entry:
                raw = view.pe.read_rva(cur.rva + 16 + 8 * i, 8)
                return struct.unpack("<II", raw)[1] & 0x7FFFFFFF
            if e.directory is not None:
                stack.append(e.directory)
    return None


@api(K32, "HRSRC WINAPI FindResourceEx%(HMODULE hModule, LPCTSTR_OR_ID lpType, LPCTSTR_OR_ID lpName, WORD wLanguage)")
def FindResourceEx(c, h, ptype, pname, lang):
    view = resource_view(c, h)
    if view is None:
        return 0
    e = find_resource(c, view, _key(c, ptype, c.wide), _key(c, pname, c.wide), lang)
    return 0 if e is None else _hrsrc(c, view, e)


@api(K32, "HRSRC WINAPI FindResource%(HMODULE hModule, LPCTSTR_OR_ID lpName, LPCTSTR_OR_ID lpType)")
def FindResource(c, h, pname, ptype):
    view = resource_view(c, h)
    if view is None:
        return 0
    e = find_resource(c, view, _key(c, ptype, c.wide), _key(c, pname, c.wide), None)
    return 0 if e is None else _hrsrc(c, view, e)


def _rsrc(c, hres):
    ent = _resource_handles(c).get(hres)
    if ent is None:
        c.set_last_error(ERROR_INVALID_HANDLE if hres else ERROR_INVALID_PARAMETER)
    return ent


@api(K32, "HGLOBAL WINAPI LoadResource(HMODULE hModule, HRSRC hResInfo)")
def LoadResource(c, h, hres):
    """The address of the resource's data in the module (a flat data file: through the section table)."""
    ent = _rsrc(c, hres)
    if ent is None:
        return 0
    view, rva, _size = ent
    addr = view.address(rva)
    if addr is None:
        c.set_last_error(ERROR_RESOURCE_DATA_NOT_FOUND)
        return 0
    return addr


@api(K32, "LPVOID WINAPI LockResource(HGLOBAL hResData)")
def LockResource(c, hdata):
    return hdata


@api(K32, "BOOL WINAPI FreeResource(HGLOBAL hResData)")
def FreeResource(c, hdata):
    return 0      # documented: obsolete, always FALSE on 32/64-bit Windows


@api(K32, "DWORD WINAPI SizeofResource(HMODULE hModule, HRSRC hResInfo)")
def SizeofResource(c, h, hres):
    ent = _rsrc(c, hres)
    return 0 if ent is None else ent[2]


# ------------------------------------------------------------------------------------------ enumeration
def _with_key(c, key, fn):
    """Call fn(pointer) with `key` as a guest argument: an id as MAKEINTRESOURCE, a name as a temporary
    string (freed after the call)."""
    if not isinstance(key, str):
        return fn(key)
    buf = heap_alloc(c, 2 * len(key) + 2)
    c.write(buf, c.encode_t(key) + b"\0" * c.tchar_size())
    try:
        return fn(buf)
    finally:
        heap_free(c, buf)


def _enum_entries(c, h, path):
    view = resource_view(c, h)
    if view is None:
        return None, None
    from winhatch.pe import PEFormatError
    try:
        d = view.pe.resources
    except PEFormatError:
        d = None
    if d is None:
        c.set_last_error(ERROR_RESOURCE_DATA_NOT_FOUND)
        return view, None
    for i, key in enumerate(path):
        e = _match(d, key)
        if e is None or e.directory is None:
            c.set_last_error((ERROR_RESOURCE_TYPE_NOT_FOUND, ERROR_RESOURCE_NAME_NOT_FOUND)[i])
            return view, None
        d = e.directory
    return view, d


def _call(c, fn, args) -> int:
    return c.machine.dispatcher.call_guest(c.thread, fn, args) & 0xFFFFFFFF


@api(K32, "BOOL WINAPI EnumResourceTypes%(HMODULE hModule, ENUMRESTYPEPROC lpEnumFunc, LONG_PTR lParam)",
     calls_guest=True)
def EnumResourceTypes(c, h, fn, lparam):
    view, d = _enum_entries(c, h, ())
    if d is None:
        return 0
    for e in list(d.entries):
        if not _with_key(c, e.key, lambda p: _call(c, fn, [h, p, lparam])):
            c.set_last_error(ERROR_RESOURCE_ENUM_USER_STOP)
            return 0
    return 1


@api(K32, "BOOL WINAPI EnumResourceNames%(HMODULE hModule, LPCTSTR_OR_ID lpType, ENUMRESNAMEPROC lpEnumFunc, "
     "LONG_PTR lParam)", calls_guest=True)
def EnumResourceNames(c, h, ptype, fn, lparam):
    view, d = _enum_entries(c, h, (_key(c, ptype, c.wide),))
    if d is None:
        return 0
    for e in list(d.entries):
        if not _with_key(c, e.key, lambda p: _call(c, fn, [h, ptype, p, lparam])):
            c.set_last_error(ERROR_RESOURCE_ENUM_USER_STOP)
            return 0
    return 1


@api(K32, "BOOL WINAPI EnumResourceLanguages%(HMODULE hModule, LPCTSTR_OR_ID lpType, LPCTSTR_OR_ID lpName, "
     "ENUMRESLANGPROC lpEnumFunc, LONG_PTR lParam)", calls_guest=True)
def EnumResourceLanguages(c, h, ptype, pname, fn, lparam):
    view, d = _enum_entries(c, h, (_key(c, ptype, c.wide), _key(c, pname, c.wide)))
    if d is None:
        return 0
    for e in list(d.entries):
        if e.name is not None:
            continue
        if not _call(c, fn, [h, ptype, pname, e.id, lparam]):
            c.set_last_error(ERROR_RESOURCE_ENUM_USER_STOP)
            return 0
    return 1


# ------------------------------------------------------------------------------------------ updating
def _updates(c) -> dict:
    """update handle -> [path, {(type, name, lang): (data, codepage)}]."""
    return c.proc.subsystem.setdefault("resource_updates", {})


@api(K32, "HANDLE WINAPI BeginUpdateResource%(LPCTSTR pFileName, BOOL bDeleteExistingResources)")
def BeginUpdateResource(c, name, delete_existing):
    """Reads the file's resources (all of them are kept unless bDeleteExistingResources); the file must be a PE
    image the caller can open for writing (ERROR_FILE_NOT_FOUND, ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION
    as CreateFile gives them; ERROR_BAD_EXE_FORMAT for a file that is not one)."""
    if not name:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    from winhatch.kernel.io import vfs as V
    try:
        f = c.machine.vfs.open(guest_path(c, name), access=V.GENERIC_READ | V.GENERIC_WRITE | V.SYNCHRONIZE,
                               disposition=V.FILE_OPEN, options=V.FILE_NON_DIRECTORY_FILE,
                               share=V.FILE_SHARE_READ, cwd=cwd(c))
        try:
            if f.size > MAX_FILE:
                raise NtStatusError(0xC0000017, "file too large")
            data = f.read(-1, 0)
        finally:
            f.close()
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return 0
    from winhatch.pe import PEFile, PEFormatError
    leaves: dict = {}
    try:
        pe = PEFile(data, name)
        if not delete_existing and pe.resources is not None:
            for path, d in pe.resources.leaves():
                if len(path) != 3 or d.size > len(data):
                    raise PEFormatError("bad resource tree")
                leaves[path] = (pe.read_rva(d.rva, d.size), d.codepage)
    except PEFormatError:
        c.set_last_error(ERROR_FILE_INVALID if not data else ERROR_BAD_EXE_FORMAT)
        return 0
    # the handle is a moveable global block holding kernelbase's QUEUEDUPDATES, whose seventh pointer is a
    # moveable block with the file name as given (programs and Wine's resource.c test look at it)
    from winhatch.win32.kernel32.heap import _local_alloc, _local_lock, _local_unlock
    ps = c.ptr_size
    h = _local_alloc(c, GHND, 7 * ps)
    if not h:
        return 0
    wname = (name + "\0").encode("utf-16-le")
    hname = _local_alloc(c, GHND, len(wname))
    if not hname:
        from winhatch.win32.kernel32.heap import _local_free
        _local_free(c, h)
        return 0
    p = _local_lock(c, hname)
    c.write(p, wname)
    _local_unlock(c, hname)
    p = _local_lock(c, h)
    c.write_ptr(p + 6 * ps, hname)
    _local_unlock(c, h)
    _updates(c)[h] = [c.machine.vfs.full_path(guest_path(c, name), cwd(c)), leaves, hname]
    return h


@api(K32, "BOOL WINAPI UpdateResource%(HANDLE hUpdate, LPCTSTR_OR_ID lpType, LPCTSTR_OR_ID lpName, WORD wLanguage, "
     "LPVOID lpData, DWORD cb)")
def UpdateResource(c, h, ptype, pname, lang, data, size):
    """Adds or replaces one resource; lpData NULL with cb 0 deletes it."""
    ent = _updates(c).get(h)
    if ent is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    key = (_key(c, ptype, c.wide), _key(c, pname, c.wide), lang)
    if not data and not size:
        ent[1].pop(key, None)
        return 1
    if not data:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    ent[1][key] = (c.read(data, size) if size else b"", 0)
    return 1


@api(K32, "BOOL WINAPI EndUpdateResource%(HANDLE hUpdate, BOOL fDiscard)")
def EndUpdateResource(c, h, discard):
    ent = _updates(c).pop(h, None)
    if ent is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    from winhatch.win32.kernel32.heap import _local_free
    _local_free(c, ent[2])
    _local_free(c, h)
    if discard:
        return 1
    path, leaves = ent[0], ent[1]
    from winhatch.kernel.io import vfs as V
    from winhatch.pe import PEFormatError
    from winhatch.pe.rsrcwrite import replace_resources
    try:
        f = c.machine.vfs.open(path, access=V.GENERIC_READ | V.GENERIC_WRITE | V.SYNCHRONIZE,
                               disposition=V.FILE_OPEN, options=V.FILE_NON_DIRECTORY_FILE, share=0)
        try:
            new = replace_resources(f.read(-1, 0), leaves)
            f.write(new, 0)
            f.set_size(len(new))
        finally:
            f.close()
    except PEFormatError:
        c.set_last_error(ERROR_BAD_EXE_FORMAT)
        return 0
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status) if e.status != 0xC0000022 else ERROR_ACCESS_DENIED)
        return 0
    return 1

