"""The one-poller-per-creditor guard end to end: real pollers, real stores, the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from amili_async import (
    AmiliClient,
    CheckpointError,
    FileCheckpointStore,
    SQLiteCheckpointStore,
)
from amili_async.sandbox import SandboxServer


@pytest.mark.amili_sandbox(creditors=3, seed=5, page_size=10)
async def test_a_second_poller_on_held_sqlite_creditors_is_refused_before_it_delivers(
    amili_sandbox: SandboxServer, tmp_path: Path
) -> None:
    ids = amili_sandbox.creditor_ids
    first_store = SQLiteCheckpointStore(tmp_path / "cp.db")
    second_store = SQLiteCheckpointStore(tmp_path / "cp.db")
    async with (
        AmiliClient(base_url=amili_sandbox.url, token=amili_sandbox.token) as client,
        first_store,
        second_store,
        client.settlement_poller(ids[:2], store=first_store, interval=0.05) as first,
    ):
        event = await anext(first)
        assert event.creditor_id in ids[:2]
        second = client.settlement_poller(ids[1:], store=second_store, interval=0.05)
        with pytest.raises(CheckpointError, match=r"cp\.db") as refused:
            async with second:
                pytest.fail("the second poller started")  # pragma: no cover
        assert "pid" in str(refused.value)  # names the holder
        # It fetched nothing: ids[2] is polled by no one else.
        assert not [r for r in amili_sandbox.requests if r.query.get("creditorid") == ids[2]]
        # Disjoint creditors on the same file are fine.
        async with client.settlement_poller([ids[2]], store=second_store, interval=0.05) as third:
            assert (await anext(third)).creditor_id == ids[2]


@pytest.mark.amili_sandbox(creditors=1, seed=5, page_size=10)
async def test_a_second_poller_on_one_checkpoint_file_is_refused_at_its_first_step(
    amili_sandbox: SandboxServer, tmp_path: Path
) -> None:
    path = tmp_path / "cp.json"
    async with (
        AmiliClient(base_url=amili_sandbox.url, token=amili_sandbox.token) as client,
        FileCheckpointStore(path) as first_store,
        FileCheckpointStore(path) as second_store,
        client.settlement_poller(amili_sandbox.creditor_ids, store=first_store) as first,
    ):
        await anext(first)
        second = client.settlement_poller(amili_sandbox.creditor_ids, store=second_store)
        try:
            with pytest.raises(CheckpointError, match=r"cp\.json"):
                await anext(second)  # without `async with`: the first step refuses
        finally:
            await second.aclose()
