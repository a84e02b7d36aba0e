"""The emulated machine: one instance of each executive component, booted together.

This is the composition root, not a god object: state lives in the components (the CID table, the registry,
the file system, the event log, the notify routines, the trap table, the dispatcher) and in the process and
thread objects. The machine boots the system's own processes (System, and explorer.exe as the shell that
starts programs launched from the command line) and offers the few services that cross components.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from winhatch.kernel import events as ev
from winhatch.kernel.events import EventLog
from winhatch.kernel.hooks import HookRegistry
from winhatch.kernel.ke.dispatcher import Dispatcher
from winhatch.kernel.ke.traps import TrapTable
from winhatch.kernel.notify import ImageInfo, NotifyRoutines
from winhatch.kernel.ob import CidTable, ObNamespace
from winhatch.kernel.ps import exit as psexit
from winhatch.kernel.ps import mapping, peb
from winhatch.kernel.ps.objects import Process
from winhatch.ntstatus import NtStatusError

FILETIME_UNIX_EPOCH = 116444736000000000
BOOT_UNIX_TIME = 1767225600  # 2026-01-01 00:00:00 UTC: emulated time is deterministic
PHYSICAL_MEMORY = 8 << 30            # the default profile's RAM (machine.profile.memory is the machine's)
KUSER_SHARED_DATA = 0x7FFE0000
#: how long the emulated machine has been up when it is created (100 ns units): 3 h 25 min 17.3125 s, an
#: uptime with nothing round about it (a tick count that is not a multiple of anything), the same every run
DEFAULT_UPTIME = (3 * 3600 + 25 * 60 + 17) * 10_000_000 + 3_125_000
#: the default commit limit of the whole machine (`winhatch run --max-memory`, machine.limits["max_memory"]):
#: committed guest memory is host memory once the guest touches it, so without a cap a guest can take the
#: host's memory; 2 GiB is what a 32-bit process can address at all and more than command-line programs
#: commit, and keeps a runaway guest well inside an ordinary host.  Reaching it fails the allocation with
#: STATUS_COMMITMENT_LIMIT (ERROR_COMMITMENT_LIMIT, 1455), what Windows returns at its commit limit.
DEFAULT_MAX_MEMORY = 2 << 30


class EmulatedClock:
    """Emulated time in 100 ns units since boot; advances with executed instructions and Sleep.

    A machine has been up for a while before a program starts: the clock starts at DEFAULT_UPTIME since boot
    (GetTickCount, GetTickCount64, QueryPerformanceCounter, the interrupt time and tick count of
    KUSER_SHARED_DATA all read it), while the system time at that moment is `start_filetime`; every time
    source is derived from the one counter, so they agree with each other."""

    NS_PER_INSTRUCTION = 1  # a 1 GHz, one-instruction-per-cycle machine

    def __init__(self, start_filetime: int = FILETIME_UNIX_EPOCH + BOOT_UNIX_TIME * 10_000_000,
                 uptime: int = None):
        uptime = DEFAULT_UPTIME if uptime is None else max(0, int(uptime))
        self.start_filetime = start_filetime     # the system time when the machine is created
        self.boot_filetime = start_filetime - uptime
        self.uptime = uptime
        self.ticks = uptime  # 100 ns units since boot
        self._ns = 0
        self._last_ms = uptime // 10_000
        self.on_millisecond: list = []  # callbacks run when the emulated clock passes a millisecond
        #: () -> 100 ns units elapsed but not yet added (the dispatcher's API calls of the running slice)
        self.pending = lambda: 0

    def now(self) -> int:
        return self.ticks + self.pending()

    def elapsed(self) -> int:
        """100 ns units since the machine was created (the event log's emulated time)."""
        return self.ticks - self.uptime

    def system_time(self) -> int:
        return self.boot_filetime + self.now()

    def advance(self, units_100ns: int) -> None:
        self.ticks += max(0, int(units_100ns))
        self._tick()

    def _tick(self) -> None:
        ms = self.ticks // 10_000
        if ms != self._last_ms:
            self._last_ms = ms
            for fn in self.on_millisecond:
                fn()

    def advance_instructions(self, n: int) -> None:
        self._ns += n * self.NS_PER_INSTRUCTION
        if self._ns >= 100:
            self.ticks += self._ns // 100
            self._ns %= 100
            self._tick()


class Machine:
    def __init__(self, sandbox: str | Path | None = None, *, console=None, registry=None,
                 limits: dict | None = None, username: str | None = None, profile=None):
        from winhatch.kernel.cm import Registry
        from winhatch.kernel.io import Vfs
        from winhatch.kernel.profile import Profile
        profile = profile if profile is not None else Profile.default()
        if username is not None:
            profile = profile.with_(user_name=username)
        #: who and what the computer is (winhatch.kernel.profile): every layer reads the machine's facts here
        self.profile = profile
        self.clock = EmulatedClock(uptime=profile.uptime)
        from winhatch.kernel.ex.nls import Nls
        from winhatch.kernel.ex.timezone import TimeZone, find_zone
        #: the machine's time zone and national-language settings (the profile's [locale]): the one source of
        #: local time (KUSER_SHARED_DATA, SystemTimeOfDayInformation, the registry) and of the locales/code pages
        self.time_zone = TimeZone(find_zone(profile.time_zone) or find_zone("UTC"))
        self.nls = Nls.from_profile(profile)
        self.events = EventLog(clock=self.clock.elapsed)
        self.notify = NotifyRoutines()
        self.cid = CidTable()
        self.namespace = ObNamespace()  # \\BaseNamedObjects and friends: named objects of all processes
        self.traps = TrapTable()
        #: the instrumentation hooks of this machine's owner (winhatch.Session): empty unless added
        self.hooks = HookRegistry(self)
        #: API calls must reach Python even at the exports that are machine code (winhatch.win32.native): set
        #: while an API hook exists (set_trap_all_apis), as API tracing does
        self._trap_all_apis = False
        #: fn(arch) installed by the subsystem (winhatch.win32.subsystem): make its system DLLs and handlers
        #: ready for a process of that architecture (an x64 program starting an x86 one)
        self.add_architecture = None
        self.dispatcher = Dispatcher(self)
        from winhatch.kernel.ke.services import ServiceTable
        self.services = ServiceTable(self)
        self.limits = dict(limits or {})
        # host-safety caps (winhatch run --max-memory / --max-handles; 0 = no cap beyond Windows' own)
        from winhatch.kernel.mm import CommitPool
        from winhatch.kernel.ob.handles import DEFAULT_MAX_HANDLES, MAX_HANDLES
        mem = self.limits.get("max_memory", DEFAULT_MAX_MEMORY)
        self.commit_pool = CommitPool(mem or None)
        nh = self.limits.get("max_handles", DEFAULT_MAX_HANDLES)
        self.max_handles = min(nh, MAX_HANDLES) if nh else MAX_HANDLES
        #: host time the machine was made: a snapshot archives the files of writable host folders changed since
        self.snapshot_epoch = time.time()
        self._tmp = None
        if sandbox is None:
            from winhatch._tempdir import TemporaryDirectory
            self._tmp = TemporaryDirectory(prefix="winhatch-")
            sandbox = self._tmp.name
        self.sandbox = Path(sandbox)
        self.vfs = Vfs(self.sandbox, username=profile.user_name)
        self.vfs.section_in_use = self._section_in_use
        if registry is None:
            from winhatch.kernel.profile import registry_description, user_paths
            registry = Registry.default()
            registry.merge(registry_description(profile))
            user_paths(registry, profile)
            bias = self.time_zone.state(self.clock.system_time())[0]
            registry.merge({"keys": {"HKLM\\SYSTEM\\ControlSet001\\Control\\TimeZoneInformation": {"values": {
                "ActiveTimeBias": {"type": "REG_DWORD", "data": bias & 0xFFFFFFFF}}}}})
        self.registry = registry
        if console is None:
            from winhatch.kernel.io.console import Console
            import sys
            console = Console(sys.stdout.buffer, sys.stderr.buffer, sys.stdin.buffer if sys.stdin else None)
        self.console = console
        self.system_root = "C:\\Windows"
        self.username = profile.user_name
        self.default_cwd = "C:\\"
        self.images = mapping.ImageSectionCache(self.vfs)
        self.processes: list[Process] = []  # PsActiveProcessHead
        self._kuser = None
        self._kuser_synced = -1     # the clock value KUSER_SHARED_DATA's time fields were last written for
        self.system_cookie = 0
        self.subsystem: dict = {}  # machine-wide state of the layers above (owned by them)
        self._boot()
        if profile.files:
            from winhatch.kernel.profile import seed_files
            seed_files(self, profile)

    def remove_sandbox(self) -> None:
        """Delete the sandbox's temporary folder now (when the machine made one), instead of when the machine
        is garbage-collected or the host exits.  The machine must not run guests afterwards."""
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- boot ---------------------------------------------------------------------------------------------
    def _boot(self) -> None:
        system = Process(image_name="System", parent=None, arch=None)
        system.affinity = (1 << self.profile.cpu_count) - 1     # every processor; processes inherit it
        system.pid = self.cid.allocate(system)  # first id: System is pid 4 on Windows
        self.system_process = system
        shell = Process(image_name="explorer.exe", parent=system, arch=None)
        shell.image_path = self.system_root + "\\explorer.exe"
        shell.pid = self.cid.allocate(shell)
        shell.subsystem["cwd"] = self.default_cwd
        shell.console = self.console
        self.shell_process = shell
        self.processes += [system, shell]
        self.events.emit(ev.PROCESS, "boot", 0, 0, system_pid=system.pid, shell_pid=shell.pid)

    def default_environment(self) -> dict[str, str]:
        u = self.username
        p = self.profile
        return {
            "ALLUSERSPROFILE": "C:\\ProgramData", "APPDATA": f"C:\\Users\\{u}\\AppData\\Roaming",
            "COMPUTERNAME": p.host_name.upper(), "ComSpec": "C:\\Windows\\system32\\cmd.exe",
            "HOMEDRIVE": "C:", "HOMEPATH": f"\\Users\\{u}", "LOCALAPPDATA": f"C:\\Users\\{u}\\AppData\\Local",
            "LOGONSERVER": "\\\\" + (p.host_name.upper() if not p.domain else "DC01"),
            "NUMBER_OF_PROCESSORS": str(p.cpu_count), "OS": "Windows_NT",
            "Path": "C:\\Windows\\system32;C:\\Windows;C:\\Windows\\System32\\Wbem",
            "PATHEXT": ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC",
            "PROCESSOR_ARCHITECTURE": "AMD64", "ProgramData": "C:\\ProgramData",
            "ProgramFiles": "C:\\Program Files", "PUBLIC": "C:\\Users\\Public", "SystemDrive": "C:",
            "SystemRoot": "C:\\Windows", "TEMP": f"C:\\Users\\{u}\\AppData\\Local\\Temp",
            "TMP": f"C:\\Users\\{u}\\AppData\\Local\\Temp", "USERDOMAIN": p.netbios_domain,
            "USERDOMAIN_ROAMINGPROFILE": p.netbios_domain, "USERNAME": u, "USERPROFILE": f"C:\\Users\\{u}",
            "windir": "C:\\Windows",
        }

    # -- layout facts ------------------------------------------------------------------------------------------
    def system_dir(self, arch: str) -> str:
        return self.system_root + ("\\System32" if arch == "x64" else "\\SysWOW64")

    @staticmethod
    def user_limit(arch: str) -> int:
        return 0x7FFFFFFEFFFF if arch == "x64" else 0xFFFEFFFF

    # -- services that cross components -----------------------------------------------------------------------
    def mm_create_image_section(self, pe, path: str):
        sec = mapping.create_image_section(pe, path)
        try:
            host, _ro = self.vfs.resolve(path)
        except NtStatusError:   # a path the file system cannot name: nothing to protect
            return sec
        self.vfs.register_image_section(host, sec)
        return sec

    def mm_map_image(self, proc, section, path: str, base: int | None = None) -> int:
        return mapping.map_image(proc, section, path, base=base)

    def _section_in_use(self, section) -> bool:
        """A view of `section` is mapped in a process that has not exited."""
        for p in self.processes:
            if p.exited or getattr(p, "aspace", None) is None:
                continue
            if any(a.section is section for a in p.aspace.allocations()):
                return True
        return False

    def open_system_image(self, path: str):
        return self.images.open(path)

    def discard_process(self, proc) -> None:
        if proc in self.processes:
            self.processes.remove(proc)

    def map_kuser_shared_data(self, proc) -> None:
        """KUSER_SHARED_DATA: one machine-wide page, read-only to every process at 0x7FFE0000."""
        from winhatch.kernel.mm import PAGE_READONLY, Section
        from winhatch.kernel.structs.kuser import build_kuser_shared_data
        if self._kuser is None:
            self._kuser = Section.create_data(0x1000, name="KUSER_SHARED_DATA")
            data = build_kuser_shared_data(
                system_time_100ns=self.clock.system_time(), interrupt_time_100ns=self.clock.now(),
                tick_count_ms=self.clock.now() // 10_000, cookie=self.system_cookie,
                number_of_physical_pages=self.profile.memory >> 12, active_processor_count=self.profile.cpu_count,
                nt_build=self.profile.os_build, major=self.profile.os_major, minor=self.profile.os_minor,
                time_zone_bias_100ns=self.time_zone.bias_100ns(self.clock.system_time()),
                time_zone_id=self.time_zone.state(self.clock.system_time())[1])
            self._kuser.write(0, data)  # one page for every process: the section's shared memory
            self.clock.on_millisecond.append(self._update_kuser_times)
            self._sync_api_trace_flag(self.events.api_wanted)
            self.events.on_api_wanted.append(self._sync_api_trace_flag)
        proc.aspace.map_view(self._kuser, base=KUSER_SHARED_DATA, protect=PAGE_READONLY, tag=("kuser_shared_data",))

    def _sync_api_trace_flag(self, wanted: bool) -> None:
        """While API calls are traced, the user-mode exports of the system DLLs trap (winhatch.win32.native).
        WINHATCH_TRAP_ALL_APIS=1 makes them trap always (measuring the Python path: bench/run_bench.py)."""
        from winhatch.kernel.structs.kuser import KUSER_API_TRACE
        wanted = (wanted or self._trap_all_apis
                  or os.environ.get("WINHATCH_TRAP_ALL_APIS", "") not in ("", "0"))
        self._kuser.write(KUSER_API_TRACE, b"\x01" if wanted else b"\x00")

    def set_trap_all_apis(self, on: bool) -> None:
        """Send every call of the user-mode exports (GetLastError, memcpy, …) to their Python handlers, as
        while API calls are traced: an API hook must see them (winhatch.Session.hook_api)."""
        self._trap_all_apis = bool(on)
        if self._kuser is not None:
            self._sync_api_trace_flag(self.events.api_wanted)

    def sync_kuser_times(self) -> None:
        """Bring KUSER_SHARED_DATA's clock fields up to the emulated clock now: its per-millisecond update
        (_update_kuser_times) runs when whole instructions' time is added, while the clock also counts the API
        calls of the running slice; a time API that reads the clock calls this first, so the page is never
        behind the value it returns (GetTickCount <= the page's TickCount <= a later GetTickCount, as on
        Windows, where the APIs read the page)."""
        if self._kuser is not None and self.clock.now() != self._kuser_synced:
            self._update_kuser_times()

    def _update_kuser_times(self) -> None:
        """The time fields of KUSER_SHARED_DATA follow emulated time (what GetTickCount and friends read)."""
        from winhatch.kernel.structs.kuser import update_kuser_times
        page = bytearray(self._kuser.read(0, 0x1000))
        self._kuser_synced = self.clock.now()
        now = self.clock.system_time()
        bias, zid = self.time_zone.state(now)     # cached until the next transition: cheap every millisecond
        update_kuser_times(page, system_time_100ns=now, interrupt_time_100ns=self.clock.now(),
                           tick_count_ms=self.clock.now() // 10_000, time_zone_bias_100ns=bias * 600_000_000,
                           time_zone_id=zid)
        self._kuser.write(0, bytes(page))

    def ensure_system_cookie(self) -> int:
        """PspUserThreadStartup: the system-wide cookie in SharedUserData, generated once."""
        if not self.system_cookie:
            from winhatch._hash import sha256
            h = sha256(f"{self.clock.system_time()}:{len(self.processes)}".encode()).digest()
            self.system_cookie = int.from_bytes(h[:4], "little") or 1
            if self._kuser is not None:  # the page is one shared section: one write reaches every process
                from winhatch.kernel.structs import KUSER_SHARED_DATA as KUSD
                self._kuser.write(KUSD.offset("x64", "Cookie"), self.system_cookie.to_bytes(4, "little"))
        return self.system_cookie

    def write_peb(self, proc, pe, req) -> dict:
        from winhatch.kernel.mm import MEM_COMMIT, MEM_RESERVE, PAGE_READONLY
        api = self.api_set_blob()
        aspace = proc.aspace
        abase, _ = aspace.allocate(None, len(api), MEM_RESERVE | MEM_COMMIT, PAGE_READONLY, tag=("apiset",))
        aspace.write(abase, api)
        info = peb.write_peb(proc, pe, req, api_set_map=abase,
                             being_debugged=bool(req.creation_flags & 0x3), profile=self.profile)
        proc.subsystem["environment"] = dict(req.environment)
        proc.subsystem["cwd"] = req.current_directory
        proc.subsystem["desktop"] = req.desktop
        info.update(api_set_map=abase, os_version=self.profile.os_version, processors=self.profile.cpu_count)
        return info

    def api_set_blob(self) -> bytes:
        blob = self.subsystem.get("apiset_blob")
        if blob is None:
            from winhatch.kernel.apiset.schema import default_blob
            blob = self.subsystem["apiset_blob"] = default_blob()
        return blob

    def create_user_stack(self, thread, reserve: int, commit: int, highest: int | None = None):
        return peb.create_user_stack(thread, reserve, commit, highest)

    def create_teb(self, thread) -> int:
        # TEB.CurrentLocale starts 0: ntdll sets it when the thread initialises (winhatch.ldr.loader)
        return peb.create_teb(thread, 0)

    def write_teb_stack_limit(self, thread, limit: int) -> None:
        peb.write_teb_stack_limit(thread, limit)

    def ntdll_export(self, proc, name: str) -> int:
        img = mapping.images_of(proc).by_name("ntdll.dll")
        for rva, n in (img.traps or {}).items():
            if n == name:
                return img.base + rva
        raise KeyError(f"ntdll.dll!{name}")

    def init_thread_context(self, thread) -> None:
        thread.user_context = peb.initial_user_context(thread, self.ntdll_export(thread.process,
                                                                                   "RtlUserThreadStart"))
        thread.context = thread.user_context

    def enter_ldr_initialize_thunk(self, thread) -> None:
        """Stage 7's last kernel step: the thread enters user mode at ntdll!LdrInitializeThunk."""
        cpu = thread.process.cpu
        cpu.restore_context(thread.user_context)
        cpu.set_teb(thread.teb, thread.teb_host)
        ldr = self.ntdll_export(thread.process, "LdrInitializeThunk")
        if cpu.is64:
            sp = cpu.sp - 0x100 & ~0xF
            cpu.sp = sp - 8
            cpu.set_reg("rdx", thread.process.ntdll_base)
        else:
            sp = cpu.sp - 0x100 & ~0xF
            cpu.sp = sp - 4
            cpu.write_u32(sp, 0)
            cpu.write_u32(sp + 4, thread.process.ntdll_base)
        cpu.pc = ldr

    def thread_startup(self, thread) -> None:
        from winhatch.kernel.ps.create import PspUserThreadStartup
        PspUserThreadStartup(self, thread)

    def notify_image_load(self, proc, path: str, base: int) -> None:
        img = mapping.images_of(proc).find(base)
        size = img.size if img else 0
        name = path.rsplit("\\", 1)[-1]
        self.notify.image_load(path, proc.pid, ImageInfo(base, size, name, proc.arch))
        if self.hooks.code:   # code hooks on "module+0x…" / "module!Export" can be placed now
            self.hooks.image_loaded(proc)
        self.events.emit(ev.IMAGE, "image_load", proc.pid, 0, name=name, path=path, base=base, size=size)

    def terminate_process(self, proc, status: int) -> None:
        psexit.PspExitProcess(self, proc, status)

    def terminate_thread(self, thread, status: int) -> None:
        psexit.PspExitThread(self, thread, status)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
