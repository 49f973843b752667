"""Typed models of the Collection API (``/collection/v1``).

The conventions of [`amili_async.models`][amili_async.models] hold here too: snake_case attributes
for the API's camelCase names, frozen ``gc=False`` Structs, money as [`Decimal`][decimal.Decimal]
exactly as sent, UUIDs, dates and datetimes typed, unknown fields ignored, unknown enum values kept,
``null`` tolerated everywhere (lists become ``[]``).

Requests are built from the ``New*`` Structs (``omit_defaults``: only what is set goes out) (or plain dicts with the API's camelCase keys). They
leave out the fields not set, and the client encodes money as JSON numbers with the digits given:
``Decimal("4500.10")`` goes out as ``4500.10``.

Settlements are the legacy API's [`Settlement`][amili_async.models.Settlement] (the Collection API
documents the same shape), re-exported here.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from ..models.base import CamelModel, Model
from ..models.batch import NullableList, Organization, Settlement, replace_null_lists
from .enums import (
    BatchStatus,
    BatchType,
    CaseStatus,
    CaseType,
    DebtorType,
    InvoiceStatus,
    InvoiceType,
    PaymentType,
)
from .items import BatchItem, decode_items

__all__ = [
    "Address",
    "Batch",
    "BatchRef",
    "Case",
    "Debtor",
    "Envelope",
    "Invoice",
    "LegacyBatchStatus",
    "NewCorrection",
    "NewInvoice",
    "NewPayment",
    "Organization",
    "Page",
    "Settlement",
    "Summary",
]

T = TypeVar("T")

Money = decimal.Decimal

if TYPE_CHECKING:
    RawItems = list[BatchItem]
else:
    RawItems = list[msgspec.Raw] | None  # decoded by decode_items() in Batch.__post_init__


# -- the envelope and pages -----------------------------------------------------------------------


class Summary(CamelModel):
    """The ``summary`` of every Collection API response."""

    status: str | None = None
    next_page_token: str | None = None


class Envelope(CamelModel, Generic[T]):
    """``{"summary": {...}, "data": ...}``, the shape of every Collection API response. The SDK
    unwraps it: methods return ``data`` (or a [`Page`][amili_async.collection.Page])."""

    data: T
    summary: Summary | None = None


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a list.

    Attributes:
        items: The page's items, in the server's order.
        next_page_token: The token of the next page, ``None`` on the last one. Save it to resume a
            walk later with ``page_token=``.
    """

    items: list[T]
    next_page_token: str | None = None

    @classmethod
    def from_envelope(cls, envelope: Envelope[list[T] | None]) -> Page[T]:
        """The page a list response holds; an empty token counts as none."""
        token = envelope.summary.next_page_token if envelope.summary else None
        return cls(items=envelope.data or [], next_page_token=token or None)


# -- parties ----------------------------------------------------------------------------------


class Address(CamelModel, omit_defaults=True):
    """A postal address (assumed shape)."""

    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country_code: str | None = None


class Debtor(CamelModel, omit_defaults=True):
    """Who owes an invoice: a person (``PRIVATE``) or a ``COMPANY``. Used both in requests and in
    answers (assumed shape: Amili's examples cut it off)."""

    type: DebtorType | None = None
    customer_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    organization_number: str | None = None
    email: str | None = None
    phone: str | None = None
    address: Address | None = None


# -- batches ----------------------------------------------------------------------------------


class BatchRef(CamelModel):
    """What a create answers (202): the batch that will process the request."""

    batch_id: uuid.UUID
    batch_url: str | None = None


class LegacyBatchStatus(Model):
    """The status object an older generation of the API sent as a batch's ``status``
    (``statuscode``, ``errors``, ``responses``), kept as sent."""

    statuscode: int | None = None
    errors: list[dict[str, Any]] | None = None
    responses: list[dict[str, Any]] | None = None


_FINISHED = frozenset({BatchStatus.SUCCESS, BatchStatus.PARTIAL, BatchStatus.FAILED})


class Batch(CamelModel):
    """A batch: the asynchronous processing of one create request.

    Attributes:
        status: ``QUEUED`` until processed, then ``SUCCESS``, ``PARTIAL`` or ``FAILED``. An older
            generation sent a [`LegacyBatchStatus`][amili_async.collection.LegacyBatchStatus].
        succeeded: The items that went through, typed by ``$type``
            ([`InvoiceSuccess`][amili_async.collection.InvoiceSuccess], ...); unknown kinds are
            kept as
            [`UnknownBatchItem`][amili_async.collection.UnknownBatchItem].
        failed: The items that were rejected, each with its ``reason``.
    """

    batch_id: uuid.UUID | None = None
    type: BatchType | None = None
    status: BatchStatus | LegacyBatchStatus | None = None
    created_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    organization_id: uuid.UUID | None = None
    created_by: str | None = None
    succeeded: RawItems = msgspec.field(default_factory=list)
    failed: RawItems = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("succeeded", "failed"):
            raw = getattr(self, name)
            msgspec.structs.force_setattr(self, name, decode_items(raw or [], name))

    @property
    def finished(self) -> bool:
        """Whether processing is over: ``SUCCESS``, ``PARTIAL`` or ``FAILED``, or any status with
        ``finished_at`` set. ``QUEUED``, ``PROCESSING`` and other statuses without
        ``finished_at`` are not finished."""
        return self.finished_at is not None or self.status in _FINISHED


# -- invoices and cases -----------------------------------------------------------------------


class Invoice(CamelModel):
    """An invoice sent to Amili. ``id``, ``organization``, ``invoice_number``,
    ``collection_case_number``, ``type``, ``status`` and ``created_at`` are documented; the rest
    is assumed."""

    id: uuid.UUID | None = None
    organization: Organization | None = None
    invoice_number: str | None = None
    collection_case_number: str | None = None
    type: InvoiceType | None = None
    status: InvoiceStatus | None = None
    created_at: datetime.datetime | None = None
    case_id: uuid.UUID | None = None
    unique_source_invoice_id: str | None = None
    customer_number: str | None = None
    currency: str | None = None
    original_invoice_amount: Money | None = None
    paid_amount: Money | None = None
    remaining_amount: Money | None = None
    invoice_date: datetime.date | None = None
    due_date: datetime.date | None = None
    closed_at: datetime.datetime | None = None
    description: str | None = None


class Case(CamelModel):
    """A collection case (documented fields; ``invoices`` items assumed to be
    [`Invoice`][amili_async.collection.Invoice]s). ``case_number`` is the legacy API's
    ``casenumber`` as an integer."""

    case_id: uuid.UUID | None = None
    case_number: int | None = None
    organization_id: uuid.UUID | None = None
    creditor_id: uuid.UUID | None = None
    creditor_number: str | None = None
    status: CaseStatus | None = None
    sub_status: str | None = None
    type: CaseType | None = None
    description: str | None = None
    registered_at: datetime.datetime | None = None
    closed_at: datetime.datetime | None = None
    case_token: str | None = None
    invoices: NullableList[Invoice] = msgspec.field(default_factory=list)
    debtors: NullableList[Debtor] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        replace_null_lists(self, "invoices", "debtors")


# -- what creates send ------------------------------------------------------------------------


class NewInvoice(CamelModel, omit_defaults=True):
    """One invoice for ``invoices.create``; ``type`` and ``currency`` are always sent, the other
    fields only when set. Seen fields: ``type``, ``invoice_number``, ``vat``,
    ``fees``, ``original_invoice_amount``, ``currency``, ``invoice_date``, ``due_date``,
    ``collection_notice_date``, ``unique_source_invoice_id``, ``description``; ``debtors`` is
    assumed."""

    type: InvoiceType | str
    invoice_number: str
    original_invoice_amount: Money
    currency: str
    invoice_date: datetime.date | None = None
    due_date: datetime.date | None = None
    collection_notice_date: datetime.date | None = None
    unique_source_invoice_id: str | None = None
    description: str | None = None
    vat: bool | None = None
    fees: bool | None = None
    debtors: list[Debtor] = msgspec.field(default_factory=list)


class NewPayment(CamelModel, omit_defaults=True):
    """One payment for ``payments.create`` (``invoice_id``, ``type``, ``amount``, ``currency``
    seen; ``payment_date`` and ``reference`` assumed)."""

    invoice_id: uuid.UUID | str
    type: PaymentType | str
    amount: Money
    currency: str
    payment_date: datetime.date | None = None
    reference: str | None = None


class NewCorrection(CamelModel, omit_defaults=True):
    """One correction for ``corrections.create`` (all fields seen): ``amount`` changes what the
    invoice is for (negative: a credit)."""

    invoice_id: uuid.UUID | str
    amount: Money
    currency: str
    date: datetime.date | None = None
    description: str | None = None
