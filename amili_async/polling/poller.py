"""The settlement poller: walks each creditor's ``lastsettlementid`` forward, for months.

Delivery is at-least-once with at most one re-delivery per crash:

* each creditor's settlements are delivered in the server's order;
* a creditor's cursor is saved only when the consumer is done with a settlement: when it asks for
  the next event, or awaits :meth:`SettlementEvent.ack` (which returns once the cursor is stored);
* so a crash while processing re-delivers that one settlement after a restart, and skips nothing;
* ids already delivered are remembered (bounded), so a server repeating itself causes no
  duplicates; a cursor never moves backwards.

Each creditor has its own small task (fetching is bounded by a shared semaphore): a creditor that
keeps failing is backed off and reported, and never stops the others.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Final, Literal, Self

import msgspec

from .. import _sansio, errors
from .._lifecycle import AsyncClosing
from ..endpoints import SETTLEMENT_PAGE
from ..models.decoding import TypedDecoder
from ..models.polling import SettlementPage
from .stats import CreditorStats, PollerStats

if TYPE_CHECKING:
    from ..client import AmiliClient
    from ..models import Settlement
    from .stores import CheckpointStore

__all__ = ["ErrorCallback", "SettlementEvent", "SettlementPoller", "Start"]

logger = logging.getLogger("amili_async")

Start = Literal["beginning", "now"]
ErrorCallback = Callable[[str, Exception], Awaitable[None] | None]

_PAGE_DECODER: Final = TypedDecoder(SettlementPage)
_ID_ENCODER: Final = msgspec.json.Encoder()
_ID_TEXTS: Final = msgspec.json.Decoder(list[str | None])
_STOP: Final = object()


class SettlementEvent:
    """One settlement of one creditor, handed to the consumer.

    Attributes:
        creditor_id: The creditor it was paid to.
        settlement: The settlement.
    """

    __slots__ = ("_creditor", "_cursor", "_seq", "settlement")

    def __init__(
        self, creditor: _Creditor, settlement: Settlement, seq: int, cursor: str | None
    ) -> None:
        self.settlement = settlement
        self._creditor = creditor
        self._seq = seq  # its place in the creditor's sequence of events
        self._cursor = cursor

    @property
    def creditor_id(self) -> str:
        """The creditor it was paid to."""
        return self._creditor.creditor_id

    @property
    def cursor(self) -> str | None:
        """The cursor that continues after this settlement: its id as text."""
        return self._cursor

    @property
    def acked(self) -> bool:
        """Whether the cursor past this settlement has been stored."""
        return self._creditor.saved_seq >= self._seq

    async def ack(self) -> None:
        """Store the creditor's cursor past this settlement; returns once it is durable.

        Acknowledging also covers the creditor's earlier settlements. Asking the poller for the
        next event acknowledges the previous one, so call this only to commit early (e.g. in the
        same database transaction as your booking) or when processing events out of the loop.
        """
        await self._creditor.poller._ack(self)

    def __repr__(self) -> str:
        s = self.settlement
        return (
            f"SettlementEvent(creditor_id={self.creditor_id!r}, id={s.id}, "
            f"number={s.settlement_number}, amount={s.payment_amount} {s.currency or ''})"
        )


class _Creditor:
    """The poller's state for one creditor."""

    def __init__(
        self,
        poller: SettlementPoller,
        creditor_id: str,
        query: dict[str, str],
        dedupe_window: int,
        stats: CreditorStats,
    ) -> None:
        self.poller = poller
        self.creditor_id = creditor_id
        self.query = query  # the poll's query string, without the cursor
        self.stats = stats
        self.loaded = False
        self.fetch_cursor: str | None = None  # where the next request starts (runs ahead of acks)
        self.seq = 0  # events made so far
        # Checkpointing: saves of one creditor run one at a time and always write the newest
        # cursor asked for, so the stored cursor only moves forward (no lock on the hot path).
        self.saved_seq = 0  # events whose cursor is stored
        self.wanted_seq = 0
        self.wanted_cursor = ""
        self.saving = False
        self.save_waiters: list[asyncio.Future[None]] = []
        # The last settlement ids delivered (as ints: cheaper to hash than UUIDs), page by page.
        self.seen: set[int] = set()
        self.seen_pages: collections.deque[list[int]] = collections.deque()
        self.dedupe_window = dedupe_window

    def remember(self, settlement_ids: list[int]) -> None:
        """Add a page's delivered ids; forget whole pages once more than the window is held."""
        self.seen.update(settlement_ids)
        self.seen_pages.append(settlement_ids)
        while len(self.seen) > self.dedupe_window and len(self.seen_pages) > 1:
            self.seen.difference_update(self.seen_pages.popleft())


class _Fresh:
    """A page's settlements not delivered before, waiting for the consumer. Events are made only
    as they are handed out, so queued pages hold no GC-tracked objects per settlement."""

    __slots__ = ("creditor", "end", "first_seq", "next", "settlements", "texts")

    def __init__(
        self,
        creditor: _Creditor,
        settlements: list[Settlement],
        texts: list[str | None],
        first_seq: int,
    ) -> None:
        self.creditor = creditor
        self.settlements = settlements
        self.texts = texts
        self.first_seq = first_seq
        self.next = 0  # index of the next settlement to hand out
        self.end = len(settlements)


class SettlementPoller(AsyncClosing):
    """Pulls new settlements for many creditors and hands them out one event at a time.

    Made by :meth:`AmiliClient.settlement_poller`:

    ```python
    store = SQLiteCheckpointStore("checkpoints.db")
    async with client.settlement_poller(creditor_ids, store=store) as poller:
        async for event in poller:
            await book(event.settlement)  # the cursor is saved when you ask for the next one
    ```

    Args:
        client: The client to poll with; its ``RetryPolicy`` retries transient failures.
        creditor_ids: The creditors to poll.
        store: Where cursors are saved (see :mod:`amili_async.polling.stores`).
        interval: Seconds between polls of a creditor once it is drained (with jitter).
        start: Where a creditor *without a saved cursor* begins: ``"beginning"`` (its first
            settlement) or ``"now"`` (only what is paid from now on: the poller walks to the end
            without delivering and saves that cursor). A saved cursor always wins.
        concurrency: At most this many poll requests at once.
        page_delay: Seconds to wait between the pages of one drain.
        sender_id: Sent as ``senderid`` and used, with the creditor id, as the checkpoint key.
        on_error: Called with ``(creditor_id, error)`` when a creditor's poll fails (after the
            client's retries); sync or async.
        jitter: Up to this fraction is added to each interval, so creditors spread out.
        max_error_backoff: A failing creditor is retried after ``interval`` (at least a second),
            then twice that, and so on up to this many seconds.
        dedupe_window: Settlement ids remembered per creditor to drop repeats.
    """

    def __init__(
        self,
        client: AmiliClient,
        creditor_ids: Iterable[str],
        *,
        store: CheckpointStore,
        interval: float = 60.0,
        start: Start = "beginning",
        concurrency: int = 10,
        page_delay: float = 0.0,
        sender_id: str | None = None,
        on_error: ErrorCallback | None = None,
        jitter: float = 0.1,
        max_error_backoff: float = 900.0,
        dedupe_window: int = 10_000,
    ) -> None:
        if start not in ("beginning", "now"):
            raise errors.ConfigurationError(f"start must be 'beginning' or 'now', not {start!r}")
        if concurrency < 1 or interval < 0 or page_delay < 0:
            raise errors.ConfigurationError("concurrency >= 1, interval >= 0, page_delay >= 0")
        self._client = client
        self._store = store
        self._interval = interval
        self._start = start
        self._page_delay = page_delay
        self._store_sender = sender_id or ""
        self._on_error = on_error
        self._jitter = jitter
        self._max_error_backoff = max(max_error_backoff, interval)
        self._fetch_slots = asyncio.Semaphore(concurrency)
        self.stats = PollerStats()
        self._creditors: dict[str, _Creditor] = {}
        for cid in dict.fromkeys(creditor_ids):
            self.stats.creditors[cid] = CreditorStats()
            query = _sansio.build_query(
                _sansio.BATCH_PARAM_NAMES, {"sender_id": sender_id, "creditor_id": cid}
            )
            self._creditors[cid] = _Creditor(
                self, cid, query, dedupe_window, self.stats.creditors[cid]
            )
        # Two pages ahead keep the consumer busy while the next one is fetched; more would only
        # hold memory.
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=2)
        self._current: _Fresh | None = None
        self._pending: SettlementEvent | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._stopping = False

    def __repr__(self) -> str:
        return (
            f"SettlementPoller(creditors={len(self._creditors)}, interval={self._interval}, "
            f"start={self._start!r}, store={self._store!r})"
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._ensure_started()
        return self

    def stop(self) -> None:
        """Ask the poller to end: the ``async for`` finishes after the event in hand (which is
        acknowledged when the loop asks for the next one). Safe to call from any task."""
        self._stopping = True
        self._current = None
        for task in self._tasks:
            task.cancel()
        if not self._queue.full():
            self._queue.put_nowait(_STOP)

    async def aclose(self) -> None:
        """Stop and wait until every background task has ended. Unacknowledged events stay
        unsaved: they are delivered again by the next poller on the same store."""
        self.stop()
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)

    close = aclose

    def _ensure_started(self) -> None:
        if self._started:
            return
        self._started = True
        self._client._ensure_transport()  # fail fast on a closed client
        self._tasks = [
            asyncio.create_task(self._poll_creditor(state), name=f"amili-poll-{cid}")
            for cid, state in self._creditors.items()
        ]
        self._tasks.append(asyncio.create_task(self._log_stats(), name="amili-poll-stats"))

    # -- the consumer's side -----------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SettlementEvent:
        pending = self._pending
        if pending is not None:
            self._pending = None
            await self._ack(pending)  # the consumer is done with it: it asks for the next one
        if not self._started:
            self._ensure_started()
        fresh = self._current  # stop() clears it, so a stop is seen here without another check
        while fresh is None or fresh.next >= fresh.end:
            if self._stopping:
                raise StopAsyncIteration
            item = await self._queue.get()
            if item is _STOP:
                self._stopping = True
            else:
                fresh = self._current = item  # type: ignore[assignment]
        index = fresh.next
        fresh.next = index + 1
        state = fresh.creditor
        event = SettlementEvent(
            state, fresh.settlements[index], fresh.first_seq + index, fresh.texts[index]
        )
        self._pending = event
        state.stats.delivered += 1
        return event

    async def _ack(self, event: SettlementEvent) -> None:
        # The hot path of the poller: runs once per settlement, so it stays flat.
        state = event._creditor
        seq = event._seq
        if seq > state.saved_seq:
            cursor = event._cursor
            if cursor is not None:
                if state.saving or state.save_waiters:
                    if seq > state.wanted_seq:
                        state.wanted_seq, state.wanted_cursor = seq, cursor
                    await self._store_through(state, seq)
                else:  # nobody else is saving this creditor: save directly
                    state.saving = True
                    try:
                        await self._store.save(self._store_sender, state.creditor_id, cursor)
                        state.saved_seq = seq
                    finally:
                        state.saving = False
                        if state.save_waiters:
                            _wake(state)

    async def _store_through(self, state: _Creditor, seq: int) -> None:
        """Return once the store holds this creditor's cursor at or past event ``seq``."""
        while state.saved_seq < seq:
            if state.saving:  # another ack is saving: wait for it, then look again
                waiter = asyncio.get_running_loop().create_future()
                state.save_waiters.append(waiter)
                await waiter
                continue
            state.saving = True
            try:
                target = state.wanted_seq
                await self._store.save(self._store_sender, state.creditor_id, state.wanted_cursor)
                state.saved_seq = target
            finally:
                state.saving = False
                _wake(state)

    # -- one creditor's loop -------------------------------------------------------------------

    async def _poll_creditor(self, state: _Creditor) -> None:
        stats = state.stats
        while True:
            try:
                if not state.loaded:
                    await self._load(state)
                await self._drain(state)
            except Exception as error:  # a poller runs for months: report, back off, go on
                await self._failed(state.creditor_id, stats, error)
                delay = self._error_backoff(stats.consecutive_failures)
            else:
                delay = self._interval * (1 + self._jitter * random.random())
            await asyncio.sleep(delay)

    async def _load(self, state: _Creditor) -> None:
        cursor = await self._store.load(self._store_sender, state.creditor_id)
        if cursor is None and self._start == "now":
            cursor = await self._walk_to_end(state.creditor_id)
            if cursor is not None:
                await self._store.save(self._store_sender, state.creditor_id, cursor)
        state.fetch_cursor = cursor
        state.loaded = True

    async def _walk_to_end(self, creditor_id: str) -> str | None:
        """The cursor past the creditor's last settlement today, delivering nothing."""
        cursor: str | None = None
        while True:
            page = await self._fetch(creditor_id, cursor)
            if not page.settlements:
                return cursor
            cursor = self._advance(creditor_id, cursor, page)

    async def _drain(self, state: _Creditor) -> None:
        """Fetch and queue pages until one comes back empty."""
        while True:
            page = await self._fetch(state.creditor_id, state.fetch_cursor)
            if not page.settlements:
                return
            fresh = self._fresh(state, page)
            state.fetch_cursor = self._advance(state.creditor_id, state.fetch_cursor, page)
            if fresh is not None:
                await self._queue.put(fresh)
            if self._page_delay:
                await asyncio.sleep(self._page_delay)

    async def _fetch(self, creditor_id: str, cursor: str | None) -> SettlementPage:
        state = self._creditors[creditor_id]
        query = {
            "sender_id": self._store_sender or None,
            "creditor_id": creditor_id,
            "last_settlement_id": cursor,
        }
        async with self._fetch_slots:
            page = await self._client.requester.call(
                SETTLEMENT_PAGE, query=query, on_retry=self._count_retry
            )
        self.stats.requests += 1
        state.stats.succeeded()
        return page

    def _count_retry(self, attempt: int, error: errors.AmiliError, delay: float) -> None:
        self.stats.retries += 1

    def _fresh(self, state: _Creditor, page: SettlementPage) -> _Fresh | None:
        """The page's settlements not delivered before, numbered in the creditor's sequence. The
        poller's hot path: the usual page (ids all present, none seen before) is handled with
        whole-page operations."""
        settlements = page.settlements
        # Every id as the text the cursor needs, in two C calls for the page instead of one
        # UUID.__str__ per settlement.
        texts = _ID_TEXTS.decode(_ID_ENCODER.encode([s.id for s in settlements]))
        keys = [s.id.int if s.id is not None else None for s in settlements]
        if None in keys or not state.seen.isdisjoint(keys):
            settlements, texts, keys = self._drop_repeats(state, settlements, texts, keys)
        if not settlements:
            return None
        fresh = _Fresh(state, settlements, texts, state.seq + 1)
        state.seq += len(settlements)
        state.remember([key for key in keys if key is not None])
        if texts[-1] is None:  # no id of its own: the page's cursor
            texts[-1] = _page_cursor(page, state.creditor_id)
        return fresh

    def _drop_repeats(
        self,
        state: _Creditor,
        settlements: list[Settlement],
        texts: list[str | None],
        keys: list[int | None],
    ) -> tuple[list[Settlement], list[str | None], list[int | None]]:
        """The settlements of a page not delivered before (ids repeated within the page too)."""
        seen = set(state.seen)
        kept: tuple[list[Settlement], list[str | None], list[int | None]] = ([], [], [])
        for settlement, text, key in zip(settlements, texts, keys, strict=True):
            if key is not None and key in seen:
                self.stats.duplicates_dropped += 1
                continue
            if key is not None:
                seen.add(key)
            kept[0].append(settlement)
            kept[1].append(text)
            kept[2].append(key)
        return kept

    def _advance(self, creditor_id: str, cursor: str | None, page: SettlementPage) -> str:
        """The cursor after a non-empty page; raises if the server did not move it."""
        last_id = page.settlements[-1].id
        new = str(last_id) if last_id is not None else _page_cursor(page, creditor_id)
        if new is None or new == cursor:
            raise errors.CursorStalledError(
                f"creditor {creditor_id}: the server sent {len(page.settlements)} settlement(s) "
                f"but the cursor did not move past {cursor!r}"
            )
        return new

    async def _failed(self, creditor_id: str, stats: CreditorStats, error: Exception) -> None:
        stats.failed(error)
        self.stats.errors += 1
        logger.warning(
            "polling creditor %s failed (%d in a row): %s",
            creditor_id,
            stats.consecutive_failures,
            error,
        )
        if self._on_error is None:
            return
        try:
            outcome = self._on_error(creditor_id, error)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            logger.exception("on_error callback failed for creditor %s", creditor_id)

    def _error_backoff(self, failures: int) -> float:
        base = max(self._interval, 1.0)
        return min(self._max_error_backoff, base * 2.0 ** (failures - 1))

    async def _log_stats(self) -> None:
        while True:
            await asyncio.sleep(max(self._interval, 1.0))
            logger.info("settlement poller: %s", self.stats.summary())


def _wake(state: _Creditor) -> None:
    """Wake the acks waiting for this creditor's save to finish."""
    waiters, state.save_waiters = state.save_waiters, []
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


def _page_cursor(page: SettlementPage, creditor_id: str) -> str | None:
    """The creditor's ``lastsettlementid`` in a response, as the server wrote it."""
    for creditor in page.creditors:
        if creditor.id_number == creditor_id and creditor.last_settlement_id:
            return creditor.last_settlement_id
    return None
