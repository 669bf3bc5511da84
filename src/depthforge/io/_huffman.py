"""Huffman codes for :mod:`depthforge.io.png`'s literal-only deflate blocks (RFC 1951, section 3.2.7).

A code is fitted to byte counts (every byte value and the end-of-block symbol get a code, at most 15 bits, the
code complete so that strict inflaters accept it), given bit-reversed as the least-significant-first bit stream
wants, with the block header that announces it (code lengths sent without run-length symbols).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Code", "block_header", "huffman_lengths", "literal_lengths", "reversed_codes"]

_CL_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)  # RFC 1951 3.2.7


def huffman_lengths(counts: np.ndarray, limit: int) -> np.ndarray:
    """Code lengths (1..``limit``; 0 for symbols of count 0) of a complete prefix code fitted to ``counts``
    (at least two non-zero). Over-long codes are avoided by flattening the counts (halving, keeping them >= 1)
    until the deepest code fits."""
    from depthforge.io._png_numba import tree_depths

    c = np.asarray(counts, np.int64).copy()
    used = c > 0
    while True:
        lengths = np.asarray(tree_depths(c), np.int64)
        if lengths.max() <= limit:
            return lengths
        c[used] = (c[used] >> 1) + 1


def reversed_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical Huffman codes of ``lengths`` (RFC 1951 3.2.2), bit-reversed for the LSB-first bit stream."""
    lengths = np.asarray(lengths, np.int64)
    bl_count = np.bincount(lengths, minlength=17)
    bl_count[0] = 0
    first = np.zeros(17, np.int64)  # the first code of each length
    for bits in range(1, 17):
        first[bits] = (first[bits - 1] + bl_count[bits - 1]) << 1
    used = np.flatnonzero(lengths)
    order = used[np.argsort(lengths[used], kind="stable")]  # by length, then symbol
    n = lengths[order]
    starts = np.cumsum(bl_count) - bl_count  # where each length's symbols begin in ``order``
    codes = first[n] + np.arange(order.size) - starts[n]
    rev = np.zeros_like(codes)
    for b in range(16):  # bit b of a code of n bits goes to bit n - 1 - b
        take = b < n
        rev[take] |= ((codes[take] >> b) & 1) << (n[take] - 1 - b)
    out = np.zeros(len(lengths), np.int64)
    out[order] = rev
    return out


def block_header(lit_lengths: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray]:
    """The bits of a dynamic-Huffman block header (values, bit counts): literals 0..255 + end of block with
    ``lit_lengths``, two (unused) distance codes of one bit, code lengths sent without run-length symbols."""
    lengths = np.concatenate([lit_lengths, [1, 1]]).astype(np.int64)
    cl_lengths = huffman_lengths(np.bincount(lengths, minlength=19), 7)
    cl_codes = reversed_codes(cl_lengths)
    n_cl = 19
    while n_cl > 4 and cl_lengths[_CL_ORDER[n_cl - 1]] == 0:
        n_cl -= 1
    order = np.array(_CL_ORDER[:n_cl])
    head = [int(final), 2, len(lit_lengths) - 257, 2 - 1, n_cl - 4]
    values = np.concatenate([head, cl_lengths[order], cl_codes[lengths]])
    bits = np.concatenate([[1, 2, 5, 5, 4], np.full(n_cl, 3), cl_lengths[lengths]])
    return values.astype(np.int64), bits.astype(np.int64)


def literal_lengths(counts: np.ndarray) -> np.ndarray:
    """Code lengths (257,) for bytes seen ``counts`` (256,) times in a sample: every byte value and the
    end-of-block symbol get a code (counts + 1), at most 15 bits long."""
    return huffman_lengths(np.concatenate([np.asarray(counts, np.int64) + 1, [1]]), 15)


class Code:
    """A band's Huffman code, as the compiled coder wants it, from ``lit_len``: the code lengths of the 256 byte
    values and the end-of-block symbol (:func:`literal_lengths`)."""

    def __init__(self, lit_len: np.ndarray, dtype: np.dtype[Any]) -> None:
        self.lit_len = lit_len
        self.lit_code = reversed_codes(self.lit_len)
        lc, ll = self.lit_code[:256], self.lit_len[:256]
        if dtype == np.uint16:  # both bytes of a pixel in one table entry (at most 30 bits)
            self.tcode = (lc[:, None] | (lc[None, :] << ll[:, None])).reshape(-1).astype(np.uint32)
            self.tlen = (ll[:, None] + ll[None, :]).reshape(-1).astype(np.uint8)
        else:
            self.tcode, self.tlen = lc.astype(np.uint32), ll.astype(np.uint8)
        values, bits = block_header(self.lit_len, False)
        last = values.copy()
        last[0] = 1  # the final-block flag, the header's first bit
        self.header = {False: (values, bits), True: (last, bits)}
