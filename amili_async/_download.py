"""Downloads streamed to a file: the client's transport (auth, redirects, retries, errors) with
one change, the body of a 2xx answer goes to disk chunk by chunk instead of into memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from ._files import write_atomically
from ._request import Endpoint, RequestPath
from ._transport import RawResponse, Request, Transport

__all__ = ["download"]


@dataclasses.dataclass(kw_only=True)
class _FileTransport(Transport):
    destination: Path
    written: int = 0

    async def _finish(
        self, request: Request, resp: aiohttp.ClientResponse, started: float, label: str
    ) -> RawResponse:
        if resp.status >= 300:  # errors and unfollowed redirects: small bodies, handled as usual
            return await super()._finish(request, resp, started, label)
        self.written = await write_atomically(
            self.destination, resp.content.iter_any(), expected_size=_plain_length(resp)
        )
        return RawResponse(resp.status, resp.headers, b"", request.method, resp.url)


def _plain_length(resp: aiohttp.ClientResponse) -> int | None:
    """The number of bytes to expect, when ``Content-Length`` counts what we will read."""
    return None if "Content-Encoding" in resp.headers else resp.content_length


async def download(
    transport: Transport,
    base_url: URL,
    endpoint: Endpoint[Any],
    query: Mapping[str, object],
    destination: Path,
) -> int:
    """Call ``endpoint`` (a GET) with the body going to ``destination``, replaced only when
    complete; returns the number of bytes. Retried like any GET: each attempt starts over in a
    fresh temporary file."""
    fields = {f.name: getattr(transport, f.name) for f in dataclasses.fields(transport) if f.init}
    streaming = _FileTransport(**fields, destination=destination)
    streaming.cooldown = transport.cooldown  # a 429 seen here holds back the client's other calls
    await RequestPath(streaming, base_url).send(endpoint, query=query)
    return streaming.written
