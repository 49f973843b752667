"""The endpoints the SDK calls, declared as data, and the request path that calls them.

Each declaration is the whole of an endpoint: family, method, path, query names, response type.
Call one decoded with [`client.requester.call`][amili_async.endpoints.RequestPath.call], or raw
(status, headers, exact bytes) with [`client.requester.send`][amili_async.endpoints.RequestPath.send]:

```python
from amili_async import endpoints

batch = await client.requester.call(endpoints.BATCH, query={"creditor_id": "923609016"})
raw = await client.requester.send(endpoints.BATCH, query={"creditor_id": "923609016"})
```
"""

from __future__ import annotations

from typing import Final

from ._request import Endpoint, RequestPath, SendOptions, decoder_for
from ._sansio import BATCH_PARAM_NAMES, COLLECTION, LEGACY, ApiFamily
from .models import Batch
from .models.documents import BatchResult, UploadedAttachment
from .models.polling import SettlementPage

__all__ = [
    "ATTACHMENT",
    "ATTACHMENT_UPLOAD",
    "BATCH",
    "BATCH_POST",
    "COLLECTION",
    "LEGACY",
    "PING",
    "SETTLEMENT_PAGE",
    "ApiFamily",
    "Endpoint",
    "RequestPath",
    "SendOptions",
    "decoder_for",
]

BATCH: Final = Endpoint(
    family=LEGACY,
    method="GET",
    path="Batch",
    response=Batch,
    query=BATCH_PARAM_NAMES,
    docs="Creditors, cases and settlements of the sender (one creditor with creditor_id).",
)
"""``GET /webapi/api/Batch``: creditors, cases and settlements, decoded as a
[`Batch`][amili_async.Batch]; the query takes the [`BatchQuery`][amili_async.params.BatchQuery] keys."""

SETTLEMENT_PAGE: Final = BATCH.returning(SettlementPage)
"""``GET Batch`` decoded as the poller reads it: creditor cursors and settlements only."""

PING: Final = Endpoint(
    family=LEGACY,
    method="GET",
    path="Ping",
    response=type(None),
    docs="Returns when the service is up and the credentials work.",
)
"""``GET /webapi/api/Ping``: returns when the service is up and the credentials work."""

# -- legacy API: POST Batch and attachments (shapes not published: assumed, see the guide) -------

BATCH_POST: Final = Endpoint(
    family=LEGACY,
    method="POST",
    path="Batch",
    response=BatchResult,
    query={"sender_id": "senderid"},
    docs="Send a batch document; answers the legacy status object. Never retried (no key).",
)
"""``POST /webapi/api/Batch?senderid=...``: send a batch document; answers a
[`BatchResult`][amili_async.BatchResult]. Never retried (no idempotency key)."""

ATTACHMENT: Final = Endpoint(
    family=LEGACY,
    method="GET",
    path="Attachment",
    response=bytes,
    query={"attachment_id": "id"},
    docs="A document linked from a case's history, by id (assumed: ?id=...).",
)
"""``GET /webapi/api/Attachment?id=...`` (assumed): a document linked from a case's history, as bytes."""

ATTACHMENT_UPLOAD: Final = Endpoint(
    family=LEGACY,
    method="POST",
    path="Attachment",
    response=UploadedAttachment,
    docs="Upload a document as the raw body; answers its id (assumed). Never retried.",
)
"""``POST /webapi/api/Attachment`` (assumed): upload a document as the raw body; answers its id.
Never retried."""
