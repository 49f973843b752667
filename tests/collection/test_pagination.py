"""AsyncPaginator over an injected fetch_page: walks, resumes, stops, never loops."""

from __future__ import annotations

import pytest

from amili_async import AmiliError
from amili_async.collection import AsyncPaginator, Page


class Pages:
    """A fake list of pages keyed by token; records which tokens were asked for."""

    def __init__(self, pages: dict[str | None, Page[int]]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []

    async def __call__(self, token: str | None) -> Page[int]:
        self.asked.append(token)
        return self.pages[token]


def chain(*pages: list[int], last_token: str | None = None) -> Pages:
    tokens: list[str | None] = [None, *(f"t{i}" for i in range(1, len(pages)))]
    result: dict[str | None, Page[int]] = {}
    for index, items in enumerate(pages):
        following = tokens[index + 1] if index + 1 < len(tokens) else last_token
        result[tokens[index]] = Page(items=items, next_page_token=following)
    return Pages(result)


async def test_an_empty_list_is_one_empty_page() -> None:
    fetch = chain([])
    assert [item async for item in AsyncPaginator(fetch)] == []
    assert fetch.asked == [None]


async def test_one_page() -> None:
    fetch = chain([1, 2])
    assert [item async for item in AsyncPaginator(fetch)] == [1, 2]
    assert fetch.asked == [None]


async def test_many_pages_each_asked_once() -> None:
    fetch = chain([1, 2], [3, 4], [], [5])
    assert [item async for item in AsyncPaginator(fetch)] == [1, 2, 3, 4, 5]
    assert fetch.asked == [None, "t1", "t2", "t3"]


async def test_pages_give_the_token_to_save_and_a_walk_resumes_from_it() -> None:
    fetch = chain([1, 2], [3, 4], [5])
    pages = AsyncPaginator(fetch).pages()
    first = await anext(pages)
    await pages.aclose()
    assert first.items == [1, 2]
    assert first.next_page_token == "t1"
    resumed = AsyncPaginator(fetch, page_token=first.next_page_token)
    assert [item async for item in resumed] == [3, 4, 5]
    assert fetch.asked == [None, "t1", "t2"]


async def test_an_empty_string_token_ends_the_walk() -> None:
    fetch = Pages({None: Page(items=[1], next_page_token="")})
    assert [item async for item in AsyncPaginator(fetch)] == [1]


async def test_a_token_sent_twice_raises_instead_of_looping() -> None:
    fetch = Pages(
        {
            None: Page(items=[1], next_page_token="a"),
            "a": Page(items=[2], next_page_token="b"),
            "b": Page(items=[3], next_page_token="a"),
        }
    )
    seen: list[int] = []

    async def walk() -> None:
        async for item in AsyncPaginator(fetch):
            seen.append(item)

    with pytest.raises(AmiliError, match="already sent"):
        await walk()
    assert seen == [1, 2, 3]
    assert fetch.asked == [None, "a", "b"]


async def test_the_starting_token_coming_back_is_a_loop_too() -> None:
    fetch = Pages({"a": Page(items=[1], next_page_token="a")})
    with pytest.raises(AmiliError):
        await AsyncPaginator(fetch, page_token="a").to_list()
    assert fetch.asked == ["a"]


async def test_each_walk_starts_again_and_to_list_stops_fetching_at_its_limit() -> None:
    fetch = chain([1, 2], [3, 4], [5])
    paginator = AsyncPaginator(fetch)
    assert await paginator.to_list(limit=2) == [1, 2]
    assert fetch.asked == [None]
    assert await paginator.to_list() == [1, 2, 3, 4, 5]
    assert fetch.asked == [None, None, "t1", "t2"]
    assert await paginator.to_list(limit=0) == []
