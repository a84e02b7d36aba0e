"""ntdll's XPRESS and XPRESS_HUFF compression (Wine 8 has neither, so no recorded expectation: the checks are
MS-XCA's own examples and round trips). LZNT1 against Wine: tests/fixtures/src/conf_rtl_compress.c."""
from __future__ import annotations

import os
import random
import subprocess

import pytest

from winhatch import runner
from winhatch.win32 import compression as codec

import fixturebuild

# MS-XCA 3.1 (plain LZ77): the 26 letters, and "abc" repeated 100 times
VECTORS = [(b"abcdefghijklmnopqrstuvwxyz", "3f0000006162636465666768696a6b6c6d6e6f707172737475767778797a"),
           (b"abc" * 100, "ffffff1f61626317000fff2601")]


def _inputs():
    rnd = random.Random(7)
    return [b"", b"a", b"Test", b"WineWineWine\0", b"abc" * 100, bytes(9000), rnd.randbytes(9000),
            bytes(rnd.choice(b"abcd") for _ in range(70000)), bytes(range(256)) * 300,
            b"x" * 70000 + b"tail"]


def test_xpress_spec_vectors():
    for plain, packed in VECTORS:
        assert codec.xpress_compress(plain, 1 << 20).hex() == packed
        assert codec.xpress_decompress(bytes.fromhex(packed), len(plain)) == plain


@pytest.mark.parametrize("name", ["lznt1", "xpress", "xpress_huff"])
def test_round_trips(name):
    comp, decomp = getattr(codec, f"{name}_compress"), getattr(codec, f"{name}_decompress")
    for data in _inputs():
        packed = comp(data, 1 << 30)
        if name == "lznt1" and not data:
            assert packed == b""
            with pytest.raises(codec.BadCompression):      # no chunk at all (as Wine's decoder says too)
                decomp(packed, 10)
            continue
        assert decomp(packed, len(data)) == data, (name, len(data))


def test_malformed_input_is_an_error_not_a_crash():
    rnd = random.Random(3)
    packed = codec.xpress_huff_compress(b"hello hello hello world" * 50, 1 << 20)
    for _ in range(200):
        bad = bytearray(packed)
        for _ in range(4):
            bad[rnd.randrange(len(bad))] = rnd.randrange(256)
        for fn in (codec.lznt1_decompress, codec.xpress_decompress, codec.xpress_huff_decompress):
            try:
                fn(bytes(bad), 5000)
            except codec.BadCompression:
                pass
    with pytest.raises(codec.OutputTooSmall):
        codec.xpress_compress(os.urandom(5000), 100)


PROGRAM = r"""
#include <windows.h>
#include <stdio.h>
#include <string.h>
NTSTATUS NTAPI RtlCompressBuffer(USHORT, PUCHAR, ULONG, PUCHAR, ULONG, ULONG, PULONG, PVOID);
NTSTATUS NTAPI RtlDecompressBuffer(USHORT, PUCHAR, ULONG, PUCHAR, ULONG, PULONG);
NTSTATUS NTAPI RtlGetCompressionWorkSpaceSize(USHORT, PULONG, PULONG);
static unsigned char in[100000], comp[110000], out[100000], work[0x40000];
int main(void)
{
    static const USHORT fmts[] = { 3, 4, 0x103, 0x104 };
    ULONG i, f, size, csize, cw, fw;
    NTSTATUS st;
    for (i = 0; i < 300; i++) in[i] = "abc"[i % 3];
    st = RtlCompressBuffer(3, in, 300, comp, sizeof(comp), 4096, &csize, work);
    printf("vector: %08lx", st);
    for (i = 0; i < csize; i++) printf(" %02x", comp[i]);
    printf("\n");
    for (i = 0; i < 90000; i++) in[i] = "the quick brown fox "[(i * 7 + i / 1000) % 20] ^ (i % 4096 == 0);
    for (f = 0; f < 4; f++) {
        st = RtlGetCompressionWorkSpaceSize(fmts[f], &cw, &fw);
        printf("format %04x workspace %08lx;", fmts[f], st);
        st = RtlCompressBuffer(fmts[f], in, 90000, comp, sizeof(comp), 4096, &csize, work);
        printf(" compress %08lx smaller %d;", st, csize < 90000);
        memset(out, 0, sizeof(out));
        st = RtlDecompressBuffer(fmts[f] & 0xff, out, 90000, comp, csize, &size);
        printf(" decompress %08lx size %lu same %d\n", st, size, !memcmp(in, out, 90000));
    }
    st = RtlCompressBuffer(3, in, 5000, comp, 10, 4096, &csize, work);
    printf("too small %08lx\n", st);
    return 0;
}
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    d = tmp_path_factory.mktemp("xpress")
    src = d / "xpress.c"
    src.write_text(PROGRAM)
    out = {}
    for arch in ("x86", "x64"):
        exe = d / f"xpress-{arch}.exe"
        subprocess.run([fixturebuild.compiler(arch), "-O1", "-o", str(exe), str(src), "-lntdll"], check=True,
                       capture_output=True)
        out[arch] = exe
    return out


def test_guest_xpress(programs, arch):
    res = runner.run(programs[arch], [])
    lines = res.stdout.decode().splitlines()
    assert lines[0] == "vector: 00000000 ff ff ff 1f 61 62 63 17 00 0f ff 26 01"
    for fmt, line in zip(("0003", "0004", "0103", "0104"), lines[1:5]):
        assert line == (f"format {fmt} workspace 00000000; compress 00000000 smaller 1; "
                        "decompress 00000000 size 90000 same 1")
    assert lines[5] == "too small c0000023"
