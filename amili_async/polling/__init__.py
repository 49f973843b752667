"""Settlement polling: the poller, its events and stats, and the checkpoint stores."""

from .poller import ErrorCallback, SettlementEvent, SettlementPoller, Start
from .stats import CreditorStats, PollerStats
from .stores import (
    CheckpointStore,
    FileCheckpointStore,
    MemoryCheckpointStore,
    SQLiteCheckpointStore,
)

__all__ = [
    "CheckpointStore",
    "CreditorStats",
    "ErrorCallback",
    "FileCheckpointStore",
    "MemoryCheckpointStore",
    "PollerStats",
    "SQLiteCheckpointStore",
    "SettlementEvent",
    "SettlementPoller",
    "Start",
]
