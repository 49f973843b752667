"""Webhook events: typed models and [`parse_webhook`][amili_async.webhooks.parse_webhook].

Amili's published examples (``shared/amili-api.md`` section 6) disagree with each other in small
ways, so parsing is lenient where they do and strict nowhere else:

* the event type is the body's ``type``, else its ``eventType`` (case events), else the
  ``X-Amili-Event`` header;
* the organisation is ``organizationId`` or ``orgId``;
* ids and numbers (``caseNumber``, ``invoiceNumber``) may be JSON numbers or strings and are
  always ``str`` here, exactly as sent (ids are not parsed as UUIDs: an id Amili sends in another
  form must not turn a delivery into a 400);
* the envelope's time is ``timeStamp`` or ``timestamp``, a timestamp in any form the batch models
  accept (.NET's 7 fractional digits, no offset); ``settlementDate`` is a date or a timestamp;
* unknown fields are ignored, ``null`` counts as absent, and an unknown event type is an
  [`UnknownEvent`][amili_async.webhooks.UnknownEvent] rather than an error.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias, TypeVar

import msgspec

from .._types import Buffer
from ..errors import DecodeError
from ..models.decoding import TypedDecoder

__all__ = [
    "BatchCompleted",
    "CaseEvent",
    "SettlementCreated",
    "UnknownEvent",
    "WebhookEvent",
    "WebhookEventBase",
    "parse_webhook",
]

_STRUCT_OPTIONS: dict[str, Any] = {"frozen": True, "kw_only": True}

EVENT_HEADER = "X-Amili-Event"
IDEMPOTENCY_KEY_HEADER = "IdempotencyKey"
REQUEST_ID_HEADER = "X-Amili-Request-Id"


class WebhookEventBase(msgspec.Struct, **_STRUCT_OPTIONS):
    """What every webhook event carries."""

    id: str | None
    """``id``: the event's id, as sent; ``None`` if the body has none."""
    type: str
    """``type`` (``eventType`` in case events, else the ``X-Amili-Event`` header): the event type as
    sent (``SETTLEMENT_CREATED``, ...)."""
    source: str | None = None
    """``source``: which Amili system sent it (``COLLECTION``)."""
    timestamp: datetime.datetime | None = None
    """``timeStamp`` (or ``timestamp``): when Amili says the event happened; naive if sent without
    an offset."""
    idempotency_key: str | None = None
    """The ``IdempotencyKey`` header: the same for every delivery of one event."""
    request_id: str | None = None
    """The ``X-Amili-Request-Id`` header, for support requests."""


class BatchCompleted(WebhookEventBase, **_STRUCT_OPTIONS):
    """``BATCH_COMPLETED``: a Collection API batch (invoices, payments, ...) finished processing."""

    batch_id: str | None = None
    """``data.batchId``: the batch that finished."""
    organization_id: str | None = None
    """``data.organizationId`` (or ``orgId``): the creditor organisation."""
    status: str | None = None
    """``data.status``: the batch's final status as sent (``SUCCESS``, ``PARTIAL``, ``FAILED``,
    ...)."""


class SettlementCreated(WebhookEventBase, **_STRUCT_OPTIONS):
    """``SETTLEMENT_CREATED``: a settlement was paid out to a creditor."""

    settlement_id: str | None = None
    """``data.settlementId``: the settlement; the same id the settlement poller delivers as
    [`Settlement.id`][amili_async.Settlement.id] (compare ``str(settlement.id)``
    case-insensitively)."""
    organization_id: str | None = None
    """``data.organizationId`` (or ``orgId``): the creditor organisation."""
    settlement_date: datetime.date | None = None
    """``data.settlementDate``: the day it was settled; a timestamp is cut to its date as sent (no
    time-zone conversion)."""
    invoice_id: str | None = None
    """``data.invoiceId``: the invoice paid."""
    invoice_number: str | None = None
    """``data.invoiceNumber``: its number."""
    case_number: str | None = None
    """``data.caseNumber``: the collection case."""


class CaseEvent(WebhookEventBase, **_STRUCT_OPTIONS):
    """``CASE`` and ``CASE_UPDATED``: a case was created or changed."""

    organization_id: str | None = None
    """``data.orgId`` (or ``organizationId``): the creditor organisation."""
    case_id: str | None = None
    """``data.caseId``: the case."""
    case_number: str | None = None
    """``data.caseNumber``: its number."""
    case_type: str | None = None
    """``data.type``: the case's own type, not the event type."""
    status: str | None = None
    """``data.status``: the case's status as sent (``OPEN``, ``PAUSED``, ...)."""
    invoices: list[Any] = msgspec.field(default_factory=list)
    """``data.invoices``: the list as sent (its shape is not published)."""
    fields: list[Any] = msgspec.field(default_factory=list)
    """``data.fields``: the list as sent (assumed: what changed; shape not published)."""


class UnknownEvent(WebhookEventBase, **_STRUCT_OPTIONS):
    """Any event type this version of the SDK does not model; answer it like the others."""

    data: Any = None
    """``data``: the event's data as decoded JSON (``None`` if it had none)."""


WebhookEvent: TypeAlias = BatchCompleted | SettlementCreated | CaseEvent | UnknownEvent
"""Any event [`parse_webhook`][amili_async.webhooks.parse_webhook] returns."""

# -- the wire ---------------------------------------------------------------------------------

_Scalar: TypeAlias = str | int | None  # ids and numbers: a JSON string or number, or null


class _Envelope(msgspec.Struct):
    id: _Scalar = None
    type: str | None = None
    event_type: str | None = msgspec.field(default=None, name="eventType")
    source: str | None = None
    time_stamp: datetime.datetime | None = msgspec.field(default=None, name="timeStamp")
    timestamp: datetime.datetime | None = None
    data: msgspec.Raw = msgspec.Raw()


class _Organization(msgspec.Struct):
    organization_id: _Scalar = msgspec.field(default=None, name="organizationId")
    org_id: _Scalar = msgspec.field(default=None, name="orgId")

    @property
    def organization(self) -> str | None:
        return _text(self.organization_id if self.organization_id is not None else self.org_id)


class _BatchData(_Organization):
    batch_id: _Scalar = msgspec.field(default=None, name="batchId")
    status: str | None = None


class _SettlementData(_Organization):
    settlement_id: _Scalar = msgspec.field(default=None, name="settlementId")
    settlement_date: str | None = msgspec.field(default=None, name="settlementDate")
    invoice_id: _Scalar = msgspec.field(default=None, name="invoiceId")
    invoice_number: _Scalar = msgspec.field(default=None, name="invoiceNumber")
    case_number: _Scalar = msgspec.field(default=None, name="caseNumber")


class _CaseData(_Organization):
    case_id: _Scalar = msgspec.field(default=None, name="caseId")
    case_number: _Scalar = msgspec.field(default=None, name="caseNumber")
    type: str | None = None
    status: str | None = None
    invoices: list[Any] | None = None
    fields: list[Any] | None = None


_ENVELOPE = TypedDecoder(_Envelope)
_D = TypeVar("_D")


def _text(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _data(raw: msgspec.Raw, decoder: TypedDecoder[_D], empty: _D, body: Buffer) -> _D:
    """``data`` decoded; a missing or null ``data`` is ``empty``."""
    if bytes(raw) in (b"", b"null"):
        return empty
    return _decoded(decoder, raw, body, at="$.data")


def _decoded(decoder: TypedDecoder[_D], part: Buffer, body: Buffer, *, at: str = "$") -> _D:
    """``part`` (the body, or the ``data`` in it at ``at``) decoded; errors name the path in
    the whole body and keep the whole body."""
    try:
        return decoder(part)
    except DecodeError as exc:
        path = at + exc.path[1:]
        detail = exc.message.split(f" at {exc.path}: ", 1)[-1]
        message = f"webhook body does not match the documented JSON at {path}: {detail}"
        raise DecodeError(message, path=path, body=bytes(body)) from None


def _date(value: str | None, body: Buffer) -> datetime.date | None:
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.date.fromisoformat(value)
        return msgspec.convert(value, datetime.datetime).date()
    except (ValueError, msgspec.ValidationError):
        path = "$.data.settlementDate"
        message = f"webhook body does not match the documented JSON at {path}: expected a date or a timestamp, got {value!r}"
        raise DecodeError(message, path=path, body=bytes(body)) from None


def _batch_completed(common: dict[str, Any], raw: msgspec.Raw, body: Buffer) -> BatchCompleted:
    data = _data(raw, _BATCH_DATA, _BatchData(), body)
    return BatchCompleted(
        **common,
        batch_id=_text(data.batch_id),
        organization_id=data.organization,
        status=data.status,
    )


def _settlement_created(
    common: dict[str, Any], raw: msgspec.Raw, body: Buffer
) -> SettlementCreated:
    data = _data(raw, _SETTLEMENT_DATA, _SettlementData(), body)
    return SettlementCreated(
        **common,
        settlement_id=_text(data.settlement_id),
        organization_id=data.organization,
        settlement_date=_date(data.settlement_date, body),
        invoice_id=_text(data.invoice_id),
        invoice_number=_text(data.invoice_number),
        case_number=_text(data.case_number),
    )


def _case_event(common: dict[str, Any], raw: msgspec.Raw, body: Buffer) -> CaseEvent:
    data = _data(raw, _CASE_DATA, _CaseData(), body)
    return CaseEvent(
        **common,
        organization_id=data.organization,
        case_id=_text(data.case_id),
        case_number=_text(data.case_number),
        case_type=data.type,
        status=data.status,
        invoices=data.invoices or [],
        fields=data.fields or [],
    )


def _unknown_event(common: dict[str, Any], raw: msgspec.Raw, body: Buffer) -> UnknownEvent:
    return UnknownEvent(**common, data=_data(raw, _ANY, None, body))


_BATCH_DATA = TypedDecoder(_BatchData)
_SETTLEMENT_DATA = TypedDecoder(_SettlementData)
_CASE_DATA = TypedDecoder(_CaseData)
_ANY: TypedDecoder[Any] = TypedDecoder(object)  # any JSON value

_Parser = Callable[[dict[str, Any], msgspec.Raw, Buffer], WebhookEvent]
_PARSERS: dict[str, _Parser] = {
    "BATCH_COMPLETED": _batch_completed,
    "SETTLEMENT_CREATED": _settlement_created,
    "CASE": _case_event,
    "CASE_UPDATED": _case_event,
}


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` in any capitalisation, from any mapping (an aiohttp
    ``CIMultiDictProxy`` or a plain ``dict``); ``None`` when absent or empty."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value or None


def parse_webhook(body: Buffer, headers: Mapping[str, str]) -> WebhookEvent:
    """Parse one webhook delivery into its typed event.

    Args:
        body: The raw request body.
        headers: The request headers (any capitalisation; an aiohttp ``request.headers`` or a
            plain ``dict``).

    Returns:
        A [`BatchCompleted`][amili_async.webhooks.BatchCompleted],
        [`SettlementCreated`][amili_async.webhooks.SettlementCreated],
        [`CaseEvent`][amili_async.webhooks.CaseEvent] or
        [`UnknownEvent`][amili_async.webhooks.UnknownEvent].

    Raises:
        DecodeError: The body is not a JSON object of the documented shape, or no event type is
            given by the body or the ``X-Amili-Event`` header; ``.path`` says where.
    """
    envelope = _decoded(_ENVELOPE, body, body)
    event_type = envelope.type or envelope.event_type or header(headers, EVENT_HEADER)
    if not event_type:
        message = (
            "webhook has no event type (no type or eventType in the body, no X-Amili-Event header)"
        )
        raise DecodeError(message, path="$.type", body=bytes(body))
    common: dict[str, Any] = {
        "id": _text(envelope.id),
        "type": event_type,
        "source": envelope.source,
        "timestamp": envelope.time_stamp or envelope.timestamp,
        "idempotency_key": header(headers, IDEMPOTENCY_KEY_HEADER),
        "request_id": header(headers, REQUEST_ID_HEADER),
    }
    parser = _PARSERS.get(event_type.upper(), _unknown_event)
    return parser(common, envelope.data, body)
