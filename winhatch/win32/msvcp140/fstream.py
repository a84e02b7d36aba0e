"""msvcp140.dll: what basic_filebuf (<fstream>, a template instantiated in the program) needs from the runtime:
std::_Fiopen (the C runtime FILE behind basic_filebuf::open), basic_streambuf::getloc, and the
codecvt<char, char, _Mbstatet> facet its _Initcvt asks for (use_facet: locale::id, _Getcat), whose
always_noconv() is true, so the filebuf reads and writes bytes unconverted.

codecvt<char, char, _Mbstatet> is a facet {vfptr, _Myrefs} (x64 16 bytes, x86 8) whose vftable is facet's
[scalar deleting destructor, _Incref, _Decref], codecvt_base's [do_always_noconv, do_max_length, do_encoding]
and codecvt's [do_in, do_out, do_unshift, do_length], in declaration order. For char to char every conversion
is `noconv` (3): nothing is written, the next pointers stay at the start; do_length is min(max, last - first);
do_max_length and do_encoding are 1. The exported non-virtual members (always_noconv, in, out, unshift) call
these; a facet the program derived (its own overrides) is not supported by them and stops loudly.
"""
from __future__ import annotations

from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, data_export, internal_function
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcp140 import msvcp140 as P

DLL = "msvcp140.dll"
NOCONV = 3
CVT = "?$codecvt@DDU_Mbstatet@@@std@@"
CVT_ID = f"?id@{CVT}2V0locale@2@A"
CVT_SLOTS = ("dtor", "_Incref", "_Decref", "do_always_noconv", "do_max_length", "do_encoding", "do_in", "do_out",
             "do_unshift", "do_length")
data_export(DLL, CVT_ID, 8)       # locale::id { size_t _Id; }: 0 until the first use_facet numbers it
for _s in CVT_SLOTS:
    if _s not in ("_Incref", "_Decref"):
        internal_function(DLL, f"codecvt<char>::{_s}")

# ------------------------------------------------------------------------------------------ std::_Fiopen
# ios_base::openmode of Microsoft's STL: in 0x01, out 0x02, ate 0x04, app 0x08, trunc 0x10, binary 0x20,
# _Nocreate 0x40, _Noreplace 0x80. The C mode for each combination is the C++ standard's table
# ([filebuf.members]); another combination fails (NULL).
IN, OUT, ATE, APP, TRUNC, BINARY, NOCREATE, NOREPLACE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
_FIOPEN_MODES = {OUT: "w", OUT | TRUNC: "w", OUT | APP: "a", APP: "a", IN: "r", IN | OUT: "r+",
                 IN | OUT | TRUNC: "w+", IN | OUT | APP: "a+", IN | APP: "a+"}


def _fiopen(c, name, mode, prot):
    """basic_filebuf::open's file: the C runtime (ucrtbase) FILE opened with _fsopen(name, mode, prot), or NULL.
    _Nocreate: the file must exist; _Noreplace with out/app: it must not; ate: positioned at the end."""
    from winhatch.ntstatus import NtStatusError
    from winhatch.win32.msvcrt import runtime as R
    from winhatch.win32.msvcrt import streams as S
    from winhatch.kernel.io import vfs as V
    from winhatch.win32.kernel32.common import cwd, guest_path
    if not name:
        return 0
    path = c.wstr(name) if c.name.endswith("PEB_WHH@Z") or c.name.endswith("PB_WHH@Z") else c.astr(name)
    mode &= 0xFFFFFFFF
    base = _FIOPEN_MODES.get(mode & (IN | OUT | APP | TRUNC))
    if base is None:
        return 0
    try:
        exists = c.machine.vfs.exists(guest_path(c, path), cwd(c))
    except NtStatusError:
        exists = False
    if mode & NOCREATE and not exists:
        return 0
    if mode & NOREPLACE and mode & (OUT | APP) and exists:
        return 0
    s = R.state(c, R.UCRT)
    share = {0x10: 0, 0x20: V.FILE_SHARE_READ, 0x30: V.FILE_SHARE_WRITE}.get(
        prot & 0xFFFFFFFF, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE)
    fp, _err = S.fopen(c, s, path, base + ("b" if mode & BINARY else ""), share=share)
    if fp and mode & ATE:
        st = s.streams.get(fp)
        if st is None or S.seek(c, s, st, 0, 2) != 0:
            if st is not None:
                S.close(c, s, st)
            return 0
    return fp


for _n in ("?_Fiopen@std@@YAPEAU_iobuf@@PEBDHH@Z", "?_Fiopen@std@@YAPAU_iobuf@@PBDHH@Z",
           "?_Fiopen@std@@YAPEAU_iobuf@@PEB_WHH@Z", "?_Fiopen@std@@YAPAU_iobuf@@PB_WHH@Z"):
    api(DLL, "void * __cdecl Fiopen(const void *name, int mode, int prot)", calls_guest=True)(_fiopen)
    api_mod._REGISTRY[-1].name = _n


# ------------------------------------------------------------------------------------------ basic_streambuf::getloc
def _streambuf_getloc(c, this, ret):
    """A copy of the buffer's locale (*_Plocale) through the hidden return pointer, its _Locimp's reference
    count incremented as locale's copy constructor does."""
    ps = c.ptr_size
    loc = c.ptr(this + P.LAYOUT[ps == 8].fb["Plocale"])
    imp = c.ptr(loc + ps)
    c.write(ret, bytes(2 * ps))
    c.write_ptr(ret + ps, imp)
    P._incref(c, imp)
    return ret


for _ch in ("D", "_W"):
    P._declare_plain(f"?getloc@{P.tmpl('streambuf', _ch)}QEBA?AVlocale@2@XZ",
                     "void * __thiscall getloc(void *this_, void *ret)", _streambuf_getloc)


# ------------------------------------------------------------------------------------------ locale::id
def _id_value(c, this):
    """locale::id::operator size_t(): the facet's index, numbered from locale::id::_Id_cnt on first use."""
    v = c.ptr(this)
    if v == 0:
        cnt = P.export_addr(c, P.ID_CNT)
        v = (c.u32(cnt) + 1) & 0xFFFFFFFF
        c.write_u32(cnt, v)
        c.write_ptr(this, v)
    return v


for _n in ("??Bid@locale@std@@QEAA_KXZ", "??Bid@locale@std@@QAEIXZ"):
    api(DLL, "size_t __thiscall id_value(void *this_)")(_id_value)
    api_mod._REGISTRY[-1].name = _n


# ------------------------------------------------------------------------------------------ codecvt<char, char>
def _cvt_vftable(c) -> int:
    s = P._state(c)
    vt = getattr(s, "codecvt_vftable", 0)
    if not vt:
        ps = c.ptr_size
        is64 = ps == 8
        internal = P._internal_addrs(c)
        vt = R.alloc(c, len(CVT_SLOTS) * ps)
        for i, slot in enumerate(CVT_SLOTS):
            if slot == "_Incref":
                a = P.export_addr(c, P._arch_name(P.INCREF, is64))
            elif slot == "_Decref":
                a = P.export_addr(c, P._arch_name(P.DECREF, is64))
            else:
                a = internal[f"codecvt<char>::{slot}"]
            c.write_ptr(vt + i * ps, a)
        s.codecvt_vftable = vt
    return vt


def _cvt_getcat(c, ppf, ploc):
    """codecvt<char, char, _Mbstatet>::_Getcat: a new facet for use_facet; the category is LC_CTYPE (2)."""
    if ppf and not c.ptr(ppf):
        ps = c.ptr_size
        f = R.alloc(c, 2 * ps)
        c.write_ptr(f, _cvt_vftable(c))
        c.write_u32(f + ps, 0)                   # _Myrefs
        c.write_ptr(ppf, f)
    return 2


P._declare_plain(f"?_Getcat@{CVT}SA_KPEAPEBVfacet@locale@2@PEBV42@@Z", "size_t __cdecl _Getcat(void *ppf, void *ploc)",
                 _cvt_getcat)


def _cvt_dtor(c, this, flags):
    if flags & 1:
        R.heap(c).free_block(this)
    return this


def _cvt_noconv_in(c, this, state, first, last, pnext, to, to_last, pto_next):
    c.write_ptr(pnext, first)
    c.write_ptr(pto_next, to)
    return NOCONV


def _cvt_unshift(c, this, state, to, to_last, pto_next):
    c.write_ptr(pto_next, to)
    return NOCONV


def _cvt_length(c, this, state, first, last, count):
    mask = (1 << (8 * c.ptr_size)) - 1
    return max(0, min(count & mask, (last - first) & mask))


def _internal(slot: str, proto: str, fn) -> None:
    api(DLL, proto)(fn)
    api_mod._REGISTRY[-1].name = f"codecvt<char>::{slot}"


_internal("dtor", "void * __thiscall dtor(void *this_, unsigned int flags)", _cvt_dtor)
_internal("do_always_noconv", "int __thiscall do_always_noconv(void *this_)", lambda c, this: 1)
_internal("do_max_length", "int __thiscall do_max_length(void *this_)", lambda c, this: 1)
_internal("do_encoding", "int __thiscall do_encoding(void *this_)", lambda c, this: 1)
_CONV = ("int __thiscall do_conv(void *this_, void *state, void *first, void *last, void *pnext, void *to, "
         "void *to_last, void *pto_next)")
_internal("do_in", _CONV, _cvt_noconv_in)
_internal("do_out", _CONV, _cvt_noconv_in)
_internal("do_unshift", "int __thiscall do_unshift(void *this_, void *state, void *to, void *to_last, void *pto_next)",
          _cvt_unshift)
_internal("do_length", "int __thiscall do_length(void *this_, void *state, void *first, void *last, size_t count)",
          _cvt_length)


def _ours(c, this) -> bool:
    """Whether the facet at `this` is one _Getcat made (its vftable is this runtime's)."""
    return c.ptr(this) == getattr(P._state(c), "codecvt_vftable", -1)


def _need_ours(c, this) -> None:
    if not _ours(c, this):
        P.stop(c, "a codecvt facet with the program's own virtual functions")


def _always_noconv(c, this):
    """codecvt_base::always_noconv(): do_always_noconv() of the facet (true for this runtime's char facet)."""
    vft = c.ptr(this)
    if c.ptr(vft + 3 * c.ptr_size) != P._internal_addrs(c)["codecvt<char>::do_always_noconv"]:
        P.stop(c, "codecvt_base::always_noconv of a facet with the program's own do_always_noconv")
    return 1


P._declare_plain("?always_noconv@codecvt_base@std@@QEBA_NXZ", "int __thiscall always_noconv(void *this_)",
                 _always_noconv)


def _in_out(c, this, state, first, last, pnext, to, to_last, pto_next):
    _need_ours(c, this)
    return _cvt_noconv_in(c, this, state, first, last, pnext, to, to_last, pto_next)


def _unshift(c, this, state, to, to_last, pto_next):
    _need_ours(c, this)
    return _cvt_unshift(c, this, state, to, to_last, pto_next)


_IN = (f"?in@{CVT}QEBAHAEAU_Mbstatet@@PEBD1AEAPEBDPEAD3AEAPEAD@Z", f"?in@{CVT}QBEHAAU_Mbstatet@@PBD1AAPBDPAD3AAPAD@Z")
_OUT = (f"?out@{CVT}QEBAHAEAU_Mbstatet@@PEBD1AEAPEBDPEAD3AEAPEAD@Z",
        f"?out@{CVT}QBEHAAU_Mbstatet@@PBD1AAPBDPAD3AAPAD@Z")
_UNSHIFT = (f"?unshift@{CVT}QEBAHAEAU_Mbstatet@@PEAD1AEAPEAD@Z", f"?unshift@{CVT}QBEHAAU_Mbstatet@@PAD1AAPAD@Z")
for _n in _IN + _OUT:
    api(DLL, _CONV, calls_guest=False)(_in_out)
    api_mod._REGISTRY[-1].name = _n
for _n in _UNSHIFT:
    api(DLL, "int __thiscall unshift(void *this_, void *state, void *to, void *to_last, void *pto_next)")(_unshift)
    api_mod._REGISTRY[-1].name = _n


# ------------------------------------------------------------------------------------------ seekg/tellg/seekp/tellp
# fpos<_Mbstatet> { streamoff _Myoff; fpos_t _Fpos; _Mbstatet _Mystate; } (24 bytes); its streamoff value is
# _Myoff + _Fpos. The stream buffer's seekoff(off, way, which) / seekpos(pos, which) are virtual (slots 10 and 11)
# and return an fpos through a hidden pointer; the program's basic_filebuf or stringbuf runs them as guest code.
IN_MODE, OUT_MODE = 1, 2
FPOS = 24


def _sb_seek(c, sb: int, ret: int, slot: str, args: tuple) -> int:
    """Call sb's seekoff (args: off, way, which) or seekpos (args: the fpos bytes, which) into ret; the result's
    streamoff value."""
    import struct
    is64 = c.ptr_size == 8
    target = c.ptr(c.ptr(sb) + P.FILEBUF_SLOTS.index(slot) * c.ptr_size)
    base = P._base_virtuals(c).get(target)
    if base is not None:                       # basic_streambuf's own: no positioning (-1)
        c.write(ret, struct.pack("<qq", -1, 0) + bytes(8))
    else:
        if slot == "seekoff":
            off, way, which = args
            if is64:
                call = [ret, off & ((1 << 64) - 1), way, which]
            else:
                call = [ret, off & 0xFFFFFFFF, (off >> 32) & 0xFFFFFFFF, way, which]
        else:
            pos, which = args
            if is64:
                tmp = R.alloc(c, FPOS)
                c.write(tmp, pos)
                call = [ret, tmp, which]
            else:
                call = [ret, *struct.unpack("<6I", pos), which]
        c.machine.dispatcher.call_guest(c.thread, target, [sb, *call], stdcall=False, thiscall=True)
        if is64 and slot == "seekpos":
            R.heap(c).free_block(tmp)
    myoff, fpos = struct.unpack("<qq", c.read(ret, 16))
    return myoff + fpos


def _seek(c, this, out: bool, slot: str, args: tuple):
    """seekg/seekp: seekg first clears eofbit; a sentry (noskip) checks the stream; a failed positioning sets
    failbit."""
    ios = P.ios_of(c, this)
    if not out:
        P.clear_state(c, ios, P._get(c, ios, "state") & ~P.EOFBIT)
    ok = P.sentry_ok(c, this) if out else P.ipfx(c, this, True, False)
    if ok or not P._get(c, ios, "state") & (P.FAILBIT | P.BADBIT):
        sb = P._get(c, ios, "strbuf")
        ret = R.alloc(c, FPOS)
        if _sb_seek(c, sb, ret, slot, args) == -1:
            P.setstate(c, ios, P.FAILBIT)
        R.heap(c).free_block(ret)
    return this


def _tell(c, this, ret, out: bool):
    """tellg/tellp: fpos(-1) when the stream failed, else rdbuf()->pubseekoff(0, cur, which)."""
    import struct
    ios = P.ios_of(c, this)
    ok = P.sentry_ok(c, this) if out else P.ipfx(c, this, True, False)
    if not ok and P._get(c, ios, "state") & (P.FAILBIT | P.BADBIT):
        c.write(ret, struct.pack("<qq", -1, 0) + bytes(8))
        return ret
    _sb_seek(c, P._get(c, ios, "strbuf"), ret, "seekoff", (0, 1, OUT_MODE if out else IN_MODE))
    return ret


def _declare_seek(cls: str, letter: str, out: bool) -> None:
    T = P.tmpl(cls, "D")
    mode = OUT_MODE if out else IN_MODE
    x64_off, x64_pos = (f"?seek{letter}@{T}QEAAAEAV12@_JH@Z", f"?seek{letter}@{T}QEAAAEAV12@V?$fpos@U_Mbstatet@@@2@@Z")
    x64_tell = f"?tell{letter}@{T}QEAA?AV?$fpos@U_Mbstatet@@@2@XZ"
    P._declare(x64_off, "void * __thiscall seek_off(void *this_, __int64 off, int way)",
               lambda c, this, off, way: _seek(c, this, out, "seekoff", (off, way, mode)))
    P._declare(x64_tell, "void * __thiscall tell(void *this_, void *ret)",
               lambda c, this, ret: _tell(c, this, ret, out))

    def pos64(c, this, pos):
        return _seek(c, this, out, "seekpos", (c.read(pos, FPOS), mode))

    def pos32(c, this, myoff, fpos, state):
        import struct
        return _seek(c, this, out, "seekpos", (struct.pack("<qqq", myoff, fpos, state), mode))
    api(DLL, "void * __thiscall seek_pos(void *this_, const void *pos)", calls_guest=True)(pos64)
    api_mod._REGISTRY[-1].name = x64_pos
    api(DLL, "void * __thiscall seek_pos(void *this_, __int64 myoff, __int64 fpos, __int64 state)",
        calls_guest=True)(pos32)
    api_mod._REGISTRY[-1].name = P.x86_name(x64_pos)


_declare_seek("istream", "g", False)
_declare_seek("ostream", "p", True)


# ------------------------------------------------------------------------------------------ istream::read
def _read(c, this, dest, count):
    """basic_istream::read(s, n): gcount 0, a noskip sentry, then rdbuf()->sgetn(s, n) (the buffer's xsgetn);
    fewer than n characters: eofbit | failbit."""
    ios = P.ios_of(c, this)
    P._set_gcount(c, this, 0)
    if P.ipfx(c, this, True, False) and count > 0:
        got = P.sb_virtual(c, P._get(c, ios, "strbuf"), "xsgetn", dest, count)
        got = got - (1 << 64) if got & (1 << 63) else got
        P._set_gcount(c, this, max(got, 0))
        if got != count:
            P.setstate(c, ios, P.EOFBIT | P.FAILBIT)
    return this


P._declare(f"?read@{P.tmpl('istream', 'D')}QEAAAEAV12@PEAD_J@Z",
           "void * __thiscall read(void *this_, void *dest, __int64 count)", _read)
