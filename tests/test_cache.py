"""The byte-bounded LRU: it keeps recent values within its byte budget, whatever their count,
and a result that grows is counted at its full size."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from optviz.cache import ByteLRU, array_bytes, byte_lru_cache
from optviz.trajectories import simulate


def test_values_are_evicted_least_recently_used_first_once_the_bytes_exceed_the_budget():
    cache: ByteLRU[str, bytes] = ByteLRU(100, len)
    cache.put("a", b"x" * 40)
    cache.put("b", b"x" * 40)
    assert cache.get("a") == b"x" * 40  # a is now the most recent
    cache.put("c", b"x" * 40)
    assert "b" not in cache and {"a", "c"} <= {k for k in ("a", "b", "c") if k in cache}
    assert cache.total_bytes == 80


def test_many_small_values_fit_where_few_large_ones_do():
    cache: ByteLRU[int, np.ndarray] = ByteLRU(10_000, array_bytes)
    for i in range(1000):
        cache.put(i, np.zeros(1))  # 8 bytes each
    assert len(cache) == 1000
    for i in range(3):
        cache.put(-i - 1, np.zeros(500))  # 4000 bytes each: only two fit beside a few small ones
    assert cache.total_bytes <= 10_000
    assert -1 not in cache and -2 in cache and -3 in cache


def test_a_value_larger_than_the_budget_is_returned_but_not_kept():
    cache: ByteLRU[str, bytes] = ByteLRU(10, len)
    cache.put("small", b"123")
    assert cache.put("big", b"x" * 11) == b"x" * 11
    assert "big" not in cache and "small" in cache


def test_a_value_that_grew_in_place_is_measured_again_and_the_budget_holds():
    cache: ByteLRU[str, list] = ByteLRU(100, len)
    cache.put("old", [0] * 30)
    grown = cache.put("new", [0] * 30)
    grown.extend([0] * 50)
    cache.resize("new")
    assert cache.total_bytes == 80 and "old" not in cache


def test_the_decorator_computes_once_per_arguments_and_stays_within_its_budget():
    calls = []

    @byte_lru_cache(max_bytes=8 * 100, nbytes=array_bytes)
    def ones(n: int) -> np.ndarray:
        calls.append(n)
        return np.ones(n)

    assert ones(10).sum() == ones(10).sum() == 10
    assert calls == [10]
    for n in range(20, 60):
        ones(n)
    assert ones.cache.total_bytes <= 8 * 100  # type: ignore[attr-defined]


def test_a_race_is_counted_with_the_arrays_its_views_derive_later():
    result = simulate("rosenbrock", [("sgd", {}), ("adam", {})], (-1.5, 2.0), 200)
    counted = result.nbytes
    _ = result.losses, result.grads, result.updates, result.state
    held = sum(
        a.nbytes
        for a in (result.paths, result.diverged_at, result.losses, result.grads, result.updates)
    ) + sum(v.nbytes for state in result.state for v in state.values())
    assert counted >= held
    assert counted == pytest.approx(held, rel=0.25)


def test_threads_asking_for_the_same_missing_keys_compute_them_once():
    cache: ByteLRU[str, int] = ByteLRU(1024, lambda value: 8)
    started, second_started, release = threading.Event(), threading.Event(), threading.Event()
    calls: list[list[str]] = []

    def compute(keys: list[str]) -> dict[str, int]:
        calls.append(keys)
        if keys == ["zzz"]:
            second_started.set()
        else:
            started.set()
            release.wait(timeout=30)
        return {key: len(key) for key in keys}

    results = {}
    first = threading.Thread(
        target=lambda: results.update(a=cache.get_or_compute(["x", "yy"], compute))
    )
    first.start()
    assert started.wait(timeout=30)
    # "yy" is under way in the first thread: the second computes only "zzz", then waits.
    second = threading.Thread(
        target=lambda: results.update(b=cache.get_or_compute(["yy", "zzz"], compute))
    )
    second.start()
    assert second_started.wait(timeout=30)  # its own key is computed at once
    release.set()
    first.join(timeout=30), second.join(timeout=30)
    assert calls == [["x", "yy"], ["zzz"]]
    assert results == {"a": {"x": 1, "yy": 2}, "b": {"yy": 2, "zzz": 3}}


def test_a_failed_computation_is_tried_again_by_the_thread_that_waited_for_it():
    cache: ByteLRU[str, int] = ByteLRU(1024, lambda value: 8)
    entered, release = threading.Event(), threading.Event()

    def failing(keys: list[str]) -> dict[str, int]:
        entered.set()
        release.wait(timeout=30)
        raise RuntimeError("no")

    errors = []
    first = threading.Thread(
        target=lambda: _catch(errors, lambda: cache.get_or_compute(["k"], failing))
    )
    first.start()
    assert entered.wait(timeout=30)
    got = {}
    second = threading.Thread(
        target=lambda: got.update(cache.get_or_compute(["k"], lambda keys: {"k": 7}))
    )
    second.start()
    release.set()
    first.join(timeout=30), second.join(timeout=30)
    assert [str(e) for e in errors] == ["no"] and got == {"k": 7} and cache.get("k") == 7


def _catch(errors: list, call) -> None:
    try:
        call()
    except RuntimeError as error:
        errors.append(error)
