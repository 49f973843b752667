"""Typed models of the legacy ``GET /webapi/api/Batch`` payload.

Design choices, all for exactness and speed on payloads of 100,000 cases:

* Attribute names are snake_case; the wire names (lowercase legacy names such as ``idnumber``, camelCase
  settlement names such as ``paymentAmount``) are mapped with msgspec's ``rename``/``field(name=...)``.
* Every field may be ``null`` or missing (a .NET server writes ``null`` freely), so scalars are
  ``T | None`` with a ``None`` default, and lists are empty rather than ``None``.
* Money is :class:`decimal.Decimal`, exactly as sent; timestamps are :class:`datetime.datetime` (a
  timestamp without an offset stays naive, as sent); documented UUIDs are :class:`uuid.UUID`.
* Structs derive from the bases in :mod:`amili_async.models.base` (frozen, ``gc=False``, the
  renaming rule): they never form reference cycles, and keeping millions of them out of the cyclic
  garbage collector is what makes decoding a large batch fast while an application holds the
  previous one.
* Unknown fields are ignored; unknown enum values decode (see :mod:`amili_async.models.enums`).
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from .base import CamelModel, LegacyModel, Model
from .enums import CollectionType, InvoiceStatus, InvoiceType, SettlementType

__all__ = [
    "Batch",
    "Case",
    "CaseHistory",
    "Contact",
    "Creditor",
    "Distribution",
    "Organization",
    "PaymentDetails",
    "Settlement",
    "SettlementInvoice",
]

if TYPE_CHECKING:
    # Type checkers see a plain list: the SDK never hands out ``None`` for a list field.
    NullableList = list
else:

    class _NullableListAlias:
        """At runtime ``NullableList[X]`` is ``list[X] | None``, so msgspec accepts a ``null`` list;
        ``__post_init__`` of the owning struct then replaces ``None`` with ``[]``."""

        def __getitem__(self, item: Any) -> Any:
            return list[item] | None

    NullableList = _NullableListAlias()


def require_finite(*amounts: decimal.Decimal | None) -> None:
    """Refuse NaN and infinite amounts (a JSON string such as ``"NaN"`` decodes to one): they
    poison every sum they enter. msgspec turns the ``ValueError`` into a ``DecodeError`` with the
    JSON path of the struct."""
    for amount in amounts:
        if amount is not None and not amount.is_finite():
            raise ValueError(f"an amount must be a finite number, not {amount}")


def replace_null_lists(struct: msgspec.Struct, *names: str) -> None:
    """Turn the ``None`` a JSON ``null`` left in ``NullableList`` fields into ``[]``."""
    for name in names:
        if getattr(struct, name) is None:
            msgspec.structs.force_setattr(struct, name, [])


_REPR_CREDITORS = 5

Money = decimal.Decimal
Timestamp = datetime.datetime


class Contact(LegacyModel):
    """A contact person of a creditor (``contact``) or its case handler at Amili (``casehandler``).

    The ``is_*`` flags say which mailings the contact receives.
    """

    full_name: str | None = None
    work_phone: str | None = None
    email: str | None = None
    is_invoice_query: bool | None = None
    is_remittance_report: bool | None = None
    is_order_confirmation: bool | None = None
    is_collection_list: bool | None = None
    is_web: bool | None = None


class Creditor(LegacyModel):
    """A creditor (client of Amili) of the sender.

    Attributes:
        id_number: The creditor's organisation number; the ``creditor_id`` of requests.
        last_settlement_id: Where settlement polling continues: the id of the last settlement in this
            response, or the cursor that was sent when the response holds none.
    """

    id_number: str | None = None
    parent_id_number: str | None = None
    only_debt_collection: bool | None = None
    vat_type: int | None = None
    full_name: str | None = None
    street: str | None = None
    city: str | None = None
    zip_code: str | None = None
    country_code: str | None = None
    bank_account_no: str | None = None
    contact: Contact | None = None
    case_handler: Contact | None = None
    source_id: int | None = None
    reminder_flow: int | None = None
    debt_collection_transfer: int | None = None
    invoice_archive: int | None = None
    has_foreign_debtors: bool | None = None
    has_foreign_currency: bool | None = None
    disabled: bool | None = None
    last_settlement_id: str | None = None


class CaseHistory(LegacyModel):
    """One event in a case's history (a reminder sent, a message, a document)."""

    type: int | None = None
    logged_at: Timestamp | None = None
    message: str | None = None
    subject: str | None = None
    conversation_id: str | None = None
    attachment_id: str | None = None


class PaymentDetails(CamelModel):
    """How the debtor pays the case: amount, account and KID (Norwegian payment reference)."""

    payment_value: Money | None = None
    currency: str | None = None
    kid: str | None = None
    bank_account: str | None = None
    due_date: Timestamp | None = None


class Case(LegacyModel):
    """A case: one invoice of the creditor under reminder or debt collection.

    Sums are ``principal + fee + interest``, each as ``original``, ``paid`` and ``remaining``.
    ``history`` is an empty list when the server sends none.
    """

    customer_ref: str | None = None
    customer_name: str | None = None
    ledger_ref: str | None = None
    reference_number: str | None = None
    case_number: str | None = None
    currency_code: str | None = None
    reg_date: Timestamp | None = None
    closure_date: Timestamp | None = None
    is_debt_collection: bool | None = None
    bill_date: Timestamp | None = None
    due_date: Timestamp | None = None
    original_sum: Money | None = None
    paid_sum: Money | None = None
    remaining_sum: Money | None = None
    original_principal: Money | None = None
    paid_principal: Money | None = None
    remaining_principal: Money | None = None
    original_fee: Money | None = None
    paid_fee: Money | None = None
    remaining_fee: Money | None = None
    original_interest: Money | None = None
    paid_interest: Money | None = None
    remaining_interest: Money | None = None
    service_description: str | None = msgspec.field(default=None, name="service_description")
    status_code: str | None = msgspec.field(default=None, name="status_statuscode")
    reminders: int | None = None
    debt_collection_list: int | None = None
    history: NullableList[CaseHistory] = msgspec.field(default_factory=list)
    payment_details: PaymentDetails | None = msgspec.field(default=None, name="paymentDetails")

    def __post_init__(self) -> None:
        # Inline rather than replace_null_lists(): this runs once per case, 100,000 times a batch.
        if self.history is None:
            msgspec.structs.force_setattr(self, "history", [])  # type: ignore[unreachable]
        details = self.payment_details  # checked here: one call per case less than its own
        require_finite(  # NaN or infinite money (a JSON string can carry one) is refused
            self.original_sum,
            self.paid_sum,
            self.remaining_sum,
            self.original_principal,
            self.paid_principal,
            self.remaining_principal,
            self.original_fee,
            self.paid_fee,
            self.remaining_fee,
            self.original_interest,
            self.paid_interest,
            self.remaining_interest,
            None if details is None else details.payment_value,
        )


class Distribution(CamelModel):
    """How one component of a payment is split: the part Amili keeps and the part paid to the
    creditor."""

    collector: Money | None = None
    creditor: Money | None = None

    def __post_init__(self) -> None:
        require_finite(self.collector, self.creditor)


class SettlementInvoice(CamelModel):
    """The invoice a settlement pays."""

    id: uuid.UUID | None = None
    invoice_number: str | None = None
    unique_source_invoice_id: str | None = None
    collection_case_number: str | None = None
    type: InvoiceType | None = None
    status: InvoiceStatus | None = None
    closure_date: Timestamp | None = None


class Organization(CamelModel):
    """The creditor organisation a settlement is paid to (``organization_number`` is its
    ``id_number``)."""

    id: uuid.UUID | None = None
    organization_number: str | None = None
    name: str | None = None


class Settlement(CamelModel):
    """One payout line to the creditor.

    Attributes:
        id: The settlement's id; the value to pass as ``last_settlement_id`` to continue after it.
        settlement_number: Grows by one per settlement of a creditor.
        payment_amount: The amount paid; equals the sum of the three distributions' parts.
    """

    id: uuid.UUID | None = None
    case_number: str | None = None
    collection_type: CollectionType | None = None
    currency: str | None = None
    customer_reference: str | None = None
    exchange_rate: decimal.Decimal | None = None
    fee_distribution: Distribution | None = None
    interest_distribution: Distribution | None = None
    invoice: SettlementInvoice | None = None
    ledger_ref: str | None = None
    organization: Organization | None = None
    payment_amount: Money | None = None
    principal_distribution: Distribution | None = None
    remittance_date: Timestamp | None = None
    settlement_date: Timestamp | None = None
    settlement_number: int | None = None
    settlement_type: SettlementType | None = None
    vat: Money | None = None

    def __post_init__(self) -> None:
        require_finite(self.payment_amount, self.exchange_rate, self.vat)


class Batch(Model):
    """The answer of ``GET /webapi/api/Batch``: creditors, their cases and their settlements.

    The lists are empty (never ``None``) when the server sends ``null`` or leaves them out.
    """

    batch_id: str | None = msgspec.field(default=None, name="batchid")
    offline: bool | None = None
    creditors: NullableList[Creditor] = msgspec.field(default_factory=list, name="creditor")
    cases: NullableList[Case] = msgspec.field(default_factory=list, name="case")
    settlements: NullableList[Settlement] = msgspec.field(default_factory=list, name="settlement")

    def __post_init__(self) -> None:
        replace_null_lists(self, "creditors", "cases", "settlements")

    def __repr__(self) -> str:
        # A batch can hold 100,000 cases: say what is in it, not all of it.
        ids = [c.id_number for c in self.creditors[:_REPR_CREDITORS]]
        more = len(self.creditors) - len(ids)
        shown = ", ".join(repr(i) for i in ids) + (f", ... {more} more" if more > 0 else "")
        return (
            f"Batch(batch_id={self.batch_id!r}, creditors={len(self.creditors)} [{shown}], "
            f"cases={len(self.cases)}, settlements={len(self.settlements)})"
        )

    def creditor(self, creditor_id: str) -> Creditor | None:
        """The creditor with this ``id_number``, or ``None``."""
        return next((c for c in self.creditors if c.id_number == creditor_id), None)

    def has_creditor(self, creditor_id: str) -> bool:
        """Whether the batch holds the creditor with this ``id_number``. ``False`` for a batch
        fetched with ``creditor_id=X`` means the server does not know X for this sender (a
        typo?): its empty lists are not "nothing new"."""
        return self.creditor(creditor_id) is not None
