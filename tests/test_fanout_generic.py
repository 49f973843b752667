"""The generic FanOut: one result per key, bounded, deadline, early exit, closing, bugs."""

from __future__ import annotations

import asyncio
import gc
import math
from collections.abc import Callable, Iterator

import pytest

from amili_async import (
    AmiliError,
    ConfigurationError,
    FanOut,
    FanOutResult,
    TimeoutError,
)


class Calls:
    """A fetch function that records its calls and how many run at once."""

    def __init__(self, delay: float = 0.0, failing: frozenset[int] = frozenset()) -> None:
        self.delay = delay
        self.failing = failing
        self.started: list[int] = []
        self.cancelled: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, key: int) -> str:
        self.started.append(key)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        finally:
            self.in_flight -= 1
        if key in self.failing:
            raise AmiliError(f"no {key}")
        return f"value-{key}"


def fanout_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("amili-fanout-")]


async def test_each_key_one_result_with_errors_per_key() -> None:
    calls = Calls(delay=0.001, failing=frozenset({3, 7}))
    async with FanOut(range(20), calls, concurrency=4) as fan_out:
        results = [r async for r in fan_out]
    assert sorted(r.key for r in results) == list(range(20))
    assert {r.key for r in results if not r.ok} == {3, 7}
    assert all(isinstance(r.error, AmiliError) and r.value is None for r in results if not r.ok)
    assert all(r.value == f"value-{r.key}" for r in results if r.ok)
    assert calls.max_in_flight == 4
    assert fanout_tasks() == []


async def test_results_come_in_completion_order() -> None:
    async def fetch(key: float) -> float:
        await asyncio.sleep(key)
        return key

    async with FanOut([0.05, 0.0, 0.02], fetch, concurrency=3) as fan_out:
        assert [r.key async for r in fan_out] == [0.0, 0.02, 0.05]


async def test_a_bug_in_fetch_propagates_and_stops_the_others() -> None:
    calls = Calls(delay=10)

    async def fetch(key: int) -> str:
        if key == 0:
            raise ValueError("a bug")
        return await calls(key)

    fan_out = FanOut(range(5), fetch, concurrency=3)
    with pytest.raises(ValueError, match="a bug"):
        async for _ in fan_out:
            pass
    assert sorted(calls.cancelled) == [1, 2]  # the two slow calls were cancelled, not awaited
    assert fanout_tasks() == []


async def test_deadline_with_a_slow_consumer_still_yields_every_key_once() -> None:
    # Fast fetches fill the queue and leave workers holding finished results while the consumer
    # sleeps past the deadline; those results must not be lost (they were: 8 of 10).
    calls = Calls(delay=0)
    results = []
    async with FanOut(range(10), calls, concurrency=2, deadline=0.05) as fan_out:
        async for result in fan_out:
            results.append(result)
            await asyncio.sleep(0.03)
    assert sorted(r.key for r in results) == list(range(10))
    done = {r.key for r in results if r.ok}
    timed_out = {r.key for r in results if isinstance(r.error, TimeoutError)}
    assert done | timed_out == set(range(10)) and not done & timed_out
    assert done == set(calls.started)  # what was fetched is delivered, not turned into a timeout
    assert timed_out  # the deadline stopped fetching; the slow consumer did not keep it going
    assert "deadline" in str(next(r.error for r in results if not r.ok))


async def test_deadline_cancels_calls_in_flight() -> None:
    calls = Calls(delay=10)
    async with FanOut(range(6), calls, concurrency=2, deadline=0.01) as fan_out:
        results = [r async for r in fan_out]
    assert sorted(r.key for r in results) == list(range(6))
    assert all(isinstance(r.error, TimeoutError) for r in results)
    assert sorted(calls.cancelled) == [0, 1]
    assert calls.started == [0, 1]  # the rest never started


async def read_one_and_break(fan_out: FanOut[int, str]) -> None:
    async for _ in fan_out:
        break


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1_000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never met")


async def test_break_without_closing_stops_fetching_and_warns() -> None:
    calls = Calls(delay=0.001)
    with pytest.warns(ResourceWarning, match="not closed"):
        await read_one_and_break(FanOut(range(1_000), calls, concurrency=5))
    gc.collect()
    for _ in range(50):  # the finaliser runs in a task of its own: let it
        await asyncio.sleep(0.002)
    assert fanout_tasks() == []
    # one consumed, at most a queue (5) and one held result per worker (5) ahead
    assert len(calls.started) <= 11


async def test_a_fan_out_kept_but_not_read_stops_within_two_pools() -> None:
    calls = Calls(delay=0)
    fan_out = FanOut(range(1_000), calls, concurrency=5)
    async with fan_out:
        await anext(fan_out)
        for _ in range(50):
            await asyncio.sleep(0)
        assert len(calls.started) == 11  # backpressure: queue full and every worker holding one


async def test_aclose_releases_calls_in_flight_at_once() -> None:
    calls = Calls(delay=60)
    fan_out = FanOut(range(10), calls, concurrency=3)
    reader = asyncio.create_task(anext(fan_out))
    await until(lambda: calls.in_flight == 3)
    await asyncio.wait_for(fan_out.aclose(), 5)  # does not wait for the 60 s calls
    assert sorted(calls.cancelled) == [0, 1, 2]
    assert fanout_tasks() == []
    with pytest.raises(StopAsyncIteration):  # a reader waiting in another task is released too
        await asyncio.wait_for(reader, 5)
    with pytest.raises(StopAsyncIteration):
        await anext(fan_out)
    await fan_out.aclose()  # idempotent


async def test_a_cancelled_reader_does_not_stop_the_fan_out() -> None:
    calls = Calls(delay=0.05)
    async with FanOut(range(6), calls, concurrency=2) as fan_out:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(anext(fan_out), 0.001)
        results = [r async for r in fan_out]
    assert sorted(r.key for r in results) == list(range(6))


async def test_gather_keeps_input_order_with_duplicates() -> None:
    calls = Calls(delay=0.001, failing=frozenset({2}))
    keys = [3, 1, 2, 3, 1, 1]
    results = await FanOut(keys, calls, concurrency=3).gather()
    assert [r.key for r in results] == keys
    assert [r.ok for r in results] == [True, True, False, True, True, True]
    assert len({id(r) for r in results}) == len(keys)  # one call per position
    assert sorted(calls.started) == sorted(keys)


async def test_gather_with_a_deadline_gives_every_position_a_result() -> None:
    calls = Calls(delay=10)
    keys = [5, 5, 6, 7, 5]
    results = await FanOut(keys, calls, concurrency=2, deadline=0.01).gather()
    assert [r.key for r in results] == keys
    assert all(isinstance(r.error, TimeoutError) for r in results)


async def test_gather_refuses_a_started_fan_out() -> None:
    fan_out = FanOut(range(3), Calls(), concurrency=1)
    async with fan_out:
        await anext(fan_out)
        with pytest.raises(ConfigurationError, match="not started"):
            await fan_out.gather()


async def test_lazy_keys_are_pulled_as_workers_free_up() -> None:
    pulled = 0

    def keys() -> Iterator[int]:
        nonlocal pulled
        for n in range(10_000):
            pulled += 1
            yield n

    async with FanOut(keys(), Calls(), concurrency=3) as fan_out:
        await anext(fan_out)
    assert pulled <= 3 + 3 + 1


async def test_results_are_typed_values() -> None:
    result: FanOutResult[int, str] = FanOutResult(1, "x", None)
    assert result.ok and result.key == 1 and result.value == "x"
    assert not FanOutResult(1, None, AmiliError("gone")).ok


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": -3}, "concurrency"),
        ({"concurrency": 2.5}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"concurrency": "4"}, "concurrency"),
        ({"deadline": -1}, "deadline"),
        ({"deadline": math.nan}, "deadline"),
        ({"deadline": "10"}, "deadline"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        FanOut(range(3), Calls(), **kwargs)  # type: ignore[arg-type]


def test_a_single_string_is_refused_as_keys() -> None:
    async def fetch(key: str) -> str:
        return key

    with pytest.raises(ConfigurationError, match="single str"):
        FanOut("923609016", fetch)


async def test_deadline_zero_times_everything_out_without_calls() -> None:
    calls = Calls()
    async with FanOut(range(4), calls, deadline=0) as fan_out:
        results = [r async for r in fan_out]
    assert sorted(r.key for r in results) == [0, 1, 2, 3]
    assert all(isinstance(r.error, TimeoutError) for r in results)
    assert calls.started == []
