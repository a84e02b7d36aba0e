"""API set schema v6: extraction from Wine, encode/decode, resolution (winhatch.kernel.apiset)."""
import struct
import sys
from pathlib import Path

import pytest

from winhatch.kernel.apiset import schema as S
from winhatch.kernel.apiset.schema import ApiSetSchema, api_set_hash, encode_v6, load_mapping

ROOT = Path(__file__).resolve().parents[2]
WINE_APISET = Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows/apisetschema.dll")


@pytest.fixture(scope="module")
def schema():
    return ApiSetSchema(encode_v6(load_mapping()))


@pytest.fixture(scope="module")
def wine_blob():
    pefile = pytest.importorskip("pefile")
    if not WINE_APISET.exists():
        pytest.skip("wine64 not installed")
    pe = pefile.PE(str(WINE_APISET))
    sec = next(s for s in pe.sections if s.Name.rstrip(b"\0") == b".apiset")
    return sec.get_data()


def test_mapping_shape():
    m = load_mapping()
    assert len(m) > 400
    for name, (default, exceptions) in m.items():
        assert name == name.lower() and name.startswith(("api-", "ext-")) and not name.endswith(".dll")
        assert default is None or default.endswith((".dll", ".drv"))
        assert isinstance(exceptions, dict)
    assert m["api-ms-win-crt-stdio-l1-1-0"] == ["ucrtbase.dll", {}]
    load_mapping()["api-ms-win-crt-stdio-l1-1-0"][0] = "x"   # callers get a copy
    assert load_mapping()["api-ms-win-crt-stdio-l1-1-0"][0] == "ucrtbase.dll"


def test_wine_blob_decodes_like_our_round_trip(wine_blob):
    wine = ApiSetSchema(wine_blob)
    assert wine.version == 6 and wine.size <= len(wine_blob)
    ours = ApiSetSchema(encode_v6(wine.mapping()))
    assert ours.mapping() == wine.mapping() == load_mapping()
    assert ours.hash_factor == wine.hash_factor
    assert sorted(ours.names()) == sorted(wine.names())
    # both resolve every name the same way, and Wine's hash table agrees with our hash
    for i in range(wine.count):
        h, idx = wine.hash_entry(i)
        _f, name, hlen, _vo, _vc = wine.entry(idx)
        assert api_set_hash(name[:hlen], wine.hash_factor) == h
        assert name[hlen] == "-" and "-" not in name[hlen + 1:]
        assert wine.resolve(name + ".dll") == ours.resolve(name + ".dll")


def test_independent_decode_of_wine_blob(wine_blob):
    """Decode the raw v6 structures by hand (no winhatch code) and compare."""
    ver, size, flags, count, eoff, hoff, factor = struct.unpack_from("<7I", wine_blob, 0)
    assert ver == 6
    m = {}
    for i in range(count):
        f, no, nl, hl, vo, vc = struct.unpack_from("<6I", wine_blob, eoff + 24 * i)
        name = wine_blob[no:no + nl].decode("utf-16le")
        vals = []
        for j in range(vc):
            vf, vno, vnl, vvo, vvl = struct.unpack_from("<5I", wine_blob, vo + 20 * j)
            vals.append((wine_blob[vno:vno + vnl].decode("utf-16le"), wine_blob[vvo:vvo + vvl].decode("utf-16le")))
        m[name] = [(vals[0][1] or None) if vals else None, dict(vals[1:])]
    assert m == load_mapping()


def test_header_layout(schema):
    blob = schema.blob
    ver, size, flags, count, eoff, hoff, factor = struct.unpack_from("<7I", blob, 0)
    assert (ver, size, count, factor) == (6, len(blob), len(load_mapping()), 31)
    assert size % 4 == 0
    f, no, nl, hl, vo, vc = struct.unpack_from("<6I", blob, eoff)
    name = blob[no:no + nl].decode("utf-16le")
    assert hl == 2 * name.rindex("-") and nl == 2 * len(name)


@pytest.mark.parametrize("name,host", [
    ("api-ms-win-crt-stdio-l1-1-0.dll", "ucrtbase.dll"),
    ("api-ms-win-crt-runtime-l1-1-0.dll", "ucrtbase.dll"),
    ("api-ms-win-crt-heap-l1-1-0", "ucrtbase.dll"),
    ("api-ms-win-core-synch-l1-2-0.dll", "kernelbase.dll"),
    ("api-ms-win-core-processthreads-l1-1-0.dll", "kernel32.dll"),   # Wine hosts it in kernel32
    ("api-ms-win-core-libraryloader-l1-2-0.dll", "kernelbase.dll"),
    ("api-ms-win-core-heap-l1-1-0.dll", "kernelbase.dll"),
    ("api-ms-win-core-rtlsupport-l1-1-0.dll", "ntdll.dll"),
    ("ext-ms-win-ntuser-message-l1-1-1.dll", "user32.dll"),
])
def test_resolve(schema, name, host):
    assert schema.resolve(name) == host
    assert S.resolve(name) == host


def test_minor_versions_and_case(schema):
    base = schema.resolve("api-ms-win-crt-stdio-l1-1-0.dll")
    # only the part before the last hyphen is hashed/compared
    assert schema.resolve("api-ms-win-crt-stdio-l1-1-1.dll") == base
    assert schema.resolve("api-ms-win-crt-stdio-l1-1-99.dll") == base
    assert schema.resolve("API-MS-Win-CRT-Stdio-L1-1-0.DLL") == base
    assert schema.resolve("api-ms-win-core-synch-l1-1-0.dll") == "kernelbase.dll"
    assert schema.resolve("api-ms-win-core-synch-l1-2-1.dll") == "kernelbase.dll"
    # a different major/minor contract (l1-2 vs l1-1) is a different entry
    assert schema.find("api-ms-win-core-synch-l1-1-0") != schema.find("api-ms-win-core-synch-l1-2-0")
    assert schema.find("api-ms-win-core-synch-l1-1-0") is not None


@pytest.mark.parametrize("name", [
    "api-ms-win-nonexistent-l1-1-0.dll", "kernel32.dll", "ucrtbase.dll", "api", "", "api-",
    "xpi-ms-win-crt-stdio-l1-1-0.dll", "api-ms-win-crt-stdio.dll", "api-ms-win-crt-stdio-l1.dll",
    "api-ms-win-deprecated-apis-legacy-l1-1-0.dll",   # an entry with no host
])
def test_unresolvable(schema, name):
    assert schema.resolve(name) is None


def test_hash_table_sorted_and_complete(schema):
    hashes = [schema.hash_entry(k) for k in range(schema.count)]
    assert [h for h, _ in hashes] == sorted(h for h, _ in hashes)
    assert len({h for h, _ in hashes}) == schema.count
    assert sorted(i for _, i in hashes) == list(range(schema.count))
    names = schema.names()
    assert len(names) == schema.count == len(set(names))
    for n in names:
        assert schema.find(n + ".dll") == names.index(n)
        assert schema.find(n.upper()) == names.index(n)


def test_exceptions_by_parent():
    m = {
        "api-ms-win-core-foo-l1-1-0": ["kernelbase.dll", {"kernel32.dll": "kernelbase.dll", "Zeta.dll": "zhost.dll",
                                                          "b_mod.dll": "bhost.dll", "alpha.dll": "ahost.dll"}],
        "ext-ms-win-bar-l1-1-0": [None, {}],
        "ext-ms-win-baz-l1-1-0": ["", {"user32.dll": "win32u.dll"}],
        "api-ms-win-core-qux-l2-1-0": ["qux.dll", {}],
    }
    s = ApiSetSchema(encode_v6(m))
    assert s.resolve("api-ms-win-core-foo-l1-1-0.dll") == "kernelbase.dll"
    assert s.resolve("api-ms-win-core-foo-l1-1-0.dll", "ALPHA.DLL") == "ahost.dll"
    assert s.resolve("api-ms-win-core-foo-l1-1-0.dll", "c:\\windows\\system32\\zeta.dll") == "zhost.dll"
    assert s.resolve("api-ms-win-core-foo-l1-1-0.dll", "b_mod.dll") == "bhost.dll"
    assert s.resolve("api-ms-win-core-foo-l1-1-0.dll", "other.dll") == "kernelbase.dll"
    assert s.resolve("ext-ms-win-bar-l1-1-0.dll") is None          # ext- set with no host
    assert s.resolve("ext-ms-win-baz-l1-1-0.dll") is None
    assert s.resolve("ext-ms-win-baz-l1-1-0.dll", "user32.dll") == "win32u.dll"
    assert s.resolve("api-ms-win-core-qux-l2-1-3.dll") == "qux.dll"
    assert s.resolve("api-ms-win-core-qux-l1-1-0.dll") is None
    back = s.mapping()
    assert back["ext-ms-win-bar-l1-1-0"] == [None, {}]
    assert back["api-ms-win-core-foo-l1-1-0"] == m["api-ms-win-core-foo-l1-1-0"]


def test_bad_blobs():
    with pytest.raises(ValueError):
        ApiSetSchema(b"\0" * 8)
    blob = bytearray(encode_v6(load_mapping()))
    blob[0] = 2
    with pytest.raises(ValueError):
        ApiSetSchema(bytes(blob))


def test_generator_reproduces_json(tmp_path):
    if not WINE_APISET.exists():
        pytest.skip("wine64 not installed")
    sys.path.insert(0, str(ROOT / "tools"))
    import gen_apiset
    out = tmp_path / "apiset.json"
    assert gen_apiset.main(["--out", str(out)]) == 0
    assert out.read_text() == (ROOT / "winhatch/kernel/apiset/apiset.json").read_text()
