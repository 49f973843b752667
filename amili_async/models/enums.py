"""Forward-compatible string enums.

The API documents a few values of each enum and says others exist. A value we do not know yet must
not fail a whole batch, so unknown values decode to a *pseudo-member*: an instance of the enum whose
``value`` is the string the server sent and whose [`is_known`][amili_async.OpenEnum.is_known] is
``False``. It still compares equal to that string, so code written against tomorrow's values works
today.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["CollectionType", "InvoiceStatus", "InvoiceType", "OpenEnum", "SettlementType"]

# Pseudo-members kept per enum: a new value the day Amili adds one is decoded thousands of times
# per batch, so it is built once; a server sending endless distinct values cannot grow memory.
MAX_PSEUDO_MEMBERS: Final = 256
_pseudo_members: dict[type[OpenEnum], dict[str, OpenEnum]] = {}


class OpenEnum(enum.StrEnum):
    """A ``StrEnum`` that accepts values it does not list (msgspec honours ``_missing_``).

    The pseudo-member of an unlisted value is built once and reused (up to 256 values per enum;
    past that each is built anew), so ``is`` works on them as on members.
    """

    @classmethod
    def _missing_(cls, value: object) -> OpenEnum | None:
        if not isinstance(value, str):
            return None
        known = _pseudo_members.setdefault(cls, {})
        pseudo = known.get(value)
        if pseudo is None:
            pseudo = str.__new__(cls, value)
            pseudo._name_ = value
            pseudo._value_ = value
            if len(known) < MAX_PSEUDO_MEMBERS:
                known[value] = pseudo
        return pseudo

    @property
    def is_known(self) -> bool:
        """``True`` for a value this version of the SDK lists, ``False`` for one it does not."""
        return self._value_ in type(self)._value2member_map_


class CollectionType(OpenEnum):
    """Settlement ``collectionType``: which collection stage produced the payment."""

    REMINDER = "REMINDER"
    DEBT_COLLECTION = "DEBT_COLLECTION"


class SettlementType(OpenEnum):
    """Settlement ``settlementType``."""

    COLLECTOR_PAYMENT = "COLLECTOR_PAYMENT"


class InvoiceType(OpenEnum):
    """Settlement invoice ``type``."""

    REMINDER = "REMINDER"
    NOTICE = "NOTICE"
    PAYMENT_REMINDER = "PAYMENT_REMINDER"


class InvoiceStatus(OpenEnum):
    """An invoice's ``status`` (settlement invoices and the Collection API's invoices; ``PAUSED``
    and ``WITHDRAWN`` are assumed)."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"
    PAUSED = "PAUSED"
    WITHDRAWN = "WITHDRAWN"
