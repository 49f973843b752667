"""pytest fixtures over amili_async/_pgserver.py: ``postgres`` (one throwaway server per
session) and ``pg_dsn`` (a new empty database per test). Registered as a plugin by tests/conftest.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from amili_async._pgserver import PostgresNotFound, PostgresServer, find_bin_dir, throwaway_postgres


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway server for the whole session. Skipped only on a machine without PostgreSQL
    outside CI; in CI (``CI=true``) a missing server fails loudly."""
    try:
        find_bin_dir()
    except PostgresNotFound as exc:
        if _in_ci():
            pytest.fail(f"{exc}; CI must run the PostgreSQL tests (.ci/run installs it)")
        pytest.skip(str(exc))
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
async def pg_dsn(postgres: PostgresServer) -> AsyncIterator[str]:
    """The DSN of a new, empty database on the session's server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres.dsn())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield postgres.dsn(name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
