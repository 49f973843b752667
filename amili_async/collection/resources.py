"""``client.collection``: one attribute per Collection API resource, every documented operation.

Each operation is declared once as an ``Endpoint`` of the ``COLLECTION`` family (method, path,
response type, query wire names) and sent through the client's request layer, so the Collection
API gets the same session, auth, retries and errors as the legacy one.

* Reads (``get``, every page of a ``list``) are retried like any GET.
* Creates send an ``IdempotencyKey`` header (the one given, else a new UUID4 per call) and, with
  it, are retried like a GET: a retried create never makes a second batch.
* Actions (``pause``, ``resume``, ``withdraw``) are not retried: the API documents no idempotency
  for them, and repeating one that went through would be answered with a conflict.
"""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import msgspec

from .. import errors
from .._request import Endpoint
from .._sansio import COLLECTION
from .models import (
    Batch,
    BatchRef,
    Case,
    Envelope,
    Invoice,
    NewCorrection,
    NewInvoice,
    NewPayment,
    Page,
    Settlement,
)
from .pagination import AsyncPaginator

if TYPE_CHECKING:
    from .._request import RequestPath

__all__ = [
    "Batches",
    "Cases",
    "Collection",
    "Corrections",
    "Invoices",
    "Payments",
    "Settlements",
]

T = TypeVar("T")

OrgId = str | uuid.UUID
Id = str | uuid.UUID
RequesterSource = Callable[[], "RequestPath"]

MAX_POLL_INTERVAL: Final = 30.0
"""``batches.wait`` backs off from its ``poll_interval`` up to this many seconds."""

_ORG = "orgs/{org_id}"


def _endpoint(
    method: str, path: str, response: Any, query: Mapping[str, str] | None = None, docs: str = ""
) -> Endpoint[Any]:
    return Endpoint(
        family=COLLECTION,
        method=method,
        path=f"{_ORG}/{path}",
        response=response,
        query=dict(query or {}),
        docs=docs,
    )


_PAGING = {"page_size": "PageSize", "page_token": "PageToken"}

GET_BATCH = _endpoint("GET", "batches/{batch_id}", Envelope[Batch], docs="GetBatchById")
LIST_BATCHES = _endpoint(
    "GET",
    "batches",
    Envelope[list[Batch] | None],
    {
        "state": "State",
        "type": "Type",
        "subject_id": "SubjectId",
        "idempotency_key": "IdempotencyKey",
        "sort_direction": "SortDirection",
        **_PAGING,
    },
    docs="GetBatchesByOrganization",
)
CREATE_INVOICES = _endpoint("POST", "invoices", Envelope[BatchRef], docs="CreateInvoices")
LIST_INVOICES = _endpoint(
    "GET",
    "invoices",
    Envelope[list[Invoice] | None],
    {
        "status": "Status",
        "type": "Type",
        "invoice_number": "InvoiceNumber",
        "unique_source_invoice_id": "UniqueSourceInvoiceId",
        "customer_number": "CustomerNumber",
        "from_date": "From",
        "to_date": "To",
        **_PAGING,
    },
    docs="GetInvoicesByOrganization",
)
GET_INVOICE = _endpoint("GET", "invoices/{invoice_id}", Envelope[Invoice], docs="GetInvoiceById")
INVOICE_ACTION = _endpoint(
    "POST",
    "invoices/{invoice_id}/{action}",
    type(None),
    docs="PauseInvoice, ResumeInvoice, WithdrawInvoice",
)
CREATE_PAYMENTS = _endpoint("POST", "payments", Envelope[BatchRef], docs="CreatePayments")
CREATE_CORRECTIONS = _endpoint("POST", "corrections", Envelope[BatchRef], docs="CreateCorrections")
LIST_SETTLEMENTS = _endpoint(
    "GET",
    "settlements",
    Envelope[list[Settlement] | None],
    {
        "from_date": "fromDate",
        "to_date": "toDate",
        "page_size": "pageSize",
        "page_token": "pageToken",
    },
    docs="GetSettlements",
)
GET_SETTLEMENT = _endpoint(
    "GET", "settlements/{settlement_id}", Envelope[Settlement], docs="GetSettlement"
)
LIST_CASES = _endpoint(
    "GET",
    "cases",
    Envelope[list[Case] | None],
    {
        "status": "Status",
        "type": "Type",
        "case_number": "CaseNumber",
        "customer_number": "CustomerNumber",
        "unique_source_invoice_id": "UniqueSourceInvoiceId",
        "search_term": "SearchTerm",
        "from_created_at": "FromCreatedAt",
        "to_created_at": "ToCreatedAt",
        **_PAGING,
    },
    docs="GetCasesByOrganization",
)
CASE_ACTION = _endpoint(
    "POST", "cases/{case_id}/{action}", type(None), docs="PauseCase, ResumeCase, WithdrawCase"
)

ENDPOINTS: Final = (
    GET_BATCH,
    LIST_BATCHES,
    CREATE_INVOICES,
    LIST_INVOICES,
    GET_INVOICE,
    INVOICE_ACTION,
    CREATE_PAYMENTS,
    CREATE_CORRECTIONS,
    LIST_SETTLEMENTS,
    GET_SETTLEMENT,
    LIST_CASES,
    CASE_ACTION,
)
"""Every Collection API endpoint the SDK declares."""


class _Resource:
    __slots__ = ("_requester",)

    def __init__(self, requester: RequesterSource) -> None:
        self._requester = requester

    async def _get(self, endpoint: Endpoint[Envelope[T]], path: Mapping[str, object]) -> T:
        envelope = await self._requester().call(endpoint, path=path)
        return envelope.data

    def _list(
        self,
        endpoint: Endpoint[Envelope[list[T] | None]],
        org_id: OrgId,
        query: dict[str, Any],
        page_token: str | None,
    ) -> AsyncPaginator[T]:
        page_size = query.get("page_size")
        if page_size is not None and (isinstance(page_size, bool) or page_size < 1):
            raise errors.ConfigurationError(f"page_size must be at least 1, got {page_size!r}")
        path = {"org_id": str(org_id)}
        given = {name: _wire_value(value) for name, value in query.items() if value is not None}

        async def fetch_page(token: str | None) -> Page[T]:
            envelope = await self._requester().call(
                endpoint, path=path, query={**given, "page_token": token}
            )
            return Page.from_envelope(envelope)

        return AsyncPaginator(fetch_page, page_token=page_token)

    async def _act(self, endpoint: Endpoint[Any], path: Mapping[str, object]) -> None:
        await self._requester().send(endpoint, path=path)


def _wire_value(value: Any) -> Any:
    """UUIDs go out as text; everything else as the request layer writes it."""
    return str(value) if isinstance(value, uuid.UUID) else value


class Batches(_Resource):
    """``client.collection.batches``: the asynchronous processing of every create."""

    __slots__ = ()

    async def get(self, org_id: OrgId, batch_id: Id) -> Batch:
        """``GET /orgs/{org_id}/batches/{batch_id}`` (GetBatchById)."""
        return await self._get(GET_BATCH, {"org_id": str(org_id), "batch_id": str(batch_id)})

    def list(
        self,
        org_id: OrgId,
        *,
        state: str | None = None,
        type: str | None = None,
        subject_id: Id | None = None,
        idempotency_key: str | None = None,
        sort_direction: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> AsyncPaginator[Batch]:
        """``GET /orgs/{org_id}/batches`` (GetBatchesByOrganization): every batch, page by page.

        Sent as ``State``, ``Type``, ``SubjectId``, ``IdempotencyKey``, ``SortDirection``,
        ``PageSize``, ``PageToken``; only those given.
        """
        query = {
            "state": state,
            "type": type,
            "subject_id": subject_id,
            "idempotency_key": idempotency_key,
            "sort_direction": sort_direction,
            "page_size": page_size,
        }
        return self._list(LIST_BATCHES, org_id, query, page_token)

    async def wait(
        self,
        org_id: OrgId,
        batch_id: Id,
        *,
        timeout: float = 300.0,  # noqa: ASYNC109 - the public name; the wait is a loop of polls
        poll_interval: float = 1.0,
    ) -> Batch:
        """Poll the batch until it is finished and return it.

        Finished means ``SUCCESS``, ``PARTIAL`` or ``FAILED``, or any status with ``finished_at``
        set ([`Batch.finished`][amili_async.collection.Batch.finished]). Polls back off from
        ``poll_interval``, doubling, to at most 30 seconds; each poll is a GET retried as usual.

        Raises:
            TimeoutError: The batch was not finished ``timeout`` seconds after the call
                ([`amili_async.TimeoutError`][amili_async.TimeoutError]).
        """
        if timeout < 0 or poll_interval <= 0:
            raise errors.ConfigurationError("timeout must be >= 0 and poll_interval > 0")
        deadline = time.monotonic() + timeout
        delay = poll_interval
        ceiling = max(MAX_POLL_INTERVAL, poll_interval)
        while True:
            batch = await self.get(org_id, batch_id)
            if batch.finished:
                return batch
            left = deadline - time.monotonic()
            if left <= 0:
                raise errors.TimeoutError(
                    f"batch {batch_id} is not finished after {timeout:g}s (status {batch.status!s})"
                )
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, ceiling)


class _Creates(_Resource):
    """A resource whose creates answer with a batch, and can wait for it."""

    __slots__ = ("_batches",)
    _endpoint: ClassVar[Endpoint[Envelope[BatchRef]]]
    _field: ClassVar[str]

    def __init__(self, requester: RequesterSource, batches: Batches) -> None:
        super().__init__(requester)
        self._batches = batches

    async def _create_batch(
        self, org_id: OrgId, items: Iterable[Any], idempotency_key: str | None
    ) -> BatchRef:
        """POST the items under their field; the key (given or a new UUID4) makes it safe to
        retry, so the request layer retries it like a GET."""
        field = self._field
        if isinstance(items, Mapping | msgspec.Struct | str | bytes):
            raise errors.ConfigurationError(
                f"{field} must be a list of items, got one {type(items).__name__}"
            )
        listed = list(items)
        if not listed:
            raise errors.ConfigurationError(f"nothing to create: {field} is empty")
        envelope = await self._requester().call(
            self._endpoint,
            path={"org_id": str(org_id)},
            json={field: listed},
            idempotency_key=idempotency_key or str(uuid.uuid4()),
        )
        return envelope.data

    async def _create_and_wait(
        self,
        org_id: OrgId,
        items: Iterable[Any],
        idempotency_key: str | None,
        timeout: float,  # noqa: ASYNC109
        poll_interval: float,
    ) -> Batch:
        started = time.monotonic()
        ref = await self._create_batch(org_id, items, idempotency_key)
        left = max(0.0, timeout - (time.monotonic() - started))
        return await self._batches.wait(
            org_id, ref.batch_id, timeout=left, poll_interval=poll_interval
        )


class Invoices(_Creates):
    """``client.collection.invoices``."""

    __slots__ = ()
    _endpoint = CREATE_INVOICES
    _field = "invoices"

    async def create(
        self,
        org_id: OrgId,
        invoices: Iterable[NewInvoice | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> BatchRef:
        """``POST /orgs/{org_id}/invoices`` (CreateInvoices): queue invoices for processing.

        Args:
            org_id: The organisation's UUID.
            invoices: [`NewInvoice`][amili_async.collection.NewInvoice]s, or dicts with the API's
                camelCase keys.
            idempotency_key: Sent as ``IdempotencyKey``; a new UUID4 when not given. The same key
                with the same invoices returns the first batch instead of making another.

        Returns:
            The batch that processes them; see
            [`create_and_wait`][amili_async.collection.resources.Invoices.create_and_wait].
        """
        return await self._create_batch(org_id, invoices, idempotency_key)

    async def create_and_wait(
        self,
        org_id: OrgId,
        invoices: Iterable[NewInvoice | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        timeout: float = 300.0,  # noqa: ASYNC109 - the public name; the wait is a loop of polls
        poll_interval: float = 1.0,
    ) -> Batch:
        """[`create`][amili_async.collection.resources.Invoices.create], then
        [`batches.wait`][amili_async.collection.resources.Batches.wait] for its batch (polled from
        ``poll_interval`` on); ``timeout`` covers both."""
        return await self._create_and_wait(
            org_id, invoices, idempotency_key, timeout, poll_interval
        )

    def list(
        self,
        org_id: OrgId,
        *,
        status: str | None = None,
        type: str | None = None,
        invoice_number: str | None = None,
        unique_source_invoice_id: str | None = None,
        customer_number: str | None = None,
        from_date: datetime.date | None = None,
        to_date: datetime.date | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> AsyncPaginator[Invoice]:
        """``GET /orgs/{org_id}/invoices`` (GetInvoicesByOrganization), page by page.

        Sent as ``Status``, ``Type``, ``InvoiceNumber``, ``UniqueSourceInvoiceId``,
        ``CustomerNumber``, ``From``, ``To`` (``yyyy-MM-dd``), ``PageSize``, ``PageToken``.
        """
        query = {
            "status": status,
            "type": type,
            "invoice_number": invoice_number,
            "unique_source_invoice_id": unique_source_invoice_id,
            "customer_number": customer_number,
            "from_date": from_date,
            "to_date": to_date,
            "page_size": page_size,
        }
        return self._list(LIST_INVOICES, org_id, query, page_token)

    async def get(self, org_id: OrgId, invoice_id: Id) -> Invoice:
        """``GET /orgs/{org_id}/invoices/{invoice_id}`` (GetInvoiceById)."""
        path = {"org_id": str(org_id), "invoice_id": str(invoice_id)}
        return await self._get(GET_INVOICE, path)

    async def pause(self, org_id: OrgId, invoice_id: Id) -> None:
        """``POST /orgs/{org_id}/invoices/{invoice_id}/pause`` (202, no body)."""
        await self._action(org_id, invoice_id, "pause")

    async def resume(self, org_id: OrgId, invoice_id: Id) -> None:
        """``POST /orgs/{org_id}/invoices/{invoice_id}/resume`` (202, no body)."""
        await self._action(org_id, invoice_id, "resume")

    async def withdraw(self, org_id: OrgId, invoice_id: Id) -> None:
        """``POST /orgs/{org_id}/invoices/{invoice_id}/withdraw`` (202, no body)."""
        await self._action(org_id, invoice_id, "withdraw")

    async def _action(self, org_id: OrgId, invoice_id: Id, action: str) -> None:
        path = {"org_id": str(org_id), "invoice_id": str(invoice_id), "action": action}
        await self._act(INVOICE_ACTION, path)


class Payments(_Creates):
    """``client.collection.payments``."""

    __slots__ = ()
    _endpoint = CREATE_PAYMENTS
    _field = "payments"

    async def create(
        self,
        org_id: OrgId,
        payments: Iterable[NewPayment | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> BatchRef:
        """``POST /orgs/{org_id}/payments`` (CreatePayments); like
        [`invoices.create`][amili_async.collection.resources.Invoices.create]."""
        return await self._create_batch(org_id, payments, idempotency_key)

    async def create_and_wait(
        self,
        org_id: OrgId,
        payments: Iterable[NewPayment | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        timeout: float = 300.0,  # noqa: ASYNC109 - the public name; the wait is a loop of polls
        poll_interval: float = 1.0,
    ) -> Batch:
        """``create``, then wait for its batch."""
        return await self._create_and_wait(
            org_id, payments, idempotency_key, timeout, poll_interval
        )


class Corrections(_Creates):
    """``client.collection.corrections``."""

    __slots__ = ()
    _endpoint = CREATE_CORRECTIONS
    _field = "corrections"

    async def create(
        self,
        org_id: OrgId,
        corrections: Iterable[NewCorrection | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> BatchRef:
        """``POST /orgs/{org_id}/corrections`` (CreateCorrections); like
        [`invoices.create`][amili_async.collection.resources.Invoices.create]."""
        return await self._create_batch(org_id, corrections, idempotency_key)

    async def create_and_wait(
        self,
        org_id: OrgId,
        corrections: Iterable[NewCorrection | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        timeout: float = 300.0,  # noqa: ASYNC109 - the public name; the wait is a loop of polls
        poll_interval: float = 1.0,
    ) -> Batch:
        """``create``, then wait for its batch."""
        return await self._create_and_wait(
            org_id, corrections, idempotency_key, timeout, poll_interval
        )


class Settlements(_Resource):
    """``client.collection.settlements``: the payouts (the legacy API's Settlement shape)."""

    __slots__ = ()

    def list(
        self,
        org_id: OrgId,
        *,
        from_date: datetime.date | None = None,
        to_date: datetime.date | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> AsyncPaginator[Settlement]:
        """``GET /orgs/{org_id}/settlements`` (GetSettlements), page by page; sent as
        ``fromDate``, ``toDate`` (``yyyy-MM-dd``), ``pageSize``, ``pageToken``."""
        query = {"from_date": from_date, "to_date": to_date, "page_size": page_size}
        return self._list(LIST_SETTLEMENTS, org_id, query, page_token)

    async def get(self, org_id: OrgId, settlement_id: Id) -> Settlement:
        """``GET /orgs/{org_id}/settlements/{settlement_id}``."""
        path = {"org_id": str(org_id), "settlement_id": str(settlement_id)}
        return await self._get(GET_SETTLEMENT, path)


class Cases(_Resource):
    """``client.collection.cases``."""

    __slots__ = ()

    def list(
        self,
        org_id: OrgId,
        *,
        status: str | None = None,
        type: str | None = None,
        case_number: int | None = None,
        customer_number: str | None = None,
        unique_source_invoice_id: str | None = None,
        search_term: str | None = None,
        from_created_at: datetime.date | None = None,
        to_created_at: datetime.date | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> AsyncPaginator[Case]:
        """``GET /orgs/{org_id}/cases`` (GetCasesByOrganization), page by page.

        Sent as ``Status``, ``Type``, ``CaseNumber``, ``CustomerNumber``,
        ``UniqueSourceInvoiceId``, ``SearchTerm``, ``FromCreatedAt``, ``ToCreatedAt``
        (``yyyy-MM-dd``), ``PageSize``, ``PageToken``.
        """
        query = {
            "status": status,
            "type": type,
            "case_number": case_number,
            "customer_number": customer_number,
            "unique_source_invoice_id": unique_source_invoice_id,
            "search_term": search_term,
            "from_created_at": from_created_at,
            "to_created_at": to_created_at,
            "page_size": page_size,
        }
        return self._list(LIST_CASES, org_id, query, page_token)

    async def pause(self, org_id: OrgId, case_id: Id) -> None:
        """PauseCase: ``POST /orgs/{org_id}/cases/{case_id}/pause`` (path assumed)."""
        await self._action(org_id, case_id, "pause")

    async def resume(self, org_id: OrgId, case_id: Id) -> None:
        """ResumeCase: ``POST /orgs/{org_id}/cases/{case_id}/resume`` (path assumed)."""
        await self._action(org_id, case_id, "resume")

    async def withdraw(self, org_id: OrgId, case_id: Id) -> None:
        """WithdrawCase: ``POST /orgs/{org_id}/cases/{case_id}/withdraw`` (path assumed)."""
        await self._action(org_id, case_id, "withdraw")

    async def _action(self, org_id: OrgId, case_id: Id, action: str) -> None:
        path = {"org_id": str(org_id), "case_id": str(case_id), "action": action}
        await self._act(CASE_ACTION, path)


class Collection:
    """``client.collection``: the Collection API (``{base_url}/collection/v1/``).

    Attributes:
        batches: [`Batches`][amili_async.collection.resources.Batches].
        invoices: [`Invoices`][amili_async.collection.resources.Invoices].
        payments: [`Payments`][amili_async.collection.resources.Payments].
        corrections: [`Corrections`][amili_async.collection.resources.Corrections].
        settlements: [`Settlements`][amili_async.collection.resources.Settlements].
        cases: [`Cases`][amili_async.collection.resources.Cases].
    """

    __slots__ = ("batches", "cases", "corrections", "invoices", "payments", "settlements")

    def __init__(self, requester: RequesterSource) -> None:
        self.batches = Batches(requester)
        self.invoices = Invoices(requester, self.batches)
        self.payments = Payments(requester, self.batches)
        self.corrections = Corrections(requester, self.batches)
        self.settlements = Settlements(requester)
        self.cases = Cases(requester)

    def __repr__(self) -> str:
        return "Collection(batches, invoices, payments, corrections, settlements, cases)"
