"""Huffman codes for :mod:`depthforge.io.png`'s literal-only deflate blocks (RFC 1951, section 3.2.7).

A code is fitted to byte counts (every byte value and the end-of-block symbol get a code, at most 15 bits, the
code complete so that strict inflaters accept it), given bit-reversed as the least-significant-first bit stream
wants, with the block header that announces it (code lengths sent without run-length symbols).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Code", "block_header", "huffman_lengths", "reversed_codes"]

_CL_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)  # RFC 1951 3.2.7


def huffman_lengths(counts: np.ndarray, limit: int) -> np.ndarray:
    """Code lengths (1..``limit``; 0 for symbols of count 0) of a complete prefix code fitted to ``counts``
    (at least two non-zero). Over-long codes are avoided by flattening the counts (halving, keeping them >= 1)
    until the deepest code fits."""
    import heapq

    c = np.asarray(counts, np.int64).copy()
    used = np.flatnonzero(c)
    while True:
        heap = [(int(c[i]), int(i)) for i in used]
        heapq.heapify(heap)
        parent: dict[int, int] = {}
        node = len(c)
        while len(heap) > 1:
            ca, a = heapq.heappop(heap)
            cb, b = heapq.heappop(heap)
            parent[a] = parent[b] = node
            heapq.heappush(heap, (ca + cb, node))
            node += 1
        lengths = np.zeros(len(c), np.int64)
        for i in used:
            d, j = 0, int(i)
            while j in parent:
                j = parent[j]
                d += 1
            lengths[i] = d
        if lengths.max() <= limit:
            return lengths
        c[used] = (c[used] >> 1) + 1


def reversed_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical Huffman codes of ``lengths`` (RFC 1951 3.2.2), bit-reversed for the LSB-first bit stream."""
    bl_count = np.bincount(lengths, minlength=16)
    bl_count[0] = 0
    next_code = [0] * 17
    code = 0
    for bits in range(1, 17):
        code = (code + int(bl_count[bits - 1])) << 1
        next_code[bits] = code
    out = np.zeros(len(lengths), np.int64)
    for sym, n in enumerate(lengths):
        if n:
            v = next_code[n]
            next_code[n] += 1
            out[sym] = int(f"{v:0{n}b}"[::-1], 2)
    return out


def block_header(lit_lengths: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray]:
    """The bits of a dynamic-Huffman block header (values, bit counts): literals 0..255 + end of block with
    ``lit_lengths``, two (unused) distance codes of one bit, code lengths sent without run-length symbols."""
    lengths = np.concatenate([lit_lengths, [1, 1]])
    cl_lengths = huffman_lengths(np.bincount(lengths, minlength=19), 7)
    cl_codes = reversed_codes(cl_lengths)
    n_cl = 19
    while n_cl > 4 and cl_lengths[_CL_ORDER[n_cl - 1]] == 0:
        n_cl -= 1
    values = [int(final), 2, len(lit_lengths) - 257, 2 - 1, n_cl - 4]
    bits = [1, 2, 5, 5, 4]
    for sym in _CL_ORDER[:n_cl]:
        values.append(int(cl_lengths[sym]))
        bits.append(3)
    for n in lengths:
        values.append(int(cl_codes[n]))
        bits.append(int(cl_lengths[n]))
    return np.array(values, np.int64), np.array(bits, np.int64)


class Code:
    """A band's Huffman code (fitted to a sample of its filtered bytes), as the compiled coder wants it."""

    def __init__(self, counts: np.ndarray, dtype: np.dtype[Any]) -> None:
        lit = np.concatenate([counts + 1, [1]])  # every byte value and the end-of-block code get a code
        self.lit_len = huffman_lengths(lit, 15)
        self.lit_code = reversed_codes(self.lit_len)
        lc, ll = self.lit_code[:256], self.lit_len[:256]
        if dtype == np.uint16:  # both bytes of a pixel in one table entry (at most 30 bits)
            self.tcode = (lc[:, None] | (lc[None, :] << ll[:, None])).reshape(-1).astype(np.uint32)
            self.tlen = (ll[:, None] + ll[None, :]).reshape(-1).astype(np.uint8)
        else:
            self.tcode, self.tlen = lc.astype(np.uint32), ll.astype(np.uint8)
        self.header = {final: block_header(self.lit_len, final) for final in (False, True)}
