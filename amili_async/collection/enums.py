"""Forward-compatible enums of the Collection API (unknown values decode, see
[`OpenEnum`][amili_async.models.OpenEnum]).

The listed values are the ones seen in Amili's docs plus the ones the SDK assumes (marked below);
the server may send others, which decode as pseudo-members whose ``is_known`` is ``False``.
"""

from __future__ import annotations

from ..models.enums import InvoiceStatus, InvoiceType, OpenEnum

__all__ = [
    "BatchStatus",
    "BatchType",
    "CaseStatus",
    "CaseType",
    "DebtorType",
    "InvoiceStatus",
    "InvoiceType",
    "PaymentType",
    "SortDirection",
]


class BatchStatus(OpenEnum):
    """A batch's ``status``. ``QUEUED``, ``SUCCESS``, ``PARTIAL`` and ``FAILED`` are documented;
    ``PROCESSING`` is assumed."""

    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


class BatchType(OpenEnum):
    """What a batch carries. ``NONE`` and ``INVOICE`` are documented; the others assumed."""

    NONE = "NONE"
    INVOICE = "INVOICE"
    PAYMENT = "PAYMENT"
    CORRECTION = "CORRECTION"


class CaseStatus(OpenEnum):
    """A case's ``status``. ``OPEN`` and ``PAUSED`` are documented; the others assumed."""

    OPEN = "OPEN"
    PAUSED = "PAUSED"
    CLOSED = "CLOSED"
    WITHDRAWN = "WITHDRAWN"


class CaseType(OpenEnum):
    """A case's ``type``: the collection stage (assumed to mirror the settlements'
    ``collectionType``)."""

    REMINDER = "REMINDER"
    DEBT_COLLECTION = "DEBT_COLLECTION"


class DebtorType(OpenEnum):
    """A debtor's ``type``: a person or a company (assumed)."""

    PRIVATE = "PRIVATE"
    COMPANY = "COMPANY"


class PaymentType(OpenEnum):
    """A payment's ``type``. ``DIRECT_PAYMENT`` (the debtor paid the creditor directly) is
    documented; ``CREDIT`` is assumed."""

    DIRECT_PAYMENT = "DIRECT_PAYMENT"
    CREDIT = "CREDIT"


class SortDirection(OpenEnum):
    """The ``SortDirection`` of ``batches.list`` (by creation time; assumed values)."""

    ASC = "ASC"
    DESC = "DESC"
