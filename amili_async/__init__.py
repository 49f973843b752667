"""amili_async: the async Python SDK for Amili's AutoCollect debt-collection API.

Everything a user needs is importable from here; submodules are reachable but their layout may change.
Logging goes to the ``amili_async`` loggers by concern (``amili_async.transport``,
``amili_async.poller``, ``amili_async.sandbox``); the package adds only a ``NullHandler``.
"""

import logging

from ._transport import RawResponse
from ._version import __version__
from .auth import Auth, AuthContext, BasicAuth, BearerAuth, Secret, TokenProviderAuth
from .client import AmiliClient
from .errors import (
    AmiliError,
    APIError,
    AuthenticationError,
    BadRequestError,
    CheckpointError,
    ClientClosedError,
    ConfigurationError,
    ConflictError,
    CursorStalledError,
    DecodeError,
    LeaseLostError,
    LockedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    ServerError,
    TimeoutError,
    TokenProviderError,
    TransportError,
    UnprocessableEntityError,
)
from .fanout import BatchFanOut, CreditorBatch
from .models import (
    Batch,
    Case,
    CaseHistory,
    CollectionType,
    Contact,
    Creditor,
    Distribution,
    InvoiceStatus,
    InvoiceType,
    OpenEnum,
    Organization,
    PaymentDetails,
    Settlement,
    SettlementInvoice,
    SettlementType,
    decode_batch,
)
from .oauth import ClientCredentialsAuth
from .polling import (
    CheckpointStore,
    CreditorStats,
    FileCheckpointStore,
    MemoryCheckpointStore,
    PollerStats,
    SettlementEvent,
    SettlementPoller,
    SQLiteCheckpointStore,
)
from .retry import RetryPolicy

__all__ = [
    "APIError",
    "AmiliClient",
    "AmiliError",
    "Auth",
    "AuthContext",
    "AuthenticationError",
    "BadRequestError",
    "BasicAuth",
    "Batch",
    "BatchFanOut",
    "BearerAuth",
    "Case",
    "CaseHistory",
    "CheckpointError",
    "CheckpointStore",
    "ClientClosedError",
    "ClientCredentialsAuth",
    "CollectionType",
    "ConfigurationError",
    "ConflictError",
    "Contact",
    "Creditor",
    "CreditorBatch",
    "CreditorStats",
    "CursorStalledError",
    "DecodeError",
    "Distribution",
    "FileCheckpointStore",
    "InvoiceStatus",
    "InvoiceType",
    "LeaseLostError",
    "LockedError",
    "MemoryCheckpointStore",
    "NotFoundError",
    "OpenEnum",
    "Organization",
    "PaymentDetails",
    "PermissionDeniedError",
    "PollerStats",
    "RateLimitError",
    "RawResponse",
    "RedirectError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "SQLiteCheckpointStore",
    "Secret",
    "ServerError",
    "Settlement",
    "SettlementEvent",
    "SettlementInvoice",
    "SettlementPoller",
    "SettlementType",
    "TimeoutError",
    "TokenProviderAuth",
    "TokenProviderError",
    "TransportError",
    "UnprocessableEntityError",
    "__version__",
    "decode_batch",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
