"""Checkpoint stores: round trips, isolation, persistence, and safety against interrupted writes."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from amili_async import (
    CheckpointError,
    CheckpointStore,
    FileCheckpointStore,
    MemoryCheckpointStore,
    SQLiteCheckpointStore,
)

Factory = Callable[[Path], CheckpointStore]
FACTORIES: dict[str, Factory] = {
    "memory": lambda _: MemoryCheckpointStore(),
    "file": lambda tmp: FileCheckpointStore(tmp / "cp.json"),
    "sqlite": lambda tmp: SQLiteCheckpointStore(tmp / "cp.db"),
}
DURABLE = ["file", "sqlite"]


@pytest.fixture(params=sorted(FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CheckpointStore]:
    made = FACTORIES[request.param](tmp_path)
    yield made
    await made.close()


async def test_round_trip_and_key_isolation(store: CheckpointStore) -> None:
    assert isinstance(store, CheckpointStore)
    assert await store.load("", "923609016") is None
    await store.save("", "923609016", "cursor-1")
    await store.save("S2", "923609016", "cursor-2")
    await store.save("", "976317068", "cursor-3")
    assert await store.load("", "923609016") == "cursor-1"
    assert await store.load("S2", "923609016") == "cursor-2"
    assert await store.load("", "976317068") == "cursor-3"
    await store.save("", "923609016", "cursor-4")
    assert await store.load("", "923609016") == "cursor-4"


async def test_concurrent_saves_end_with_the_last_value_per_key(store: CheckpointStore) -> None:
    await asyncio.gather(*(store.save("", f"c{n % 10}", f"v{n}") for n in range(200)))
    for key in range(10):
        assert await store.load("", f"c{key}") == f"v{190 + key}"


async def test_close_is_idempotent(store: CheckpointStore) -> None:
    await store.save("", "c", "v")
    await store.close()
    await store.close()


@pytest.mark.parametrize("kind", DURABLE)
async def test_cursors_survive_a_new_instance(kind: str, tmp_path: Path) -> None:
    async with FACTORIES[kind](tmp_path) as first:  # type: ignore[attr-defined]
        await first.save("S", "c", "v1")
    async with FACTORIES[kind](tmp_path) as second:  # type: ignore[attr-defined]
        assert await second.load("S", "c") == "v1"


@pytest.mark.parametrize("kind", DURABLE)
async def test_a_cancelled_save_leaves_a_valid_store(kind: str, tmp_path: Path) -> None:
    store = FACTORIES[kind](tmp_path)
    await store.save("", "c", "old")
    task = asyncio.create_task(store.save("", "c", "new"))
    await asyncio.sleep(0)  # the write has been handed to the store's thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()
    reopened = FACTORIES[kind](tmp_path)
    assert await reopened.load("", "c") in ("old", "new")
    await reopened.close()


async def test_file_store_survives_an_interrupted_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cp.json"
    store = FileCheckpointStore(path)
    await store.save("", "c", "good")

    def crash(*args: object) -> None:
        raise OSError("power lost during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(CheckpointError, match=r"cp\.json.*power lost"):
        await store.save("", "c", "never-written")
    monkeypatch.undo()
    assert await store.load("", "c") == "good"  # memory agrees with the file again
    await store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json", "cp.json.lock"]  # no temp
    reopened = FileCheckpointStore(path)
    assert await reopened.load("", "c") == "good"
    await reopened.close()


async def test_file_store_ignores_and_removes_a_stray_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    async with FileCheckpointStore(path) as store:
        await store.save("", "c", "good")
    (tmp_path / ".cp.json.abc123.tmp").write_text('{"version": 1, "cursors": {"": {"c": "to')
    (tmp_path / ".other.json.abc123.tmp").write_text("another store's")
    async with FileCheckpointStore(path) as store:
        assert await store.load("", "c") == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".other.json.abc123.tmp",
        "cp.json",
        "cp.json.lock",
    ]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"version": 2, "cursors": {}}',
        b'{"cursors": 5, "version": 1}',
        b'{"version": 1, "cursors": {"": {"c": 5}}}',
        b'{"version": 1, "cursors": {"": {"c": "v"}}',  # truncated
        b'{"version": 1, "cursors": {"": {"c": "\xff"}}}',  # not UTF-8
        b"",
    ],
)
async def test_file_store_refuses_a_corrupt_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "cp.json"
    path.write_bytes(content)
    async with FileCheckpointStore(path) as store:
        with pytest.raises(CheckpointError, match=r"cp\.json"):
            await store.load("", "c")


async def test_file_store_writes_the_documented_layout(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    async with FileCheckpointStore(path) as store:
        await store.save("S", "c", "v")
    assert json.loads(path.read_text()) == {"version": 1, "cursors": {"S": {"c": "v"}}}


async def test_two_sqlite_stores_share_one_file(tmp_path: Path) -> None:
    async with (
        SQLiteCheckpointStore(tmp_path / "cp.db") as one,
        SQLiteCheckpointStore(tmp_path / "cp.db") as two,
    ):
        await one.save("", "a", "1")
        await two.save("", "b", "2")
        assert await two.load("", "a") == "1"
        assert await one.load("", "b") == "2"


def test_reprs_hold_only_the_path(tmp_path: Path) -> None:
    assert repr(FileCheckpointStore(tmp_path / "x.json")).endswith("x.json')")
    assert "x.db" in repr(SQLiteCheckpointStore(tmp_path / "x.db"))
    assert MemoryCheckpointStore().snapshot() == {}
