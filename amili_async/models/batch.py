"""Typed models of the legacy ``GET /webapi/api/Batch`` payload.

Design choices, all for exactness and speed on payloads of 100,000 cases:

* Attribute names are snake_case; the wire names (lowercase legacy names such as ``idnumber``, camelCase
  settlement names such as ``paymentAmount``) are mapped with msgspec's ``rename``/``field(name=...)``.
* Every field may be ``null`` or missing (a .NET server writes ``null`` freely), so scalars are
  ``T | None`` with a ``None`` default, and lists are empty rather than ``None``.
* Money is ``decimal.Decimal``, exactly as sent; timestamps are ``datetime.datetime`` (a
  timestamp without an offset stays naive, as sent); documented UUIDs are ``uuid.UUID``.
* Structs derive from the bases in ``amili_async.models.base`` (frozen, ``gc=False``, the
  renaming rule): they never form reference cycles, and keeping millions of them out of the cyclic
  garbage collector is what makes decoding a large batch fast while an application holds the
  previous one.
* Unknown fields are ignored; unknown enum values decode (see [`OpenEnum`][amili_async.OpenEnum]).
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
    """A list field: a JSON ``null`` or a missing list becomes ``[]``, never ``None``."""
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
"""Every amount: a ``decimal.Decimal``, exactly as sent (``4500.10`` is ``Decimal("4500.10")``);
NaN and infinite amounts are refused with a ``DecodeError``."""
Timestamp = datetime.datetime
"""Every timestamp: a ``datetime.datetime``; one sent without an offset stays naive, as sent."""


class Contact(LegacyModel):
    """A contact person of a creditor (``contact``) or its case handler at Amili (``casehandler``).

    The ``is_*`` flags say which mailings the contact receives.
    """

    full_name: str | None = None
    """``fullname``: the contact's full name."""
    work_phone: str | None = None
    """``workphone``: the contact's work phone number, as sent."""
    email: str | None = None
    """``email``: the contact's e-mail address."""
    is_invoice_query: bool | None = None
    """``isinvoicequery``: whether the contact answers queries about invoices."""
    is_remittance_report: bool | None = None
    """``isremittancereport``: whether the contact receives remittance (payout) reports."""
    is_order_confirmation: bool | None = None
    """``isorderconfirmation``: whether the contact receives order confirmations."""
    is_collection_list: bool | None = None
    """``iscollectionlist``: whether the contact receives the lists of cases proposed for debt
    collection."""
    is_web: bool | None = None
    """``isweb``: whether the contact has access to Amili's web portal."""


class Creditor(LegacyModel):
    """A creditor (client of Amili) of the sender."""

    id_number: str | None = None
    """``idnumber``: the creditor's organisation number; the ``creditor_id`` of requests."""
    parent_id_number: str | None = None
    """``parentidnumber``: the organisation number of the parent creditor, for a creditor that is a
    unit of another."""
    only_debt_collection: bool | None = None
    """``onlydebtcollection``: whether Amili handles only debt collection for this creditor (no
    reminders)."""
    vat_type: int | None = None
    """``vattype``: the creditor's VAT code (the meaning of the integer codes is not published)."""
    full_name: str | None = None
    """``fullname``: the creditor's name."""
    street: str | None = None
    """``street``: street address."""
    city: str | None = None
    """``city``: postal town."""
    zip_code: str | None = None
    """``zipcode``: postal code."""
    country_code: str | None = None
    """``countrycode``: country code (``NO``)."""
    bank_account_no: str | None = None
    """``bankaccountno``: the bank account settlements are paid to."""
    contact: Contact | None = None
    """``contact``: the creditor's contact person."""
    case_handler: Contact | None = None
    """``casehandler``: the creditor's case handler at Amili."""
    source_id: int | None = None
    """``sourceid``: the integration (ERP) the creditor's data comes from (codes not published)."""
    reminder_flow: int | None = None
    """``reminderflow``: the creditor's reminder flow, probably the ERP's reminder-flow codes 10-80
    (not published)."""
    debt_collection_transfer: int | None = None
    """``debtcollectiontransfer``: how cases move to debt collection (codes not published)."""
    invoice_archive: int | None = None
    """``invoicearchive``: the creditor's invoice-archive setting (codes not published)."""
    has_foreign_debtors: bool | None = None
    """``hasforeigndebtors``: whether the creditor has debtors abroad."""
    has_foreign_currency: bool | None = None
    """``hasforeigncurrency``: whether the creditor invoices in currencies other than NOK."""
    disabled: bool | None = None
    """``disabled``: whether the creditor is disabled at Amili."""
    last_settlement_id: str | None = None
    """``lastsettlementid``: where settlement polling continues: the id of the last settlement in
    this response, or the cursor that was sent when the response holds none."""


class CaseHistory(LegacyModel):
    """One event in a case's history (a reminder sent, a message, a document)."""

    type: int | None = None
    """``type``: the kind of event (integer codes, not published)."""
    logged_at: Timestamp | None = None
    """``loggedat``: when the event was logged; naive when sent without an offset."""
    message: str | None = None
    """``message``: the event's text, in the request's ``language_code``."""
    subject: str | None = None
    """``subject``: the subject of a message."""
    conversation_id: str | None = None
    """``conversationid``: the conversation a message belongs to."""
    attachment_id: str | None = None
    """``attachmentid``: the id of a document attached to the event; fetch it with
    [`AmiliClient.get_attachment`][amili_async.AmiliClient.get_attachment]."""


class PaymentDetails(CamelModel):
    """How the debtor pays the case: amount, account and KID (Norwegian payment reference)."""

    payment_value: Money | None = None
    """``paymentValue``: the amount the debtor is asked to pay, exactly as sent."""
    currency: str | None = None
    """``currency``: the currency of ``payment_value`` (``NOK``)."""
    kid: str | None = None
    """``kid``: the KID (Norwegian payment reference, MOD10 or MOD11 check digit) to pay with."""
    bank_account: str | None = None
    """``bankAccount``: the account to pay to."""
    due_date: Timestamp | None = None
    """``dueDate``: when the payment is due."""


class Case(LegacyModel):
    """A case: one invoice of the creditor under reminder or debt collection.

    Sums are ``principal + fee + interest``, each as ``original``, ``paid`` and ``remaining``.
    ``history`` is an empty list when the server sends none.
    """

    customer_ref: str | None = None
    """``customerref``: the creditor's customer number of the debtor."""
    customer_name: str | None = None
    """``customername``: the debtor's name."""
    ledger_ref: str | None = None
    """``ledgerref``: the invoice's reference in the creditor's ledger."""
    reference_number: str | None = None
    """``referencenumber``: the payment reference (KID) of the invoice."""
    case_number: str | None = None
    """``casenumber``: Amili's case number."""
    currency_code: str | None = None
    """``currencycode``: the currency of the sums (``NOK``)."""
    reg_date: Timestamp | None = None
    """``regdate``: when the case was registered at Amili."""
    closure_date: Timestamp | None = None
    """``closuredate``: when the case was closed; ``None`` while it is open."""
    is_debt_collection: bool | None = None
    """``isdebtcollection``: whether the case is in debt collection (else it is at the reminder
    stage)."""
    bill_date: Timestamp | None = None
    """``billdate``: the invoice date."""
    due_date: Timestamp | None = None
    """``duedate``: the invoice's due date."""
    original_sum: Money | None = None
    """``originalsum``: the case's total as registered: principal + fee + interest."""
    paid_sum: Money | None = None
    """``paidsum``: how much of the total has been paid."""
    remaining_sum: Money | None = None
    """``remainingsum``: how much of the total is still owed."""
    original_principal: Money | None = None
    """``originalprincipal``: the invoice amount as registered."""
    paid_principal: Money | None = None
    """``paidprincipal``: how much of the principal has been paid."""
    remaining_principal: Money | None = None
    """``remainingprincipal``: how much of the principal is still owed."""
    original_fee: Money | None = None
    """``originalfee``: the reminder and collection fees charged."""
    paid_fee: Money | None = None
    """``paidfee``: how much of the fees has been paid."""
    remaining_fee: Money | None = None
    """``remainingfee``: how much of the fees is still owed."""
    original_interest: Money | None = None
    """``originalinterest``: the late-payment interest charged."""
    paid_interest: Money | None = None
    """``paidinterest``: how much of the interest has been paid."""
    remaining_interest: Money | None = None
    """``remaininginterest``: how much of the interest is still owed."""
    service_description: str | None = msgspec.field(default=None, name="service_description")
    """``service_description``: what the invoice was for."""
    status_code: str | None = msgspec.field(default=None, name="status_statuscode")
    """``status_statuscode``: the case's status code, as sent."""
    reminders: int | None = None
    """``reminders``: how many reminders have been sent."""
    debt_collection_list: int | None = None
    """``debtcollectionlist``: the debt-collection list the case is on (codes not published)."""
    history: NullableList[CaseHistory] = msgspec.field(default_factory=list)
    """``history``: the case's events, oldest first; empty when the server sends none."""
    payment_details: PaymentDetails | None = msgspec.field(default=None, name="paymentDetails")
    """``paymentDetails``: how the debtor pays the case."""

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
    """``collector``: the part Amili keeps."""
    creditor: Money | None = None
    """``creditor``: the part paid to the creditor."""

    def __post_init__(self) -> None:
        require_finite(self.collector, self.creditor)


class SettlementInvoice(CamelModel):
    """The invoice a settlement pays."""

    id: uuid.UUID | None = None
    """``id``: the invoice's id."""
    invoice_number: str | None = None
    """``invoiceNumber``: the invoice's number at the creditor."""
    unique_source_invoice_id: str | None = None
    """``uniqueSourceInvoiceId``: the ERP's own id of the invoice."""
    collection_case_number: str | None = None
    """``collectionCaseNumber``: the case number at Amili."""
    type: InvoiceType | None = None
    """``type``: the invoice's stage (``REMINDER``, ``NOTICE``, ...); unknown values are kept."""
    status: InvoiceStatus | None = None
    """``status``: the invoice's status (``OPEN``, ``CLOSED``, ...); unknown values are kept."""
    closure_date: Timestamp | None = None
    """``closureDate``: when the invoice was closed; ``None`` while it is open."""


class Organization(CamelModel):
    """The creditor organisation a settlement is paid to (``organization_number`` is its
    ``id_number``)."""

    id: uuid.UUID | None = None
    """``id``: Amili's id of the organisation (the Collection API's ``organizationId``)."""
    organization_number: str | None = None
    """``organizationNumber``: the organisation number (the legacy API's ``idnumber``)."""
    name: str | None = None
    """``name``: the organisation's name."""


class Settlement(CamelModel):
    """One payout line to the creditor."""

    id: uuid.UUID | None = None
    """``id``: the settlement's id; the value to pass as ``last_settlement_id`` to continue after
    it."""
    case_number: str | None = None
    """``caseNumber``: the case the payment was made on."""
    collection_type: CollectionType | None = None
    """``collectionType``: the collection stage that produced the payment (``REMINDER``,
    ``DEBT_COLLECTION``, ...)."""
    currency: str | None = None
    """``currency``: the currency of the amounts (``NOK``)."""
    customer_reference: str | None = None
    """``customerReference``: the creditor's customer number of the debtor."""
    exchange_rate: decimal.Decimal | None = None
    """``exchangeRate``: the exchange rate applied for a foreign-currency payment."""
    fee_distribution: Distribution | None = None
    """``feeDistribution``: how the fee part of the payment is split between Amili and the creditor.
    """
    interest_distribution: Distribution | None = None
    """``interestDistribution``: how the interest part of the payment is split."""
    invoice: SettlementInvoice | None = None
    """``invoice``: the invoice the settlement pays."""
    ledger_ref: str | None = None
    """``ledgerRef``: the invoice's reference in the creditor's ledger."""
    organization: Organization | None = None
    """``organization``: the creditor organisation the settlement is paid to."""
    payment_amount: Money | None = None
    """``paymentAmount``: the amount paid; equals the sum of the three distributions' parts."""
    principal_distribution: Distribution | None = None
    """``principalDistribution``: how the principal part of the payment is split."""
    remittance_date: Timestamp | None = None
    """``remittanceDate``: when the money is paid out to the creditor."""
    settlement_date: Timestamp | None = None
    """``settlementDate``: when the payment was settled."""
    settlement_number: int | None = None
    """``settlementNumber``: grows by one per settlement of a creditor; the order settlements are
    walked in."""
    settlement_type: SettlementType | None = None
    """``settlementType``: the kind of settlement (``COLLECTOR_PAYMENT``, ...)."""
    vat: Money | None = None
    """``vat``: the VAT on Amili's part."""

    def __post_init__(self) -> None:
        require_finite(self.payment_amount, self.exchange_rate, self.vat)


class Batch(Model):
    """The answer of ``GET /webapi/api/Batch``: creditors, their cases and their settlements.

    The lists are empty (never ``None``) when the server sends ``null`` or leaves them out.
    """

    batch_id: str | None = msgspec.field(default=None, name="batchid")
    """``batchid``: the batch's id."""
    offline: bool | None = None
    """``offline``: sent by the service; its meaning is not published."""
    creditors: NullableList[Creditor] = msgspec.field(default_factory=list, name="creditor")
    """``creditor``: the creditors in the answer; empty (never ``None``) when the server sends
    ``null`` or none."""
    cases: NullableList[Case] = msgspec.field(default_factory=list, name="case")
    """``case``: their cases; empty when none."""
    settlements: NullableList[Settlement] = msgspec.field(default_factory=list, name="settlement")
    """``settlement``: their settlements, oldest first; empty when none."""

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
