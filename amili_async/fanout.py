"""Bounded concurrent per-creditor batch fetches.

A fixed pool of ``concurrency`` worker tasks pulls creditor ids from one shared iterator, so 10,000
ids cost 10,000 requests but never 10,000 tasks, and each worker holds its slot before the request
starts (no request waits in aiohttp's pool while its timeout runs). Results go through a queue as
small as the pool: a slow consumer slows the fetching instead of piling up decoded batches.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, Self

from . import errors
from ._lifecycle import AsyncClosing

if TYPE_CHECKING:
    from .client import AmiliClient
    from .models import Batch

__all__ = ["BatchFanOut", "CreditorBatch"]


@dataclasses.dataclass(frozen=True, slots=True)
class CreditorBatch:
    """The outcome of one creditor's fetch: exactly one of ``batch`` and ``error`` is set.

    Attributes:
        creditor_id: The creditor this is for.
        batch: The decoded batch, when the fetch succeeded.
        error: The error, when it failed (after the client's retries). One creditor's failure
            never affects the others.
    """

    creditor_id: str
    batch: Batch | None
    error: errors.AmiliError | None

    @property
    def ok(self) -> bool:
        """Whether the fetch succeeded."""
        return self.error is None


_DONE: Final = object()  # the last worker to finish queues this


class _Work:
    """What the workers share. Kept apart from :class:`BatchFanOut` so the running workers do not
    keep the iterator alive: dropping it (a ``break``) must be able to cancel them."""

    def __init__(
        self,
        client: AmiliClient,
        creditor_ids: Iterable[str],
        concurrency: int,
        params: dict[str, Any],
    ) -> None:
        self.client = client
        self.ids: Iterator[str] = iter(creditor_ids)
        self.params = params
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=concurrency)
        self.in_flight: set[str] = set()
        self.running = concurrency  # workers not finished yet; the last one queues _DONE

    async def work(self) -> None:
        """One worker: fetch creditors until the shared iterator runs dry."""
        try:
            for creditor_id in self.ids:
                await self.queue.put(await self.fetch(creditor_id))
        except Exception as bug:  # handed to the consumer, who re-raises it
            await self.queue.put(bug)
        finally:
            self.running -= 1
        if self.running == 0:
            await self.queue.put(_DONE)

    async def fetch(self, creditor_id: str) -> CreditorBatch:
        self.in_flight.add(creditor_id)
        try:
            batch = await self.client.get_batch(creditor_id=creditor_id, **self.params)
        except errors.AmiliError as error:
            return CreditorBatch(creditor_id, None, error)
        finally:
            self.in_flight.discard(creditor_id)
        return CreditorBatch(creditor_id, batch, None)


class BatchFanOut(AsyncClosing, AsyncIterator[CreditorBatch]):
    """Async iterator over :class:`CreditorBatch` results, in completion order.

    Made by :meth:`AmiliClient.fetch_batches`. Leaving the ``async for`` early (``break``, an
    exception) cancels the fetches in flight; ``async with`` or :meth:`aclose` does it explicitly.
    """

    def __init__(
        self,
        client: AmiliClient,
        creditor_ids: Iterable[str],
        *,
        concurrency: int = 10,
        deadline: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        if concurrency < 1:
            raise errors.ConfigurationError("concurrency must be at least 1")
        self._work = _Work(client, creditor_ids, concurrency, params or {})
        self._concurrency = concurrency
        self._deadline = deadline
        self._workers: list[asyncio.Task[None]] = []
        self._leftovers: Iterator[CreditorBatch] | None = None
        self._expires_at: float | None = None
        self._started = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> CreditorBatch:
        if not self._started:
            self._start()
        if self._leftovers is None:
            try:
                item = await asyncio.wait_for(self._work.queue.get(), self._time_left())
            except TimeoutError:
                await self._expire()
            else:
                if isinstance(item, CreditorBatch):
                    return item
                await self._reap(cancel=isinstance(item, BaseException))
                if isinstance(item, BaseException):
                    raise item  # a bug in a worker, never an API error: those are results
                self._leftovers = iter(())
        return self._next_leftover()

    async def aclose(self) -> None:
        """Cancel what is in flight and wait until it has stopped (also ``close()``)."""
        self._work.ids = iter(())
        self._leftovers = iter(())
        await self._reap(cancel=True)

    close = aclose

    def __del__(self) -> None:
        # `break` out of `async for` drops the iterator without awaiting anything: cancel here so
        # no fetch outlives the loop that wanted it.
        for worker in getattr(self, "_workers", ()):
            worker.cancel()

    def _start(self) -> None:
        self._started = True
        if self._deadline is not None:
            self._expires_at = asyncio.get_running_loop().time() + self._deadline
        self._workers = [
            asyncio.create_task(self._work.work(), name=f"amili-fanout-{n}")
            for n in range(self._concurrency)
        ]

    def _time_left(self) -> float | None:
        if self._expires_at is None:
            return None
        return max(0.0, self._expires_at - asyncio.get_running_loop().time())

    async def _expire(self) -> None:
        """The deadline passed: stop fetching; every creditor not done yet gets a timeout error."""
        unfinished = sorted(self._work.in_flight)
        await self._reap(cancel=True)
        queue = self._work.queue
        queued = [queue.get_nowait() for _ in range(queue.qsize())]
        done = [item for item in queued if isinstance(item, CreditorBatch)]
        late = [*unfinished, *self._work.ids]
        self._leftovers = iter([*done, *map(self._timed_out, late)])

    def _next_leftover(self) -> CreditorBatch:
        assert self._leftovers is not None
        try:
            return next(self._leftovers)
        except StopIteration:
            raise StopAsyncIteration from None

    def _timed_out(self, creditor_id: str) -> CreditorBatch:
        error = errors.TimeoutError(
            f"fan-out deadline of {self._deadline}s passed before creditor {creditor_id} was fetched"
        )
        return CreditorBatch(creditor_id, None, error)

    async def _reap(self, *, cancel: bool = False) -> None:
        workers, self._workers = self._workers, []
        if cancel:
            for worker in workers:
                worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
