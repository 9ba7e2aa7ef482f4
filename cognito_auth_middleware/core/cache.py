"""Size-bounded mappings: every cache in the package is one, so none can grow without limit.

:class:`BoundedCache` maps any keys; :class:`TokenCache` maps token texts, hashing only their
end.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TOKEN_KEY_CHARS", "BoundedCache", "TokenCache"]

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


#: How many characters of a token a :class:`TokenCache` hashes: its last ones, inside the
#: signature (an ES256 signature is 86 base64url characters, 88 as the ALB pads it; RS256's
#: 342), which two tokens share only if one copies the other's.
TOKEN_KEY_CHARS = 40


class TokenCache(Generic[V]):
    """A :class:`BoundedCache` of values by token text, found by the text's last characters.

    Every request brings its tokens as new strings (0.8-2 KiB each), and hashing them whole
    cost more than the rest of a look-up; the end of a token is as unique as its signature.
    An entry is returned only for the very text it was stored for: a token that copies
    another's signature finds that entry, is not given its value, and is verified as any new
    token is (storing it, once verified, replaces the other's entry).

    Example:
        >>> cache: TokenCache[int] = TokenCache(2)
        >>> cache.put("header.claims.signature", 1)
        >>> cache.get("header.claims.signature"), cache.get("forged.claims.signature")
        (1, None)
    """

    __slots__ = ("_entries",)

    def __init__(self, maxsize: int) -> None:
        self._entries: BoundedCache[str, tuple[str, V]] = BoundedCache(maxsize)

    def get(self, text: str) -> V | None:
        """The value stored for exactly ``text``, or ``None``."""
        entry = self._entries.get(text[-TOKEN_KEY_CHARS:])
        if entry is not None and entry[0] == text:
            return entry[1]
        return None

    def put(self, text: str, value: V) -> None:
        """Store ``value`` for ``text`` (replacing any entry of a token with the same end)."""
        self._entries.put(text[-TOKEN_KEY_CHARS:], (text, value))

    def __len__(self) -> int:
        return len(self._entries)
