"""AsyncPaginator: walks a page-token list, one page request at a time.

The Collection API pages by cursor: each answer's ``summary.nextPageToken`` is the token of the
next page, and none (absent, ``null`` or ``""``) means the last page. The paginator is built over a
``fetch_page(token)`` coroutine, so it knows nothing about HTTP: the resource methods give it one
that sends the page request (retried like any GET) and decodes the page.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

from ..errors import CursorStalledError
from .models import Page

__all__ = ["AsyncPaginator", "FetchPage"]

T = TypeVar("T")

FetchPage = Callable[[str | None], Awaitable[Page[T]]]
"""Fetches one page: called with the page token (``None`` for the first page)."""
"""Fetches the page of a token (``None``: the first page)."""


class AsyncPaginator(Generic[T]):
    """Every item of a list, page after page; returned by each ``list(...)`` (no ``await``).

    ```python
    async for invoice in client.collection.invoices.list(org_id, status="OPEN"):
        ...

    async for page in client.collection.settlements.list(org_id, page_token=saved).pages():
        await book(page.items)
        saved = page.next_page_token  # resume here after a restart (None: walk done)
    ```

    Each ``async for`` is a new walk from the starting token. A walk asks for every page once,
    stops after the page without a next token, and raises
    [`CursorStalledError`][amili_async.CursorStalledError] (an ``AmiliError``) if the server hands
    out a token it already gave in this walk, instead of looping forever.

    Args:
        fetch_page: The coroutine that fetches one page by token.
        page_token: Where the walk starts (a ``next_page_token`` saved from an earlier walk);
            ``None`` starts at the first page.
    """

    __slots__ = ("_fetch_page", "page_token")

    def __init__(self, fetch_page: FetchPage[T], *, page_token: str | None = None) -> None:
        self._fetch_page = fetch_page
        self.page_token = page_token or None

    def __repr__(self) -> str:
        return f"AsyncPaginator(page_token={self.page_token!r})"

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        """Yield each page, the last one included (it may be empty)."""
        token = self.page_token
        asked: set[str | None] = {token}
        while True:
            page = await self._fetch_page(token)
            yield page
            token = page.next_page_token or None
            del page  # not held while the next page is fetched and decoded
            if token is None:
                return
            if token in asked:
                raise CursorStalledError(
                    "the server sent a page token it already sent in this walk; "
                    "stopping instead of fetching the same page again"
                )
            asked.add(token)

    async def __aiter__(self) -> AsyncGenerator[T, None]:
        async for page in self.pages():
            items = page.items
            del page
            for item in items:
                yield item
            del items  # freed before the next page arrives, not after

    async def to_list(self, *, limit: int | None = None) -> list[T]:
        """Collect the items (at most ``limit``, fetching no further page once it is reached)."""
        items: list[T] = []
        if limit is not None and limit <= 0:
            return items
        async with contextlib.aclosing(self.__aiter__()) as walk:
            async for item in walk:
                items.append(item)
                if limit is not None and len(items) >= limit:
                    break
        return items
