"""An embedded fake of Amili's AutoCollect legacy API, for trying the SDK and for tests.

```python
from amili_async import AmiliClient
from amili_async.sandbox import SandboxServer

async with SandboxServer(creditors=3, seed=1) as sandbox:
    async with AmiliClient(base_url=sandbox.url, token=sandbox.token) as client:
        batch = await client.get_batch(creditor_id=sandbox.creditor_ids[0])
```

Realistic seeded data (valid Norwegian check digits, sums that add up), the legacy API's semantics
(filters, the settlement cursor, pages), live payouts and seeded fault injection. Run it from a shell
with ``python -m amili_async sandbox``; in pytest, the ``amili_sandbox`` fixture comes with the
package (a pytest11 plug-in; ``pip install 'amili_async[pytest]'`` brings pytest-asyncio).
"""

from .faults import ALL_FAULTS, Fault, FaultPlan
from .routes import RequestRecord
from .server import DEFAULT_PASSWORD, DEFAULT_TOKEN, DEFAULT_USERNAME, SandboxServer
from .state import SandboxState, UnknownCreditorError, UnknownCursorError
from .webhooks import WebhookDelivery, WebhookDispatcher, WebhookEndpoint

__all__ = [
    "ALL_FAULTS",
    "DEFAULT_PASSWORD",
    "DEFAULT_TOKEN",
    "DEFAULT_USERNAME",
    "Fault",
    "FaultPlan",
    "RequestRecord",
    "SandboxServer",
    "SandboxState",
    "UnknownCreditorError",
    "UnknownCursorError",
    "WebhookDelivery",
    "WebhookDispatcher",
    "WebhookEndpoint",
]
