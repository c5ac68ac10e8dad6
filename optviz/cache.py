"""A least-recently-used cache bounded by the bytes its values hold, not by their number.

The app's caches hold values whose size varies by orders of magnitude (a 30-step race of one
optimizer, a 2000-step race of eight with its internals derived; a metric history of ten points
or of half a million), so a count bound is either too small for the small ones or unbounded in
practice for the large ones. ``ByteLRU`` keeps the most recently used values whose sizes add up
to at most ``max_bytes``; a value larger than the whole budget is returned but not kept.

Sizes are measured by a function given to the cache (``nbytes``), once when a value is stored,
or set again with ``resize`` when a stored value grows. Thread-safe: Streamlit runs every
session's script on a thread of its own. ``get_or_compute`` computes a missing value once when
several threads ask for it together (eight visitors opening the default view, or a visitor
and the start-up warm-up): the others wait for it, while other keys go on meanwhile.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING = object()


@dataclass
class _Pending:
    """A computation under way in some thread: the keys it will fill, when it is done."""

    done: threading.Event = field(default_factory=threading.Event)
    values: dict = field(default_factory=dict)


class ByteLRU(Generic[K, V]):
    """``key → value``, least recently used evicted first once the sizes exceed ``max_bytes``."""

    def __init__(self, max_bytes: int, nbytes: Callable[[V], int]) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self._nbytes = nbytes
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()
        self._pending: dict[K, _Pending] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    @property
    def total_bytes(self) -> int:
        return self._total

    def get(self, key: K, default: Any = None) -> V | Any:
        with self._lock:
            item = self._items.get(key, _MISSING)
            if item is _MISSING:
                return default
            self._items.move_to_end(key)
            return item[0]  # type: ignore[index]

    def get_or_compute(
        self, keys: Sequence[K], compute: Callable[[list[K]], Mapping[K, V]]
    ) -> dict[K, V]:
        """The values of ``keys``: the stored ones, and the missing ones from one call
        ``compute(missing)`` (which returns a value for each), stored. A key another thread is
        computing is waited for, not computed twice; if that computation fails, this thread
        computes the key itself."""
        found: dict[K, V] = {}
        mine: list[K] = []
        theirs: dict[K, _Pending] = {}
        with self._lock:
            for key in keys:
                item = self._items.get(key)
                if item is not None:
                    self._items.move_to_end(key)
                    found[key] = item[0]
                elif key in self._pending:
                    theirs[key] = self._pending[key]
                elif key not in mine:
                    mine.append(key)
            pending = _Pending()
            self._pending.update(dict.fromkeys(mine, pending))
        if mine:
            try:
                fresh = compute(mine)
                for key in mine:
                    found[key] = pending.values[key] = self.put(key, fresh[key])
            finally:
                with self._lock:
                    for key in mine:
                        del self._pending[key]
                pending.done.set()
        for key, other in theirs.items():
            other.done.wait()
            if key in other.values:
                found[key] = other.values[key]
            else:  # that computation failed: try it here, which raises its error if it must
                found[key] = self.get_or_compute([key], compute)[key]
        return {key: found[key] for key in keys}

    def put(self, key: K, value: V) -> V:
        """Store ``value`` (replacing any under ``key``) and return it."""
        size = int(self._nbytes(value))
        with self._lock:
            self._drop(key)
            if size <= self.max_bytes:
                self._items[key] = (value, size)
                self._total += size
                self._evict()
        return value

    def resize(self, key: K) -> None:
        """Measure the value under ``key`` again (it grew or shrank in place)."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return
            size = int(self._nbytes(item[0]))
            self._total += size - item[1]
            self._items[key] = (item[0], size)
            self._items.move_to_end(key)
            if size > self.max_bytes:
                self._drop(key)
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._total = 0

    def _drop(self, key: K) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self._total -= item[1]

    def _evict(self) -> None:
        while self._total > self.max_bytes:
            _, (_, size) = self._items.popitem(last=False)
            self._total -= size


def byte_lru_cache(
    max_bytes: int, nbytes: Callable[[Any], int]
) -> Callable[[Callable[..., V]], Callable[..., V]]:
    """``functools.lru_cache`` with a byte budget: results keyed by the (hashable) arguments.

    Threads asking for the same missing key together compute it once (``get_or_compute``);
    other keys never wait on it. The wrapper's ``cache`` attribute is the ``ByteLRU``.
    """

    def decorate(function: Callable[..., V]) -> Callable[..., V]:
        cache: ByteLRU[Hashable, V] = ByteLRU(max_bytes, nbytes)

        @functools.wraps(function)
        def cached(*args: Any, **kwargs: Any) -> V:
            key = (args, tuple(sorted(kwargs.items())))
            value = cache.get(key, _MISSING)
            if value is _MISSING:  # computed here, or by a thread already at it
                value = cache.get_or_compute([key], lambda _: {key: function(*args, **kwargs)})[key]
            return value  # type: ignore[return-value]

        cached.cache = cache  # type: ignore[attr-defined]
        return cached

    return decorate


def array_bytes(value: Any, _depth: int = 0) -> int:
    """The bytes of the numpy arrays and tensors in ``value``: its attributes, the items of its
    tuples, lists and dicts, a few levels down (what dominates a result's size)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    nbytes = getattr(value, "nbytes", None)  # torch tensors (and array-likes) say it themselves
    if isinstance(nbytes, int):
        return nbytes
    if _depth >= 4:
        return 0
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list | tuple):
        items = list(value)
    elif hasattr(value, "__dict__"):
        items = list(vars(value).values())
    else:
        return 0
    return sum(array_bytes(item, _depth + 1) for item in items)
