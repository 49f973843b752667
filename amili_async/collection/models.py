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
"""Every amount: a ``decimal.Decimal``, exactly as sent; a request sends it as a JSON number with
the digits given."""

if TYPE_CHECKING:
    RawItems = list[BatchItem]
else:
    RawItems = list[msgspec.Raw] | None  # decoded by decode_items() in Batch.__post_init__


# -- the envelope and pages -----------------------------------------------------------------------


class Summary(CamelModel):
    """The ``summary`` of every Collection API response."""

    status: str | None = None
    """``status``: the outcome as the service states it (``SUCCESS``)."""
    next_page_token: str | None = None
    """``nextPageToken``: the token of the next page of a list; ``None`` or empty on the last one.
    """


class Envelope(CamelModel, Generic[T]):
    """``{"summary": {...}, "data": ...}``, the shape of every Collection API response. The SDK
    unwraps it: methods return ``data`` (or a [`Page`][amili_async.collection.Page])."""

    data: T
    """``data``: the answer itself (an object, or a list for list operations)."""
    summary: Summary | None = None
    """``summary``: the status and the next page token."""


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a list."""

    items: list[T]
    """The page's items, in the server's order (the envelope's ``data``)."""
    next_page_token: str | None = None
    """The token of the next page (``summary.nextPageToken``), ``None`` on the last one. Save it to
    resume a walk later with ``page_token=``."""

    @classmethod
    def from_envelope(cls, envelope: Envelope[list[T] | None]) -> Page[T]:
        """The page a list response holds; an empty token counts as none."""
        token = envelope.summary.next_page_token if envelope.summary else None
        return cls(items=envelope.data or [], next_page_token=token or None)


# -- parties ----------------------------------------------------------------------------------


class Address(CamelModel, omit_defaults=True):
    """A postal address (assumed shape)."""

    street: str | None = None
    """``street``: street address."""
    postal_code: str | None = None
    """``postalCode``: postal code."""
    city: str | None = None
    """``city``: postal town."""
    country_code: str | None = None
    """``countryCode``: country code (``NO``)."""


class Debtor(CamelModel, omit_defaults=True):
    """Who owes an invoice: a person (``PRIVATE``) or a ``COMPANY``. Used both in requests and in
    answers (assumed shape: Amili's examples cut it off)."""

    type: DebtorType | None = None
    """``type``: ``PRIVATE`` (a person) or ``COMPANY``; unknown values are kept."""
    customer_number: str | None = None
    """``customerNumber``: the creditor's customer number of the debtor."""
    first_name: str | None = None
    """``firstName``: a person's first name."""
    last_name: str | None = None
    """``lastName``: a person's last name."""
    full_name: str | None = None
    """``fullName``: the full name (a company's name)."""
    organization_number: str | None = None
    """``organizationNumber``: a company's organisation number."""
    email: str | None = None
    """``email``: the debtor's e-mail address."""
    phone: str | None = None
    """``phone``: the debtor's phone number."""
    address: Address | None = None
    """``address``: the debtor's postal address."""


# -- batches ----------------------------------------------------------------------------------


class BatchRef(CamelModel):
    """What a create answers (202): the batch that will process the request."""

    batch_id: uuid.UUID
    """``batchId``: the batch that processes the request; poll it with
    ``client.collection.batches.get``."""
    batch_url: str | None = None
    """``batchUrl``: the batch's URL, as sent."""


class LegacyBatchStatus(Model):
    """The status object an older generation of the API sent as a batch's ``status``
    (``statuscode``, ``errors``, ``responses``), kept as sent."""

    statuscode: int | None = None
    """``statuscode``: the overall status code, as sent."""
    errors: list[dict[str, Any]] | None = None
    """``errors``: the refused objects, as decoded JSON."""
    responses: list[dict[str, Any]] | None = None
    """``responses``: the accepted objects, as decoded JSON."""


_FINISHED = frozenset({BatchStatus.SUCCESS, BatchStatus.PARTIAL, BatchStatus.FAILED})


class Batch(CamelModel):
    """A batch: the asynchronous processing of one create request."""

    batch_id: uuid.UUID | None = None
    """``batchId``: the batch's id."""
    type: BatchType | None = None
    """``type``: what the batch processes (``INVOICE``, ``PAYMENT``, ...; ``NONE``)."""
    status: BatchStatus | LegacyBatchStatus | None = None
    """``status``: ``QUEUED`` until processed, then ``SUCCESS``, ``PARTIAL`` or ``FAILED``. An older
    generation sent a [`LegacyBatchStatus`][amili_async.collection.LegacyBatchStatus]."""
    created_at: datetime.datetime | None = None
    """``createdAt``: when the batch was created."""
    finished_at: datetime.datetime | None = None
    """``finishedAt``: when processing finished; ``None`` while it runs."""
    organization_id: uuid.UUID | None = None
    """``organizationId``: the creditor organisation."""
    created_by: str | None = None
    """``createdBy``: who created the batch, as sent."""
    succeeded: RawItems = msgspec.field(default_factory=list)
    """``succeeded``: the items that went through, typed by ``$type``
    ([`InvoiceSuccess`][amili_async.collection.InvoiceSuccess], ...); unknown kinds are kept as
    [`UnknownBatchItem`][amili_async.collection.UnknownBatchItem]."""
    failed: RawItems = msgspec.field(default_factory=list)
    """``failed``: the items that were rejected, each with its ``reason``."""

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
    """``id``: the invoice's id (documented)."""
    organization: Organization | None = None
    """``organization``: the creditor organisation (documented)."""
    invoice_number: str | None = None
    """``invoiceNumber``: the creditor's invoice number (documented)."""
    collection_case_number: str | None = None
    """``collectionCaseNumber``: the case number at Amili (documented)."""
    type: InvoiceType | None = None
    """``type``: ``NOTICE``, ``PAYMENT_REMINDER``, ...; unknown values are kept (documented)."""
    status: InvoiceStatus | None = None
    """``status``: ``OPEN``, ``CLOSED``, ...; unknown values are kept (documented)."""
    created_at: datetime.datetime | None = None
    """``createdAt``: when the invoice was registered (documented)."""
    case_id: uuid.UUID | None = None
    """``caseId``: the collection case the invoice belongs to (assumed)."""
    unique_source_invoice_id: str | None = None
    """``uniqueSourceInvoiceId``: the ERP's own id of the invoice (assumed)."""
    customer_number: str | None = None
    """``customerNumber``: the creditor's customer number of the debtor (assumed)."""
    currency: str | None = None
    """``currency``: the currency of the amounts (assumed)."""
    original_invoice_amount: Money | None = None
    """``originalInvoiceAmount``: the amount invoiced (assumed)."""
    paid_amount: Money | None = None
    """``paidAmount``: how much has been paid (assumed)."""
    remaining_amount: Money | None = None
    """``remainingAmount``: how much is still owed (assumed)."""
    invoice_date: datetime.date | None = None
    """``invoiceDate``: the invoice date (assumed)."""
    due_date: datetime.date | None = None
    """``dueDate``: the due date (assumed)."""
    closed_at: datetime.datetime | None = None
    """``closedAt``: when the invoice was closed (assumed)."""
    description: str | None = None
    """``description``: what the invoice is for (assumed)."""


class Case(CamelModel):
    """A collection case (documented fields; ``invoices`` items assumed to be
    [`Invoice`][amili_async.collection.Invoice]s). ``case_number`` is the legacy API's
    ``casenumber`` as an integer."""

    case_id: uuid.UUID | None = None
    """``caseId``: the case's id."""
    case_number: int | None = None
    """``caseNumber``: Amili's case number (the legacy API's ``casenumber``)."""
    organization_id: uuid.UUID | None = None
    """``organizationId``: the creditor organisation."""
    creditor_id: uuid.UUID | None = None
    """``creditorId``: the creditor's id."""
    creditor_number: str | None = None
    """``creditorNumber``: the creditor's number, as sent."""
    status: CaseStatus | None = None
    """``status``: ``OPEN``, ``PAUSED``, ...; unknown values are kept."""
    sub_status: str | None = None
    """``subStatus``: a finer status, as sent."""
    type: CaseType | None = None
    """``type``: the collection stage of the case; unknown values are kept."""
    description: str | None = None
    """``description``: the case's description."""
    registered_at: datetime.datetime | None = None
    """``registeredAt``: when the case was registered."""
    closed_at: datetime.datetime | None = None
    """``closedAt``: when the case was closed; ``None`` while open."""
    case_token: str | None = None
    """``caseToken``: the case's token, as sent."""
    invoices: NullableList[Invoice] = msgspec.field(default_factory=list)
    """``invoices``: the case's invoices (assumed to be
    [`Invoice`][amili_async.collection.Invoice]s); empty when none."""
    debtors: NullableList[Debtor] = msgspec.field(default_factory=list)
    """``debtors``: who owes the case; empty when none."""

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
    """``type``: ``NOTICE`` or ``PAYMENT_REMINDER`` (seen); always sent."""
    invoice_number: str
    """``invoiceNumber``: your invoice number (seen)."""
    original_invoice_amount: Money
    """``originalInvoiceAmount``: the amount invoiced, sent as a JSON number with the digits given
    (seen)."""
    currency: str
    """``currency``: ``NOK`` (seen); always sent."""
    invoice_date: datetime.date | None = None
    """``invoiceDate``: the invoice date, sent as ``yyyy-MM-dd`` (seen)."""
    due_date: datetime.date | None = None
    """``dueDate``: the due date, sent as ``yyyy-MM-dd`` (seen)."""
    collection_notice_date: datetime.date | None = None
    """``collectionNoticeDate``: when a collection notice was sent, if one was (seen)."""
    unique_source_invoice_id: str | None = None
    """``uniqueSourceInvoiceId``: your ERP's own id of the invoice (seen)."""
    description: str | None = None
    """``description``: what the invoice is for (seen)."""
    vat: bool | None = None
    """``vat``: whether the amount includes VAT (seen)."""
    fees: bool | None = None
    """``fees``: whether fees may be added (seen)."""
    debtors: list[Debtor] = msgspec.field(default_factory=list)
    """``debtors``: who owes the invoice (assumed; sent only when given)."""


class NewPayment(CamelModel, omit_defaults=True):
    """One payment for ``payments.create`` (``invoice_id``, ``type``, ``amount``, ``currency``
    seen; ``payment_date`` and ``reference`` assumed)."""

    invoice_id: uuid.UUID | str
    """``invoiceId``: the invoice paid (seen)."""
    type: PaymentType | str
    """``type``: ``DIRECT_PAYMENT`` (seen; credits assumed)."""
    amount: Money
    """``amount``: the amount paid (seen)."""
    currency: str
    """``currency``: the currency of ``amount`` (seen)."""
    payment_date: datetime.date | None = None
    """``paymentDate``: when the debtor paid, sent as ``yyyy-MM-dd`` (assumed)."""
    reference: str | None = None
    """``reference``: your reference of the payment (assumed)."""


class NewCorrection(CamelModel, omit_defaults=True):
    """One correction for ``corrections.create`` (all fields seen): ``amount`` changes what the
    invoice is for (negative: a credit)."""

    invoice_id: uuid.UUID | str
    """``invoiceId``: the invoice corrected."""
    amount: Money
    """``amount``: the change of what the invoice is for (negative: a credit)."""
    currency: str
    """``currency``: the currency of ``amount``."""
    date: datetime.date | None = None
    """``date``: the correction's date, sent as ``yyyy-MM-dd``."""
    description: str | None = None
    """``description``: why the invoice is corrected."""
