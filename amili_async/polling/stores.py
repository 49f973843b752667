"""Checkpoint stores: where a poller keeps each creditor's settlement cursor.

A cursor is saved only after the consumer has finished with the settlement it points past, so a
store that loses its last write re-delivers (harmless with an idempotent booking) and a store that
invents or tears a value loses money. Every store here therefore either keeps the old value or the
new one, never a mix.

The poller guarantees cursors only move forward, so a store simply overwrites.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from .._lifecycle import AsyncClosing
from ..errors import CheckpointError

__all__ = [
    "CheckpointStore",
    "ClaimingStore",
    "FileCheckpointStore",
    "LeasingStore",
    "MemoryCheckpointStore",
    "SQLiteCheckpointStore",
]

T = TypeVar("T")


@runtime_checkable
class CheckpointStore(Protocol):
    """What the poller needs from a store. Implement it over your own database to share work
    between machines (see the checkpoints guide)."""

    async def load(self, sender_id: str, creditor_id: str) -> str | None:
        """The saved cursor of ``creditor_id``, or ``None``."""
        ...

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        """Save the cursor; return only once it is durable."""
        ...

    async def close(self) -> None:
        """Release resources. Closing twice is harmless."""
        ...


@runtime_checkable
class ClaimingStore(Protocol):
    """A store that keeps two pollers off the same creditors (the file and SQLite stores).

    The poller calls :meth:`claim` before it fetches anything and :meth:`release` when it closes.
    """

    async def claim(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        """Reserve ``creditor_ids`` for this store object's poller.

        Raises:
            CheckpointError: Another live poller holds one of them; the message names the store
                and that holder. A holder that died (crash, SIGKILL) holds nothing.
        """
        ...

    async def release(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        """Give the creditors up (closing the store releases everything too)."""
        ...


@runtime_checkable
class LeasingStore(Protocol):
    """A store shared by several workers that splits the creditors among them (PostgreSQL).

    The poller calls :meth:`sync_leases` about every ``lease_ttl / 3`` seconds, polls only the
    creditors it returns, and saves with :meth:`save_leased` under the epoch the settlement was
    fetched with.
    """

    lease_ttl: float

    async def sync_leases(self, sender_id: str, creditor_ids: Sequence[str]) -> Mapping[str, int]:
        """Renew this worker's leases, take free or expired ones up to its fair share, give up
        what is over it; return ``{creditor_id: epoch}`` of the leases held now."""
        ...

    async def save_leased(self, sender_id: str, creditor_id: str, cursor: str, epoch: int) -> None:
        """Save the cursor only while this worker holds the creditor's lease at ``epoch``.

        Raises:
            LeaseLostError: The lease moved on; nothing was saved.
        """
        ...

    async def release_leases(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        """Give these leases up at once (a closing poller)."""
        ...


class MemoryCheckpointStore(AsyncClosing):
    """Cursors in a dict: for tests and for runs that may start over."""

    def __init__(self) -> None:
        self._cursors: dict[tuple[str, str], str] = {}

    async def load(self, sender_id: str, creditor_id: str) -> str | None:
        return self._cursors.get((sender_id, creditor_id))

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        self._cursors[sender_id, creditor_id] = cursor

    async def close(self) -> None:
        return None

    def snapshot(self) -> dict[tuple[str, str], str]:
        """A copy of every saved cursor, by ``(sender_id, creditor_id)``."""
        return dict(self._cursors)

    def __repr__(self) -> str:
        return f"MemoryCheckpointStore({len(self._cursors)} cursors)"


class _Worker:
    """One dedicated thread for a store's blocking I/O: the event loop never blocks on a disk, and
    no thread or connection is created per write."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self._name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


class FileCheckpointStore(AsyncClosing):
    """Cursors in one JSON file, replaced atomically on every save.

    Each save writes the whole map to a temporary file in the same directory, fsyncs it, renames it
    over the old file and fsyncs the directory: after a crash at any point the file holds either
    the previous or the new map. Good for one process; use SQLite for several.

    Args:
        path: The JSON file. Missing means empty; a file that is not a checkpoint map raises
            :class:`~amili_async.errors.CheckpointError` instead of silently starting over.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._cursors: dict[str, dict[str, str]] | None = None
        self._lock = asyncio.Lock()
        self._worker = _Worker("amili-checkpoint-file")

    def __repr__(self) -> str:
        return f"FileCheckpointStore({str(self.path)!r})"

    async def load(self, sender_id: str, creditor_id: str) -> str | None:
        cursors = await self._loaded()
        return cursors.get(sender_id, {}).get(creditor_id)

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        async with self._lock:
            cursors = await self._loaded()
            cursors.setdefault(sender_id, {})[creditor_id] = cursor
            document = json.dumps({"version": 1, "cursors": cursors}, sort_keys=True).encode()
            # Shielded: a cancelled save still finishes writing a whole file, never half of one.
            await asyncio.shield(self._worker.run(_replace_atomically, self.path, document))

    async def close(self) -> None:
        self._worker.shutdown()

    async def _loaded(self) -> dict[str, dict[str, str]]:
        if self._cursors is None:
            self._cursors = await self._worker.run(_read_checkpoint_file, self.path)
        return self._cursors


def _read_checkpoint_file(path: Path) -> dict[str, dict[str, str]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        document = json.loads(raw)
        cursors = document["cursors"]
        if document.get("version") != 1 or not isinstance(cursors, dict):
            raise TypeError("unexpected layout")
        return {str(s): {str(c): str(v) for c, v in m.items()} for s, m in cursors.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            f"checkpoint file {path} is not a valid checkpoint map ({exc}); refusing to start "
            "over from scratch: restore it or remove it deliberately"
        ) from exc


def _replace_atomically(path: Path, data: bytes) -> None:
    directory = path.parent
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS amili_checkpoints (
    sender_id   TEXT NOT NULL,
    creditor_id TEXT NOT NULL,
    cursor      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (sender_id, creditor_id)
)
"""
_UPSERT = """
INSERT INTO amili_checkpoints (sender_id, creditor_id, cursor, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (sender_id, creditor_id) DO UPDATE SET cursor = excluded.cursor,
    updated_at = excluded.updated_at
"""
_SELECT = "SELECT cursor FROM amili_checkpoints WHERE sender_id = ? AND creditor_id = ?"


class SQLiteCheckpointStore(AsyncClosing):
    """Cursors in a SQLite table, one small UPSERT and commit per save.

    One connection, used by one dedicated thread, opened on first use. WAL journal with
    ``synchronous=NORMAL``: a committed save survives the application crashing; a power loss may
    lose the last commits, which only re-delivers settlements. Several processes may share the
    file (each polling different creditors).

    Args:
        path: The database file (created if missing).
        busy_timeout: Seconds to wait for another process's write lock.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._connection: sqlite3.Connection | None = None
        self._worker = _Worker("amili-checkpoint-sqlite")

    def __repr__(self) -> str:
        return f"SQLiteCheckpointStore({str(self.path)!r})"

    async def load(self, sender_id: str, creditor_id: str) -> str | None:
        return await self._worker.run(self._load, sender_id, creditor_id)

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        await asyncio.shield(self._worker.run(self._save, sender_id, creditor_id, cursor))

    async def close(self) -> None:
        if self._connection is not None:
            await self._worker.run(self._close)
        self._worker.shutdown()

    # The methods below run on the store's own thread only.

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(_SCHEMA)
            self._connection = connection
        return self._connection

    def _load(self, sender_id: str, creditor_id: str) -> str | None:
        row = self._connect().execute(_SELECT, (sender_id, creditor_id)).fetchone()
        return None if row is None else str(row[0])

    def _save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        now = datetime.datetime.now(datetime.UTC).isoformat()
        self._connect().execute(_UPSERT, (sender_id, creditor_id, cursor, now))

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
