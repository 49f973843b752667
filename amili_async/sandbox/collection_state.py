"""The sandbox's Collection API semantics, over the same data as the legacy API.

One state behind both APIs: an organisation is a legacy creditor (its id is the ``organization.id``
on that creditor's legacy settlements), an invoice and its case are a legacy case, and the
Collection settlements are the legacy ledger. Rules the real API does not publish are the
sandbox's assumptions, written where they are applied:

* ids: an invoice's id is the ``invoice.id`` its legacy settlements carry (``uuid5(org id,
  casenumber)``), a case's id is ``uuid5(org id, "case/" + casenumber)``, ``caseNumber`` is the
  legacy ``casenumber`` as an integer;
* statuses: a case or invoice is ``CLOSED`` once its legacy case has a ``closuredate`` (paid in
  full), ``WITHDRAWN`` after a withdraw, ``PAUSED`` between pause and resume, else ``OPEN``; pause
  needs ``OPEN``, resume ``PAUSED``, withdraw anything not closed (else 409);
* batches: a create answers 202 with the batch ``QUEUED``; ``batch_delay`` seconds later every item
  is processed in order and the batch becomes ``SUCCESS`` (all went through), ``FAILED`` (none) or
  ``PARTIAL``, each failed item with its ``reason``;
* an invoice fails without an ``invoiceNumber``, with an ``originalInvoiceAmount`` that is not
  above zero or has more than two decimals, or when the legacy rules refuse the case (an
  ``invoiceNumber`` the organisation already used); it becomes a legacy case (``ledgerref`` =
  ``invoiceNumber``, ``customerref`` / ``customername`` from the first debtor);
* a payment lowers what is owed (principal, then interest, then fee) and closes the case when
  nothing is left (legacy status ``PAID``); it fails for an unknown invoice, an amount not above
  zero, another currency, more than is owed, or a closed or withdrawn invoice;
* a correction changes the invoice's principal by ``amount`` (negative: a credit note); it fails
  for an amount of zero or one that would leave less than nothing owed;
* idempotency: a create with an ``IdempotencyKey`` header already used by the organisation returns
  the first batch when the body is the same, and is a conflict (409) otherwise.

Not thread-safe: one event loop owns it, like the legacy state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from .generator import EPOCH, Json, midnight, milliseconds, timestamp
from .state import SandboxState

__all__ = [
    "BATCH_KINDS",
    "CollectionState",
    "ConflictError",
    "NotFoundError",
    "SandboxBatch",
]

BATCH_KINDS: Final = {"invoices": "INVOICE", "payments": "PAYMENT", "corrections": "CORRECTION"}
_FINISHED: Final = ("SUCCESS", "PARTIAL", "FAILED")
_CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal("0.00")


class NotFoundError(LookupError):
    """No such organisation, batch, invoice, case or settlement (404)."""


class ConflictError(ValueError):
    """The request conflicts with the state: a reused idempotency key, a wrong case action (409)."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclasses.dataclass
class SandboxBatch:
    """One batch: a create request and, once processed, what became of each item."""

    id: str
    organization_id: str
    creditor_id: str
    kind: str  # "invoices", "payments", "corrections"
    items: list[Any]
    created_at: datetime.datetime
    created_by: str | None
    idempotency_key: str | None
    digest: str
    due: float  # loop time when it is processed
    status: str = "QUEUED"
    finished_at: datetime.datetime | None = None
    succeeded: list[Json] = dataclasses.field(default_factory=list)
    failed: list[Json] = dataclasses.field(default_factory=list)
    subjects: set[str] = dataclasses.field(default_factory=set)  # invoice and case ids touched
    handle: asyncio.TimerHandle | None = None

    def to_json(self) -> Json:
        return {
            "batchId": self.id,
            "type": BATCH_KINDS[self.kind],
            "status": self.status,
            "createdAt": _iso(self.created_at),
            "finishedAt": _iso(self.finished_at) if self.finished_at else None,
            "organizationId": self.organization_id,
            "createdBy": self.created_by,
            "succeeded": self.succeeded,
            "failed": self.failed,
        }


@dataclasses.dataclass
class _Extra:
    """What the Collection API knows of a case beyond its legacy fields."""

    status: str | None = None  # PAUSED / WITHDRAWN; None: follows the legacy case
    paused_from: str | None = None  # the legacy status to restore on resume
    invoice_type: str | None = None
    unique_source_invoice_id: str | None = None
    original_amount: Decimal | None = None  # exactly as sent
    debtors: list[Json] | None = None


class CollectionState:
    """The Collection API over a [`SandboxState`][amili_async.sandbox.SandboxState].

    Attributes:
        batch_delay: Seconds from a create to its batch being processed.
        on_batch_completed: Called with the batch's JSON when a batch finishes (the webhooks'
            ``BATCH_COMPLETED``).
    """

    def __init__(self, state: SandboxState, *, batch_delay: float = 0.2) -> None:
        self.state = state
        self.batch_delay = batch_delay
        self.on_batch_completed: Callable[[Json], None] | None = None
        self._orgs: dict[str, str] = {}  # organisation id -> creditor id
        self._extra: dict[str, _Extra] = {}  # case id -> extra
        self._index: dict[str, tuple[int, dict[str, Json]]] = {}  # creditor -> (cases, by id)
        self._batches: dict[str, SandboxBatch] = {}
        self._keys: dict[tuple[str, str], SandboxBatch] = {}

    def close(self) -> None:
        """Cancel the processing still scheduled."""
        for batch in self._batches.values():
            if batch.handle is not None:
                batch.handle.cancel()

    # -- organisations ----------------------------------------------------------------------

    def organization_id(self, creditor_id: str) -> str:
        """The organisation id of a legacy creditor."""
        return str(self.state.creditor_record(creditor_id)["_organization_id"])

    def creditor_of(self, org_id: str) -> str:
        """The legacy creditor of an organisation.

        Raises:
            NotFoundError: no such organisation.
        """
        key = org_id.lower()
        if key not in self._orgs:
            self._orgs = {self.organization_id(c): c for c in self.state.creditor_ids}
        if key not in self._orgs:
            raise NotFoundError(f"no organisation {org_id!r}")
        return self._orgs[key]

    def _organization(self, creditor_id: str) -> Json:
        record = self.state.creditor_record(creditor_id)
        return {
            "id": record["_organization_id"],
            "organizationNumber": record["idnumber"],
            "name": record["fullname"],
        }

    # -- invoices and cases -----------------------------------------------------------------

    def _ids(self, creditor_id: str, case: Json) -> tuple[str, str]:
        org = uuid.UUID(self.organization_id(creditor_id))
        number = case["casenumber"]
        return str(uuid.uuid5(org, number)), str(uuid.uuid5(org, f"case/{number}"))

    def _by_id(self, creditor_id: str) -> dict[str, Json]:
        """The creditor's cases by invoice id and by case id (rebuilt when cases were added)."""
        cases = self.state.cases(creditor_id)
        count, index = self._index.get(creditor_id, (-1, {}))
        if count != len(cases):
            index = {}
            for case in cases:
                invoice_id, case_id = self._ids(creditor_id, case)
                index[invoice_id] = index[case_id] = case
            self._index[creditor_id] = (len(cases), index)
        return index

    def _case(self, creditor_id: str, some_id: str) -> Json:
        case = self._by_id(creditor_id).get(some_id.lower())
        if case is None:
            raise NotFoundError(f"no invoice or case {some_id!r} in this organisation")
        return case

    def _status(self, case_id: str, case: Json) -> str:
        extra = self._extra.get(case_id)
        if extra is not None and extra.status == "WITHDRAWN":
            return "WITHDRAWN"
        if case["closuredate"]:
            return "CLOSED"
        return extra.status if extra is not None and extra.status else "OPEN"

    def invoice_json(self, creditor_id: str, case: Json) -> Json:
        invoice_id, case_id = self._ids(creditor_id, case)
        extra = self._extra.get(case_id) or _Extra()
        idnumber = self.state.creditor_record(creditor_id)["idnumber"]
        return {
            "id": invoice_id,
            "organization": self._organization(creditor_id),
            "invoiceNumber": case["ledgerref"],
            "collectionCaseNumber": case["casenumber"],
            "type": extra.invoice_type or "REMINDER",
            "status": self._status(case_id, case),
            "createdAt": case["regdate"],
            "caseId": case_id,
            "uniqueSourceInvoiceId": extra.unique_source_invoice_id
            or f"{idnumber}-{case['ledgerref']}",
            "customerNumber": case["customerref"],
            "currency": case["currencycode"],
            "originalInvoiceAmount": extra.original_amount
            if extra.original_amount is not None
            else case["originalprincipal"],
            "paidAmount": case["paidsum"],
            "remainingAmount": case["remainingsum"],
            "invoiceDate": (case["billdate"] or "")[:10] or None,
            "dueDate": (case["duedate"] or "")[:10] or None,
            "closedAt": case["closuredate"],
            "description": case["service_description"],
        }

    def case_json(self, creditor_id: str, case: Json) -> Json:
        _, case_id = self._ids(creditor_id, case)
        extra = self._extra.get(case_id) or _Extra()
        name = case["customername"] or ""
        debtors = extra.debtors or [
            {
                "type": "COMPANY" if name.endswith(" AS") else "PRIVATE",
                "customerNumber": case["customerref"],
                "fullName": case["customername"],
            }
        ]
        return {
            "caseId": case_id,
            "caseNumber": int(case["casenumber"]),
            "organizationId": self.organization_id(creditor_id),
            "creditorId": self.organization_id(creditor_id),
            "creditorNumber": self.state.creditor_record(creditor_id)["idnumber"],
            "status": self._status(case_id, case),
            "subStatus": case["status_statuscode"],
            "type": "DEBT_COLLECTION" if case["isdebtcollection"] else "REMINDER",
            "description": case["service_description"],
            "registeredAt": case["regdate"],
            "closedAt": case["closuredate"],
            "caseToken": (case.get("paymentDetails") or {}).get("kid"),
            "invoices": [self.invoice_json(creditor_id, case)],
            "debtors": debtors,
        }

    def invoices(self, org_id: str) -> list[Json]:
        creditor_id = self.creditor_of(org_id)
        return [self.invoice_json(creditor_id, case) for case in self.state.cases(creditor_id)]

    def invoice(self, org_id: str, invoice_id: str) -> Json:
        creditor_id = self.creditor_of(org_id)
        return self.invoice_json(creditor_id, self._case(creditor_id, invoice_id))

    def cases(self, org_id: str) -> list[Json]:
        creditor_id = self.creditor_of(org_id)
        return [self.case_json(creditor_id, case) for case in self.state.cases(creditor_id)]

    def act(self, org_id: str, some_id: str, action: str) -> None:
        """``pause``, ``resume`` or ``withdraw`` the case of an invoice or case id.

        Raises:
            NotFoundError: no such invoice or case (or action).
            ConflictError: the case is not in a state the action applies to.
        """
        creditor_id = self.creditor_of(org_id)
        case = self._case(creditor_id, some_id)
        _, case_id = self._ids(creditor_id, case)
        extra = self._extra.setdefault(case_id, _Extra())
        status = self._status(case_id, case)
        if action == "pause" and status == "OPEN":
            extra.status, extra.paused_from = "PAUSED", case["status_statuscode"]
            self.state.update_case(creditor_id, case, {"status_statuscode": "PAUSED"})
        elif action == "resume" and status == "PAUSED":
            restored = extra.paused_from or "REGISTERED"
            extra.status, extra.paused_from = None, None
            self.state.update_case(creditor_id, case, {"status_statuscode": restored})
        elif action == "withdraw" and status in ("OPEN", "PAUSED"):
            extra.status = "WITHDRAWN"
            now = timestamp(milliseconds(_now()))
            self.state.update_case(
                creditor_id, case, {"status_statuscode": "WITHDRAWN", "closuredate": now}
            )
        elif action not in ("pause", "resume", "withdraw"):
            raise NotFoundError(f"no action {action!r}")
        else:
            raise ConflictError(f"cannot {action} a case that is {status}")

    # -- settlements ------------------------------------------------------------------------

    def settlements(self, org_id: str) -> list[Json]:
        """The organisation's settlements: its creditor's legacy ledger, in order."""
        return self.state.ledger(self.creditor_of(org_id))

    def settlement(self, org_id: str, settlement_id: str) -> Json:
        wanted = settlement_id.lower()
        for settlement in self.state.ledger(self.creditor_of(org_id)):
            if settlement["id"] == wanted:
                return settlement
        raise NotFoundError(f"no settlement {settlement_id!r} in this organisation")

    # -- batches ----------------------------------------------------------------------------

    def batches(self, org_id: str) -> list[SandboxBatch]:
        creditor_id = self.creditor_of(org_id)
        found = [b for b in self._batches.values() if b.creditor_id == creditor_id]
        for batch in found:
            self._finish_if_due(batch)
        return found

    def batch(self, org_id: str, batch_id: str) -> SandboxBatch:
        creditor_id = self.creditor_of(org_id)
        batch = self._batches.get(batch_id.lower())
        if batch is None or batch.creditor_id != creditor_id:
            raise NotFoundError(f"no batch {batch_id!r} in this organisation")
        self._finish_if_due(batch)
        return batch

    def create(
        self,
        org_id: str,
        kind: str,
        items: list[Any],
        *,
        idempotency_key: str | None = None,
        created_by: str | None = None,
    ) -> tuple[SandboxBatch, bool]:
        """Queue a batch of ``kind`` (``invoices``, ``payments``, ``corrections``); returns it and
        whether it is new (``False``: the same idempotency key and body were sent before).

        Raises:
            NotFoundError: no such organisation.
            ConflictError: the key was used before with another body.
        """
        creditor_id = self.creditor_of(org_id)
        digest = hashlib.sha256(
            json.dumps([kind, items], sort_keys=True, default=str).encode()
        ).hexdigest()
        if idempotency_key:
            earlier = self._keys.get((creditor_id, idempotency_key))
            if earlier is not None:
                if earlier.digest != digest:
                    raise ConflictError(
                        f"IdempotencyKey {idempotency_key!r} was used with another request"
                    )
                return earlier, False
        loop = asyncio.get_running_loop()
        batch = SandboxBatch(
            id=str(uuid.uuid4()),
            organization_id=self.organization_id(creditor_id),
            creditor_id=creditor_id,
            kind=kind,
            items=items,
            created_at=_now(),
            created_by=created_by,
            idempotency_key=idempotency_key or None,
            digest=digest,
            due=loop.time() + self.batch_delay,
        )
        batch.handle = loop.call_later(self.batch_delay, self._finish_if_due, batch)
        self._batches[batch.id] = batch
        if idempotency_key:
            self._keys[(creditor_id, idempotency_key)] = batch
        return batch, True

    def _finish_if_due(self, batch: SandboxBatch) -> None:
        if batch.status != "QUEUED" or asyncio.get_running_loop().time() < batch.due:
            return
        if batch.handle is not None:
            batch.handle.cancel()
            batch.handle = None
        process = {
            "invoices": self._process_invoice,
            "payments": self._process_payment,
            "corrections": self._process_correction,
        }[batch.kind]
        for index, item in enumerate(batch.items):
            try:
                if not isinstance(item, dict):
                    raise ValueError("not an object")
                batch.succeeded.append(process(batch, item))
            except ValueError as problem:
                batch.failed.append(_failure(batch.kind, index, item, str(problem)))
        batch.status = "FAILED" if not batch.succeeded else "PARTIAL" if batch.failed else "SUCCESS"
        batch.finished_at = _now()
        # BATCH_COMPLETED is delivered from here (SandboxServer wires it to its webhooks).
        if self.on_batch_completed is not None:
            self.on_batch_completed(batch.to_json())

    def _process_invoice(self, batch: SandboxBatch, item: Json) -> Json:
        number = item.get("invoiceNumber")
        if not isinstance(number, str | int) or isinstance(number, bool) or not str(number):
            raise ValueError("invoiceNumber is required")
        amount = _amount(item.get("originalInvoiceAmount"), "originalInvoiceAmount")
        if amount <= 0:
            raise ValueError(f"originalInvoiceAmount must be above zero, got {amount}")
        sent = item.get("debtors")
        debtors: list[Any] = sent if isinstance(sent, list) else []
        debtor = debtors[0] if debtors and isinstance(debtors[0], dict) else {}
        name = debtor.get("fullName") or " ".join(
            part for part in (debtor.get("firstName"), debtor.get("lastName")) if part
        )
        legacy_case = {
            "creditorid": batch.creditor_id,
            "ledgerref": str(number),
            "originalprincipal": amount,
            "customerref": _text(debtor.get("customerNumber")),
            "customername": name or None,
            "currencycode": _text(item.get("currency")),
            "billdate": _midnight(item.get("invoiceDate")),
            "duedate": _midnight(item.get("dueDate")),
            "service_description": _text(item.get("description")),
        }
        result = self.state.apply_batch({"case": [legacy_case]})
        if result["errors"]:
            raise ValueError(result["errors"][0]["message"])
        case = self.state.cases(batch.creditor_id)[-1]
        invoice_id, case_id = self._ids(batch.creditor_id, case)
        self._extra[case_id] = _Extra(
            invoice_type=_text(item.get("type")) or "NOTICE",
            unique_source_invoice_id=_text(item.get("uniqueSourceInvoiceId")),
            original_amount=amount,
            debtors=[d for d in debtors if isinstance(d, dict)] or None,
        )
        batch.subjects.update((invoice_id, case_id))
        return {
            "$type": "invoiceSuccess",
            "invoiceNumber": case["ledgerref"],
            "caseId": case_id,
            "invoiceId": invoice_id,
        }

    def _payable(self, batch: SandboxBatch, item: Json) -> tuple[Json, str, Decimal]:
        """The open case a payment or correction names, its invoice id, and the amount."""
        invoice_id = str(item.get("invoiceId") or "")
        try:
            case = self._case(batch.creditor_id, invoice_id)
        except NotFoundError as missing:
            raise ValueError(str(missing)) from None
        _, case_id = self._ids(batch.creditor_id, case)
        status = self._status(case_id, case)
        if status in ("CLOSED", "WITHDRAWN"):
            raise ValueError(f"the invoice is {status}")
        currency = item.get("currency")
        if currency is not None and currency != case["currencycode"]:
            raise ValueError(f"currency {currency!r} is not the invoice's {case['currencycode']}")
        batch.subjects.update((invoice_id.lower(), case_id))
        return case, invoice_id.lower(), _amount(item.get("amount"), "amount")

    def _process_payment(self, batch: SandboxBatch, item: Json) -> Json:
        case, invoice_id, amount = self._payable(batch, item)
        if amount <= 0:
            raise ValueError(f"amount must be above zero, got {amount}")
        if amount > case["remainingsum"]:
            raise ValueError(f"amount {amount} is more than the {case['remainingsum']} owed")
        left = amount
        fields: Json = {}
        for part in ("principal", "interest", "fee"):
            paid = min(left, case[f"remaining{part}"])
            left -= paid
            fields[f"paid{part}"] = case[f"paid{part}"] + paid
            fields[f"remaining{part}"] = case[f"remaining{part}"] - paid
        self._set_sums(batch.creditor_id, case, fields)
        return {"$type": "paymentSuccess", "invoiceId": invoice_id, "paymentId": str(uuid.uuid4())}

    def _process_correction(self, batch: SandboxBatch, item: Json) -> Json:
        case, invoice_id, amount = self._payable(batch, item)
        if amount == 0:
            raise ValueError("amount must not be zero")
        if case["remainingprincipal"] + amount < 0:
            raise ValueError(f"a correction of {amount} leaves less than nothing owed")
        fields = {
            "originalprincipal": case["originalprincipal"] + amount,
            "remainingprincipal": case["remainingprincipal"] + amount,
        }
        self._set_sums(batch.creditor_id, case, fields)
        return {
            "$type": "correctionSuccess",
            "invoiceId": invoice_id,
            "correctionId": str(uuid.uuid4()),
        }

    def _set_sums(self, creditor_id: str, case: Json, fields: Json) -> None:
        """Apply changed components, recompute the sums, close the case when nothing is owed."""
        merged = {**case, **fields}
        for kind in ("original", "paid", "remaining"):
            fields[f"{kind}sum"] = sum(
                (merged[f"{kind}{part}"] for part in ("principal", "fee", "interest")), _ZERO
            )
        fields["paymentDetails"] = {
            **(case.get("paymentDetails") or {}),
            "paymentValue": fields["remainingsum"],
        }
        if fields["remainingsum"] == 0:
            fields["closuredate"] = timestamp(milliseconds(_now()))
            fields["status_statuscode"] = "PAID"
        self.state.update_case(creditor_id, case, fields)


def _amount(value: Any, name: str) -> Decimal:
    """A money amount as sent (a JSON number) with at most two decimals."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"{name} must be a number, got {value!r}")
    amount = Decimal(value)
    if not amount.is_finite() or amount != amount.quantize(_CENT):
        raise ValueError(f"{name} must have at most two decimals, got {value}")
    return amount


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _midnight(value: Any) -> str | None:
    """A ``yyyy-MM-dd`` (or ISO timestamp) as the legacy API's midnight timestamp."""
    if not isinstance(value, str) or not value:
        return None
    try:
        day = datetime.date.fromisoformat(value[:10])
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None
    return midnight((day - EPOCH.date()).days)


def _failure(kind: str, index: int, item: Any, reason: str) -> Json:
    """A failed item: ``$type``, the item's index, what identifies it, and the reason."""
    fields = item if isinstance(item, dict) else {}
    if kind == "invoices":
        number = fields.get("invoiceNumber")
        ident = {"invoiceNumber": None if number is None else str(number)}
    else:
        invoice_id = fields.get("invoiceId")
        ident = {"invoiceId": None if invoice_id is None else str(invoice_id)}
    return {"$type": f"{kind[:-1]}Failure", "index": index, **ident, "reason": reason}
