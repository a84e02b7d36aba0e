"""The guest-visible halves of a process and its threads: PEB, process parameters, environment, TEB,
user stack and initial context — written into guest memory in the real layouts (winhatch.kernel.structs).

For an x86 program these are what a 32-bit program sees on 64-bit Windows 10 (the WoW64 32-bit PEB/TEB).
"""
from __future__ import annotations

import struct

from winhatch.kernel.mm import MEM_COMMIT, MEM_RESERVE, PAGE_GUARD, PAGE_READWRITE
from winhatch.kernel.ps.objects import Process, Thread, ThreadStack
from winhatch.kernel.structs import PEB, RTL_USER_PROCESS_PARAMETERS, TEB

RTL_USER_PROC_PARAMS_NORMALIZED = 0x01


def _align(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)


def environment_block(env: dict[str, str]) -> bytes:
    """A Unicode environment block: NAME=VALUE\\0 … \\0, in the order given."""
    s = "".join(f"{k}={v}\0" for k, v in env.items()) + "\0"
    return s.encode("utf-16-le")


def write_process_parameters(proc: Process, req, arch: str | None = None, ebase: int = 0) -> tuple[int, int]:
    """RtlCreateProcessParametersEx + normalisation: one allocation holding the structure and its strings, in
    the layout of `arch` (the process's own by default; a WoW64 process gets an x64 copy for its 64-bit PEB,
    sharing the environment block `ebase`). Returns (address of RTL_USER_PROCESS_PARAMETERS, address of the
    environment block)."""
    arch = arch or proc.arch
    aspace = proc.aspace
    env = environment_block(req.environment)
    if not ebase:
        ebase, _ = aspace.allocate(None, len(env), MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE, tag=("environment",))
        aspace.write(ebase, env)
    dll_path = req.dll_path or ""
    cur_dir = req.current_directory if req.current_directory.endswith("\\") else req.current_directory + "\\"
    strings = {
        "CurrentDirectory.DosPath": (cur_dir, 260 * 2),
        "DllPath": (dll_path, None),
        "ImagePathName": (req.image_path, None),
        "CommandLine": (req.command_line, None),
        "WindowTitle": (req.window_title, None),
        "DesktopInfo": (req.desktop, None),
        "ShellInfo": ("", None),
        "RuntimeData": ("", None),
    }
    ssize = RTL_USER_PROCESS_PARAMETERS.size(arch)
    total = ssize
    for text, maxlen in strings.values():
        total += _align(max(maxlen or 0, len(text) * 2 + 2), 8)
    base, _ = aspace.allocate(None, total, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE, tag=("process_parameters",))
    cursor = base + ssize
    values: dict = {}
    for path, (text, maxlen) in strings.items():
        data = text.encode("utf-16-le")
        cap = max(maxlen or 0, len(data) + 2)
        aspace.write(cursor, data + b"\0\0")
        # the window title, desktop and shell info are copied even when empty (the child's GetStartupInfo sees
        # "", not NULL; Wine's ntdll/wow64 test_peb_teb finds ShellInfo inside the block on Windows)
        present = text or maxlen or path in ("WindowTitle", "DesktopInfo", "ShellInfo")
        values[path] = {"Length": len(data), "MaximumLength": cap, "Buffer": cursor if present else 0}
        cursor += _align(cap, 8)
    st = req.startup
    RTL_USER_PROCESS_PARAMETERS.write(
        aspace, base, arch, MaximumLength=total, Length=total, Flags=RTL_USER_PROC_PARAMS_NORMALIZED,
        Environment=ebase, EnvironmentSize=len(env), WindowFlags=st.flags, ShowWindowFlags=st.show_window,
        StandardInput=st.std_input, StandardOutput=st.std_output, StandardError=st.std_error,
        StartingX=st.x, StartingY=st.y, CountX=st.x_size, CountY=st.y_size, CountCharsX=st.x_count_chars,
        CountCharsY=st.y_count_chars, FillAttribute=st.fill_attribute, ProcessGroupId=0)
    for path, v in values.items():
        RTL_USER_PROCESS_PARAMETERS.write(aspace, base, arch, **{path: v})
    return base, ebase


def write_std_handles(proc: Process, params: int, stdin: int, stdout: int, stderr: int) -> None:
    RTL_USER_PROCESS_PARAMETERS.write(proc.aspace, params, proc.arch, StandardInput=stdin, StandardOutput=stdout,
                                      StandardError=stderr)


def write_peb(proc: Process, pe, req, *, api_set_map: int, being_debugged: bool, profile=None) -> dict:
    from winhatch.kernel.profile import Profile
    profile = profile or Profile.default()
    arch = proc.arch
    aspace = proc.aspace
    params, env = write_process_parameters(proc, req)
    peb_size = PEB.size(arch)
    wow64 = arch == "x86"
    extra = WOW64_PEB_OFFSET if wow64 else 0
    base, _ = aspace.allocate(None, _align(peb_size, 0x1000) + extra, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE,
                              top_down=True, tag=("peb",))
    peb = base + extra
    proc.peb = peb
    if wow64:
        # the 64-bit PEB of a WoW64 process, one page below the 32-bit one: the image, the version and the
        # processors as the 32-bit PEB has them, and its own 64-bit process parameters (the block the creator
        # made; the 32-bit PEB's is WoW64's copy in the 32-bit layout: same strings, same environment). The
        # 64-bit loader state is not modelled.
        proc.peb64 = base
        params64, _ = write_process_parameters(proc, req, "x64", env)
        PEB.write(aspace, base, "x64", BeingDebugged=1 if being_debugged else 0, ImageBaseAddress=proc.image_base,
                  ProcessParameters=params64,
                  NumberOfProcessors=profile.cpu_count, OSMajorVersion=profile.os_major,
                  OSMinorVersion=profile.os_minor, OSBuildNumber=profile.os_build, OSPlatformId=2,
                  ImageSubsystem=pe.subsystem, SessionId=proc.session_id)
    # the TLS bitmaps live inside the PEB (TlsBitmapBits, TlsExpansionBitmapBits), the RTL_BITMAP headers after it
    PEB.write(aspace, peb, arch,
              InheritedAddressSpace=0, ReadImageFileExecOptions=0, BeingDebugged=1 if being_debugged else 0,
              ImageBaseAddress=proc.image_base, ProcessParameters=params, ApiSetMap=api_set_map,
              NumberOfProcessors=profile.cpu_count, NtGlobalFlag=0x70 if being_debugged else 0,
              CriticalSectionTimeout=(-2592000000000) & 0xFFFFFFFFFFFFFFFF,
              HeapSegmentReserve=0x100000, HeapSegmentCommit=0x2000, HeapDeCommitTotalFreeThreshold=0x10000,
              HeapDeCommitFreeBlockThreshold=0x1000, MaximumNumberOfHeaps=16,
              OSMajorVersion=profile.os_major, OSMinorVersion=profile.os_minor, OSBuildNumber=profile.os_build,
              OSPlatformId=2,
              ImageSubsystem=pe.subsystem, ImageSubsystemMajorVersion=pe.optional_header.MajorSubsystemVersion,
              ImageSubsystemMinorVersion=pe.optional_header.MinorSubsystemVersion,
              ActiveProcessAffinityMask=proc.affinity, SessionId=proc.session_id)
    # the TLS bitmaps (PEB.TlsBitmap, TlsExpansionBitmap) are ntdll's: LdrpInitializeProcess sets them up
    # (init_tls_bitmaps); a suspended new process shows them NULL (Wine's kernel32/tests/process.c on Windows)
    proc.parameters = {"address": params, "environment": env}
    return {"peb": peb, "parameters": params, "environment": env}


def init_tls_bitmaps(proc: Process) -> None:
    """RTL_BITMAP {ULONG SizeOfBitMap; PULONG Buffer;} headers for the 64 TLS slots and the 1024 expansion slots
    over PEB.TlsBitmapBits / TlsExpansionBitmapBits, right after the PEB, and PEB.TlsBitmap /
    TlsExpansionBitmap pointing at them (what LdrpInitializeProcess does); TLS slot 0 is reserved at process
    start (since Windows XP SP2): TlsAlloc never returns 0 and the slot stays NULL (Wine's
    kernel32/tests/thread.c test_reserved_tls)."""
    arch, aspace, peb = proc.arch, proc.aspace, proc.peb
    hdr = _align(peb + PEB.size(arch), 16)
    ptr = "<I" if arch == "x86" else "<Q"
    step = 8 if arch == "x86" else 16
    for i, (bits, field) in enumerate(((64, "TlsBitmapBits"), (1024, "TlsExpansionBitmapBits"))):
        aspace.write(hdr + i * step, struct.pack("<I", bits) + b"\0" * (step // 2 - 4)
                     + struct.pack(ptr, peb + PEB.offset(arch, field)))
    PEB.write(aspace, peb, arch, TlsBitmap=hdr, TlsExpansionBitmap=hdr + step)
    aspace.write(peb + PEB.offset(arch, "TlsBitmapBits"), struct.pack("<I", 1))


def create_user_stack(thread: Thread, reserve: int, commit: int, highest: int | None = None) -> ThreadStack:
    """RtlCreateUserStack: reserve (below ``highest``, a ZeroBits limit, when given), commit the top, a guard page
    below it (and the last page stays reserved)."""
    aspace = thread.process.aspace
    reserve = _align(reserve, 0x10000)
    commit = min(_align(commit, 0x1000), reserve - 0x2000)
    # host-backed: the API trap path reads stack arguments straight from it (Thread.stack_host)
    base, size = aspace.allocate(None, reserve, MEM_RESERVE, PAGE_READWRITE, tag=("stack", thread.tid), host=True,
                                 highest=highest)
    top = base + size
    aspace.allocate(top - commit, commit, MEM_COMMIT, PAGE_READWRITE)
    aspace.allocate(top - commit - 0x1000, 0x1000, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD)
    return ThreadStack(base=top, limit=top - commit, reserve_base=base, reserve=size, commit=commit)


#: a WoW64 thread's 64-bit TEB lies this far below its 32-bit TEB (TEB32.WowTebOffset = -WOW64_TEB_OFFSET)
WOW64_TEB_OFFSET = 0x2000
#: a WoW64 process's 32-bit PEB lies one page above its 64-bit PEB
WOW64_PEB_OFFSET = 0x1000


def create_teb(thread: Thread, locale: int = 0x409) -> int:
    """The thread's TEB; CurrentLocale is the user default locale (PsDefaultThreadLocaleId). A WoW64 (x86)
    thread gets both as Windows 10 lays them out in one allocation: the 64-bit TEB (two pages) then the 32-bit
    one at +0x2000; TEB32.GdiBatchCount holds the TEB64's address and TEB32.WowTebOffset -0x2000,
    TEB64.WowTebOffset +0x2000, TEB64.NtTib.ExceptionList the TEB32, TEB64.Peb the 64-bit PEB. Returns the TEB
    the thread's code sees (the 32-bit one for x86)."""
    proc = thread.process
    arch = proc.arch
    aspace = proc.aspace
    size = _align(TEB.size(arch), 0x1000)
    wow64 = arch == "x86"
    extra = WOW64_TEB_OFFSET if wow64 else 0
    # host-backed: the API trap frame (winhatch.cpu.core.TRAP_FRAME) and LastErrorValue are read and
    # written by the kernel on every API call
    base, _ = aspace.allocate(None, size + extra, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE, top_down=True,
                              tag=("teb", thread.tid), host=True)
    teb = base + extra
    st = thread.stack
    TEB.write(aspace, teb, arch,
              NtTib={"ExceptionList": 0xFFFFFFFF if arch == "x86" else 0, "StackBase": st.base,
                     "StackLimit": st.limit, "Self": teb},
              ClientId={"UniqueProcess": proc.pid, "UniqueThread": thread.tid},
              RealClientId={"UniqueProcess": proc.pid, "UniqueThread": thread.tid},
              ProcessEnvironmentBlock=proc.peb, DeallocationStack=st.reserve_base,
              StaticUnicodeString={"Length": 0, "MaximumLength": 0x20A,
                                   "Buffer": teb + TEB.offset(arch, "StaticUnicodeBuffer")},
              CurrentLocale=locale)
    if wow64:
        teb64 = base
        thread.teb64 = teb64
        TEB.write(aspace, teb, arch, GdiBatchCount=teb64, WowTebOffset=-WOW64_TEB_OFFSET)
        TEB.write(aspace, teb64, "x64",
                  NtTib={"ExceptionList": teb, "Self": teb64},
                  ClientId={"UniqueProcess": proc.pid, "UniqueThread": thread.tid},
                  RealClientId={"UniqueProcess": proc.pid, "UniqueThread": thread.tid},
                  ProcessEnvironmentBlock=getattr(proc, "peb64", 0), CurrentLocale=locale,
                  StaticUnicodeString={"Length": 0, "MaximumLength": 0x20A,
                                       "Buffer": teb64 + TEB.offset("x64", "StaticUnicodeBuffer")},
                  WowTebOffset=WOW64_TEB_OFFSET)
        from winhatch.kernel.ps.wow64 import create_native_side
        create_native_side(thread, teb64)      # the 64-bit stack and the CPU area, in TEB64
    return teb


def write_teb_stack_limit(thread: Thread, limit: int) -> None:
    TEB.write(thread.process.aspace, thread.teb, thread.process.arch, NtTib={"StackLimit": limit})


def initial_user_context(thread: Thread, rtl_user_thread_start: int):
    """The context NtContinue resumes after LdrInitializeThunk: RtlUserThreadStart(StartAddress, Parameter)."""
    cpu = thread.process.cpu
    ctx = cpu.save_context()
    top = thread.stack.base
    if cpu.is64:
        ctx.set("rsp", top - 0x28)      # as if called (rsp % 16 == 8 at entry), the home space above it
        ctx.set("rip", rtl_user_thread_start)
        ctx.set("rcx", thread.start_address)
        ctx.set("rdx", thread.start_parameter)
        for r in ("rax", "rbx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"):
            ctx.set(r, 0)
    else:
        ctx.set("esp", top - 0x10)      # Windows: esp + 0x10 at the stack's top
        ctx.set("eip", rtl_user_thread_start)
        ctx.set("eax", thread.start_address)
        ctx.set("ebx", thread.start_parameter)
        for r in ("ecx", "edx", "esi", "edi", "ebp"):
            ctx.set(r, 0)
    # EFLAGS.IF only, as the kernel builds a new thread's context (GetThreadContext before it runs: 0x200);
    # a WoW64 (x86) thread's 32-bit context is kept as its CPU would hold it, with the always-set bit 1 (0x202),
    # so the CPU area and Wow64GetThreadContext agree (kernel.ps.wow64)
    ctx.set("eflags", 0x200 if cpu.is64 else 0x202)
    # the floating-point state a new thread starts with on Windows (KiInitializeContextThread): x87 control
    # word 0x27F (all exceptions masked, 53-bit precision, round to nearest), empty x87 stack, MXCSR 0x1F80
    ctx.set("fpcw", 0x27F)
    ctx.set("fpsw", 0)
    ctx.set("fptag", 0xFFFF)
    ctx.set("mxcsr", 0x1F80)
    return ctx


def pack_u(arch: str, v: int) -> bytes:
    return struct.pack("<Q" if arch == "x64" else "<I", v)
