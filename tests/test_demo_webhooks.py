"""The demo's webhook side: settlements paid while it listens are checked against both paths."""

from __future__ import annotations

import io

from amili_async._demo_webhooks import DemoWebhooks
from amili_async.sandbox import SandboxServer


async def test_every_new_settlement_by_webhook_once_and_by_polling() -> None:
    async with SandboxServer(creditors=2, cases=5, settlements=2, seed=3) as sandbox:
        async with DemoWebhooks(sandbox, seed=1) as webhooks:
            paid = sandbox.add_settlements(sandbox.creditor_ids[0], 4)
            paid += sandbox.add_settlements(sandbox.creditor_ids[1], 2)
            await sandbox.webhooks.join()
        ids = {s["id"] for s in paid}
        assert sorted(webhooks.settlement_ids) == sorted(ids)  # no repeat handled twice
        out = io.StringIO()
        assert webhooks.reconcile({i.upper() for i in ids}, out)  # ids compared ignoring case
        assert "6 settlements paid during the demo" in out.getvalue()
        missing_one = set(list(ids)[1:])
        assert not webhooks.reconcile(missing_one, io.StringIO())
