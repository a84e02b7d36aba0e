"""winhatch.kernel.structs: the layout engine, and the Windows 10 layouts pinned by literal anchors.

The anchors below are members mingw's headers cannot confirm (test_structs_mingw.py checks the ones they
declare).  Their values are the offsets of Microsoft's public symbols for Windows 10 20H1..22H2 (ntdll/ntoskrnl
PDB types _TEB, _PEB, _LDR_DATA_TABLE_ENTRY, _PEB_LDR_DATA, _RTL_USER_PROCESS_PARAMETERS, _KUSER_SHARED_DATA,
as published in public dumps of those types and in the documented KUSER_SHARED_DATA of ntddk.h), several of
them also fixed in well-known practice (e.g. x86 fs:[0x30] = PEB, PEB+0x68 NtGlobalFlag, 0x7FFE0308
SystemCall, TEB+0x180C WowTebOffset).  Only values known with confidence are listed.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from winhatch.kernel import structs as S
from winhatch.kernel.structs import (CONTEXT, CONTEXT_AMD64, CONTEXT_X86, KUSER_SHARED_DATA, LDR_DATA_TABLE_ENTRY,
                                     PEB, PEB_LDR_DATA, RTL_USER_PROCESS_PARAMETERS, TEB, UNICODE_STRING)
from winhatch.kernel.structs.kuser import (DEFAULT_PROCESSOR_FEATURES, build_kuser_shared_data, kuser_tick_count_ms,
                                           update_kuser_times)

ANCHORS = {
    "TEB": {
        "x64": dict(size=0x1838, **{"NtTib.StackBase": 0x08, "NtTib.StackLimit": 0x10, "NtTib.Self": 0x30,
                                    "ClientId.UniqueThread": 0x48},
                    EnvironmentPointer=0x38, ClientId=0x40, ActiveRpcHandle=0x50, ThreadLocalStoragePointer=0x58,
                    ProcessEnvironmentBlock=0x60, LastErrorValue=0x68, CountOfOwnedCriticalSections=0x6C,
                    CurrentLocale=0x108, GdiTebBatch=0x2F0, RealClientId=0x7D8, LastStatusValue=0x1250,
                    StaticUnicodeString=0x1258, StaticUnicodeBuffer=0x1268, DeallocationStack=0x1478,
                    TlsSlots=0x1480, TlsLinks=0x1680, ActivityId=0x1710, WinSockData=0x1738,
                    GuaranteedStackBytes=0x1748, ReservedForOle=0x1758, TlsExpansionSlots=0x1780, FlsData=0x17C8,
                    SameTebFlags=0x17EE, WowTebOffset=0x180C),
        "x86": dict(size=0x1000, **{"NtTib.StackBase": 0x04, "NtTib.StackLimit": 0x08, "NtTib.Self": 0x18,
                                    "ClientId.UniqueThread": 0x24},
                    EnvironmentPointer=0x1C, ClientId=0x20, ActiveRpcHandle=0x28, ThreadLocalStoragePointer=0x2C,
                    ProcessEnvironmentBlock=0x30, LastErrorValue=0x34, CountOfOwnedCriticalSections=0x38,
                    CurrentLocale=0xC4, GdiTebBatch=0x1D4, RealClientId=0x6B4, LastStatusValue=0xBF4,
                    StaticUnicodeString=0xBF8, StaticUnicodeBuffer=0xC00, DeallocationStack=0xE0C,
                    TlsSlots=0xE10, TlsLinks=0xF10, ActivityId=0xF50, WinSockData=0xF6C,
                    GuaranteedStackBytes=0xF78, ReservedForOle=0xF80, TlsExpansionSlots=0xF94, FlsData=0xFB4,
                    SameTebFlags=0xFCA, WowTebOffset=0xFDC),
    },
    "PEB": {
        "x64": dict(size=0x7C8, BeingDebugged=0x2, BitField=0x3, Mutant=0x8, ImageBaseAddress=0x10, Ldr=0x18,
                    ProcessParameters=0x20, SubSystemData=0x28, ProcessHeap=0x30, FastPebLock=0x38,
                    CrossProcessFlags=0x50, KernelCallbackTable=0x58, ApiSetMap=0x68, TlsBitmap=0x78,
                    ReadOnlySharedMemoryBase=0x88, AnsiCodePageData=0xA0, NumberOfProcessors=0xB8,
                    NtGlobalFlag=0xBC, CriticalSectionTimeout=0xC0, HeapSegmentReserve=0xC8, NumberOfHeaps=0xE8,
                    ProcessHeaps=0xF0, LoaderLock=0x110, OSMajorVersion=0x118, OSMinorVersion=0x11C,
                    OSBuildNumber=0x120, OSPlatformId=0x124, ImageSubsystem=0x128,
                    ImageSubsystemMajorVersion=0x12C, GdiHandleBuffer=0x140, PostProcessInitRoutine=0x230,
                    TlsExpansionBitmap=0x238, SessionId=0x2C0, AppCompatFlags=0x2C8, pShimData=0x2D8,
                    CSDVersion=0x2E8, ActivationContextData=0x2F8, SystemDefaultActivationContextData=0x308,
                    MinimumStackCommit=0x318),
        "x86": dict(size=0x480, BeingDebugged=0x2, BitField=0x3, Mutant=0x4, ImageBaseAddress=0x8, Ldr=0x0C,
                    ProcessParameters=0x10, ProcessHeap=0x18, FastPebLock=0x1C, CrossProcessFlags=0x28,
                    KernelCallbackTable=0x2C, ApiSetMap=0x38, TlsBitmap=0x40, NumberOfProcessors=0x64,
                    NtGlobalFlag=0x68, CriticalSectionTimeout=0x70, HeapSegmentReserve=0x78, NumberOfHeaps=0x88,
                    ProcessHeaps=0x90, LoaderLock=0xA0, OSMajorVersion=0xA4, OSMinorVersion=0xA8,
                    OSBuildNumber=0xAC, OSPlatformId=0xB0, ImageSubsystem=0xB4, GdiHandleBuffer=0xC4,
                    PostProcessInitRoutine=0x14C, SessionId=0x1D4, AppCompatFlags=0x1D8, CSDVersion=0x1F0,
                    ActivationContextData=0x1F8, MinimumStackCommit=0x208),
    },
    "PEB_LDR_DATA": {
        "x64": dict(size=0x58, Initialized=0x4, SsHandle=0x8, InLoadOrderModuleList=0x10,
                    InInitializationOrderModuleList=0x30, EntryInProgress=0x40, ShutdownInProgress=0x48,
                    ShutdownThreadId=0x50),
        "x86": dict(size=0x30, Initialized=0x4, SsHandle=0x8, InLoadOrderModuleList=0x0C,
                    InInitializationOrderModuleList=0x1C, EntryInProgress=0x24, ShutdownInProgress=0x28,
                    ShutdownThreadId=0x2C),
    },
    "LDR_DATA_TABLE_ENTRY": {
        "x64": dict(size=0x120, InInitializationOrderLinks=0x20, EntryPoint=0x38, SizeOfImage=0x40,
                    BaseDllName=0x58, Flags=0x68, ObsoleteLoadCount=0x6C, TlsIndex=0x6E, HashLinks=0x70,
                    TimeDateStamp=0x80, DdagNode=0x98, BaseAddressIndexNode=0xC8, OriginalBase=0xF8,
                    LoadTime=0x100, BaseNameHashValue=0x108, LoadReason=0x10C, ReferenceCount=0x114),
        "x86": dict(size=0xA8, InInitializationOrderLinks=0x10, EntryPoint=0x1C, SizeOfImage=0x20,
                    BaseDllName=0x2C, Flags=0x34, HashLinks=0x3C, TimeDateStamp=0x44, DdagNode=0x50,
                    BaseAddressIndexNode=0x68, OriginalBase=0x80, LoadTime=0x88, BaseNameHashValue=0x90,
                    LoadReason=0x94),
    },
    "RTL_USER_PROCESS_PARAMETERS": {
        "x64": dict(Flags=0x8, ConsoleHandle=0x10, ConsoleFlags=0x18, StandardInput=0x20, StandardOutput=0x28,
                    StandardError=0x30, CurrentDirectory=0x38, DllPath=0x50, Environment=0x80, StartingX=0x88,
                    ShowWindowFlags=0xA8, WindowTitle=0xB0, DesktopInfo=0xC0, ShellInfo=0xD0, RuntimeData=0xE0,
                    CurrentDirectores=0xF0, EnvironmentSize=0x3F0, EnvironmentVersion=0x3F8,
                    PackageDependencyData=0x400, ProcessGroupId=0x408, LoaderThreads=0x40C),
        "x86": dict(ConsoleHandle=0x10, StandardInput=0x18, CurrentDirectory=0x24, DllPath=0x30, Environment=0x48,
                    WindowTitle=0x70, DesktopInfo=0x78, ShellInfo=0x80, RuntimeData=0x88, CurrentDirectores=0x90,
                    EnvironmentSize=0x290),
    },
    "KUSER_SHARED_DATA": {
        a: dict(InterruptTime=0x08, SystemTime=0x14, TimeZoneBias=0x20, NtSystemRoot=0x30, NtBuildNumber=0x260,
                NtProductType=0x264, NativeProcessorArchitecture=0x26A, NtMajorVersion=0x26C, NtMinorVersion=0x270,
                ProcessorFeatures=0x274, KdDebuggerEnabled=0x2D4, MitigationPolicies=0x2D5, ActiveConsoleId=0x2D8,
                NumberOfPhysicalPages=0x2E8, SafeBootMode=0x2EC, SharedDataFlags=0x2F0, TestRetInstruction=0x2F8,
                QpcFrequency=0x300, SystemCall=0x308, TickCount=0x320, TickCountQuad=0x320, Cookie=0x330,
                ImageFileExecutionOptions=0x3A0, QpcBias=0x3B8, ActiveProcessorCount=0x3C0, ActiveGroupCount=0x3C4,
                QpcData=0x3C6, QpcBypassEnabled=0x3C6, QpcShift=0x3C7, XState=0x3D8)
        for a in ("x86", "x64")
    },
    "CURDIR": {"x64": dict(size=0x18, Handle=0x10), "x86": dict(size=0x0C, Handle=0x08)},
    "RTL_DRIVE_LETTER_CURDIR": {"x64": dict(size=0x18, DosPath=0x8), "x86": dict(size=0x10, DosPath=0x8)},
}


def _anchor_cases():
    for sname, by_arch in ANCHORS.items():
        for arch, members in by_arch.items():
            for member, off in members.items():
                yield pytest.param(sname, arch, member, off, id=f"{sname}-{arch}-{member}")


@pytest.mark.parametrize("sname,arch,member,want", list(_anchor_cases()))
def test_anchor(sname, arch, member, want):
    s = getattr(S, sname)
    got = s.size(arch) if member == "size" else s.offset(arch, member)
    assert got == want, f"{sname}.{member} ({arch}) = {got:#x}, expected {want:#x}"


# ------------------------------------------------------------------------------------------------- engine
class Mem:
    """Guest memory stand-in: one region, filled with 0xCC so untouched bytes are visible."""

    def __init__(self, base=0x10000, size=0x4000):
        self.base, self.buf = base, bytearray(b"\xCC" * size)
        self.writes = []

    def read(self, addr, size):
        o = addr - self.base
        assert 0 <= o and o + size <= len(self.buf)
        return bytes(self.buf[o:o + size])

    def write(self, addr, data):
        o = addr - self.base
        assert 0 <= o and o + len(data) <= len(self.buf)
        self.buf[o:o + len(data)] = data
        self.writes.append((addr, len(data)))


def test_nested_and_indexed_paths():
    assert TEB.offset("x64", "TlsSlots[3]") == 0x1480 + 3 * 8
    assert TEB.offset("x86", "TlsSlots[63]") == 0xE10 + 63 * 4
    assert RTL_USER_PROCESS_PARAMETERS.offset("x64", "CurrentDirectory.DosPath.Buffer") == 0x40
    assert RTL_USER_PROCESS_PARAMETERS.offset("x64", "CurrentDirectores[1].DosPath") == 0xF0 + 0x18 + 8
    assert TEB.offset("x64", "GdiTebBatch.HDC") == 0x2F8
    assert LDR_DATA_TABLE_ENTRY.offset("x64", "InMemoryOrderLinks.Blink") == 0x18
    assert TEB.offset("x64", "IdealProcessor") == 0x1744 + 3          # member of an anonymous union's struct
    assert TEB.offset("x64", "CurrentIdealProcessor.Number") == 0x1746
    with pytest.raises(KeyError):
        TEB.offset("x64", "NoSuchField")
    with pytest.raises(KeyError):
        TEB.offset("x86", "DeallocationBStore")                      # x64-only member
    with pytest.raises(IndexError):
        TEB.offset("x64", "TlsSlots[64]")
    with pytest.raises(ValueError):
        TEB.size("arm64")


def test_fields_listing():
    f = PEB.fields("x64")
    assert f[0] == ("InheritedAddressSpace", 0, 1, "UCHAR")
    names = [n for n, *_ in f]
    assert "KernelCallbackTable" in names and "UserSharedInfoPtr" in names   # anonymous union expanded
    d = {n: (o, s, t) for n, o, s, t in f}
    assert d["Ldr"] == (0x18, 8, "PVOID")
    assert d["TlsBitmapBits"] == (0x80, 8, "ULONG[2]")
    assert d["GdiHandleBuffer"][1] == 60 * 4
    assert {n: (o, s) for n, o, s, _ in PEB.fields("x86")}["GdiHandleBuffer"] == (0xC4, 34 * 4)
    assert d["CSDVersion"][1:] == (16, "UNICODE_STRING")
    # offsets never decrease outside unions and members never overlap the struct end
    for arch in ("x86", "x64"):
        for s in (TEB, PEB, LDR_DATA_TABLE_ENTRY, RTL_USER_PROCESS_PARAMETERS):
            for n, o, sz, _ in s.fields(arch):
                assert o + sz <= s.size(arch), (s.name, n)


def test_pack_unpack_roundtrip_nested():
    for arch, ptr in (("x86", 4), ("x64", 8)):
        data = TEB.pack(arch, NtTib={"Self": 0x7000, "StackBase": 0x130000}, ClientId={"UniqueThread": 0x1C},
                        ProcessEnvironmentBlock=0x3000, LastErrorValue=0xFFFFFFFF, TlsSlots=[1, 2, 3],
                        StaticUnicodeBuffer="héllo", SameTebFlags=0x400)
        assert len(data) == TEB.size(arch)
        v = TEB.unpack(arch, data)
        assert v["NtTib"]["Self"] == 0x7000 and v["NtTib"]["StackBase"] == 0x130000
        assert v["ClientId"] == {"UniqueProcess": 0, "UniqueThread": 0x1C}
        assert v["ProcessEnvironmentBlock"] == 0x3000
        assert v["LastErrorValue"] == 0xFFFFFFFF
        assert v["TlsSlots"][:4] == [1, 2, 3, 0] and len(v["TlsSlots"]) == 64
        assert v["StaticUnicodeBuffer"] == "héllo"
        assert v["InitialThread"] == 1 and v["SameTebFlags"] == 0x400
        o = TEB.offset(arch, "ProcessEnvironmentBlock")
        assert int.from_bytes(data[o:o + ptr], "little") == 0x3000
        # everything not named is zero
        assert sum(data) == sum(TEB.pack(arch, NtTib={"Self": 0x7000, "StackBase": 0x130000},
                                         ClientId={"UniqueThread": 0x1C}, ProcessEnvironmentBlock=0x3000,
                                         LastErrorValue=0xFFFFFFFF, TlsSlots=[1, 2, 3],
                                         StaticUnicodeBuffer="héllo", SameTebFlags=0x400))


def test_pack_dotted_keys_and_scalars():
    a = PEB.pack("x64", **{"CriticalSectionTimeout": -25920000000000, "CSDVersion.Length": 4})
    v = PEB.unpack("x64", a)
    assert v["CriticalSectionTimeout"]["QuadPart"] == -25920000000000
    assert v["CriticalSectionTimeout"]["HighPart"] < 0
    assert v["CSDVersion"]["Length"] == 4
    # negative handles are stored two's-complement
    p = RTL_USER_PROCESS_PARAMETERS.pack("x86", ConsoleHandle=-1)
    assert p[0x10:0x14] == b"\xff\xff\xff\xff"
    with pytest.raises(OverflowError):
        PEB.pack("x86", Ldr=1 << 32)
    with pytest.raises(KeyError):
        PEB.pack("x64", Bogus=1)
    with pytest.raises(ValueError):
        TEB.pack("x64", TlsSlots=[0] * 65)
    with pytest.raises(ValueError):
        UNICODE_STRING.unpack("x64", b"\0" * 8)


def test_bit_fields():
    # LDR_DATA_TABLE_ENTRY.Flags bits agree with the classic LDRP_* flag values
    ldr = LDR_DATA_TABLE_ENTRY
    for name, value in (("ImageDll", 0x4), ("LoadNotificationsSent", 0x8), ("InLegacyLists", 0x40),
                        ("InIndexes", 0x80), ("EntryProcessed", 0x4000), ("DontCallForThreads", 0x40000),
                        ("ProcessAttachCalled", 0x80000), ("CompatDatabaseProcessed", 0x80000000)):
        data = ldr.pack("x64", **{name: 1})
        assert int.from_bytes(data[0x68:0x6C], "little") == value, name
    assert PEB.bit("x64", "IsProtectedProcess") == (3, 1, 1)
    assert PEB.pack("x86", IsAppContainer=1, ImageUsesLargePages=1)[3] == 0x21
    assert PEB.unpack("x64", PEB.pack("x64", CrossProcessFlags=0x6))["ProcessUsingVEH"] == 1
    with pytest.raises(OverflowError):
        PEB.pack("x64", IsAppContainer=2)


def test_write_touches_only_named_members():
    mem = Mem()
    base = mem.base
    TEB.write(mem, base, "x64", LastErrorValue=5, NtTib={"Self": base}, ClientId={"UniqueThread": 0x44})
    assert mem.read(base + 0x68, 4) == (5).to_bytes(4, "little")
    assert mem.read(base + 0x30, 8) == base.to_bytes(8, "little")
    assert mem.read(base + 0x48, 8) == (0x44).to_bytes(8, "little")
    assert mem.read(base + 0x40, 8) == b"\xCC" * 8                 # ClientId.UniqueProcess untouched
    assert mem.read(base + 0x6C, 4) == b"\xCC" * 4
    assert sorted(mem.writes) == [(base + 0x30, 8), (base + 0x48, 8), (base + 0x68, 4)]
    TEB.write(mem, base, "x86", **{"TlsSlots[2]": 0x1234})
    assert mem.read(base + 0xE10 + 8, 4) == (0x1234).to_bytes(4, "little")
    assert mem.read(base + 0xE10 + 4, 4) == b"\xCC" * 4
    # bit fields are read-modify-write and keep their neighbours
    mem2 = Mem()
    PEB.write(mem2, mem2.base, "x64", BitField=0x80)
    PEB.write(mem2, mem2.base, "x64", IsPackagedProcess=1)
    assert mem2.read(mem2.base + 3, 1) == b"\x90"
    assert mem2.read(mem2.base + 2, 1) == b"\xCC"


def test_read_and_view():
    mem = Mem()
    b = mem.base
    data = PEB.pack("x86", ImageBaseAddress=0x400000, Ldr=0x77000000, OSMajorVersion=10, OSBuildNumber=19045,
                    BeingDebugged=1, CSDVersion={"Length": 2, "MaximumLength": 4, "Buffer": 0x1000})
    mem.write(b, data)
    r = PEB.read(mem, b, "x86", "Ldr", "OSBuildNumber", "CSDVersion", "CSDVersion.Buffer", "BeingDebugged")
    assert r == {"Ldr": 0x77000000, "OSBuildNumber": 19045,
                 "CSDVersion": {"Length": 2, "MaximumLength": 4, "Buffer": 0x1000}, "CSDVersion.Buffer": 0x1000,
                 "BeingDebugged": 1}
    assert PEB.read(mem, b, "x86")["ImageBaseAddress"] == 0x400000
    v = PEB.view(mem, b, "x86")
    assert v.OSMajorVersion == 10 and v.CSDVersion.MaximumLength == 4
    v.NtGlobalFlag = 0x70
    assert mem.read(b + 0x68, 4) == (0x70).to_bytes(4, "little")
    v.CSDVersion.Length = 0
    assert PEB.read(mem, b, "x86", "CSDVersion.Length")["CSDVersion.Length"] == 0
    assert v.addr_of("ProcessHeap") == b + 0x18
    with pytest.raises(AttributeError):
        v.NoSuchThing


def test_context_per_arch():
    assert CONTEXT("x86") is CONTEXT_X86 and CONTEXT("x64") is CONTEXT_AMD64
    assert CONTEXT.size("x86") == 0x2CC and CONTEXT.size("x64") == 0x4D0
    assert CONTEXT.offset("x64", "Rip") == 0xF8 and CONTEXT.offset("x86", "Eip") == 0xB8
    assert CONTEXT_AMD64.align("x64") == 16 and CONTEXT_AMD64.offset("x64", "Xmm0") == 0x1A0
    # pointer-free: the same whatever arch is asked for
    assert CONTEXT_X86.size("x64") == 0x2CC and CONTEXT_AMD64.size("x86") == 0x4D0
    ctx = CONTEXT.pack("x64", Rip=0x140001000, Rsp=0x14FF00, Xmm0={"Low": 1, "High": -1}, ContextFlags=0x10000B)
    v = CONTEXT.unpack("x64", ctx)
    assert v["Rip"] == 0x140001000 and v["Xmm0"] == {"Low": 1, "High": -1}
    assert v["FltSave"]["XmmRegisters"][0] == {"Low": 1, "High": -1}   # the union views the same bytes


def test_kuser_same_layout_both_arches():
    assert KUSER_SHARED_DATA.fields("x86") == KUSER_SHARED_DATA.fields("x64")


# ------------------------------------------------------------------------------------------------- hypothesis
_SCALAR_STRUCTS = [PEB, TEB, PEB_LDR_DATA, LDR_DATA_TABLE_ENTRY, RTL_USER_PROCESS_PARAMETERS, S.EXCEPTION_RECORD,
                   S.SYSTEM_INFO, S.STARTUPINFOW, S.MEMORY_BASIC_INFORMATION, S.RTL_CRITICAL_SECTION]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_SCALAR_STRUCTS), st.sampled_from(["x86", "x64"]), st.data())
def test_scalar_members_roundtrip(s, arch, data):
    fields = s.fields(arch)
    # scalar members that share no byte with another member (union alternatives would alias)
    ints = [(n, sz) for n, o, sz, t in fields if t in
            ("UCHAR", "USHORT", "ULONG", "ULONGLONG", "PVOID", "HANDLE", "SIZE_T", "ULONG_PTR")
            and not any(m != n and o2 < o + sz and o < o2 + sz2 for m, o2, sz2, _ in fields)]
    chosen = data.draw(st.lists(st.sampled_from(ints), unique=True, min_size=1, max_size=8))
    values = {n: data.draw(st.integers(0, (1 << (8 * sz)) - 1)) for n, sz in chosen}
    packed = s.pack(arch, **values)
    back = s.unpack(arch, packed)
    for n, v in values.items():
        assert back[n] == v
    # and through guest memory, member by member
    mem = Mem(size=0x2000)
    s.write(mem, mem.base, arch, **values)
    assert s.read(mem, mem.base, arch, *values) == values


# ------------------------------------------------------------------------------------------------- KUSER_SHARED_DATA
def _kuser(**kw):
    args = dict(system_time_100ns=133_000_000_000_000_000, interrupt_time_100ns=123_456_789,
                tick_count_ms=12_345, cookie=0xA5A5F00D, number_of_physical_pages=0x80000)
    args.update(kw)
    return build_kuser_shared_data(**args)


def test_build_kuser_shared_data():
    page = _kuser()
    assert len(page) == 4096
    v = KUSER_SHARED_DATA.unpack("x64", page)
    assert v["NtBuildNumber"] == 19045 and v["NtMajorVersion"] == 10 and v["NtMinorVersion"] == 0
    assert v["NtSystemRoot"] == "C:\\Windows"
    assert v["Cookie"] == 0xA5A5F00D
    assert v["NumberOfPhysicalPages"] == 0x80000
    assert v["TestRetInstruction"] == 0xC3
    assert v["ImageNumberLow"] == 0x14C and v["ImageNumberHigh"] == 0x8664
    assert v["NativeProcessorArchitecture"] == 9 and v["ProductTypeIsValid"] == 1
    st_ = v["SystemTime"]
    assert st_["LowPart"] | (st_["High1Time"] << 32) == 133_000_000_000_000_000
    assert st_["High1Time"] == st_["High2Time"]
    it = v["InterruptTime"]
    assert it["LowPart"] | (it["High1Time"] << 32) == 123_456_789
    assert v["TickCountMultiplier"] == 0x0FA00000                      # 15.625 ms per tick, 8.24 fixed point
    assert abs(kuser_tick_count_ms(page) - 12_345) < 16
    assert v["QpcBypassEnabled"] == 0 and v["QpcFrequency"] == 10_000_000
    assert [i for i, f in enumerate(v["ProcessorFeatures"]) if f] == sorted(DEFAULT_PROCESSOR_FEATURES)
    assert v["ActiveProcessorCount"] == 4 and v["ActiveGroupCount"] == 1
    assert v["NXSupportPolicy"] == 2
    assert page[KUSER_SHARED_DATA.size("x64"):] == bytes(4096 - KUSER_SHARED_DATA.size("x64"))
    custom = KUSER_SHARED_DATA.unpack("x64", _kuser(processor_features={39: 1}, nt_build=22631,
                                                    active_processor_count=8, nt_system_root="D:\\WIN"))
    assert [i for i, f in enumerate(custom["ProcessorFeatures"]) if f] == [39]
    assert custom["NtBuildNumber"] == 22631 and custom["ActiveProcessorCount"] == 8
    assert custom["NtSystemRoot"] == "D:\\WIN"


def test_update_kuser_times_order_and_values():
    class Recording(bytearray):
        def __setitem__(self, key, value):
            self.log.append(key.start)
            super().__setitem__(key, value)

    buf = Recording(_kuser())
    buf.log = []
    big = (7 << 32) | 0x1234
    update_kuser_times(buf, system_time_100ns=big, interrupt_time_100ns=big + 1, tick_count_ms=3_600_000)
    v = KUSER_SHARED_DATA.unpack("x64", bytes(buf))
    assert v["SystemTime"] == {"LowPart": 0x1234, "High1Time": 7, "High2Time": 7}
    assert v["InterruptTime"] == {"LowPart": 0x1235, "High1Time": 7, "High2Time": 7}
    assert kuser_tick_count_ms(bytes(buf)) == 3_600_000
    # KSYSTEM_TIME writer protocol: High2Time, LowPart, High1Time
    st_off = KUSER_SHARED_DATA.offset("x64", "SystemTime")
    i = buf.log.index(st_off + 8)
    assert buf.log[i:i + 3] == [st_off + 8, st_off, st_off + 4]
    # untouched fields survive
    assert v["Cookie"] == 0xA5A5F00D and v["NtBuildNumber"] == 19045
