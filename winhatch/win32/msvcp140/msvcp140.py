"""msvcp140.dll: the standard stream objects (std::cout, cerr, clog, cin and the wide wcout, wcerr, wclog, wcin)
as real constructed objects, and the member functions the header-inline code of MSVC's <iostream> calls.

The objects follow the MSVC ABI of Microsoft's STL (record layouts as clang's MSVC-ABI layout engine computes
them from the STL headers of MSVC 14.44, checked against what the inline code of a real MSVC-STL program reads;
see tests/win32/test_msvcp140.py):

    ios_base           x64 / x86: vfptr 0; _Stdstr 8/8; _Mystate 16/12; _Except 20/16; _Fmtfl 24/20;
                       _Prec 32/24; _Wide 40/32; _Arr 48/40; _Calls 56/44; _Ploc 64/48 (72/56 bytes)
    basic_ios<E>       ios_base, then _Mystrbuf 72/56, _Tiestr 80/60, _Fillch 88/64 (96/72 bytes)
    basic_ostream<E>   vbptr 0; vtordisp at the virtual base - 4; virtual base basic_ios at 16/8 (112/80 bytes)
    basic_istream<E>   vbptr 0; _Chcount 8; virtual base basic_ios at 24/24 (120/96 bytes)
    vbtable (??_8)     int32 [0, offset of the virtual base from the vbptr]
    basic_filebuf<E>   vfptr 0; _Gfirst, _Pfirst, _IGfirst, _IPfirst, _Gnext, _Pnext, _IGnext, _IPnext (pointers),
                       _Gcount, _Pcount (int), _IGcount, _IPcount, _Plocale, _Pcvt, _Mychar, _Wrotesome, _State,
                       _Closef, _Myfile (FILE *), _Set_eback, _Set_egptr (152/88 bytes)
    locale             _Ptr at 8/4 (16/8 bytes); locale::_Locimp: facet (vfptr, _Myrefs), _Facetvec,
                       _Facetcount, _Catmask, _Xparent, _Name (56/32 bytes)

Each stream's buffer is a basic_filebuf on the C runtime's (ucrtbase) stdin/stdout/stderr FILE, as msvcp140's
are; it keeps no buffer of its own (null get and put areas), so every character goes through its virtual
functions (overflow, xsputn, uflow, underflow, pbackfail, xsgetn, sync), which are functions of this DLL that
are not exported, served here through the C runtime's FILE layer (winhatch.win32.msvcrt.streams): output
interleaves with printf exactly. Virtual slots of basic_streambuf, in declaration order: 0 the deleting
destructor, 1 _Lock, 2 _Unlock, 3 overflow, 4 pbackfail, 5 showmanyc, 6 underflow, 7 uflow, 8 xsgetn,
9 xsputn, 10 seekoff, 11 seekpos, 12 setbuf, 13 sync, 14 imbue.

A stream buffer the program defines (basic_stringbuf of <sstream>, a user's streambuf) derives from this DLL's
basic_streambuf: the virtual functions it overrides run as guest code (thiscall) from the members here, the
others are basic_streambuf's own exports, served here. use_facet<ctype<char>> works: the global locale has no
facet table, so the STL's inline code asks ctype<char>::_Getcat for a new facet of the "C" locale.

What is not here stops loudly: other facets (num_put/num_get objects, numpunct, codecvt: their locale::id and
vftables are unimplemented data exports; the inserters and extractors here apply the "C" locale's rules
themselves), seeking (seekpos), exceptions() masks that would throw, ios_base callbacks, the /Zc:wchar_t-
(unsigned short) instantiations.
"""
from __future__ import annotations

import struct

from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, data_export, dll_init, internal_function
from winhatch.win32.msvcrt import runtime as R

DLL = "msvcp140.dll"
EOF_ = -1
WEOF = 0xFFFF

# ios_base flags (MSVC's _Iosb)
SKIPWS, UNITBUF, UPPERCASE, SHOWBASE, SHOWPOINT, SHOWPOS = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
LEFT, RIGHT, INTERNAL = 0x40, 0x80, 0x100
DEC, OCT, HEX, SCIENTIFIC, FIXED, BOOLALPHA = 0x200, 0x400, 0x800, 0x1000, 0x2000, 0x4000
ADJUSTFIELD, BASEFIELD, FLOATFIELD = 0x1C0, 0xE00, 0x3000
FMTMASK = 0xFFFF
EOFBIT, FAILBIT, BADBIT, HARDFAIL = 0x1, 0x2, 0x4, 0x10
STATMASK = 0x17


class Layout:
    """Field offsets of one architecture (see the module docstring)."""

    def __init__(self, is64: bool):
        self.P = P = 8 if is64 else 4
        self.ios = dict(vfptr=0, stdstr=8, state=16 if is64 else 12, except_=20 if is64 else 16,
                        fmtfl=24 if is64 else 20, prec=32 if is64 else 24, wide=40 if is64 else 32,
                        arr=48 if is64 else 40, calls=56 if is64 else 44, ploc=64 if is64 else 48,
                        strbuf=72 if is64 else 56, tie=80 if is64 else 60, fill=88 if is64 else 64)
        self.ostream_vbase = 16 if is64 else 8
        self.ostream_size = 112 if is64 else 80
        self.istream_vbase = 24
        self.istream_size = 120 if is64 else 96
        names = ("vfptr", "Gfirst", "Pfirst", "IGfirst", "IPfirst", "Gnext", "Pnext", "IGnext", "IPnext")
        self.fb = {n: i * P for i, n in enumerate(names)}
        o = 9 * P
        self.fb.update(Gcount=o, Pcount=o + 4)
        o += 8
        for n in ("IGcount", "IPcount", "Plocale", "Pcvt"):
            self.fb[n] = o
            o += P
        self.fb.update(Mychar=o, State=o + 4, Closef=o + 12, Myfile=o + 16, Set_eback=o + 16 + P,
                       Set_egptr=o + 16 + 2 * P)
        self.fb_size = o + 16 + 3 * P
        self.locale_size = 2 * P
        self.locimp_size = 56 if is64 else 32


LAYOUT = {True: Layout(True), False: Layout(False)}


# ------------------------------------------------------------------------------------- mangled names
def x86_name(name: str) -> str:
    """The x86 decoration of an x64 MSVC name: no __ptr64 (E) qualifiers, __thiscall members."""
    for a, b in (("SA_KPEAPEBV", "SAIPAPBV"), ("QEAA", "QAE"), ("MEBA", "MBE"), ("QEBA", "QBE"), ("UEAA", "UAE"),
                 ("MEAA", "MAE"), ("IEAA", "IAE"),
                 ("IEBA", "IBE"), ("PEAV", "PAV"), ("PEBV", "PBV"), ("AEAV", "AAV"), ("AEBV", "ABV"),
                 ("PEAD", "PAD"), ("PEBD", "PBD"), ("PEA_W", "PA_W"), ("PEB_W", "PB_W"), ("PEBX", "PBX"),
                 ("3PEAV", "3PAV"), ("PEAX", "PAX")):
        name = name.replace(a, b)
    return name.replace("@AEA", "@AA")   # a reference parameter (int &: AEAH on x64, AAH on x86)


def _arch_name(x64_name: str, is64: bool) -> str:
    return x64_name if is64 else x86_name(x64_name)


def _declare(x64_name: str, proto: str, fn, *, calls_guest: bool = True) -> None:
    """Serve an export under its x64 and x86 names. Handlers run deferred (calls_guest) by default: a stream
    operation may call the virtual functions of a stream buffer the program defines (a stringbuf)."""
    for n in dict.fromkeys((x64_name, x86_name(x64_name))):
        api(DLL, proto, calls_guest=calls_guest)(fn)
        api_mod._REGISTRY[-1].name = n


def _declare_plain(x64_name: str, proto: str, fn) -> None:
    """An export that never runs guest code (state accessors, locale bookkeeping): served inside the trap,
    without the deferral a guest call needs."""
    _declare(x64_name, proto, fn, calls_guest=False)


def _internal(name: str, proto: str, fn) -> None:
    """Serve an internal (not exported) function declared with internal_function."""
    api(DLL, proto)(fn)
    api_mod._REGISTRY[-1].name = name


# element types: (mangling letter, wide)
CHARS = (("D", False), ("_W", True))


def tmpl(cls: str, ch: str) -> str:
    return f"?$basic_{cls}@{ch}U?$char_traits@{ch}@std@@@std@@"


# the stream objects: export name (x64; x86 differs in the pointer ones), class, stream, wide
STREAMS = []
for _ch, _w in CHARS:
    _p = "w" if _w else ""
    for _n, _cls in (("cin", "istream"), ("cout", "ostream"), ("cerr", "ostream"), ("clog", "ostream")):
        STREAMS.append((_p + _n, _cls, _ch, _w))
FD = {"cin": 0, "cout": 1, "cerr": 2, "clog": 2}


def obj_name(name: str, cls: str, ch: str) -> str:
    return f"?{name}@std@@3V?$basic_{cls}@{ch}U?$char_traits@{ch}@std@@@1@A"


def ptr_name(name: str, cls: str, ch: str, is64: bool) -> str:
    return (f"?_Ptr_{name}@std@@3{'PEAV' if is64 else 'PAV'}?$basic_{cls}@{ch}U?$char_traits@{ch}@std@@@1@"
            f"{'EA' if is64 else 'A'}")


def vbtable_name(cls: str, ch: str) -> str:
    return f"??_8{tmpl(cls, ch)}7B@"


def vftable_name(cls: str, ch: str) -> str:
    return f"??_7{tmpl(cls, ch)}6B@"


SYNC = "?_Sync@ios_base@std@@0_NA"
INDEX = "?_Index@ios_base@std@@0HA"
BADOFF = "?_BADOFF@std@@3_JB"
CLOCPTR = {True: "?_Clocptr@_Locimp@locale@std@@0PEAV123@EA", False: "?_Clocptr@_Locimp@locale@std@@0PAV123@A"}
TABLE_SIZE = {True: "?table_size@?$ctype@D@std@@2_KB", False: "?table_size@?$ctype@D@std@@2IB"}

for _name, _cls, _ch, _w in STREAMS:
    data_export(DLL, obj_name(_name, _cls, _ch), 120)
    for _is64 in (True, False):
        data_export(DLL, ptr_name(_name, _cls, _ch, _is64), 8)
for _ch, _w in CHARS:
    for _cls in ("ostream", "istream"):
        data_export(DLL, vbtable_name(_cls, _ch), 8)
        data_export(DLL, vftable_name(_cls, _ch), 8)
# std::_Raise_handler (the handler stdext::exception::_Raise calls without C++ exceptions): a null function
# pointer, its initial value in msvcp140 (the zero-filled data is its value)
data_export(DLL, "?_Raise_handler@std@@3P6AXAEBVexception@stdext@@@ZEA", 8)
data_export(DLL, "?_Raise_handler@std@@3P6AXABVexception@stdext@@@ZA", 4)
data_export(DLL, SYNC, 1)
data_export(DLL, INDEX, 4)
data_export(DLL, BADOFF, 8)
for _is64 in (True, False):
    data_export(DLL, CLOCPTR[_is64], 8)
    data_export(DLL, TABLE_SIZE[_is64], 8)

# functions of the DLL that are not exported: basic_filebuf<E>'s virtual functions (vftable slot order)
FILEBUF_SLOTS = ("dtor", "_Lock", "_Unlock", "overflow", "pbackfail", "showmanyc", "underflow", "uflow", "xsgetn",
                 "xsputn", "seekoff", "seekpos", "setbuf", "sync", "imbue")


def fb_fn(ch: str, slot: str) -> str:
    return f"basic_filebuf<{'wchar_t' if ch == '_W' else 'char'}>::{slot}"


def stream_dtor(cls: str, ch: str) -> str:
    return f"basic_{cls}<{'wchar_t' if ch == '_W' else 'char'}>::`vector deleting destructor'"


for _ch, _w in CHARS:
    for _slot in FILEBUF_SLOTS:
        internal_function(DLL, fb_fn(_ch, _slot))   # the unserved ones stop as unimplemented APIs
    for _cls in ("ostream", "istream"):
        internal_function(DLL, stream_dtor(_cls, _ch))
internal_function(DLL, "locale::_Locimp::`scalar deleting destructor'")
internal_function(DLL, "ctype<char>::`scalar deleting destructor'")

# facets: locale::facet's vftable is [deleting destructor, _Incref, _Decref]; ctype<char> adds do_tolower,
# do_toupper, do_widen, do_narrow, each pair of overloads in reverse declaration order, as MSVC lays out
# overloaded virtual functions (checked against the slots the STL's inline code calls)
INCREF = "?_Incref@facet@locale@std@@UEAAXXZ"
DECREF = "?_Decref@facet@locale@std@@UEAAPEAV_Facet_base@3@XZ"
CT = "?$ctype@D@std@@"
CTYPE_SLOTS = (f"?do_tolower@{CT}MEBAPEBDPEADPEBD@Z", f"?do_tolower@{CT}MEBADD@Z",
               f"?do_toupper@{CT}MEBAPEBDPEADPEBD@Z", f"?do_toupper@{CT}MEBADD@Z",
               f"?do_widen@{CT}MEBAPEBDPEBD0PEAD@Z", f"?do_widen@{CT}MEBADD@Z",
               f"?do_narrow@{CT}MEBAPEBDPEBD0DPEAD@Z", f"?do_narrow@{CT}MEBADDD@Z")
CTYPE_ID = f"?id@{CT}2V0locale@2@A"
ID_CNT = "?_Id_cnt@id@locale@std@@0HA"
CTYPE_VFTABLE = f"??_7{CT}6B@"
data_export(DLL, CTYPE_ID, 8)
data_export(DLL, ID_CNT, 4)
data_export(DLL, CTYPE_VFTABLE, 11 * 8)


def stop(c, why: str) -> None:
    """Fail loudly, as an unimplemented API does: the process stops with STATUS_NOT_IMPLEMENTED."""
    from winhatch.kernel import events as ev
    from winhatch.kernel.ke.dispatcher import ProcessExit
    from winhatch.ntstatus import STATUS_NOT_IMPLEMENTED
    proc = c.proc
    where = proc.subsystem["images"].describe(c.ptr(c._sp))
    what = f"{DLL}!{c.name}"
    proc.subsystem.setdefault("unimplemented", []).append({"api": what, "caller": where})
    proc.stop_message = f"unimplemented: {what}: {why} (called from {where})"
    c.machine.events.emit(ev.API, "unimplemented", proc.pid, c.thread.tid, api=what, caller=where, reason=why)
    raise ProcessExit(STATUS_NOT_IMPLEMENTED)


# ------------------------------------------------------------------------------------- the DLL's state
class State:
    def __init__(self):
        self.filebufs: dict[int, tuple[bool, int]] = {}   # filebuf address -> (wide, fd)
        self.fb_vftable: dict[bool, int] = {}             # wide -> vftable address
        self.internal: dict[int, str] = {}                # internal function VA -> name
        self.exports: dict[str, int] = {}
        self.locimp = 0
        self.ctype_table = 0
        self.classic = 0


def _state(c) -> State:
    s = c.proc.subsystem.get("msvcp140")
    if s is None:
        s = c.proc.subsystem["msvcp140"] = State()
    return s


def _module(c):
    from winhatch.ldr import loader
    return loader.state_of(c.proc).by_name.get(DLL)


def export_addr(c, name: str) -> int:
    s = _state(c)
    a = s.exports.get(name)
    if a is None:
        m = _module(c)
        e = m.pe.exports.lookup(name)
        a = s.exports[name] = m.base + e.entry.rva
    return a


def _internal_addrs(c) -> dict[str, int]:
    m = _module(c)
    img = c.proc.subsystem["images"].find(m.base)
    return {name: m.base + rva for rva, name in (img.traps or {}).items()}


@dll_init(DLL)
def _msvcp140_init(c, base, reason, reserved):
    if reason != 1:
        return 1
    construct_streams(c)
    return 1


def construct_streams(c) -> None:
    """What msvcp140's static initialisers do: the global locale, a filebuf on each C stdio stream, the eight
    stream objects (vbtables, vftables, ios_base state, tie), the _Ptr_* pointers."""
    is64 = c.ptr_size == 8
    L = LAYOUT[is64]
    P = L.P
    s = _state(c)
    crt = R.state(c, R.UCRT)
    internal = _internal_addrs(c)
    s.internal = {a: n for n, a in internal.items()}
    put_ptr = c.write_ptr
    # the "C" locale's implementation and the locale objects that point at it
    locimp = R.alloc(c, L.locimp_size + 2)
    name = locimp + L.locimp_size
    c.write(name, b"C\0")
    lvt = R.alloc(c, 3 * P)          # its vftable: the scalar deleting destructor, facet's _Incref and _Decref
    put_ptr(locimp, lvt)
    put_ptr(lvt, internal["locale::_Locimp::`scalar deleting destructor'"])
    put_ptr(lvt + P, export_addr(c, _arch_name(INCREF, is64)))
    put_ptr(lvt + 2 * P, export_addr(c, _arch_name(DECREF, is64)))
    cvt = export_addr(c, CTYPE_VFTABLE)
    put_ptr(cvt, internal["ctype<char>::`scalar deleting destructor'"])
    for i, n in enumerate((INCREF, DECREF) + CTYPE_SLOTS, start=1):
        put_ptr(cvt + i * P, export_addr(c, _arch_name(n, is64)))
    s.locimp = locimp
    table = R.alloc(c, 257 * 2)                    # the "C" locale's classification (the CRT's _ctype table)
    from winhatch.win32.msvcrt.startup import ctype_table_bytes
    c.write(table, ctype_table_bytes())
    s.ctype_table = table + 2
    s.classic = R.alloc(c, 2 * P)
    c.write_u32(locimp + P, 1)                      # _Myrefs: the global locale's reference
    put_ptr(locimp + 2 * P, 0)                      # _Facetvec: no facets
    put_ptr(locimp + 3 * P, 0)                      # _Facetcount
    c.write_u32(locimp + 4 * P, 0x3F)               # _Catmask: locale::all
    c.write(locimp + 4 * P + 4, b"\x01")            # _Xparent
    put_ptr(locimp + (40 if is64 else 24), name)    # _Name._Myptr
    put_ptr(export_addr(c, CLOCPTR[is64]), locimp)
    c.write(export_addr(c, SYNC), b"\x01")
    c.write_u32(export_addr(c, INDEX), 0)
    c.write_u64(export_addr(c, BADOFF), -1)
    (c.write_u64 if is64 else c.write_u32)(export_addr(c, TABLE_SIZE[is64]), 256)

    put_ptr(s.classic + P, locimp)

    def new_locale() -> int:
        loc = R.alloc(c, L.locale_size)
        put_ptr(loc + P, locimp)
        c.write_u32(locimp + P, c.u32(locimp + P) + 1)
        return loc

    # vbtables and the streams' vftables (one slot: the vector deleting destructor)
    for ch, wide in CHARS:
        for cls, vb in (("ostream", L.ostream_vbase), ("istream", L.istream_vbase)):
            c.write(export_addr(c, vbtable_name(cls, ch)), struct.pack("<ii", 0, vb))
            put_ptr(export_addr(c, vftable_name(cls, ch)), internal[stream_dtor(cls, ch)])
        vt = R.alloc(c, len(FILEBUF_SLOTS) * P)
        for i, slot in enumerate(FILEBUF_SLOTS):
            put_ptr(vt + i * P, internal[fb_fn(ch, slot)])
        s.fb_vftable[wide] = vt
    objs = {}
    for stdstr, (name_, cls, ch, wide) in enumerate(STREAMS, start=1):
        fd = FD[name_.lstrip("w")]
        fb = R.alloc(c, L.fb_size)
        f = L.fb
        put_ptr(fb, s.fb_vftable[wide])
        for a, b in (("IGfirst", "Gfirst"), ("IPfirst", "Pfirst"), ("IGnext", "Gnext"), ("IPnext", "Pnext"),
                     ("IGcount", "Gcount"), ("IPcount", "Pcount")):
            put_ptr(fb + f[a], fb + f[b])             # basic_streambuf::_Init(): the areas are its own fields
        put_ptr(fb + f["Plocale"], new_locale())
        put_ptr(fb + f["Myfile"], crt.iob + fd * crt.fsize)
        s.filebufs[fb] = (wide, fd)
        obj = export_addr(c, obj_name(name_, cls, ch))
        vb = L.ostream_vbase if cls == "ostream" else L.istream_vbase
        put_ptr(obj, export_addr(c, vbtable_name(cls, ch)))
        c.write_u32(obj + vb - 4, 0)                  # vtordisp
        ios = obj + vb
        o = L.ios
        put_ptr(ios + o["vfptr"], export_addr(c, vftable_name(cls, ch)))
        put_ptr(ios + o["stdstr"], stdstr)
        c.write_u32(ios + o["state"], 0)
        c.write_u32(ios + o["except_"], 0)
        c.write_u32(ios + o["fmtfl"], SKIPWS | DEC | (UNITBUF if name_.lstrip("w") == "cerr" else 0))
        c.write_u64(ios + o["prec"], 6)
        c.write_u64(ios + o["wide"], 0)
        put_ptr(ios + o["arr"], 0)
        put_ptr(ios + o["calls"], 0)
        put_ptr(ios + o["ploc"], new_locale())
        put_ptr(ios + o["strbuf"], fb)
        put_ptr(ios + o["tie"], 0)
        c.write(ios + o["fill"], b" \0" if wide else b" ")
        objs[name_] = obj
        put_ptr(export_addr(c, ptr_name(name_, cls, ch, is64)), obj)
    init_base_vftables(c)
    # cin and cerr are tied to cout (wcin and wcerr to wcout)
    for p in ("", "w"):
        for n in ("cin", "cerr"):
            put_ptr(ios_of(c, objs[p + n]) + L.ios["tie"], objs[p + "cout"])


# ------------------------------------------------------------------------------------- object access
def ios_of(c, obj: int) -> int:
    """The basic_ios virtual base of a basic_ostream/basic_istream at obj (through its vbtable)."""
    vbt = c.ptr(obj)
    return obj + struct.unpack("<i", c.read(vbt + 4, 4))[0]


def _L(c) -> Layout:
    return LAYOUT[c.ptr_size == 8]


def _i64(c, a: int) -> int:
    return struct.unpack("<q", c.read(a, 8))[0]


def _get(c, ios: int, field: str) -> int:
    o = _L(c).ios[field]
    if field in ("prec", "wide"):
        return _i64(c, ios + o)
    if field in ("strbuf", "tie", "ploc", "stdstr", "arr", "calls"):
        return c.ptr(ios + o)
    return c.u32(ios + o)


def _set(c, ios: int, field: str, v: int) -> None:
    o = _L(c).ios[field]
    if field in ("prec", "wide"):
        c.write_u64(ios + o, v)
    elif field in ("strbuf", "tie"):
        c.write_ptr(ios + o, v)
    else:
        c.write_u32(ios + o, v)


def _fill(c, ios: int, wide: bool) -> int:
    o = _L(c).ios["fill"]
    return struct.unpack_from("<H", c.read(ios + o, 2))[0] if wide else c.read(ios + o, 1)[0]


def clear_state(c, ios: int, state: int, reraise: bool = False) -> None:
    """basic_ios::clear: the new state (badbit added when there is no stream buffer); a state that the
    exceptions() mask selects would throw ios_base::failure, which is not implemented here."""
    state &= STATMASK
    if not _get(c, ios, "strbuf"):
        state |= BADBIT
    _set(c, ios, "state", state)
    if state & _get(c, ios, "except_"):
        stop(c, "std::ios_base::failure (a stream state selected by exceptions())")


def setstate(c, ios: int, bits: int) -> None:
    if bits:
        clear_state(c, ios, _get(c, ios, "state") | bits)


# ------------------------------------------------------------------------------------- the filebufs
def _stream(c, fd: int):
    from winhatch.win32.msvcrt import streams as stdio
    crt = R.state(c, R.UCRT)
    st = crt.streams.get(crt.iob + fd * crt.fsize)
    return crt, st, stdio


def _encode(wide: bool, chars) -> bytes | None:
    """Characters as the C locale's code conversion writes them (a wide character above 0xFF has none)."""
    if not wide:
        return bytes(chars)
    if any(ch > 0xFF for ch in chars):
        return None
    return bytes(chars)


def fb_write(c, fb: int, chars: list[int]) -> int:
    """Write through the C runtime's FILE: the number of characters written."""
    wide, fd = _state(c).filebufs[fb]
    crt, st, stdio = _stream(c, fd)
    data = _encode(wide, chars)
    if st is None or data is None:
        return 0
    n = stdio.write(c, crt, st, data)
    stdio.end_of_call(c, crt, st)
    return len(chars) if n == len(data) else 0


def fb_getc(c, fb: int, consume: bool) -> int:
    wide, fd = _state(c).filebufs[fb]
    crt, st, stdio = _stream(c, fd)
    if st is None:
        return WEOF if wide else EOF_
    ch = stdio.getc(c, crt, st)
    if ch < 0:
        return WEOF if wide else EOF_
    if not consume:
        stdio.ungetc(c, crt, st, ch)
    return ch


def _fb_overflow(c, this, ch):
    wide = _state(c).filebufs.get(this, (False,))[0]
    eof = WEOF if wide else EOF_
    ch &= 0xFFFF if wide else 0xFFFFFFFF
    if ch == (eof & (0xFFFF if wide else 0xFFFFFFFF)):
        return 0   # traits::not_eof(eof)
    return ch if fb_write(c, this, [ch]) == 1 else eof


def _fb_xsputn(c, this, ptr, n):
    wide = _state(c).filebufs[this][0]
    n = _s64(c, n)
    if n <= 0:
        return 0
    raw = c.read(ptr, n * (2 if wide else 1))
    chars = list(struct.unpack(f"<{n}H", raw)) if wide else list(raw)
    return fb_write(c, this, chars)


def _fb_sync(c, this):
    wide, fd = _state(c).filebufs[this]
    crt, st, stdio = _stream(c, fd)
    if st is None:
        return 0
    return 0 if stdio.flush(c, crt, st) == 0 else -1


def _fb_underflow(c, this):
    return fb_getc(c, this, False) & 0xFFFFFFFF


def _fb_uflow(c, this):
    return fb_getc(c, this, True) & 0xFFFFFFFF


def _fb_pbackfail(c, this, ch):
    wide, fd = _state(c).filebufs[this]
    eof = WEOF if wide else EOF_
    if (ch & 0xFFFFFFFF) == (eof & 0xFFFFFFFF):
        return eof & 0xFFFFFFFF
    crt, st, stdio = _stream(c, fd)
    if st is None or stdio.ungetc(c, crt, st, ch & 0xFF) < 0:
        return eof & 0xFFFFFFFF
    return ch


def _fb_xsgetn(c, this, ptr, n):
    wide = _state(c).filebufs[this][0]
    n = _s64(c, n)
    out = []
    while len(out) < n:
        ch = fb_getc(c, this, True)
        if ch in (EOF_, WEOF if wide else EOF_):
            break
        out.append(ch)
    c.write(ptr, struct.pack(f"<{len(out)}H", *out) if wide else bytes(out))
    return len(out)


def _fb_showmanyc(c, this):
    return 0


def _fb_lock(c, this):
    """basic_filebuf::_Lock/_Unlock lock the FILE (_lock_file/_unlock_file), which winhatch's C runtime
    (winhatch.win32.msvcrt.process) also leaves as no-ops: each stdio call is atomic under its scheduler."""
    return 0


def _s64(c, v: int) -> int:
    """A streamsize (long long on both architectures) as a signed value."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


for _ch, _w in CHARS:
    E = "wchar_t" if _w else "char"
    I = "unsigned short" if _w else "int"
    _internal(fb_fn(_ch, "overflow"), f"int __thiscall overflow(void *this_, {I} ch)", _fb_overflow)
    _internal(fb_fn(_ch, "xsputn"), f"__int64 __thiscall xsputn(void *this_, const void *p, __int64 n)", _fb_xsputn)
    _internal(fb_fn(_ch, "sync"), "int __thiscall sync(void *this_)", _fb_sync)
    _internal(fb_fn(_ch, "underflow"), "int __thiscall underflow(void *this_)", _fb_underflow)
    _internal(fb_fn(_ch, "uflow"), "int __thiscall uflow(void *this_)", _fb_uflow)
    _internal(fb_fn(_ch, "pbackfail"), f"int __thiscall pbackfail(void *this_, {I} ch)", _fb_pbackfail)
    _internal(fb_fn(_ch, "xsgetn"), "__int64 __thiscall xsgetn(void *this_, void *p, __int64 n)", _fb_xsgetn)
    _internal(fb_fn(_ch, "_Lock"), "void __thiscall _Lock(void *this_)", _fb_lock)
    _internal(fb_fn(_ch, "_Unlock"), "void __thiscall _Unlock(void *this_)", _fb_lock)
    _internal(fb_fn(_ch, "showmanyc"), "__int64 __thiscall showmanyc(void *this_)", _fb_showmanyc)


# ------------------------------------------------------------------------------------- streambuf calls
_PY_SLOTS = {"overflow": _fb_overflow, "xsputn": _fb_xsputn, "sync": _fb_sync, "underflow": _fb_underflow,
             "uflow": _fb_uflow, "pbackfail": _fb_pbackfail, "xsgetn": _fb_xsgetn}


_RET64 = ("xsputn", "xsgetn", "showmanyc")


def sb_virtual(c, sb: int, slot: str, *args):
    """Call a virtual function of the stream buffer at sb through its vftable: this DLL's functions (the
    standard streams' filebufs, basic_streambuf's own virtual functions) are served here directly, the
    program's (a stringbuf's overrides) run as guest code."""
    s = _state(c)
    target = c.ptr(c.ptr(sb) + FILEBUF_SLOTS.index(slot) * c.ptr_size)
    name = s.internal.get(target)
    if name is not None and sb in s.filebufs and name.rpartition("::")[2] in _PY_SLOTS:
        return _PY_SLOTS[slot](c, sb, *args)
    base = _base_virtuals(c).get(target)
    if base is not None:
        return base(c, sb, *args)
    return c.machine.dispatcher.call_guest(c.thread, target, [sb, *args], stdcall=False, thiscall=True,
                                           ret64=slot in _RET64)


def _areas(c, sb: int, put: bool):
    """(next pointer address, count address) of the put or get area, through the indirect pointers."""
    f = _L(c).fb
    return c.ptr(sb + f["IPnext" if put else "IGnext"]), c.ptr(sb + f["IPcount" if put else "IGcount"])


def sputc(c, sb: int, ch: int, wide: bool) -> int:
    nxt_a, cnt_a = _areas(c, sb, True)
    nxt = c.ptr(nxt_a)
    if nxt and struct.unpack("<i", c.read(cnt_a, 4))[0] > 0:
        c.write(nxt, struct.pack("<H", ch) if wide else bytes([ch & 0xFF]))
        c.write_ptr(nxt_a, nxt + (2 if wide else 1))
        c.write_u32(cnt_a, c.u32(cnt_a) - 1)
        return ch
    return _signed(sb_virtual(c, sb, "overflow", ch), wide)


def _signed(v: int, wide: bool) -> int:
    if wide:
        return v & 0xFFFF
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def sgetc(c, sb: int, wide: bool, consume: bool) -> int:
    nxt_a, cnt_a = _areas(c, sb, False)
    nxt = c.ptr(nxt_a)
    if nxt and struct.unpack("<i", c.read(cnt_a, 4))[0] > 0:
        ch = struct.unpack("<H", c.read(nxt, 2))[0] if wide else c.read(nxt, 1)[0]
        if consume:
            c.write_ptr(nxt_a, nxt + (2 if wide else 1))
            c.write_u32(cnt_a, c.u32(cnt_a) - 1)
        return ch
    return _signed(sb_virtual(c, sb, "uflow" if consume else "underflow"), wide)


def sputn(c, sb: int, ptr: int, n: int) -> int:
    return _s64(c, sb_virtual(c, sb, "xsputn", ptr, n))


def eof_of(wide: bool) -> int:
    return WEOF if wide else EOF_


# ------------------------------------------------------------------------------------- ostream members
def sentry_ok(c, os_: int) -> bool:
    """basic_ostream::sentry: the stream is good after flushing its tied stream."""
    ios = ios_of(c, os_)
    if _get(c, ios, "state"):
        setstate(c, ios, FAILBIT)
        return False
    tie = _get(c, ios, "tie")
    if tie and tie != os_:
        ostream_flush(c, tie)
    return _get(c, ios, "state") == 0


def osfx(c, os_: int) -> None:
    """basic_ostream::_Osfx: a unitbuf stream is flushed after each output operation."""
    ios = ios_of(c, os_)
    if _get(c, ios, "state") == 0 and _get(c, ios, "fmtfl") & UNITBUF:
        sb = _get(c, ios, "strbuf")
        if sb and sb_virtual(c, sb, "sync") & 0xFFFFFFFF == 0xFFFFFFFF:
            setstate(c, ios, BADBIT)


def ostream_flush(c, os_: int) -> int:
    ios = ios_of(c, os_)
    sb = _get(c, ios, "strbuf")
    if sb and _get(c, ios, "state") == 0:
        if sb_virtual(c, sb, "sync") & 0xFFFFFFFF == 0xFFFFFFFF:
            setstate(c, ios, BADBIT)
    return os_


def put_padded(c, os_: int, text: str, wide: bool, numeric: bool = True) -> None:
    """num_put's output: `text` padded to width() with the fill character (left, right or internal after
    the sign / 0x prefix), width reset to 0."""
    ios = ios_of(c, os_)
    width = _get(c, ios, "wide")
    flags = _get(c, ios, "fmtfl")
    fill = _fill(c, ios, wide)
    chars = [ord(ch) for ch in text]
    pad = max(0, width - len(chars))
    adjust = flags & ADJUSTFIELD
    if pad:
        if adjust == LEFT:
            chars = chars + [fill] * pad
        elif adjust == INTERNAL and numeric:
            k = 0
            if chars and chr(chars[0]) in "+-":
                k = 1
            if len(chars) >= k + 2 and chr(chars[k]) == "0" and chr(chars[k + 1]) in "xX":
                k += 2
            chars = chars[:k] + [fill] * pad + chars[k:]
        else:
            chars = [fill] * pad + chars
    _set(c, ios, "wide", 0)
    sb = _get(c, ios, "strbuf")
    if sb in _state(c).filebufs:
        ok = (fb_write(c, sb, chars) if chars else 0) == len(chars)
    else:
        ok = all(sputc(c, sb, ch, wide) != eof_of(wide) for ch in chars)
    if not ok:
        setstate(c, ios, BADBIT)


def format_int(v: int, flags: int) -> str:
    base = flags & BASEFIELD
    if base == OCT:
        s = format(v, "o")
        if flags & SHOWBASE and v:
            s = "0" + s
    elif base == HEX:
        s = format(v, "X" if flags & UPPERCASE else "x")
        if flags & SHOWBASE and v:
            s = ("0X" if flags & UPPERCASE else "0x") + s
    else:
        s = str(v)
        if flags & SHOWPOS and v >= 0:
            s = "+" + s
    return s


def format_float(c, v: float, flags: int, prec: int) -> str:
    from winhatch.win32.msvcrt import format as F
    ff = flags & FLOATFIELD
    conv = {FIXED: "f", SCIENTIFIC: "e", FIXED | SCIENTIFIC: "a"}.get(ff, "g")
    if flags & UPPERCASE:
        conv = conv.upper()
    spec = "%" + ("+" if flags & SHOWPOS else "") + ("#" if flags & SHOWPOINT else "")
    if ff == FIXED | SCIENTIFIC:   # hexfloat: no precision ([facet.num.put.virtuals])
        fmt, args = spec + conv, [v]
    else:                          # precision() as the conversion's precision (a negative one: the default)
        fmt, args = spec + ".*" + conv, [prec if -0x80000000 <= prec <= 0x7FFFFFFF else -1, v]
    out = F.format_printf(fmt.encode(), _Args(args), wide=False, flavor=F.Flavor.UCRT, ptr_size=c.ptr_size)
    return out.decode("latin-1")


class _Args:
    def __init__(self, vals):
        self.vals = list(vals)

    def int32(self):
        return self.vals.pop(0)

    int64 = ptr = int32

    def double(self):
        return float(self.vals.pop(0))


def insert_number(c, this: int, text_fn, wide: bool) -> int:
    if sentry_ok(c, this):
        ios = ios_of(c, this)
        put_padded(c, this, text_fn(ios), wide)
    osfx(c, this)
    return this


def _int_inserter(signed: bool, bits: int):
    def fn(c, this, v):
        v &= (1 << bits) - 1
        if signed and v >> (bits - 1):
            v -= 1 << bits
        wide = _wide_of(c)

        def text(ios):
            flags = _get(c, ios, "fmtfl")
            x = v
            if x < 0 and flags & BASEFIELD in (OCT, HEX):   # num_put prints the unsigned bits in oct/hex
                x &= (1 << max(bits, 32)) - 1
            return format_int(x, flags)
        return insert_number(c, this, text, wide)
    return fn


def _double_inserter(c, this, v):
    wide = _wide_of(c)
    return insert_number(c, this, lambda ios: format_float(c, float(v), _get(c, ios, "fmtfl"),
                                                           _get(c, ios, "prec")), wide)


def _bool_inserter(c, this, v):
    wide = _wide_of(c)
    v &= 0xFF

    def text(ios):
        if _get(c, ios, "fmtfl") & BOOLALPHA:
            return "true" if v else "false"    # numpunct<char> of the "C" locale
        return format_int(1 if v else 0, _get(c, ios, "fmtfl"))
    return insert_number(c, this, text, wide)


def _ptr_inserter(c, this, v):
    wide = _wide_of(c)
    return insert_number(c, this, lambda ios: format(v, "0%dX" % (2 * c.ptr_size)), wide)


def _wide_of(c) -> bool:
    return "_W@" in c.name


def _put(c, this, ch):
    wide = _wide_of(c)
    ch &= 0xFFFF if wide else 0xFF
    ios = ios_of(c, this)
    if not sentry_ok(c, this):
        setstate(c, ios, BADBIT)
    elif sputc(c, _get(c, ios, "strbuf"), ch, wide) == eof_of(wide):
        setstate(c, ios, BADBIT)
    osfx(c, this)
    return this


def _write(c, this, ptr, n):
    ios = ios_of(c, this)
    n = _s64(c, n)
    if not sentry_ok(c, this):
        setstate(c, ios, BADBIT)
    elif n > 0 and sputn(c, _get(c, ios, "strbuf"), ptr, n) != n:
        setstate(c, ios, BADBIT)
    osfx(c, this)
    return this


def _flush(c, this):
    return ostream_flush(c, this)


def _osfx(c, this):
    osfx(c, this)
    return 0


for _ch, _w in CHARS:
    OS = tmpl("ostream", _ch)
    E = "_W" if _w else "D"
    for _code, _signed_, _bits in (("F", True, 16), ("G", False, 16), ("H", True, 32), ("I", False, 32),
                                   ("J", True, 32), ("K", False, 32), ("_J", True, 64), ("_K", False, 64)):
        ctype = "__int64" if _bits == 64 else "int"
        _declare(f"??6{OS}QEAAAEAV01@{_code}@Z", f"void * __thiscall operator_shl(void *this_, {ctype} v)",
                 _int_inserter(_signed_, _bits))
    _declare(f"??6{OS}QEAAAEAV01@N@Z", "void * __thiscall operator_shl(void *this_, double v)", _double_inserter)
    _declare(f"??6{OS}QEAAAEAV01@O@Z", "void * __thiscall operator_shl(void *this_, double v)", _double_inserter)
    _declare(f"??6{OS}QEAAAEAV01@M@Z", "void * __thiscall operator_shl(void *this_, float v)", _double_inserter)
    _declare(f"??6{OS}QEAAAEAV01@_N@Z", "void * __thiscall operator_shl(void *this_, int v)", _bool_inserter)
    _declare(f"??6{OS}QEAAAEAV01@PEBX@Z", "void * __thiscall operator_shl(void *this_, void *v)", _ptr_inserter)
    _declare(f"?put@{OS}QEAAAEAV12@{E}@Z", "void * __thiscall put(void *this_, int ch)", _put)
    _declare(f"?write@{OS}QEAAAEAV12@PEB{E}_J@Z", "void * __thiscall write(void *this_, const void *p, __int64 n)",
             _write)
    _declare(f"?flush@{OS}QEAAAEAV12@XZ", "void * __thiscall flush(void *this_)", _flush)
    _declare(f"?_Osfx@{OS}QEAAXXZ", "void __thiscall _Osfx(void *this_)", _osfx)


# ------------------------------------------------------------------------------------- ios_base / basic_ios
def _good(c, this):
    return int(_get(c, this, "state") == 0)


def _fail(c, this):
    return int(bool(_get(c, this, "state") & (FAILBIT | BADBIT | HARDFAIL)))


def _bad(c, this):
    return int(bool(_get(c, this, "state") & (BADBIT | HARDFAIL)))


def _eof(c, this):
    return int(bool(_get(c, this, "state") & EOFBIT))


def _rdstate(c, this):
    return _get(c, this, "state")


def _clear2(c, this, state, reraise):
    clear_state(c, this, state, bool(reraise & 0xFF))
    return 0


def _clear1(c, this, state):
    clear_state(c, this, state)
    return 0


def _setstate2(c, this, bits, reraise):
    setstate(c, this, bits)
    return 0


def _flags0(c, this):
    return _get(c, this, "fmtfl")


def _flags1(c, this, v):
    old = _get(c, this, "fmtfl")
    _set(c, this, "fmtfl", v & FMTMASK)
    return old


def _setf1(c, this, v):
    old = _get(c, this, "fmtfl")
    _set(c, this, "fmtfl", old | (v & FMTMASK))
    return old


def _setf2(c, this, v, mask):
    old = _get(c, this, "fmtfl")
    _set(c, this, "fmtfl", (old & ~mask) | (v & mask & FMTMASK))
    return old


def _unsetf(c, this, mask):
    _set(c, this, "fmtfl", _get(c, this, "fmtfl") & ~mask)
    return 0


def _prec0(c, this):
    return _get(c, this, "prec")


def _prec1(c, this, v):
    old = _get(c, this, "prec")
    _set(c, this, "prec", v)
    return old


def _width0(c, this):
    return _get(c, this, "wide")


def _width1(c, this, v):
    old = _get(c, this, "wide")
    _set(c, this, "wide", v)
    return old


def _widen(c, this, ch):
    return ch & 0xFF if not _wide_of(c) else ch & 0xFF   # ctype<E>::widen of the "C" locale


def _narrow(c, this, ch, dflt):
    ch &= 0xFFFF
    return ch if ch < 0x100 else dflt & 0xFF


def _fill0(c, this):
    return _fill(c, this, _wide_of(c))


def _fill1(c, this, ch):
    wide = _wide_of(c)
    old = _fill(c, this, wide)
    o = _L(c).ios["fill"]
    c.write(this + o, struct.pack("<H", ch & 0xFFFF) if wide else bytes([ch & 0xFF]))
    return old


def _rdbuf0(c, this):
    return _get(c, this, "strbuf")


def _tie0(c, this):
    return _get(c, this, "tie")


def _tie1(c, this, new):
    old = _get(c, this, "tie")
    _set(c, this, "tie", new)
    return old


def _sync_with_stdio(c, sync):
    a = export_addr(c, SYNC)
    old = c.read(a, 1)[0]
    c.write(a, bytes([1 if sync & 0xFF else 0]))
    return old


IOS = "ios_base@std@@"
_declare_plain(f"?good@{IOS}QEBA_NXZ", "int __thiscall good(void *this_)", _good)
_declare_plain(f"?fail@{IOS}QEBA_NXZ", "int __thiscall fail(void *this_)", _fail)
_declare_plain(f"??7{IOS}QEBA_NXZ", "int __thiscall operator_not(void *this_)", _fail)
_declare_plain(f"??B{IOS}QEBA_NXZ", "int __thiscall operator_bool(void *this_)", lambda c, t: 1 - _fail(c, t))
_declare_plain(f"?bad@{IOS}QEBA_NXZ", "int __thiscall bad(void *this_)", _bad)
_declare_plain(f"?eof@{IOS}QEBA_NXZ", "int __thiscall eof(void *this_)", _eof)
_declare_plain(f"?rdstate@{IOS}QEBAHXZ", "int __thiscall rdstate(void *this_)", _rdstate)
_declare_plain(f"?clear@{IOS}QEAAXH_N@Z", "void __thiscall clear(void *this_, int state, int reraise)", _clear2)
_declare_plain(f"?clear@{IOS}QEAAXH@Z", "void __thiscall clear(void *this_, int state)", _clear1)
_declare_plain(f"?clear@{IOS}QEAAXI@Z", "void __thiscall clear(void *this_, int state)", _clear1)
_declare_plain(f"?setstate@{IOS}QEAAXH_N@Z", "void __thiscall setstate(void *this_, int state, int reraise)", _setstate2)
_declare_plain(f"?setstate@{IOS}QEAAXH@Z", "void __thiscall setstate(void *this_, int state)",
         lambda c, t, b: _setstate2(c, t, b, 0))
_declare_plain(f"?flags@{IOS}QEBAHXZ", "int __thiscall flags(void *this_)", _flags0)
_declare_plain(f"?flags@{IOS}QEAAHH@Z", "int __thiscall flags(void *this_, int v)", _flags1)
_declare_plain(f"?setf@{IOS}QEAAHH@Z", "int __thiscall setf(void *this_, int v)", _setf1)
_declare_plain(f"?setf@{IOS}QEAAHHH@Z", "int __thiscall setf(void *this_, int v, int mask)", _setf2)
_declare_plain(f"?unsetf@{IOS}QEAAXH@Z", "void __thiscall unsetf(void *this_, int mask)", _unsetf)
_declare_plain(f"?precision@{IOS}QEBA_JXZ", "__int64 __thiscall precision(void *this_)", _prec0)
_declare_plain(f"?precision@{IOS}QEAA_J_J@Z", "__int64 __thiscall precision(void *this_, __int64 v)", _prec1)
_declare_plain(f"?width@{IOS}QEBA_JXZ", "__int64 __thiscall width(void *this_)", _width0)
_declare_plain(f"?width@{IOS}QEAA_J_J@Z", "__int64 __thiscall width(void *this_, __int64 v)", _width1)
_declare_plain(f"?sync_with_stdio@{IOS}SA_N_N@Z", "int __cdecl sync_with_stdio(int sync)", _sync_with_stdio)

for _ch, _w in CHARS:
    BI = tmpl("ios", _ch)
    SB = tmpl("streambuf", _ch)
    OS = tmpl("ostream", _ch)
    E = "_W" if _w else "D"
    _declare_plain(f"?clear@{BI}QEAAXH_N@Z", "void __thiscall clear(void *this_, int state, int reraise)", _clear2)
    _declare_plain(f"?clear@{BI}QEAAXI@Z", "void __thiscall clear(void *this_, int state)", _clear1)
    _declare_plain(f"?setstate@{BI}QEAAXH_N@Z", "void __thiscall setstate(void *this_, int state, int reraise)",
             _setstate2)
    _declare_plain(f"?setstate@{BI}QEAAXI@Z", "void __thiscall setstate(void *this_, int state)",
             lambda c, t, b: _setstate2(c, t, b, 0))
    _declare_plain(f"?widen@{BI}QEBA{E}D@Z", "int __thiscall widen(void *this_, int ch)", _widen)
    _declare_plain(f"?narrow@{BI}QEBAD{E}D@Z", "int __thiscall narrow(void *this_, int ch, int dflt)", _narrow)
    _declare_plain(f"?fill@{BI}QEBA{E}XZ", "int __thiscall fill(void *this_)", _fill0)
    _declare_plain(f"?fill@{BI}QEAA{E}{E}@Z", "int __thiscall fill(void *this_, int ch)", _fill1)
    _declare_plain(f"?rdbuf@{BI}QEBAPEAV?$basic_streambuf@{E}U?$char_traits@{E}@std@@@2@XZ",
             "void * __thiscall rdbuf(void *this_)", _rdbuf0)
    _declare_plain(f"?tie@{BI}QEBAPEAV?$basic_ostream@{E}U?$char_traits@{E}@std@@@2@XZ",
             "void * __thiscall tie(void *this_)", _tie0)
    _declare_plain(f"?tie@{BI}QEAAPEAV?$basic_ostream@{E}U?$char_traits@{E}@std@@@2@PEAV32@@Z",
             "void * __thiscall tie(void *this_, void *os)", _tie1)
    # basic_streambuf's public members
    _declare(f"?sputc@{SB}QEAAH{E}@Z" if not _w else f"?sputc@{SB}QEAAG_W@Z",
             "int __thiscall sputc(void *this_, int ch)",
             (lambda w: lambda c, t, ch: sputc(c, t, ch & (0xFFFF if w else 0xFF), w) & 0xFFFFFFFF)(_w))
    for _nm, _consume in (("sgetc", False), ("sbumpc", True)):
        _declare(f"?{_nm}@{SB}QEAA{'G' if _w else 'H'}XZ", f"int __thiscall {_nm}(void *this_)",
                 (lambda w, k: lambda c, t: sgetc(c, t, w, k) & 0xFFFFFFFF)(_w, _consume))

    def _snextc(c, t, w=_w):
        if sgetc(c, t, w, True) == eof_of(w):
            return eof_of(w) & 0xFFFFFFFF
        return sgetc(c, t, w, False) & 0xFFFFFFFF
    _declare(f"?snextc@{SB}QEAA{'G' if _w else 'H'}XZ", "int __thiscall snextc(void *this_)", _snextc)
    _declare(f"?sputn@{SB}QEAA_JPEB{E}_J@Z", "__int64 __thiscall sputn(void *this_, const void *p, __int64 n)",
             lambda c, t, p, n: sputn(c, t, p, n))
    _declare(f"?pubsync@{SB}QEAAHXZ", "int __thiscall pubsync(void *this_)",
             lambda c, t: sb_virtual(c, t, "sync"))


# ------------------------------------------------------------------------------------- istream members
def ipfx(c, this: int, noskip: bool, wide: bool) -> bool:
    """basic_istream::_Ipfx: flush the tied stream; unless noskip (or skipws is off) skip white space;
    false (and failbit) when the stream is not good or the input ended."""
    ios = ios_of(c, this)
    if _get(c, ios, "state"):
        setstate(c, ios, FAILBIT)
        return False
    tie = _get(c, ios, "tie")
    if tie:
        ostream_flush(c, tie)
    if not noskip and _get(c, ios, "fmtfl") & SKIPWS:
        sb = _get(c, ios, "strbuf")
        for _ in range(1 << 30):
            ch = sgetc(c, sb, wide, False)
            if ch == eof_of(wide):
                setstate(c, ios, EOFBIT | FAILBIT)
                return False
            if ch not in (0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D):   # ctype<E>::is(space) of the "C" locale
                break
            sgetc(c, sb, wide, True)
    return _get(c, ios, "state") == 0


for _ch, _w in CHARS:
    IS = tmpl("istream", _ch)
    _declare(f"?_Ipfx@{IS}QEAA_N_N@Z", "int __thiscall _Ipfx(void *this_, int noskip)",
             (lambda w: lambda c, t, noskip: int(ipfx(c, t, bool(noskip & 0xFF), w)))(_w))


def _uncaught_exception(c):
    """std::uncaught_exception(): whether vcruntime counts an exception in flight (__uncaught_exceptions)."""
    from winhatch.win32.vcruntime.runtime import __uncaught_exceptions
    return int(__uncaught_exceptions(c) > 0)


_declare_plain("?uncaught_exception@std@@YA_NXZ", "int __cdecl uncaught_exception(void)", _uncaught_exception)


# ------------------------------------------------------------------------------------- <iomanip> manipulators
# setw(n) etc. return a _Smanip { void (__cdecl *_Pfun)(ios_base &, Arg); Arg _Manarg; } (a class with a
# constructor: returned through a hidden pointer on both architectures); the header-inline operator<< / >>
# calls _Pfun(stream, _Manarg): _Pfun is a function of this DLL that is not exported.
def _manip_width(c, ios, n):
    _set(c, ios, "wide", n)
    return 0


def _manip_precision(c, ios, n):
    _set(c, ios, "prec", n)
    return 0


def _manip_setf(c, ios, mask):
    _set(c, ios, "fmtfl", _get(c, ios, "fmtfl") | (mask & FMTMASK))
    return 0


def _manip_unsetf(c, ios, mask):
    _set(c, ios, "fmtfl", _get(c, ios, "fmtfl") & ~mask)
    return 0


def _manip_base(c, ios, base):
    base = {8: OCT, 10: DEC, 16: HEX}.get(base & 0xFFFFFFFF, 0)
    _set(c, ios, "fmtfl", (_get(c, ios, "fmtfl") & ~BASEFIELD) | base)
    return 0


MANIPS = (  # (export, internal function, argument is a streamsize, implementation)
    ("?setw@std@@YA?AU?$_Smanip@_J@1@_J@Z", "std::setw's _Smanip function", True, _manip_width),
    ("?setprecision@std@@YA?AU?$_Smanip@_J@1@_J@Z", "std::setprecision's _Smanip function", True, _manip_precision),
    ("?setiosflags@std@@YA?AU?$_Smanip@H@1@H@Z", "std::setiosflags's _Smanip function", False, _manip_setf),
    ("?resetiosflags@std@@YA?AU?$_Smanip@H@1@H@Z", "std::resetiosflags's _Smanip function", False, _manip_unsetf),
    ("?setbase@std@@YA?AU?$_Smanip@H@1@H@Z", "std::setbase's _Smanip function", False, _manip_base),
)


def _manip_maker(fname: str, wide_arg: bool):
    def make(c, ret, arg):
        fn = next(a for a, n in _state(c).internal.items() if n == fname)
        c.write_ptr(ret, fn)
        if wide_arg:
            c.write_u64(ret + 8, arg)
        else:
            c.write_u32(ret + c.ptr_size, arg)
        return ret
    return make


for _exp, _fname, _wide_arg, _impl in MANIPS:
    internal_function(DLL, _fname)
    _t = "__int64" if _wide_arg else "int"
    _internal(_fname, f"void __cdecl manip(void *ios, {_t} arg)", _impl)
    _declare_plain(_exp, f"void * __cdecl manip(void *ret, {_t} arg)", _manip_maker(_fname, _wide_arg))


# ------------------------------------------------------------------------------------- std::_Lockit
# class _Lockit { int _Locktype; }: the constructor takes the recursive lock of its kind (_LOCK_LOCALE 0,
# _LOCK_MALLOC 1, _LOCK_STREAM 2, ...), the destructor releases it. The header-inline code uses it (e.g.
# ios_base::sync_with_stdio, use_facet). Held by another thread, the lock would have to block, which is not
# implemented: that stops loudly.
def _lockit(c, this, kind):
    kind &= 0xFFFFFFFF
    c.write_u32(this, kind)
    locks = c.proc.subsystem.setdefault("msvcp140_lockit", {})
    owner, count = locks.get(kind, (None, 0))
    if count and owner != c.thread.tid:
        stop(c, "std::_Lockit held by another thread (waiting for it)")
    locks[kind] = (c.thread.tid, count + 1)
    return this


def _unlockit(c, this):
    kind = c.u32(this)
    locks = c.proc.subsystem.setdefault("msvcp140_lockit", {})
    owner, count = locks.get(kind, (None, 0))
    if count:
        locks[kind] = (owner, count - 1)
    return 0


_declare_plain("??0_Lockit@std@@QEAA@H@Z", "void * __thiscall _Lockit(void *this_, int kind)", _lockit)
_declare_plain("??0_Lockit@std@@QEAA@XZ", "void * __thiscall _Lockit(void *this_)", lambda c, t: _lockit(c, t, 0))
_declare_plain("??1_Lockit@std@@QEAA@XZ", "void __thiscall _Lockit_dtor(void *this_)", _unlockit)


# ------------------------------------------------------------------------------------- _Mtx_* (std::mutex)
# struct _Mtx_internal_imp_t { int _Type; union { _Stl_critical_section; storage[64 (x86: 36)] };
#                              long _Thread_id; int _Count; }  (80 / 48 bytes; _Thread_id -1: not owned)
# _Type: _Mtx_plain 1, _Mtx_try 2, _Mtx_timed 4, _Mtx_recursive 0x100. _Thrd_result: _Success 0, _Busy 3.
MTX_RECURSIVE = 0x100
THRD_SUCCESS, THRD_BUSY = 0, 3


def _mtx_at(c, m: int) -> tuple[int, int]:
    tid_at = m + (72 if c.ptr_size == 8 else 40)
    return tid_at, tid_at + 4


def _mtx_lock_object(c, m: int):
    from winhatch.kernel.ke.sync import KeyedLock
    locks = c.proc.subsystem.setdefault("msvcp140_mtx", {})
    lk = locks.get(m)
    if lk is None:
        aspace = c.proc.aspace
        tid_at, count_at = _mtx_at(c, m)

        def owner() -> int:
            return int.from_bytes(aspace.read(tid_at, 4), "little", signed=True)

        def take(thread):
            aspace.write(tid_at, thread.tid.to_bytes(4, "little"))
            aspace.write(count_at, (1).to_bytes(4, "little"))
        lk = locks[m] = KeyedLock(lambda: f"std::mutex at 0x{m:x} (owned by thread {owner()})",
                                  lambda t: owner() == -1, take)
    return lk


def _mtx_init_in_situ(c, m, flags):
    c.write(m, bytes(80 if c.ptr_size == 8 else 48))
    c.write_u32(m, flags)
    c.write_u32(_mtx_at(c, m)[0], 0xFFFFFFFF)
    c.proc.subsystem.setdefault("msvcp140_mtx", {}).pop(m, None)
    return 0


def _mtx_destroy_in_situ(c, m):
    c.proc.subsystem.setdefault("msvcp140_mtx", {}).pop(m, None)
    return 0


def _mtx_try(c, m) -> int | None:
    """Take the mutex without waiting: _Success, _Busy (owned by the caller, not recursive), or None (another
    thread owns it)."""
    tid_at, count_at = _mtx_at(c, m)
    owner = struct.unpack("<i", c.read(tid_at, 4))[0]
    if owner == -1:
        c.write_u32(tid_at, c.thread.tid)
        c.write_u32(count_at, 1)
        return THRD_SUCCESS
    if owner == c.thread.tid:
        if c.u32(m) & MTX_RECURSIVE:
            c.write_u32(count_at, c.u32(count_at) + 1)
            return THRD_SUCCESS
        return THRD_BUSY
    return None


def _mtx_lock(c, m):
    from winhatch.kernel.ke import wait as kwait
    from winhatch.kernel.ke.wait import WaitBlock, WouldBlock
    key = kwait.call_key(c, "_Mtx_lock")
    if kwait.take_done(c.thread, key) is not None:
        return THRD_SUCCESS      # handed over by the owner's unlock (owner and count set then)
    r = _mtx_try(c, m)
    if r is not None:
        return r
    raise WouldBlock(WaitBlock([_mtx_lock_object(c, m)], reason="_Mtx_lock", key=key))


def _mtx_trylock(c, m):
    r = _mtx_try(c, m)
    return THRD_BUSY if r is None else r


def _mtx_unlock(c, m):
    tid_at, count_at = _mtx_at(c, m)
    n = c.u32(count_at)
    if n and struct.unpack("<i", c.read(tid_at, 4))[0] == c.thread.tid:
        c.write_u32(count_at, n - 1)
        if n == 1:
            c.write_u32(tid_at, 0xFFFFFFFF)
            c.machine.dispatcher.signal_waiters()
    return THRD_SUCCESS


def _mtx_current_owns(c, m):
    tid_at, count_at = _mtx_at(c, m)
    return int(c.u32(count_at) != 0 and struct.unpack("<i", c.read(tid_at, 4))[0] == c.thread.tid)


api(DLL, "void __cdecl _Mtx_init_in_situ(void *m, int flags)")(_mtx_init_in_situ)
api(DLL, "void __cdecl _Mtx_destroy_in_situ(void *m)")(_mtx_destroy_in_situ)
api(DLL, "int __cdecl _Mtx_lock(void *m)")(_mtx_lock)
api(DLL, "int __cdecl _Mtx_trylock(void *m)")(_mtx_trylock)
api(DLL, "int __cdecl _Mtx_unlock(void *m)")(_mtx_unlock)
api(DLL, "int __cdecl _Mtx_current_owns(void *m)")(_mtx_current_owns)


# ------------------------------------------------------------------------------------- manipulators by pointer
# operator<<(ostream& (*)(ostream&)), (basic_ios& (*)(basic_ios&)), (ios_base& (*)(ios_base&)) and the istream
# twins: cl.exe compiles `cout << std::endl` / `cin >> std::ws` / `<< std::hex` to these; the function is the
# program's (a template instantiated in it) and runs as guest code with the stream (or its basic_ios base).
def _manip_call(base: bool):
    def fn(c, this, pfun):
        arg = ios_of(c, this) if base else this
        c.machine.dispatcher.call_guest(c.thread, pfun, [arg], stdcall=False)
        return this
    return fn


for _ch, _w in CHARS:
    for _op, _cls in (("??6", "ostream"), ("??5", "istream")):
        T = tmpl(_cls, _ch)
        BIOS = f"?$basic_ios@{_ch}U?$char_traits@{_ch}@std@@@1@"
        for _sig, _base in ((f"P6AAEAV01@AEAV01@@Z", False), (f"P6AAEAV{BIOS}AEAV21@@Z", True),
                            ("P6AAEAVios_base@1@AEAV21@@Z", True)):
            _declare(f"{_op}{T}QEAAAEAV01@{_sig}@Z", "void * __thiscall operator_manip(void *this_, void *pfun)",
                     _manip_call(_base), calls_guest=True)


# ------------------------------------------------------------------------------------- extractors (num_get)
_WS = (0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D)


def _scan_field(c, sb: int, wide: bool, flags: int, floating: bool) -> tuple[str, bool]:
    """num_get's stage 2: the characters of a number, consumed from the stream buffer; (text, hit eof)."""
    eof = eof_of(wide)
    base = flags & BASEFIELD
    out = []
    for _ in range(1 << 16):
        ch = sgetc(c, sb, wide, False)
        if ch == eof:
            return "".join(out), True
        x = chr(ch) if ch < 0x80 else "\0"
        t = "".join(out)
        ok = False
        if x in "+-" and (not out or (floating and t[-1:] in ("e", "E"))):
            ok = True
        elif floating:
            ok = x.isdigit() or (x == "." and "." not in t and "e" not in t.lower()) or \
                (x in "eE" and "e" not in t.lower() and any(d.isdigit() for d in t))
        else:
            digits = t.lstrip("+-")
            if base == HEX or (not base and digits[:2].lower() == "0x") or (not base and digits == "0" and x in "xX"):
                ok = x in "0123456789abcdefABCDEF" or (x in "xX" and digits == "0")
            elif base == OCT or (not base and digits.startswith("0")):
                ok = x in "01234567"
            else:
                ok = x.isdigit()
        if not ok:
            return t, False
        out.append(x)
        sgetc(c, sb, wide, True)
    return "".join(out), False


def _extract(kind: str, size: int, signed: bool):
    lo, hi = (-(1 << (size * 8 - 1)), (1 << (size * 8 - 1)) - 1) if signed else (0, (1 << (size * 8)) - 1)

    def fn(c, this, dest):
        wide = _wide_of(c)
        ios = ios_of(c, this)
        state = 0
        if ipfx(c, this, False, wide):
            sb = _get(c, ios, "strbuf")
            flags = _get(c, ios, "fmtfl")
            text, at_eof = _scan_field(c, sb, wide, flags, kind == "float")
            if at_eof:
                state |= EOFBIT
            if kind == "float":
                try:
                    v = float(text)
                except ValueError:
                    v, state = 0.0, state | FAILBIT
                c.write(dest, struct.pack("<f" if size == 4 else "<d", v))
            else:
                base = {HEX: 16, OCT: 8, DEC: 10}.get(flags & BASEFIELD, 0)
                try:
                    v = int(text, base) if base else int(text, 0) if not text.lstrip("+-").startswith("0") or \
                        text.lstrip("+-")[:2].lower() == "0x" else int(text, 8)
                except ValueError:
                    v, state = 0, state | FAILBIT
                if not signed and v < 0 and -v <= hi:       # strtoul's negation of an unsigned value
                    v = (hi + 1 + v) & hi
                if v > hi:
                    v, state = hi, state | FAILBIT
                elif v < lo:
                    v, state = lo, state | FAILBIT
                if kind == "bool":
                    if v not in (0, 1):
                        v, state = 1, state | FAILBIT
                c.write(dest, (v & ((1 << (size * 8)) - 1)).to_bytes(size, "little"))
        setstate(c, ios, state)
        return this
    return fn


for _ch, _w in CHARS:
    IS = tmpl("istream", _ch)
    for _code, _kind, _size, _signed_ in (("F", "int", 2, True), ("G", "int", 2, False), ("H", "int", 4, True),
                                          ("I", "int", 4, False), ("J", "int", 4, True), ("K", "int", 4, False),
                                          ("_J", "int", 8, True), ("_K", "int", 8, False), ("M", "float", 4, True),
                                          ("N", "float", 8, True), ("O", "float", 8, True), ("_N", "bool", 1, False)):
        _declare(f"??5{IS}QEAAAEAV01@AEA{_code}@Z", "void * __thiscall operator_shr(void *this_, void *dest)",
                 _extract(_kind, _size, _signed_))


# ------------------------------------------------------------------------------------- unformatted input
def _set_gcount(c, this, n: int) -> None:
    c.write_u64(this + 8, n)          # basic_istream::_Chcount (x64 and x86: offset 8)


def _get_one(c, this, wide: bool) -> int:
    """istream::get(): one character through a noskip sentry; eof (eofbit|failbit) when there is none."""
    ios = ios_of(c, this)
    _set_gcount(c, this, 0)
    if not ipfx(c, this, True, wide):
        return eof_of(wide)
    ch = sgetc(c, _get(c, ios, "strbuf"), wide, True)
    if ch == eof_of(wide):
        setstate(c, ios, EOFBIT | FAILBIT)
    else:
        _set_gcount(c, this, 1)
    return ch


for _ch, _w in CHARS:
    IS = tmpl("istream", _ch)
    E = "_W" if _w else "D"

    def _get_ref(c, this, dest, w=_w):
        ch = _get_one(c, this, w)
        if ch != eof_of(w):
            c.write(dest, struct.pack("<H", ch) if w else bytes([ch]))
        return this

    _declare(f"?get@{IS}QEAAAEAV12@AEA{E}@Z", "void * __thiscall get(void *this_, void *dest)", _get_ref)
    _declare(f"?get@{IS}QEAA{'G' if _w else 'H'}XZ", "int __thiscall get(void *this_)",
             (lambda w: lambda c, t: _get_one(c, t, w) & 0xFFFFFFFF)(_w))
    _declare_plain(f"?gcount@{IS}QEBA_JXZ", "__int64 __thiscall gcount(void *this_)", lambda c, t: _i64(c, t + 8))


# ------------------------------------------------------------------------------------- locale and ctype<char>
def _incref(c, this):
    a = this + c.ptr_size
    c.write_u32(a, (c.u32(a) + 1) & 0xFFFFFFFF)
    return 0


def _decref(c, this):
    a = this + c.ptr_size
    n = (c.u32(a) - 1) & 0xFFFFFFFF
    c.write_u32(a, n)
    return this if n == 0 else 0


def _getgloballocale(c):
    return _state(c).locimp


def _classic(c):
    return _state(c).classic


def _ios_getloc(c, this, ret):
    """ios_base::getloc(): a copy of the stream's locale (returned through the hidden pointer), its _Locimp's
    reference count incremented as locale's copy constructor does."""
    P = c.ptr_size
    loc = _get(c, this, "ploc")
    imp = c.ptr(loc + P)
    c.write(ret, bytes(2 * P))
    c.write_ptr(ret + P, imp)
    _incref(c, imp)
    return ret


def _ctype_getcat(c, ppf, ploc):
    """ctype<char>::_Getcat: a new ctype<char> facet of the "C" locale for use_facet (its table is the C
    runtime's classification); the category is LC_CTYPE (2)."""
    if ppf and not c.ptr(ppf):
        P = c.ptr_size
        s = _state(c)
        f = R.alloc(c, 48 if P == 8 else 24)
        c.write_ptr(f, export_addr(c, CTYPE_VFTABLE))
        c.write_u32(f + P, 0)                    # _Myrefs
        c.write_u32(f + 2 * P, 0)                # _Ctype._Page: the "C" locale
        c.write_ptr(f + 3 * P, s.ctype_table)   # _Ctype._Table
        c.write_u32(f + 4 * P, 0)                # _Delfl: the table is not the facet's
        c.write_ptr(f + 5 * P, 0)                # _LocaleName
        c.write_ptr(ppf, f)
    return 2


def _c_lower(ch: int) -> int:
    return ch + 32 if 0x41 <= ch <= 0x5A else ch


def _c_upper(ch: int) -> int:
    return ch - 32 if 0x61 <= ch <= 0x7A else ch


def _do_case(conv):
    def one(c, this, ch):
        return conv(ch & 0xFF)

    def rng(c, this, first, last):
        n = last - first
        if n > 0:
            c.write(first, bytes(conv(b) for b in c.read(first, n)))
        return last
    return one, rng


def _do_widen(c, this, ch):
    return ch & 0xFF


def _do_widen_rng(c, this, first, last, dest):
    n = last - first
    if n > 0:
        c.write(dest, c.read(first, n))
    return last


def _do_narrow(c, this, ch, dflt):
    return ch & 0xFF


def _do_narrow_rng(c, this, first, last, dflt, dest):
    return _do_widen_rng(c, this, first, last, dest)


_declare_plain(INCREF, "void __thiscall _Incref(void *this_)", _incref)
_declare_plain(DECREF, "void * __thiscall _Decref(void *this_)", _decref)
_declare_plain("?_Getgloballocale@locale@std@@CAPEAV_Locimp@12@XZ", "void * __cdecl _Getgloballocale(void)",
         _getgloballocale)
_declare_plain("?classic@locale@std@@SAAEBV12@XZ", "void * __cdecl classic(void)", _classic)
_declare_plain("?getloc@ios_base@std@@QEBA?AVlocale@2@XZ", "void * __thiscall getloc(void *this_, void *ret)",
         _ios_getloc)
_declare_plain(f"?_Getcat@{CT}SA_KPEAPEBVfacet@locale@2@PEBV42@@Z", "size_t __cdecl _Getcat(void *ppf, void *ploc)",
         _ctype_getcat)
_lo1, _lo2 = _do_case(_c_lower)
_up1, _up2 = _do_case(_c_upper)
_declare_plain(CTYPE_SLOTS[1], "int __thiscall do_tolower(void *this_, int ch)", _lo1)
_declare_plain(CTYPE_SLOTS[0], "void * __thiscall do_tolower(void *this_, void *first, void *last)", _lo2)
_declare_plain(CTYPE_SLOTS[3], "int __thiscall do_toupper(void *this_, int ch)", _up1)
_declare_plain(CTYPE_SLOTS[2], "void * __thiscall do_toupper(void *this_, void *first, void *last)", _up2)
_declare_plain(CTYPE_SLOTS[5], "int __thiscall do_widen(void *this_, int ch)", _do_widen)
_declare_plain(CTYPE_SLOTS[4], "void * __thiscall do_widen(void *this_, void *first, void *last, void *dest)",
         _do_widen_rng)
_declare_plain(CTYPE_SLOTS[7], "int __thiscall do_narrow(void *this_, int ch, int dflt)", _do_narrow)
_declare_plain(CTYPE_SLOTS[6],
         "void * __thiscall do_narrow(void *this_, void *first, void *last, int dflt, void *dest)", _do_narrow_rng)


def _ctype_deleting_dtor(c, this, flags):
    """ctype<char>'s scalar deleting destructor (what `delete facet->_Decref()` calls when the C++ runtime
    tidies the registered facets at exit): its table is not its own (_Delfl 0); flags & 1 frees the object,
    which _Getcat allocated from the process heap as msvcp140's operator new does (through the C runtime)."""
    if flags & 1:
        R.heap(c).free_block(this)
    return this


_internal("ctype<char>::`scalar deleting destructor'", "void * __thiscall dtor(void *this_, int flags)",
          _ctype_deleting_dtor)


# ------------------------------------------------------------------------------------- basic_streambuf itself
# Its constructor, destructor and virtual functions (a program's stream buffer, e.g. basic_stringbuf, derives
# from it: the slots it does not override are these exports), with the base class's documented behaviour.

def _pnavail(c, sb):
    nxt_a, cnt_a = _areas(c, sb, True)
    return (c.ptr(nxt_a), struct.unpack("<i", c.read(cnt_a, 4))[0]) if c.ptr(nxt_a) else (0, 0)


def _base_overflow(c, this, ch):
    return eof_of(_wide_of(c)) & 0xFFFFFFFF


def _base_underflow(c, this):
    return eof_of(_wide_of(c)) & 0xFFFFFFFF


def _base_pbackfail(c, this, ch):
    return eof_of(_wide_of(c)) & 0xFFFFFFFF


def _base_showmanyc(c, this):
    return 0


def _base_uflow(c, this):
    """eof when underflow() says so, else the next character of the get area (consumed)."""
    wide = _wide_of(c)
    if _signed(sb_virtual(c, this, "underflow"), wide) == eof_of(wide):
        return eof_of(wide) & 0xFFFFFFFF
    nxt_a, cnt_a = _areas(c, this, False)
    nxt = c.ptr(nxt_a)
    ch = struct.unpack("<H", c.read(nxt, 2))[0] if wide else c.read(nxt, 1)[0]
    c.write_ptr(nxt_a, nxt + (2 if wide else 1))
    c.write_u32(cnt_a, c.u32(cnt_a) - 1)
    return ch


def _base_xsputn(c, this, ptr, n):
    """Copy into the put area while it has room, else overflow() one character at a time."""
    wide = _wide_of(c)
    size = 2 if wide else 1
    n = _s64(c, n)
    done = 0
    while done < n:
        nxt, room = _pnavail(c, this)
        if room > 0:
            k = min(room, n - done)
            c.write(nxt, c.read(ptr + done * size, k * size))
            nxt_a, cnt_a = _areas(c, this, True)
            c.write_ptr(nxt_a, nxt + k * size)
            c.write_u32(cnt_a, room - k)
            done += k
            continue
        ch = struct.unpack("<H", c.read(ptr + done * size, 2))[0] if wide else c.read(ptr + done, 1)[0]
        if _signed(sb_virtual(c, this, "overflow", ch), wide) == eof_of(wide):
            break
        done += 1
    return done


def _base_xsgetn(c, this, ptr, n):
    wide = _wide_of(c)
    size = 2 if wide else 1
    n = _s64(c, n)
    done = 0
    while done < n:
        ch = sgetc(c, this, wide, True)
        if ch == eof_of(wide):
            break
        c.write(ptr + done * size, struct.pack("<H", ch) if wide else bytes([ch]))
        done += 1
    return done


def _base_sync(c, this):
    return 0


def _base_nothing(c, this, *args):
    return 0


def _base_setbuf(c, this, p, n):
    return this


def _base_seekoff(c, this, ret, off, way, mode):
    """pos_type(off_type(-1)): fpos<_Mbstatet> { streamoff _Myoff; fpos_t _Fpos; _Mbstatet _Mystate; }."""
    c.write(ret, struct.pack("<qq", -1, 0) + bytes(8))
    return ret


def _base_virtuals(c) -> dict:
    s = _state(c)
    table = getattr(s, "base_virtuals", None)
    if table is None:
        is64 = c.ptr_size == 8
        table = {}
        for ch, _w in CHARS:
            for name, fn in _BASE_VIRTUALS(ch):
                try:
                    table[export_addr(c, _arch_name(name, is64))] = fn
                except AttributeError:
                    pass
        s.base_virtuals = table
    return table


def _BASE_VIRTUALS(ch):
    SB = tmpl("streambuf", ch)
    E = "_W" if ch == "_W" else "D"
    I = "G" if ch == "_W" else "H"
    return ((f"?overflow@{SB}MEAA{I}{I}@Z", _base_overflow), (f"?pbackfail@{SB}MEAA{I}{I}@Z", _base_pbackfail),
            (f"?showmanyc@{SB}MEAA_JXZ", _base_showmanyc), (f"?underflow@{SB}MEAA{I}XZ", _base_underflow),
            (f"?uflow@{SB}MEAA{I}XZ", _base_uflow), (f"?xsgetn@{SB}MEAA_JPEA{E}_J@Z", _base_xsgetn),
            (f"?xsputn@{SB}MEAA_JPEB{E}_J@Z", _base_xsputn), (f"?sync@{SB}MEAAHXZ", _base_sync),
            (f"?_Lock@{SB}UEAAXXZ", _base_nothing), (f"?_Unlock@{SB}UEAAXXZ", _base_nothing),
            (f"?setbuf@{SB}MEAAPEAV12@PEA{E}_J@Z", _base_setbuf),
            (f"?imbue@{SB}MEAAXAEBVlocale@2@@Z", _base_nothing),
            (f"?seekoff@{SB}MEAA?AV?$fpos@U_Mbstatet@@@2@_JHH@Z", _base_seekoff))


_PROTOS = {"overflow": "int __thiscall overflow(void *this_, int ch)",
           "pbackfail": "int __thiscall pbackfail(void *this_, int ch)",
           "showmanyc": "__int64 __thiscall showmanyc(void *this_)",
           "underflow": "int __thiscall underflow(void *this_)",
           "uflow": "int __thiscall uflow(void *this_)",
           "xsgetn": "__int64 __thiscall xsgetn(void *this_, void *p, __int64 n)",
           "xsputn": "__int64 __thiscall xsputn(void *this_, const void *p, __int64 n)",
           "sync": "int __thiscall sync(void *this_)", "_Lock": "void __thiscall _Lock(void *this_)",
           "_Unlock": "void __thiscall _Unlock(void *this_)",
           "setbuf": "void * __thiscall setbuf(void *this_, void *p, __int64 n)",
           "imbue": "void __thiscall imbue(void *this_, void *loc)",
           "seekoff": "void * __thiscall seekoff(void *this_, void *ret, __int64 off, int way, int mode)"}
for _ch, _w in CHARS:
    for _name, _fn in _BASE_VIRTUALS(_ch):
        _declare(_name, _PROTOS[_name[1:].split("@")[0]], _fn)

SB_VFTABLE_SLOTS = ("dtor", "_Lock", "_Unlock", "overflow", "pbackfail", "showmanyc", "underflow", "uflow",
                    "xsgetn", "xsputn", "seekoff", "seekpos", "setbuf", "sync", "imbue")
for _ch, _w in CHARS:
    data_export(DLL, vftable_name("streambuf", _ch), 15 * 8)
    data_export(DLL, vftable_name("ios", _ch), 8)
    internal_function(DLL, f"basic_streambuf<{'wchar_t' if _w else 'char'}>::`scalar deleting destructor'")
    internal_function(DLL, f"basic_streambuf<{'wchar_t' if _w else 'char'}>::seekpos")
    internal_function(DLL, f"basic_ios<{'wchar_t' if _w else 'char'}>::`scalar deleting destructor'")
IOS_VFTABLE = "??_7ios_base@std@@6B@"
data_export(DLL, IOS_VFTABLE, 8)
internal_function(DLL, "ios_base::`scalar deleting destructor'")


def init_base_vftables(c) -> None:
    """basic_streambuf<E>'s, basic_ios<E>'s and ios_base's vftables (the DLL's initialiser calls this)."""
    is64 = c.ptr_size == 8
    P = c.ptr_size
    s = _state(c)
    byname = {n: a for a, n in s.internal.items()}
    for ch, w in CHARS:
        e = "wchar_t" if w else "char"
        names = dict((n[1:].split("@")[0], n) for n, _ in _BASE_VIRTUALS(ch))
        vt = export_addr(c, vftable_name("streambuf", ch))
        for i, slot in enumerate(SB_VFTABLE_SLOTS):
            if slot == "dtor":
                a = byname[f"basic_streambuf<{e}>::`scalar deleting destructor'"]
            elif slot == "seekpos":
                a = byname[f"basic_streambuf<{e}>::seekpos"]
            else:
                a = export_addr(c, _arch_name(names[slot], is64))
            c.write_ptr(vt + i * P, a)
        c.write_ptr(export_addr(c, vftable_name("ios", ch)), byname[f"basic_ios<{e}>::`scalar deleting destructor'"])
    c.write_ptr(export_addr(c, IOS_VFTABLE), byname["ios_base::`scalar deleting destructor'"])


def _new_locale(c) -> int:
    """`new locale`: a copy of the global locale (its _Locimp's reference count incremented)."""
    P = c.ptr_size
    loc = R.alloc(c, 2 * P)
    imp = _state(c).locimp
    c.write_ptr(loc + P, imp)
    _incref(c, imp)
    return loc


def _delete_locale(c, loc: int) -> None:
    if loc:
        imp = c.ptr(loc + c.ptr_size)
        if imp:
            _decref(c, imp)   # the global locale keeps one reference: never freed here
        R.heap(c).free_block(loc)


def _sb_ctor(c, this):
    """basic_streambuf(): the vftable, `_Plocale = new locale`, _Init() (the areas are its own fields)."""
    P = c.ptr_size
    f = _L(c).fb
    c.write(this, bytes(f["Plocale"] + P))
    c.write_ptr(this, export_addr(c, vftable_name("streambuf", "_W" if _wide_of(c) else "D")))
    for a, b in (("IGfirst", "Gfirst"), ("IPfirst", "Pfirst"), ("IGnext", "Gnext"), ("IPnext", "Pnext"),
                 ("IGcount", "Gcount"), ("IPcount", "Pcount")):
        c.write_ptr(this + f[a], this + f[b])
    c.write_ptr(this + f["Plocale"], _new_locale(c))
    return this


def _sb_dtor(c, this):
    c.write_ptr(this, export_addr(c, vftable_name("streambuf", "_W" if _wide_of(c) else "D")))
    at = this + _L(c).fb["Plocale"]
    _delete_locale(c, c.ptr(at))
    c.write_ptr(at, 0)
    return 0


def _ios_ctor(c, this):
    c.write_ptr(this, export_addr(c, IOS_VFTABLE))
    return this


def _ios_dtor(c, this):
    """~ios_base (_Ios_base_dtor): a stream that is not a standard one frees its storage and locale; callbacks
    registered with register_callback would be called with erase_event, which is not implemented."""
    c.write_ptr(this, export_addr(c, IOS_VFTABLE))
    if _get(c, this, "stdstr"):
        return 0
    if _get(c, this, "calls"):
        stop(c, "ios_base callbacks (register_callback) at destruction")
    arr = _get(c, this, "arr")
    for _ in range(1 << 20):
        if not arr:
            break
        nxt = c.ptr(arr)
        R.heap(c).free_block(arr)
        arr = nxt
    _delete_locale(c, _get(c, this, "ploc"))
    c.write_ptr(this + _L(c).ios["ploc"], 0)
    return 0


def _ios_init(c, this, sb, isstd):
    """basic_ios::init: ios_base::_Init() (flags skipws|dec, precision 6, a new locale), the stream buffer,
    no tie, fill widen(' '); badbit without a buffer."""
    o = _L(c).ios
    wide = _wide_of(c)
    c.write_ptr(this + o["stdstr"], 0)
    c.write_u32(this + o["except_"], 0)
    c.write_u32(this + o["fmtfl"], SKIPWS | DEC)
    c.write_u64(this + o["prec"], 6)
    c.write_u64(this + o["wide"], 0)
    c.write_ptr(this + o["arr"], 0)
    c.write_ptr(this + o["calls"], 0)
    c.write_ptr(this + o["ploc"], 0)
    c.write_ptr(this + o["strbuf"], sb)
    c.write_u32(this + o["state"], 0 if sb else BADBIT)
    c.write_ptr(this + o["ploc"], _new_locale(c))
    c.write_ptr(this + o["tie"], 0)
    c.write(this + o["fill"], b" \0" if wide else b" ")
    if isstd & 0xFF:
        stop(c, "basic_ios::init of a standard stream (ios_base::_Addstd)")
    return 0


def _basic_ios_dtor(c, this):
    c.write_ptr(this, export_addr(c, vftable_name("ios", "_W" if _wide_of(c) else "D")))
    return _ios_dtor(c, this)


_declare_plain("??0ios_base@std@@IEAA@XZ", "void * __thiscall ios_base(void *this_)", _ios_ctor)
_declare_plain("??1ios_base@std@@UEAA@XZ", "void __thiscall ios_base_dtor(void *this_)", _ios_dtor)
for _ch, _w in CHARS:
    SB = tmpl("streambuf", _ch)
    BI = tmpl("ios", _ch)
    E = "_W" if _w else "D"
    _declare_plain(f"??0{SB}IEAA@XZ", "void * __thiscall basic_streambuf(void *this_)", _sb_ctor)
    _declare_plain(f"??1{SB}UEAA@XZ", "void __thiscall basic_streambuf_dtor(void *this_)", _sb_dtor)
    _declare_plain(f"??1{BI}UEAA@XZ", "void __thiscall basic_ios_dtor(void *this_)", _basic_ios_dtor)
    _declare_plain(f"?init@{BI}IEAAXPEAV?$basic_streambuf@{E}U?$char_traits@{E}@std@@@2@_N@Z",
             "void __thiscall init(void *this_, void *sb, int isstd)", _ios_init)


# ============================================================================================ std::set_new_handler
def _set_new_handler(c, handler):
    """std::set_new_handler: the previous std::new_handler. operator new's retry loop reaches it through the C
    runtime's _callnewh (winhatch.win32.msvcrt.stdlib.new_handlers)."""
    from winhatch.win32.msvcrt.stdlib import new_handlers
    h = new_handlers(c)
    old, h["std"] = h["std"], handler
    return old


_declare_plain("?set_new_handler@std@@YAP6AXXZP6AXXZ@Z", "void * __cdecl set_new_handler(void *handler)",
               _set_new_handler)

