"""Typed keyword parameters shared by several methods, declared once.

``Unpack[BatchQuery]`` on a signature makes a misspelt keyword (``include_closd=True``) a type error
in the caller's code instead of a runtime surprise.
"""

from __future__ import annotations

import datetime
from typing import TypedDict

__all__ = ["BatchOptions", "BatchQuery"]


class BatchOptions(TypedDict, total=False):
    """``GET /webapi/api/Batch`` parameters that apply to every creditor of a fan-out or a poller.

    Attributes:
        sender_id: The integration (sender) account the creditors belong to (``senderid``).
        customer_ref: Only cases of this customer of the creditor (``customerref``).
        ledger_ref: Only the case with this ledger/invoice reference (``ledgerref``).
        include_closed: Also return closed cases (``includeclosed``; default: open only).
        last_settlement_id: Only settlements after this one (``lastsettlementid``).
        remittance_date: Only settlements paid out on that date (``remittancedate``).
        language_code: Language of texts such as case history messages (``languagecode``).
    """

    sender_id: str | None
    customer_ref: str | None
    ledger_ref: str | None
    include_closed: bool | None
    last_settlement_id: str | None
    remittance_date: datetime.date | None
    language_code: str | None


class BatchQuery(BatchOptions, total=False):
    """Every ``GET /webapi/api/Batch`` parameter: [`BatchOptions`][amili_async.params.BatchOptions]
    plus one creditor.

    Attributes:
        creditor_id: One creditor, by its ``idnumber`` (organisation number); never empty.
    """

    creditor_id: str | None
