"""The demo's webhook side: a [`WebhookReceiver`][amili_async.webhooks.WebhookReceiver] on
127.0.0.1 beside the poller, fed by the sandbox with repeated deliveries, and the check that every
settlement paid during the demo arrived by both paths exactly once."""

from __future__ import annotations

from typing import Self, TextIO

from aiohttp import web

from .sandbox import SandboxServer
from .webhooks import HmacSha256Verifier, SettlementCreated, WebhookEvent, WebhookReceiver

__all__ = ["DemoWebhooks"]

_SECRET = "whsec_demo"  # noqa: S105 - a throwaway secret shared with the in-process sandbox
_DUPLICATE_RATE = 0.2


class DemoWebhooks:
    """``async with DemoWebhooks(sandbox) as webhooks:`` receives the sandbox's webhooks."""

    def __init__(self, sandbox: SandboxServer, *, seed: int = 0) -> None:
        self._sandbox = sandbox
        self._seed = seed
        self._runner: web.AppRunner | None = None
        self._known: set[str] = set()
        self.settlement_ids: list[str] = []  # in order of handling; a repeat would show twice

    async def __aenter__(self) -> Self:
        receiver = WebhookReceiver(self._handle, verifier=HmacSha256Verifier(_SECRET))
        app = web.Application()
        receiver.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        sandbox = self._sandbox
        self._known = {s["id"] for c in sandbox.creditor_ids for s in sandbox.ledger(c)}
        sandbox.add_webhook(
            f"http://127.0.0.1:{port}/amili/webhooks",
            secret=_SECRET,
            duplicate_rate=_DUPLICATE_RATE,
            seed=self._seed,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, event: WebhookEvent) -> None:
        if isinstance(event, SettlementCreated) and event.settlement_id:
            self.settlement_ids.append(event.settlement_id.lower())

    def reconcile(self, polled_ids: set[str], out: TextIO) -> bool:
        """Check (once the deliveries have ended) that each settlement paid since the start
        came once by webhook and was also polled."""
        sandbox = self._sandbox
        paid = {s["id"] for c in sandbox.creditor_ids for s in sandbox.ledger(c)} - self._known
        by_webhook = set(self.settlement_ids)
        polled = {i.lower() for i in polled_ids}
        repeats = sum(d.repeat for d in sandbox.webhooks.deliveries)
        ok = by_webhook == paid and len(self.settlement_ids) == len(by_webhook) and paid <= polled
        print(
            f"webhooks: {len(paid)} settlements paid during the demo, {len(by_webhook)} handled "
            f"by the receiver ({repeats} repeated deliveries dropped), "
            f"{len(paid & polled)} of them also polled: "
            f"{'ok' if ok else 'MISMATCH'}",
            file=out,
        )
        return ok
