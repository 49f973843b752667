"""The sandbox's webhook deliveries: Amili's events, signed, repeated and retried the way a real
sender does, to the endpoints registered with
[`SandboxServer.add_webhook`][amili_async.sandbox.SandboxServer.add_webhook].

What is delivered (shapes from ``shared/amili-api.md`` section 6):

* ``SETTLEMENT_CREATED`` for every settlement paid out after the endpoint was registered
  (``add_settlements`` and live payouts alike); ``settlementDate`` is sent as the settlement's
  timestamp, ``caseNumber`` as a string;
* ``CASE`` (with ``eventType`` in the envelope, as the docs show case events) for every case a
  ``POST Batch`` registers; ``caseNumber`` as a JSON number;
* ``BATCH_COMPLETED`` for each Collection API batch handed to
  [`WebhookDispatcher.batch_completed`][amili_async.sandbox.WebhookDispatcher.batch_completed], and
  whatever [`WebhookDispatcher.deliver`][amili_async.sandbox.WebhookDispatcher.deliver] is given.

Each delivery is signed with [`sign_webhook`][amili_async.webhooks.sign_webhook] (the scheme
[`HmacSha256Verifier`][amili_async.webhooks.HmacSha256Verifier] checks), carries
``X-Amili-Event``, ``IdempotencyKey`` (one per event), ``X-Amili-Request-Id`` (one per attempt)
and ``X-Webhook-Timestamp``. A non-2xx answer or a failed connection is retried with exponential
backoff, at most ``max_attempts`` times; a share (``duplicate_rate``) of the events is delivered
twice at once, as an at-least-once sender may.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import random
import time
import uuid
from typing import Any, TypedDict, Unpack

import aiohttp

from ..auth import Secret
from ..webhooks.verification import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_webhook
from .generator import Json, encode_json, settlement_invoice
from .state import SandboxState

__all__ = ["EndpointOptions", "WebhookDelivery", "WebhookDispatcher", "WebhookEndpoint"]

logger = logging.getLogger("amili_async.sandbox.webhooks")

# Events whose envelope names the type `eventType` (as the published case events do).
_EVENT_TYPE_KEY = {"CASE": "eventType", "CASE_UPDATED": "eventType"}


@dataclasses.dataclass
class WebhookEndpoint:
    """One registered receiver, with its delivery knobs (changeable while the sandbox runs).

    Attributes:
        url: Where events are POSTed.
        secret: The shared signing secret.
        duplicate_rate: The share of events (0 to 1) delivered twice at once.
        max_attempts: Attempts per delivery before giving up (the first included).
        backoff: Seconds before the first redelivery; doubled each time, up to ``max_backoff``.
        max_backoff: The longest wait between attempts.
        timeout: Seconds to wait for the receiver's answer.
        event_types: Only these event types (``None``: all).
        rng: The random source of the duplicates; seed it for a repeatable run.
    """

    url: str
    secret: Secret
    duplicate_rate: float = 0.0
    max_attempts: int = 5
    backoff: float = 0.05
    max_backoff: float = 2.0
    timeout: float = 10.0
    event_types: frozenset[str] | None = None
    rng: random.Random = dataclasses.field(default_factory=random.Random, repr=False)

    def wants(self, event_type: str) -> bool:
        """Whether it takes ``event_type`` (all types if ``event_types`` is ``None``)."""
        return self.event_types is None or event_type in self.event_types

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))


@dataclasses.dataclass(frozen=True)
class WebhookDelivery:
    """One delivery attempt, as the sandbox saw it.

    Attributes:
        url: The endpoint.
        event_type: The event type.
        event_id: The event's ``id``.
        idempotency_key: Its ``IdempotencyKey`` (the same for every attempt and repeat).
        attempt: 1 for the first attempt of a delivery, 2 for its first redelivery, ...
        repeat: ``True`` for the deliberate second delivery of a repeated event.
        status: The receiver's answer; 0 when none came (connection failed, timeout).
    """

    url: str
    event_type: str
    event_id: str
    idempotency_key: str
    attempt: int
    repeat: bool
    status: int


@dataclasses.dataclass(frozen=True)
class _Event:
    type: str
    id: str
    key: str
    body: bytes


class EndpointOptions(TypedDict, total=False):
    """How the sandbox delivers to one webhook endpoint (all optional).

    Attributes:
        duplicate_rate: The share of events delivered twice at once (0 to 1; default 0).
        max_attempts: Attempts per delivery, the first included; a non-2xx answer is retried
            (default 5).
        backoff: Seconds before the first redelivery, doubling (default 0.05).
        max_backoff: The longest wait between redeliveries (default 2).
        timeout: Seconds one delivery may take (default 10).
        event_types: Only these event types (default: every type).
        seed: Seeds the choice of repeated deliveries (default 0).
    """

    duplicate_rate: float
    max_attempts: int
    backoff: float
    max_backoff: float
    timeout: float
    event_types: set[str] | frozenset[str] | None
    seed: int


class WebhookDispatcher:
    """Sends the sandbox's events to the registered endpoints (see the module docs).

    Listens to ``state`` from construction: settlements paid and cases registered become events
    once an endpoint is registered. Deliveries run as tasks on the running event loop.

    Attributes:
        endpoints: The registered endpoints.
        deliveries: Every attempt so far, oldest first.
    """

    def __init__(self, state: SandboxState, *, seed: int = 0) -> None:
        self.endpoints: list[WebhookEndpoint] = []
        self.deliveries: list[WebhookDelivery] = []
        self._rng = random.Random(seed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        state.listeners.append(self._on_state_change)

    def __repr__(self) -> str:
        return f"WebhookDispatcher({len(self.endpoints)} endpoints, {len(self._tasks)} pending)"

    def add_endpoint(
        self, url: str, *, secret: str, **options: Unpack[EndpointOptions]
    ) -> WebhookEndpoint:
        """Register an endpoint; see [`WebhookEndpoint`][amili_async.sandbox.WebhookEndpoint] and
        [`EndpointOptions`][amili_async.sandbox.webhooks.EndpointOptions]."""
        duplicate_rate = options.get("duplicate_rate", 0.0)
        max_attempts = options.get("max_attempts", 5)
        backoff = options.get("backoff", 0.05)
        max_backoff = options.get("max_backoff", 2.0)
        timeout = options.get("timeout", 10.0)
        event_types = options.get("event_types")
        seed = options.get("seed", 0)
        if not 0.0 <= duplicate_rate <= 1.0:
            raise ValueError("duplicate_rate must be between 0 and 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        endpoint = WebhookEndpoint(
            url, Secret(secret), duplicate_rate, max_attempts, backoff, max_backoff, timeout,
            None if event_types is None else frozenset(event_types), random.Random(seed),
        )  # fmt: skip
        self.endpoints.append(endpoint)
        return endpoint

    def deliver(self, event_type: str, data: Json) -> str | None:
        """Deliver an event (``data`` is its ``data`` object) to every endpoint that wants it.

        A plain call: the deliveries run as tasks on the running loop (without one, the event is
        dropped with a warning). Returns the event's id, or ``None`` when no endpoint wants it.
        """
        endpoints = [e for e in self.endpoints if e.wants(event_type)]
        if not endpoints:
            return None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            logger.warning("webhook %s not delivered: no running event loop", event_type)
            return None
        event = self._event(event_type, data)
        for endpoint in endpoints:
            self._spawn(endpoint, event, repeat=False)
            if endpoint.rng.random() < endpoint.duplicate_rate:
                self._spawn(endpoint, event, repeat=True)
        return event.id

    async def join(self) -> None:
        """Wait until every delivery, redeliveries included, has ended."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel pending deliveries and close the HTTP session."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _event(self, event_type: str, data: Json) -> _Event:
        event_id = self._uuid()
        envelope = {
            "id": event_id,
            _EVENT_TYPE_KEY.get(event_type, "type"): event_type,
            "source": "COLLECTION",
            "timeStamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "data": data,
        }
        return _Event(event_type, event_id, self._uuid(), encode_json(envelope))

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _spawn(self, endpoint: WebhookEndpoint, event: _Event, *, repeat: bool) -> None:
        task = asyncio.create_task(self._deliver(endpoint, event, repeat))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, endpoint: WebhookEndpoint, event: _Event, repeat: bool) -> None:
        for attempt in range(1, endpoint.max_attempts + 1):
            status = await self._post(endpoint, event)
            self.deliveries.append(
                WebhookDelivery(
                    endpoint.url, event.type, event.id, event.key, attempt, repeat, status
                )
            )
            if 200 <= status < 300:
                return
            if attempt < endpoint.max_attempts:
                await asyncio.sleep(endpoint.delay(attempt))
        logger.warning("webhook %s %s to %s: gave up", event.type, event.id, endpoint.url)

    async def _post(self, endpoint: WebhookEndpoint, event: _Event) -> int:
        headers = {
            "Content-Type": "application/json",
            "X-Amili-Event": event.type,
            "IdempotencyKey": event.key,
            "X-Amili-Request-Id": self._uuid(),
            SIGNATURE_HEADER: sign_webhook(event.body, endpoint.secret),
            TIMESTAMP_HEADER: str(int(time.time())),
        }
        timeout = aiohttp.ClientTimeout(total=endpoint.timeout)
        try:
            async with self._client().post(
                endpoint.url, data=event.body, headers=headers, timeout=timeout
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            return 0

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def batch_completed(self, batch: Json) -> None:
        """Deliver ``BATCH_COMPLETED`` for a finished Collection API batch (its JSON as
        ``GET .../batches/{id}`` answers it): the hook for the Collection sandbox's
        ``on_batch_completed``."""
        data = {key: batch.get(key) for key in ("batchId", "organizationId", "status")}
        self.deliver("BATCH_COMPLETED", data)

    # -- the sandbox's own events -------------------------------------------------------------

    def _on_state_change(self, kind: str, creditor: Json, item: Json) -> None:
        if kind == "settlement":
            self.deliver("SETTLEMENT_CREATED", settlement_created(item))
        elif kind == "case":
            self.deliver("CASE", case_event(creditor, item))


def settlement_created(settlement: Json) -> Json:
    """The ``data`` of ``SETTLEMENT_CREATED`` for a sandbox settlement."""
    invoice = settlement["invoice"]
    return {
        "settlementId": settlement["id"],
        "organizationId": settlement["organization"]["id"],
        "settlementDate": settlement["settlementDate"],
        "invoiceId": invoice["id"],
        "invoiceNumber": invoice["invoiceNumber"],
        "caseNumber": settlement["caseNumber"],
    }


def case_event(creditor: Json, case: Json) -> Json:
    """The ``data`` of a ``CASE`` event for a sandbox case (``caseNumber`` as a number)."""
    invoice = settlement_invoice(creditor, case)
    organization = creditor["_organization_id"]
    data: dict[str, Any] = {
        "orgId": organization,
        "caseId": str(uuid.uuid5(uuid.UUID(organization), f"case:{case['casenumber']}")),
        "caseNumber": int(case["casenumber"]),
        "type": "DEBT_COLLECTION" if case["isdebtcollection"] else "REMINDER",
        "status": case["status_statuscode"],
        "invoices": [{"invoiceId": invoice["id"], "invoiceNumber": invoice["invoiceNumber"]}],
        "fields": [],
    }
    return data
