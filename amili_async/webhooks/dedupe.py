"""Where a [`WebhookReceiver`][amili_async.webhooks.WebhookReceiver] remembers the deliveries it
has handled, so that a repeated delivery of one event is answered without handling it again.

A key is remembered only after the handler returned, and is forgotten after ``ttl`` (Amili does
not say how long it keeps redelivering; 7 days is our assumption, far longer than any retry
schedule we have seen elsewhere).
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from .._blocking import BlockingWorker
from .._lifecycle import AsyncClosing
from ..errors import AmiliError, ConfigurationError

__all__ = [
    "DEFAULT_TTL",
    "MemoryWebhookDedupe",
    "SQLiteWebhookDedupe",
    "WebhookDedupe",
    "WebhookDedupeError",
]

DEFAULT_TTL = datetime.timedelta(days=7)
"""How long a dedupe store remembers an event's idempotency key by default (7 days)."""
T = TypeVar("T")


class WebhookDedupeError(AmiliError):
    """A dedupe store cannot be read or written (the receiver answers 500, so Amili retries)."""


@runtime_checkable
class WebhookDedupe(Protocol):
    """Remembers handled delivery keys (the ``IdempotencyKey`` header)."""

    async def seen(self, key: str) -> bool:
        """``True`` when ``key`` was remembered and has not expired."""
        ...

    async def remember(self, key: str) -> None:
        """Remember ``key``: its event has been handled."""
        ...

    async def close(self) -> None:
        """Release what the store holds; a closed store is not used again."""
        ...


def _seconds(ttl: float | datetime.timedelta) -> float:
    seconds = ttl.total_seconds() if isinstance(ttl, datetime.timedelta) else float(ttl)
    if not seconds > 0:
        raise ConfigurationError("ttl must be positive")
    return seconds


class MemoryWebhookDedupe(AsyncClosing):
    """Keys in a dict, the default: bounded in count and age, lost on restart.

    Args:
        max_keys: At most this many keys; the oldest go first.
        ttl: How long a key is kept (seconds or a ``timedelta``).
        clock: Returns the current unix time; for tests.
    """

    def __init__(
        self,
        *,
        max_keys: int = 100_000,
        ttl: float | datetime.timedelta = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_keys < 1:
            raise ConfigurationError("max_keys must be at least 1")
        self._max_keys = max_keys
        self._ttl = _seconds(ttl)
        self._clock = clock
        self._keys: collections.OrderedDict[str, float] = collections.OrderedDict()

    def __repr__(self) -> str:
        return f"MemoryWebhookDedupe({len(self._keys)} keys)"

    async def seen(self, key: str) -> bool:
        """``True`` when ``key`` was remembered and has not expired."""
        handled_at = self._keys.get(key)
        return handled_at is not None and self._clock() - handled_at < self._ttl

    async def remember(self, key: str) -> None:
        """Remember ``key``: its event has been handled."""
        now = self._clock()
        self._keys[key] = now
        self._keys.move_to_end(key)
        while len(self._keys) > self._max_keys:
            self._keys.popitem(last=False)
        while self._keys and now - next(iter(self._keys.values())) >= self._ttl:
            self._keys.popitem(last=False)

    async def close(self) -> None:
        """Forget every key."""
        self._keys.clear()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS amili_webhook_keys (
    key        TEXT PRIMARY KEY,
    handled_at REAL NOT NULL
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS amili_webhook_keys_age ON amili_webhook_keys (handled_at)"
_SELECT = "SELECT 1 FROM amili_webhook_keys WHERE key = ? AND handled_at > ?"
_UPSERT = "INSERT OR REPLACE INTO amili_webhook_keys (key, handled_at) VALUES (?, ?)"
_PURGE = "DELETE FROM amili_webhook_keys WHERE handled_at <= ?"
_PURGE_EVERY = 1000  # remembers between purges of expired keys


class SQLiteWebhookDedupe(AsyncClosing):
    """Keys in a SQLite table: survives a restart; expired keys are purged as it goes.

    One connection on one dedicated thread (the event loop never waits on the disk), opened on
    first use; WAL journal. Several processes may share the file, but the guard against two
    concurrent deliveries of one key is per receiver: see the webhooks guide.

    Args:
        path: The database file (created if missing).
        ttl: How long a key is kept (seconds or a ``timedelta``; default 7 days).
        busy_timeout: Seconds to wait for another process's write lock.
        clock: Returns the current unix time; for tests.

    Raises:
        WebhookDedupeError: from any method, when SQLite fails.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl: float | datetime.timedelta = DEFAULT_TTL,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._ttl = _seconds(ttl)
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._clock = clock
        self._connection: sqlite3.Connection | None = None
        self._remembered = 0
        self._worker = BlockingWorker("amili-webhook-dedupe")

    def __repr__(self) -> str:
        return f"SQLiteWebhookDedupe({str(self.path)!r})"

    async def seen(self, key: str) -> bool:
        """``True`` when ``key`` was remembered and has not expired."""
        return await self._run(self._seen, key, self._clock() - self._ttl)

    async def remember(self, key: str) -> None:
        """Remember ``key``: its event has been handled."""
        now = self._clock()
        self._remembered += 1
        purge_before = now - self._ttl if self._remembered % _PURGE_EVERY == 1 else None
        # Shielded: a cancelled delivery still finishes recording what its handler did.
        await asyncio.shield(self._run(self._remember, key, now, purge_before))

    async def close(self) -> None:
        """Close the database connection and its worker thread."""
        if self._connection is not None:
            await self._run(self._close)
        self._worker.shutdown()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self._worker.run(fn, *args)
        except sqlite3.Error as exc:
            raise WebhookDedupeError(f"webhook dedupe store {self.path}: {exc}") from exc

    # The methods below run on the store's own thread only.

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(_SCHEMA)
            connection.execute(_INDEX)
            self._connection = connection
        return self._connection

    def _seen(self, key: str, after: float) -> bool:
        return self._connect().execute(_SELECT, (key, after)).fetchone() is not None

    def _remember(self, key: str, now: float, purge_before: float | None) -> None:
        connection = self._connect()
        connection.execute(_UPSERT, (key, now))
        if purge_before is not None:
            connection.execute(_PURGE, (purge_before,))

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
