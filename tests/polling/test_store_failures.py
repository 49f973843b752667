"""Store failures surface as CheckpointError that names the store and says what to do: damaged
files, a full disk, a failing fsync, a read-only database. Nothing starts over silently."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from amili_async import CheckpointError, FileCheckpointStore, SQLiteCheckpointStore


def fail_with(code: int) -> object:
    def fail(*args: object) -> None:
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize(
    ("function", "code", "advice"),
    [
        ("write", errno.ENOSPC, "disk is full"),
        ("fsync", errno.ENOSPC, "disk is full"),
        ("fsync", errno.EIO, "I/O error"),
    ],
)
async def test_file_store_disk_failure_mid_run_is_a_checkpoint_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, function: str, code: int, advice: str
) -> None:
    path = tmp_path / "cp.json"
    async with FileCheckpointStore(path) as store:
        await store.save("", "A", "1")
        monkeypatch.setattr(os, function, fail_with(code))
        with pytest.raises(CheckpointError, match=rf"cp\.json.*not saved.*{advice}"):
            await store.save("", "A", "2")
        monkeypatch.undo()
        assert await store.load("", "A") == "1"
        await store.save("", "B", "1")  # space is back: the failed cursor is not written with it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json", "cp.json.lock"]
    async with FileCheckpointStore(path) as reopened:
        assert await reopened.load("", "A") == "1"
        assert await reopened.load("", "B") == "1"


async def test_file_store_cannot_read_its_file(tmp_path: Path) -> None:
    (tmp_path / "cp.json").mkdir()  # EISDIR: an OSError that no permission bit can undo as root
    async with FileCheckpointStore(tmp_path / "cp.json") as store:
        with pytest.raises(CheckpointError, match=r"cp\.json.*could not read"):
            await store.load("", "A")


async def test_file_store_in_a_missing_directory(tmp_path: Path) -> None:
    async with FileCheckpointStore(tmp_path / "gone" / "cp.json") as store:
        with pytest.raises(CheckpointError, match=r"cp\.json\.lock"):
            await store.save("", "A", "1")


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
async def test_file_store_keeps_the_file_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "cp.json"
    path.write_text('{"version": 1, "cursors": {}}')
    path.chmod(mode)
    async with FileCheckpointStore(path) as store:
        await store.save("", "A", "1")
    assert stat.S_IMODE(path.stat().st_mode) == mode


async def test_a_new_checkpoint_file_is_0644_less_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        async with FileCheckpointStore(tmp_path / "cp.json") as store:
            await store.save("", "A", "1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "cp.json").stat().st_mode) == 0o640


async def sqlite_file_with_cursor(path: Path) -> None:
    async with SQLiteCheckpointStore(path) as store:
        await store.save("", "A", "1")


async def test_sqlite_store_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "cp.db"
    path.write_bytes(b"certainly not SQLite" * 300)
    async with SQLiteCheckpointStore(path) as store:
        with pytest.raises(CheckpointError, match=r"cp\.db.*not a database.*not start over"):
            await store.load("", "A")
    assert path.read_bytes() == b"certainly not SQLite" * 300  # left as it was


async def test_sqlite_store_refuses_a_damaged_database(tmp_path: Path) -> None:
    path = tmp_path / "cp.db"
    async with SQLiteCheckpointStore(path) as store:
        await store.save("", "A", "1")
        await store.save("", "B", "1")
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.close()
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size : 2 * page_size] = b"\xa5" * page_size  # scribble over the second page
    path.write_bytes(bytes(data))
    async with SQLiteCheckpointStore(path) as store:
        with pytest.raises(CheckpointError, match=r"cp\.db.*(malformed|integrity|damaged)"):
            await store.load("", "A")


async def test_sqlite_store_refuses_a_truncated_database(tmp_path: Path) -> None:
    path = tmp_path / "cp.db"
    async with SQLiteCheckpointStore(path) as store:
        for n in range(200):
            await store.save("", f"creditor-{n}", "cursor" * 20)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    async with SQLiteCheckpointStore(path) as store:
        with pytest.raises(CheckpointError, match=r"cp\.db"):
            await store.load("", "creditor-1")


async def test_sqlite_store_that_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "cp.db"
    await sqlite_file_with_cursor(path)
    async with SQLiteCheckpointStore(path) as store:
        assert await store.load("", "A") == "1"
        # What a read-only file looks like to SQLite (chmod does not stop root, who runs CI here).
        await store._worker.run(lambda: store._connect().execute("PRAGMA query_only = ON"))
        with pytest.raises(CheckpointError, match=r"cp\.db.*read-only.*directory"):
            await store.save("", "A", "2")
        with pytest.raises(CheckpointError, match="read-only"):
            await store.claim("", ["A"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
async def test_sqlite_store_in_a_read_only_directory(tmp_path: Path) -> None:  # pragma: no cover
    path = tmp_path / "cp.db"
    await sqlite_file_with_cursor(path)
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        async with SQLiteCheckpointStore(path) as store:
            with pytest.raises(CheckpointError, match=r"cp\.db"):
                await store.save("", "A", "2")
    finally:
        tmp_path.chmod(0o755)


async def test_sqlite_store_in_a_missing_directory(tmp_path: Path) -> None:
    async with SQLiteCheckpointStore(tmp_path / "gone" / "cp.db") as store:
        with pytest.raises(CheckpointError, match=r"cp\.db.*cannot be opened.*directory"):
            await store.load("", "A")


async def test_sqlite_store_with_a_full_disk(tmp_path: Path) -> None:
    path = tmp_path / "cp.db"
    async with SQLiteCheckpointStore(path) as store:
        await store.save("", "A", "1")

        def cap_at_current_size() -> None:
            # SQLite writes through its own C code: a database capped at its size is a full disk.
            connection = store._connect()
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            connection.execute(f"PRAGMA max_page_count = {pages}")

        async def fill() -> None:
            for n in range(500):
                await store.save("", f"creditor-{n}", "x" * 500)

        await store._worker.run(cap_at_current_size)
        with pytest.raises(CheckpointError, match=r"cp\.db.*disk is full"):
            await fill()
        assert await store.load("", "A") == "1"


async def test_sqlite_claims_directory_failure(tmp_path: Path) -> None:
    (tmp_path / "cp.db.holders").write_text("a file where the directory should be")
    async with SQLiteCheckpointStore(tmp_path / "cp.db") as store:
        with pytest.raises(CheckpointError, match=r"cp\.db.*claims"):
            await store.claim("", ["A"])
