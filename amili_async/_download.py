"""Downloads streamed to a file: the client's transport (auth, redirects, retries, errors) with
one change, the body of a 2xx answer goes to disk chunk by chunk instead of into memory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import aiohttp

from ._files import write_atomically
from ._transport import RawResponse, Transport

__all__ = ["download"]


@dataclasses.dataclass(kw_only=True)
class _FileTransport(Transport):
    destination: Path
    written: int = 0

    async def _finish(
        self, method: str, resp: aiohttp.ClientResponse, started: float
    ) -> RawResponse:
        if resp.status >= 400:  # errors are small: read and raise as usual
            return await super()._finish(method, resp, started)
        self.written = await write_atomically(
            self.destination, resp.content.iter_any(), expected_size=resp.content_length
        )
        return RawResponse(resp.status, resp.headers, b"", method, resp.url)


async def download(
    transport: Transport, path: str, params: dict[str, str], destination: Path
) -> int:
    """GET ``/webapi/api/<path>`` into ``destination`` (replaced only when complete); returns the
    number of bytes. Retried like any GET: each attempt starts over in a fresh temporary file."""
    fields = {f.name: getattr(transport, f.name) for f in dataclasses.fields(transport) if f.init}
    streaming = _FileTransport(**fields, destination=destination)
    await streaming.request("GET", path, params=params)
    return streaming.written
