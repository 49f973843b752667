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
    number, KID, paid and remaining sums)."""

    ledger_ref: str
    """``ledgerref``: the invoice's reference in your ledger; unique per creditor."""
    original_principal: decimal.Decimal
    """``originalprincipal``: the invoice amount."""
    creditor_id: str | None = None
    """``creditorid``: the creditor's organisation number; may be left out when the document holds
    exactly one creditor (assumed)."""
    customer_ref: str | None = None
    """``customerref``: your customer number of the debtor."""
    customer_name: str | None = None
    """``customername``: the debtor's name."""
    reference_number: str | None = None
    """``referencenumber``: the invoice's payment reference (KID)."""
    currency_code: str | None = None
    """``currencycode``: the currency of the amounts (``NOK``)."""
    bill_date: datetime.date | None = None
    """``billdate``: the invoice date (sent as ``yyyy-MM-dd``)."""
    due_date: datetime.date | None = None
    """``duedate``: the invoice's due date (sent as ``yyyy-MM-dd``)."""
    original_fee: decimal.Decimal | None = None
    """``originalfee``: fees already charged on the invoice."""
    original_interest: decimal.Decimal | None = None
    """``originalinterest``: interest already charged on the invoice."""
    service_description: str | None = msgspec.field(default=None, name="service_description")
    """``service_description``: what the invoice is for."""


class NewPayment(LegacyModel):
    """A payment the debtor made directly to the creditor (a ``payment`` item; shape assumed)."""

    ledger_ref: str
    """``ledgerref``: the case the payment is for, by its ledger reference."""
    amount: decimal.Decimal
    """``amount``: the amount the debtor paid."""
    creditor_id: str | None = None
    """``creditorid``: the creditor's organisation number (assumed optional, as for cases)."""
    currency_code: str | None = None
    """``currencycode``: the currency of ``amount``."""
    payment_date: datetime.date | None = None
    """``paymentdate``: when the debtor paid (sent as ``yyyy-MM-dd``)."""
    reference: str | None = None
    """``reference``: your reference of the payment."""


class NewCredit(LegacyModel):
    """A credit note reducing a case (a ``credit`` item; shape assumed)."""

    ledger_ref: str
    """``ledgerref``: the case the credit reduces, by its ledger reference."""
    amount: decimal.Decimal
    """``amount``: the amount credited."""
    creditor_id: str | None = None
    """``creditorid``: the creditor's organisation number (assumed optional, as for cases)."""
    currency_code: str | None = None
    """``currencycode``: the currency of ``amount``."""
    credit_date: datetime.date | None = None
    """``creditdate``: the credit note's date (sent as ``yyyy-MM-dd``)."""
    description: str | None = None
    """``description``: why the case is credited."""


class CaseMessage(LegacyModel):
    """A message to Amili's case handler about a case (a ``message`` item; shape assumed)."""

    ledger_ref: str
    """``ledgerref``: the case the message is about, by its ledger reference."""
    message: str
    """``message``: the text for the case handler."""
    creditor_id: str | None = None
    """``creditorid``: the creditor's organisation number (assumed optional, as for cases)."""
    subject: str | None = None
    """``subject``: the message's subject."""
    conversation_id: str | None = None
    """``conversationid``: the conversation to answer (a case history's ``conversation_id``)."""


class BatchDocument(Model):
    """A batch document for [`AmiliClient.post_batch`][amili_async.AmiliClient.post_batch]."""

    creditors: list[Creditor] = msgspec.field(default_factory=list, name="creditor")
    """``creditor``: new or changed creditors, in the GET batch's [`Creditor`][amili_async.Creditor]
    shape; ``id_number`` is required."""
    cases: list[NewCase] = msgspec.field(default_factory=list, name="case")
    """``case``: new invoices for collection."""
    payments: list[NewPayment] = msgspec.field(default_factory=list, name="payment")
    """``payment``: payments debtors made directly to the creditor."""
    credits: list[NewCredit] = msgspec.field(default_factory=list, name="credit")
    """``credit``: credit notes reducing cases."""
    messages: list[CaseMessage] = msgspec.field(default_factory=list, name="message")
    """``message``: messages to the case handler."""


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
    """One object the service refused."""

    object_name: str | None = None
    """``objectname``: which list the refused object was in (``case``, ``creditor``, ...)."""
    object_index: int | None = None
    """``objectindex``: its index in that list (``-1``: the list itself)."""
    message: str | None = None
    """``message``: why it was refused."""


class BatchResultResponse(LegacyModel):
    """One object the service took."""

    object_name: str | None = None
    """``objectname``: which list the accepted object was in."""
    object_index: int | None = None
    """``objectindex``: its index in that list."""
    ledger_ref: str | None = None
    """``ledgerref``: the case's ledger reference, for cases."""
    status: str | None = msgspec.field(default=None, name="status_statuscode")
    """``status_statuscode``: what happened to it (``REGISTERED``, ``CREATED``, ``UPDATED``,
    ``RECEIVED``, ...)."""


class BatchResult(LegacyModel):
    """The legacy status object ``POST Batch`` answers. Errors in it are data, not exceptions."""

    status_code: int | None = msgspec.field(default=None, name="statuscode")
    """``statuscode``: the service's overall code (0 when all went through, as far as we know)."""
    errors: NullableList[BatchResultError] = msgspec.field(default_factory=list)
    """``errors``: the refused objects, by list name and index; empty when none."""
    responses: NullableList[BatchResultResponse] = msgspec.field(default_factory=list)
    """``responses``: the accepted objects; empty when none."""

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
    """``id``: the new attachment's id (assumed shape)."""
