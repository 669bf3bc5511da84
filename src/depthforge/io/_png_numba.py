"""Compiled kernels for :mod:`depthforge.io.png`: PNG "Up" filtering, Adler-32 and Huffman-only deflate (numba).

A noise-like depth map's filtered scanlines are short-range noise around a smooth trend: LZ77 string matching
(what zlib and ISA-L spend their time on) finds little in them, while a Huffman code fitted to the residual bytes
captures nearly all of the gain. These kernels filter, checksum and Huffman-code the rows in one pass, emitting
one dynamic-Huffman deflate block (RFC 1951, section 3.2.7) whose literal code the caller built from a sample of
the same residuals. Bits are packed least significant first, as deflate wants; codes are given bit-reversed.
Every kernel releases the GIL, so bands of rows run on several threads.

``state`` is a small int64 array carried from call to call within one band: ``[bits, n_bits, s1, s2]`` (the bits
not yet written as whole bytes, and the Adler-32 sums of the scanlines so far).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["encode_rows", "put_bits"]

_ADLER_MOD = 65521


@njit(cache=True, nogil=True)
def encode_rows(rows, above, table_code, table_len, filter_code, filter_len, out, pos, state):  # type: ignore[no-untyped-def]
    """Up-filter ``rows``, add their scanlines to the Adler-32 sums and append their Huffman codes to ``out``.

    Args:
        rows: (n, W) uint8 or uint16 pixel rows; ``above``: (W,) the row before them (zeros at the top).
        table_code, table_len: codes (bit-reversed) and lengths per residual: for uint16 rows indexed by
            ``hi << 8 | lo`` (both bytes of a pixel in one code, at most 30 bits), for uint8 rows by the byte.
        filter_code, filter_len: the code of the filter-type byte (2, Up) that starts every scanline.
        out: uint8 buffer (length a multiple of 4) with room for ``n * (1 + W * itemsize) * 15 / 8 + 8`` bytes
            after ``pos``; pos: where the stream goes on (a multiple of 4).
        state: int64 ``[bits, n_bits, s1, s2]`` (see the module docstring), updated.

    Returns:
        The new end of the stream in ``out`` (whole 32-bit words; the remaining < 32 bits stay in ``state``).
    """
    n, w = rows.shape
    wide = rows.itemsize == 2
    line = 1 + w * rows.itemsize  # scanline bytes, filter byte included
    words = out.view(np.uint32)
    at = pos >> 2
    acc = np.uint64(state[0])
    nb = np.uint64(state[1])
    s1 = np.int64(state[2])
    s2 = np.int64(state[3])
    low = np.uint64(0xFFFFFFFF)
    five = np.uint64(5)
    keys = np.empty(w, np.int64)
    for y in range(n):
        prev = above if y == 0 else rows[y - 1]
        row = rows[y]
        # 1. residuals and the row's Adler-32 terms (independent per pixel, so this loop vectorises):
        # over the scanline's bytes b_i, s1 += sum b_i and s2 += line * s1 + sum (line - i) * b_i
        total = np.int64(2)
        weighted = np.int64(2 * line)
        if wide:
            for x in range(w):
                v = np.int64(row[x])
                p = np.int64(prev[x])
                hi = ((v >> 8) - (p >> 8)) & 0xFF
                lo = ((v & 0xFF) - (p & 0xFF)) & 0xFF
                total += hi + lo
                weighted += (line - 1 - 2 * x) * hi + (line - 2 - 2 * x) * lo
                keys[x] = (hi << 8) | lo
        else:
            for x in range(w):
                k = (np.int64(row[x]) - np.int64(prev[x])) & 0xFF
                total += k
                weighted += (line - 1 - x) * k
                keys[x] = k
        s2 = (s2 + line * s1 + weighted) % _ADLER_MOD
        s1 = (s1 + total) % _ADLER_MOD
        # 2. the codes: the filter byte, then one table entry per pixel; branch-free, the low word is stored
        # every time and kept once 32 bits are complete
        acc |= np.uint64(filter_code) << nb
        nb += np.uint64(filter_len)
        for x in range(-1, w):
            if x >= 0:
                k = keys[x]
                acc |= np.uint64(table_code[k]) << nb
                nb += np.uint64(table_len[k])
            words[at] = np.uint32(acc & low)
            full = nb >> five
            at += np.int64(full)
            acc >>= full << five
            nb -= full << five
    state[0] = np.int64(acc)
    state[1] = np.int64(nb)
    state[2] = s1
    state[3] = s2
    return at << 2


@njit(cache=True, nogil=True)
def put_bits(values, lengths, out, pos, state, align):  # type: ignore[no-untyped-def]
    """Append ``values[i]`` (``lengths[i]`` <= 32 bits each, least significant first) to the stream in ``out`` at
    ``pos``, in whole 32-bit words; with ``align``, also the remaining bits, padded with zeros to a whole byte.
    Returns the new end of the stream."""
    acc = np.uint64(state[0])
    nb = np.int64(state[1])
    for i in range(values.shape[0]):
        acc |= np.uint64(values[i]) << np.uint64(nb)
        nb += np.int64(lengths[i])
        if nb >= 32:
            for j in range(4):
                out[pos + j] = (acc >> np.uint64(8 * j)) & 0xFF
            pos += 4
            acc >>= np.uint64(32)
            nb -= 32
    if align:
        while nb > 0:
            out[pos] = acc & 0xFF
            acc >>= np.uint64(8)
            nb -= 8
            pos += 1
        nb = 0
    state[0] = np.int64(acc)
    state[1] = nb
    return pos


@njit(cache=True, nogil=True)
def _less(ca, ia, cb, ib):  # type: ignore[no-untyped-def]
    return ca < cb or (ca == cb and ia < ib)


@njit(cache=True, nogil=True)
def _push(hc, hi, size, c, i):  # type: ignore[no-untyped-def]
    j = size
    hc[j], hi[j] = c, i
    while j > 0:
        p = (j - 1) // 2
        if not _less(hc[j], hi[j], hc[p], hi[p]):
            break
        hc[j], hi[j], hc[p], hi[p] = hc[p], hi[p], hc[j], hi[j]
        j = p
    return size + 1


@njit(cache=True, nogil=True)
def _pop(hc, hi, size):  # type: ignore[no-untyped-def]
    c, i = hc[0], hi[0]
    size -= 1
    hc[0], hi[0] = hc[size], hi[size]
    j = 0
    while True:
        a, b, s = 2 * j + 1, 2 * j + 2, j
        if a < size and _less(hc[a], hi[a], hc[s], hi[s]):
            s = a
        if b < size and _less(hc[b], hi[b], hc[s], hi[s]):
            s = b
        if s == j:
            return c, i, size
        hc[j], hi[j], hc[s], hi[s] = hc[s], hi[s], hc[j], hi[j]
        j = s


@njit(cache=True, nogil=True)
def tree_depths(counts):  # type: ignore[no-untyped-def]
    """Depth of each symbol in the Huffman tree of ``counts`` (int64, at least two non-zero; 0 for unused
    symbols): the two least (count, id) nodes merge first, merged nodes numbered from ``len(counts)`` up, so the
    tree is the one any priority queue ordered that way builds."""
    n = counts.shape[0]
    hc = np.empty(n, np.int64)  # the heap: counts and ids
    hi = np.empty(n, np.int64)
    parent = np.full(2 * n, -1, np.int64)
    size = 0
    for i in range(n):
        if counts[i] > 0:
            size = _push(hc, hi, size, counts[i], i)
    node = n
    while size > 1:
        c1, i1, size = _pop(hc, hi, size)
        c2, i2, size = _pop(hc, hi, size)
        parent[i1] = node
        parent[i2] = node
        size = _push(hc, hi, size, c1 + c2, node)
        node += 1
    depth = np.zeros(2 * n, np.int64)
    for i in range(node - 2, -1, -1):  # a parent is numbered after its children
        if parent[i] >= 0:
            depth[i] = depth[parent[i]] + 1
    return depth[:n]
