"""The bounded mapping behind every cache (``core/cache.py``)."""

from __future__ import annotations

import pytest

from cognito_auth_middleware.core.cache import BoundedCache


def test_the_oldest_insertion_is_evicted_first() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")  # reading does not refresh an entry
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (None, 2, 3, 2)


def test_a_cache_holds_exactly_its_size() -> None:
    cache: BoundedCache[int, int] = BoundedCache(3)
    for n in range(3):
        cache.put(n, n)
    assert [cache.get(n) for n in range(3)] == [0, 1, 2]
    cache.put(3, 3)
    assert [cache.get(n) for n in range(4)] == [None, 1, 2, 3]


def test_replacing_a_value_keeps_the_size() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("a", 2)
    cache.put("b", 3)
    assert (cache.get("a"), cache.get("b"), len(cache)) == (2, 3, 2)


def test_discard_removes_an_entry_and_ignores_a_missing_one() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.discard("a")
    cache.discard("never")
    assert (cache.get("a"), len(cache)) == (None, 0)


@pytest.mark.parametrize("size", [0, -1])
def test_a_cache_holds_at_least_one_entry(size: int) -> None:
    with pytest.raises(ValueError, match="maxsize must be at least 1"):
        BoundedCache(size)


def test_a_cache_of_one_holds_one() -> None:
    cache: BoundedCache[str, int] = BoundedCache(1)
    cache.put("a", 1)
    assert (cache.get("a"), cache.maxsize) == (1, 1)
