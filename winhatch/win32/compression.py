"""The compression formats of ntdll's RtlCompressBuffer family, as [MS-XCA] specifies them.

* LZNT1 (MS-XCA 2.5): 4 KB chunks, each with a 16-bit header (bits 0-11: chunk bytes - 3 counting the header,
  bits 12-14: signature 3, bit 15: compressed); a compressed chunk is groups of one flag byte (bit i set: item
  i is a 16-bit back-reference, else a literal) and eight items; the split of a back-reference between
  displacement and length depends on the position inside the chunk (4..12 displacement bits).
* Plain LZ77, COMPRESSION_FORMAT_XPRESS (2.3, 2.4): 32-bit flag words read from the top bit down, 16-bit
  back-references (13 bits offset - 1, 3 bits length - 3) with the nibble/byte/word/dword length extensions;
  the unused flag bits of the last word are ones, which ends the stream.
* LZ77+Huffman, COMPRESSION_FORMAT_XPRESS_HUFF (2.1, 2.2): blocks of 64 KB of output, each starting with the
  256-byte table of 4-bit code lengths of 512 symbols (literals, then 256 + 16 * offset bits + length),
  then a bit stream read as 16-bit little-endian words, most significant bit first.

Every loop is bounded by the input or the output size; malformed input raises BadCompression
(STATUS_BAD_COMPRESSION_BUFFER).
"""
from __future__ import annotations

import struct


class BadCompression(Exception):
    pass


class OutputTooSmall(Exception):
    pass


# ---------------------------------------------------------------------------------------------- LZNT1

def _lznt1_split(pos: int) -> tuple[int, int]:
    """(length bits, length mask) of a back-reference at `pos` bytes into the chunk."""
    shift, threshold = 12, 16
    while pos > threshold:
        shift -= 1
        threshold <<= 1
    return shift, (1 << shift) - 1


def _matches(data: bytes, start: int, end: int, max_dist_at, max_len_at):
    """Greedy longest matches inside data[start:end] (a hash chain over 3-byte prefixes, nearest match wins
    ties). Yields (position, offset, length) for matches and (position, 0, 0) for literals."""
    heads: dict[bytes, list[int]] = {}
    i = start
    while i < end:
        best_len = best_off = 0
        if i + 3 <= end:
            key = data[i:i + 3]
            cands = heads.get(key)
            if cands:
                max_dist = max_dist_at(i - start)
                max_len = min(max_len_at(i - start), end - i)
                for j in reversed(cands[-64:]):
                    off = i - j
                    if off > max_dist:
                        break
                    n = 3
                    while n < max_len and data[j + n] == data[i + n]:
                        n += 1
                    if n > best_len:
                        best_len, best_off = n, off
                        if n == max_len:
                            break
        step = best_len if best_len >= 3 else 1
        for k in range(i, min(i + step, end - 2)):
            heads.setdefault(data[k:k + 3], []).append(k)
        if best_len >= 3:
            yield i, best_off, best_len
        else:
            yield i, 0, 0
        i += step


def lznt1_compress(data: bytes, limit: int) -> bytes:
    out = bytearray()
    for cstart in range(0, len(data), 4096):
        cend = min(cstart + 4096, len(data))
        body = bytearray()
        flags_at, flags, nitems = 0, 0, 8
        for i, off, n in _matches(data, cstart, cend, lambda pos: 1 << (16 - _lznt1_split(pos)[0]),
                                  lambda pos: _lznt1_split(pos)[1] + 3):
            if nitems == 8:
                flags_at, flags, nitems = len(body), 0, 0
                body.append(0)
            if n:
                shift, _ = _lznt1_split(i - cstart)
                body += struct.pack("<H", ((off - 1) << shift) | (n - 3))
                flags |= 1 << nitems
            else:
                body.append(data[i])
            body[flags_at] = flags
            nitems += 1
        if len(body) < cend - cstart:
            out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
        else:
            out += struct.pack("<H", 0x3000 | (cend - cstart + 2 - 3)) + data[cstart:cend]
        if len(out) > limit:
            raise OutputTooSmall
    return bytes(out)


def _lznt1_chunk(chunk: bytes, out: bytearray, limit: int) -> None:
    start = len(out)
    i = 0
    while i < len(chunk) and len(out) < limit:
        flags = chunk[i]
        i += 1
        for bit in range(8):
            if i >= len(chunk) or len(out) >= limit:
                break
            if flags >> bit & 1:
                if i + 2 > len(chunk):
                    raise BadCompression("truncated back-reference")
                tok = chunk[i] | chunk[i + 1] << 8
                i += 2
                pos = len(out) - start
                shift, mask = _lznt1_split(pos)
                off, n = (tok >> shift) + 1, (tok & mask) + 3
                if off > pos:
                    raise BadCompression("back-reference before the chunk")
                for _ in range(min(n, limit - len(out))):
                    out.append(out[-off])
            else:
                out.append(chunk[i])
                i += 1


def lznt1_decompress(src: bytes, limit: int) -> bytes:
    """The chunks of src, up to `limit` bytes of output (a short buffer truncates, as on Windows)."""
    if len(src) < 2:
        raise BadCompression("no chunk header")
    out = bytearray()
    i = 0
    while i + 2 <= len(src) and len(out) < limit:
        hdr = src[i] | src[i + 1] << 8
        if hdr == 0:
            break
        size = (hdr & 0xFFF) + 1
        if i + 2 + size > len(src):
            raise BadCompression("chunk past the end of the input")
        chunk = src[i + 2:i + 2 + size]
        i += 2 + size
        base = len(out)
        if hdr & 0x8000:
            _lznt1_chunk(chunk, out, limit)
        else:
            out += chunk[:limit - len(out)]
        if i + 2 <= len(src) and (src[i] | src[i + 1] << 8) and len(out) - base < 4096:
            out += bytes(min(4096 - (len(out) - base), limit - len(out)))   # a short chunk that is not last
    return bytes(out)


# ---------------------------------------------------------------------------------------------- XPRESS (plain LZ77)

def xpress_compress(data: bytes, limit: int) -> bytes:
    out = bytearray(4)
    flag_at, flags, nflags, nibble_at = 0, 0, 0, 0

    def flag(bit: int) -> None:
        nonlocal flag_at, flags, nflags
        if nflags == 32:
            struct.pack_into("<I", out, flag_at, flags)
            flag_at, flags, nflags = len(out), 0, 0
            out.extend(bytes(4))
        flags = (flags << 1) | bit
        nflags += 1

    for i, off, n in _matches(data, 0, len(data), lambda pos: 8192, lambda pos: 1 << 32):
        if n:
            flag(1)
            ml = n - 3
            tok = (off - 1) << 3
            if ml < 7:
                out += struct.pack("<H", tok | ml)
            else:
                out += struct.pack("<H", tok | 7)
                if nibble_at == 0:
                    nibble_at = len(out)
                    out.append(min(ml - 7, 15))
                else:
                    out[nibble_at] |= min(ml - 7, 15) << 4
                    nibble_at = 0
                if ml >= 22:
                    if ml - 22 < 255:
                        out.append(ml - 22)
                    else:
                        out.append(255)
                        if ml < 0x10000:
                            out += struct.pack("<H", ml)
                        else:
                            out += struct.pack("<HI", 0, ml)
        else:
            flag(0)
            out.append(data[i])
        if len(out) > limit:
            raise OutputTooSmall
    # the unused flags are ones: the decoder stops at a match with no input left
    struct.pack_into("<I", out, flag_at, ((flags << (32 - nflags)) | ((1 << (32 - nflags)) - 1)) & 0xFFFFFFFF)
    if nflags == 32:
        out += b"\xff\xff\xff\xff"
    if len(out) > limit:
        raise OutputTooSmall
    return bytes(out)


def xpress_decompress(src: bytes, limit: int) -> bytes:
    out = bytearray()
    i, flags, nflags, half = 0, 0, 0, 0
    n_in = len(src)
    while len(out) < limit:
        if nflags == 0:
            if i + 4 > n_in:
                break
            flags = struct.unpack_from("<I", src, i)[0]
            i += 4
            nflags = 32
        nflags -= 1
        if not flags >> nflags & 1:
            if i >= n_in:
                break
            out.append(src[i])
            i += 1
            continue
        if i == n_in:
            break
        if i + 2 > n_in:
            raise BadCompression("truncated match")
        tok = src[i] | src[i + 1] << 8
        i += 2
        n, off = tok & 7, (tok >> 3) + 1
        if n == 7:
            if half == 0:
                if i >= n_in:
                    raise BadCompression("truncated length")
                n = src[i] & 15
                half = i
                i += 1
            else:
                n = src[half] >> 4
                half = 0
            if n == 15:
                if i >= n_in:
                    raise BadCompression("truncated length")
                n = src[i]
                i += 1
                if n == 255:
                    if i + 2 > n_in:
                        raise BadCompression("truncated length")
                    n = src[i] | src[i + 1] << 8
                    i += 2
                    if n == 0:
                        if i + 4 > n_in:
                            raise BadCompression("truncated length")
                        n = struct.unpack_from("<I", src, i)[0]
                        i += 4
                    if n < 22:
                        raise BadCompression("bad length")
                    n -= 22
                n += 15
            n += 7
        n += 3
        if off > len(out):
            raise BadCompression("back-reference before the start")
        _copy(out, off, min(n, limit - len(out)))
    return bytes(out)


def _copy(out: bytearray, off: int, n: int) -> None:
    if off >= n:
        out += out[len(out) - off:len(out) - off + n]
    else:
        for _ in range(n):
            out.append(out[-off])


# ---------------------------------------------------------------------------------------------- XPRESS_HUFF

def _canonical(lengths: list[int]) -> list[tuple[int, int]]:
    """Canonical codes (code, length) in symbol order for lengths ordered by (length, symbol)."""
    codes = [(0, 0)] * len(lengths)
    code = 0
    for ln in range(1, 16):
        for sym in range(len(lengths)):
            if lengths[sym] == ln:
                codes[sym] = (code, ln)
                code += 1
        code <<= 1
    return codes


def _decode_table(lengths: list[int]) -> list[int]:
    """A 2^15-entry table: the next 15 bits -> symbol << 4 | length."""
    if not any(lengths):
        raise BadCompression("empty Huffman table")
    table = [-1] * (1 << 15)
    code = 0
    for ln in range(1, 16):
        for sym in range(512):
            if lengths[sym] == ln:
                first = code << (15 - ln)
                span = 1 << (15 - ln)
                if first + span > len(table):
                    raise BadCompression("over-subscribed Huffman table")
                table[first:first + span] = [sym << 4 | ln] * span
                code += 1
        code <<= 1
    return table


def xpress_huff_decompress(src: bytes, limit: int) -> bytes:
    out = bytearray()
    i = 0
    n_in = len(src)
    while len(out) < limit:
        block_end = min(len(out) + 65536, limit)
        if i + 256 + 4 > n_in:
            if len(out) == 0 or i >= n_in:
                break
            raise BadCompression("truncated block")
        lengths = []
        for b in src[i:i + 256]:
            lengths += (b & 15, b >> 4)
        table = _decode_table(lengths)
        i += 256
        bits = struct.unpack_from("<H", src, i)[0] << 16 | struct.unpack_from("<H", src, i + 2)[0]
        i += 4
        extra = 16

        def consume(k: int) -> None:
            nonlocal bits, extra, i
            bits = (bits << k) & 0xFFFFFFFF
            extra -= k
            if extra < 0:
                word = struct.unpack_from("<H", src, i)[0] if i + 2 <= n_in else 0
                bits |= word << -extra
                extra += 16
                i += 2

        while len(out) < block_end:
            e = table[bits >> 17]
            if e < 0:
                raise BadCompression("invalid Huffman code")
            sym = e >> 4
            consume(e & 15)
            if sym < 256:
                out.append(sym)
                continue
            if sym == 256 and i >= n_in:
                return bytes(out)
            sym -= 256
            n, obits = sym & 15, sym >> 4
            if n == 15:
                if i >= n_in:
                    raise BadCompression("truncated length")
                n = src[i]
                i += 1
                if n == 255:
                    if i + 2 > n_in:
                        raise BadCompression("truncated length")
                    n = src[i] | src[i + 1] << 8
                    i += 2
                    if n == 0:
                        if i + 4 > n_in:
                            raise BadCompression("truncated length")
                        n = struct.unpack_from("<I", src, i)[0]
                        i += 4
                    if n < 15:
                        raise BadCompression("bad length")
                    n -= 15
                n += 15
            n += 3
            off = ((bits >> (32 - obits)) if obits else 0) + (1 << obits)
            consume(obits)
            if off > len(out):
                raise BadCompression("back-reference before the start")
            _copy(out, off, min(n, block_end - len(out)))
        if i > n_in:
            raise BadCompression("bit stream past the input")
    return bytes(out)


def _huff_lengths(freq: list[int], maxlen: int = 15) -> list[int]:
    """Length-limited code lengths (package-merge) for the symbols with non-zero frequency."""
    syms = [s for s in range(len(freq)) if freq[s]]
    lengths = [0] * len(freq)
    if len(syms) == 1:
        lengths[syms[0]] = 1
        other = 0 if syms[0] else 1          # a complete code needs two symbols
        lengths[other] = 1
        return lengths
    leaves = sorted((freq[s], [s]) for s in syms)
    current = list(leaves)
    for _ in range(maxlen - 1):
        paired = [(current[k][0] + current[k + 1][0], current[k][1] + current[k + 1][1])
                  for k in range(0, len(current) - 1, 2)]
        current = sorted(leaves + paired, key=lambda t: t[0])
    for _, members in current[:2 * len(syms) - 2]:
        for s in members:
            lengths[s] += 1
    return lengths


def xpress_huff_compress(data: bytes, limit: int) -> bytes:
    out = bytearray()
    for bstart in range(0, max(len(data), 1), 65536):
        bend = min(bstart + 65536, len(data))
        items = []
        freq = [0] * 512
        for i, off, n in _matches(data, bstart, bend, lambda pos: 65535, lambda pos: 1 << 32):
            if n:
                obits = off.bit_length() - 1
                sym = 256 + (obits << 4) + min(n - 3, 15)
                items.append((sym, n - 3, off - (1 << obits), obits))
            else:
                sym = data[i]
                items.append((sym, 0, 0, -1))
            freq[sym] += 1
        last = bend == len(data)
        if last:
            freq[256] += 1
        lengths = _huff_lengths(freq)
        codes = _canonical(lengths)
        out += bytes(lengths[k] | lengths[k + 1] << 4 for k in range(0, 512, 2))
        w = _BitWriter(out)
        for sym, ml, extra_off, obits in items:
            w.bits(*codes[sym])
            if obits < 0:
                continue
            if ml >= 15:
                if ml - 15 < 255:
                    w.byte(ml - 15)
                else:
                    w.byte(255)
                    if ml < 0x10000:
                        w.raw(struct.pack("<H", ml))
                    else:
                        w.raw(struct.pack("<HI", 0, ml))
            w.bits(extra_off, obits)
        if last:
            w.bits(*codes[256])
        w.flush()
        if len(out) > limit:
            raise OutputTooSmall
    return bytes(out)


class _BitWriter:
    """MS-XCA 2.1's output: 16-bit words filled from the top bit. The decoder holds two words ahead and reads
    the next one when it starts using the second; extra length bytes are read from where its input position
    is, so each word's place is reserved when the word before it is begun, exactly as the decoder reads."""

    def __init__(self, out: bytearray):
        self.out = out
        self.slots = [len(out), len(out) + 2]
        out += bytes(4)
        self.acc, self.n, self.words = 0, 0, 0

    def bits(self, value: int, count: int) -> None:
        for k in range(count - 1, -1, -1):
            if self.n == 0 and self.words >= 1:
                self.slots.append(len(self.out))
                self.out += bytes(2)
            self.acc = self.acc << 1 | (value >> k & 1)
            self.n += 1
            if self.n == 16:
                struct.pack_into("<H", self.out, self.slots.pop(0), self.acc)
                self.acc, self.n = 0, 0
                self.words += 1

    def byte(self, b: int) -> None:
        self.out.append(b)

    def raw(self, b: bytes) -> None:
        self.out += b

    def flush(self) -> None:
        if self.n:
            struct.pack_into("<H", self.out, self.slots.pop(0), self.acc << (16 - self.n))
        # the words still reserved stay zero: the decoder's look-ahead reads them
