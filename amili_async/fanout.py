"""Bounded, deadline-aware concurrent fan-out of one coroutine function over many keys.

[`FanOut`][amili_async.FanOut] runs ``fetch(key)`` for every key of an iterable with a fixed pool of
``concurrency`` worker tasks that pull keys from one shared iterator, so 10,000 keys cost 10,000
calls but never 10,000 tasks, and each worker holds its slot before its call starts (no request
waits in aiohttp's pool while its timeout runs). Results go through a queue as small as the pool:
a slow consumer slows the fetching instead of piling up results, and a consumer that stops asking
stops it within ``2 x concurrency`` calls even if it never closes the fan-out.

[`BatchFanOut`][amili_async.BatchFanOut] (what [`AmiliClient.fetch_batches`][amili_async.AmiliClient.fetch_batches]
returns) is the same machinery with ``get_batch`` as the call.

Every key taken from the iterable yields exactly one result. A key is in exactly one place at any
moment: still in the iterable, being fetched by a worker, held by a worker whose result waits for
room in the queue, or in the queue. At the deadline all four are looked at.
"""

from __future__ import annotations

import asyncio
import functools
import math
import warnings
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, Self, TypeVar, cast

from . import errors
from ._lifecycle import AsyncClosing
from .endpoints import BATCH
from .params import BatchOptions

if TYPE_CHECKING:
    from .client import AmiliClient
    from .models import Batch

__all__ = ["BatchFanOut", "CreditorBatch", "FanOut", "FanOutResult"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R", bound="FanOutResult[Any, Any]")

BATCH_OPTION_NAMES: Final = BatchOptions.__optional_keys__ | BatchOptions.__required_keys__


@dataclass(frozen=True, slots=True)
class FanOutResult(Generic[K, T]):
    """The outcome of one key's call: exactly one of ``value`` and ``error`` is set.

    Attributes:
        key: The key this is for.
        value: What the call returned, when it succeeded.
        error: The [`AmiliError`][amili_async.AmiliError] it raised (after the client's retries),
            or a [`TimeoutError`][amili_async.TimeoutError] when the fan-out's deadline passed
            first. One key's failure never affects the others.
    """

    key: K
    value: T | None
    error: errors.AmiliError | None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.error is None


class CreditorBatch(FanOutResult[str, "Batch"]):
    """The outcome of one creditor's fetch: exactly one of ``batch`` and ``error`` is set.

    A [`FanOutResult`][amili_async.FanOutResult] whose key is the creditor id and whose value is
    the batch (``key`` and ``value`` work too).

    Attributes:
        creditor_id: The creditor this is for.
        batch: The decoded batch, when the fetch succeeded.
        error: The error, when it failed (after the client's retries). One creditor's failure
            never affects the others.
        missing: The fetch succeeded but the creditor is not in the batch.
    """

    __slots__ = ()

    def __init__(self, creditor_id: str, batch: Batch | None, error: errors.AmiliError | None):
        super().__init__(creditor_id, batch, error)

    @property
    def creditor_id(self) -> str:
        """The creditor this is for (the ``key``)."""
        return self.key

    @property
    def batch(self) -> Batch | None:
        """The decoded batch when the fetch succeeded, else ``None`` (the ``value``)."""
        return self.value

    @property
    def missing(self) -> bool:
        """Whether the fetch succeeded but the batch does not contain the creditor (an id the
        sender does not have?). The fan-out says it here, once per result, instead of the
        [`MissingCreditorWarning`][amili_async.MissingCreditorWarning] a lone
        [`get_batch`][amili_async.AmiliClient.get_batch] issues. ``False`` for a failed fetch."""
        batch = self.value
        return batch is not None and not batch.has_creditor(self.key)


_DONE: Final = object()  # queued once every worker has finished


class _Failure:
    """An exception that is not an AmiliError (a bug), on its way to the consumer."""

    __slots__ = ("exception",)

    def __init__(self, exception: Exception) -> None:
        self.exception = exception


class _Work(Generic[K, T, R]):
    """What the workers share. Nothing here refers to the fan-out object, so a ``break`` that drops
    the fan-out frees it at once (see ``_stop_when_dropped``)."""

    def __init__(
        self,
        keys: Iterable[K],
        fetch: Callable[[K], Awaitable[T]],
        concurrency: int,
        make_result: Callable[[K, T | None, errors.AmiliError | None], R],
    ) -> None:
        self.keys: Iterator[K] = iter(keys)
        self.fetch = fetch
        self.concurrency = concurrency
        self.make_result = make_result
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=concurrency)
        self.fetching: dict[int, K] = {}  # worker -> the key it is fetching
        self.holding: dict[int, R] = {}  # worker -> result waiting for room
        self.workers: list[asyncio.Task[None]] = []
        self.running = 0
        self.stopped = False

    def start(self) -> None:
        self.running = self.concurrency
        self.workers = [
            asyncio.create_task(self.work(slot), name=f"amili-fanout-{slot}")
            for slot in range(self.concurrency)
        ]

    async def work(self, slot: int) -> None:
        """One worker: call ``fetch`` for keys until the shared iterator runs dry."""
        fetching, holding, queue = self.fetching, self.holding, self.queue
        try:
            for key in self.keys:
                fetching[slot] = key
                try:
                    result = self.make_result(key, await self.fetch(key), None)
                except errors.AmiliError as error:
                    result = self.make_result(key, None, error)
                holding[slot] = result
                del fetching[slot]
                await queue.put(result)
                del holding[slot]  # no await since the put: a result is held or queued, never both
        except Exception as bug:  # not an API error: the consumer re-raises it
            await queue.put(_Failure(bug))
        finally:
            self.running -= 1
        if self.running == 0:
            await queue.put(_DONE)

    @property
    def active(self) -> bool:
        return any(not worker.done() for worker in self.workers)

    async def stop(self) -> None:
        """Cancel the workers and wait until they have stopped."""
        workers, self.workers = self.workers, []
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if not self.stopped and not self.queue.full():  # wake a reader waiting in another task
            self.queue.put_nowait(_DONE)
        self.stopped = True

    def unfinished(self) -> Iterator[object]:
        """After ``stop``: what is queued or held (results, bugs), then every key not done."""
        queued = [self.queue.get_nowait() for _ in range(self.queue.qsize())]
        yield from (item for item in queued if item is not _DONE)
        yield from self.holding.values()
        self.holding.clear()
        fetching = list(self.fetching.values())
        self.fetching.clear()
        yield from fetching
        yield from self.keys


async def _stop_when_dropped(work: _Work[Any, Any, Any]) -> AsyncGenerator[None]:
    """Started with the workers and closed with them. If the fan-out is dropped unclosed (a
    ``break``), asyncio finalises this generator like any other (PEP 525): its ``aclose()`` runs
    in a task of its own and stops the workers. It refers to the work only, never to the fan-out,
    so dropping the fan-out frees it at once."""
    try:
        yield
    finally:
        await work.stop()


_EXPIRED: Final = object()


class _FanOutBase(AsyncClosing, AsyncIterator[R], Generic[K, T, R]):
    """The machinery of [`FanOut`][amili_async.FanOut], over any result type ``R``."""

    def __init__(
        self,
        keys: Iterable[K],
        fetch: Callable[[K], Awaitable[T]],
        make_result: Callable[[K, T | None, errors.AmiliError | None], R],
        *,
        concurrency: int,
        deadline: float | None,
    ) -> None:
        _check_options(keys, concurrency, deadline)
        self._work = _Work(keys, fetch, concurrency, make_result)
        self._make_result = make_result
        self._deadline = deadline
        self._expires_at: float | None = None
        self._finaliser: AsyncGenerator[None] | None = None
        self._leftovers: Iterator[object] | None = None  # set once no more comes from the queue
        self._started = False
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> R:
        if self._leftovers is None:
            if not self._started:
                await self._start()
            item = await self._next_queued()
            if isinstance(item, FanOutResult):
                return cast(R, item)
            await self._halt()
            self._leftovers = self._work.unfinished() if item is _EXPIRED else iter(())
            if isinstance(item, _Failure):
                raise item.exception
        for leftover in self._leftovers:
            if isinstance(leftover, _Failure):
                raise leftover.exception
            if isinstance(leftover, FanOutResult):
                return cast(R, leftover)
            return self._timed_out(cast(K, leftover))
        raise StopAsyncIteration

    async def gather(self) -> list[R]:
        """Wait for every result and return them in the order of the keys.

        A key given twice is called twice; each position gets one of its results. Closes the
        fan-out.

        Raises:
            ConfigurationError: The fan-out was already iterated or closed.
        """
        if self._started or self._closed:
            raise errors.ConfigurationError("gather() needs a fan-out that has not started")
        order: list[K] = []
        self._work.keys = _recorded(self._work.keys, order)
        by_key: dict[K, list[R]] = {}
        async with self:
            async for result in self:
                by_key.setdefault(result.key, []).append(result)
        return [by_key[key].pop() for key in order]

    async def aclose(self) -> None:
        """Cancel the calls in flight and return once they have stopped; take no more keys.

        Results not read yet are dropped; a reader waiting in another task gets
        ``StopAsyncIteration``. ``async with`` calls it on the way out. Idempotent.
        """
        self._closed = True
        self._work.keys = iter(())
        self._leftovers = iter(())
        await self._halt()

    close = aclose

    def __del__(self) -> None:
        # Warn only; the finaliser generator stops the workers (see _stop_when_dropped).
        work = getattr(self, "_work", None)
        if work is not None and not self._closed and work.active:
            warnings.warn(
                f"{type(self).__name__} was not closed with work in flight: use `async with` or "
                "`await aclose()` to stop it at once",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    async def _start(self) -> None:
        self._started = True
        if self._deadline is not None:
            self._expires_at = asyncio.get_running_loop().time() + self._deadline
        self._finaliser = _stop_when_dropped(self._work)
        await anext(self._finaliser)
        self._work.start()

    async def _next_queued(self) -> object:
        """The next item of the queue, or ``_EXPIRED`` once the deadline has passed."""
        queue, expires_at = self._work.queue, self._expires_at
        if expires_at is None:
            return await queue.get()
        if asyncio.get_running_loop().time() >= expires_at:
            return _EXPIRED  # look first: results keep coming to a slow consumer
        try:
            async with asyncio.timeout_at(expires_at):
                return await queue.get()
        except TimeoutError:
            return _EXPIRED

    async def _halt(self) -> None:
        finaliser, self._finaliser = self._finaliser, None
        if finaliser is not None:
            await finaliser.aclose()  # stops the workers
        await self._work.stop()

    def _timed_out(self, key: K) -> R:
        error = errors.TimeoutError(
            f"fan-out deadline of {self._deadline}s passed before {key!r} was done"
        )
        return self._make_result(key, None, error)


class FanOut(_FanOutBase[K, T, FanOutResult[K, T]]):
    """Call an async function for many keys, at most ``concurrency`` at a time.

    ```python
    async def fetch_one(org_id: str) -> Batch:
        return await client.get_batch(creditor_id=org_id)

    async with FanOut(org_ids, fetch_one, concurrency=20, deadline=120) as results:
        async for result in results:  # in completion order
            if result.ok:
                book(result.key, result.value)
            else:
                log.warning("%s failed: %s", result.key, result.error)
    ```

    Every key yields exactly one [`FanOutResult`][amili_async.FanOutResult], also when the
    deadline passes. An [`AmiliError`][amili_async.AmiliError] that ``fetch`` raises is that
    key's result; any other exception is a bug and is raised from the ``async for`` (the other
    calls are cancelled). [`gather`][amili_async.FanOut.gather] waits for all and returns them
    in the order of the keys.

    Leaving the loop early: ``async with`` (or [`aclose`][amili_async.FanOut.aclose]) cancels
    the calls in flight and returns once they have stopped. A ``break`` without it still stops
    the calls: nothing is fetched more than ``2 x concurrency`` results ahead of the consumer,
    and once the fan-out is dropped, asyncio's finalisation of async generators cancels the rest
    in the background; the fan-out warns with a ``ResourceWarning`` that it was not closed.
    Cancelling a task that waits for the next result does not stop the fan-out.

    Args:
        keys: Any iterable of hashable keys, consumed lazily as workers free up (a generator of
            10,000 keys is fine). A plain ``str`` is refused: it would fan out over its letters.
        fetch: The coroutine function to call with each key.
        concurrency: At most this many calls at once (a fixed pool of workers, not a task per
            key).
        deadline: Seconds for the whole fan-out, from the first ``anext``. When it passes, what
            is in flight is cancelled; results already complete are still yielded, and every
            other key is yielded with a [`TimeoutError`][amili_async.TimeoutError].

    Raises:
        ConfigurationError: ``keys`` is a ``str``, ``concurrency`` is not a positive integer, or
            ``deadline`` is negative or not a number.
    """

    def __init__(
        self,
        keys: Iterable[K],
        fetch: Callable[[K], Awaitable[T]],
        *,
        concurrency: int = 10,
        deadline: float | None = None,
    ) -> None:
        super().__init__(keys, fetch, FanOutResult, concurrency=concurrency, deadline=deadline)


def _recorded(keys: Iterator[K], order: list[K]) -> Iterator[K]:
    for key in keys:
        order.append(key)
        yield key


def _check_options(keys: Iterable[Any], concurrency: object, deadline: object) -> None:
    if isinstance(keys, str | bytes):
        raise errors.ConfigurationError(
            f"keys must be an iterable of keys, not a single {type(keys).__name__}: "
            f"wrap it in a list ([{keys!r}])"
        )
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise errors.ConfigurationError(
            f"concurrency must be a positive integer, not {concurrency!r}"
        )
    if deadline is not None and (
        not isinstance(deadline, int | float)
        or isinstance(deadline, bool)
        or math.isnan(deadline)
        or deadline < 0
    ):
        raise errors.ConfigurationError(
            f"deadline must be a number of seconds >= 0 or None, not {deadline!r}"
        )


class BatchFanOut(_FanOutBase[str, "Batch", CreditorBatch]):
    """Async iterator over [`CreditorBatch`][amili_async.CreditorBatch] results, in completion order.

    Made by [`AmiliClient.fetch_batches`][amili_async.AmiliClient.fetch_batches]: a
    [`FanOut`][amili_async.FanOut] whose call is ``client.get_batch(creditor_id=..., **params)``.
    An empty or blank creditor id, or one that is not a ``str``, is not sent (it would ask for
    every creditor): it yields a result with a
    [`ConfigurationError`][amili_async.ConfigurationError] when reached.
    """

    def __init__(
        self,
        client: AmiliClient,
        creditor_ids: Iterable[str],
        *,
        concurrency: int = 10,
        deadline: float | None = None,
        params: BatchOptions | Mapping[str, Any] | None = None,
    ) -> None:
        fetch = functools.partial(_fetch_batch, client, dict(params or {}))
        super().__init__(
            creditor_ids, fetch, CreditorBatch, concurrency=concurrency, deadline=deadline
        )


def _fetch_batch(client: AmiliClient, params: dict[str, Any], creditor_id: str) -> Awaitable[Batch]:
    # Not a coroutine itself: the worker awaits the request path's own, one frame less on every
    # resume. Not get_batch: a missing creditor is the result's `missing`, not a warning per id.
    if not isinstance(creditor_id, str) or not creditor_id.strip():
        raise errors.ConfigurationError(
            f"creditor id {creditor_id!r} is not a creditor id (an empty one would ask for every "
            "creditor's data)"
        )
    return client.requester.call(BATCH, query={**params, "creditor_id": creditor_id})
