"""What is sent with ``POST /webapi/api/Batch``, and the status object it answers.

The legacy API's docs say a batch document carries new creditors, invoices (cases), direct
payments and credits, change requests and messages to the case handler, but publish no shapes. We
assume (see the docs page) the GET shapes' field names, lowercase without separators
(``ledgerref``, ``originalprincipal``), and singular list names like the GET batch's
(``creditor``, ``case``, ``payment``, ``credit``, ``message``). Fields left ``None`` are not sent.
Anything these models do not cover can be sent as a plain ``dict`` instead.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import msgspec

from .base import LegacyModel, Model
from .batch import Creditor, NullableList, replace_null_lists

__all__ = [
    "BatchDocument",
    "BatchResult",
    "BatchResultError",
    "BatchResultResponse",
    "CaseMessage",
    "NewCase",
    "NewCredit",
    "NewPayment",
    "UploadedAttachment",
    "batch_document_json",
]


class NewCase(LegacyModel):
    """A new invoice for collection (a ``case`` item); the service fills in the rest (case
    number, KID, paid and remaining sums).

    Attributes:
        ledger_ref: The invoice's reference in your ledger; unique per creditor.
        original_principal: The invoice amount.
        creditor_id: The creditor's organisation number; may be left out when the document
            holds exactly one creditor (assumed).
    """

    ledger_ref: str
    original_principal: decimal.Decimal
    creditor_id: str | None = None
    customer_ref: str | None = None
    customer_name: str | None = None
    reference_number: str | None = None
    currency_code: str | None = None
    bill_date: datetime.date | None = None
    due_date: datetime.date | None = None
    original_fee: decimal.Decimal | None = None
    original_interest: decimal.Decimal | None = None
    service_description: str | None = msgspec.field(default=None, name="service_description")


class NewPayment(LegacyModel):
    """A payment the debtor made directly to the creditor (a ``payment`` item; shape assumed)."""

    ledger_ref: str
    amount: decimal.Decimal
    creditor_id: str | None = None
    currency_code: str | None = None
    payment_date: datetime.date | None = None
    reference: str | None = None


class NewCredit(LegacyModel):
    """A credit note reducing a case (a ``credit`` item; shape assumed)."""

    ledger_ref: str
    amount: decimal.Decimal
    creditor_id: str | None = None
    currency_code: str | None = None
    credit_date: datetime.date | None = None
    description: str | None = None


class CaseMessage(LegacyModel):
    """A message to Amili's case handler about a case (a ``message`` item; shape assumed)."""

    ledger_ref: str
    message: str
    creditor_id: str | None = None
    subject: str | None = None
    conversation_id: str | None = None


class BatchDocument(Model):
    """A batch document for [`AmiliClient.post_batch`][amili_async.AmiliClient.post_batch].

    Attributes:
        creditors: New or changed creditors (``creditor``), in the GET batch's
            [`Creditor`][amili_async.Creditor] shape; ``id_number`` is required.
        cases: New invoices (``case``).
        payments: Direct payments (``payment``).
        credits: Credit notes (``credit``).
        messages: Messages to the case handler (``message``).
    """

    creditors: list[Creditor] = msgspec.field(default_factory=list, name="creditor")
    cases: list[NewCase] = msgspec.field(default_factory=list, name="case")
    payments: list[NewPayment] = msgspec.field(default_factory=list, name="payment")
    credits: list[NewCredit] = msgspec.field(default_factory=list, name="credit")
    messages: list[CaseMessage] = msgspec.field(default_factory=list, name="message")


_BUILTIN = (decimal.Decimal, datetime.date, datetime.datetime, uuid.UUID)


def batch_document_json(document: BatchDocument) -> dict[str, Any]:
    """The wire form of ``document``: lists left empty and fields left ``None`` are dropped;
    money stays ``Decimal`` (encoded as an exact JSON number) and dates ``yyyy-MM-dd``."""
    return _without_nulls(msgspec.to_builtins(document, builtin_types=_BUILTIN))  # type: ignore[no-any-return]


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


class BatchResultError(LegacyModel):
    """One object the service refused.

    Attributes:
        object_name: Which list it was in (``case``, ``creditor``, ...).
        object_index: Its index in that list (``-1``: the list itself).
        message: Why.
    """

    object_name: str | None = None
    object_index: int | None = None
    message: str | None = None


class BatchResultResponse(LegacyModel):
    """One object the service took.

    Attributes:
        object_name: Which list it was in.
        object_index: Its index in that list.
        ledger_ref: The case's ledger reference, for cases.
        status: What happened to it (``REGISTERED``, ``CREATED``, ``UPDATED``, ``RECEIVED``, ...).
    """

    object_name: str | None = None
    object_index: int | None = None
    ledger_ref: str | None = None
    status: str | None = msgspec.field(default=None, name="status_statuscode")


class BatchResult(LegacyModel):
    """The legacy status object ``POST Batch`` answers. Errors in it are data, not exceptions.

    Attributes:
        status_code: The service's overall code (``statuscode``; 0 when all went through, as far
            as we know).
        errors: The refused objects, by list name and index.
        responses: The accepted objects.
    """

    status_code: int | None = msgspec.field(default=None, name="statuscode")
    errors: NullableList[BatchResultError] = msgspec.field(default_factory=list)
    responses: NullableList[BatchResultResponse] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        replace_null_lists(self, "errors", "responses")

    @property
    def ok(self) -> bool:
        """``True`` when no object was refused and the status code (if any) is 0 or 2xx."""
        code = self.status_code
        return not self.errors and (code is None or code == 0 or 200 <= code < 300)

    def errors_for(self, object_name: str) -> dict[int, str]:
        """The refused objects of one list, as ``{index: message}``."""
        return {
            e.object_index: e.message or ""
            for e in self.errors
            if e.object_name == object_name and e.object_index is not None
        }


class UploadedAttachment(Model):
    """What ``POST Attachment`` answers (assumed): the new attachment's id."""

    id: str | int
