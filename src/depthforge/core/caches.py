"""In-process caches bounded by count and by size: the one eviction rule of the server's depth maps and the
OpenVINO backend's compiled graphs.

A cache is a ``dict`` in use order (least recently used first: a hit is moved to the end); :func:`drop_oldest`
drops from the front until both bounds hold, and never drops the newest entry, so the entry just stored or used
stays even when it alone is over the size bound.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["drop_oldest"]

K = TypeVar("K", bound=Hashable)


def drop_oldest(entries: dict[K, Any], *, size: Callable[[K], int], max_entries: int, max_size: int) -> list[K]:
    """Drop the oldest entries of ``entries`` (in place) until at most ``max_entries`` remain and their ``size``
    (of each key: pixels, bytes) adds up to at most ``max_size``; the newest entry always stays.

    Returns:
        The keys dropped, oldest first.

    >>> cache = {"a": 3, "b": 2, "c": 4}
    >>> drop_oldest(cache, size=cache.__getitem__, max_entries=3, max_size=6), cache
    (['a'], {'b': 2, 'c': 4})
    """
    dropped = []
    while len(entries) > 1 and (len(entries) > max_entries or sum(map(size, entries)) > max_size):
        oldest = next(iter(entries))
        del entries[oldest]
        dropped.append(oldest)
    return dropped
