"""Large sandbox attachments: generated while they are streamed, never held in memory, so a test
can download 200 MB and check that the client's memory stays flat."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from aiohttp import web

__all__ = ["generated_content", "stream_generated"]

_BLOCK = 256 * 1024


def _block(attachment_id: str) -> bytes:
    """A deterministic block of bytes for an id: a hash chain, so the content is not all zeros."""
    seed = hashlib.sha256(attachment_id.encode()).digest()
    repeats = -(-_BLOCK // len(seed))
    return (seed * repeats)[:_BLOCK]


def generated_content(attachment_id: str, size: int) -> Iterator[bytes]:
    """The content of a generated attachment, in chunks; the same for the same id and size."""
    block = _block(attachment_id)
    left = size
    while left > 0:
        chunk = block[: min(left, _BLOCK)]
        left -= len(chunk)
        yield chunk


async def stream_generated(
    request: web.Request, attachment_id: str, size: int, content_type: str
) -> web.StreamResponse:
    """Answer with the generated attachment, streamed chunk by chunk with a Content-Length."""
    response = web.StreamResponse(headers={"Content-Length": str(size)})
    response.content_type = content_type
    await response.prepare(request)
    for chunk in generated_content(attachment_id, size):
        await response.write(chunk)
    await response.write_eof()
    return response
