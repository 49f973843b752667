"""The settlement poller: walks each creditor's ``lastsettlementid`` forward, for months.

Delivery is at-least-once:

* each creditor's settlements are delivered in the server's order;
* a creditor's cursor is saved only when the consumer is done with a settlement. By default
  (``auto_ack=True``) that is when the loop asks for the next event, or when it awaits
  [`SettlementEvent.ack`][amili_async.SettlementEvent.ack]; so a crash re-delivers at most the event
  in hand. With ``auto_ack=False`` only ``ack()`` counts, from any task and in any order, and a
  creditor's cursor passes an event only once it and every earlier event of that creditor are acked;
* ids already handed out are remembered (bounded), so a server repeating itself causes no
  duplicates; a cursor never moves backwards.

Each creditor has its own small task (fetching is bounded by a shared semaphore): a creditor that
keeps failing is backed off and reported, and never stops the others. What no retry can mend (the
checkpoint store failing, rejected credentials, the client closed) ends the poller: ``async for``
raises it.

With a [`LeasingStore`][amili_async.LeasingStore] (PostgreSQL) the poller polls only the creditors
whose leases it holds: a lease task syncs them with the store when the poller starts and about
every ``lease_ttl / 3`` seconds after, starts a creditor's task when its lease arrives and stops
it when the lease goes. Each lease held is its own ``_Creditor`` state, so every event knows the
epoch it was fetched under and saves go through ``save_leased`` with that epoch.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Final, Literal, NoReturn, Self, TypedDict

import msgspec

from .. import _sansio, errors
from .._lifecycle import AsyncClosing
from ..endpoints import SETTLEMENT_PAGE
from ..models.decoding import TypedDecoder
from ..models.polling import SettlementPage
from .stats import CreditorStats, PollerStats
from .stores import ClaimingStore, LeasingStore

if TYPE_CHECKING:
    from ..client import AmiliClient
    from ..models import Settlement
    from .stores import CheckpointStore

__all__ = ["ErrorCallback", "PollerOptions", "SettlementEvent", "SettlementPoller", "Start"]

logger = logging.getLogger("amili_async.poller")

Start = Literal["beginning", "now"]
ErrorCallback = Callable[[str, Exception], Awaitable[None] | None]

_PAGE_DECODER: Final = TypedDecoder(SettlementPage)
_ID_ENCODER: Final = msgspec.json.Encoder()
_ID_TEXTS: Final = msgspec.json.Decoder(list[str | None])
_STOP: Final = object()
# What no backoff can mend: the poller ends and ``async for`` raises it.
_FATAL: Final = (errors.CheckpointError, errors.ClientClosedError, errors.AuthenticationError)


class PollerOptions(TypedDict, total=False):
    """The keyword options of [`SettlementPoller`][amili_async.SettlementPoller] (and of
    [`AmiliClient.settlement_poller`][amili_async.AmiliClient.settlement_poller]), declared once.

    Attributes:
        interval: Seconds between polls of a drained creditor (default 60).
        start: ``"beginning"`` or ``"now"``, for a creditor without a saved cursor.
        concurrency: At most this many poll requests at once (default 10).
        page_delay: Seconds between the pages of one drain (default 0).
        sender_id: Sent as ``senderid``; part of the checkpoint key.
        on_error: Called with ``(creditor_id, error)`` when a creditor's poll fails.
        jitter: The random fraction added to intervals and taken off error backoffs (0.1).
        max_error_backoff: The longest wait before retrying a failing creditor (900 s).
        dedupe_window: Settlement ids remembered per creditor to drop repeats (10,000).
        auto_ack: Whether asking for the next event acks the previous one (default ``True``).
        max_unacked: With ``auto_ack=False``, how many events may be out unacked (1,000).
        poll_timeout: Seconds one creditor's poll may take, retries included (600).
        until_drained: End the ``async for`` once every creditor's first drain is handed out
            (default ``False``: poll until stopped).
    """

    interval: float
    start: Start
    concurrency: int
    page_delay: float
    sender_id: str | None
    on_error: ErrorCallback | None
    jitter: float
    max_error_backoff: float
    dedupe_window: int
    auto_ack: bool
    max_unacked: int
    poll_timeout: float
    until_drained: bool


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
        # The creditor's polling state this event was fetched under (a later lease integration
        # hangs the lease epoch there), and the event's place in that creditor's sequence.
        self._creditor = creditor
        self._seq = seq
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
    def lease_epoch(self) -> int | None:
        """The epoch of the lease this settlement was fetched under, with a
        [`LeasingStore`][amili_async.LeasingStore]; ``None`` with any other store."""
        return self._creditor.epoch

    @property
    def acked(self) -> bool:
        """Whether the creditor's stored cursor is at or past this settlement."""
        return self._creditor.saved_seq >= self._seq

    async def ack(self) -> None:
        """Acknowledge the settlement: you are done with it (booked it, or decided to skip it).

        With the default ``auto_ack=True`` this stores the creditor's cursor past this settlement
        and the creditor's earlier ones, and returns once that is durable. The loop does the same
        on its own when it asks for the next event, so call this only to commit early (e.g. in the
        same database transaction as your booking) or before you `break`.

        With ``auto_ack=False`` this is the only thing that moves a cursor. Call it from any task,
        in any order. The cursor moves past this settlement once it and every earlier settlement of
        its creditor are acknowledged; this returns once the ack is recorded and the save it makes
        possible (if any) is durable. It never waits for other events' acks. Acking twice is
        harmless.

        Raises:
            LeaseLostError: With a [`LeasingStore`][amili_async.LeasingStore]: this worker no
                longer holds the creditor's lease (another worker took it over, or this one
                could not renew it), so the cursor was not moved; the poller goes on with its
                other creditors, and the new holder delivers this settlement again.
            CheckpointError: The store could not save the cursor; the poller ends too.
        """
        state = self._creditor
        poller = state.poller
        if not poller._auto_ack:
            await poller._ack_out_of_order(self)
        elif state.wants_save_past(self._seq, self._cursor):
            await poller._save_through(state, self._seq)

    def __repr__(self) -> str:
        s = self.settlement
        return (
            f"SettlementEvent(creditor_id={self.creditor_id!r}, id={s.id}, "
            f"number={s.settlement_number}, amount={s.payment_amount} {s.currency or ''})"
        )


class _Creditor:
    """The poller's state for one creditor. Each event keeps a reference to it, so what belongs
    to the fetch an event came from lives here: with a leasing store, each lease the poller
    acquires gets a new state carrying that lease's epoch, and a lost lease's state is marked
    ``lost`` for good."""

    def __init__(
        self,
        poller: SettlementPoller,
        creditor_id: str,
        query: dict[str, str],
        dedupe_window: int,
        stats: CreditorStats,
        *,
        epoch: int | None = None,
        save_lock: asyncio.Lock | None = None,
    ) -> None:
        self.poller = poller
        self.creditor_id = creditor_id
        self.query = query  # the poll's query string, without the cursor
        self.stats = stats
        self.epoch = epoch  # the lease this state polls under; None: the store does not lease
        self.lost = False  # the lease is gone: nothing more is delivered or saved under it
        self.loaded = False
        self.fetch_cursor: str | None = None  # where the next request starts (runs ahead of acks)
        self.seq = 0  # events made so far
        # Checkpointing: acks record the newest cursor wanted, then save under the lock; an ack
        # that gets the lock after another saved past it has nothing left to do, so concurrent
        # acks merge into few saves and the stored cursor only moves forward.
        # Shared by the states of successive leases of one creditor: a new lease loads the
        # cursor only once a save made under the previous one has landed.
        self.save_lock = save_lock if save_lock is not None else asyncio.Lock()
        self.saved_seq = 0  # events whose cursor is stored
        self.wanted_seq = 0
        self.wanted_cursor = ""
        # auto_ack=False: the events acked so far form a prefix of the creditor's sequence, plus
        # the acks that came early (after a gap), by seq.
        self.acked_through = 0
        self.early_acks: dict[int, str | None] = {}
        # The last settlement ids handed out or queued to be (as ints: cheaper to hash than
        # UUIDs), page by page.
        self.seen: set[int] = set()
        self.seen_pages: collections.deque[list[int]] = collections.deque()
        self.dedupe_window = dedupe_window

    def remember(self, settlement_ids: list[int]) -> None:
        """Add a page's delivered ids; forget whole pages once more than the window is held."""
        self.seen.update(settlement_ids)
        self.seen_pages.append(settlement_ids)
        while len(self.seen) > self.dedupe_window and len(self.seen_pages) > 1:
            self.seen.difference_update(self.seen_pages.popleft())

    def want(self, seq: int, cursor: str) -> None:
        """Record that the cursor may move to ``cursor`` (past event ``seq``), if that is newer."""
        if seq > self.wanted_seq:
            self.wanted_seq, self.wanted_cursor = seq, cursor

    def wants_save_past(self, seq: int, cursor: str | None) -> bool:
        """An ack in auto_ack mode (which covers the earlier events): record the cursor it wants;
        whether a save is needed. The poller's hot path: a plain call, no coroutine."""
        if seq <= self.saved_seq or cursor is None:
            return False
        if seq > self.wanted_seq:
            self.wanted_seq, self.wanted_cursor = seq, cursor
        return True

    def record_ack(self, seq: int, cursor: str | None) -> int:
        """Record one ack (auto_ack=False); return how many events joined the acked prefix."""
        if seq <= self.acked_through or seq in self.early_acks:
            return 0
        if seq != self.acked_through + 1:
            self.early_acks[seq] = cursor
            return 0
        before = self.acked_through
        while True:
            self.acked_through = seq
            if cursor is not None:
                self.want(seq, cursor)
            seq += 1
            if seq not in self.early_acks:
                return self.acked_through - before
            cursor = self.early_acks.pop(seq)


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

    Made by [`AmiliClient.settlement_poller`][amili_async.AmiliClient.settlement_poller]:

    ```python
    store = SQLiteCheckpointStore("checkpoints.db")
    async with client.settlement_poller(creditor_ids, store=store) as poller:
        async for event in poller:
            await book(event.settlement)  # the next step of the loop acks this event
    ```

    By default the next step of the loop acknowledges the event in hand: the poller then saves
    the creditor's cursor past it. So finish with each event inside the loop body; to hand events
    to other tasks, use ``auto_ack=False`` (see the polling guide's worker-pool recipe).

    A store that can keep two pollers off the same creditors (a ``ClaimingStore``, such as the
    file and SQLite stores) is asked to claim them when the poller starts, before anything is
    fetched, and to release them when it closes; a refusal raises
    [`CheckpointError`][amili_async.CheckpointError] from ``async with`` (or the first step of
    ``async for``).

    A store shared by several workers that splits the creditors among them (a
    [`LeasingStore`][amili_async.LeasingStore], such as
    [`PostgresCheckpointStore`][amili_async.PostgresCheckpointStore]) makes the poller poll only
    the creditors whose leases this worker holds: give every worker the same ``creditor_ids``. The
    poller renews its leases about every ``lease_ttl / 3`` seconds and releases them when it
    closes. When a lease is lost it stops delivering that creditor at once and drops what it had
    fetched for it; an ``ack()`` of that creditor's events raises
    [`LeaseLostError`][amili_async.LeaseLostError] (the ack the loop makes when it asks for the
    next event drops the event instead, and logs it). If the store cannot be reached to renew
    the leases for ``lease_ttl``, the poller stops delivering every creditor it held, since
    other workers may have taken them over, and takes them up again once it can renew. See the
    "many machines" guide.

    Args:
        client: The client to poll with; its ``RetryPolicy`` retries transient failures.
        creditor_ids: The creditors to poll: a collection of non-empty strings.
        store: Where cursors are saved (see the checkpoints guide).
        interval: Seconds between polls of a creditor once it is drained (with jitter); > 0.
        start: Where a creditor *without a saved cursor* begins: ``"beginning"`` (its first
            settlement) or ``"now"`` (only what is paid from now on: the poller walks to the end
            without delivering and saves that cursor). A saved cursor always wins.
        concurrency: At most this many poll requests at once (an int >= 1).
        page_delay: Seconds to wait between the pages of one drain.
        sender_id: Sent as ``senderid`` and used, with the creditor id, as the checkpoint key.
        on_error: Called with ``(creditor_id, error)`` when a creditor's poll fails (after the
            client's retries); sync or async. The error has its traceback during the call; then
            the poller keeps it in ``stats`` without frames (log or copy what you need there).
            Errors that end the poller are raised by ``async for`` instead.
        jitter: Up to this fraction is added to each interval (and taken off each error
            backoff), so creditors spread out.
        max_error_backoff: A failing creditor is retried after ``interval`` (at least a second),
            then twice that, and so on up to this many seconds.
        dedupe_window: Settlement ids remembered per creditor to drop repeats.
        auto_ack: ``True``: asking for the next event acks the previous one. ``False``: only
            [`SettlementEvent.ack`][amili_async.SettlementEvent.ack] does.
        max_unacked: With ``auto_ack=False``, the loop waits while this many events are out
            whose creditor's cursor cannot pass them yet (not acked, or acked while an earlier
            event of the creditor is not).
        poll_timeout: Seconds one poll request of a creditor may take, retries and the wait for
            a free request slot included; a poll that takes longer fails with
            [`TimeoutError`][amili_async.TimeoutError] for that creditor (reported like any
            failure).
        until_drained: ``True`` for a catch-up job (start, book what is new, exit): each
            creditor is polled once, until a page comes back empty, and the ``async for`` ends
            by itself once every settlement of those drains has been handed out (with
            ``auto_ack=True``, the last one is acked first, as after
            [`stop`][amili_async.SettlementPoller.stop]). A creditor whose poll fails is not
            retried: it counts as done, and is reported through ``on_error`` and ``stats`` as
            usual (``stats.failing`` lists it). Settlements paid after a creditor's empty page
            are left for the next run. With a [`LeasingStore`][amili_async.LeasingStore], the
            creditors drained are those this worker holds after its first lease sync (a lease
            lost meanwhile ends that creditor's part, the new holder delivers the rest); the
            leases are renewed until the poller closes, so acks after the end still count.

    Raises:
        ConfigurationError: An argument is out of range (see each).
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
        auto_ack: bool = True,
        max_unacked: int = 1_000,
        poll_timeout: float = 600.0,
        until_drained: bool = False,
    ) -> None:
        ids = _checked_creditor_ids(creditor_ids)
        _check_options(start, interval, concurrency, page_delay, max_unacked, poll_timeout)
        self._client = client
        self._store = store
        self._interval = interval
        self._start = start
        self._page_delay = page_delay
        self._store_sender = sender_id or ""
        self._on_error = on_error
        self._jitter = jitter
        self._max_error_backoff = max(max_error_backoff, interval)
        self._auto_ack = auto_ack
        self._max_unacked = max_unacked
        self._poll_timeout = poll_timeout
        self._fetch_slots = asyncio.Semaphore(concurrency)
        self._dedupe_window = dedupe_window
        self.stats = PollerStats()
        self._creditors: dict[str, _Creditor] = {}
        for cid in ids:
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
        self._outstanding = 0  # auto_ack=False: events out that no cursor has passed yet
        self._room: asyncio.Future[None] | None = None  # the loop waiting for max_unacked
        self._tasks: list[asyncio.Task[None]] = []
        self._start_lock = asyncio.Lock()
        self._started = False
        self._claimed = False
        # A leasing store: the states of the creditors whose leases are held now, their tasks,
        # tasks being stopped, and the last epoch held of every creditor (to count takeovers).
        self._leasing: LeasingStore | None = store if isinstance(store, LeasingStore) else None
        self._held: dict[str, _Creditor] = {}
        self._poll_tasks: dict[str, asyncio.Task[None]] = {}
        self._ending_tasks: set[asyncio.Task[None]] = set()
        self._last_epochs: dict[str, int] = {}
        self._leasing_started = False
        self._stopping = False
        self._fatal: errors.AmiliError | None = None
        # until_drained: the creditors whose first drain has not ended (None: the option is off,
        # or, with a leasing store, the first lease sync has not told which creditors are ours).
        self._until_drained = until_drained
        self._drains_left: set[str] | None = (
            set(ids) if until_drained and self._leasing is None else None
        )
        self._end_queued = False

    def __repr__(self) -> str:
        return (
            f"SettlementPoller(creditors={len(self._creditors)}, interval={self._interval}, "
            f"start={self._start!r}, store={self._store!r})"
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self._ensure_started()
        return self

    def stop(self) -> None:
        """Ask the poller to end: the ``async for`` finishes after the event in hand (which, with
        ``auto_ack=True``, is acknowledged when the loop asks for the next one). Safe to call from
        any task."""
        self._stopping = True
        self._current = None
        for task in [*self._tasks, *self._poll_tasks.values()]:
            task.cancel()
        if not self._queue.full():
            self._queue.put_nowait(_STOP)
        self._make_room()

    async def aclose(self) -> None:
        """Stop, wait until every background task has ended, and release the store's claim or
        leases. Unacknowledged events stay unsaved: they are delivered again by the next poller
        on the same store (with a leasing store, by whichever worker takes the creditor over;
        acking them after this raises [`LeaseLostError`][amili_async.LeaseLostError])."""
        self.stop()
        tasks = [*self._tasks, *self._poll_tasks.values(), *self._ending_tasks]
        self._tasks, self._poll_tasks = [], {}
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._leasing_started:
            await self._release_leases()
        self.stats.creditors_held = 0
        if self._claimed:
            self._claimed = False
            try:
                await self._claiming_store().release(self._store_sender, list(self._creditors))
            except Exception as exc:  # closing goes on; the next claim will say more
                logger.warning("settlement poller: %r failed to release: %s", self._store, exc)

    close = aclose

    async def _ensure_started(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        async with self._start_lock:
            if self._started:
                return
            # Fail fast on a closed client, or one of another event loop (opens its session).
            _ = self._client.requester
            if self._leasing is not None:
                self._leasing_started = True  # the lease task syncs before anything is fetched
            elif isinstance(self._store, ClaimingStore):
                creditor_ids = list(self._creditors)
                try:
                    await self._store.claim(self._store_sender, creditor_ids)
                except Exception as exc:
                    self._store_failed("claim", "its creditors", exc)
                self._claimed = True
            self._started = True
        if self._leasing is not None:
            self._tasks = [
                asyncio.create_task(self._keep_leases(self._leasing), name="amili-poll-leases")
            ]
        else:
            for state in self._creditors.values():
                state.stats.started()
            self._tasks = [
                asyncio.create_task(self._poll_creditor(state), name=f"amili-poll-{cid}")
                for cid, state in self._creditors.items()
            ]
            self.stats.creditors_held = len(self._creditors)
            self._end_if_drained()  # no creditors at all
        self._tasks.append(asyncio.create_task(self._log_stats(), name="amili-poll-stats"))

    def _claiming_store(self) -> ClaimingStore:
        store = self._store
        assert isinstance(store, ClaimingStore)
        return store

    def _end_with(self, error: errors.AmiliError) -> None:
        """End the poller: the consumer's ``async for`` raises ``error``."""
        if self._fatal is None:
            self._fatal = error
            logger.error("settlement poller stopped: %s", error)
        self.stop()

    # -- the consumer's side -----------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SettlementEvent:
        pending = self._pending
        if pending is not None:
            self._pending = None
            # the consumer is done with it: it asks for the next one
            state = pending._creditor
            if state.wants_save_past(pending._seq, pending._cursor):
                try:
                    await self._save_through(state, pending._seq)
                except errors.LeaseLostError as lost:  # never raised here: the event is dropped
                    logger.warning("settlement poller: dropped the ack of %r: %s", pending, lost)
        if not self._started:
            await self._ensure_started()
        if not self._auto_ack:
            await self._wait_for_room()
        fresh = self._current  # stop() clears it, so a stop is seen here without another check
        while fresh is None or fresh.next >= fresh.end:
            if self._stopping:
                if self._fatal is not None:
                    raise self._fatal
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
        if self._auto_ack:
            self._pending = event
        else:
            self._outstanding += 1
        state.stats.delivered += 1
        return event

    async def _wait_for_room(self) -> None:
        while self._outstanding >= self._max_unacked and not self._stopping:
            self._room = asyncio.get_running_loop().create_future()
            try:
                await self._room
            finally:
                self._room = None

    def _make_room(self) -> None:
        room = self._room
        if room is not None and not room.done():
            room.set_result(None)

    async def _ack_out_of_order(self, event: SettlementEvent) -> None:
        state = event._creditor
        if state.lost:  # its events no longer count as outstanding (see _lose)
            if event._seq > state.saved_seq:
                raise _lease_lost(state)
            return
        joined = state.record_ack(event._seq, event._cursor)
        if joined:
            self._outstanding -= joined
            self._make_room()
        if event._seq <= state.acked_through:  # in the acked prefix: make sure it is stored
            await self._save_through(state, state.wanted_seq)

    async def _save_through(self, state: _Creditor, seq: int) -> None:
        """Return once the store holds this creditor's cursor at or past event ``seq``."""
        lock = state.save_lock
        await lock.acquire()  # not `async with`: two coroutines fewer per settlement
        try:
            if state.saved_seq >= seq:  # an ack that held the lock saved past it already
                return
            target, cursor = state.wanted_seq, state.wanted_cursor
            if state.epoch is None:  # inlined, not _write_cursor: a coroutine less per ack
                try:
                    await self._store.save(self._store_sender, state.creditor_id, cursor)
                except Exception as exc:
                    self._store_failed("save the cursor of", state.creditor_id, exc)
            else:
                await self._save_leased(state, cursor, state.epoch)
            state.saved_seq = target
        finally:
            lock.release()

    async def _write_cursor(self, state: _Creditor, cursor: str) -> None:
        """Save the cursor, under the state's lease if it has one (as ``_save_through`` does).

        Raises:
            LeaseLostError: The lease is gone; the creditor has been dropped (see _lose).
            AmiliError: The store failed; the poller ends.
        """
        if state.epoch is not None:
            await self._save_leased(state, cursor, state.epoch)
            return
        try:
            await self._store.save(self._store_sender, state.creditor_id, cursor)
        except Exception as exc:
            self._store_failed("save the cursor of", state.creditor_id, exc)

    async def _save_leased(self, state: _Creditor, cursor: str, epoch: int) -> None:
        """Save under the lease ``epoch``; a refusal drops the creditor and raises
        LeaseLostError, any other failure ends the poller."""
        if state.lost:
            raise _lease_lost(state)
        try:
            await self._leasing_store().save_leased(
                self._store_sender, state.creditor_id, cursor, epoch
            )
        except errors.LeaseLostError as exc:
            self._lose(state, f"the store refused a save: {exc}")
            raise
        except Exception as exc:
            self._store_failed("save the cursor of", state.creditor_id, exc)

    def _store_failed(self, action: str, creditor: str, exc: Exception) -> NoReturn:
        """End the poller over a failed store call and raise: the store's own AmiliError as it
        is, any other failure (OSError, sqlite3...) as a CheckpointError."""
        if isinstance(exc, errors.AmiliError):
            self._end_with(exc)
            raise exc
        error = errors.CheckpointError(
            f"{self._store!r} failed to {action} {creditor} ({type(exc).__name__}: {exc})"
        )
        self._end_with(error)
        raise error from exc

    # -- leases (a LeasingStore) -----------------------------------------------------------------

    def _leasing_store(self) -> LeasingStore:
        store = self._leasing
        assert store is not None
        return store

    async def _keep_leases(self, store: LeasingStore) -> None:
        """Sync the leases now and about every ``lease_ttl / 3`` seconds; a failed sync is
        retried with backoff, and once none has succeeded for ``lease_ttl`` every creditor held
        is dropped (other workers may have taken them over by then)."""
        loop = asyncio.get_running_loop()
        ttl = store.lease_ttl
        period = ttl / 3
        creditor_ids = list(self._creditors)
        renewed_at: float | None = None  # when the last successful sync was sent (loop time)
        failures = 0
        while True:
            sent = loop.time()
            # A renewal that comes back after the leases ran out proves nothing: give up then.
            deadline = renewed_at + ttl if self._held and renewed_at is not None else None
            try:
                async with asyncio.timeout_at(deadline):
                    held = await store.sync_leases(self._store_sender, creditor_ids)
            except Exception as exc:  # the database is down, or slow: retry, and keep count
                failures += 1
                delay = min(period, 0.1 * 2.0 ** min(failures - 1, 16))
                delay *= 1 - self._jitter * random.random()
                logger.warning(
                    "settlement poller: %r could not sync its leases (%d in a row): %s",
                    store,
                    failures,
                    exc if str(exc) else type(exc).__name__,
                )
                if deadline is not None and loop.time() >= deadline:
                    self._lose_all(f"its leases could not be renewed for {ttl} s", logging.WARNING)
            else:
                failures = 0
                renewed_at = sent
                self._apply_leases(held)
                delay = period
            if self._held and renewed_at is not None:  # never sleep past the leases' end
                delay = min(delay, max(renewed_at + ttl - loop.time(), 0.0))
            await asyncio.sleep(delay)

    def _apply_leases(self, held: Mapping[str, int]) -> None:
        """Drop the creditors whose lease is gone (or was taken anew), start the new ones."""
        for creditor_id, state in list(self._held.items()):
            epoch = held.get(creditor_id)
            if epoch != state.epoch:
                why = "the store no longer grants it" if epoch is None else f"now epoch {epoch}"
                self._lose(state, why, level=logging.INFO)
        wanted: Collection[str] = self._creditors
        if self._until_drained:  # only the creditors held after the first sync, drained once
            if self._drains_left is None:
                self._drains_left = {cid for cid in held if cid in self._creditors}
                self._end_if_drained()
            wanted = self._drains_left
        for creditor_id, epoch in held.items():
            if creditor_id not in self._held and creditor_id in wanted:
                self._acquire(creditor_id, epoch)

    def _acquire(self, creditor_id: str, epoch: int) -> None:
        """Start polling a creditor under a lease just acquired: a new state (the cursor is
        loaded again: another worker may have moved it)."""
        template = self._creditors[creditor_id]
        # Every acquisition bumps the epoch: a gap since our last one means another worker
        # held it in between (epoch > 1 on a first acquisition: someone held it before).
        if epoch > self._last_epochs.get(creditor_id, 0) + 1:
            self.stats.takeovers += 1
        self._last_epochs[creditor_id] = epoch
        state = _Creditor(
            self,
            creditor_id,
            template.query,
            self._dedupe_window,
            template.stats,
            epoch=epoch,
            save_lock=template.save_lock,
        )
        self._held[creditor_id] = state
        self.stats.creditors_held = len(self._held)
        state.stats.acquired()
        self._poll_tasks[creditor_id] = asyncio.create_task(
            self._poll_creditor(state), name=f"amili-poll-{creditor_id}"
        )
        logger.debug("settlement poller: acquired creditor %s (epoch %d)", creditor_id, epoch)

    def _lose(self, state: _Creditor, why: str, *, level: int = logging.WARNING) -> None:
        """Stop delivering a creditor whose lease is gone: stop its task, drop what was fetched
        for it and not handed out; its events can no longer be acked."""
        creditor_id = state.creditor_id
        if self._held.get(creditor_id) is not state:  # an earlier lease, dropped already
            return
        del self._held[creditor_id]
        state.lost = True
        task = self._poll_tasks.pop(creditor_id, None)
        if task is not None:
            task.cancel()
            self._ending_tasks.add(task)
            task.add_done_callback(self._ending_tasks.discard)
        dropped = self._drop_fetched(state)
        if not self._auto_ack:  # its events out, handed and not in the acked prefix, are void
            self._outstanding -= state.seq - dropped - state.acked_through
            self._make_room()
        state.stats.released()
        self.stats.creditors_held = len(self._held)
        self._drain_ended(creditor_id)  # the creditor's new holder delivers the rest
        logger.log(
            level,
            "settlement poller: lost the lease on creditor %s (epoch %s): %s; stopped "
            "delivering it, dropped %d fetched settlement(s)",
            creditor_id,
            state.epoch,
            why,
            dropped,
        )

    def _lose_all(self, why: str, level: int) -> None:
        for state in list(self._held.values()):
            self._lose(state, why, level=level)

    def _drop_fetched(self, state: _Creditor) -> int:
        """Remove the creditor's settlements not handed out yet (the rest of the page in hand
        and its queued pages); return how many."""
        dropped = 0
        current = self._current
        if current is not None and current.creditor is state:
            dropped += current.end - current.next
            current.end = current.next
        kept: list[object] = []
        queue = self._queue
        while not queue.empty():  # synchronous: no page can be put in between
            item = queue.get_nowait()
            if isinstance(item, _Fresh) and item.creditor is state:
                dropped += item.end - item.next
            else:
                kept.append(item)
        for item in kept:
            queue.put_nowait(item)
        return dropped

    async def _release_leases(self) -> None:
        """Give every lease up (all our creditor ids: a sync cut short may have taken some we
        never heard of); errors are logged, the leases then expire after ``lease_ttl``."""
        store = self._leasing_store()
        self._leasing_started = False
        self._lose_all("the poller closed", logging.DEBUG)
        try:
            await store.release_leases(self._store_sender, list(self._creditors))
        except Exception as exc:
            logger.warning(
                "settlement poller: %r failed to release its leases (they expire after %s s): %s",
                store,
                store.lease_ttl,
                exc,
            )

    # -- one creditor's loop -------------------------------------------------------------------

    async def _poll_creditor(self, state: _Creditor) -> None:
        stats = state.stats
        while True:
            try:
                if not state.loaded:
                    await self._load(state)
                await self._drain(state)
            except errors.LeaseLostError:  # saving the "now" cursor: the lease is gone
                return
            except _FATAL as error:
                self._end_with(error)
                return
            except Exception as error:  # a poller runs for months: report, back off, go on
                await self._failed(state.creditor_id, stats, error)
                delay = self._error_backoff(stats.consecutive_failures)
            else:
                delay = self._interval * (1 + self._jitter * random.random())
            if self._until_drained:  # drained (or failed) once: that was this creditor's part
                self._drain_ended(state.creditor_id)
                return
            await asyncio.sleep(delay)

    def _drain_ended(self, creditor_id: str) -> None:
        """until_drained: the creditor's first drain has ended (or failed, or its lease went)."""
        left = self._drains_left
        if left is not None and creditor_id in left:
            left.discard(creditor_id)
            self._end_if_drained()

    def _end_if_drained(self) -> None:
        """until_drained: once no first drain is left, queue the end behind every page queued:
        the consumer gets them all (the last one acked as it asks for more), then the end."""
        if self._drains_left is None or self._drains_left or self._end_queued or self._stopping:
            return
        self._end_queued = True
        logger.info("settlement poller: every creditor drained once; ending after what is queued")
        # A task, as the queue may be full; no page can be put after it (no drain is left).
        self._tasks.append(asyncio.create_task(self._queue.put(_STOP), name="amili-poll-end"))

    async def _load(self, state: _Creditor) -> None:
        creditor_id = state.creditor_id
        try:
            # Under the lock: a save made under this creditor's previous lease has landed.
            async with state.save_lock:
                cursor = await self._store.load(self._store_sender, creditor_id)
        except Exception as exc:
            self._store_failed("load the cursor of", creditor_id, exc)
        if cursor is None and self._start == "now":
            cursor = await self._walk_to_end(state)
            if cursor is not None:
                await self._write_cursor(state, cursor)
        state.fetch_cursor = cursor
        state.loaded = True

    async def _walk_to_end(self, state: _Creditor) -> str | None:
        """The cursor past the creditor's last settlement today, delivering nothing."""
        cursor: str | None = None
        while True:
            page = await self._fetch_within_deadline(state, cursor)
            if not page.settlements:
                return cursor
            cursor = self._advance(state.creditor_id, cursor, page)

    async def _fetch_within_deadline(self, state: _Creditor, cursor: str | None) -> SettlementPage:
        try:
            async with asyncio.timeout(self._poll_timeout):
                return await self._fetch(state.creditor_id, cursor)
        except TimeoutError as exc:
            if isinstance(exc, errors.AmiliError):  # the request's own timeout, after retries
                raise
            raise errors.TimeoutError(
                f"creditor {state.creditor_id}: the poll took longer than "
                f"poll_timeout={self._poll_timeout}s"
            ) from None

    async def _drain(self, state: _Creditor) -> None:
        """Fetch and queue pages until one comes back empty."""
        while True:
            page = await self._fetch_within_deadline(state, state.fetch_cursor)
            if not page.settlements:
                return
            # Only a page that moves the cursor is taken: its ids count as seen from here on.
            cursor = self._advance(state.creditor_id, state.fetch_cursor, page)
            fresh = self._fresh(state, page)
            state.fetch_cursor = cursor
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
        _require_creditor(page, creditor_id)
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
        stats.failed()
        self.stats.errors += 1
        logger.warning(
            "polling creditor %s failed (%d in a row): %s",
            creditor_id,
            stats.consecutive_failures,
            error,
        )
        try:
            if self._on_error is not None:
                outcome = self._on_error(creditor_id, error)
                if inspect.isawaitable(outcome):
                    await outcome
        except Exception:
            logger.exception("on_error callback failed for creditor %s", creditor_id)
        finally:
            stats.keep_error(error)  # after on_error, which may want the traceback

    def _error_backoff(self, failures: int) -> float:
        """Exponential from ``interval`` (at least a second) to ``max_error_backoff``, less up to
        ``jitter`` of it, so creditors that failed together do not retry together."""
        base = max(self._interval, 1.0)
        delay = min(self._max_error_backoff, base * 2.0 ** min(failures - 1, 64))
        return delay * (1 - self._jitter * random.random())

    async def _log_stats(self) -> None:
        while True:
            await asyncio.sleep(max(self._interval, 1.0))
            logger.info("settlement poller: %s", self.stats.summary())


def _checked_creditor_ids(creditor_ids: Iterable[str]) -> list[str]:
    """The creditor ids, once each; an empty or non-string id would mean every creditor."""
    if isinstance(creditor_ids, str | bytes):
        raise errors.ConfigurationError(
            "creditor_ids must be a collection of ids, not one string: "
            f"use [{creditor_ids!r}] to poll one creditor"
        )
    ids = list(dict.fromkeys(creditor_ids))
    for cid in ids:
        if not isinstance(cid, str) or not cid.strip():
            raise errors.ConfigurationError(
                f"every creditor id must be a non-empty string, not {cid!r} (an empty id would "
                "ask the server for every creditor)"
            )
    return ids


def _check_options(
    start: str,
    interval: float,
    concurrency: int,
    page_delay: float,
    max_unacked: int,
    poll_timeout: float,
) -> None:
    if start not in ("beginning", "now"):
        raise errors.ConfigurationError(f"start must be 'beginning' or 'now', not {start!r}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise errors.ConfigurationError(f"concurrency must be an int >= 1, not {concurrency!r}")
    if isinstance(max_unacked, bool) or not isinstance(max_unacked, int) or max_unacked < 1:
        raise errors.ConfigurationError(f"max_unacked must be an int >= 1, not {max_unacked!r}")
    if not interval > 0:
        raise errors.ConfigurationError(f"interval must be > 0 seconds, not {interval!r}")
    if not poll_timeout > 0:
        raise errors.ConfigurationError(f"poll_timeout must be > 0 seconds, not {poll_timeout!r}")
    if not page_delay >= 0:
        raise errors.ConfigurationError(f"page_delay must be >= 0 seconds, not {page_delay!r}")


def _require_creditor(page: SettlementPage, creditor_id: str) -> None:
    """An empty page without the creditor is not "nothing new": the server does not know it."""
    if page.settlements or any(c.id_number == creditor_id for c in page.creditors):
        return
    raise errors.UnknownCreditorError(
        f"creditor {creditor_id}: the answer holds neither this creditor nor settlements; "
        "is it a creditor of this sender (sender_id)?",
        creditor_id=creditor_id,
    )


def _lease_lost(state: _Creditor) -> errors.LeaseLostError:
    return errors.LeaseLostError(
        f"this worker no longer holds the lease on creditor {state.creditor_id} (epoch "
        f"{state.epoch}): the cursor was not saved; the creditor's new holder delivers the "
        "settlement again"
    )


def _page_cursor(page: SettlementPage, creditor_id: str) -> str | None:
    """The creditor's ``lastsettlementid`` in a response, as the server wrote it."""
    for creditor in page.creditors:
        if creditor.id_number == creditor_id and creditor.last_settlement_id:
            return creditor.last_settlement_id
    return None
