"""The pure rules: query strings, Retry-After, status -> error class, redirect origins."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from amili_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    LockedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    ServerError,
    UnprocessableEntityError,
)
from amili_async._sansio import (
    BATCH_PARAM_NAMES,
    COLLECTION,
    LEGACY,
    build_query,
    error_for_status,
    parse_retry_after,
    request_id_of,
    same_origin,
    unfollowed_redirect,
)


def test_build_query_sends_only_given_parameters_under_wire_names() -> None:
    query = build_query(
        BATCH_PARAM_NAMES,
        {
            "sender_id": "S1",
            "creditor_id": "923609016",
            "customer_ref": None,
            "include_closed": False,
            "remittance_date": datetime.date(2026, 3, 12),
            "last_settlement_id": "abc",
        },
    )
    assert query == {
        "senderid": "S1",
        "creditorid": "923609016",
        "includeclosed": "false",
        "remittancedate": "2026-03-12",
        "lastsettlementid": "abc",
    }
    assert build_query(BATCH_PARAM_NAMES, {"include_closed": True}) == {"includeclosed": "true"}


def test_build_query_rejects_unknown_parameters() -> None:
    with pytest.raises(ConfigurationError, match="creditorId"):
        build_query(BATCH_PARAM_NAMES, {"creditorId": "x"})


NOW = datetime.datetime(2026, 11, 24, 12, 0, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 0.5 ", 0.5),
        ("-3", None),  # negative: read as none, the usual backoff applies
        ("Tue, 24 Nov 2026 12:00:30 GMT", 30.0),
        ("Tue, 24 Nov 2026 11:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises_and_is_never_negative(header: str) -> None:
    result = parse_retry_after(header, now=NOW)
    assert result is None or result >= 0


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (423, LockedError),
        (429, RateLimitError),
        (500, ServerError),
        (501, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (418, APIError),
    ],
)
def test_each_status_maps_to_its_error_class(status: int, cls: type[APIError]) -> None:
    error = error_for_status(
        status,
        body='{"message": "creditor 1 is not yours"}',
        method="GET",
        url="https://x/webapi/api/Batch",
        request_id="r-1",
        retry_after=3.0,
    )
    assert type(error) is cls
    assert error.status == status
    assert error.body == '{"message": "creditor 1 is not yours"}'
    assert error.retry_after == 3.0
    text = str(error)
    assert f"HTTP {status}" in text and "creditor 1 is not yours" in text
    assert "GET https://x/webapi/api/Batch" in text and "r-1" in text


def test_request_id_header_variants() -> None:
    assert request_id_of({"X-Amili-Request-Id": "a"}) == "a"
    assert request_id_of({"X-Request-Id": "b", "Request-Id": "c"}) == "b"
    assert request_id_of({}) is None


def test_same_origin() -> None:
    assert same_origin(URL("https://a.no/x"), URL("https://a.no:443/y"))
    assert not same_origin(URL("https://a.no/x"), URL("http://a.no/x"))
    assert not same_origin(URL("https://a.no/x"), URL("https://evil.no/x"))
    assert not same_origin(URL("http://127.0.0.1:1/x"), URL("http://127.0.0.1:2/x"))


def test_legacy_family_quotes_the_text_body() -> None:
    error = LEGACY.error_for(
        400,
        {"X-Request-Id": "r-9", "Retry-After": "2"},
        b"unknown lastsettlementid",
        method="GET",
        url="https://x/webapi/api/Batch",
    )
    assert type(error) is BadRequestError and error.body == "unknown lastsettlementid"
    assert error.request_id == "r-9" and error.retry_after == 2.0
    assert "HTTP 400 Bad Request: unknown lastsettlementid" in str(error)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b'{"title": "Conflict", "detail": "invoice 7 exists"}', "Conflict; invoice 7 exists"),
        (b'{"message": "nope", "errors": [{"message": "amount < 0"}, "x"]}', "nope; amount < 0; x"),
        (b'{"errors": {"amount": ["must be positive"]}}', "amount: ['must be positive']"),
        (b'{"summary": {"status": "FAILED"}, "data": null}', "status FAILED"),
        (b"<html>gateway</html>", "<html>gateway</html>"),
        (b'["not", "an", "object"]', '["not", "an", "object"]'),
        (b"{}", "{}"),
    ],
)
def test_collection_family_reads_json_error_bodies(body: bytes, said: str) -> None:
    error = COLLECTION.error_for(422, {}, body, method="POST", url="https://x/collection/v1/p")
    assert type(error) is UnprocessableEntityError
    assert str(error).startswith(f"HTTP 422 Unprocessable Entity: {said} (POST ")
    assert error.body == body.decode()  # what the server said, kept whole


def test_page_tokens_by_family() -> None:
    assert COLLECTION.page_token(b'{"summary": {"nextPageToken": "t2"}, "data": []}') == "t2"
    assert COLLECTION.page_token(b'{"summary": {"nextPageToken": ""}, "data": []}') is None
    assert COLLECTION.page_token(b'{"data": []}') is None
    assert COLLECTION.page_token(b"not json") is None
    assert LEGACY.page_token(b'{"summary": {"nextPageToken": "t2"}}') is None


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {}, None),
        (404, {}, None),
        (302, {}, "without a Location header"),
        (303, {"Location": "/elsewhere"}, "to '/elsewhere' not followed for POST"),
    ],
)
def test_a_redirect_that_reached_us_is_an_error(
    status: int, headers: dict[str, str], expected: str | None
) -> None:
    error = unfollowed_redirect(status, headers, method="POST", url="https://x/webapi/api/Batch")
    if expected is None:
        assert error is None
    else:
        assert isinstance(error, RedirectError) and error.status == status
        assert expected in str(error)
