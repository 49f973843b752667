"""Checkpoint stores: where a poller keeps each creditor's settlement cursor.

A cursor is saved only after the consumer has finished with the settlement it points past, so a
store that loses its last write re-delivers (harmless with an idempotent booking) and a store that
invents or tears a value loses money. Every store here therefore either keeps the old value or the
new one, never a mix.

The poller guarantees cursors only move forward, so a store simply overwrites. Every failure a
store meets (a damaged file, a full disk, a read-only database) is raised as a
[`CheckpointError`][amili_async.CheckpointError] that names the store and what to do; sender and
creditor ids must be ``str`` ([`ConfigurationError`][amili_async.ConfigurationError] otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import glob
import json
import os
import secrets
import socket
import sqlite3
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from .._blocking import BlockingWorker, fsync_directory
from .._lifecycle import AsyncClosing
from ..errors import CheckpointError, ConfigurationError

if sys.platform != "win32":
    import fcntl

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

    The poller calls [`claim`][amili_async.ClaimingStore.claim] before it fetches anything and
    [`release`][amili_async.ClaimingStore.release] when it closes.
    """

    async def claim(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        """Reserve ``creditor_ids`` for this store object's poller.

        Claiming again what this store object already holds is harmless (a poller restarted on
        the same store object); saves do not check claims, so call this before the first load.

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

    The poller calls [`sync_leases`][amili_async.LeasingStore.sync_leases] about every
    ``lease_ttl / 3`` seconds, polls only the creditors it returns, and saves with
    [`save_leased`][amili_async.LeasingStore.save_leased] under the epoch the settlement was fetched
    with.
    """

    lease_ttl: float
    """Seconds a lease lasts without renewal; the poller renews about every third of it."""

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


def _check_key(sender_id: object, creditor_id: object) -> None:
    """Ids are text: an int would be saved as ``"1"`` and never found again under ``1``."""
    if not isinstance(sender_id, str):
        raise ConfigurationError(f"sender_id must be a str, got {type(sender_id).__name__}")
    if not isinstance(creditor_id, str):
        raise ConfigurationError(
            f"a creditor id must be a str, got {type(creditor_id).__name__} {creditor_id!r}"
        )


def _check_keys(sender_id: object, creditor_ids: Sequence[str]) -> None:
    if isinstance(creditor_ids, str):
        raise ConfigurationError("creditor_ids must be a list of ids, not one str")
    for creditor_id in creditor_ids:
        _check_key(sender_id, creditor_id)


class MemoryCheckpointStore(AsyncClosing):
    """Cursors in a dict: for tests and for runs that may start over.

    It keeps nothing across processes, so it needs no guard against a second poller.
    """

    def __init__(self) -> None:
        self._cursors: dict[tuple[str, str], str] = {}

    async def load(self, sender_id: str, creditor_id: str) -> str | None:
        """The saved cursor of ``creditor_id``, or ``None``."""
        _check_key(sender_id, creditor_id)
        return self._cursors.get((sender_id, creditor_id))

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        """Keep the cursor in memory (lost when the process ends)."""
        _check_key(sender_id, creditor_id)
        self._cursors[sender_id, creditor_id] = cursor

    async def close(self) -> None:
        """Nothing to release; the cursors stay readable."""

    def snapshot(self) -> dict[tuple[str, str], str]:
        """A copy of every saved cursor, by ``(sender_id, creditor_id)``."""
        return dict(self._cursors)

    def __repr__(self) -> str:
        return f"MemoryCheckpointStore({len(self._cursors)} cursors)"


# Who holds a store: written into its lock file so that a refused process can name the holder.


def _new_holder() -> tuple[str, str]:
    """A fresh store-instance id and the description other processes are shown."""
    holder_id = secrets.token_hex(6)
    return holder_id, f"pid {os.getpid()} on host {socket.gethostname()} (store {holder_id})"


def _try_flock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False if another open file holds it.

    ``flock`` belongs to the open file, not the process: a second store object in the same process
    is refused too, and the kernel drops the lock of a process that dies, however it dies.
    """
    if sys.platform == "win32":  # pragma: no cover - no flock: the guard is POSIX-only
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_holder(fd: int, holder: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder.encode(), 0)


def _read_holder(fd: int) -> str:
    text = os.pread(fd, 1024, 0).decode(errors="replace").strip()
    return text or "a holder that has not written its name yet"


_ADVICE_BY_ERRNO = {
    errno.ENOSPC: "the disk is full: free space, then restart the poller",
    errno.EDQUOT: "the disk quota is exhausted: free space, then restart the poller",
    errno.EROFS: "the file system is read-only: the store needs write access",
    errno.EACCES: "permission denied: the store needs to read and write the file and its directory",
    errno.EPERM: "permission denied: the store needs to read and write the file and its directory",
    errno.EIO: "the disk reported an I/O error: check it before restarting",
}


def _disk_failure(store: object, action: str, exc: OSError) -> CheckpointError:
    advice = _ADVICE_BY_ERRNO.get(exc.errno or 0, "check the file, its directory and the disk")
    return CheckpointError(f"{store!r} could not {action}: {exc} ({advice})")


class FileCheckpointStore(AsyncClosing):
    """Cursors in one JSON file, replaced atomically on every save.

    Each save writes the whole map to a temporary file in the same directory, fsyncs it, renames it
    over the old file (keeping its permission mode) and fsyncs the directory: after a crash at any
    point the file holds either the previous or the new map, and the next store to open it removes
    the temporary files the crash left.

    One writer only: on first use (load, save or claim) the store takes an exclusive lock on
    ``<path>.lock``, held until [`close`][amili_async.FileCheckpointStore.close], and records
    there who holds it. A second store object on the same path, in this process or another, gets
    a [`CheckpointError`][amili_async.CheckpointError] naming that holder. A holder that dies
    (even by SIGKILL) holds nothing: the kernel drops its lock. Use
    [`SQLiteCheckpointStore`][amili_async.SQLiteCheckpointStore] for several processes.

    Args:
        path: The JSON file. Missing means empty; a file that is not a checkpoint map raises
            [`CheckpointError`][amili_async.CheckpointError] instead of silently starting over.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._cursors: dict[str, dict[str, str]] | None = None
        self._lock_fd: int | None = None
        self._lock = asyncio.Lock()
        self._opening = asyncio.Lock()
        self._worker = BlockingWorker("amili-checkpoint-file")

    def __repr__(self) -> str:
        return f"FileCheckpointStore({str(self.path)!r})"

    async def load(self, sender_id: str, creditor_id: str) -> str | None:
        """The saved cursor of ``creditor_id``, or ``None``."""
        _check_key(sender_id, creditor_id)
        cursors = await self._opened()
        return cursors.get(sender_id, {}).get(creditor_id)

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        """Save the cursor; returns once the new file is renamed into place and synced."""
        _check_key(sender_id, creditor_id)
        async with self._lock:
            cursors = await self._opened()
            creditors = cursors.setdefault(sender_id, {})
            previous = creditors.get(creditor_id)
            creditors[creditor_id] = cursor
            document = json.dumps({"version": 1, "cursors": cursors}, sort_keys=True).encode()
            try:
                # Shielded: a cancelled save still finishes writing a whole file, never half of one.
                await asyncio.shield(self._worker.run(self._write, document))
            except CheckpointError:
                _restore(creditors, creditor_id, previous)  # memory matches the file again
                raise

    async def claim(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        """Check the ids and take the file (the store holds every creditor in it while open).

        Raises:
            CheckpointError: Another store object holds the file; the message names it.
        """
        _check_keys(sender_id, creditor_ids)
        await self._opened()

    async def release(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        """Nothing to give up before [`close`][amili_async.FileCheckpointStore.close]: the
        file has one writer."""
        _check_keys(sender_id, creditor_ids)

    async def close(self) -> None:
        """Release the file's lock; the store opens (and locks) it again if used afterwards."""
        async with self._lock:
            if self._lock_fd is not None:
                await self._worker.run(self._unlock)
            self._cursors = None
            self._worker.shutdown()

    async def _opened(self) -> dict[str, dict[str, str]]:
        async with self._opening:  # one open, however many first calls come at once
            if self._cursors is None:
                self._cursors = await self._worker.run(self._open)
            return self._cursors

    # The methods below run on the store's own thread only.

    def _open(self) -> dict[str, dict[str, str]]:
        if self._lock_fd is None:
            self._take_lock()
        try:
            _remove_stale_temporaries(self.path)
            return _read_checkpoint_file(self.path)
        except OSError as exc:
            raise _disk_failure(self, "read its checkpoint file", exc) from exc

    def _take_lock(self) -> None:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _disk_failure(self, f"create its lock file {self.lock_path}", exc) from exc
        try:
            if not _try_flock(fd):
                raise CheckpointError(
                    f"{self!r} is in use by another store object: {_read_holder(fd)} holds "
                    f"{self.lock_path}. A checkpoint file takes one writer: stop that poller "
                    "first, or use SQLiteCheckpointStore to run several processes on different "
                    "creditors"
                )
            _write_holder(fd, _new_holder()[1])
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd

    def _write(self, document: bytes) -> None:
        try:
            _replace_atomically(self.path, document)
        except OSError as exc:
            raise _disk_failure(self, "save (the cursor was not saved)", exc) from exc

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # the file stays (deleting a lock file races); its name goes
            os.close(fd)


def _restore(mapping: dict[str, str], key: str, previous: str | None) -> None:
    if previous is None:
        mapping.pop(key, None)
    else:
        mapping[key] = previous


def _temporary_name(path: Path) -> str:
    return f".{path.name}.{secrets.token_hex(6)}.tmp"


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of a save that crashed (only their writer used them, and it is gone)."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


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
        return {_text(s): {_text(c): _text(v) for c, v in m.items()} for s, m in cursors.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            f"checkpoint file {path} is not a valid checkpoint map ({exc}); refusing to start "
            "over from scratch: restore it from a backup, or move it aside deliberately"
        ) from exc


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _replace_atomically(path: Path, data: bytes) -> None:
    directory = path.parent
    temporary = directory / _temporary_name(path)
    # 0o644 less the umask for a new file, as any file the user creates; an existing file's own
    # mode otherwise (a temporary file is created private, and the rename would keep that).
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            with contextlib.suppress(FileNotFoundError):
                os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(directory)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS amili_checkpoints (
    sender_id   TEXT NOT NULL,
    creditor_id TEXT NOT NULL,
    cursor      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (sender_id, creditor_id)
);
CREATE TABLE IF NOT EXISTS amili_claims (
    sender_id   TEXT NOT NULL,
    creditor_id TEXT NOT NULL,
    holder_id   TEXT NOT NULL,
    holder      TEXT NOT NULL,
    claimed_at  TEXT NOT NULL,
    PRIMARY KEY (sender_id, creditor_id)
);
"""
_UPSERT = """
INSERT INTO amili_checkpoints (sender_id, creditor_id, cursor, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (sender_id, creditor_id) DO UPDATE SET cursor = excluded.cursor,
    updated_at = excluded.updated_at
"""
_SELECT = "SELECT cursor FROM amili_checkpoints WHERE sender_id = ? AND creditor_id = ?"
_OTHERS_CLAIMS = """
SELECT creditor_id, holder_id, holder, claimed_at FROM amili_claims
WHERE sender_id = ? AND holder_id != ?
"""
_CLAIM = """
INSERT INTO amili_claims (sender_id, creditor_id, holder_id, holder, claimed_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (sender_id, creditor_id) DO UPDATE SET holder_id = excluded.holder_id,
    holder = excluded.holder, claimed_at = excluded.claimed_at
"""
_RELEASE = "DELETE FROM amili_claims WHERE sender_id = ? AND creditor_id = ? AND holder_id = ?"
_RELEASE_HOLDER = "DELETE FROM amili_claims WHERE holder_id = ?"

_SQLITE_ADVICE = {
    "SQLITE_READONLY": "the database is read-only: the store must write the file, and its "
    "directory for the -wal and -shm files",
    "SQLITE_CANTOPEN": "the file cannot be opened or created: its directory must exist and be "
    "writable (SQLite keeps -wal and -shm files next to it)",
    "SQLITE_FULL": "the disk is full: free space, then restart the poller",
    "SQLITE_NOTADB": "the file is not a SQLite database: point the store at its own file; it "
    "will not start over on its own",
    "SQLITE_CORRUPT": "the database is damaged: restore it from a backup, or move it aside "
    "deliberately; the store will not start over on its own",
    "SQLITE_BUSY": "another process held the write lock longer than busy_timeout",
    "SQLITE_IOERR": "the disk reported an I/O error: check it before restarting",
    "SQLITE_PERM": "permission denied: the store must read and write the file",
}


def _sqlite_failure(store: object, exc: sqlite3.Error | OSError) -> CheckpointError:
    if isinstance(exc, OSError):
        return _disk_failure(store, "use its claims directory", exc)
    code = getattr(exc, "sqlite_errorname", None) or ""
    advice = next(
        (text for name, text in _SQLITE_ADVICE.items() if code.startswith(name)),
        "check the file and the disk",
    )
    return CheckpointError(f"{store!r} failed: {exc} ({advice})")


class SQLiteCheckpointStore(AsyncClosing):
    """Cursors in a SQLite table, one small UPSERT and commit per save.

    One connection, used by one dedicated thread, opened on first use (with a quick integrity
    check: a damaged file raises [`CheckpointError`][amili_async.CheckpointError] instead of
    starting over). WAL journal with ``synchronous=NORMAL``: a committed save survives the
    application crashing; a power loss may lose the last commits, which only re-delivers
    settlements.

    Several processes on one machine may share the file, each polling different creditors: the
    poller [claims][amili_async.SQLiteCheckpointStore.claim] its creditors when it starts, and a
    second poller claiming a creditor held by a live one is refused. A claim belongs to this store
    object and lasts until [`release`][amili_async.SQLiteCheckpointStore.release] or
    [`close`][amili_async.SQLiteCheckpointStore.close]; a process that dies (even by SIGKILL)
    holds nothing, because each store object proves it is alive with a lock on its own file in
    ``<path>.holders/``, which the kernel drops with the process.

    Args:
        path: The database file (created if missing).
        busy_timeout: Seconds to wait for another process's write lock.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.holders_path = self.path.with_name(self.path.name + ".holders")
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._connection: sqlite3.Connection | None = None
        self._holder_id, self._holder = _new_holder()
        self._holder_fd: int | None = None
        self._worker = BlockingWorker("amili-checkpoint-sqlite")

    def __repr__(self) -> str:
        return f"SQLiteCheckpointStore({str(self.path)!r})"

    async def load(self, sender_id: str, creditor_id: str) -> str | None:
        """The saved cursor of ``creditor_id``, or ``None``."""
        _check_key(sender_id, creditor_id)
        return await self._run(self._load, sender_id, creditor_id)

    async def save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        """Save the cursor; returns once it is committed."""
        _check_key(sender_id, creditor_id)
        await asyncio.shield(self._run(self._save, sender_id, creditor_id, cursor))

    async def claim(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        """Reserve ``creditor_ids`` for this store object, in one transaction: all or none.

        Claiming again what this object holds is harmless. A claim left by a process that died
        is taken over.

        Raises:
            CheckpointError: A live store object (this process or another) holds one of them;
                the message names it (pid, host, store id).
        """
        _check_keys(sender_id, creditor_ids)
        await self._run(self._claim, sender_id, list(creditor_ids))

    async def release(self, sender_id: str, creditor_ids: Sequence[str]) -> None:
        """Give up this object's claims on ``creditor_ids``."""
        _check_keys(sender_id, creditor_ids)
        if self._holder_fd is not None:
            await self._run(self._release, sender_id, list(creditor_ids))

    async def close(self) -> None:
        """Release every claim and the connection; the store reopens if used afterwards."""
        if self._connection is not None or self._holder_fd is not None:
            await self._worker.run(self._close)
        self._worker.shutdown()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self._worker.run(fn, *args)
        except (sqlite3.Error, OSError) as exc:
            raise _sqlite_failure(self, exc) from exc

    # The methods below run on the store's own thread only.

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
                problem = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
                if problem != "ok":
                    raise CheckpointError(
                        f"{self!r} failed its integrity check: {problem} "
                        f"({_SQLITE_ADVICE['SQLITE_CORRUPT']})"
                    )
                connection.executescript(_SCHEMA)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _load(self, sender_id: str, creditor_id: str) -> str | None:
        row = self._connect().execute(_SELECT, (sender_id, creditor_id)).fetchone()
        return None if row is None else str(row[0])

    def _save(self, sender_id: str, creditor_id: str, cursor: str) -> None:
        now = datetime.datetime.now(datetime.UTC).isoformat()
        self._connect().execute(_UPSERT, (sender_id, creditor_id, cursor, now))

    def _claim(self, sender_id: str, creditor_ids: list[str]) -> None:
        connection = self._connect()
        self._prove_alive()  # before any claim row of ours exists
        wanted = set(creditor_ids)
        now = datetime.datetime.now(datetime.UTC).isoformat()
        connection.execute("BEGIN IMMEDIATE")
        try:
            others = connection.execute(_OTHERS_CLAIMS, (sender_id, self._holder_id)).fetchall()
            alive: dict[str, bool] = {}
            for creditor_id, holder_id, holder, claimed_at in others:
                if creditor_id not in wanted:
                    continue
                if holder_id not in alive:
                    alive[holder_id] = self._holder_alive(holder_id)
                if alive[holder_id]:
                    raise CheckpointError(
                        f"{self!r}: creditor {creditor_id!r} (sender {sender_id!r}) is polled by "
                        f"another live poller: {holder}, since {claimed_at}. Run one poller per "
                        "creditor: stop that one first, or give each process different creditors "
                        "(sharing creditors across machines needs a shared store such as "
                        "PostgreSQL)"
                    )
            dead = [(holder_id,) for holder_id, living in alive.items() if not living]
            connection.executemany(_RELEASE_HOLDER, dead)
            connection.executemany(
                _CLAIM,
                [(sender_id, c, self._holder_id, self._holder, now) for c in creditor_ids],
            )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # a failed COMMIT may have rolled back already
                connection.execute("ROLLBACK")
            raise

    def _release(self, sender_id: str, creditor_ids: list[str]) -> None:
        self._connect().executemany(
            _RELEASE, [(sender_id, c, self._holder_id) for c in creditor_ids]
        )

    def _prove_alive(self) -> None:
        """Hold a lock on this object's own file for as long as it may hold claims."""
        if self._holder_fd is not None:
            return
        self.holders_path.mkdir(exist_ok=True)
        fd = os.open(self._holder_file(self._holder_id), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_flock(fd):  # pragma: no cover - the id is this object's own
                raise CheckpointError(f"{self!r}: holder id {self._holder_id} is in use")
            _write_holder(fd, self._holder)
        except BaseException:
            os.close(fd)
            raise
        self._holder_fd = fd

    def _holder_alive(self, holder_id: str) -> bool:
        """A holder is alive while its lock is held; a dead one's file is removed."""
        try:
            fd = os.open(self._holder_file(holder_id), os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            if not _try_flock(fd):
                return True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._holder_file(holder_id))
            return False
        finally:
            os.close(fd)

    def _holder_file(self, holder_id: str) -> Path:
        return self.holders_path / f"{holder_id}.lock"

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            if self._holder_fd is not None:
                # Best effort: once the lock below goes, these claims are stale anyway.
                with contextlib.suppress(sqlite3.Error):
                    connection.execute(_RELEASE_HOLDER, (self._holder_id,))
            connection.close()
        fd, self._holder_fd = self._holder_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._holder_file(self._holder_id))
            os.close(fd)
