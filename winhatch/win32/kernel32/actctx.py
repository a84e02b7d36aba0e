"""kernel32 / kernelbase (over ntdll's Rtl*ActivationContext*): activation contexts — CreateActCtx(A/W),
AddRefActCtx, ReleaseActCtx, ActivateActCtx, DeactivateActCtx, GetCurrentActCtx, QueryActCtxW — and the
activation context a new thread inherits from its creator.

Creating one reads a manifest: a manifest file (lpSource), or the RT_MANIFEST resource (lpResourceName, else
ID 1) of a PE file (lpSource) or of a loaded module (ACTCTX_FLAG_HMODULE_VALID). The manifest is checked as
Windows checks it (the facts of Wine's actctx tests, written to pass on Windows): an <assembly> in the
urn:schemas-microsoft-com:asm.v1 namespace with manifestVersion="1.0" and no other attribute, only known
elements of that namespace (others' are ignored), a <file> with a name (and a SHA-1 hash of 40 hex digits when
it has one), UTF-16 only with a byte order mark. Its dependencies are resolved as private assemblies in the
manifest's directory (or lpAssemblyDirectory): <name>.dll (its RT_MANIFEST 1), <name>.manifest,
<name>\\<name>.dll, <name>\\<name>.manifest, whose identity must match (name, version, type, architecture).
A failure is ERROR_SXS_CANT_GEN_ACTCTX (a missing source: the file error). Side-by-side system assemblies
(a dependency with a publicKeyToken, from WinSxS) are not modelled: Microsoft.Windows.Common-Controls is
accepted as present (its DLL, comctl32.dll, is the system's), any other stops loudly.

The handle is a block in the process heap, as ntdll's ACTIVATION_CONTEXT is; its reference count and parsed
manifest are kept with it. Activation pushes an RTL_ACTIVATION_CONTEXT_STACK_FRAME on the thread's
ACTIVATION_CONTEXT_STACK (TEB.ActivationContextStackPointer, allocated in the process heap on first use), in
guest memory; the cookie names the frame. Deactivating any frame but the active one stops loudly (Windows
raises STATUS_SXS_EARLY_DEACTIVATION / STATUS_SXS_INVALID_DEACTIVATION). A thread created in the same process
starts with its creator's active context (kernelbase's CreateRemoteThreadEx does that).
"""
from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET

from winhatch.kernel.structs import TEB
from winhatch.ntstatus import ERROR_INVALID_PARAMETER, NtStatusError, nt_to_win32
from winhatch.win32.api import api

from winhatch.win32.kernel32.common import K32, ERROR_INSUFFICIENT_BUFFER, heap_alloc

ERROR_SXS_CANT_GEN_ACTCTX = 14001
INVALID_HANDLE_VALUE_32 = 0xFFFFFFFF
ASM_V1 = "urn:schemas-microsoft-com:asm.v1"
MAX_MANIFEST = 1 << 20
MAX_DEPTH = 16                 # dependency nesting
MAX_ASSEMBLIES = 256
RT_MANIFEST = 24
ACTX_MAGIC = 0x78746341        # "Actx"

ACTCTX_FLAG_PROCESSOR_ARCHITECTURE_VALID, ACTCTX_FLAG_LANGID_VALID = 0x1, 0x2
ACTCTX_FLAG_ASSEMBLY_DIRECTORY_VALID, ACTCTX_FLAG_RESOURCE_NAME_VALID = 0x4, 0x8
ACTCTX_FLAG_SET_PROCESS_DEFAULT, ACTCTX_FLAG_APPLICATION_NAME_VALID = 0x10, 0x20
ACTCTX_FLAG_SOURCE_IS_ASSEMBLYREF, ACTCTX_FLAG_HMODULE_VALID = 0x40, 0x80
_ACTCTX_FLAGS = 0xFF
DEACTIVATE_ACTCTX_FLAG_FORCE_EARLY_DEACTIVATION = 0x1
QUERY_ACTCTX_FLAG_USE_ACTIVE_ACTCTX, QUERY_ACTCTX_FLAG_ACTCTX_IS_HMODULE = 0x4, 0x8
QUERY_ACTCTX_FLAG_ACTCTX_IS_ADDRESS, QUERY_ACTCTX_FLAG_NO_ADDREF = 0x10, 0x80000000
ActivationContextBasicInformation, ActivationContextDetailedInformation = 1, 2
AssemblyDetailedInformationInActivationContext, FileInformationInAssemblyOfAssemblyInActivationContext = 3, 4
RunlevelInformationInActivationContext = 5
CompatibilityInformationInActivationContext = 6
COMPAT_ELEMENT_SIZE = 32       # GUID Id, the element type, (padding), ULONGLONG MaxVersionTested
ACTIVATION_CONTEXT_PATH_TYPE_NONE, ACTIVATION_CONTEXT_PATH_TYPE_WIN32_FILE = 1, 2
RUN_LEVELS = {"asinvoker": 1, "highestavailable": 2, "requireadministrator": 3}

# the elements of the asm.v1 namespace a manifest may hold (anything else there makes it invalid)
ASM_V1_ELEMENTS = {"assembly", "assemblyIdentity", "dependency", "dependentAssembly", "file", "noInherit",
                   "noInheritable", "description", "comClass", "typelib", "windowClass", "comInterfaceProxyStub",
                   "comInterfaceExternalProxyStub", "clrClass", "clrSurrogate", "progid", "bindingRedirect",
                   "supportedOS", "maxversiontested", "activeCodePage", "dpiAware", "dpiAwareness",
                   "trustInfo", "security", "requestedPrivileges", "requestedExecutionLevel", "application",
                   "windowsSettings", "compatibility", "asmv3:application"}
SYSTEM_ASSEMBLIES = {"microsoft.windows.common-controls"}


class ActCtxError(Exception):
    def __init__(self, code: int = ERROR_SXS_CANT_GEN_ACTCTX, why: str = ""):
        super().__init__(why)
        self.code = code


class ActCtx:
    def __init__(self, assemblies: list[dict], flags: int, app_name: str | None, run_level: tuple[int, int]):
        self.assemblies = assemblies      # the root first, then its dependencies
        self.flags = flags
        self.app_name = app_name
        self.run_level = run_level        # (RunLevel, UiAccess)
        self.refcount = 1
        self.source: str | None = None    # the root manifest's path (the PE file's for a resource)
        self.app_dir: str | None = None   # the directory dependencies come from, with its backslash
        self.sections: dict[int, tuple[int, int, dict]] = {}   # section id -> (address, size, key -> entry)


def _stop(c, what: str):
    from winhatch.win32.msvcrt.runtime import not_implemented
    not_implemented(c, what)


def _ctxs(c) -> dict:
    return c.proc.subsystem.setdefault("actctx", {})


# ------------------------------------------------------------------------------------------ manifests
def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _identity(el) -> dict:
    """The identity's attributes by lower-case name; "" keeps them as written: [(name, value)]."""
    d = {k.lower(): v for k, v in el.attrib.items() if not k.startswith("{")}
    d[""] = [(k, v) for k, v in el.attrib.items() if not k.startswith("{")]
    return d


def encoded_identity(ident: dict | None) -> str:
    """The assembly's encoded identity as QueryActCtxW gives it: the name, then every other attribute as
    attr="value", sorted by attribute name (Wine.Test,type="win32",version="1.0.0.0")."""
    if not ident:
        return ""
    attrs = sorted(((k, v) for k, v in ident.get("", []) if k.lower() != "name"), key=lambda kv: kv[0].lower())
    return ident.get("name", "") + "".join(f',{k}="{v}"' for k, v in attrs)


COMPAT_V1 = "urn:schemas-microsoft-com:compatibility.v1"
ASM_V3 = "urn:schemas-microsoft-com:asm.v3"
UNBOUND_NS = "urn:winhatch:undeclared-prefix:"
ACTCTX_COMPATIBILITY_ELEMENT_TYPE_OS, ACTCTX_COMPATIBILITY_ELEMENT_TYPE_MAXVERSIONTESTED = 1, 3


def _declare_unbound(data: bytes) -> bytes:
    """Windows' manifest parser accepts an element prefix the manifest never declares (<asmv3:application>
    without xmlns:asmv3, found in real programs): such elements are in no namespace it knows. The standard
    parser refuses them, so each undeclared prefix is declared on the root element with a namespace of its own
    that matches nothing."""
    try:
        ET.fromstring(data)
        return data
    except ET.ParseError as e:
        if "unbound prefix" not in str(e):
            return data
    declared = set(re.findall(rb"xmlns:([A-Za-z_][\w.-]*)\s*=", data))
    used = set(re.findall(rb"</?([A-Za-z_][\w.-]*):[A-Za-z_]", data)) - declared - {b"xml", b"xmlns"}
    if not used:
        return data
    decl = b"".join(b' xmlns:%s="%s%s"' % (p, UNBOUND_NS.encode(), p) for p in sorted(used))
    m = re.search(rb"<(?![?!])[^\s>/]+", data)
    if m is None:
        return data
    return data[:m.end()] + decl + data[m.end():]


def _version64(text: str) -> int | None:
    parts = text.strip().split(".")
    if not 1 <= len(parts) <= 4 or not all(p.isdigit() and int(p) <= 0xFFFF for p in parts):
        return None
    parts += ["0"] * (4 - len(parts))
    return int(parts[0]) << 48 | int(parts[1]) << 32 | int(parts[2]) << 16 | int(parts[3])


def _compat_and_settings(root, out: dict) -> None:
    """<compatibility><application>: the supportedOS Ids and maxversiontested versions in document order; the
    <application><windowsSettings> (asm.v3) settings as (namespace, name, value)."""
    for comp in root:
        if _local(comp.tag) != (COMPAT_V1, "compatibility"):
            continue
        for app in comp:
            if _local(app.tag) != (COMPAT_V1, "application"):
                continue
            for el in app:
                ns, tag = _local(el.tag)
                if ns != COMPAT_V1:
                    continue
                if tag == "supportedOS":
                    out["compat"].append((ACTCTX_COMPATIBILITY_ELEMENT_TYPE_OS, _guid(el.get("Id")), 0))
                elif tag == "maxversiontested":
                    v = _version64(el.get("Id") or "")
                    if v is not None:
                        out["compat"].append((ACTCTX_COMPATIBILITY_ELEMENT_TYPE_MAXVERSIONTESTED, bytes(16), v))
    for app in root:
        if _local(app.tag) != (ASM_V3, "application"):
            continue
        for ws in app:
            if _local(ws.tag) != (ASM_V3, "windowsSettings"):
                continue
            for el in ws:
                ns, tag = _local(el.tag)
                out["settings"].append((ns, tag, (el.text or "").strip()))


def parse_manifest(data: bytes) -> dict:
    """The manifest's identity, files, dependencies and run level; ActCtxError when Windows refuses it."""
    if len(data) > MAX_MANIFEST:
        raise ActCtxError()
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\0" in data[:4]:
        raise ActCtxError()               # UTF-16 text without its byte order mark
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise ActCtxError() from None
        data = re.sub(rb"^\s*<\?xml[^>]*\?>", b"", data)
    try:
        root = ET.fromstring(_declare_unbound(data))
    except (ET.ParseError, ValueError):
        raise ActCtxError() from None
    asm_ns, name = _local(root.tag)
    ns = asm_ns
    if ns not in (ASM_V1, ASM_V3) or name != "assembly" or root.get("manifestVersion") != "1.0":
        raise ActCtxError()
    if any(k != "manifestVersion" and not k.startswith("{") for k in root.attrib):
        raise ActCtxError()
    out = {"identity": None, "files": [], "dependencies": [], "run_level": (0, 0), "window_classes": [],
           "com": _empty_com(), "compat": [], "settings": []}
    _compat_and_settings(root, out)
    count = 0
    for el in root.iter():
        count += 1
        if count > 100_000:
            raise ActCtxError()
        ns, tag = _local(el.tag)
        if ns == asm_ns and tag not in ASM_V1_ELEMENTS:
            raise ActCtxError()
        if tag == "requestedExecutionLevel":
            level = RUN_LEVELS.get(el.get("level", "").lower(), 0)
            ui = 1 if el.get("uiAccess", "false").lower() == "true" else 0
            out["run_level"] = (level, ui)
    for el in root:
        ns, tag = _local(el.tag)
        if ns != asm_ns:
            continue
        if tag == "assemblyIdentity" and out["identity"] is None:
            out["identity"] = _identity(el)
        elif tag == "file":
            fname = el.get("name")
            digest = el.get("hash")
            if not fname or (digest is not None and not re.fullmatch(r"[0-9a-fA-F]{40}", digest)):
                raise ActCtxError()
            out["files"].append(fname)
            for wc in el:
                if _local(wc.tag) == (asm_ns, "windowClass") and (wc.text or "").strip():
                    # (class, its file, versioned: the name registered is "<assembly version>!class")
                    out["window_classes"].append(((wc.text or "").strip(), fname,
                                                  wc.get("versioned", "yes").lower() != "no"))
                else:
                    _com_element(wc, fname, out["com"])
        elif tag == "dependency":
            for dep in el:
                if _local(dep.tag) != (asm_ns, "dependentAssembly"):
                    continue
                ident = next((x for x in dep if _local(x.tag) == (asm_ns, "assemblyIdentity")), None)
                if ident is None:
                    raise ActCtxError()
                out["dependencies"].append((_identity(ident), el.get("optional", "no").lower() == "yes"))
        else:
            _com_element(el, None, out["com"])
    return out


# ------------------------------------------------------------------------------------------ COM elements
WINRT_V1 = "urn:schemas-microsoft-com:winrt.v1"
THREADING_MODELS = {"apartment": 1, "free": 2, "no": 3, "both": 4, "neutral": 5}
WINRT_THREADING_MODELS = {"both": 0, "sta": 1, "mta": 2}
LIBFLAGS = {"restricted": 0x1, "control": 0x2, "hidden": 0x4, "hasdiskimage": 0x8}
# OLEMISC (Microsoft's OLEMISC enumeration) by the names manifests use in miscStatus* attributes
OLEMISC = {"recomposeonresize": 0x1, "onlyiconic": 0x2, "insertnotreplace": 0x4, "static": 0x8,
           "cantlinkinside": 0x10, "canlinkbyole1": 0x20, "islinkobject": 0x40, "insideout": 0x80,
           "activatewhenvisible": 0x100, "renderingisdeviceindependent": 0x200, "invisibleatruntime": 0x400,
           "alwaysrun": 0x800, "actslikebutton": 0x1000, "actslikelabel": 0x2000, "nouiactivate": 0x4000,
           "alignable": 0x8000, "simpleframe": 0x10000, "setclientsitefirst": 0x20000, "imemode": 0x40000,
           "ignoreactivatewhenvisible": 0x80000, "wantstomenumerge": 0x100000,
           "supportsmultilevelundo": 0x200000}
# the miscStatus* attributes in the order of their mask bits (and of the DWORDs of the COM server data)
MISC_ATTRS = ("miscStatus", "miscStatusIcon", "miscStatusContent", "miscStatusThumbnail", "miscStatusDocPrint")


def _empty_com() -> dict:
    return {"classes": [], "typelibs": [], "ifaces": [], "surrogates": [], "winrt": []}


def _guid(text: str | None, required: bool = True) -> bytes | None:
    """A GUID attribute ("{xxxxxxxx-...}") as the 16 bytes of a GUID; a malformed one makes the manifest
    invalid, a missing optional one is None."""
    import uuid
    if text is None and not required:
        return None
    try:
        return uuid.UUID((text or "").strip().strip("{}")).bytes_le
    except ValueError:
        raise ActCtxError() from None


def _misc(text: str | None) -> int:
    v = 0
    for word in (text or "").split(","):
        v |= OLEMISC.get(word.strip().lower(), 0)
    return v


def _progids(el) -> list[str]:
    out = [el.get("progid")] if el.get("progid") else []
    for p in el:
        if _local(p.tag) == (ASM_V1, "progid") and (p.text or "").strip():
            out.append((p.text or "").strip())
    return out


def _com_element(el, fname: str | None, com: dict) -> None:
    """The COM/.NET/WinRT registration an element declares: <comClass>, <typelib>, <comInterfaceProxyStub>
    (in a <file>), <comInterfaceExternalProxyStub>, <clrClass>, <clrSurrogate> (in the assembly),
    <activatableClass> of the winrt.v1 namespace (in a <file>)."""
    ns, tag = _local(el.tag)
    if ns == WINRT_V1 and tag == "activatableClass" and fname:
        if el.get("name"):
            com["winrt"].append({"name": el.get("name"), "file": fname,
                                 "model": WINRT_THREADING_MODELS.get((el.get("threadingModel") or "").lower(), 0)})
        return
    if ns != ASM_V1:
        return
    if tag in ("comClass", "clrClass") and (tag == "clrClass" or fname):
        misc = [el.get(a) for a in MISC_ATTRS]
        com["classes"].append({
            "clsid": _guid(el.get("clsid")), "tlbid": _guid(el.get("tlbid"), False) or bytes(16),
            "model": THREADING_MODELS.get((el.get("threadingModel") or "").lower(), 0),
            "file": fname, "progids": _progids(el), "progid": el.get("progid"),
            "mask": sum(1 << i for i, v in enumerate(misc) if v is not None),
            "misc": [_misc(v) for v in misc],
            "clr": ({"name": el.get("name") or "", "version": el.get("runtimeVersion") or ""}
                    if tag == "clrClass" else None)})
    elif tag == "typelib" and fname:
        major, _, minor = (el.get("version") or "0.0").partition(".")
        flags = 0
        for word in (el.get("flags") or "").split(","):
            flags |= LIBFLAGS.get(word.strip().lower(), 0)
        try:
            com["typelibs"].append({"tlbid": _guid(el.get("tlbid")), "file": fname, "major": int(major or 0),
                                    "minor": int(minor or 0), "help": el.get("helpdir") or "",
                                    "langid": int(el.get("resourceid") or "0", 16), "flags": flags})
        except ValueError:
            raise ActCtxError() from None
    elif tag in ("comInterfaceProxyStub", "comInterfaceExternalProxyStub") and (
            fname or tag == "comInterfaceExternalProxyStub"):
        iid = _guid(el.get("iid"))
        ps32 = _guid(el.get("proxyStubClsid32"), False)
        try:
            nummethods = int(el.get("numMethods") or "0", 0)
        except ValueError:
            raise ActCtxError() from None
        com["ifaces"].append({
            "iid": iid, "clsid": ps32 if ps32 is not None and tag == "comInterfaceExternalProxyStub" else iid,
            "name": el.get("name") or "", "tlbid": _guid(el.get("tlbid"), False) or bytes(16),
            "base": _guid(el.get("baseInterface"), False) or bytes(16), "nummethods": nummethods,
            "mask": (1 if el.get("numMethods") is not None else 0) | (2 if el.get("baseInterface") else 0)})
    elif tag == "clrSurrogate":
        com["surrogates"].append({"clsid": _guid(el.get("clsid")), "name": el.get("name") or "",
                                  "version": el.get("runtimeVersion") or ""})


ERROR_RESOURCE_TYPE_NOT_FOUND, ERROR_RESOURCE_NAME_NOT_FOUND = 1813, 1814


def _pe_manifest(data: bytes, res, why: list | None = None) -> bytes | None:
    """RT_MANIFEST resource `res` (an ID or a name) of a PE file's bytes, or None (`why` gets the error:
    ERROR_RESOURCE_TYPE_NOT_FOUND without RT_MANIFEST resources, ERROR_RESOURCE_NAME_NOT_FOUND without that
    one)."""
    from winhatch.pe import PEFile, PEFormatError
    why = why if why is not None else []
    why.append(ERROR_RESOURCE_TYPE_NOT_FOUND)
    try:
        pe = PEFile(data, "manifest source")
        root = pe.resources
        if root is None:
            return None
        t = next((e for e in root.entries if e.name is None and e.id == RT_MANIFEST), None)
        if t is None or t.directory is None:
            return None
        why.append(ERROR_RESOURCE_NAME_NOT_FOUND)
        want = res if isinstance(res, int) else str(res).upper()
        n = next((e for e in t.directory.entries
                  if (e.id == want if isinstance(want, int) else (e.name or "").upper() == want)), None)
        if n is None or n.directory is None or not n.directory.entries:
            return None
        leaf = n.directory.entries[0]
        if leaf.data is None or leaf.data.size > MAX_MANIFEST:
            return None
        return pe.read_rva(leaf.data.rva, leaf.data.size)
    except (PEFormatError, ValueError, AttributeError):
        return None


def _read(c, path: str) -> bytes:
    from winhatch.win32.kernel32.resource import read_guest_file
    return read_guest_file(c, path, 64 << 20)


def _matches(want: dict, got: dict | None) -> bool:
    if got is None:
        return False
    for key in ("name", "version", "type", "processorarchitecture"):
        a, b = want.get(key), got.get(key)
        if key == "processorarchitecture" and (a in (None, "*") or b in (None, "*")):
            continue
        if (a or "").lower() != (b or "").lower():
            return False
    return True


def _resolve(c, ident: dict, directory: str, depth: int, found: list) -> None:
    name = ident.get("name") or ""
    if ident.get("publickeytoken") and name.lower() in SYSTEM_ASSEMBLIES:
        found.append({"identity": ident, "directory": None, "files": ["comctl32.dll"], "system": True})
        return
    if not name or "\\" in name or "/" in name or depth > MAX_DEPTH or len(found) >= MAX_ASSEMBLIES:
        raise ActCtxError()
    for sub in ("", name + "\\"):
        for ext in (".dll", ".manifest"):
            path = f"{directory}\\{sub}{name}{ext}"
            try:
                data = _read(c, path)
            except NtStatusError:
                continue
            if ext == ".dll":
                data = _pe_manifest(data, 1)
                if data is None:
                    continue
            m = parse_manifest(data)
            if not _matches(ident, m["identity"]):
                raise ActCtxError()
            found.append({"identity": m["identity"], "directory": path.rsplit("\\", 1)[0], "files": m["files"],
                          "system": False, "manifest": path, "window_classes": m["window_classes"],
                          "com": m["com"]})
            for dep, optional in m["dependencies"]:
                _resolve_dep(c, dep, directory, depth + 1, found, optional)
            return
    if ident.get("publickeytoken"):
        # a shared assembly that is not a private one of the application: Windows looks in WinSxS
        _stop(c, f"the side-by-side system assembly {name} (WinSxS is not modelled)")
    raise ActCtxError()


def _resolve_dep(c, ident, directory, depth, found, optional) -> None:
    try:
        _resolve(c, ident, directory, depth, found)
    except ActCtxError:
        if not optional:
            raise


def build(c, data: bytes, directory: str, flags: int, app_name: str | None) -> ActCtx:
    m = parse_manifest(data)
    assemblies = [{"identity": m["identity"], "directory": directory, "files": m["files"], "system": False,
                   "window_classes": m["window_classes"], "com": m["com"]}]
    for dep, optional in m["dependencies"]:
        _resolve_dep(c, dep, directory, 1, assemblies, optional)
    ctx = ActCtx(assemblies, flags, app_name, m["run_level"])
    ctx.compat = m["compat"]
    ctx.settings = m["settings"]
    return ctx


# ------------------------------------------------------------------------------------------ ACTCTX
def _actctx_fields(c, p: int, wide: bool) -> dict:
    ps = c.ptr_size
    lay = ({"cbSize": 0, "dwFlags": 4, "lpSource": 8, "wProcessorArchitecture": 16, "wLangId": 18,
            "lpAssemblyDirectory": 24, "lpResourceName": 32, "lpApplicationName": 40, "hModule": 48, "size": 56}
           if ps == 8 else
           {"cbSize": 0, "dwFlags": 4, "lpSource": 8, "wProcessorArchitecture": 12, "wLangId": 14,
            "lpAssemblyDirectory": 16, "lpResourceName": 20, "lpApplicationName": 24, "hModule": 28, "size": 32})
    cb = c.u32(p)
    flags = c.u32(p + 4)

    def field(name):
        return c.ptr(p + lay[name]) if lay[name] + ps <= cb else 0

    def text(addr):
        if not addr:
            return None
        return c.wstr(addr) if wide else c.astr(addr)
    res = field("lpResourceName") if flags & ACTCTX_FLAG_RESOURCE_NAME_VALID else 0
    return {"cb": cb, "flags": flags, "size": lay["size"], "source": text(field("lpSource")),
            "directory": text(field("lpAssemblyDirectory")) if flags & ACTCTX_FLAG_ASSEMBLY_DIRECTORY_VALID else None,
            "resource": (res if res < 0x10000 else text(res)) if flags & ACTCTX_FLAG_RESOURCE_NAME_VALID else 1,
            "app": text(field("lpApplicationName")) if flags & ACTCTX_FLAG_APPLICATION_NAME_VALID else None,
            "module": field("hModule") if flags & ACTCTX_FLAG_HMODULE_VALID else 0}


def _invalid_handle(c) -> int:
    return (1 << (8 * c.ptr_size)) - 1


def _create(c, p: int, wide: bool) -> int:
    if not p or c.u32(p) < 12 or c.u32(p + 4) & ~_ACTCTX_FLAGS:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return _invalid_handle(c)
    f = _actctx_fields(c, p, wide)
    flags = f["flags"]
    if flags & ACTCTX_FLAG_SET_PROCESS_DEFAULT:
        _stop(c, "CreateActCtx with ACTCTX_FLAG_SET_PROCESS_DEFAULT")
    if flags & ACTCTX_FLAG_SOURCE_IS_ASSEMBLYREF:
        _stop(c, "CreateActCtx with ACTCTX_FLAG_SOURCE_IS_ASSEMBLYREF")
    vfs = c.machine.vfs
    from winhatch.win32.kernel32.common import cwd
    why: list = []
    try:
        if flags & ACTCTX_FLAG_HMODULE_VALID and not f["module"]:
            raise ActCtxError()           # no module to read the manifest from: ERROR_SXS_CANT_GEN_ACTCTX
        if f["module"]:
            from winhatch.ldr import loader
            mod = next((m for m in loader.state_of(c.proc).modules if m.base == f["module"]), None)
            if mod is None:
                c.set_last_error(ERROR_INVALID_PARAMETER)
                return _invalid_handle(c)
            data = _pe_manifest(_read(c, mod.path), f["resource"], why)
            source = f["source"] or mod.path
        else:
            if not f["source"]:
                c.set_last_error(ERROR_INVALID_PARAMETER)
                return _invalid_handle(c)
            # a relative source is looked for in lpAssemblyDirectory when one is given, else in the current
            # directory
            source = vfs.full_path(f["source"], f["directory"] or cwd(c))
            data = _read(c, source)
            if data[:2] == b"MZ":
                data = _pe_manifest(data, f["resource"], why)
        if data is None:
            raise ActCtxError(why[-1] if why else ERROR_RESOURCE_TYPE_NOT_FOUND)
        directory = f["directory"] or source.rsplit("\\", 1)[0]
        ctx = build(c, data, directory, flags, f["app"])
        ctx.source = source
        ctx.assemblies[0]["manifest"] = source
        ctx.app_dir = directory if directory.endswith("\\") else directory + "\\"
    except NtStatusError as e:
        c.set_last_error(nt_to_win32(e.status))
        return _invalid_handle(c)
    except ActCtxError as e:
        c.set_last_error(e.code)
        return _invalid_handle(c)
    h = heap_alloc(c, 4 * c.ptr_size, 0x8)
    if not h:
        return _invalid_handle(c)
    c.write_u32(h, ACTX_MAGIC)
    _ctxs(c)[h] = ctx
    return h


@api(K32, "HANDLE WINAPI CreateActCtxW(PCACTCTXW pActCtx)")
def CreateActCtxW(c, p):
    return _create(c, p, True)


@api(K32, "HANDLE WINAPI CreateActCtxA(PCACTCTXA pActCtx)")
def CreateActCtxA(c, p):
    return _create(c, p, False)


def _ctx(c, h: int) -> ActCtx | None:
    return _ctxs(c).get(h)


def add_ref(c, h: int) -> None:
    ctx = _ctx(c, h)
    if ctx is not None:
        ctx.refcount += 1


def release(c, h: int) -> None:
    ctx = _ctx(c, h)
    if ctx is None:
        return
    ctx.refcount -= 1
    if ctx.refcount <= 0:
        del _ctxs(c)[h]
        from winhatch.win32.kernel32.common import heap_free
        for sec in ctx.sections.values():
            heap_free(c, sec[0])
        c.write_u32(h, 0)
        heap_free(c, h)


@api(K32, "void WINAPI AddRefActCtx(HANDLE hActCtx)")
def AddRefActCtx(c, h):
    add_ref(c, h)


@api(K32, "void WINAPI ReleaseActCtx(HANDLE hActCtx)")
def ReleaseActCtx(c, h):
    """NULL or INVALID_HANDLE_VALUE: nothing to release."""
    release(c, h)


# ------------------------------------------------------------------------------------------ the stack in the TEB
def _stack_layout(ps: int) -> dict:
    return ({"ActiveFrame": 0, "FrameListCache": 8, "Flags": 24, "NextCookieSequenceNumber": 28, "StackId": 32,
             "size": 40} if ps == 8 else
            {"ActiveFrame": 0, "FrameListCache": 4, "Flags": 12, "NextCookieSequenceNumber": 16, "StackId": 20,
             "size": 24})


def _teb_slot(c, teb: int) -> int:
    return teb + TEB.offset(c.arch, "ActivationContextStackPointer")


def _stack(c, teb: int, create: bool) -> int:
    ps = c.ptr_size
    slot = _teb_slot(c, teb)
    st = c.ptr(slot)
    if st or not create:
        return st
    lay = _stack_layout(ps)
    st = heap_alloc(c, lay["size"], 0x8)
    if not st:
        raise NtStatusError(0xC0000017, "no memory for the activation context stack")
    cache = st + lay["FrameListCache"]
    c.write_ptr(cache, cache)
    c.write_ptr(cache + ps, cache)
    c.write_u32(st + lay["NextCookieSequenceNumber"], 1)
    c.write_ptr(st + lay["StackId"], teb & 0xFFFF)
    c.write_ptr(slot, st)
    return st


def active(c, teb: int) -> int:
    st = _stack(c, teb, False)
    if not st:
        return 0
    frame = c.ptr(st)
    return c.ptr(frame + c.ptr_size) if frame else 0


def _cookies(c, teb: int) -> dict:
    return c.proc.subsystem.setdefault("actctx_cookies", {}).setdefault(teb, {})


def push(c, teb: int, h: int) -> int:
    """Activate h on the thread whose TEB is `teb`: a new frame on its stack; returns the cookie."""
    ps = c.ptr_size
    st = _stack(c, teb, True)
    lay = _stack_layout(ps)
    frame = heap_alloc(c, 3 * ps, 0x8)
    if not frame:
        raise NtStatusError(0xC0000017, "no memory for an activation frame")
    c.write_ptr(frame, c.ptr(st))
    c.write_ptr(frame + ps, h)
    c.write_u32(frame + 2 * ps, 0)
    c.write_ptr(st, frame)
    seq = c.u32(st + lay["NextCookieSequenceNumber"])
    c.write_u32(st + lay["NextCookieSequenceNumber"], (seq + 1) & 0xFFFF or 1)
    cookie = ((c.ptr(st + lay["StackId"]) & 0xFFF) << 16 | seq) & 0xFFFFFFF
    _cookies(c, teb)[cookie] = frame
    add_ref(c, h)
    return cookie


@api(K32, "BOOL WINAPI ActivateActCtx(HANDLE hActCtx, ULONG_PTR *lpCookie)")
def ActivateActCtx(c, h, pcookie):
    if not pcookie or (h and _ctx(c, h) is None):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    c.write_ptr(pcookie, push(c, c.thread.teb, h))
    return 1


@api(K32, "BOOL WINAPI DeactivateActCtx(DWORD dwFlags, ULONG_PTR ulCookie)")
def DeactivateActCtx(c, flags, cookie):
    if flags & ~DEACTIVATE_ACTCTX_FLAG_FORCE_EARLY_DEACTIVATION:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    teb = c.thread.teb
    frames = _cookies(c, teb)
    frame = frames.get(cookie)
    st = _stack(c, teb, False)
    if frame is None or not st:
        _stop(c, "DeactivateActCtx of a cookie not on the thread's stack (STATUS_SXS_INVALID_DEACTIVATION)")
    if c.ptr(st) != frame and not flags & DEACTIVATE_ACTCTX_FLAG_FORCE_EARLY_DEACTIVATION:
        _stop(c, "DeactivateActCtx of a frame that is not the active one (STATUS_SXS_EARLY_DEACTIVATION)")
    from winhatch.win32.kernel32.common import heap_free
    # pop every frame down to and including this one
    for _ in range(4096):
        top = c.ptr(st)
        if not top:
            break
        c.write_ptr(st, c.ptr(top))
        release(c, c.ptr(top + c.ptr_size))
        for k, v in list(frames.items()):
            if v == top:
                del frames[k]
        heap_free(c, top)
        if top == frame:
            break
    return 1


@api(K32, "BOOL WINAPI GetCurrentActCtx(HANDLE *lphActCtx)")
def GetCurrentActCtx(c, out):
    """The thread's active context with a reference the caller releases (NULL when none is active)."""
    if not out:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    h = active(c, c.thread.teb)
    add_ref(c, h)
    c.write_ptr(out, h)
    return 1


def inherit(c, hthread: int) -> None:
    """kernelbase's CreateRemoteThreadEx in the caller's process: the new thread (handle `hthread`) starts with
    the creator's active activation context."""
    h = active(c, c.thread.teb)
    if not h:
        return
    ps = c.ptr_size
    tbi = c.stack_alloc(6 * ps, 8)      # THREAD_BASIC_INFORMATION: ExitStatus, TebBaseAddress, ...
    st = c.nt("NtQueryInformationThread", hthread, 0, tbi, 6 * ps if ps == 8 else 28, 0)
    if st & 0x80000000:
        return
    teb = c.ptr(tbi + ps)
    if teb:
        push(c, teb, h)


def default_ctx(c) -> ActCtx | None:
    """The process default activation context, from the program's manifest (its RT_MANIFEST 1, else
    <program>.manifest beside it), built on first use; None for a program without one. Its root manifest is
    that file (the program itself for an embedded one), its application directory the program's."""
    st = c.proc.subsystem.setdefault("actctx_default", {})
    if "ctx" in st:
        return st["ctx"]
    from winhatch.ldr import loader
    from winhatch.win32.kernel32 import manifest
    data = manifest.process_manifest(c)
    ctx = None
    if data is not None:
        exe = loader.state_of(c.proc).modules[0].path
        directory = exe.rsplit("\\", 1)[0]
        try:
            ctx = build(c, data, directory, 0, None)
        except (ActCtxError, NtStatusError):
            _stop(c, "a program whose manifest Windows would refuse (the process would not start)")
        ctx.source = exe if manifest._embedded(c) is not None else exe + ".manifest"
        ctx.assemblies[0]["manifest"] = ctx.source
        ctx.app_dir = directory + "\\"
    st["ctx"] = ctx
    return ctx


@api(K32, "BOOL WINAPI ZombifyActCtx(HANDLE hActCtx)")
def ZombifyActCtx(c, h):
    """Marks the context a zombie (RtlZombifyActivationContext): it stays valid for queries and on the
    stacks it is active on, but is no longer to be searched; a search in it stops loudly (what Windows then
    finds is not modelled). NULL or a handle that is no context: ERROR_INVALID_PARAMETER."""
    ctx = _ctx(c, h) if h else None
    if ctx is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    ctx.zombie = True
    return 1


# ------------------------------------------------------------------------------------------ settings
WINDOWS_SETTINGS_2005 = "http://schemas.microsoft.com/SMI/2005/WindowsSettings"
SETTINGS_NAMESPACES = {f"http://schemas.microsoft.com/SMI/{y}/WindowsSettings"
                       for y in (2005, 2011, 2016, 2017, 2019, 2020)}


@api(K32, "BOOL WINAPI QueryActCtxSettingsW(DWORD dwFlags, HANDLE hActCtx, PCWSTR settingsNameSpace, "
     "PCWSTR settingName, PWSTR pvBuffer, SIZE_T dwBuffer, SIZE_T *pdwWrittenOrRequired)")
def QueryActCtxSettingsW(c, flags, h, namespace, name, buf, cch, pwritten):
    """A <windowsSettings> value of the context's manifest (application, asm.v3 namespace): the setting
    `name` in `namespace` (NULL: the 2005 WindowsSettings one); flags, an unknown namespace or no name are
    ERROR_INVALID_PARAMETER, a setting the manifest lacks ERROR_SXS_KEY_NOT_FOUND. The value is copied with
    its NUL and *pdwWrittenOrRequired is its length in characters with the NUL; as on Windows the copy is
    refused (ERROR_INSUFFICIENT_BUFFER) only when the buffer is shorter than the text without its NUL."""
    if flags or not name or (namespace is not None and namespace not in SETTINGS_NAMESPACES):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    ns = namespace or WINDOWS_SETTINGS_2005
    if h:
        ctx = _ctx(c, h)
        if ctx is None:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
    else:
        _stop(c, "QueryActCtxSettingsW of the process default activation context")
    value = next((v for sns, sname, v in getattr(ctx, "settings", []) if sns == ns and sname == name), None)
    if value is None:
        c.set_last_error(ERROR_SXS_KEY_NOT_FOUND)
        return 0
    if pwritten:
        c.write_ptr(pwritten, len(value) + 1)
    if cch < len(value):
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, _w(value) + b"\0\0")
    return 1


# ------------------------------------------------------------------------------------------ QueryActCtxW
@api(K32, "BOOL WINAPI QueryActCtxW(DWORD dwFlags, HANDLE hActCtx, PVOID pvSubInstance, ULONG ulInfoClass, "
     "PVOID pvBuffer, SIZE_T cbBuffer, SIZE_T *pcbWrittenOrRequired)")
def QueryActCtxW(c, flags, h, sub, cls, buf, cb, pwritten):
    """ActivationContextBasicInformation (the handle, with a reference unless QUERY_ACTCTX_FLAG_NO_ADDREF, and
    flags 0), ActivationContextDetailedInformation and RunlevelInformationInActivationContext (the manifest's
    requestedExecutionLevel); the other classes stop loudly, as does a query of the process default context
    of a program that has a manifest (not modelled)."""
    ps = c.ptr_size
    if flags & (QUERY_ACTCTX_FLAG_ACTCTX_IS_HMODULE | QUERY_ACTCTX_FLAG_ACTCTX_IS_ADDRESS):
        _stop(c, "QueryActCtxW of a module's or an address's activation context")
    if flags & QUERY_ACTCTX_FLAG_USE_ACTIVE_ACTCTX:
        if h:          # the active context is asked for: a handle as well is ERROR_INVALID_PARAMETER
            if pwritten:
                c.write_ptr(pwritten, 0)
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        h = active(c, c.thread.teb)
    if h and _ctx(c, h) is None:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    ctx = _ctx(c, h) if h else None
    if ctx is None and cls != ActivationContextBasicInformation:
        ctx = default_ctx(c)
    if cls == ActivationContextBasicInformation:
        data = struct.pack("<QI4x" if ps == 8 else "<II", h, 0)
    elif cls == RunlevelInformationInActivationContext:
        level, ui = ctx.run_level if ctx else (0, 0)
        data = struct.pack("<III", 0, level, ui)
    elif cls == ActivationContextDetailedInformation:
        return _detailed(c, ctx, buf, cb, pwritten)
    elif cls == CompatibilityInformationInActivationContext:
        # ACTIVATION_CONTEXT_COMPATIBILITY_INFORMATION: the element count, then (8-aligned) the elements
        elements = getattr(ctx, "compat", []) if ctx else []
        data = struct.pack("<I4x", len(elements)) + b"".join(
            guid + struct.pack("<I4xQ", kind, version) for kind, guid, version in elements)
    elif cls in (AssemblyDetailedInformationInActivationContext,
                 FileInformationInAssemblyOfAssemblyInActivationContext):
        if ctx is None:
            _stop(c, f"QueryActCtxW class {cls} without an activation context")
        if not sub:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        # the assembly: a 1-based DWORD index for its details, an ACTIVATION_CONTEXT_QUERY_INDEX (0-based
        # assembly and file indexes) for one of its files
        index = c.u32(sub) - (1 if cls == AssemblyDetailedInformationInActivationContext else 0)
        if not 0 <= index < len(ctx.assemblies):
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        asm = ctx.assemblies[index]
        if cls == AssemblyDetailedInformationInActivationContext:
            return _assembly_info(c, asm, index == 0, buf, cb, pwritten)
        return _file_info(c, asm, c.u32(sub + 4), buf, cb, pwritten)
    else:
        _stop(c, f"QueryActCtxW information class {cls}")
    if pwritten:
        c.write_ptr(pwritten, len(data))
    if cb < len(data) or not buf:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data)
    if cls == ActivationContextBasicInformation and h and not flags & QUERY_ACTCTX_FLAG_NO_ADDREF:
        add_ref(c, h)
    return 1


def _detailed(c, ctx: ActCtx | None, buf: int, cb: int, pwritten: int) -> int:
    """ACTIVATION_CONTEXT_DETAILED_INFORMATION: the counts and path types, then the root manifest's path and
    the application directory, their text right after the structure in the caller's buffer. No context (a
    program without a manifest has no process default one): every field 0."""
    ps = c.ptr_size
    if ctx is None:
        size = 40 + 3 * 8 if ps == 8 else 36 + 3 * 4
        if pwritten:
            c.write_ptr(pwritten, size)
        if cb < size or not buf:
            c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
            return 0
        c.write(buf, bytes(size))
        return 1
    head = 40 + 3 * 8 if ps == 8 else 36 + 3 * 4
    root = (ctx.source or "").encode("utf-16-le")
    appdir = (ctx.app_dir or "").encode("utf-16-le")
    size = head + (len(root) + 2 if root else 0) + (len(appdir) + 2 if appdir else 0)
    if pwritten:
        c.write_ptr(pwritten, size)
    if cb < size or not buf:
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    p_root = buf + head if root else 0
    p_app = (buf + head + (len(root) + 2 if root else 0)) if appdir else 0
    fields = struct.pack("<9I", 0, 1, len(ctx.assemblies),
                         ACTIVATION_CONTEXT_PATH_TYPE_WIN32_FILE if root else ACTIVATION_CONTEXT_PATH_TYPE_NONE,
                         len(root) // 2, ACTIVATION_CONTEXT_PATH_TYPE_NONE, 0,
                         ACTIVATION_CONTEXT_PATH_TYPE_WIN32_FILE if appdir else ACTIVATION_CONTEXT_PATH_TYPE_NONE,
                         len(appdir) // 2)
    ptrs = struct.pack("<4xQQQ" if ps == 8 else "<III", p_root, 0, p_app)
    c.write(buf, fields + ptrs + (root + b"\0\0" if root else b"") + (appdir + b"\0\0" if appdir else b""))
    return 1


def _put_info(c, head: bytes, strings: list[tuple[int, bytes]], buf: int, cb: int, pwritten: int,
              written: int | None = None) -> int:
    """A structure `head` followed by its strings (NUL-terminated), each (pointer offset in head, text); the
    pointers point into the caller's buffer."""
    size = len(head) + sum(len(t) + 2 for _off, t in strings)
    if cb < size or not buf:
        if pwritten:
            c.write_ptr(pwritten, size)
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    data = bytearray(head)
    at = len(head)
    tail = b""
    for off, text in strings:
        data[off:off + c.ptr_size] = (buf + at).to_bytes(c.ptr_size, "little")
        tail += text + b"\0\0"
        at += len(text) + 2
    c.write(buf, bytes(data) + tail)
    if pwritten:
        c.write_ptr(pwritten, size if written is None else written)
    return 1


def _assembly_info(c, asm: dict, root: bool, buf: int, cb: int, pwritten: int) -> int:
    """ACTIVATION_CONTEXT_ASSEMBLY_DETAILED_INFORMATION of one assembly (1-based index): its encoded identity,
    its manifest's path, and for a dependency its directory; no policy; manifest version 1.0."""
    ps = c.ptr_size
    enc = encoded_identity(asm["identity"]).encode("utf-16-le")
    path = (asm.get("manifest") or "").encode("utf-16-le")
    directory = b"" if root else (asm.get("directory") or "").encode("utf-16-le")
    head = bytearray(104 if ps == 8 else 88)
    struct.pack_into("<IIII", head, 0, 0, len(enc), ACTIVATION_CONTEXT_PATH_TYPE_WIN32_FILE, len(path))
    struct.pack_into("<II", head, 24, ACTIVATION_CONTEXT_PATH_TYPE_NONE, 0)
    struct.pack_into("<IIIIII", head, 40, 0, 1, 0, 0, 0, len(directory))
    struct.pack_into("<I", head, 64 + 4 * ps, len(asm.get("files") or ()))
    strings = [(64, enc), (64 + ps, path)] + ([(64 + 3 * ps, directory)] if directory else [])
    return _put_info(c, bytes(head), strings, buf, cb, pwritten)


def _file_info(c, asm: dict, index: int, buf: int, cb: int, pwritten: int) -> int:
    """ASSEMBLY_FILE_DETAILED_INFORMATION of the assembly's file `index` (0-based): flags 2, its name, no path.
    On success *pcbWrittenOrRequired is 0, as Windows leaves it."""
    files = asm.get("files") or []
    if index >= len(files):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    ps = c.ptr_size
    name = files[index].encode("utf-16-le")
    head = bytearray(32 if ps == 8 else 20)
    struct.pack_into("<III", head, 0, 2, len(name), 0)
    return _put_info(c, bytes(head), [(16 if ps == 8 else 12, name)], buf, cb, pwritten, written=0)


# ------------------------------------------------------------------------------------------ sections
# Each section of a context is laid out once in the process heap, as ntdll lays out the sections it builds
# from the manifests: a string section ("SsHd": a 44-byte header, a 24-byte index entry per key — hash, name
# offset and length, data offset and length, the assembly's roster index — then the keys and their data) or
# a GUID section ("GsHd": a 40-byte header, a 28-byte index entry per GUID — the GUID, data offset and length,
# roster index — then the data). Both may carry a global data area (the header's global/names offset and
# length): module names and alias GUIDs the entries' data refers to by their offset from the section.
ACTIVATION_CONTEXT_SECTION_DLL_REDIRECTION = 2
ACTIVATION_CONTEXT_SECTION_WINDOW_CLASS_REDIRECTION = 3
ACTIVATION_CONTEXT_SECTION_COM_SERVER_REDIRECTION = 4
ACTIVATION_CONTEXT_SECTION_COM_INTERFACE_REDIRECTION = 5
ACTIVATION_CONTEXT_SECTION_COM_TYPE_LIBRARY_REDIRECTION = 6
ACTIVATION_CONTEXT_SECTION_COM_PROGID_REDIRECTION = 7
ACTIVATION_CONTEXT_SECTION_CLR_SURROGATES = 9
ACTIVATION_CONTEXT_SECTION_WINRT_ACTIVATABLE_CLASSES = 12
FIND_ACTCTX_SECTION_KEY_RETURN_HACTCTX = 0x1
ERROR_SXS_SECTION_NOT_FOUND = 14000
ERROR_SXS_KEY_NOT_FOUND = 14007
SECTION_MAGIC = 0x64487353             # "SsHd": a string section's header
GUID_SECTION_MAGIC = 0x64487347        # "GsHd": a GUID section's header
DLL_REDIRECT_PATH_OMITS_ASSEMBLY_ROOT = 2
WNDCLASS_DATA_SIZE = 24   # size, reserved, name length, name offset (from the data), module length, module offset
COMCLASS_DATA_SIZE = 120  # size, flags, model, clsid, alias, clsid2, tlid, name, progid, clr data, 5 misc DWORDs
CLRCLASS_DATA_SIZE = 44   # size, res[2], module, name, version (length, offset each), res2[2]
IFACEPS_DATA_SIZE = 68    # size, mask, iid, nummethods, tlbid, base, name length and offset
SURROGATE_DATA_SIZE = 40  # size, res, clsid, version offset and length, name offset and length
TLIB_DATA_SIZE = 32       # size, res, name length and offset, langid, flags, help length and offset, version
PROGID_DATA_SIZE = 12     # size, reserved, the alias GUID's offset in the section
WINRT_DATA_SIZE = 20      # size, unknown, module length and offset (from the section), threading model
# the sections Windows defines (1..12); a section id past them is ERROR_SXS_SECTION_NOT_FOUND
MAX_SECTION_ID = 12


def _hash_upper(text: str) -> int:
    """RtlHashUnicodeString(HASH_STRING_ALGORITHM_X65599) of the upper-cased string: the key's hash."""
    h = 0
    for ch in text.upper().encode("utf-16-le")[::2]:
        h = (h * 65599 + ch) & 0xFFFFFFFF
    return h


def _w(text: str) -> bytes:
    return text.encode("utf-16-le")


def _pad4(buf: bytearray) -> None:
    while len(buf) % 4:
        buf += b"\0"


class _Pool:
    """A section's global data area being built: strings (NUL-terminated, 4-aligned) and raw blobs, each at an
    offset relative to the area; the section adds the area's own offset."""
    def __init__(self):
        self.buf = bytearray()
        self.seen: dict[bytes, int] = {}

    def add(self, raw: bytes, nul: bool = True) -> int:
        if raw in self.seen and nul:
            return self.seen[raw]
        at = len(self.buf)
        self.buf += raw + (b"\0\0" if nul else b"")
        _pad4(self.buf)
        if nul:
            self.seen[raw] = at
        return at


def _store(c, ctx: ActCtx, section_id: int, blob: bytes, keys: dict, glob: tuple[int, int]) -> tuple:
    addr = heap_alloc(c, len(blob))
    if not addr:
        raise NtStatusError(0xC0000017, "no memory for an activation context section")
    c.write(addr, blob)
    ctx.sections[section_id] = (addr, len(blob), keys, glob[0], glob[1])
    return ctx.sections[section_id]


def _string_section(c, ctx: ActCtx, section_id: int, entries: list, pool: _Pool | None = None) -> tuple:
    """A string section of `entries` [(key, data, roster index)]; data is bytes, or a callable(at, gbase) ->
    bytes when it must know its own offset in the section (at) or the global area's (gbase). `pool` is the
    global data area (none: the header's global offset and length are 0)."""
    head, idx = 44, 24 * len(entries)
    gbase = head + idx
    glob = bytes(pool.buf) if pool else b""
    body = bytearray()
    index = bytearray()
    keys = {}
    at = gbase + len(glob)
    for key, data, roster in entries:
        raw = _w(key)
        name_off = at + len(body)
        body += raw + b"\0\0"
        _pad4(body)
        data_off = at + len(body)
        blob = data(data_off, gbase) if callable(data) else data
        body += blob
        _pad4(body)
        index += struct.pack("<IIIIII", _hash_upper(key), name_off, len(raw), data_off, len(blob), roster)
        keys.setdefault(key.lower(), (data_off, len(blob), roster))
    header = struct.pack("<II3III2III", SECTION_MAGIC, head, 0, 0, 0, len(entries), head, 0, 0,
                         gbase if glob else 0, len(glob))
    return _store(c, ctx, section_id, header + bytes(index) + glob + bytes(body), keys,
                  (gbase, len(glob)) if glob else (0, 0))


def _guid_section(c, ctx: ActCtx, section_id: int, entries: list, pool: _Pool | None = None) -> tuple:
    """A GUID section of `entries` [(guid bytes, data, roster index)] (data as for _string_section); a GUID
    already keyed keeps its first entry. Its global area (`pool`) is the header's names offset and length."""
    seen = set()
    unique = []
    for guid, data, roster in entries:
        if guid not in seen:
            seen.add(guid)
            unique.append((guid, data, roster))
    unique.sort(key=lambda e: e[0])
    head, idx = 40, 28 * len(unique)
    gbase = head + idx
    glob = bytes(pool.buf) if pool else b""
    body = bytearray()
    index = bytearray()
    keys = {}
    at = gbase + len(glob)
    shared: dict[int, tuple[int, int]] = {}      # the same data object keyed twice (a class and its alias)
    for guid, data, roster in unique:
        if id(data) in shared:
            data_off, length = shared[id(data)]
        else:
            data_off = at + len(body)
            blob = data(data_off, gbase) if callable(data) else data
            body += blob
            _pad4(body)
            length = len(blob)
            shared[id(data)] = (data_off, length)
        index += guid + struct.pack("<III", data_off, length, roster)
        keys[guid] = (data_off, length, roster)
    header = struct.pack("<II3III2I", GUID_SECTION_MAGIC, head, 0, 0, 0, len(unique), head, 0,
                         gbase if glob else 0) + struct.pack("<I", len(glob))
    return _store(c, ctx, section_id, header + bytes(index) + glob + bytes(body), keys,
                  (gbase, len(glob)) if glob else (0, 0))


def _dll_section(c, ctx: ActCtx) -> tuple:
    """The DLL redirection section: a key per file the (non-system) assemblies declare, its data 20 bytes
    (size, DLL_REDIRECT_PATH_OMITS_ASSEMBLY_ROOT, no paths)."""
    entries = []
    for roster, asm in enumerate(ctx.assemblies, 1):
        if asm.get("system"):
            continue                     # the system's own DLL: no redirection
        for name in asm.get("files") or ():
            entries.append((name, struct.pack("<IIIII", 20, DLL_REDIRECT_PATH_OMITS_ASSEMBLY_ROOT, 0, 0, 0),
                            roster))
    return _string_section(c, ctx, ACTIVATION_CONTEXT_SECTION_DLL_REDIRECTION, entries)


def _wndclass_section(c, ctx: ActCtx) -> tuple:
    """The window class redirection section: one key per <windowClass> of the assemblies' files; its data a
    24-byte header, the class name registered ("<assembly version>!class" unless versioned="no") and the
    file's name, each NUL-terminated, the name right after the header; module_offset counts from the section."""
    entries = []
    for roster, asm in enumerate(ctx.assemblies, 1):
        version = (asm.get("identity") or {}).get("version", "")
        for cls, fname, versioned in asm.get("window_classes") or ():
            name = _w(f"{version}!{cls}" if versioned else cls)
            module = _w(fname)

            def data(at, _gbase, name=name, module=module):
                mod_off = at + WNDCLASS_DATA_SIZE + len(name) + 2
                return (struct.pack("<6I", WNDCLASS_DATA_SIZE, 0, len(name), WNDCLASS_DATA_SIZE, len(module),
                                    mod_off) + name + b"\0\0" + module + b"\0\0")
            entries.append((cls, data, roster))
    return _string_section(c, ctx, ACTIVATION_CONTEXT_SECTION_WINDOW_CLASS_REDIRECTION, entries)


def _com_classes(ctx: ActCtx) -> list[tuple[int, dict, bytes]]:
    """The context's COM classes (<comClass>, <clrClass>) as (roster index, class, alias GUID). The alias is
    the GUID the context generates for each class: a second key of its COM server entry, and what its ProgIDs
    point at."""
    cached = getattr(ctx, "_com_classes", None)
    if cached is not None:
        return cached
    import uuid
    out = []
    for roster, asm in enumerate(ctx.assemblies, 1):
        for cls in (asm.get("com") or _empty_com())["classes"]:
            alias = uuid.uuid5(uuid.NAMESPACE_OID, f"winhatch.actctx.alias.{id(ctx)}.{len(out)}").bytes_le
            out.append((roster, cls, alias))
    ctx._com_classes = out
    return out


def _com_server_section(c, ctx: ActCtx) -> tuple:
    """COM server redirection (a GUID section): each class keyed by its CLSID and by its alias, the data a
    120-byte comclassredirect header (flags: the miscStatus* attributes given, bits 8-15; the threading
    model; CLSID, alias, CLSID again, type library; the module's name in the global area; the progid
    attribute after the header and its .NET part; the five OLEMISC values), then for a <clrClass> its 44-byte
    part (module mscoree.dll, class name, runtime version), then the ProgID. A <clrClass>'s module is
    MSCOREE.DLL for the class and mscoree.dll in its .NET part."""
    pool = _Pool()
    entries = []
    for roster, cls, alias in _com_classes(ctx):
        clr = cls["clr"]
        module = pool.add(_w("MSCOREE.DLL" if clr else cls["file"]))
        module_len = len(_w("MSCOREE.DLL" if clr else cls["file"]))
        clr_module = pool.add(_w("mscoree.dll")) if clr else 0

        def data(at, gbase, cls=cls, alias=alias, clr=clr, module=module, module_len=module_len,
                 clr_module=clr_module):
            clrdata = b""
            if clr:
                name, version = _w(clr["name"]), _w(clr["version"])
                clrdata = (struct.pack("<9I2I", CLRCLASS_DATA_SIZE, 0, 2, len(_w("mscoree.dll")), gbase + clr_module,
                                       len(name), CLRCLASS_DATA_SIZE, len(version),
                                       CLRCLASS_DATA_SIZE + len(name) + 2, 0, 0)
                           + name + b"\0\0" + version + b"\0\0")
            progid = _w(cls["progid"]) if cls["progid"] else b""
            progid_off = COMCLASS_DATA_SIZE + len(clrdata) if progid else 0
            m = cls["misc"]
            head = (struct.pack("<III", COMCLASS_DATA_SIZE, cls["mask"] << 8, cls["model"])
                    + cls["clsid"] + alias + cls["clsid"] + cls["tlbid"]
                    + struct.pack("<6I", module_len, gbase + module, len(progid), progid_off, len(clrdata),
                                  COMCLASS_DATA_SIZE if clrdata else 0)
                    + struct.pack("<5I", m[0], m[2], m[3], m[1], m[4]))
            return head + clrdata + (progid + b"\0\0" if progid else b"")
        entries.append((cls["clsid"], data, roster))
        entries.append((alias, data, roster))
    return _guid_section(c, ctx, ACTIVATION_CONTEXT_SECTION_COM_SERVER_REDIRECTION, entries, pool)


def _progid_section(c, ctx: ActCtx) -> tuple:
    """COM ProgID redirection (a string section): each ProgID of a class (its progid attribute and <progid>
    elements), the data 12 bytes pointing at the class's alias GUID in the section's global area."""
    pool = _Pool()
    entries = []
    for roster, cls, alias in _com_classes(ctx):
        off = pool.add(alias, nul=False)
        for progid in cls["progids"]:
            entries.append((progid, lambda at, gbase, off=off: struct.pack("<III", PROGID_DATA_SIZE, 0, gbase + off),
                            roster))
    return _string_section(c, ctx, ACTIVATION_CONTEXT_SECTION_COM_PROGID_REDIRECTION, entries, pool)


def _iface_section(c, ctx: ActCtx) -> tuple:
    """COM interface redirection (a GUID section keyed by IID): 68 bytes — the mask of what was given
    (numMethods 1, baseInterface 2), the proxy/stub CLSID (an external proxy stub's proxyStubClsid32, else the
    IID), the method count, type library, base interface, then the interface's name right after."""
    entries = []
    for roster, asm in enumerate(ctx.assemblies, 1):
        for it in (asm.get("com") or _empty_com())["ifaces"]:
            name = _w(it["name"])
            data = (struct.pack("<II", IFACEPS_DATA_SIZE, it["mask"]) + it["clsid"]
                    + struct.pack("<I", it["nummethods"]) + it["tlbid"] + it["base"]
                    + struct.pack("<II", len(name), IFACEPS_DATA_SIZE) + name + b"\0\0")
            entries.append((it["iid"], data, roster))
    return _guid_section(c, ctx, ACTIVATION_CONTEXT_SECTION_COM_INTERFACE_REDIRECTION, entries)


def _typelib_section(c, ctx: ActCtx) -> tuple:
    """COM type library redirection (a GUID section keyed by LIBID): 32 bytes — the file's name in the global
    area, the language (resourceid, hex), the LIBFLAG_* flags, the help directory right after, the version."""
    pool = _Pool()
    entries = []
    for roster, asm in enumerate(ctx.assemblies, 1):
        for tl in (asm.get("com") or _empty_com())["typelibs"]:
            raw = _w(tl["file"])
            module = pool.add(raw)
            help_ = _w(tl["help"])

            def data(at, gbase, tl=tl, raw=raw, module=module, help_=help_):
                return (struct.pack("<IIIIHHIIHH", TLIB_DATA_SIZE, 0, len(raw), gbase + module, tl["langid"] & 0xFFFF,
                                    tl["flags"], len(help_), TLIB_DATA_SIZE if help_ else 0, tl["major"] & 0xFFFF,
                                    tl["minor"] & 0xFFFF) + (help_ + b"\0\0" if help_ else b""))
            entries.append((tl["tlbid"], data, roster))
    return _guid_section(c, ctx, ACTIVATION_CONTEXT_SECTION_COM_TYPE_LIBRARY_REDIRECTION, entries, pool)


def _surrogate_section(c, ctx: ActCtx) -> tuple:
    """CLR surrogates (a GUID section keyed by CLSID): 40 bytes, then the runtime version and the name."""
    entries = []
    for roster, asm in enumerate(ctx.assemblies, 1):
        for sg in (asm.get("com") or _empty_com())["surrogates"]:
            version, name = _w(sg["version"]), _w(sg["name"])
            data = (struct.pack("<II", SURROGATE_DATA_SIZE, 0) + sg["clsid"]
                    + struct.pack("<IIII", SURROGATE_DATA_SIZE, len(version),
                                  SURROGATE_DATA_SIZE + len(version) + 2, len(name))
                    + version + b"\0\0" + name + b"\0\0")
            entries.append((sg["clsid"], data, roster))
    return _guid_section(c, ctx, ACTIVATION_CONTEXT_SECTION_CLR_SURROGATES, entries)


def _winrt_section(c, ctx: ActCtx) -> tuple:
    """WinRT activatable classes (a string section keyed by class name): 20 bytes — the file's name in the
    global area (its offset from the section), the threading model (both 0, sta 1, mta 2)."""
    pool = _Pool()
    entries = []
    for roster, asm in enumerate(ctx.assemblies, 1):
        for wc in (asm.get("com") or _empty_com())["winrt"]:
            raw = _w(wc["file"])
            module = pool.add(raw)
            entries.append((wc["name"], lambda at, gbase, raw=raw, module=module, wc=wc: struct.pack(
                "<5I", WINRT_DATA_SIZE, 0, len(raw), gbase + module, wc["model"]), roster))
    return _string_section(c, ctx, ACTIVATION_CONTEXT_SECTION_WINRT_ACTIVATABLE_CLASSES, entries, pool)


_STRING_SECTIONS = {ACTIVATION_CONTEXT_SECTION_DLL_REDIRECTION: _dll_section,
                    ACTIVATION_CONTEXT_SECTION_WINDOW_CLASS_REDIRECTION: _wndclass_section,
                    ACTIVATION_CONTEXT_SECTION_COM_PROGID_REDIRECTION: _progid_section,
                    ACTIVATION_CONTEXT_SECTION_WINRT_ACTIVATABLE_CLASSES: _winrt_section}
_GUID_SECTIONS = {ACTIVATION_CONTEXT_SECTION_COM_SERVER_REDIRECTION: _com_server_section,
                  ACTIVATION_CONTEXT_SECTION_COM_INTERFACE_REDIRECTION: _iface_section,
                  ACTIVATION_CONTEXT_SECTION_COM_TYPE_LIBRARY_REDIRECTION: _typelib_section,
                  ACTIVATION_CONTEXT_SECTION_CLR_SURROGATES: _surrogate_section}


def _keyed_layout(ps: int) -> dict:
    """ACTCTX_SECTION_KEYED_DATA (the fields up to ulAssemblyRosterIndex are the ones a caller must provide)."""
    return ({"ver": 4, "data": 8, "len": 16, "glob": 24, "globlen": 32, "base": 40, "total": 48, "hctx": 56,
             "roster": 64, "size": 112} if ps == 8 else
            {"ver": 4, "data": 8, "len": 12, "glob": 16, "globlen": 20, "base": 24, "total": 28, "hctx": 32,
             "roster": 36, "size": 64})


STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_SXS_SECTION_NOT_FOUND = 0xC0150001
STATUS_SXS_KEY_NOT_FOUND = 0xC0150008
ACTIVATION_CONTEXT_SECTION_ASSEMBLY_INFORMATION = 1


def _lookup(c, flags, section, key, out, makers: dict, what: str) -> int:
    """ntdll's RtlFindActivationContextSection(String/Guid) core: `key` (lower-cased text or GUID bytes) in a
    section of the thread's active activation context; ACTCTX_SECTION_KEYED_DATA filled (when `out` is given)
    as Windows fills it. Returns the NTSTATUS."""
    lay = _keyed_layout(c.ptr_size)
    if section == ACTIVATION_CONTEXT_SECTION_ASSEMBLY_INFORMATION and makers is _STRING_SECTIONS:
        make = _assembly_info_section
    else:
        make = makers.get(section)
    if make is None:
        if not 1 <= section <= MAX_SECTION_ID:
            return STATUS_SXS_SECTION_NOT_FOUND
        _stop(c, f"{what} section {section} (not modelled)")
    h = active(c, c.thread.teb)
    ctx = _ctx(c, h) if h else None
    if ctx is None:
        return STATUS_SXS_KEY_NOT_FOUND
    if getattr(ctx, "zombie", False):
        _stop(c, f"{what} in a zombified activation context")
    sec = ctx.sections.get(section) or make(c, ctx)
    addr, total, keys, goff, glen = sec
    hit = keys.get(key)
    if hit is None:
        return STATUS_SXS_KEY_NOT_FOUND
    if hit is _NOT_MODELLED:
        _stop(c, "the data of the activation context's assembly information section")
    if not out:
        return 0
    off, length, roster = hit
    cb = min(c.u32(out), lay["size"])
    c.write(out + 4, bytes(cb - 4))
    c.write_u32(out + lay["ver"], 1)
    c.write_ptr(out + lay["data"], addr + off)
    c.write_u32(out + lay["len"], length)
    if glen:
        c.write_ptr(out + lay["glob"], addr + goff)
        c.write_u32(out + lay["globlen"], glen)
    c.write_ptr(out + lay["base"], addr)
    c.write_u32(out + lay["total"], total)
    if flags & FIND_ACTCTX_SECTION_KEY_RETURN_HACTCTX:
        add_ref(c, h)
        c.write_ptr(out + lay["hctx"], h)
    c.write_u32(out + lay["roster"], roster)
    return 0


def _assembly_info_section(c, ctx: ActCtx) -> tuple:
    """The assembly information section is keyed by the assemblies' encoded identities (a bare name such as
    "testdep" is not a key: ERROR_SXS_KEY_NOT_FOUND, as on Windows); the layout of its data
    (ACTIVATION_CONTEXT_DATA_ASSEMBLY_INFORMATION) is not modelled, so a key that exists stops loudly."""
    keys = {encoded_identity(asm.get("identity")).lower(): _NOT_MODELLED for asm in ctx.assemblies}
    return (0, 0, keys, 0, 0)


_NOT_MODELLED = (None, 0, 0)


def _find(c, flags, guid, section, key, out, makers: dict, what: str) -> int:
    """kernel32's FindActCtxSection(String/Guid): its parameter checks, then ntdll's search; the status as
    the last error."""
    lay = _keyed_layout(c.ptr_size)
    if (guid or flags & ~FIND_ACTCTX_SECTION_KEY_RETURN_HACTCTX or key is None or not out
            or c.u32(out) < lay["roster"] + 4):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    st = _lookup(c, flags, section, key, out, makers, what)
    if st:
        c.set_last_nt_error(st)
        return 0
    return 1


def _find_string(c, flags, guid, section, key: str | None, out) -> int:
    return _find(c, flags, guid, section, key.lower() if key is not None else None, out, _STRING_SECTIONS,
                 "FindActCtxSectionString")


@api(K32, "BOOL WINAPI FindActCtxSectionStringW(DWORD dwFlags, const GUID *lpExtensionGuid, ULONG ulSectionId, "
     "LPCWSTR lpStringToFind, PACTCTX_SECTION_KEYED_DATA ReturnedData)")
def FindActCtxSectionStringW(c, flags, guid, section, key, out):
    """A key in a string section of the thread's active activation context: DLL redirection (the files its
    assemblies declare), window classes, COM ProgIDs, WinRT activatable classes; other sections Windows
    defines stop loudly, a section id past them is ERROR_SXS_SECTION_NOT_FOUND. Not found (or no active
    context): ERROR_SXS_KEY_NOT_FOUND. With FIND_ACTCTX_SECTION_KEY_RETURN_HACTCTX the context comes back
    referenced."""
    return _find_string(c, flags, guid, section, key, out)


@api(K32, "BOOL WINAPI FindActCtxSectionStringA(DWORD dwFlags, const GUID *lpExtensionGuid, ULONG ulSectionId, "
     "LPCSTR lpStringToFind, PACTCTX_SECTION_KEYED_DATA ReturnedData)")
def FindActCtxSectionStringA(c, flags, guid, section, key, out):
    return _find_string(c, flags, guid, section, key, out)


@api(K32, "BOOL WINAPI FindActCtxSectionGuid(DWORD dwFlags, const GUID *lpExtensionGuid, ULONG ulSectionId, "
     "const GUID *lpGuidToFind, PACTCTX_SECTION_KEYED_DATA ReturnedData)")
def FindActCtxSectionGuid(c, flags, guid, section, pkey, out):
    """A GUID in a GUID section of the thread's active activation context: COM servers (by CLSID or by the
    alias the context generated for the class), COM interfaces (by IID), type libraries (by LIBID), CLR
    surrogates (by CLSID); errors as FindActCtxSectionStringW's."""
    key = bytes(c.read(pkey, 16)) if pkey else None
    return _find(c, flags, guid, section, key, out, _GUID_SECTIONS, "FindActCtxSectionGuid")


def _rtl_text(c, us: int) -> str | None:
    if not us:
        return None
    length = struct.unpack("<H", c.read(us, 2))[0] & ~1
    return c.read(c.ptr(us + c.ptr_size), length).decode("utf-16-le", "surrogatepass") if length else ""


@api("ntdll.dll", "NTSTATUS NTAPI RtlFindActivationContextSectionString(ULONG Flags, const GUID *ExtensionGuid, "
     "ULONG SectionId, PCUNICODE_STRING StringToFind, PVOID ReturnedData)")
def RtlFindActivationContextSectionString(c, flags, guid, section, us, out):
    """ntdll's search, below kernel32's checks: a NULL ReturnedData only reports whether the key is there
    (STATUS_SUCCESS or STATUS_SXS_KEY_NOT_FOUND); an unknown flag, an extension GUID or a missing string is
    STATUS_INVALID_PARAMETER."""
    key = _rtl_text(c, us)
    if guid or flags & ~FIND_ACTCTX_SECTION_KEY_RETURN_HACTCTX or key is None:
        return STATUS_INVALID_PARAMETER
    if out and c.u32(out) < _keyed_layout(c.ptr_size)["roster"] + 4:
        return STATUS_INVALID_PARAMETER
    return _lookup(c, flags, section, key.lower(), out, _STRING_SECTIONS, "RtlFindActivationContextSectionString")


@api("ntdll.dll", "NTSTATUS NTAPI RtlFindActivationContextSectionGuid(ULONG Flags, const GUID *ExtensionGuid, "
     "ULONG SectionId, const GUID *GuidToFind, PVOID ReturnedData)")
def RtlFindActivationContextSectionGuid(c, flags, guid, section, pkey, out):
    """As RtlFindActivationContextSectionString, for the GUID sections."""
    if guid or flags & ~FIND_ACTCTX_SECTION_KEY_RETURN_HACTCTX or not pkey:
        return STATUS_INVALID_PARAMETER
    if out and c.u32(out) < _keyed_layout(c.ptr_size)["roster"] + 4:
        return STATUS_INVALID_PARAMETER
    return _lookup(c, flags, section, bytes(c.read(pkey, 16)), out, _GUID_SECTIONS,
                   "RtlFindActivationContextSectionGuid")


def redirected_dll(c, name: str) -> str | None:
    """The path the thread's active activation context redirects a DLL name to (ntdll's loader asks the DLL
    redirection section before its search order): a bare file name one of the context's private assemblies
    declares as a <file> is that assembly's directory\\name; None when nothing is active or the name is not
    redirected (a path, or a file no assembly declares)."""
    if not name or "\\" in name or "/" in name or ":" in name:
        return None
    h = active(c, c.thread.teb)
    ctx = _ctx(c, h) if h else None
    if ctx is None or getattr(ctx, "zombie", False):
        return None
    key = name if "." in name else name + ".dll"
    for asm in ctx.assemblies:
        if asm.get("system") or not asm.get("directory"):
            continue
        for f in asm.get("files") or ():
            if f.lower() == key.lower():
                return asm["directory"].rstrip("\\") + "\\" + f
    return None
