"""The payloads every benchmark decodes: the sandbox generator's, with tomorrow's surprises.

The real service will send enum values this SDK does not list yet, nulls in documented fields and
the odd huge string; a benchmark that never sees them measures a service that does not exist.
"""

from __future__ import annotations

from amili_async.sandbox.generator import UNLISTED_ENUM_VALUES, generate_batch_payload

SURPRISES = 0.02
"""The share of settlements (and cases) with surprises; see ``generate_batch_payload``."""

# The settlement's enum fields on the wire, their listed values, and their UNLISTED_ENUM_VALUES key.
_ENUM_FIELDS = (
    ("collectionType", ("REMINDER", "DEBT_COLLECTION"), "collectionType"),
    ("settlementType", ("COLLECTOR_PAYMENT",), "settlementType"),
    ("type", ("REMINDER", "NOTICE", "PAYMENT_REMINDER"), "invoice.type"),
    ("status", ("OPEN", "CLOSED"), "invoice.status"),
)


def batch_payload(*, cases: int, settlements: int, seed: int) -> bytes:
    """One creditor's batch with :data:`SURPRISES`."""
    return generate_batch_payload(
        cases=cases, settlements=settlements, seed=seed, surprises=SURPRISES
    )


def with_every_enum_value_unlisted(payload: bytes) -> tuple[bytes, int]:
    """``payload`` with each settlement's listed enum values replaced by unlisted ones (the same
    payload otherwise); returns it and how many values were replaced."""
    replaced = 0
    for wire_name, listed, key in _ENUM_FIELDS:
        unlisted = f'"{wire_name}":"{UNLISTED_ENUM_VALUES[key][0]}"'.encode()
        for value in listed:
            old = f'"{wire_name}":"{value}"'.encode()
            replaced += payload.count(old)
            payload = payload.replace(old, unlisted)
    return payload, replaced
