"""A checkpoint store in PostgreSQL that also splits the creditors among several workers (leases).

Three tables, named from ``table``: the cursors (``table``), the live workers
(``{table}_workers``: one heartbeat row per worker and sender) and the leases (``{table}_leases``:
one row per creditor: holder, epoch, expiry). Every time comes from the database's clock
(``now()``), so the workers' clocks never matter.

Why the epoch: a lease row's ``epoch`` grows by one every time a worker acquires it. A save made
under a lease names the epoch it was fetched under and is written in the same statement that
checks the row still holds ``(this worker, that epoch)``, holding a share lock on it, so a worker
that stalled past its lease can never write over what the new holder booked.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, TypeVar

from .._lifecycle import AsyncClosing
from ..errors import CheckpointError, ConfigurationError, LeaseLostError

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresCheckpointStore"]

logger = logging.getLogger("amili_async")

T = TypeVar("T")

_CONNECT_TIMEOUT = 10.0
# A statement that has not answered by then fails with CheckpointError instead of hanging a poller
# (a timed-out write is either committed or not: never half of one).
_COMMAND_TIMEOUT = 30.0
_DEADLOCK_RETRIES = 3
_MAX_BATCH = 500
_IDLE_SECONDS = 5.0  # a writer keeps its connection this long after its last write
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,50}")
# One advisory lock class for creating our tables, so workers starting together on an empty
# database do not race in CREATE TABLE IF NOT EXISTS (it is not safe against itself).
_SCHEMA_LOCK_CLASS = 0x616D696C  # "amil"


class _Sql:
    """Every statement of the store, for one ``table``."""

    def __init__(self, table: str) -> None:
        parts = table.split(".")
        if len(parts) > 2 or not all(_NAME.fullmatch(part) for part in parts):
            raise ConfigurationError(
                f"table must be a name like 'amili_checkpoints' or 'schema.name' (letters, digits, "
                f"underscores; at most 51 characters each), got {table!r}"
            )
        *schema, name = parts

        def quoted(suffix: str) -> str:
            return ".".join(f'"{part}"' for part in [*schema, name + suffix])

        self.lock_key = table
        cursors, workers, leases = quoted(""), quoted("_workers"), quoted("_leases")
        self.schema = [
            f"""CREATE TABLE IF NOT EXISTS {cursors} (
                sender_id   text NOT NULL,
                creditor_id text NOT NULL,
                cursor      text NOT NULL,
                updated_at  timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (sender_id, creditor_id))""",
            f"""CREATE TABLE IF NOT EXISTS {workers} (
                sender_id text NOT NULL,
                worker_id text NOT NULL,
                heartbeat timestamptz NOT NULL,
                PRIMARY KEY (sender_id, worker_id))""",
            f"""CREATE TABLE IF NOT EXISTS {leases} (
                sender_id   text NOT NULL,
                creditor_id text NOT NULL,
                worker_id   text,
                epoch       bigint NOT NULL DEFAULT 0,
                renewed_at  timestamptz,
                expires_at  timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (sender_id, creditor_id))""",
        ]
        self.load = f"SELECT cursor FROM {cursors} WHERE sender_id = $1 AND creditor_id = $2"
        # Every cursor write, plain (epoch NULL) or under a lease, goes through this one
        # statement, batched: concurrent saves share a commit (and its disk flush). The share lock
        # keeps a takeover (an UPDATE of the lease row) from committing between the check and the
        # write; a takeover that committed first makes the check fail on the new row version.
        # Rows are locked in key order, as everywhere else, so no two statements deadlock.
        # $1 senders, $2 creditors, $3 cursors, $4 epochs (NULL: plain), $5 this worker.
        self.save_batch = f"""
            WITH
            input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
                    AS i(sender_id, creditor_id, cursor, epoch)),
            leased AS MATERIALIZED (
                SELECT l.sender_id, l.creditor_id FROM {leases} l
                JOIN input i ON i.sender_id = l.sender_id AND i.creditor_id = l.creditor_id
                WHERE l.worker_id = $5 AND l.epoch = i.epoch
                ORDER BY l.sender_id, l.creditor_id
                FOR SHARE OF l)
            INSERT INTO {cursors} AS t (sender_id, creditor_id, cursor)
            SELECT i.sender_id, i.creditor_id, i.cursor FROM input i
            WHERE i.epoch IS NULL
               OR (i.sender_id, i.creditor_id) IN (SELECT sender_id, creditor_id FROM leased)
            ORDER BY i.sender_id, i.creditor_id
            ON CONFLICT (sender_id, creditor_id)
            DO UPDATE SET cursor = excluded.cursor, updated_at = now()
            RETURNING t.sender_id, t.creditor_id"""
        # The same for a lone save, in a cheaper statement (a save alone is the common case of a
        # consumer that acks one settlement at a time): returns true if written.
        self.save_one = f"""
            WITH leased AS MATERIALIZED (
                SELECT 1 FROM {leases}
                WHERE sender_id = $1 AND creditor_id = $2 AND worker_id = $5 AND epoch = $4
                FOR SHARE)
            INSERT INTO {cursors} (sender_id, creditor_id, cursor)
            SELECT $1, $2, $3 WHERE $4::bigint IS NULL OR EXISTS (SELECT FROM leased)
            ON CONFLICT (sender_id, creditor_id)
            DO UPDATE SET cursor = excluded.cursor, updated_at = now()
            RETURNING true"""
        self.add_creditors = f"""
            INSERT INTO {leases} (sender_id, creditor_id)
            SELECT $1, id FROM unnest($2::text[]) AS ids(id) ORDER BY id
            ON CONFLICT (sender_id, creditor_id) DO NOTHING"""
        # One round trip: heartbeat; count the live workers; renew this worker's leases up to its
        # fair share and free the rest; take free or expired leases up to the share, bumping their
        # epoch. Taking uses SKIP LOCKED, so two workers syncing at once never wait on each other
        # there (and cannot deadlock); the loser of a race simply takes more next time.
        # $1 sender, $2 worker, $3 creditor ids, $4 lease_ttl in seconds.
        self.sync = f"""
            WITH
            beat AS (
                INSERT INTO {workers} (sender_id, worker_id, heartbeat) VALUES ($1, $2, now())
                ON CONFLICT (sender_id, worker_id) DO UPDATE SET heartbeat = now()),
            forget AS (
                DELETE FROM {workers}
                WHERE sender_id = $1 AND worker_id <> $2
                  AND heartbeat < now() - make_interval(secs => $4::float8 * 100)),
            wanted AS (SELECT DISTINCT id AS creditor_id FROM unnest($3::text[]) AS ids(id)),
            share AS (
                SELECT ceil((SELECT count(*) FROM wanted)::numeric / (1 + count(*)))::bigint AS k
                FROM {workers}
                WHERE sender_id = $1 AND worker_id <> $2
                  AND heartbeat > now() - make_interval(secs => $4::float8)),
            locked AS (
                SELECT creditor_id FROM {leases} WHERE sender_id = $1 AND worker_id = $2
                ORDER BY creditor_id FOR UPDATE),
            mine AS (
                SELECT l.creditor_id,
                       w.creditor_id IS NOT NULL
                       AND row_number() OVER (
                           PARTITION BY w.creditor_id IS NOT NULL
                           ORDER BY md5(l.creditor_id || $2)) <= (SELECT k FROM share) AS keep
                FROM locked l LEFT JOIN wanted w USING (creditor_id)),
            renewed AS (
                UPDATE {leases} l
                SET worker_id = CASE WHEN m.keep THEN l.worker_id END,
                    renewed_at = now(),
                    expires_at = CASE WHEN m.keep THEN now() + make_interval(secs => $4::float8)
                                      ELSE now() END
                FROM mine m
                WHERE l.sender_id = $1 AND l.creditor_id = m.creditor_id AND l.worker_id = $2
                RETURNING l.creditor_id, l.epoch, m.keep),
            free AS (
                SELECT l.creditor_id FROM {leases} l JOIN wanted w USING (creditor_id)
                WHERE l.sender_id = $1 AND l.worker_id IS DISTINCT FROM $2
                  AND (l.worker_id IS NULL OR l.expires_at <= now())
                ORDER BY md5(l.creditor_id || $2)
                LIMIT greatest(
                    (SELECT k FROM share) - (SELECT count(*) FROM mine WHERE keep), 0)
                FOR UPDATE OF l SKIP LOCKED),
            taken AS (
                UPDATE {leases} l
                SET worker_id = $2, epoch = l.epoch + 1, renewed_at = now(),
                    expires_at = now() + make_interval(secs => $4::float8)
                FROM free f
                WHERE l.sender_id = $1 AND l.creditor_id = f.creditor_id
                RETURNING l.creditor_id, l.epoch)
            SELECT creditor_id, epoch, false AS acquired FROM renewed WHERE keep
            UNION ALL
            SELECT creditor_id, epoch, true FROM taken"""
        self.release = f"""
            WITH locked AS (
                SELECT creditor_id FROM {leases}
                WHERE sender_id = $1 AND worker_id = $2 AND creditor_id = ANY($3::text[])
                ORDER BY creditor_id FOR UPDATE)
            UPDATE {leases} l SET worker_id = NULL, expires_at = now() FROM locked k
            WHERE l.sender_id = $1 AND l.creditor_id = k.creditor_id AND l.worker_id = $2"""
        self.leave = f"DELETE FROM {workers} WHERE sender_id = $1 AND worker_id = $2"
        self.release_all = f"""
            WITH
            gone AS (DELETE FROM {workers} WHERE worker_id = $1),
            locked AS (
                SELECT sender_id, creditor_id FROM {leases} WHERE worker_id = $1
                ORDER BY sender_id, creditor_id FOR UPDATE)
            UPDATE {leases} l SET worker_id = NULL, expires_at = now() FROM locked k
            WHERE l.sender_id = k.sender_id AND l.creditor_id = k.creditor_id
              AND l.worker_id = $1"""


@dataclass(frozen=True)
class _Save:
    """One cursor write: plain when ``epoch`` is None, else only under that lease."""

    sender_id: str
    creditor_id: str
    cursor: str
    epoch: int | None


_Key = tuple[str, str]  # (sender_id, creditor_id)
_Pending = tuple[_Save, "asyncio.Future[bool]"]


class _Batcher:
    """Combines concurrent writes: whatever waits when a writer is free goes out as one statement
    and one commit, so N saves in flight cost about one disk flush, not N; a lone save goes out
    at once. Up to ``writers`` writer tasks, each on a connection of its own that it keeps while
    busy (and ``_IDLE_SECONDS`` after), so a save costs no pool round trip.

    Writes to one cursor stay in call order: a save whose cursor is already waiting or being
    written waits behind it, so a batch holds each cursor once and no save overtakes another.
    """

    def __init__(
        self,
        connect: Callable[[], contextlib.AbstractAsyncContextManager[Any]],
        write: Callable[[Any, Sequence[_Save]], Awaitable[set[_Key]]],
        *,
        writers: int,
    ) -> None:
        self._connect = connect
        self._write = write
        self._max_writers = writers
        self._ready: dict[_Key, _Pending] = {}  # next batch: one save per cursor, in call order
        self._busy: set[_Key] = set()  # cursors being written now
        self._queued: dict[_Key, collections.deque[_Pending]] = {}  # behind the ready or busy one
        self._idle: list[asyncio.Future[None]] = []  # writers waiting for work
        self._writers: set[asyncio.Task[None]] = set()
        self._closing = False

    def submit(self, save: _Save) -> asyncio.Future[bool]:
        """A future: whether ``save`` was written (False: its lease check refused it). The write
        goes on even if the caller stops waiting."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        key = (save.sender_id, save.creditor_id)
        if key in self._ready or key in self._busy:
            self._queued.setdefault(key, collections.deque()).append((save, future))
        else:
            self._ready[key] = (save, future)
            self._wake()
        return future

    async def close(self) -> None:
        """Write (or refuse) every save submitted so far, then stop the writers."""
        self._closing = True
        self._wake_all()
        while self._writers:
            await asyncio.gather(*self._writers, return_exceptions=True)
        self._closing = False  # a save submitted later still gets an answer (an error)

    def _wake(self) -> None:
        while self._idle:
            waiter = self._idle.pop()
            if not waiter.done():
                waiter.set_result(None)
                return
        if len(self._writers) < self._max_writers:
            task = asyncio.create_task(self._writer())
            self._writers.add(task)
            task.add_done_callback(self._writer_done)

    def _wake_all(self) -> None:
        for waiter in self._idle:
            if not waiter.done():
                waiter.set_result(None)

    def _writer_done(self, task: asyncio.Task[None]) -> None:
        self._writers.discard(task)
        if self._ready:  # arrived while this writer was leaving
            self._wake()

    async def _writer(self) -> None:
        try:
            async with self._connect() as connection:
                while await self._work_arrives():
                    if not await self._write_next(connection):
                        return  # the connection may be broken: a new writer takes a new one
        except Exception as exc:  # no connection (a CheckpointError): fail what waits for one
            self._finish(self._take(), exc, set())

    async def _work_arrives(self) -> bool:
        while not self._ready:
            if self._closing:
                return False
            waiter = asyncio.get_running_loop().create_future()
            self._idle.append(waiter)
            try:
                async with asyncio.timeout(_IDLE_SECONDS):
                    await waiter
            except TimeoutError:
                return bool(self._ready)
            finally:
                if waiter in self._idle:
                    self._idle.remove(waiter)
        return True

    async def _write_next(self, connection: Any) -> bool:
        """Write the next batch; False if that failed."""
        batch = self._take()
        try:
            written = await self._write(connection, [save for _, (save, _) in batch])
        except Exception as exc:  # a CheckpointError: no save of the batch is known written
            self._finish(batch, exc, set())
            return False
        self._finish(batch, None, written)
        return True

    def _take(self) -> list[tuple[_Key, _Pending]]:
        keys = list(itertools.islice(self._ready, _MAX_BATCH))
        self._busy.update(keys)
        return [(key, self._ready.pop(key)) for key in keys]

    def _finish(
        self, batch: list[tuple[_Key, _Pending]], error: Exception | None, written: set[_Key]
    ) -> None:
        for key, (_, future) in batch:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(key in written)
            self._busy.discard(key)
            queued = self._queued.get(key)
            if queued:
                self._ready[key] = queued.popleft()
                if not queued:
                    del self._queued[key]


def _import_asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError as exc:
        raise ConfigurationError(
            "PostgresCheckpointStore needs asyncpg: install it with "
            "`pip install 'amili_async[postgres]'`"
        ) from exc
    return asyncpg


def _redact(dsn: str) -> str:
    """The DSN without its password (URL or ``key=value`` form), for reprs and messages."""
    redacted = re.sub(r"(?<=://)([^:/@]*):[^@/]*@", r"\1:***@", dsn)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", redacted, flags=re.IGNORECASE)


class PostgresCheckpointStore(AsyncClosing):
    """Cursors in PostgreSQL, shared by several workers that split the creditors among them.

    On its own it is a plain [`CheckpointStore`][amili_async.CheckpointStore]: a save returns once
    committed, and the cursors survive restarts. Give every worker the same creditor list and the
    same database and the poller leases each creditor to one live worker at a time (see the
    "many machines" guide): a worker holds about its fair share, renews it every
    ``lease_ttl / 3`` seconds, and a dead worker's creditors are taken over within
    ``2 * lease_ttl``. Only the holder's saves count; a stalled worker's late save raises
    [`LeaseLostError`][amili_async.LeaseLostError] and changes nothing.

    The tables are created when missing (safe when several workers start at once). The store
    opens a small connection pool on first use (or on ``async with``) and keeps its connections
    at ``synchronous_commit`` ``on`` or stronger: an acknowledged save is on disk.

    Args:
        dsn: A libpq connection string or URL, as ``asyncpg.connect`` takes it.
        table: The cursors' table; the lease tables are named ``{table}_workers`` and
            ``{table}_leases``. Different names are independent fleets. ``schema.name`` works.
        worker_id: This worker's name in the lease tables; a new unique id by default. Two live
            stores must never share one.
        lease_ttl: Seconds a lease lasts without renewal; a worker that has not synced for this
            long no longer counts as live.
        pool_size: Connections that write cursors (the store opens one more, for leases and
            loads). Saves in flight together share one statement, so a few suffice (see the
            "many machines" guide).

    Raises:
        ConfigurationError: asyncpg is not installed, or an argument is invalid.
    """

    def __init__(
        self,
        dsn: str,
        *,
        table: str = "amili_checkpoints",
        worker_id: str | None = None,
        lease_ttl: float = 15.0,
        pool_size: int = 4,
    ) -> None:
        self._asyncpg = _import_asyncpg()
        self._errors: tuple[type[BaseException], ...] = (
            OSError,
            TimeoutError,
            self._asyncpg.PostgresError,
            self._asyncpg.InterfaceError,
            self._asyncpg.exceptions.InternalClientError,  # e.g. a connection killed mid-way
        )
        if not lease_ttl > 0:
            raise ConfigurationError(f"lease_ttl must be positive seconds, got {lease_ttl!r}")
        if pool_size < 1:
            raise ConfigurationError(f"pool_size must be at least 1, got {pool_size!r}")
        self._sql = _Sql(table)
        self._dsn = dsn
        self.table = table
        self.worker_id = worker_id if worker_id is not None else f"w-{uuid.uuid4().hex}"
        self.lease_ttl = float(lease_ttl)
        self._pool_size = pool_size
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._opening = asyncio.Lock()
        self._closed = False
        self._held: dict[tuple[str, str], int] = {}  # (sender, creditor) -> epoch held now
        self._known: dict[str, frozenset[str]] = {}  # creditors whose lease rows exist, by sender
        self._batcher = _Batcher(self._connection, self._save_batch, writers=pool_size)

    def __repr__(self) -> str:
        return (
            f"PostgresCheckpointStore({_redact(self._dsn)!r}, table={self.table!r}, "
            f"worker_id={self.worker_id!r})"
        )

    async def __aenter__(self) -> Self:
        await self._connected()
        return self

    # CheckpointStore

    async def load(self, sender_id: str, creditor_id: str) -> str | None:
        """The saved cursor of ``creditor_id``, or ``None``."""
        value = await self._run(lambda c: c.fetchval(self._sql.load, sender_id, creditor_id))
        return None if value is None else str(value)

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        """Save the cursor; return once committed.

        While this store holds the creditor's lease, the save is made under it (as
        [`save_leased`][amili_async.PostgresCheckpointStore.save_leased] with the epoch held). A
        creditor this store was never asked to lease (no ``sync_leases`` listed it: a store used
        without a poller that leases) is overwritten plainly.

        Raises:
            LeaseLostError: This store leases the creditor but does not hold its lease (any
                more); nothing was saved.
        """
        epoch = self._held.get((sender_id, creditor_id))
        if epoch is not None:
            await self.save_leased(sender_id, creditor_id, cursor, epoch)
            return
        if creditor_id in self._known.get(sender_id, ()):
            raise self._lost(sender_id, creditor_id, "no lease held")
        await self._write(_Save(sender_id, creditor_id, cursor, None))

    async def close(self) -> None:
        """Give up every lease and heartbeat of this worker at once, then close the pool.

        Closing twice is harmless. If the database cannot be reached the leases simply expire
        after ``lease_ttl``.
        """
        if self._closed:
            return
        await self._batcher.close()  # saves already asked for are written (or refused) first
        self._closed = True
        pool, self._pool = self._pool, None
        self._held.clear()
        if pool is None:
            return
        try:
            await pool.execute(self._sql.release_all, self.worker_id)
        except self._errors as exc:
            logger.warning(
                "%r could not release its leases on close (they expire after %s s): %s",
                self,
                self.lease_ttl,
                exc,
            )
        finally:
            await pool.close()

    # LeasingStore

    async def sync_leases(self, sender_id: str, creditor_ids: Sequence[str]) -> Mapping[str, int]:
        """Heartbeat, renew this worker's leases, give up what is over its fair share, take free
        or expired ones up to it; return ``{creditor_id: epoch}`` of the leases held now.

        One statement (plus one the first time a creditor list is seen, to create its lease
        rows). The fair share is ``ceil(len(creditor_ids) / live workers)``, counting every
        worker of this ``sender_id`` that synced within ``lease_ttl``, this one included.
        """
        ids = sorted(set(creditor_ids))
        await self._add_creditors(sender_id, ids)
        # A renewal later than lease_ttl is worthless (the leases may have moved): fail by then.
        timeout = max(self.lease_ttl, 1.0)
        rows = await self._run(
            lambda c: c.fetch(
                self._sql.sync, sender_id, self.worker_id, ids, self.lease_ttl, timeout=timeout
            )
        )
        held = {str(row["creditor_id"]): int(row["epoch"]) for row in rows}
        for key in [key for key in self._held if key[0] == sender_id]:
            del self._held[key]
        self._held.update({(sender_id, creditor): epoch for creditor, epoch in held.items()})
        return held

    async def save_leased(self, sender_id: str, creditor_id: str, cursor: str, epoch: int) -> None:
        """Save the cursor only while this worker holds the creditor's lease at ``epoch``: the
        check and the write are one statement. Concurrent saves (of different creditors) share
        one statement and one commit.

        Raises:
            LeaseLostError: The lease moved on (another worker took it, or this one gave it up);
                nothing was saved.
        """
        if not await self._write(_Save(sender_id, creditor_id, cursor, epoch)):
            if self._held.get((sender_id, creditor_id)) == epoch:
                del self._held[sender_id, creditor_id]
            raise self._lost(sender_id, creditor_id, f"epoch {epoch}")

    async def release_leases(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        """Give these leases up at once, and stop counting as a live worker of ``sender_id``
        until the next [`sync_leases`][amili_async.PostgresCheckpointStore.sync_leases], so the
        other workers take them over at their next sync."""
        ids = sorted(set(creditor_ids))
        for creditor in ids:
            self._held.pop((sender_id, creditor), None)

        async def release(connection: Any) -> None:
            async with connection.transaction():
                await connection.execute(self._sql.release, sender_id, self.worker_id, ids)
                await connection.execute(self._sql.leave, sender_id, self.worker_id)

        await self._run(release)

    # Plumbing

    def _lost(self, sender_id: str, creditor_id: str, what: str) -> LeaseLostError:
        return LeaseLostError(
            f"worker {self.worker_id!r} does not hold the lease on creditor {creditor_id!r} "
            f"(sender {sender_id!r}, {what}) any more; the cursor was not saved"
        )

    async def _add_creditors(self, sender_id: str, ids: list[str]) -> None:
        known = self._known.get(sender_id, frozenset())
        if known.issuperset(ids):
            return
        await self._run(lambda c: c.execute(self._sql.add_creditors, sender_id, ids))
        self._known[sender_id] = known.union(ids)

    async def _write(self, save: _Save) -> bool:
        """Write one cursor; whether it was written (a leased save may be refused). A cancelled
        caller stops waiting, but the write still goes out whole, in its turn."""
        return await asyncio.shield(self._batcher.submit(save))

    async def _save_batch(self, connection: Any, batch: Sequence[_Save]) -> set[_Key]:
        """One statement, one commit for the whole batch; the keys it wrote."""
        if len(batch) == 1:
            (save,) = batch
            written = await self._on(
                connection,
                lambda c: c.fetchval(
                    self._sql.save_one,
                    save.sender_id,
                    save.creditor_id,
                    save.cursor,
                    save.epoch,
                    self.worker_id,
                ),
            )
            return {(save.sender_id, save.creditor_id)} if written else set()
        rows = await self._on(
            connection,
            lambda c: c.fetch(
                self._sql.save_batch,
                [save.sender_id for save in batch],
                [save.creditor_id for save in batch],
                [save.cursor for save in batch],
                [save.epoch for save in batch],
                self.worker_id,
            ),
        )
        return {(str(row["sender_id"]), str(row["creditor_id"])) for row in rows}

    async def _run(self, statement: Callable[[Any], Awaitable[T]]) -> T:
        async with self._connection() as connection:
            return await self._on(connection, statement)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A connection from the pool; connection errors as CheckpointError."""
        pool = await self._connected()
        try:
            async with pool.acquire() as connection:
                yield connection
        except self._errors as exc:
            raise CheckpointError(f"{self!r}: {type(exc).__name__}: {exc}") from exc

    async def _on(self, connection: Any, statement: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``statement`` on ``connection``; its errors as CheckpointError."""
        attempts = 0
        try:
            while True:
                try:
                    return await statement(connection)
                except self._asyncpg.DeadlockDetectedError:
                    # Every statement locks rows in key order, so this needs a foreign writer;
                    # each statement is safe to run again (the lease checks run again too).
                    attempts += 1
                    if attempts == _DEADLOCK_RETRIES:
                        raise
        except self._errors as exc:
            raise CheckpointError(f"{self!r}: {type(exc).__name__}: {exc}") from exc

    async def _connected(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._closed:
            raise CheckpointError(f"{self!r} is closed")
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                self._pool = await self._open()
            return self._pool

    async def _open(self) -> asyncpg.Pool[asyncpg.Record]:
        try:
            pool: asyncpg.Pool[asyncpg.Record] = await self._asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size + 1,  # the writers', and one for leases and loads
                init=_durable_commits,
                reset=_keep_session,
                timeout=_CONNECT_TIMEOUT,
                command_timeout=_COMMAND_TIMEOUT,
                server_settings={"application_name": "amili_async"},
            )
        except self._errors as exc:
            raise CheckpointError(f"{self!r} cannot connect: {type(exc).__name__}: {exc}") from exc
        try:
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                    _SCHEMA_LOCK_CLASS,
                    self._sql.lock_key,
                )
                for statement in self._sql.schema:
                    await connection.execute(statement)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, self._errors):
                raise CheckpointError(f"{self!r} cannot create its tables: {exc}") from exc
            raise
        return pool


async def _keep_session(connection: Any) -> None:
    """Skip the pool's default reset on release (``RESET ALL`` and more: a round trip per save).
    The store never changes session state besides ``_durable_commits``, which must stay, and
    asyncpg still rolls back any transaction left open."""


async def _durable_commits(connection: Any) -> None:
    """Never acknowledge a save before it is flushed: a server configured with
    ``synchronous_commit = off`` gets ``on`` for our sessions (stronger settings are kept)."""
    if await connection.fetchval("SHOW synchronous_commit") == "off":
        await connection.execute("SET synchronous_commit = on")
