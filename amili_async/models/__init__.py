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
from .enums import CollectionType, InvoiceStatus, InvoiceType, OpenEnum, SettlementType

__all__ = [
    "Batch",
    "Case",
    "CaseHistory",
    "CollectionType",
    "Contact",
    "Creditor",
    "Distribution",
    "InvoiceStatus",
    "InvoiceType",
    "OpenEnum",
    "Organization",
    "PaymentDetails",
    "Settlement",
    "SettlementInvoice",
    "SettlementType",
    "decode_batch",
]
