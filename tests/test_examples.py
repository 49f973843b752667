"""Every script in examples/ runs against the sandbox, as its docstring says to run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from amili_async.sandbox import SandboxServer
from tests.sandbox_thread import sandbox_in_thread
from tests.test_docs_samples import plugin_args, sandbox_env

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SEED_1 = ["842793483", "824378908", "905619004"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with sandbox_in_thread(creditors=20, seed=1, batch_delay=0.05) as server:
        yield server


def run_example(
    sandbox: SandboxServer, cwd: Path, script: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **sandbox_env(sandbox),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path]),
    }
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_every_example_is_run_here() -> None:
    tested = {name for name in globals() if name.startswith("test_")}
    for script in EXAMPLES.glob("*.py"):
        assert f"test_{script.stem.removeprefix('test_')}" in tested, script.name
        assert "python examples/" in script.read_text() or script.name.startswith("test_")


def test_fetch_one_batch(sandbox: SandboxServer, tmp_path: Path) -> None:
    lines = ok(run_example(sandbox, tmp_path, "fetch_one_batch.py", SEED_1[0]))
    assert lines[0].startswith(f"creditor {SEED_1[0]}: ")
    assert any(line.startswith("  case ") for line in lines)
    assert lines[-1].startswith("total remaining: ")


def test_fan_out(sandbox: SandboxServer, tmp_path: Path) -> None:
    lines = ok(run_example(sandbox, tmp_path, "fan_out.py", *SEED_1))
    assert sorted(line.split(":")[0] for line in lines[:-1]) == sorted(SEED_1)
    assert lines[-1] == "3 of 3 creditors fetched"


def test_poll_with_sqlite(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Ten settlements, a stop, then the rest from the same store, then nothing new: every
    settlement of the ledger exactly once."""
    ledger = [str(s["id"]) for creditor in SEED_1 for s in sandbox.ledger(creditor)]

    def poll(*args: str) -> list[str]:
        return ok(run_example(sandbox, tmp_path, "poll_with_sqlite.py", *SEED_1, *args))

    first = poll("--store", "checkpoints.db", "--max-events", "10")
    rest = poll("--store", "checkpoints.db", "--max-events", str(len(ledger) - 10))
    idle = poll("--store", "checkpoints.db", "--idle", "0.5")

    assert first[-1] == "stopped after 10 settlements; cursors saved in checkpoints.db"
    events = [json.loads(line) for line in first[:-1] + rest[:-1]]
    assert sorted(event["settlement_id"] for event in events) == sorted(ledger)
    assert idle == ["stopped after 0 settlements; cursors saved in checkpoints.db"]


def test_archive_raw_payloads(sandbox: SandboxServer, tmp_path: Path) -> None:
    lines = ok(run_example(sandbox, tmp_path, "archive_raw_payloads.py", *SEED_1))
    assert len(lines) == 3
    for creditor in SEED_1:
        (body,) = (tmp_path / "archive" / creditor).glob("*[!a].json")  # not the .meta.json
        meta = json.loads(body.with_suffix(".meta.json").read_text())
        assert meta["bytes"] == len(body.read_bytes()) > 0
        assert body.stem == meta["request_id"]


def test_collection_create_and_wait(sandbox: SandboxServer, tmp_path: Path) -> None:
    lines = ok(run_example(sandbox, tmp_path, "collection_create_and_wait.py", "--invoices", "2"))
    assert lines[0].endswith(": SUCCESS")
    assert [line.split(" ->")[0].strip() for line in lines[1:]] == [
        "invoice 70001",
        "invoice 70002",
    ]


def test_with_sandbox_fixture(tmp_path: Path) -> None:
    """The user's test file passes in pytest-asyncio's strict mode."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin_args(),
         "-o", "asyncio_mode=strict", "--rootdir", str(tmp_path),
         str(EXAMPLES / "test_with_sandbox_fixture.py")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
