"""SandboxServer: the embedded fake AutoCollect service on 127.0.0.1, for tests, demos and trying
the SDK without credentials."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from typing import Any, Self, Unpack

from aiohttp import web

from .._lifecycle import AsyncClosing
from .collection import CollectionApi
from .collection_state import CollectionState
from .faults import FaultPlan
from .routes import DEFAULT_REQUEST_LOG_SIZE, RequestRecord, SandboxApp
from .state import SandboxState
from .tokens import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, TOKEN_PATH, TokenIssuer
from .webhooks import EndpointOptions, WebhookDispatcher, WebhookEndpoint

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_TOKEN", "DEFAULT_USERNAME", "SandboxServer"]

DEFAULT_TOKEN = "sk_sandbox_amili"  # noqa: S105 - a documented, public sandbox credential
DEFAULT_USERNAME = "sandbox"
DEFAULT_PASSWORD = "sandbox"  # noqa: S105 - likewise

_log = logging.getLogger(__name__)


class SandboxServer(AsyncClosing):
    """A running sandbox: ``async with SandboxServer(creditors=20, seed=1) as sandbox:``.

    Binds 127.0.0.1 on a free port (``port=0``) unless told otherwise. Give the client
    ``base_url=sandbox.url, token=sandbox.token``.

    Args:
        creditors: How many creditors to generate.
        seed: Seeds the data (and nothing else: faults have their own seed).
        cases: Cases per creditor (``None``: a seeded mix of 20-200).
        settlements: Settlements already paid per creditor (``None``: a seeded mix of 5-60).
        page_size: At most this many settlements per creditor per response.
        token: The bearer token accepted.
        username: The HTTP Basic user accepted.
        password: The HTTP Basic password accepted.
        faults: A [`FaultPlan`][amili_async.sandbox.FaultPlan] (default: no faults);
            ``sandbox.faults`` can be changed live.
        latency: Seconds added to every response.
        host: The address to bind: keep it on loopback.
        port: The port (0: any free one).
        state: A prepared [`SandboxState`][amili_async.sandbox.SandboxState] instead of generating
            one.
        client_id: The OAuth2 client id the token endpoint (``token_url``) accepts.
        client_secret: The OAuth2 client secret it accepts.
        token_ttl: Seconds an OAuth2 token lives (``expires_in``).
        batch_delay: Seconds a Collection API batch stays ``QUEUED`` before it is processed.
        request_log_size: How many of the latest requests ``.requests`` keeps (0: none), so that
            a sandbox serving for days stays bounded; ``.request_count`` counts them all.

    Raises:
        ValueError: ``page_size`` below 1 or a negative ``request_log_size``.
    """

    def __init__(
        self,
        *,
        creditors: int = 20,
        seed: int = 1,
        cases: int | None = None,
        settlements: int | None = None,
        page_size: int = 500,
        token: str = DEFAULT_TOKEN,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        faults: FaultPlan | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        state: SandboxState | None = None,
        request_log_size: int = DEFAULT_REQUEST_LOG_SIZE,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        token_ttl: float = 3600.0,
        batch_delay: float = 0.2,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.state = state or SandboxState.generate(
            creditors=creditors, cases=cases, settlements=settlements, seed=seed
        )
        self._app = SandboxApp(
            state=self.state,
            token=token,
            username=username,
            password=password,
            faults=faults or FaultPlan(),
            latency=latency,
            page_size=page_size,
            request_log_size=request_log_size,
            collection=CollectionApi(
                CollectionState(self.state, batch_delay=batch_delay),
                TokenIssuer(client_id, client_secret, token_ttl),
            ),
        )
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._payouts: asyncio.Task[None] | None = None
        self.webhooks = WebhookDispatcher(self.state, seed=seed)
        self.collection.state.on_batch_completed = self.webhooks.batch_completed
        self.url = ""

    def __repr__(self) -> str:
        return f"SandboxServer(url={self.url!r}, creditors={len(self.state.creditor_ids)})"

    async def start(self) -> Self:
        """Start serving; ``.url`` is set once this returns.

        Raises:
            OSError: the address cannot be bound (a busy port, say).
        """
        if self._runner is not None:
            return self
        runner = web.AppRunner(self._app.build(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}"
        return self

    async def close(self) -> None:
        """Stop payouts and the server. Closing twice is harmless."""
        await self.stop_payouts_and_wait()
        await self.webhooks.close()
        self.collection.state.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    # -- what tests and demos read and steer ------------------------------------------------------

    @property
    def token(self) -> str:
        """The bearer token the sandbox accepts."""
        return self._app.token

    @property
    def username(self) -> str:
        """The HTTP Basic user the sandbox accepts."""
        return self._app.username

    @property
    def password(self) -> str:
        """The HTTP Basic password the sandbox accepts."""
        return self._app.password

    @property
    def collection(self) -> CollectionApi:
        """The Collection API: its state (``.state``), token issuer (``.tokens``) and page
        sizes (``.default_page_size``, ``.max_page_size``)."""
        assert self._app.collection is not None  # always set by __init__
        return self._app.collection

    @property
    def client_id(self) -> str:
        """The OAuth2 client id the sandbox accepts."""
        return self.collection.tokens.client_id

    @property
    def client_secret(self) -> str:
        """The OAuth2 client secret the sandbox accepts."""
        return self.collection.tokens.client_secret

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint (``{url}/token``)."""
        return self.url + TOKEN_PATH

    def revoke_tokens(self) -> None:
        """Reject every OAuth2 token issued so far (the next call with one gets a 401)."""
        self.collection.tokens.revoke_all()

    @property
    def batch_delay(self) -> float:
        """Seconds a new Collection API batch stays ``QUEUED``; changeable live."""
        return self.collection.state.batch_delay

    @batch_delay.setter
    def batch_delay(self, seconds: float) -> None:
        self.collection.state.batch_delay = seconds

    @property
    def organization_ids(self) -> list[str]:
        """The Collection API's organisation ids, one per creditor, in creditor order."""
        return [self.collection.state.organization_id(c) for c in self.creditor_ids]

    @property
    def faults(self) -> FaultPlan:
        """The fault plan, changeable while the sandbox runs."""
        return self._app.faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self._app.faults = plan

    @property
    def latency(self) -> float:
        """Seconds added to every response."""
        return self._app.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._app.latency = seconds

    @property
    def requests(self) -> list[RequestRecord]:
        """The latest requests (at most ``request_log_size``), oldest first: a new list."""
        return list(self._app.requests)

    @property
    def request_count(self) -> int:
        """How many requests the sandbox has seen, those the log has dropped included."""
        return self._app.request_count

    @property
    def max_in_flight(self) -> int:
        """The most requests the sandbox was handling at once."""
        return self._app.max_in_flight

    @property
    def creditor_ids(self) -> list[str]:
        """The creditors' ids, in generation order."""
        return self.state.creditor_ids

    def add_settlements(self, creditor_id: str, n: int = 1) -> list[dict[str, Any]]:
        """Pay out ``n`` new settlements to a creditor now."""
        return self.state.add_settlements(creditor_id, n)

    def add_webhook(
        self, url: str, *, secret: str, **options: Unpack[EndpointOptions]
    ) -> WebhookEndpoint:
        """Deliver webhooks to ``url``, signed with ``secret``: settlements paid out and cases
        registered from now on, and whatever ``sandbox.webhooks.deliver(...)`` is given.

        ``duplicate_rate`` of the events are delivered twice at once; a non-2xx answer is
        redelivered up to ``max_attempts`` attempts, waiting ``backoff`` seconds, doubling (the
        options are [`EndpointOptions`][amili_async.sandbox.webhooks.EndpointOptions]). See
        [`WebhookDispatcher`][amili_async.sandbox.WebhookDispatcher]: ``await
        sandbox.webhooks.join()`` waits for the deliveries so far, ``sandbox.webhooks.deliveries``
        lists every attempt.
        """
        return self.webhooks.add_endpoint(url, secret=secret, **options)

    def ledger(self, creditor_id: str) -> list[dict[str, Any]]:
        """Every settlement paid out to the creditor so far, in order."""
        return self.state.ledger(creditor_id)

    def start_payouts(
        self, rate: float, creditor_ids: Iterable[str] | None = None, *, seed: int = 0
    ) -> None:
        """Pay out about ``rate`` settlements per second, to creditors chosen at random (seeded),
        until [`stop_payouts`][amili_async.sandbox.SandboxServer.stop_payouts] or the sandbox
        closes."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.stop_payouts()
        targets = list(creditor_ids or self.creditor_ids)
        self._payouts = asyncio.create_task(self._pay_out(rate, targets, random.Random(seed)))

    def stop_payouts(self) -> None:
        """Stop paying out (what was paid stays paid)."""
        if self._payouts is not None:
            self._payouts.cancel()

    async def stop_payouts_and_wait(self) -> None:
        """Stop paying out and wait until the payout task has ended (a failure of that task is
        logged, never raised: closing must not fail)."""
        task, self._payouts = self._payouts, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            _log.error("sandbox payouts had failed", exc_info=task.exception())

    async def _pay_out(self, rate: float, creditor_ids: list[str], rng: random.Random) -> None:
        while True:
            await asyncio.sleep(1 / rate)
            self.state.add_settlements(rng.choice(creditor_ids))
