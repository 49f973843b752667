"""The store guards between real processes: a second writer of a checkpoint file is refused, two
pollers of one creditor on one SQLite file are refused while disjoint ones share it, and a holder
killed by SIGKILL holds nothing."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import amili_async
from amili_async import CheckpointError, FileCheckpointStore, SQLiteCheckpointStore

STARTUP_SECONDS = 30.0  # generous: two shared cores, a cold interpreter
REPO_ROOT = str(Path(amili_async.__file__).resolve().parent.parent)

# A stand-in for a poller's process: claim, save, say so, then hold until stdin closes.
HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from amili_async import CheckpointError, FileCheckpointStore, SQLiteCheckpointStore

    async def main() -> None:
        kind, path, *creditors = sys.argv[1:]
        store = {"file": FileCheckpointStore, "sqlite": SQLiteCheckpointStore}[kind](path)
        try:
            await store.claim("", creditors)
            await store.save("", creditors[0], "saved-by-child")
        except CheckpointError as exc:
            print("refused", exc, flush=True)
            return
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        await store.close()

    asyncio.run(main())
    """
)

Spawn = Callable[..., "tuple[subprocess.Popen[str], str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Starts holder processes and returns each with its first line; kills them all afterwards."""
    children: list[subprocess.Popen[str]] = []

    def start(kind: str, path: Path, *creditors: str) -> tuple[subprocess.Popen[str], str]:
        env = {**os.environ, "PYTHONPATH": REPO_ROOT}
        child = subprocess.Popen(
            [sys.executable, "-c", HOLDER, kind, str(path), *creditors],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        children.append(child)
        assert child.stdout is not None
        readable, _, _ = select.select([child.stdout], [], [], STARTUP_SECONDS)
        assert readable, "the holder process did not report in time"
        return child, child.stdout.readline().strip()

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=STARTUP_SECONDS)
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()


def sigkill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=STARTUP_SECONDS) == -signal.SIGKILL


def stop(child: subprocess.Popen[str]) -> None:
    """Close its stdin: it closes its store and exits."""
    assert child.stdin is not None
    child.stdin.close()
    assert child.wait(timeout=STARTUP_SECONDS) == 0


async def test_a_second_process_cannot_write_a_held_checkpoint_file(
    tmp_path: Path, spawn: Spawn
) -> None:
    path = tmp_path / "cp.json"
    holder, said = spawn("file", path, "A")
    assert said == "ready"
    _, refused = spawn("file", path, "B")  # another creditor: still refused, one writer per file
    assert refused.startswith("refused")
    assert f"pid {holder.pid} on host" in refused
    assert str(path) in refused
    async with FileCheckpointStore(path) as store:
        with pytest.raises(CheckpointError, match=f"pid {holder.pid} on host"):
            await store.load("", "A")
    stop(holder)
    async with FileCheckpointStore(path) as store:
        assert await store.load("", "A") == "saved-by-child"


async def test_sqlite_refuses_a_held_creditor_and_shares_disjoint_ones(
    tmp_path: Path, spawn: Spawn
) -> None:
    path = tmp_path / "cp.db"
    holder, said = spawn("sqlite", path, "A", "B")
    assert said == "ready"
    _, refused = spawn("sqlite", path, "C", "B")
    assert refused.startswith("refused")
    assert f"pid {holder.pid} on host" in refused
    assert "'B'" in refused
    neighbour, said = spawn("sqlite", path, "C", "D")
    assert said == "ready"
    async with SQLiteCheckpointStore(path) as store:
        with pytest.raises(CheckpointError, match=f"'D'.*pid {neighbour.pid} on host"):
            await store.claim("", ["D"])
        assert await store.load("", "A") == "saved-by-child"
        assert await store.load("", "C") == "saved-by-child"
    stop(holder)
    stop(neighbour)
    _, said = spawn("sqlite", path, "B", "D")  # released on close: free again
    assert said == "ready"


@pytest.mark.parametrize(("kind", "name"), [("sqlite", "cp.db"), ("file", "cp.json")])
async def test_a_sigkilled_holder_holds_nothing(
    tmp_path: Path, spawn: Spawn, kind: str, name: str
) -> None:
    path = tmp_path / name
    holder, said = spawn(kind, path, "A", "B")
    assert said == "ready"
    _, refused = spawn(kind, path, "A")
    assert refused.startswith("refused")
    sigkill(holder)
    successor, said = spawn(kind, path, "B", "A")
    assert said == "ready"
    store = {"file": FileCheckpointStore, "sqlite": SQLiteCheckpointStore}[kind](path)
    with pytest.raises(CheckpointError, match=f"pid {successor.pid} on host"):
        await store.claim("", ["A"])  # the claim moved to the new live process
    await store.close()
    stop(successor)
