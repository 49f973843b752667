"""The Collection API (``/collection/v1``): models, pages and the paginator.

Reach the operations through ``client.collection`` (one attribute per resource); the types they
take and return live here.
"""

from .enums import (
    BatchStatus,
    BatchType,
    CaseStatus,
    CaseType,
    DebtorType,
    InvoiceStatus,
    InvoiceType,
    PaymentType,
    SortDirection,
)
from .items import (
    BatchItem,
    CorrectionFailure,
    CorrectionSuccess,
    InvoiceFailure,
    InvoiceSuccess,
    PaymentFailure,
    PaymentSuccess,
    UnknownBatchItem,
)
from .models import (
    Address,
    Batch,
    BatchRef,
    Case,
    Debtor,
    Envelope,
    Invoice,
    LegacyBatchStatus,
    NewCorrection,
    NewInvoice,
    NewPayment,
    Organization,
    Page,
    Settlement,
    Summary,
)
from .pagination import AsyncPaginator, FetchPage

__all__ = [
    "Address",
    "AsyncPaginator",
    "Batch",
    "BatchItem",
    "BatchRef",
    "BatchStatus",
    "BatchType",
    "Case",
    "CaseStatus",
    "CaseType",
    "CorrectionFailure",
    "CorrectionSuccess",
    "Debtor",
    "DebtorType",
    "Envelope",
    "FetchPage",
    "Invoice",
    "InvoiceFailure",
    "InvoiceStatus",
    "InvoiceSuccess",
    "InvoiceType",
    "LegacyBatchStatus",
    "NewCorrection",
    "NewInvoice",
    "NewPayment",
    "Organization",
    "Page",
    "PaymentFailure",
    "PaymentSuccess",
    "PaymentType",
    "Settlement",
    "SortDirection",
    "Summary",
    "UnknownBatchItem",
]
