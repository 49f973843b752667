"""Receive Amili's webhooks exactly once: parse, verify, deduplicate, and answer 2xx only when
your handler has finished.

```python
from aiohttp import web
from amili_async.webhooks import HmacSha256Verifier, SQLiteWebhookDedupe, WebhookReceiver

async def on_event(event):
    ...  # book it

receiver = WebhookReceiver(
    on_event,
    verifier=HmacSha256Verifier(secret),
    dedupe=SQLiteWebhookDedupe("webhooks.db"),
)
app = web.Application()
receiver.add_routes(app)  # POST /amili/webhooks
```
"""

from .dedupe import (
    DEFAULT_TTL,
    MemoryWebhookDedupe,
    SQLiteWebhookDedupe,
    WebhookDedupe,
    WebhookDedupeError,
)
from .events import (
    BatchCompleted,
    CaseEvent,
    SettlementCreated,
    UnknownEvent,
    WebhookEvent,
    WebhookEventBase,
    parse_webhook,
)
from .receiver import DEFAULT_MAX_BODY_BYTES, DEFAULT_PATH, WebhookHandler, WebhookReceiver
from .verification import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    HmacSha256Verifier,
    WebhookVerifier,
    sign_webhook,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PATH",
    "DEFAULT_TTL",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "BatchCompleted",
    "CaseEvent",
    "HmacSha256Verifier",
    "MemoryWebhookDedupe",
    "SQLiteWebhookDedupe",
    "SettlementCreated",
    "UnknownEvent",
    "WebhookDedupe",
    "WebhookDedupeError",
    "WebhookEvent",
    "WebhookEventBase",
    "WebhookHandler",
    "WebhookReceiver",
    "WebhookVerifier",
    "parse_webhook",
    "sign_webhook",
]
