"""A batch's ``succeeded`` and ``failed`` items, typed by their ``$type``, unknown ones kept.

Why a custom step instead of a msgspec tagged union: a tagged union rejects a tag it does not
list, and one new kind of item from the server would then fail the whole batch. So the batch
decodes its items as raw JSON (``msgspec.Raw``, no copy of the text) and each item is decoded
here: its ``$type`` is read first, then the item is decoded into the Struct for that tag, or kept
as an [`UnknownBatchItem`][amili_async.collection.UnknownBatchItem] holding its fields as a dict.
Batches are small (one per create), so the second look at each item costs nothing that matters.

Only ``invoiceSuccess`` was seen in Amili's docs; the other tags and every failed item's fields
(``index``, the identifying field, ``reason``) are the SDK's assumption.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, TypeAlias

import msgspec

from ..models.base import CamelModel

__all__ = [
    "BatchItem",
    "CorrectionFailure",
    "CorrectionSuccess",
    "InvoiceFailure",
    "InvoiceSuccess",
    "PaymentFailure",
    "PaymentSuccess",
    "UnknownBatchItem",
    "decode_items",
]


class InvoiceSuccess(CamelModel):
    """``invoiceSuccess``: an invoice was created (documented)."""

    TAG: ClassVar[str] = "invoiceSuccess"
    """The ``$type`` that selects this kind of item."""
    invoice_number: str | None = None
    """``invoiceNumber``: the number of the invoice created."""
    case_id: uuid.UUID | None = None
    """``caseId``: the collection case it went into."""
    invoice_id: uuid.UUID | None = None
    """``invoiceId``: the new invoice's id."""


class PaymentSuccess(CamelModel):
    """``paymentSuccess``: a payment was registered on an invoice (assumed)."""

    TAG: ClassVar[str] = "paymentSuccess"
    """The ``$type`` that selects this kind of item."""
    invoice_id: uuid.UUID | None = None
    """``invoiceId``: the invoice paid."""
    payment_id: uuid.UUID | None = None
    """``paymentId``: the new payment's id."""


class CorrectionSuccess(CamelModel):
    """``correctionSuccess``: a correction was applied to an invoice (assumed)."""

    TAG: ClassVar[str] = "correctionSuccess"
    """The ``$type`` that selects this kind of item."""
    invoice_id: uuid.UUID | None = None
    """``invoiceId``: the invoice corrected."""
    correction_id: uuid.UUID | None = None
    """``correctionId``: the new correction's id."""


class InvoiceFailure(CamelModel):
    """``invoiceFailure``: the invoice at ``index`` of the request was rejected (assumed)."""

    TAG: ClassVar[str] = "invoiceFailure"
    """The ``$type`` that selects this kind of item."""
    index: int | None = None
    """``index``: the invoice's position in the request's list."""
    invoice_number: str | None = None
    """``invoiceNumber``: the invoice's number, as sent."""
    reason: str | None = None
    """``reason``: why it was rejected."""


class PaymentFailure(CamelModel):
    """``paymentFailure``: the payment at ``index`` of the request was rejected (assumed)."""

    TAG: ClassVar[str] = "paymentFailure"
    """The ``$type`` that selects this kind of item."""
    index: int | None = None
    """``index``: the payment's position in the request's list."""
    invoice_id: str | None = None  # as sent: a rejected payment may name no valid UUID
    """``invoiceId``: the invoice it was for, as sent (a rejected payment may name no valid UUID).
    """
    reason: str | None = None
    """``reason``: why it was rejected."""


class CorrectionFailure(CamelModel):
    """``correctionFailure``: the correction at ``index`` of the request was rejected
    (assumed)."""

    TAG: ClassVar[str] = "correctionFailure"
    """The ``$type`` that selects this kind of item."""
    index: int | None = None
    """``index``: the correction's position in the request's list."""
    invoice_id: str | None = None
    """``invoiceId``: the invoice it was for, as sent."""
    reason: str | None = None
    """``reason``: why it was rejected."""


class UnknownBatchItem(msgspec.Struct, frozen=True, gc=False):  # positional: (type, data)
    """An item whose ``$type`` this version of the SDK does not know (or that has none)."""

    type: str | None
    """The ``$type`` sent, or ``None``."""
    data: dict[str, Any]
    """Every field of the item as decoded JSON (``$type`` included)."""


BatchItem: TypeAlias = (
    InvoiceSuccess
    | PaymentSuccess
    | CorrectionSuccess
    | InvoiceFailure
    | PaymentFailure
    | CorrectionFailure
    | UnknownBatchItem
)
"""Any item of a batch's ``succeeded`` or ``failed`` list."""

_KNOWN: tuple[type[Any], ...] = (
    InvoiceSuccess,
    PaymentSuccess,
    CorrectionSuccess,
    InvoiceFailure,
    PaymentFailure,
    CorrectionFailure,
)
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    kind.TAG: msgspec.json.Decoder(kind) for kind in _KNOWN
}


class _Tag(msgspec.Struct, gc=False):
    type: Any = msgspec.field(default=None, name="$type")


_TAG = msgspec.json.Decoder(_Tag)
_ANY = msgspec.json.Decoder(dict[str, Any])


def decode_items(raw_items: list[msgspec.Raw], field: str) -> list[BatchItem]:
    """Decode raw batch items by their ``$type``.

    Raises:
        ValueError: An item is not an object, or does not match its tag's shape; msgspec turns it
            into a ``ValidationError`` at the batch, and the SDK into a ``DecodeError``.
    """
    items: list[BatchItem] = []
    for index, raw in enumerate(raw_items):
        try:
            tag = _TAG.decode(raw).type
            decoder = _DECODERS.get(tag) if isinstance(tag, str) else None
            if decoder is None:
                items.append(
                    UnknownBatchItem(tag if isinstance(tag, str) else None, _ANY.decode(raw))
                )
            else:
                items.append(decoder.decode(raw))
        except msgspec.DecodeError as exc:
            detail, _, inner = str(exc).partition(" - at `$")
            where = f"{field}[{index}]{inner.rstrip('`')}"
            raise ValueError(f"{detail} (at {where})") from None
    return items
