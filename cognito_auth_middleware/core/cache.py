"""A size-bounded mapping: every cache in the package is one, so none can grow without limit."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["BoundedCache"]

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A mapping that holds at most ``maxsize`` entries, evicting the oldest insertion first.

    Reads are lock-free lookups (atomic under the GIL); writes take a lock so that concurrent
    inserts from WSGI threads cannot push the size past the bound. An ``OrderedDict`` evicts
    in constant time (a plain dict slows down as deleted slots pile up at its front).

    Example:
        >>> cache: BoundedCache[str, int] = BoundedCache(2)
        >>> cache.put("a", 1); cache.put("b", 2); cache.put("c", 3)
        >>> cache.get("a"), len(cache)
        (None, 2)
    """

    __slots__ = ("_data", "_lock", "get", "maxsize")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        #: ``get(key)``: the value stored for ``key``, or ``None``. The mapping's own method,
        #: bound once: every request looks up at least one cache, and a wrapper would add a
        #: Python call to each look-up.
        self.get: Callable[[K], V | None] = self._data.get

    def put(self, key: K, value: V) -> None:
        """Store ``value``, evicting the oldest entries if the cache is full."""
        data = self._data
        with self._lock:  # one insertion adds at most one entry: one eviction keeps the bound
            data[key] = value
            if len(data) > self.maxsize:
                data.popitem(last=False)

    def discard(self, key: K) -> None:
        """Remove ``key`` if present."""
        with self._lock:
            self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)
