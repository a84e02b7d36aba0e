"""The object-manager namespace: directories, symbolic links and named objects (case-insensitive)."""
from __future__ import annotations

from ...ntstatus import (
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_PATH_NOT_FOUND,
    STATUS_OBJECT_PATH_SYNTAX_BAD,
    STATUS_OBJECT_TYPE_MISMATCH,
    NtStatusError,
)
from .object import KObject

MAX_REPARSE = 32


class Directory(KObject):
    type_name = "Directory"

    def __init__(self, name: str | None = None):
        super().__init__(name)
        self.children: dict[str, KObject] = {}  # component, as created -> object

    def child(self, comp: str, case_insensitive: bool) -> KObject | None:
        """The entry named `comp`: exactly, or (OBJ_CASE_INSENSITIVE) in any case."""
        if not case_insensitive:
            return self.children.get(comp)
        # the directory's hash chain puts the newest entry first: of names differing only in case, the
        # most recently inserted one is found (Wine's ntdll/tests/om.c test_case_sensitive)
        low = comp.lower()
        for k in reversed(self.children):
            if k.lower() == low:
                return self.children[k]
        return None


class SymbolicLink(KObject):
    type_name = "SymbolicLink"

    def __init__(self, target: str, name: str | None = None):
        super().__init__(name)
        self.target = target


class Device(KObject):
    """A device object (\\Device\\HarddiskVolume3, \\Device\\Null, \\Device\\ConDrv): where the object manager's
    parse of a name ends and the device's own parse of the rest begins (IopParseDevice hands the remaining
    name to the file system). ``fs_name(rest)`` gives the name the device's driver resolves: for a volume,
    the path on it."""
    type_name = "Device"

    def __init__(self, fs_name, name: str | None = None):
        super().__init__(name)
        self.fs_name = fs_name


def split_path(path: str) -> list[str]:
    if not isinstance(path, str) or not path.startswith("\\"):
        raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, f"object path must be absolute: {path!r}")
    if path == "\\":
        return []
    return path[1:].split("\\")      # an empty component is refused where the walk meets it


def _link_parts(target: str) -> list[str]:
    """A symbolic link's target as components: an empty target is the root (\\GLOBAL??\\GLOBALROOT)."""
    return split_path(target) if target else []


class ObNamespace:
    """The object directory tree rooted at ``\\``.

    Created with the directories a user session sees: ``\\BaseNamedObjects``,
    ``\\Sessions\\<n>\\BaseNamedObjects`` (with its ``Global``/``Local``/``Session`` links),
    ``\\KnownDlls``, ``\\KnownDlls32``, ``\\Device``, ``\\GLOBAL??``, ``\\RPC Control``,
    ``\\Windows``, ``\\ObjectTypes``.

    Named objects are not referenced by their directory entry: the entry goes when the object's
    last handle is closed (unless it is permanent), or when it dies.
    """

    def __init__(self, session_id: int = 1):
        self.root = Directory("\\")
        self.root.make_permanent()      # a handle to "\\" closed must not delete the namespace's root
        self.session_id = session_id
        for d in ("\\BaseNamedObjects", "\\KnownDlls", "\\KnownDlls32", "\\Device", "\\GLOBAL??",
                  "\\RPC Control", "\\Windows", "\\ObjectTypes", "\\Sessions", "\\Sessions\\BNOLINKS",
                  "\\Sessions\\0", "\\Sessions\\0\\BaseNamedObjects",
                  f"\\Sessions\\{session_id}", f"\\Sessions\\{session_id}\\BaseNamedObjects",
                  f"\\Sessions\\{session_id}\\Windows", f"\\Sessions\\{session_id}\\DosDevices"):
            self.create_directory(d, exist_ok=True)
        for sid in {0, session_id}:
            bno = f"\\Sessions\\{sid}\\BaseNamedObjects" if sid else "\\BaseNamedObjects"
            self.create_link(f"{bno}\\Global", "\\BaseNamedObjects", exist_ok=True)
            self.create_link(f"{bno}\\Local", bno, exist_ok=True)
            self.create_link(f"{bno}\\Session", "\\Sessions\\BNOLINKS", exist_ok=True)
            # \Sessions\BNOLINKS\<n>: each session's BaseNamedObjects (what "...\Session\<n>" reaches)
            self.create_link(f"\\Sessions\\BNOLINKS\\{sid}", bno, exist_ok=True)
        self.create_link("\\DosDevices", "\\??", exist_ok=True)

    def session_bno(self, session_id: int | None = None) -> str:
        """The BaseNamedObjects directory a process of that session uses for "Local\\" names."""
        sid = self.session_id if session_id is None else session_id
        return "\\BaseNamedObjects" if sid == 0 else f"\\Sessions\\{sid}\\BaseNamedObjects"

    # --- walking -----------------------------------------------------------------------------------
    def _walk(self, parts: list[str], *, open_link: bool, depth: int = 0,
              case_insensitive: bool = True) -> tuple[Directory, str | None, KObject | None]:
        """Resolve all but the last component (following links); return (dir, last, obj-or-None). Names compare
        case-insensitively unless `case_insensitive` is False (an open without OBJ_CASE_INSENSITIVE, as
        kernelbase opens named objects)."""
        ci = case_insensitive
        if depth > MAX_REPARSE:
            raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, "too many symbolic-link reparses")
        cur: KObject = self.root
        for i, comp in enumerate(parts):
            if isinstance(cur, SymbolicLink):
                return self._walk(_link_parts(cur.target) + parts[i:], open_link=open_link, depth=depth + 1,
                                  case_insensitive=ci)
            if not isinstance(cur, Directory):
                raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"{comp!r}: parent is not a directory")
            if comp == "":
                # an empty component met in an existing directory ("\\BaseNamedObjects\\", "\\\\x"); a missing
                # directory before it is STATUS_OBJECT_PATH_NOT_FOUND (Wine's ntdll/tests/om.c test_directory)
                raise NtStatusError(STATUS_OBJECT_NAME_INVALID, f"empty component in {parts!r}")
            last = i == len(parts) - 1
            nxt = cur.child(comp, ci)
            if last:
                if isinstance(nxt, SymbolicLink) and not open_link:
                    return self._walk(_link_parts(nxt.target), open_link=open_link, depth=depth + 1,
                                      case_insensitive=ci)
                return cur, comp, nxt
            if nxt is None:
                raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"no directory {comp!r}")
            cur = nxt
        # empty path: the root itself
        return self.root, None, self.root

    # --- public API --------------------------------------------------------------------------------
    def insert(self, path: str, obj: KObject, *, exist_ok: bool = False, case_insensitive: bool = True) -> KObject:
        """Give ``obj`` the name ``path``.  If the name exists: STATUS_OBJECT_NAME_COLLISION, or the
        existing object when ``exist_ok`` (the OBJ_OPENIF case; it must be of the same type)."""
        parts = split_path(path)
        if not parts:
            raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, "the root exists")
        parent, last, existing = self._walk(parts, open_link=True, case_insensitive=case_insensitive)
        if existing is not None:
            if exist_ok:
                if existing.type_name != obj.type_name:
                    raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"{path} is a {existing.type_name}")
                return existing
            raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"{path} exists")
        if obj._namespace is not None:
            raise NtStatusError(STATUS_OBJECT_NAME_COLLISION, f"object already named {obj.name}")
        parent.children[last] = obj
        full = (parent.name.rstrip("\\") if parent.name else "") + "\\" + last
        obj.name = full
        obj._namespace = self
        obj._ns_parent = parent
        obj._ns_key = last
        return obj

    def parse(self, path: str) -> tuple[KObject, str]:
        """ObpLookupObjectName as far as the object manager goes: follow directories and symbolic links
        (relative to nothing: an absolute name) until the name is used up or an object that parses the
        rest itself (a device) is met. Returns (object, the rest of the name with its leading backslash,
        "" when nothing is left). A missing name: STATUS_OBJECT_NAME_NOT_FOUND for the last component,
        STATUS_OBJECT_PATH_NOT_FOUND for an intermediate one."""
        if not isinstance(path, str) or not path.startswith("\\"):
            raise NtStatusError(STATUS_OBJECT_PATH_SYNTAX_BAD, f"object path must be absolute: {path!r}")
        cur: KObject = self.root
        comps = path[1:].split("\\") if path != "\\" else []
        reparses = 0
        while True:
            if isinstance(cur, SymbolicLink):
                reparses += 1
                if reparses > MAX_REPARSE:
                    raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, "too many symbolic-link reparses")
                # a target ending in a separator (DefineDosDevice's \??\C:\dir\) joins the rest without an empty part
                comps = split_path(cur.target.rstrip("\\") or "\\") + comps
                cur = self.root
                continue
            if not isinstance(cur, Directory):
                return cur, "".join("\\" + c for c in comps)
            if not comps:
                return cur, ""
            comp = comps.pop(0)
            if comp == "":
                # an empty component in an object directory, a trailing separator included (Wine's
                # ntdll/tests/om.c test_symboliclink: NtCreateFile of "\\BaseNamedObjects\\dir\\")
                raise NtStatusError(STATUS_OBJECT_NAME_INVALID, f"empty component in {path!r}")
            nxt = cur.child(comp, True)   # NT paths of files and devices compare case-insensitively
            if nxt is None:
                if comps:
                    raise NtStatusError(STATUS_OBJECT_PATH_NOT_FOUND, f"{path}: no {comp!r}")
                raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"{path}: no {comp!r}")
            cur = nxt

    def lookup(self, path: str, type_name: str | None = None, *, open_link: bool = False,
               case_insensitive: bool = True) -> KObject:
        """The object named ``path`` (case-insensitive unless asked otherwise, links followed unless
        ``open_link``)."""
        parts = split_path(path)
        _, _, obj = self._walk(parts, open_link=open_link, case_insensitive=case_insensitive)
        if obj is None:
            raise NtStatusError(STATUS_OBJECT_NAME_NOT_FOUND, f"{path} not found")
        if type_name is not None and obj.type_name != type_name:
            raise NtStatusError(STATUS_OBJECT_TYPE_MISMATCH, f"{path} is a {obj.type_name}, not a {type_name}")
        return obj

    def find(self, path: str, *, case_insensitive: bool = True) -> KObject | None:
        try:
            return self.lookup(path, case_insensitive=case_insensitive)
        except NtStatusError as e:
            if e.status in (STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND):
                return None
            raise

    def remove(self, obj: KObject) -> None:
        """Take ``obj``'s name out of its directory (no-op if it has none)."""
        if obj._namespace is not self:
            return
        parent = obj._ns_parent
        if parent.children.get(obj._ns_key) is obj:
            del parent.children[obj._ns_key]
        obj._namespace = None

    def create_directory(self, path: str, *, exist_ok: bool = False) -> Directory:
        d = Directory()
        got = self.insert(path, d, exist_ok=exist_ok)
        got.make_permanent()
        return got  # type: ignore[return-value]

    def create_link(self, path: str, target: str, *, exist_ok: bool = False) -> SymbolicLink:
        link = SymbolicLink(target)
        got = self.insert(path, link, exist_ok=exist_ok)
        got.make_permanent()
        return got  # type: ignore[return-value]

    def list_directory(self, path: str) -> list[tuple[str, str]]:
        """NtQueryDirectoryObject: ``(name, type_name)`` of each entry."""
        d = self.lookup(path, "Directory")
        return sorted(((o.name or k).rsplit("\\", 1)[-1], o.type_name) for k, o in d.children.items())
