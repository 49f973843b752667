"""Settlement polling: the poller, its events and stats, and the checkpoint stores."""

from .poller import ErrorCallback, PollerOptions, SettlementEvent, SettlementPoller, Start
from .postgres import PostgresCheckpointStore
from .stats import CreditorStats, PollerStats
from .stores import (
    CheckpointStore,
    ClaimingStore,
    FileCheckpointStore,
    LeasingStore,
    MemoryCheckpointStore,
    SQLiteCheckpointStore,
)

__all__ = [
    "CheckpointStore",
    "ClaimingStore",
    "CreditorStats",
    "ErrorCallback",
    "FileCheckpointStore",
    "LeasingStore",
    "MemoryCheckpointStore",
    "PollerOptions",
    "PollerStats",
    "PostgresCheckpointStore",
    "SQLiteCheckpointStore",
    "SettlementEvent",
    "SettlementPoller",
    "Start",
]
