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
from .models.polling import SettlementPage

__all__ = [
    "BATCH",
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

SETTLEMENT_PAGE: Final = BATCH.returning(SettlementPage)
"""``GET Batch`` decoded as the poller reads it: creditor cursors and settlements only."""

PING: Final = Endpoint(
    family=LEGACY,
    method="GET",
    path="Ping",
    response=type(None),
    docs="Returns when the service is up and the credentials work.",
)
