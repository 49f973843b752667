"""The narrow view of a batch that the settlement poller decodes.

A poll response may carry all of the creditor's cases as well. Declaring only the creditor cursor and
the settlements makes msgspec skip the cases without building them, several times faster than a
full [`Batch`][amili_async.Batch] decode of the same page.
"""

from __future__ import annotations

import msgspec

from .base import LegacyModel, Model
from .batch import NullableList, Settlement, replace_null_lists

__all__ = ["CreditorCursor", "SettlementPage"]


class CreditorCursor(LegacyModel):
    """The part of a creditor the poller needs: who it is and where its settlements continue."""

    id_number: str | None = None
    """``idnumber``: the creditor's organisation number."""
    last_settlement_id: str | None = None
    """``lastsettlementid``: where the creditor's settlements continue."""


class SettlementPage(Model):
    """One poll response: creditor cursors and settlements, nothing else."""

    creditors: NullableList[CreditorCursor] = msgspec.field(default_factory=list, name="creditor")
    """``creditor``: the creditors' cursors; empty when none."""
    settlements: NullableList[Settlement] = msgspec.field(default_factory=list, name="settlement")
    """``settlement``: the settlements, oldest first; empty when none."""

    def __post_init__(self) -> None:
        replace_null_lists(self, "creditors", "settlements")
