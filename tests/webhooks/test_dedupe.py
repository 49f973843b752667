"""Dedupe stores: remembered keys, their bounds, and persistence across a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from amili_async.webhooks import (
    MemoryWebhookDedupe,
    SQLiteWebhookDedupe,
    WebhookDedupe,
    WebhookDedupeError,
)

DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


Factory = Callable[[Path, Clock], WebhookDedupe]
FACTORIES: dict[str, Factory] = {
    "memory": lambda _, clock: MemoryWebhookDedupe(clock=clock),
    "sqlite": lambda tmp, clock: SQLiteWebhookDedupe(tmp / "dedupe.db", clock=clock),
}


@pytest.mark.parametrize("kind", sorted(FACTORIES))
async def test_remembers_keys_for_seven_days(kind: str, tmp_path: Path) -> None:
    clock = Clock()
    store = FACTORIES[kind](tmp_path, clock)
    assert isinstance(store, WebhookDedupe)
    try:
        assert not await store.seen("k1")
        await store.remember("k1")
        assert await store.seen("k1")
        assert not await store.seen("k2")
        clock.now += 7 * DAY - 1
        assert await store.seen("k1")
        clock.now += 2
        assert not await store.seen("k1")
    finally:
        await store.close()


async def test_sqlite_survives_restart_and_purges_expired(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "dedupe.db"
    async with SQLiteWebhookDedupe(path, clock=clock) as store:
        await store.remember("old")
        clock.now += 3 * DAY
        await store.remember("new")
    async with SQLiteWebhookDedupe(path, ttl=2 * DAY, clock=clock) as reopened:
        assert await reopened.seen("new")
        assert not await reopened.seen("old")  # older than this store's ttl
        await reopened.remember("newest")  # the first remember purges expired rows
    rows = sqlite3.connect(path).execute("SELECT key FROM amili_webhook_keys").fetchall()
    assert sorted(r[0] for r in rows) == ["new", "newest"]


async def test_memory_store_is_bounded() -> None:
    store = MemoryWebhookDedupe(max_keys=3)
    for key in "abcd":
        await store.remember(key)
    assert [await store.seen(k) for k in "abcd"] == [False, True, True, True]
    assert "3 keys" in repr(store)


async def test_sqlite_failure_is_our_error(tmp_path: Path) -> None:
    store = SQLiteWebhookDedupe(tmp_path / "missing-dir" / "dedupe.db")
    with pytest.raises(WebhookDedupeError) as caught:
        await store.seen("k")
    assert "dedupe.db" in str(caught.value)
    await store.close()
