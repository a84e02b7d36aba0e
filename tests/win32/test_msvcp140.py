"""msvcp140.dll's standard streams with a real MSVC-STL program (tests/fixtures/src/msvcp_iostream.cpp built
against Microsoft's STL headers and msvcprt.lib: tests/msvcstl.py): the header-inline code of <iostream>,
<iomanip> and <string> reads the stream objects' vbtables, ios_base fields and stream buffers and calls
msvcp140's exported members, as on Windows.

The expected output was recorded from Wine (wine64 with its own msvcp140) and corrected where Wine differs from
Windows (MSVC's STL follows the C++ standard there):
- cin.tie() and cerr.tie() are &cout, and cerr has unitbuf ([narrow.stream.objects]); Wine ties nothing;
- ios_base::sync_with_stdio returns the previous setting, true at first; Wine returns false;
- internal padding writes only the fill characters; Wine writes a NUL after `-***42`.
"""
from __future__ import annotations

import io

import pytest

from winhatch import runner

import msvcstl

EXPECTED = (
    "text 42 3.5\r\n"
    "printf after endl\r\n"
    "no flush, then printf\r\n"
    "ff 0xff 0XFF\r\n"
    "[    42][42    ][***-42][-***42]\r\n"                   # Wine: a NUL before the "]"
    "+7 +0 -2147483648 18446744073709551615 -9223372036854775807\r\n"
    "10 ffffffff\r\n"
    "0.333333 0.3333333333 2.500000 1.234568e+04 1e+20 100 0.0001 1.5\r\n"
    "1 true false\r\n"
    "-5 65535 4000000000\r\n"
    "P\r\n"
    "written\r\n"
    "width 0 precision 6 fill [ ] flags 881\r\n"
    "good 1 tie(cin)=cout 1 tie(cerr)=cout 1 tie(clog) 1 unitbuf(cerr) 1\r\n"   # Wine: 0 0 and 0
    "sync 1 0\r\n"                                                                 # Wine: 0 0
    "wide 12 2.25\r\n"
    "got [line one]\r\n"
    "got [line two]\r\n"
    "lines 2 eof 1 fail 1\r\n"
).encode()


@pytest.fixture
def program(arch):
    try:
        return msvcstl.build("msvcp_iostream.cpp", arch)
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))


def test_iostream_program(program):
    out, err = io.BytesIO(), io.BytesIO()
    res = runner.run(program, [], stdin=io.BytesIO(b"line one\nline two\n"), stdout=out, stderr=err,
                     max_instructions=100_000_000)
    assert res.error is None, res.error
    assert res.exit_status == 0
    assert res.stdout == EXPECTED, res.stdout.decode("latin-1")
    assert res.stderr == b"to cerr -7\r\nto clog\r\n"


def test_stream_objects_in_guest_memory(program, arch):
    """std::cout as the inline code sees it (at exit): vbptr -> vbtable {0, 16 (x86: 8)}, basic_ios there with
    its vftable, the flags, precision 6, width 0, fill ' ', a filebuf whose _Myfile is the C runtime's stdout
    FILE; cin's basic_ios at +24 tied to cout; _Ptr_cout."""
    import struct
    from winhatch.ldr import loader
    from winhatch.win32.msvcp140 import msvcp140 as P
    res = runner.run(program, [], stdin=io.BytesIO(b""), stdout=io.BytesIO(), stderr=io.BytesIO(),
                     max_instructions=100_000_000)
    proc = res.process
    m = loader.state_of(proc).by_name["msvcp140.dll"]
    a = proc.aspace

    def exp(name):
        return m.base + m.pe.exports.lookup(name).entry.rva
    is64 = arch == "x64"
    ptr = "<Q" if is64 else "<I"
    ps = 8 if is64 else 4

    def rd(addr):
        return struct.unpack(ptr, a.read(addr, ps))[0]
    cout = exp(P.obj_name("cout", "ostream", "D"))
    vbt = rd(cout)
    assert vbt == exp(P.vbtable_name("ostream", "D"))
    vb = 16 if is64 else 8
    assert struct.unpack("<ii", a.read(vbt, 8)) == (0, vb)
    ios = cout + vb
    o = (dict(state=16, except_=20, fmtfl=24, prec=32, wide=40, strbuf=72, tie=80, fill=88) if is64 else
         dict(state=12, except_=16, fmtfl=20, prec=24, wide=32, strbuf=56, tie=60, fill=64))
    assert rd(ios) == exp(P.vftable_name("ostream", "D"))
    u32 = lambda addr: struct.unpack("<I", a.read(addr, 4))[0]   # noqa: E731
    i64 = lambda addr: struct.unpack("<q", a.read(addr, 8))[0]   # noqa: E731
    assert (u32(ios + o["state"]), u32(ios + o["except_"]), i64(ios + o["prec"]), i64(ios + o["wide"])) == (0, 0, 6, 0)
    assert u32(ios + o["fmtfl"]) == P.SKIPWS | P.DEC | P.RIGHT      # skipws|dec; the program left `right` set
    assert rd(ios + o["tie"]) == 0 and a.read(ios + o["fill"], 1) == b" "
    sb = rd(ios + o["strbuf"])
    crt = proc.subsystem["crt:ucrt"]
    assert rd(sb + (128 if is64 else 76)) == crt.iob + crt.fsize    # _Myfile: stdout
    cin = exp(P.obj_name("cin", "istream", "D"))
    assert struct.unpack("<ii", a.read(rd(cin), 8)) == (0, 24)
    assert rd(cin + 24 + o["tie"]) == cout     # cin.tie() == &cout
    assert rd(exp(P.ptr_name("cout", "ostream", "D", is64))) == cout


def test_mutex(arch):
    """std::mutex / std::recursive_mutex through _Mtx_init_in_situ/_Mtx_lock/_Mtx_trylock/_Mtx_unlock (the
    expected lines are Wine's, x64)."""
    try:
        exe = msvcstl.build("msvcp_mutex.cpp", arch)
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))
    res = runner.run(exe, [], stdout=io.BytesIO(), stderr=io.BytesIO(), max_instructions=50_000_000)
    assert res.error is None, res.error
    assert res.stdout == (b"try plain while owned: 0\r\ntry plain when free: 1\r\ntry recursive while owned: 1\r\n"
                          b"lock_guard\r\nfree again: 1\r\n")


def test_extraction_and_manipulator_pointers(arch):
    """operator>> with num_get's rules, istream::get, and (built -O0) the manipulator-pointer members.
    Recorded from Wine (x64) except `bad 0`: since C++11 ([facet.num.get.virtuals]/3, and MSVC's STL stores
    0 when the field does not convert, <xlocnum>) a failed extraction stores 0; Wine keeps the old value (5)."""
    try:
        exe = msvcstl.build("msvcp_extract.cpp", arch, opt="-O0")
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))
    from winhatch.pe import PEFile
    names = {f.name for d in PEFile.open(str(exe)).imports if d.dll.lower() == "msvcp140.dll" for f in d.functions}
    assert any(n.startswith("??6") and "P6A" in n for n in names)     # << std::endl through msvcp140
    assert any(n.startswith("??5") and ("P6AAEAVios_base" in n or "P6AAAVios_base" in n) for n in names)  # >> hex
    res = runner.run(exe, [], stdin=io.BytesIO(b"42 -3.5e2 7 ff 077 x 99999999999 1\n"), stdout=io.BytesIO(),
                     stderr=io.BytesIO(), max_instructions=50_000_000)
    assert res.error is None, res.error
    assert res.stdout == (b"a 42 d -350 u 7 h 255 o 63\r\nbad 0 fail 1\r\nskipped 'x'\r\n"
                          b"big 99999999999 bool 1 good 1\r\neof 1 fail 1\r\n")


def test_ctype_facet(arch):
    """`cin >> std::string` and use_facet<ctype<char>>: locale::id, the locale's facet table, _Getcat's new
    ctype<char> with the "C" classification table, its virtual functions (recorded from Wine, x64)."""
    try:
        exe = msvcstl.build("msvcp_facet.cpp", arch)
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))
    res = runner.run(exe, [], stdin=io.BytesIO(b"  hello World\tfoo\n"), stdout=io.BytesIO(), stderr=io.BytesIO(),
                     max_instructions=50_000_000)
    assert res.error is None, res.error
    assert res.exit_status == 0
    assert res.stdout == b"[hello][World][foo]\r\n1101 Qqwn\r\nMIXED 1\r\neof 1 fail 1 d []\r\n"


def test_stringstreams(arch):
    """ostringstream / istringstream / stringstream: the program's basic_stringbuf on msvcp140's
    basic_streambuf, ios_base and basic_ios; its virtual functions run as guest code from msvcp140's members
    (recorded from Wine, x64)."""
    try:
        exe = msvcstl.build("msvcp_sstream.cpp", arch)
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))
    res = runner.run(exe, [], stdout=io.BytesIO(), stderr=io.BytesIO(), max_instructions=100_000_000)
    assert res.error is None, res.error
    assert res.exit_status == 0
    assert res.stdout == b"[x=42   1.5 ff] 13\r\n15 fail 1 c 0\r\n290 0,1,2,3,4,\r\n<alpha><beta>\r\n"
