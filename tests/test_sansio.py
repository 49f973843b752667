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
    ServerError,
    UnprocessableEntityError,
)
from amili_async._sansio import (
    BATCH_PARAM_NAMES,
    build_query,
    error_for_status,
    parse_retry_after,
    request_id_of,
    same_origin,
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
        ("-3", 0.0),
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
