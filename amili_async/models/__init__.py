"""Typed models of the Amili AutoCollect API, and their decoders."""

from .batch import (
    Batch,
    Case,
    CaseHistory,
    Contact,
    Creditor,
    Distribution,
    Organization,
    PaymentDetails,
    Settlement,
    SettlementInvoice,
)
from .decoding import decode_batch
from .documents import (
    BatchDocument,
    BatchResult,
    BatchResultError,
    BatchResultResponse,
    CaseMessage,
    NewCase,
    NewCredit,
    NewPayment,
)
from .enums import CollectionType, InvoiceStatus, InvoiceType, OpenEnum, SettlementType

__all__ = [
    "Batch",
    "BatchDocument",
    "BatchResult",
    "BatchResultError",
    "BatchResultResponse",
    "Case",
    "CaseHistory",
    "CaseMessage",
    "CollectionType",
    "Contact",
    "Creditor",
    "Distribution",
    "InvoiceStatus",
    "InvoiceType",
    "NewCase",
    "NewCredit",
    "NewPayment",
    "OpenEnum",
    "Organization",
    "PaymentDetails",
    "Settlement",
    "SettlementInvoice",
    "SettlementType",
    "decode_batch",
]
