"""One writer per checkpoint file, one poller per creditor on SQLite (within one process), and ids
that must be text."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from amili_async import (
    CheckpointError,
    CheckpointStore,
    ConfigurationError,
    FileCheckpointStore,
    MemoryCheckpointStore,
    SQLiteCheckpointStore,
)
from amili_async.polling.stores import ClaimingStore

HOLDER = rf"pid {os.getpid()} on host {socket.gethostname()} \(store [0-9a-f]{{12}}\)"


def test_file_and_sqlite_stores_are_claiming_stores(tmp_path: Path) -> None:
    assert isinstance(FileCheckpointStore(tmp_path / "cp.json"), ClaimingStore)
    assert isinstance(SQLiteCheckpointStore(tmp_path / "cp.db"), ClaimingStore)


@pytest.mark.parametrize("first_use", ["load", "save", "claim"])
async def test_a_second_file_store_on_the_same_path_is_refused(
    tmp_path: Path, first_use: str
) -> None:
    path = tmp_path / "cp.json"
    async with FileCheckpointStore(path) as first:
        uses: dict[str, Callable[[], Any]] = {
            "load": lambda: first.load("", "A"),
            "save": lambda: first.save("", "A", "1"),
            "claim": lambda: first.claim("", ["A"]),
        }
        await uses[first_use]()
        async with FileCheckpointStore(path) as second:
            with pytest.raises(CheckpointError, match=rf"cp\.json.*{HOLDER}") as caught:
                await second.claim("", ["B"])  # other creditors too: one writer per file
            assert "cp.json.lock" in str(caught.value)
            with pytest.raises(CheckpointError):
                await second.save("", "B", "2")
        assert await first.load("", "B") is None


async def test_a_closed_file_store_lets_the_next_one_in(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    first = FileCheckpointStore(path)
    await first.save("", "A", "1")
    await first.close()
    async with FileCheckpointStore(path) as second:
        await second.claim("", ["A"])
        assert await second.load("", "A") == "1"
        await second.release("", ["A"])
        with pytest.raises(CheckpointError):  # the file stays held until close
            await first.load("", "A")


async def test_sqlite_refuses_a_creditor_held_by_another_store_object(tmp_path: Path) -> None:
    async with (
        SQLiteCheckpointStore(tmp_path / "cp.db") as one,
        SQLiteCheckpointStore(tmp_path / "cp.db") as two,
    ):
        await one.claim("", ["A", "B"])
        with pytest.raises(CheckpointError, match=rf"cp\.db.*'B'.*{HOLDER}"):
            await two.claim("", ["C", "B"])
        await two.claim("", ["C", "D"])  # disjoint creditors share the file
        await two.claim("S2", ["A"])  # another sender's "A" is another creditor
        await one.claim("", ["A", "B"])  # claiming again what one holds is harmless
        with pytest.raises(CheckpointError, match="'D'"):
            await one.claim("", ["D"])
        # the refused claim took nothing: "C" is still two's alone
        with pytest.raises(CheckpointError, match="'C'"):
            await one.claim("", ["C"])


async def test_sqlite_release_and_close_give_creditors_up(tmp_path: Path) -> None:
    path = tmp_path / "cp.db"
    async with SQLiteCheckpointStore(path) as one, SQLiteCheckpointStore(path) as two:
        await one.claim("", ["A", "B"])
        await one.release("", ["A"])
        await two.claim("", ["A"])
        with pytest.raises(CheckpointError, match="'B'"):
            await two.claim("", ["B"])
        await one.close()
        await two.claim("", ["B"])
    assert list((tmp_path / "cp.db.holders").iterdir()) == []  # holders clean up after themselves


async def test_a_claim_whose_holder_is_gone_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "cp.db"
    crashed = SQLiteCheckpointStore(path)
    await crashed.claim("", ["A"])
    # What a SIGKILL leaves: the claim row, and a holder file nobody locks (see the process tests).
    os.close(crashed._holder_fd)  # type: ignore[arg-type]
    crashed._holder_fd = None
    async with SQLiteCheckpointStore(path) as successor:
        await successor.claim("", ["A"])
    await crashed.close()


async def test_saves_and_loads_do_not_need_a_claim(tmp_path: Path) -> None:
    async with SQLiteCheckpointStore(tmp_path / "cp.db") as one:
        await one.release("", ["A"])  # nothing claimed: nothing to do
        await one.save("", "A", "1")
        assert await one.load("", "A") == "1"
        assert not (tmp_path / "cp.db.holders").exists()


FACTORIES: dict[str, Callable[[Path], CheckpointStore]] = {
    "memory": lambda _: MemoryCheckpointStore(),
    "file": lambda tmp: FileCheckpointStore(tmp / "cp.json"),
    "sqlite": lambda tmp: SQLiteCheckpointStore(tmp / "cp.db"),
}


@pytest.mark.parametrize("kind", sorted(FACTORIES))
@pytest.mark.parametrize(("sender_id", "creditor_id"), [("", 923609016), (None, "A"), (b"", "A")])
async def test_ids_that_are_not_str_are_refused(
    tmp_path: Path, kind: str, sender_id: Any, creditor_id: Any
) -> None:
    store = FACTORIES[kind](tmp_path)
    with pytest.raises(ConfigurationError, match="must be a str"):
        await store.save(sender_id, creditor_id, "v")
    with pytest.raises(ConfigurationError, match="must be a str"):
        await store.load(sender_id, creditor_id)
    if isinstance(store, ClaimingStore):
        with pytest.raises(ConfigurationError, match="must be a str"):
            await store.claim(sender_id, ["B", creditor_id])
        with pytest.raises(ConfigurationError, match="must be a str"):
            await store.release(sender_id, [creditor_id])
    await store.close()


@pytest.mark.parametrize("kind", ["file", "sqlite"])
async def test_one_str_is_not_a_list_of_creditors(tmp_path: Path, kind: str) -> None:
    store = FACTORIES[kind](tmp_path)
    assert isinstance(store, ClaimingStore)
    with pytest.raises(ConfigurationError, match="not one str"):
        await store.claim("", "923609016")
    await store.close()


async def test_int_creditor_ids_no_longer_break_the_file_on_restart(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    async with FileCheckpointStore(path) as store:
        await store.save("", "923609016", "v")
        with pytest.raises(ConfigurationError):
            await store.save("", 976317068, "w")  # type: ignore[arg-type]
        await store.save("", "976317068", "w")  # the map is still writable
    async with FileCheckpointStore(path) as store:
        assert await store.load("", "923609016") == "v"
        assert await store.load("", "976317068") == "w"
