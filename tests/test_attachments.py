"""Attachments: upload, get, and streamed downloads that keep memory flat and never leave a
partial file."""

from __future__ import annotations

import gc
import hashlib
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from amili_async import AmiliClient, AmiliError, NotFoundError, RetryPolicy, TransportError
from amili_async.sandbox import SandboxServer
from amili_async.sandbox.attachments import generated_content

from .conftest import FakeSleep, Recorded

Serve = Callable[
    [dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]],
    Awaitable[tuple[str, Recorded]],
]
MB = 1 << 20


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(creditors=1, cases=3, settlements=1, seed=6) as server:
        yield server


@pytest.fixture
async def client(sandbox: SandboxServer, fake_sleep: FakeSleep) -> AsyncIterator[AmiliClient]:
    async with AmiliClient(
        base_url=sandbox.url, token=sandbox.token, retry=RetryPolicy(sleep=fake_sleep)
    ) as made:
        yield made


async def test_upload_then_get_and_download(client: AmiliClient, tmp_path: Path) -> None:
    attachment_id = await client.upload_attachment(
        b"%PDF-1.4 invoice", content_type="application/pdf"
    )
    assert await client.get_attachment(attachment_id) == b"%PDF-1.4 invoice"
    target = tmp_path / "invoice.pdf"
    assert await client.download_attachment(attachment_id, target) == 16
    assert target.read_bytes() == b"%PDF-1.4 invoice"
    assert list(tmp_path.iterdir()) == [target]


async def test_unknown_attachment_is_not_found_and_writes_nothing(
    client: AmiliClient, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        await client.get_attachment("ATT-999999")
    target = tmp_path / "missing.pdf"
    target.write_bytes(b"previous")
    with pytest.raises(NotFoundError):
        await client.download_attachment("ATT-999999", target)
    assert target.read_bytes() == b"previous"
    assert list(tmp_path.iterdir()) == [target]


async def test_200_mb_download_keeps_memory_flat(
    sandbox: SandboxServer, client: AmiliClient, tmp_path: Path
) -> None:
    size = 200 * MB
    attachment_id = sandbox.state.add_generated_attachment(size)
    target = tmp_path / "big.pdf"
    await client.ping()  # open the session outside the measurement
    gc.collect()
    tracemalloc.start()
    try:
        written = await client.download_attachment(attachment_id, target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == size == target.stat().st_size
    # sandbox and client share this process, so the peak covers both: still a few MB at most
    assert peak < 16 * MB, f"peak {peak / MB:.1f} MB"
    expected = hashlib.sha256()
    for chunk in generated_content(attachment_id, size):
        expected.update(chunk)
    actual = hashlib.sha256()
    with target.open("rb") as handle:
        while block := handle.read(4 * MB):
            actual.update(block)
    assert actual.digest() == expected.digest()


async def test_broken_download_leaves_no_partial_file(
    serve: Serve, fake_sleep: FakeSleep, tmp_path: Path
) -> None:
    async def half_then_hang_up(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(4 * MB)})
        await response.prepare(request)
        await response.write(b"x" * MB)
        assert request.transport is not None
        request.transport.close()
        return response

    url, recorded = await serve({"GET /webapi/api/Attachment": half_then_hang_up})
    target = tmp_path / "doc.pdf"
    fresh = tmp_path / "new.pdf"
    target.write_bytes(b"the previous version")
    async with AmiliClient(base_url=url, token="t", retry=RetryPolicy(sleep=fake_sleep)) as client:
        with pytest.raises(TransportError):
            await client.download_attachment("A-1", target)
        assert recorded.count == RetryPolicy().max_attempts  # retried, each from scratch
        with pytest.raises(TransportError):
            await client.download_attachment("A-1", fresh)
    assert target.read_bytes() == b"the previous version"
    assert list(tmp_path.iterdir()) == [target]  # no partial file, no temporary left


async def test_unwritable_destination_is_our_error(client: AmiliClient, tmp_path: Path) -> None:
    attachment_id = await client.upload_attachment(b"x")
    with pytest.raises(AmiliError, match="cannot write"):
        await client.download_attachment(attachment_id, tmp_path / "no-such-dir" / "f.pdf")
