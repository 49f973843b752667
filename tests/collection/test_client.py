"""client.collection against the sandbox: every operation, pagination, tokens, safe creates,
waiting, money, and one state behind both APIs."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import pytest
from aiohttp import web

from amili_async import (
    AmiliClient,
    AmiliError,
    ClientCredentialsAuth,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    TimeoutError,
)
from amili_async.collection import (
    Batch,
    BatchStatus,
    CaseStatus,
    Debtor,
    DebtorType,
    InvoiceFailure,
    InvoiceStatus,
    InvoiceSuccess,
    NewCorrection,
    NewInvoice,
    NewPayment,
    PaymentSuccess,
)
from amili_async.collection.resources import Batches
from amili_async.sandbox import Fault, SandboxServer

from ..conftest import FakeSleep, Recorded

Serve = Callable[..., Awaitable[tuple[str, Recorded]]]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(
        creditors=2, cases=4, settlements=5, seed=4, batch_delay=0.01
    ) as server:
        yield server


def oauth_client(sandbox: SandboxServer, retry: RetryPolicy, **options: object) -> AmiliClient:
    return AmiliClient(
        sandbox.url,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        token_url=sandbox.token_url,
        retry=retry,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def client(sandbox: SandboxServer, fast_retry: RetryPolicy) -> AsyncIterator[AmiliClient]:
    async with oauth_client(sandbox, fast_retry) as client:
        yield client


@pytest.fixture
def org(sandbox: SandboxServer) -> str:
    return sandbox.organization_ids[0]


def invoice(number: str, amount: str = "4500.10", **fields: object) -> NewInvoice:
    return NewInvoice(
        type="NOTICE",
        invoice_number=number,
        original_invoice_amount=Decimal(amount),
        currency="NOK",
        invoice_date=datetime.date(2026, 3, 1),
        due_date=datetime.date(2026, 3, 15),
        debtors=[Debtor(type=DebtorType.PRIVATE, full_name="Kari Nordmann", customer_number="7")],
        **fields,  # type: ignore[arg-type]
    )


def token_requests(sandbox: SandboxServer) -> int:
    return sum(1 for r in sandbox.requests if r.path == "/token")


def posts_to(sandbox: SandboxServer, resource: str) -> list[int]:
    return [r.status for r in sandbox.requests if r.method == "POST" and r.path.endswith(resource)]


# -- invoices, batches, cases ---------------------------------------------------------------------


async def test_an_invoice_goes_through_a_batch_and_becomes_a_case_in_both_apis(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    collection = client.collection
    ref = await collection.invoices.create(org, [invoice("INV-1")])
    assert ref.batch_url is not None
    assert ref.batch_url.endswith(f"/collection/v1/orgs/{org}/batches/{ref.batch_id}")
    queued = await collection.batches.get(org, ref.batch_id)
    assert queued.status is BatchStatus.QUEUED
    assert not queued.finished

    batch = await collection.batches.wait(org, ref.batch_id, poll_interval=0.01)
    assert batch.status is BatchStatus.SUCCESS
    assert batch.finished_at is not None
    assert batch.organization_id == uuid.UUID(org)
    [success] = batch.succeeded
    assert isinstance(success, InvoiceSuccess)
    assert success.invoice_number == "INV-1"

    got = await collection.invoices.get(org, success.invoice_id or "")
    assert got.invoice_number == "INV-1"
    assert got.case_id == success.case_id
    assert got.status is InvoiceStatus.OPEN
    assert got.invoice_date == datetime.date(2026, 3, 1)

    [case] = await collection.cases.list(org, search_term="kari").to_list()
    assert case.case_id == success.case_id
    assert case.debtors[0].full_name == "Kari Nordmann"

    legacy = await client.get_batch(creditor_id=sandbox.creditor_ids[0], ledger_ref="INV-1")
    assert len(legacy.cases) == 1
    assert legacy.cases[0].case_number is not None
    assert case.case_number == int(legacy.cases[0].case_number)
    assert got.collection_case_number == legacy.cases[0].case_number


async def test_money_round_trips_digit_for_digit(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    batch = await client.collection.invoices.create_and_wait(
        org, [invoice("INV-2", "4500.10")], poll_interval=0.01
    )
    [success] = batch.succeeded
    assert isinstance(success, InvoiceSuccess)
    got = await client.collection.invoices.get(org, success.invoice_id or "")
    assert str(got.original_invoice_amount) == "4500.10"
    paid = NewPayment(
        invoice_id=got.id or "", type="DIRECT_PAYMENT", amount=Decimal("0.10"), currency="NOK"
    )
    await client.collection.payments.create_and_wait(org, [paid], poll_interval=0.01)
    after = await client.collection.invoices.get(org, got.id or "")
    assert str(after.remaining_amount) == "4500.00"
    assert str(after.paid_amount) == "0.10"
    legacy = await client.get_batch(creditor_id=sandbox.creditor_ids[0], ledger_ref="INV-2")
    assert str(legacy.cases[0].remaining_sum) == "4500.00"


async def test_payments_lower_what_is_owed_and_close_the_case_when_paid(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    created = await client.collection.invoices.create_and_wait(
        org, [invoice("INV-3", "100.00")], poll_interval=0.01
    )
    [success] = created.succeeded
    assert isinstance(success, InvoiceSuccess)
    invoice_id = str(success.invoice_id)
    too_much = {
        "invoiceId": invoice_id,
        "type": "DIRECT_PAYMENT",
        "amount": Decimal("100.01"),
        "currency": "NOK",
    }
    batch = await client.collection.payments.create_and_wait(org, [too_much], poll_interval=0.01)
    assert batch.status is BatchStatus.FAILED
    assert batch.failed[0].reason is not None  # type: ignore[union-attr]
    full = {**too_much, "amount": Decimal("100.00")}
    batch = await client.collection.payments.create_and_wait(org, [full], poll_interval=0.01)
    assert batch.status is BatchStatus.SUCCESS
    assert isinstance(batch.succeeded[0], PaymentSuccess)
    closed = await client.collection.invoices.get(org, invoice_id)
    assert closed.status is InvoiceStatus.CLOSED
    assert closed.remaining_amount == 0
    legacy = await client.get_batch(
        creditor_id=sandbox.creditor_ids[0], ledger_ref="INV-3", include_closed=True
    )
    assert legacy.cases[0].closure_date is not None


async def test_a_correction_changes_the_amount(client: AmiliClient, org: str) -> None:
    created = await client.collection.invoices.create_and_wait(
        org, [invoice("INV-4", "200.00")], poll_interval=0.01
    )
    [success] = created.succeeded
    assert isinstance(success, InvoiceSuccess)
    credit = NewCorrection(
        invoice_id=success.invoice_id or "",
        amount=Decimal("-50.25"),
        currency="NOK",
        date=datetime.date(2026, 3, 2),
        description="credit note",
    )
    batch = await client.collection.corrections.create_and_wait(org, [credit], poll_interval=0.01)
    assert batch.status is BatchStatus.SUCCESS
    got = await client.collection.invoices.get(org, success.invoice_id or "")
    assert got.remaining_amount == Decimal("149.75")


@pytest.mark.parametrize(
    ("invoices", "status"),
    [
        (
            [
                {
                    "invoiceNumber": "A1",
                    "originalInvoiceAmount": 10,
                    "type": "NOTICE",
                    "currency": "NOK",
                }
            ],
            "SUCCESS",
        ),
        (
            [
                {
                    "invoiceNumber": "A2",
                    "originalInvoiceAmount": 10,
                    "type": "NOTICE",
                    "currency": "NOK",
                },
                {
                    "invoiceNumber": "A3",
                    "originalInvoiceAmount": 0,
                    "type": "NOTICE",
                    "currency": "NOK",
                },
            ],
            "PARTIAL",
        ),
        (
            [
                {"originalInvoiceAmount": 10, "type": "NOTICE", "currency": "NOK"},
                {
                    "invoiceNumber": "A4",
                    "originalInvoiceAmount": -1,
                    "type": "NOTICE",
                    "currency": "NOK",
                },
            ],
            "FAILED",
        ),
    ],
)
async def test_wait_reaches_each_terminal_state_with_a_reason_per_failed_item(
    client: AmiliClient, org: str, invoices: list[dict[str, object]], status: str
) -> None:
    batch = await client.collection.invoices.create_and_wait(org, invoices, poll_interval=0.01)
    assert batch.status == status
    assert batch.finished
    assert len(batch.succeeded) + len(batch.failed) == len(invoices)
    for failure in batch.failed:
        assert isinstance(failure, InvoiceFailure)
        assert failure.reason


async def test_wait_times_out_cleanly(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    sandbox.batch_delay = 3600
    ref = await client.collection.invoices.create(org, [invoice("INV-5")])
    with pytest.raises(TimeoutError, match=r"not finished after 0\.05s"):
        await client.collection.batches.wait(org, ref.batch_id, timeout=0.05, poll_interval=0.01)
    gets = [r for r in sandbox.requests if r.path.endswith(str(ref.batch_id))]
    assert 2 <= len(gets) <= 10  # it polled, and backed off
    with pytest.raises(TimeoutError):
        await client.collection.invoices.create_and_wait(
            org, [invoice("INV-6")], timeout=0, poll_interval=0.01
        )


async def test_wait_backs_off_to_at_most_30_seconds(
    client: AmiliClient, org: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls = 0
    slept: list[float] = []

    async def get(self: Batches, org_id: object, batch_id: object) -> Batch:
        nonlocal polls
        polls += 1
        return Batch(status=BatchStatus.QUEUED if polls < 9 else BatchStatus.FAILED)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(Batches, "get", get)
    monkeypatch.setattr(asyncio, "sleep", sleep)
    batch = await client.collection.batches.wait(org, uuid.uuid4(), timeout=10_000)
    assert batch.status is BatchStatus.FAILED
    assert slept == [1, 2, 4, 8, 16, 30, 30, 30]


async def test_a_batch_that_reports_finished_at_is_finished_whatever_its_status() -> None:
    batch = Batch(
        status=BatchStatus("ARCHIVED"),
        finished_at=datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC),
    )
    assert batch.finished


# -- safe creates -------------------------------------------------------------------------------


async def test_a_create_retried_after_an_injected_503_makes_one_batch(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    sandbox.faults.script("collection_invoices_post", Fault.E503)
    ref = await client.collection.invoices.create(org, [invoice("INV-7")])
    assert posts_to(sandbox, "/invoices") == [503, 202]
    batches = await client.collection.batches.list(org).to_list()
    assert [b.batch_id for b in batches] == [ref.batch_id]


async def test_a_create_whose_answer_was_lost_is_retried_with_the_same_key(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    sandbox.faults.script("collection_invoices_post", Fault.DROP)  # processed, answer cut off
    ref = await client.collection.invoices.create(org, [invoice("INV-8")])
    assert len(posts_to(sandbox, "/invoices")) == 2
    batches = await client.collection.batches.list(org).to_list()
    assert [b.batch_id for b in batches] == [ref.batch_id]
    key = sandbox.collection.state.batch(org, str(ref.batch_id)).idempotency_key
    [batch] = await client.collection.batches.list(org, idempotency_key=key).to_list()
    assert batch.batch_id == ref.batch_id


async def test_an_idempotency_key_returns_the_first_batch_or_conflicts(
    client: AmiliClient, org: str
) -> None:
    first = await client.collection.invoices.create(org, [invoice("INV-9")], idempotency_key="k-1")
    again = await client.collection.invoices.create(org, [invoice("INV-9")], idempotency_key="k-1")
    assert again.batch_id == first.batch_id
    with pytest.raises(ConflictError) as caught:
        await client.collection.invoices.create(org, [invoice("INV-10")], idempotency_key="k-1")
    assert "k-1" in str(caught.value)
    assert '"title"' in caught.value.body
    [listed] = await client.collection.batches.list(org, idempotency_key="k-1").to_list()
    assert listed.batch_id == first.batch_id


async def test_every_create_sends_a_fresh_uuid_key_when_none_is_given(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    one = await client.collection.invoices.create(org, [invoice("INV-11")])
    two = await client.collection.invoices.create(org, [invoice("INV-12")])
    state = sandbox.collection.state
    keys = [state.batch(org, str(ref.batch_id)).idempotency_key for ref in (one, two)]
    assert all(keys)
    assert keys[0] != keys[1]
    assert all(uuid.UUID(str(key)).version == 4 for key in keys)
    with pytest.raises(ConfigurationError):
        await client.collection.invoices.create(org, [])
    with pytest.raises(ConfigurationError, match="a list"):
        await client.collection.invoices.create(org, invoice("INV-X"))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="page_size"):
        client.collection.cases.list(org, page_size=0)


# -- actions ------------------------------------------------------------------------------------


async def test_invoices_and_cases_pause_resume_and_withdraw(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    created = await client.collection.invoices.create_and_wait(
        org, [invoice("INV-13"), invoice("INV-14")], poll_interval=0.01
    )
    first, second = created.succeeded
    assert isinstance(first, InvoiceSuccess)
    assert isinstance(second, InvoiceSuccess)
    invoices = client.collection.invoices
    await invoices.pause(org, first.invoice_id or "")
    assert (await invoices.get(org, first.invoice_id or "")).status is InvoiceStatus.PAUSED
    with pytest.raises(ConflictError):
        await invoices.pause(org, first.invoice_id or "")
    await invoices.resume(org, first.invoice_id or "")
    await invoices.withdraw(org, first.invoice_id or "")
    assert (await invoices.get(org, first.invoice_id or "")).status is InvoiceStatus.WITHDRAWN

    cases = client.collection.cases
    await cases.pause(org, second.case_id or "")
    [paused] = await cases.list(org, status="PAUSED").to_list()
    assert paused.case_id == second.case_id
    await cases.resume(org, second.case_id or "")
    await cases.withdraw(org, second.case_id or "")
    withdrawn = await cases.list(org, status=CaseStatus.WITHDRAWN).to_list()
    assert {c.case_id for c in withdrawn} == {first.case_id, second.case_id}
    with pytest.raises(ConflictError):
        await cases.resume(org, second.case_id or "")
    legacy = await client.get_batch(
        creditor_id=sandbox.creditor_ids[0], ledger_ref="INV-14", include_closed=True
    )
    assert legacy.cases[0].closure_date is not None


# -- settlements and pagination -----------------------------------------------------------------


async def test_settlements_are_the_legacy_settlements(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    listed = await client.collection.settlements.list(org, page_size=2).to_list()
    legacy = (await client.get_batch(creditor_id=sandbox.creditor_ids[0])).settlements
    assert [(s.id, s.payment_amount) for s in listed] == [(s.id, s.payment_amount) for s in legacy]
    one = await client.collection.settlements.get(org, listed[3].id or "")
    assert one == legacy[3]
    assert listed[0].organization is not None
    assert str(listed[0].organization.id) == org


async def test_walks_over_zero_one_and_many_pages(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    settlements = client.collection.settlements
    empty = settlements.list(
        org, from_date=datetime.date(2000, 1, 1), to_date=datetime.date(2000, 1, 2)
    )
    assert [page.items async for page in empty.pages()] == [[]]
    one = [page async for page in settlements.list(org, page_size=100).pages()]
    assert [len(page.items) for page in one] == [5]
    assert one[0].next_page_token is None
    many = [page async for page in settlements.list(org, page_size=2).pages()]
    assert [len(page.items) for page in many] == [2, 2, 1]
    pages = [r for r in sandbox.requests if r.path.endswith("/settlements")]
    assert len(pages) == 1 + 1 + 3  # never a page twice


async def test_a_walk_resumes_from_a_saved_token(client: AmiliClient, org: str) -> None:
    settlements = client.collection.settlements
    everything = await settlements.list(org, page_size=2).to_list()
    pages = settlements.list(org, page_size=2).pages()
    first = await anext(pages)
    await pages.aclose()
    saved = first.next_page_token
    assert saved is not None
    rest = await settlements.list(org, page_size=2, page_token=saved).to_list()
    assert [s.id for s in first.items + rest] == [s.id for s in everything]


async def test_a_page_request_is_retried_like_a_get(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    sandbox.faults.script("collection_cases", Fault.E502, Fault.DROP)
    cases = await client.collection.cases.list(org).to_list()
    assert len(cases) == 4


async def test_lists_filter_by_their_parameters(client: AmiliClient, org: str) -> None:
    created = await client.collection.invoices.create_and_wait(
        org, [invoice("INV-15", unique_source_invoice_id="erp-15")], poll_interval=0.01
    )
    [success] = created.succeeded
    assert isinstance(success, InvoiceSuccess)
    by_source = await client.collection.invoices.list(
        org, unique_source_invoice_id="erp-15"
    ).to_list()
    assert [i.id for i in by_source] == [success.invoice_id]
    dated = await client.collection.invoices.list(
        org, from_date=datetime.date(2026, 3, 1), to_date=datetime.date(2026, 3, 1), type="NOTICE"
    ).to_list()
    assert [i.id for i in dated] == [success.invoice_id]
    [case] = await client.collection.cases.list(org, unique_source_invoice_id="erp-15").to_list()
    by_number = await client.collection.cases.list(org, case_number=case.case_number).to_list()
    assert [c.case_id for c in by_number] == [case.case_id]
    today = datetime.datetime.now(datetime.UTC).date()
    recent = await client.collection.cases.list(
        org, from_created_at=today, to_created_at=today
    ).to_list()
    assert [c.case_id for c in recent] == [case.case_id]
    by_subject = await client.collection.batches.list(
        org, subject_id=case.case_id, state="SUCCESS", type="INVOICE"
    ).to_list()
    assert [b.batch_id for b in by_subject] == [created.batch_id]
    newest_first = await client.collection.batches.list(org, sort_direction="DESC").to_list()
    assert newest_first[0].batch_id == created.batch_id


# -- tokens and errors --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_50_concurrent_calls_across_a_token_expiry_make_one_token_request(
    sandbox: SandboxServer, fast_retry: RetryPolicy, org: str
) -> None:
    clock = Clock()
    auth = ClientCredentialsAuth(
        sandbox.client_id, sandbox.client_secret, sandbox.token_url, clock=clock
    )
    async with AmiliClient(sandbox.url, auth=auth, retry=fast_retry) as client:
        await client.collection.cases.list(org).to_list()
        assert token_requests(sandbox) == 1
        clock.now += 3600
        settlement = sandbox.ledger(sandbox.creditor_ids[0])[0]["id"]
        got = await asyncio.gather(
            *(client.collection.settlements.get(org, settlement) for _ in range(50))
        )
    assert {str(s.id) for s in got} == {settlement}
    assert token_requests(sandbox) == 2


async def test_a_revoked_token_costs_one_refresh_and_the_call_succeeds(
    client: AmiliClient, sandbox: SandboxServer, org: str
) -> None:
    await client.collection.cases.list(org).to_list()
    sandbox.revoke_tokens()
    assert len(await client.collection.cases.list(org).to_list()) == 4
    assert token_requests(sandbox) == 2
    statuses = [r.status for r in sandbox.requests if r.path.endswith("/cases")]
    assert statuses == [200, 401, 200]


async def test_errors_carry_the_collection_apis_message_and_body(client: AmiliClient) -> None:
    unknown = str(uuid.UUID(int=1))
    with pytest.raises(NotFoundError) as caught:
        await client.collection.invoices.get(unknown, unknown)
    assert "no organisation" in str(caught.value)
    assert '"detail"' in caught.value.body


async def test_a_server_that_repeats_a_page_token_stops_the_walk(
    serve: Serve, fast_retry: RetryPolicy
) -> None:
    async def settlements(request: web.Request) -> web.Response:
        return web.json_response({"summary": {"nextPageToken": "same"}, "data": [{}]})

    url, recorded = await serve({"GET /collection/v1/orgs/{org}/settlements": settlements})
    async with AmiliClient(url, token="t", retry=fast_retry) as client:
        with pytest.raises(AmiliError, match="already sent"):
            await client.collection.settlements.list("o").to_list()
    assert [r.query.get("pageToken") for r in recorded.requests] == [None, "same"]


async def test_queries_go_out_in_each_endpoints_wire_names_and_creates_send_exact_json(
    serve: Serve, fast_retry: RetryPolicy
) -> None:
    bodies: list[bytes] = []

    async def page(request: web.Request) -> web.Response:
        return web.json_response({"summary": {"status": "SUCCESS"}, "data": []})

    async def created(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        data = {"batchId": str(uuid.UUID(int=7)), "batchUrl": "u"}
        return web.json_response({"summary": {}, "data": data}, status=202)

    prefix = "/collection/v1/orgs/{org}/"
    url, recorded = await serve(
        {
            **{
                f"GET {prefix}{name}": page
                for name in ("batches", "invoices", "cases", "settlements")
            },
            f"POST {prefix}invoices": created,
        }
    )
    day, org = datetime.date(2026, 3, 12), uuid.UUID(int=5)
    async with AmiliClient(url, token="t", retry=fast_retry) as client:
        c = client.collection
        await c.batches.list(
            org, state="QUEUED", type="INVOICE", subject_id=uuid.UUID(int=9),
            idempotency_key="k", sort_direction="DESC", page_size=5, page_token="p",
        ).to_list()  # fmt: skip
        await c.invoices.list(
            org, status="OPEN", type="NOTICE", invoice_number="1", unique_source_invoice_id="u",
            customer_number="c", from_date=day, to_date=day, page_size=5, page_token="p",
        ).to_list()  # fmt: skip
        await c.cases.list(
            org, status="OPEN", type="REMINDER", case_number=3, customer_number="c",
            unique_source_invoice_id="u", search_term="s", from_created_at=day,
            to_created_at=datetime.datetime(2026, 3, 13, 9, 30), page_size=5, page_token="p",
        ).to_list()  # fmt: skip
        await c.settlements.list(org, from_date=day, page_token="p").to_list()
        await c.settlements.list(org).to_list()
        ref = await c.invoices.create(
            org, [{"invoiceNumber": "1", "originalInvoiceAmount": Decimal("4500.10")}]
        )
    queries = [dict(r.query) for r in recorded.requests]
    assert queries[0] == {
        "State": "QUEUED", "Type": "INVOICE", "SubjectId": str(uuid.UUID(int=9)),
        "IdempotencyKey": "k", "SortDirection": "DESC", "PageSize": "5", "PageToken": "p",
    }  # fmt: skip
    assert queries[1] == {
        "Status": "OPEN", "Type": "NOTICE", "InvoiceNumber": "1", "UniqueSourceInvoiceId": "u",
        "CustomerNumber": "c", "From": "2026-03-12", "To": "2026-03-12", "PageSize": "5",
        "PageToken": "p",
    }  # fmt: skip
    assert queries[2] == {
        "Status": "OPEN", "Type": "REMINDER", "CaseNumber": "3", "CustomerNumber": "c",
        "UniqueSourceInvoiceId": "u", "SearchTerm": "s", "FromCreatedAt": "2026-03-12",
        "ToCreatedAt": "2026-03-13", "PageSize": "5", "PageToken": "p",
    }  # fmt: skip
    assert queries[3] == {"fromDate": "2026-03-12", "pageToken": "p"}
    assert queries[4] == {}
    assert recorded.requests[0].path == f"/collection/v1/orgs/{org}/batches"
    assert bodies == [b'{"invoices":[{"invoiceNumber":"1","originalInvoiceAmount":4500.10}]}']
    post = recorded.requests[-1]
    assert uuid.UUID(post.headers["IdempotencyKey"]).version == 4
    assert post.headers["Content-Type"] == "application/json"
    assert ref.batch_id == uuid.UUID(int=7)


async def test_the_demo_step_creates_invoices_and_finds_them_in_the_legacy_batch(
    sandbox: SandboxServer, fast_retry: RetryPolicy
) -> None:
    import io

    from amili_async._demo_collection import run_collection_demo

    out = io.StringIO()
    assert await run_collection_demo(sandbox, fast_retry, out)
    assert out.getvalue().count(" ok") == 3
    assert "MISMATCH" not in out.getvalue()


async def test_a_failing_token_endpoint_is_retried_by_the_call_that_needs_the_token(
    client: AmiliClient, sandbox: SandboxServer, org: str, fake_sleep: FakeSleep
) -> None:
    sandbox.faults.script("token", Fault.E503, Fault.DROP)
    assert len(await client.collection.cases.list(org).to_list()) == 4
    assert token_requests(sandbox) == 3  # a 503, a dropped answer, a token
    assert len(fake_sleep.delays) == 2  # the call's own retries, not retries within retries
    sandbox.revoke_tokens()
    sandbox.faults.script("token", *[Fault.E503] * 4)
    with pytest.raises(ServerError):
        await client.collection.cases.list(org).to_list()
    assert token_requests(sandbox) == 3 + 4  # one per attempt of the call (4 by default)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (403, "PermissionDeniedError"),
        (404, "NotFoundError"),
        (409, "ConflictError"),
        (422, "UnprocessableEntityError"),
        (423, "LockedError"),
        (429, "RateLimitError"),
        (500, "ServerError"),
        (503, "ServerError"),
    ],
)
async def test_collection_error_statuses_map_to_the_error_tree_with_a_readable_message(
    serve: Serve, status: int, error: str
) -> None:
    body = {"title": "Refused", "detail": f"because {status}", "traceId": "t-1"}

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response(body, status=status)

    url, _ = await serve({"GET /collection/v1/orgs/{org}/invoices/{id}": refuse})
    async with AmiliClient(url, token="t", retry=RetryPolicy.none()) as client:
        with pytest.raises(AmiliError) as caught:
            await client.collection.invoices.get("o", "i")
    assert type(caught.value).__name__ == error
    assert f"because {status}" in str(caught.value)
    assert "t-1" in caught.value.body  # type: ignore[attr-defined]
