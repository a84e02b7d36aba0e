"""The machine profile: who and what the emulated computer is (`winhatch run --profile FILE.toml`).

One object holds every machine fact a guest can ask about — host name, user, domain, Windows version, CPU,
memory, uptime, disk, screen, MAC address and IPv4 configuration, installed programs, plus files and registry values seeded before
the program starts. Every layer reads it from ``machine.profile`` (the PEB and KUSER_SHARED_DATA, the
registry, NtQuerySystemInformation, kernel32's GetComputerName/GetSystemInfo/GlobalMemoryStatusEx, the
network's adapter, CPUID), so one profile gives one consistent machine. The format is in docs/profile.md.

The defaults describe an ordinary office desktop (a Dell OptiPlex 7060 with an i5-8500, six processors,
8 GiB, a 238 GB disk, up for a few hours, Windows 10 Pro 22H2, an Intel network adapter): fixed values, so
two runs see the same machine, and none of the names or numbers analysis systems are known by.
"""
from __future__ import annotations

import re
from pathlib import Path

from winhatch._record import FrozenRecord


#: the network adapter's interface GUID (GetAdaptersInfo's AdapterName, the Tcpip\\Parameters\\Interfaces key)
ADAPTER_GUID = "{8F2C6A4B-3E17-4B9D-A5C2-1D7E90B3F468}"


class ProfileError(ValueError):
    """A profile file that cannot be used: the message names the file and the key."""


class InstalledProgram(FrozenRecord):
    name: str
    version: str = ""
    publisher: str = ""
    install_date: str = ""          # YYYYMMDD, as the Uninstall key's InstallDate
    key: str = ""                   # the Uninstall subkey's name (default: the display name)
    arch: str = "x64"               # x86: a 32-bit program, listed in the 32-bit view (WOW6432Node)

    _fields = ('name', 'version', 'publisher', 'install_date', 'key', 'arch')

    # (a default is the class attribute of the same name: the signature is evaluated in the class body)
    def __init__(self, name, version=version, publisher=publisher, install_date=install_date, key=key,
                 arch=arch) -> None:
        vars(self).update(name=name, version=version, publisher=publisher, install_date=install_date, key=key,
                          arch=arch)


class SeedFile(FrozenRecord):
    path: str                       # the guest path (C:\...)
    data: bytes

    _fields = ('path', 'data')

    def __init__(self, path, data) -> None:
        vars(self).update(path=path, data=data)


class SeedValue(FrozenRecord):
    key: str                        # HKLM\..., HKCU\...
    name: str
    type: str                       # REG_SZ, REG_EXPAND_SZ, REG_DWORD, REG_QWORD, REG_MULTI_SZ, REG_BINARY
    data: object

    _fields = ('key', 'name', 'type', 'data')

    def __init__(self, key, name, type, data) -> None:
        vars(self).update(key=key, name=name, type=type, data=data)


DEFAULT_PROGRAMS = (
    InstalledProgram("Google Chrome", "120.0.6099.130", "Google LLC", "20231221"),
    InstalledProgram("Mozilla Firefox (x64 en-US)", "121.0", "Mozilla", "20231219"),
    InstalledProgram("7-Zip 23.01 (x64)", "23.01", "Igor Pavlov", "20230911"),
    InstalledProgram("Adobe Acrobat Reader DC", "23.008.20421", "Adobe Systems Incorporated", "20231115",
                     arch="x86"),
    InstalledProgram("Microsoft 365 Apps for business - en-us", "16.0.17126.20132", "Microsoft Corporation",
                     "20231212"),
    InstalledProgram("Notepad++ (64-bit x64)", "8.6", "Notepad++ Team", "20231204"),
    InstalledProgram("Zoom", "5.16.10 (26186)", "Zoom Video Communications, Inc.", "20231128", arch="x86"),
    InstalledProgram("Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.38.33130", "14.38.33130.0",
                     "Microsoft Corporation", "20231116", arch="x86"),
    InstalledProgram("Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33130", "14.38.33130.0",
                     "Microsoft Corporation", "20231116"),
)


class Profile(FrozenRecord):
    host_name: str = "DESKTOP-4N7RQ2K"
    user_name: str = "jmorgan"
    domain: str = ""                          # "" = a workgroup computer
    os_major: int = 10
    os_minor: int = 0
    os_build: int = 19045
    os_ubr: int = 3803
    product_name: str = "Windows 10 Pro"
    display_version: str = "22H2"
    #: Settings' "Developer Mode": a standard user may create symbolic links (CreateSymbolicLink with
    #: SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE). Off, as on a default installation.
    developer_mode: bool = False
    cpu_count: int = 6
    cpu_brand: str = "Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz"
    cpu_mhz: int = 3000
    memory: int = 8 << 30                     # bytes of RAM
    memory_used: int = 3_380_000 << 10        # RAM the rest of the system uses (a desktop's services, a browser)
    uptime: int = (3 * 3600 + 25 * 60 + 17) * 10_000_000 + 3_125_000   # 100 ns units up before the start
    disk_size: int = 255_465_615_360          # C: (a "256 GB" SSD's NTFS volume)
    disk_free: int = 101_304_762_368
    screen: tuple[int, int] = (1920, 1080)
    mac: bytes = bytes.fromhex("90E2BA4C7D12")    # an Intel OUI (90-E2-BA)
    adapter_description: str = "Intel(R) Ethernet Connection (7) I219-LM"
    #: the adapter's IPv4 configuration: a home router's network (DHCP from the router, which is also the DNS
    #: server), not QEMU's 10.0.2.x user network (a known sandbox tell)
    ip_address: str = "192.168.1.104"
    netmask: str = "255.255.255.0"
    gateway: str = "192.168.1.1"
    dns_server: str = "192.168.1.1"
    dhcp_server: str = "192.168.1.1"
    gateway_mac: bytes = bytes.fromhex("50C7BF3A910E")     # the router's (a TP-Link OUI, 50-C7-BF): the pcap's
    programs: tuple[InstalledProgram, ...] = DEFAULT_PROGRAMS
    files: tuple[SeedFile, ...] = ()
    registry: tuple[SeedValue, ...] = ()
    time_zone: str = "Eastern Standard Time"  # a Windows time-zone key (winhatch.kernel.ex.timezone.ZONES)
    locale: str = "en-US"                     # the user default locale (winhatch.kernel.ex.nls.LOCALES)
    system_locale: str = ""                   # the system locale, the code pages ("": the user locale)
    ui_language: str = ""                     # the UI language ("": the user locale)
    keyboards: tuple[str, ...] = ()           # keyboard layouts by locale, the default first (): the locale's
    source: str = ""                          # the file it came from ("" = the defaults)

    _fields = ('host_name', 'user_name', 'domain', 'os_major', 'os_minor', 'os_build', 'os_ubr', 'product_name',
                'display_version', 'developer_mode', 'cpu_count', 'cpu_brand', 'cpu_mhz', 'memory', 'memory_used',
                'uptime', 'disk_size', 'disk_free', 'screen', 'mac', 'adapter_description', 'ip_address', 'netmask',
                'gateway', 'dns_server', 'dhcp_server', 'gateway_mac', 'programs', 'files', 'registry', 'time_zone',
                'locale', 'system_locale', 'ui_language', 'keyboards', 'source')

    # (a default is the class attribute of the same name: the signature is evaluated in the class body)
    def __init__(self, host_name=host_name, user_name=user_name, domain=domain, os_major=os_major, os_minor=os_minor,
                 os_build=os_build, os_ubr=os_ubr, product_name=product_name, display_version=display_version,
                 developer_mode=developer_mode, cpu_count=cpu_count, cpu_brand=cpu_brand, cpu_mhz=cpu_mhz,
                 memory=memory, memory_used=memory_used, uptime=uptime, disk_size=disk_size, disk_free=disk_free,
                 screen=screen, mac=mac, adapter_description=adapter_description, ip_address=ip_address,
                 netmask=netmask, gateway=gateway, dns_server=dns_server, dhcp_server=dhcp_server,
                 gateway_mac=gateway_mac, programs=programs, files=files, registry=registry, time_zone=time_zone,
                 locale=locale, system_locale=system_locale, ui_language=ui_language, keyboards=keyboards,
                 source=source) -> None:
        vars(self).update(host_name=host_name, user_name=user_name, domain=domain, os_major=os_major,
                          os_minor=os_minor, os_build=os_build, os_ubr=os_ubr, product_name=product_name,
                          display_version=display_version, developer_mode=developer_mode, cpu_count=cpu_count,
                          cpu_brand=cpu_brand, cpu_mhz=cpu_mhz, memory=memory, memory_used=memory_used, uptime=uptime,
                          disk_size=disk_size, disk_free=disk_free, screen=screen, mac=mac,
                          adapter_description=adapter_description, ip_address=ip_address, netmask=netmask,
                          gateway=gateway, dns_server=dns_server, dhcp_server=dhcp_server, gateway_mac=gateway_mac,
                          programs=programs, files=files, registry=registry, time_zone=time_zone, locale=locale,
                          system_locale=system_locale, ui_language=ui_language, keyboards=keyboards, source=source)

    # ------------------------------------------------------------------------------------------------ facts
    @property
    def netbios_domain(self) -> str:
        """The domain's NetBIOS name (USERDOMAIN): the first label, upper case; a workgroup computer's own
        name when it is in no domain."""
        return self.domain.split(".")[0].upper() if self.domain else self.host_name.upper()

    @property
    def user_profile(self) -> str:
        return f"C:\\Users\\{self.user_name}"

    @property
    def prefix_length(self) -> int:
        """The netmask as a prefix length (255.255.255.0: 24)."""
        return bin(int.from_bytes(bytes(int(x) for x in self.netmask.split(".")), "big")).count("1")

    @property
    def os_version(self) -> str:
        return f"{self.os_major}.{self.os_minor}.{self.os_build}"

    # ------------------------------------------------------------------------------------------------ loading
    @classmethod
    def default(cls) -> "Profile":
        return cls()

    @classmethod
    def load(cls, path: str | Path) -> "Profile":
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as e:
            raise ProfileError(f"profile {path}: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise ProfileError(f"profile {path}: not UTF-8 text") from None
        import tomllib   # (only a profile file needs it)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ProfileError(f"profile {path}: not valid TOML: {e}") from None
        return cls.from_dict(data, base=path.parent, name=str(path))

    @classmethod
    def from_dict(cls, data: dict, *, base: Path | None = None, name: str = "<profile>") -> "Profile":
        return _parse(data, base or Path("."), name)

    def with_(self, **kw) -> "Profile":
        """A copy with the fields `kw` changed (as dataclasses.replace)."""
        return Profile(**{**{n: getattr(self, n) for n in self._fields}, **kw})


# ------------------------------------------------------------------------------------------------ parsing
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.I)
_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")
_REG_TYPES = ("REG_SZ", "REG_EXPAND_SZ", "REG_MULTI_SZ", "REG_DWORD", "REG_QWORD", "REG_BINARY")


def _size(v, where: str) -> int:
    """A size: an integer of bytes, or "8G", "512 MiB", "238GB" (binary multiples)."""
    if isinstance(v, bool):
        raise ProfileError(f"{where}: expected a size (bytes or like \"8G\"), got a boolean")
    if isinstance(v, int):
        if v < 0:
            raise ProfileError(f"{where}: a size cannot be negative")
        return v
    if isinstance(v, str):
        m = _SIZE.match(v)
        if m:
            unit = (m.group(2) or "B")[0].upper()
            return int(float(m.group(1)) * {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit])
    raise ProfileError(f"{where}: expected a size (bytes or like \"8G\"), got {v!r}")


def _duration(v, where: str) -> int:
    """A duration in 100 ns units: seconds (a number) or "3h25m17s", "2d4h"."""
    if isinstance(v, bool):
        raise ProfileError(f"{where}: expected a duration (seconds or like \"3h25m\"), got a boolean")
    if isinstance(v, (int, float)):
        if v < 0:
            raise ProfileError(f"{where}: a duration cannot be negative")
        return int(v * 10_000_000)
    if isinstance(v, str) and v.strip():
        m = _DURATION.match(v)
        if m and any(m.groups()):
            d, h, mi, s = m.groups()
            secs = int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
            return int(secs * 10_000_000)
    raise ProfileError(f"{where}: expected a duration (seconds or like \"3h25m\"), got {v!r}")


def _mac(v, where: str) -> bytes:
    if isinstance(v, str):
        h = re.sub(r"[-:.\s]", "", v)
        if re.fullmatch(r"[0-9A-Fa-f]{12}", h):
            mac = bytes.fromhex(h)
            if mac[0] & 1:
                raise ProfileError(f"{where}: {v!r} is a multicast address")
            return mac
    raise ProfileError(f"{where}: expected a MAC address like \"90-E2-BA-4C-7D-12\", got {v!r}")


def _ipv4(v, where: str) -> str:
    import ipaddress
    _typed(v, str, where)
    try:
        return str(ipaddress.IPv4Address(v))
    except ValueError:
        raise ProfileError(f"{where}: expected an IPv4 address like \"192.168.1.104\", got {v!r}") from None


def _network_addresses(kw: dict, w: str) -> None:
    """Check the adapter's addresses together: a contiguous netmask, an address that is a host of its subnet
    (not loopback, multicast, the network or broadcast address), a gateway on that subnet."""
    import ipaddress
    ip = kw.get("ip_address", Profile.ip_address)
    mask = kw.get("netmask", Profile.netmask)
    try:
        net = ipaddress.IPv4Network(f"{ip}/{mask}", strict=False)
    except ValueError:
        raise ProfileError(f"{w} netmask: {mask!r} is not a contiguous netmask") from None
    if net.prefixlen < 8 or net.prefixlen > 30:
        raise ProfileError(f"{w} netmask: {mask!r}: a prefix between /8 and /30 is expected")
    a = ipaddress.IPv4Address(ip)
    if a.is_loopback or a.is_multicast or a.is_unspecified or a in (net.network_address, net.broadcast_address):
        raise ProfileError(f"{w} ip: {ip} is not a host address of {net}")
    gw = ipaddress.IPv4Address(kw.get("gateway", Profile.gateway))
    if gw not in net or gw in (net.network_address, net.broadcast_address, a):
        raise ProfileError(f"{w} gateway: {gw} is not another host of the adapter's network {net}")
    for k in ("dns_server", "dhcp_server"):
        d = ipaddress.IPv4Address(kw.get(k, getattr(Profile, k)))
        if d.is_loopback or d.is_multicast or d.is_unspecified or d == a:
            raise ProfileError(f"{w} {k.split('_')[0]}: {d} cannot be a server's address")


def _typed(v, kind, where: str):
    names = {str: "a string", int: "an integer", bool: "true or false", list: "an array", dict: "a table"}
    if kind is int and isinstance(v, bool) or not isinstance(v, kind):
        raise ProfileError(f"{where}: expected {names[kind]}, got {type(v).__name__} {v!r}")
    return v


def _name(v, where: str, *, max_len: int, pattern: str) -> str:
    _typed(v, str, where)
    if not v or len(v) > max_len or not re.fullmatch(pattern, v):
        raise ProfileError(f"{where}: {v!r} is not a valid name (1-{max_len} characters of {pattern})")
    return v


def _table(data: dict, key: str, name: str) -> dict:
    v = data.get(key, {})
    return _typed(v, dict, f"{name}: [{key}]")


def _locale_name(v, where: str) -> str:
    """A modelled locale by name ("ru-RU") or LCID (0x419, "0x419"): its canonical name."""
    from winhatch.kernel.ex.nls import LOCALES, find_locale
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise ProfileError(f"{where}: expected a locale name like \"ru-RU\" or an LCID, got {v!r}")
    info = find_locale(v)
    if info is None:
        raise ProfileError(f"{where}: {v!r} is not a modelled locale (known: "
                           f"{', '.join(sorted(x.name for x in LOCALES.values()))})")
    return info.name


def _check_keys(tbl: dict, allowed: set[str], where: str) -> None:
    for k in tbl:
        if k not in allowed:
            raise ProfileError(f"{where}: unknown key {k!r} (known: {', '.join(sorted(allowed))})")


def _parse(data: dict, base: Path, name: str) -> Profile:
    kw: dict = {}
    _check_keys(data, {"machine", "os", "cpu", "network", "locale", "programs", "files", "registry"}, name)
    m = _table(data, "machine", name)
    w = f"{name}: [machine]"
    _check_keys(m, {"host_name", "user_name", "domain", "memory", "memory_used", "uptime", "disk_size",
                    "disk_free", "screen"}, w)
    if "host_name" in m:
        kw["host_name"] = _name(m["host_name"], f"{w} host_name", max_len=15, pattern=r"[A-Za-z0-9-]+")
    if "user_name" in m:
        kw["user_name"] = _name(m["user_name"], f"{w} user_name", max_len=20,
                                pattern=r"[^\\/\"\[\]:|<>+=;,?*@\x00-\x1f]+")
    if "domain" in m:
        d = _typed(m["domain"], str, f"{w} domain")
        if d and not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", d):
            raise ProfileError(f"{w} domain: {d!r} is not a DNS domain name")
        kw["domain"] = d
    if "memory" in m:
        kw["memory"] = _size(m["memory"], f"{w} memory")
        if not 256 << 20 <= kw["memory"] <= 1 << 42 or kw["memory"] % 4096:
            raise ProfileError(f"{w} memory: between 256M and 4T, a multiple of 4 KiB")
    if "memory_used" in m:
        kw["memory_used"] = _size(m["memory_used"], f"{w} memory_used") // 4096 * 4096
    if kw.get("memory_used", Profile.memory_used) >= kw.get("memory", Profile.memory):
        raise ProfileError(f"{w} memory_used: less than memory")
    if "uptime" in m:
        kw["uptime"] = _duration(m["uptime"], f"{w} uptime")
    if "disk_size" in m:
        kw["disk_size"] = _size(m["disk_size"], f"{w} disk_size")
    if "disk_free" in m:
        kw["disk_free"] = _size(m["disk_free"], f"{w} disk_free")
    size, free = kw.get("disk_size", Profile.disk_size), kw.get("disk_free", Profile.disk_free)
    if size < 1 << 30 or free > size:
        raise ProfileError(f"{w} disk_size/disk_free: the disk is at least 1G and free space fits in it")
    if "screen" in m:
        s = _typed(m["screen"], list, f"{w} screen")
        if len(s) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) and 320 <= x <= 16384 for x in s):
            raise ProfileError(f"{w} screen: expected [width, height] in pixels, got {s!r}")
        kw["screen"] = (s[0], s[1])

    o = _table(data, "os", name)
    w = f"{name}: [os]"
    _check_keys(o, {"major", "minor", "build", "ubr", "product_name", "display_version", "developer_mode"}, w)
    if "developer_mode" in o:
        kw["developer_mode"] = _typed(o["developer_mode"], bool, f"{w} developer_mode")
    for k, attr in (("major", "os_major"), ("minor", "os_minor"), ("build", "os_build"), ("ubr", "os_ubr")):
        if k in o:
            v = _typed(o[k], int, f"{w} {k}")
            if not 0 <= v <= (0xFFFF if k != "ubr" else 0xFFFFFFFF):
                raise ProfileError(f"{w} {k}: {v} is out of range")
            kw[attr] = v
    for k in ("product_name", "display_version"):
        if k in o:
            kw[k] = _typed(o[k], str, f"{w} {k}")

    c = _table(data, "cpu", name)
    w = f"{name}: [cpu]"
    _check_keys(c, {"count", "brand", "mhz"}, w)
    if "count" in c:
        n = _typed(c["count"], int, f"{w} count")
        if not 1 <= n <= 32:   # one processor group of a 32-bit affinity mask (WoW64 programs read one)
            raise ProfileError(f"{w} count: between 1 and 32, got {n}")
        kw["cpu_count"] = n
    if "brand" in c:
        b = _typed(c["brand"], str, f"{w} brand")
        if not b or len(b) > 47 or not b.isascii():
            raise ProfileError(f"{w} brand: 1-47 ASCII characters (CPUID's brand string holds 48 with the NUL)")
        kw["cpu_brand"] = b
    if "mhz" in c:
        kw["cpu_mhz"] = _typed(c["mhz"], int, f"{w} mhz")

    n = _table(data, "network", name)
    w = f"{name}: [network]"
    _check_keys(n, {"mac", "adapter", "ip", "netmask", "gateway", "dns", "dhcp", "gateway_mac"}, w)
    if "mac" in n:
        kw["mac"] = _mac(n["mac"], f"{w} mac")
    if "gateway_mac" in n:
        kw["gateway_mac"] = _mac(n["gateway_mac"], f"{w} gateway_mac")
    if "adapter" in n:
        kw["adapter_description"] = _typed(n["adapter"], str, f"{w} adapter")
    for key, field in (("ip", "ip_address"), ("netmask", "netmask"), ("gateway", "gateway"),
                       ("dns", "dns_server"), ("dhcp", "dhcp_server")):
        if key in n:
            kw[field] = _ipv4(n[key], f"{w} {key}")
    _network_addresses(kw, w)

    loc = _table(data, "locale", name)
    w = f"{name}: [locale]"
    _check_keys(loc, {"time_zone", "locale", "system_locale", "ui_language", "keyboards"}, w)
    if "time_zone" in loc:
        from winhatch.kernel.ex.timezone import ZONES, find_zone
        z = find_zone(_typed(loc["time_zone"], str, f"{w} time_zone"))
        if z is None:
            raise ProfileError(f"{w} time_zone: {loc['time_zone']!r} is not a modelled Windows time zone (known: "
                               f"{', '.join(sorted(x.key for x in ZONES.values()))})")
        kw["time_zone"] = z.key
    for k in ("locale", "system_locale", "ui_language"):
        if k in loc:
            kw[k] = _locale_name(loc[k], f"{w} {k}")
    sys_loc = kw.get("system_locale") or kw.get("locale")
    if sys_loc:
        from winhatch.kernel.ex.nls import find_locale
        if not find_locale(sys_loc).acp:
            raise ProfileError(f"{w} system_locale: {sys_loc} has no ANSI code page (a Unicode-only locale cannot "
                               f"be the system locale: set system_locale)")
    if "keyboards" in loc:
        ks = _typed(loc["keyboards"], list, f"{w} keyboards")
        if not ks or len(ks) > 8:
            raise ProfileError(f"{w} keyboards: 1-8 locales, the default layout first")
        kw["keyboards"] = tuple(_locale_name(k, f"{w} keyboards") for k in ks)

    if "programs" in data:
        progs = []
        for i, p in enumerate(_typed(data["programs"], list, f"{name}: [[programs]]")):
            w = f"{name}: [[programs]] #{i + 1}"
            _typed(p, dict, w)
            _check_keys(p, {"name", "version", "publisher", "install_date", "key", "arch"}, w)
            if "name" not in p:
                raise ProfileError(f"{w}: 'name' is required")
            vals = {k: _typed(p[k], str, f"{w} {k}") for k in p}
            if not vals["name"] or "\\" in vals.get("key", ""):
                raise ProfileError(f"{w}: an empty name or a key with a backslash")
            if vals.get("arch", "x64") not in ("x64", "x86"):
                raise ProfileError(f"{w} arch: \"x64\" or \"x86\", got {vals['arch']!r}")
            progs.append(InstalledProgram(**vals))
        kw["programs"] = tuple(progs)

    if "files" in data:
        seeded = []
        for i, f in enumerate(_typed(data["files"], list, f"{name}: [[files]]")):
            w = f"{name}: [[files]] #{i + 1}"
            _typed(f, dict, w)
            _check_keys(f, {"path", "host", "text"}, w)
            if "path" not in f or ("host" in f) == ("text" in f):
                raise ProfileError(f"{w}: needs 'path' and one of 'host' (a host file) or 'text' (its content)")
            gp = _typed(f["path"], str, f"{w} path")
            if not re.fullmatch(r"[A-Za-z]:\\.+", gp):
                raise ProfileError(f"{w} path: {gp!r} is not an absolute guest path like C:\\Users\\...")
            if "text" in f:
                blob = _typed(f["text"], str, f"{w} text").encode("utf-8")
            else:
                hp = base / _typed(f["host"], str, f"{w} host")
                try:
                    blob = hp.read_bytes()
                except OSError as e:
                    raise ProfileError(f"{w} host: {hp}: {e.strerror or e}") from None
            seeded.append(SeedFile(gp, blob))
        kw["files"] = tuple(seeded)

    if "registry" in data:
        vals = []
        for i, r in enumerate(_typed(data["registry"], list, f"{name}: [[registry]]")):
            w = f"{name}: [[registry]] #{i + 1}"
            _typed(r, dict, w)
            _check_keys(r, {"key", "name", "type", "data"}, w)
            for k in ("key", "type", "data"):
                if k not in r:
                    raise ProfileError(f"{w}: '{k}' is required")
            key = _typed(r["key"], str, f"{w} key")
            if not re.match(r"(?i)^(HKLM|HKCU|HKU|HKCR|HKEY_LOCAL_MACHINE|HKEY_CURRENT_USER|HKEY_USERS|"
                            r"HKEY_CLASSES_ROOT)\\", key):
                raise ProfileError(f"{w} key: {key!r} does not start with HKLM\\, HKCU\\, HKU\\ or HKCR\\")
            t = _typed(r["type"], str, f"{w} type").upper()
            if t not in _REG_TYPES:
                raise ProfileError(f"{w} type: {t!r} is not one of {', '.join(_REG_TYPES)}")
            d = r["data"]
            ok = {"REG_SZ": isinstance(d, str), "REG_EXPAND_SZ": isinstance(d, str),
                  "REG_MULTI_SZ": isinstance(d, list) and all(isinstance(x, str) for x in d),
                  "REG_DWORD": isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 0xFFFFFFFF,
                  "REG_QWORD": isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 1 << 64,
                  "REG_BINARY": isinstance(d, str) and re.fullmatch(r"([0-9A-Fa-f]{2})*", d.replace(" ", ""))}[t]
            if not ok:
                want = {"REG_MULTI_SZ": "an array of strings", "REG_DWORD": "an integer 0..0xFFFFFFFF",
                        "REG_QWORD": "an integer 0..2^64-1", "REG_BINARY": "hex digits"}.get(t, "a string")
                raise ProfileError(f"{w} data: {t} needs {want}, got {d!r}")
            vals.append(SeedValue(key, _typed(r.get("name", ""), str, f"{w} name"), t, d))
        kw["registry"] = tuple(vals)
    kw["source"] = name
    return Profile(**kw)


# ------------------------------------------------------------------------------------------------ applying
def registry_description(p: Profile) -> dict:
    """The profile's registry facts in the registry's JSON description format (Registry.merge): the computer
    and user names, the Windows version, the processor, the installed programs and the seeded values."""
    keys: dict[str, dict] = {}

    def put(path: str, name: str, type_: str, data) -> None:
        v = {"type": type_}
        if type_ == "REG_BINARY":
            v["hex"] = str(data).replace(" ", "")
        else:
            v["data"] = data
        keys.setdefault(path, {"values": {}})["values"][name] = v

    u, prof = p.user_name, p.user_profile
    for k in ("ComputerName", "ActiveComputerName"):
        put(f"HKLM\\SYSTEM\\ControlSet001\\Control\\ComputerName\\{k}", "ComputerName", "REG_SZ", p.host_name.upper())
    tcpip = "HKLM\\SYSTEM\\ControlSet001\\Services\\Tcpip\\Parameters"
    put(tcpip, "Hostname", "REG_SZ", p.host_name)
    put(tcpip, "NV Hostname", "REG_SZ", p.host_name)
    put(tcpip, "Domain", "REG_SZ", p.domain)
    iface = f"{tcpip}\\Interfaces\\{ADAPTER_GUID.lower()}"
    put(iface, "EnableDHCP", "REG_DWORD", 1)
    put(iface, "DhcpIPAddress", "REG_SZ", p.ip_address)
    put(iface, "DhcpSubnetMask", "REG_SZ", p.netmask)
    put(iface, "DhcpServer", "REG_SZ", p.dhcp_server)
    put(iface, "DhcpDefaultGateway", "REG_MULTI_SZ", [p.gateway])
    put(iface, "DhcpNameServer", "REG_SZ", p.dns_server)
    for cv in ("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
               "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows NT\\CurrentVersion"):
        put(cv, "CurrentBuild", "REG_SZ", str(p.os_build))
        put(cv, "CurrentBuildNumber", "REG_SZ", str(p.os_build))
        put(cv, "CurrentMajorVersionNumber", "REG_DWORD", p.os_major)
        put(cv, "CurrentMinorVersionNumber", "REG_DWORD", p.os_minor)
        put(cv, "UBR", "REG_DWORD", p.os_ubr)
        put(cv, "ProductName", "REG_SZ", p.product_name)
        put(cv, "DisplayVersion", "REG_SZ", p.display_version)
        put(cv, "RegisteredOwner", "REG_SZ", u)
    put("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon", "DefaultUserName", "REG_SZ", u)
    if p.developer_mode:
        put("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\AppModelUnlock", "AllowDevelopmentWithoutDevLicense",
            "REG_DWORD", 1)
    put("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon", "DefaultDomainName", "REG_SZ",
        p.netbios_domain)
    cpu = "HKLM\\HARDWARE\\DESCRIPTION\\System\\CentralProcessor"
    for i in range(p.cpu_count):
        put(f"{cpu}\\{i}", "ProcessorNameString", "REG_SZ", p.cpu_brand)
        put(f"{cpu}\\{i}", "~MHz", "REG_DWORD", p.cpu_mhz)
        put(f"{cpu}\\{i}", "Identifier", "REG_SZ", "Intel64 Family 6 Model 158 Stepping 10")
        put(f"{cpu}\\{i}", "VendorIdentifier", "REG_SZ", "GenuineIntel")
    vol = "HKCU\\Volatile Environment"
    for name, val in (("APPDATA", prof + "\\AppData\\Roaming"), ("HOMEPATH", f"\\Users\\{u}"),
                      ("LOCALAPPDATA", prof + "\\AppData\\Local"), ("USERNAME", u), ("USERPROFILE", prof),
                      ("USERDOMAIN", p.netbios_domain), ("USERDOMAIN_ROAMINGPROFILE", p.netbios_domain),
                      ("LOGONSERVER", "\\\\" + (p.host_name.upper() if not p.domain else "DC01"))):
        put(vol, name, "REG_SZ", val)
    uninstall = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
    uninstall32 = "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
    keys.setdefault(uninstall, {})
    keys.setdefault(uninstall32, {})
    for prog in p.programs:
        k = f"{uninstall32 if prog.arch == 'x86' else uninstall}\\{prog.key or prog.name}"
        put(k, "DisplayName", "REG_SZ", prog.name)
        if prog.version:
            put(k, "DisplayVersion", "REG_SZ", prog.version)
        if prog.publisher:
            put(k, "Publisher", "REG_SZ", prog.publisher)
        if prog.install_date:
            put(k, "InstallDate", "REG_SZ", prog.install_date)
    from winhatch.kernel.ex import nls, timezone
    for extra in (timezone.registry_description(timezone.find_zone(p.time_zone)),
                  nls.registry_description(nls.Nls.from_profile(p))):
        for path, body in extra["keys"].items():
            keys.setdefault(path, {"values": {}})["values"].update(body["values"])
    for v in p.registry:
        put(v.key, v.name, v.type, v.data)
    return {"keys": keys}


def user_paths(registry, p: Profile, old: str = "C:\\Users\\user") -> None:
    """Values naming the default description's profile folder (Shell Folders, ProfileList, Environment) name
    the profile's user's instead."""
    if p.user_profile == old:
        return
    for path in ("HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\Shell Folders",
                 "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders",
                 "HKCU\\Volatile Environment"):
        try:
            key = registry.open_key(path)
        except Exception:   # noqa: BLE001 — a registry description without that key
            continue
        _rewrite(key, old, p.user_profile)
    try:
        plist = registry.open_key("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList")
    except Exception:   # noqa: BLE001
        return
    for sub in plist._subkeys.values():
        _rewrite(sub, old, p.user_profile)


def _rewrite(key, old: str, new: str) -> None:
    from winhatch.kernel.cm.registry import REG_EXPAND_SZ, REG_SZ, decode, encode
    for fold, (name, t, raw) in list(key._values.items()):
        if t not in (REG_SZ, REG_EXPAND_SZ):
            continue
        s = decode(t, raw)
        if isinstance(s, str) and s.lower().startswith(old.lower()):
            key._values[fold] = (name, t, encode(t, new + s[len(old):]))


def seed_files(machine, p: Profile) -> None:
    """The profile's files, written into the guest's file system before the program starts."""
    from winhatch.ntstatus import NtStatusError
    for f in p.files:
        parts = f.path.split("\\")
        for i in range(2, len(parts)):          # the folders above it, as an installer would have made them
            try:
                machine.vfs.mkdir("\\".join(parts[:i]))
            except NtStatusError:
                pass                            # it exists
        try:
            machine.vfs.write_file(f.path, f.data)
        except NtStatusError as e:
            raise ProfileError(f"{p.source}: [[files]] {f.path}: cannot be written ({e})") from None


__all__ = ["Profile", "ProfileError", "InstalledProgram", "SeedFile", "SeedValue", "registry_description",
           "user_paths", "seed_files"]
