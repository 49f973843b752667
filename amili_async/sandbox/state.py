"""The sandbox's in-memory service: one sender, its creditors, their cases and settlement ledgers.

The legacy API's semantics live here, so that the HTTP layer only parses and answers, and so that
they can be tested without sockets. Where the real API is undocumented, the rule chosen is written
in the docstring of the method that applies it (the sandbox docs page collects them).

Speed matters because pollers hammer ``GET Batch``: a settlement poll of a creditor with 100,000
cases must not re-encode those cases every time, so
[`batch_json`][amili_async.sandbox.SandboxState.batch_json] keeps each creditor's encoded case list
and splices bytes. Not thread-safe: one event loop owns a state.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypedDict, Unpack

from .checkdigits import is_valid_bank_account, is_valid_org_number, make_kid
from .generator import (
    CASE_FIELDS,
    DAY_MS,
    HISTORY_TEXTS,
    LANGUAGES,
    DataGenerator,
    Json,
    encode_json,
    history_entry,
    midnight,
    milliseconds,
    money_fields,
    public,
    timestamp,
)

__all__ = [
    "MAX_AMOUNT",
    "BatchFilters",
    "SandboxState",
    "UnknownCreditorError",
    "UnknownCursorError",
]

_CACHED_CASE_LISTS = 2  # encoded case lists kept per creditor: (include_closed, language) variants
MAX_AMOUNT: Final = Decimal("999999999999.99")
"""The largest amount a POSTed case may carry (the service's money columns hold 14 digits)."""


class UnknownCursorError(ValueError):
    """``lastsettlementid`` is not a settlement of the creditor asked for (the API answers 400)."""


class UnknownCreditorError(KeyError):
    """No creditor with that id in this sandbox."""


class BatchFilters(TypedDict, total=False):
    """The keywords of [`batch`][amili_async.sandbox.SandboxState.batch] and
    [`batch_json`][amili_async.sandbox.SandboxState.batch_json]."""

    sender_id: str | None
    creditor_id: str | None
    customer_ref: str | None
    ledger_ref: str | None
    include_closed: bool
    last_settlement_id: str | None
    remittance_date: datetime.date | None
    language_code: str | None
    page_size: int


@dataclasses.dataclass(frozen=True)
class _Query:
    """The filters of one ``GET /webapi/api/Batch``; an empty string counts as not given."""

    sender_id: str | None = None
    creditor_id: str | None = None
    customer_ref: str | None = None
    ledger_ref: str | None = None
    include_closed: bool = False
    last_settlement_id: str | None = None
    remittance_date: datetime.date | None = None
    language_code: str | None = None
    page_size: int = 500

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) == "":
                object.__setattr__(self, field.name, None)
        if self.page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {self.page_size}")

    @property
    def language(self) -> str:
        code = (self.language_code or "nb").lower()
        return code if code in LANGUAGES else "nb"

    @property
    def filters_settlements(self) -> bool:
        return any(
            v is not None for v in (self.customer_ref, self.ledger_ref, self.remittance_date)
        )

    def wants_case(self, case: Json) -> bool:
        return (
            (self.include_closed or not case["closuredate"])
            and (self.customer_ref is None or case["customerref"] == self.customer_ref)
            and (self.ledger_ref is None or case["ledgerref"] == self.ledger_ref)
        )

    def wants_settlement(self, settlement: Json) -> bool:
        day = self.remittance_date
        return (
            (self.customer_ref is None or settlement["customerReference"] == self.customer_ref)
            and (self.ledger_ref is None or settlement["ledgerRef"] == self.ledger_ref)
            and (day is None or settlement["remittanceDate"].startswith(day.isoformat()))
        )


@dataclasses.dataclass
class _Creditor:
    record: Json  # the wire creditor, with the generator's private keys
    cases: list[Json] = dataclasses.field(default_factory=list)
    ledger: list[Json] = dataclasses.field(default_factory=list)
    ledger_refs: set[str] = dataclasses.field(default_factory=set)
    # The encoded items of the `case` array by (include_closed, language), without brackets;
    # the most recent few only (a 100,000-case list is 160 MB). Dropped when the cases change.
    case_json: dict[tuple[bool, str], bytes] = dataclasses.field(default_factory=dict)

    @property
    def idnumber(self) -> str:
        return str(self.record["idnumber"])

    def add_cases(self, cases: Iterable[Json]) -> None:
        for case in cases:
            self.cases.append(case)
            self.ledger_refs.add(case["ledgerref"])
        self.case_json.clear()


@dataclasses.dataclass
class _Page:
    """One creditor's part of a batch: the cursor sent for it and its settlements."""

    creditor: _Creditor
    cursor: str | None
    settlements: list[Json]

    def creditor_view(self) -> Json:
        """The wire creditor; ``lastsettlementid`` is this page's last settlement, else the
        cursor sent, else null."""
        view = public(self.creditor.record)
        view["lastsettlementid"] = self.settlements[-1]["id"] if self.settlements else self.cursor
        return view


class SandboxState:
    """All data of one sandbox. Build it with
    [`generate`][amili_async.sandbox.SandboxState.generate].

    Dicts handed out (cases, settlements) are the state's own: treat them as read-only.

    Attributes:
        sender_id: The one sender account of this sandbox.
    """

    def __init__(self, generator: DataGenerator, sender_id: str) -> None:
        self.sender_id = sender_id
        self._generator = generator
        self._creditors: dict[str, _Creditor] = {}
        # a settlement's lowercase id -> its creditor and its position in that creditor's ledger
        self._settlement_positions: dict[str, tuple[_Creditor, int]] = {}
        self._attachments: dict[str, tuple[bytes, str]] = {}
        self.generated_attachments: dict[str, tuple[int, str]] = {}  # id -> (size, content type)
        self._batch_numbers = itertools.count(1)
        # Called with ("settlement" | "case", creditor record, item) when one is paid or
        # registered after generation (the webhook dispatcher listens here).
        self.listeners: list[Callable[[str, Json, Json], None]] = []

    @classmethod
    def generate(
        cls,
        *,
        creditors: int = 20,
        cases: int | None = None,
        settlements: int | None = None,
        seed: int = 1,
        sender_id: str = "SANDBOX-SENDER",
    ) -> SandboxState:
        """A sandbox with ``creditors`` creditors, deterministic for a ``seed``.

        ``cases`` and ``settlements`` are per creditor; ``None`` draws a seeded mix (20-200 cases,
        5-60 settlements). A creditor's first case is open and its second closed, so every
        creditor with two or more cases has both. Settlements pay random cases of their creditor
        (a creditor without cases gets none).
        """
        generator = DataGenerator(seed)
        state = cls(generator, sender_id)
        rng = generator.rng
        for index in range(creditors):
            record = generator.creditor(index)
            while record["idnumber"] in state._creditors:  # a rare collision of random numbers
                record = generator.creditor(index)
            count = cases if cases is not None else rng.randint(20, 200)
            data = state._add_creditor(record)
            data.add_cases(generator.cases(record, max(count, 0)))
            state._pay(data, settlements if settlements is not None else rng.randint(5, 60))
        return state

    @property
    def creditor_ids(self) -> list[str]:
        """The creditors' ids (organisation numbers), in generation order."""
        return list(self._creditors)

    def _add_creditor(self, record: Json) -> _Creditor:
        data = _Creditor(record)
        self._creditors[data.idnumber] = data
        return data

    def _creditor(self, creditor_id: str) -> _Creditor:
        data = self._creditors.get(creditor_id)
        if data is None:
            raise UnknownCreditorError(creditor_id)
        return data

    # -- GET /webapi/api/Batch --------------------------------------------------------------

    def batch(
        self,
        *,
        sender_id: str | None = None,
        creditor_id: str | None = None,
        customer_ref: str | None = None,
        ledger_ref: str | None = None,
        include_closed: bool = False,
        last_settlement_id: str | None = None,
        remittance_date: datetime.date | None = None,
        language_code: str | None = None,
        page_size: int = 500,
    ) -> Json:
        """The batch ``GET /webapi/api/Batch`` answers, as a dict ready for ``encode_json``.

        Rules (assumed where the API is undocumented):

        * an empty string counts as a filter not given (the documented example sends them all);
        * another ``sender_id``, or an unknown ``creditor_id``, gives an empty batch (``creditor``,
          ``case`` and ``settlement`` all ``[]``), not an error, whatever the cursor;
        * ``creditor_id`` keeps that creditor; without it, every creditor of the sender;
        * cases are the open ones (no ``closuredate``) unless ``include_closed``;
          ``customer_ref`` / ``ledger_ref`` match exactly and filter the settlements too
          (``customerReference`` / ``ledgerRef``); history texts are in ``language_code``
          (``nb`` default, ``en``; case-insensitive; anything else gives ``nb``);
        * settlements come per creditor in ``settlementNumber`` order: from the first, or after
          ``last_settlement_id`` (matched case-insensitively). That id must be a settlement of
          the creditor asked for, else ``UnknownCursorError`` (400); without a
          ``creditor_id``, of any creditor of the sender: its creditor continues after it, the
          others start from their first settlement. ``remittance_date`` keeps the settlements
          remitted that day. At most ``page_size`` settlements per creditor per response;
        * each creditor's ``lastsettlementid`` is the id of its last settlement in this
          response, else the cursor sent for it, else ``null``;
        * ``batchid`` is ``SBX-`` and a per-state counter; ``offline`` is false.

        Raises:
            UnknownCursorError: as above.
            ValueError: ``page_size`` below 1.
        """
        query = _Query(
            sender_id, creditor_id, customer_ref, ledger_ref, include_closed,
            last_settlement_id, remittance_date, language_code, page_size,
        )  # fmt: skip
        return self._batch(query)

    def batch_json(self, **filters: Unpack[BatchFilters]) -> bytes:
        """[`batch`][amili_async.sandbox.SandboxState.batch] (same keywords), encoded: money as JSON
        numbers.

        Each creditor's unfiltered case list is encoded once and reused until its cases change,
        so polling a creditor with 100,000 cases for settlements costs the settlements only.
        """
        query = _Query(**filters)
        if query.customer_ref is not None or query.ledger_ref is not None:
            return encode_json(self._batch(query))  # a few cases: not worth a cache
        pages = self._pages(query)
        head = encode_json(self._envelope([page.creditor_view() for page in pages]))
        cases = b",".join(filter(None, (self._case_json(p.creditor, query) for p in pages)))
        settlements = encode_json([s for page in pages for s in page.settlements])
        return b"".join((head[:-1], b',"case":[', cases, b'],"settlement":', settlements, b"}"))

    def _batch(self, query: _Query) -> Json:
        pages = self._pages(query)
        batch = self._envelope([page.creditor_view() for page in pages])
        batch["case"] = [
            _translated(case, query.language)
            for page in pages
            for case in page.creditor.cases
            if query.wants_case(case)
        ]
        batch["settlement"] = [s for page in pages for s in page.settlements]
        return batch

    def _envelope(self, creditors: list[Json]) -> Json:
        return {
            "batchid": f"SBX-{next(self._batch_numbers):08d}",
            "offline": False,
            "creditor": creditors,
        }

    def _pages(self, query: _Query) -> list[_Page]:
        selected = self._select(query)
        if not selected:
            return []
        owner = self._cursor_owner(query)
        pages = []
        for data in selected:
            cursor = query.last_settlement_id if data is owner else None
            pages.append(_Page(data, cursor, self._page(data, cursor, query)))
        return pages

    def _select(self, query: _Query) -> list[_Creditor]:
        if query.sender_id is not None and query.sender_id != self.sender_id:
            return []
        if query.creditor_id is None:
            return list(self._creditors.values())
        data = self._creditors.get(query.creditor_id)
        return [data] if data is not None else []

    def _cursor_owner(self, query: _Query) -> _Creditor | None:
        cursor = query.last_settlement_id
        if cursor is None:
            return None
        found = self._settlement_positions.get(cursor.lower())
        if found is None or (
            query.creditor_id is not None and found[0].idnumber != query.creditor_id
        ):
            asked = f"creditor {query.creditor_id}" if query.creditor_id else "this sender"
            raise UnknownCursorError(f"lastsettlementid {cursor!r} is not a settlement of {asked}")
        return found[0]

    def _page(self, data: _Creditor, cursor: str | None, query: _Query) -> list[Json]:
        start = self._settlement_positions[cursor.lower()][1] + 1 if cursor else 0
        if not query.filters_settlements:
            return data.ledger[start : start + query.page_size]
        wanted = filter(query.wants_settlement, itertools.islice(data.ledger, start, None))
        return list(itertools.islice(wanted, query.page_size))

    def _case_json(self, data: _Creditor, query: _Query) -> bytes:
        key = (query.include_closed, query.language)
        cached = data.case_json.get(key)
        if cached is None:
            cases = [_translated(c, key[1]) for c in data.cases if query.wants_case(c)]
            cached = encode_json(cases)[1:-1]  # the items, without the brackets
            if len(data.case_json) >= _CACHED_CASE_LISTS:
                del data.case_json[next(iter(data.case_json))]  # the oldest
            data.case_json[key] = cached
        return cached

    # -- the ledger ---------------------------------------------------------------------------

    def add_settlements(self, creditor_id: str, n: int = 1) -> list[Json]:
        """Pay out ``n`` new settlements to a creditor now (dated by the wall clock), on random
        cases of its own; they are appended to its ledger, numbered on. Returns them (none for a
        creditor without cases).

        Raises:
            UnknownCreditorError: no such creditor.
        """
        now = datetime.datetime.now(datetime.UTC)
        data = self._creditor(creditor_id)
        paid = self._pay(data, n, now)
        for settlement in paid:
            self._notify("settlement", data, settlement)
        return paid

    def _notify(self, kind: str, data: _Creditor, item: Json) -> None:
        for listener in self.listeners:
            listener(kind, data.record, item)

    def _pay(self, data: _Creditor, n: int, moment: datetime.datetime | None = None) -> list[Json]:
        if not data.cases:
            return []
        pick = self._generator.rng.choice
        paid = []
        for _ in range(max(n, 0)):
            number = len(data.ledger) + 1
            settlement = self._generator.settlement(data.record, pick(data.cases), number, moment)
            self._settlement_positions[settlement["id"]] = (data, len(data.ledger))
            data.ledger.append(settlement)
            paid.append(settlement)
        return paid

    def ledger(self, creditor_id: str) -> list[Json]:
        """Every settlement paid out to the creditor so far, in order (a new list).

        Raises:
            UnknownCreditorError: no such creditor.
        """
        return list(self._creditor(creditor_id).ledger)

    # -- POST /webapi/api/Batch -------------------------------------------------------------

    def apply_batch(self, document: Json) -> Json:
        """Store what a POSTed batch document sends; answer with the legacy status object.

        Rules (assumed):

        * ``creditor`` items are applied first. Each needs a valid ``idnumber`` (organisation
          number); a known one is updated (``UPDATED``), a new one added (``CREATED``) with
          seeded defaults for the fields not sent. Known fields must have their wire types, a
          ``bankaccountno`` must be valid; unknown fields are ignored, a null counts as not sent.
        * ``case`` items (new invoices, ``REGISTERED``) name their creditor by ``creditorid``,
          or, without it, belong to the document's creditor when it has exactly one. They need
          a ``ledgerref`` (string or integer) not yet used by that creditor and an
          ``originalprincipal`` above zero; ``originalfee`` / ``originalinterest`` default to 0.
          Amounts are numbers or numeric strings with at most two decimals, finite and at most
          ``MAX_AMOUNT`` (999,999,999,999.99; ``1e5000`` is refused). The service fills
          in the rest: case number, KID, dates, ``paid*`` = 0, ``remaining*`` = ``original*``,
          status ``REGISTERED``, one history entry (registered, now).
        * Every other list (payments, credits, messages, ...) is acknowledged item by item
          (``RECEIVED``), neither acted on nor stored. Other top-level values are ignored; a
          null list is an empty one.
        * Invalid objects are listed in ``errors`` and stored nowhere (``objectindex`` -1: the
          list itself is not a list). ``statuscode`` is 0 when everything went through, else 1.
        """
        result: Json = {"statuscode": 0, "errors": [], "responses": []}
        creditors = _list(document, "creditor", result)
        for index, item in enumerate(creditors):
            _apply(result, "creditor", index, item, self._apply_creditor)
        only = creditors[0] if len(creditors) == 1 and isinstance(creditors[0], dict) else {}
        for index, item in enumerate(_list(document, "case", result)):
            _apply(result, "case", index, item, lambda c: self._apply_case(c, only.get("idnumber")))
        for name in document:
            if name not in ("creditor", "case") and isinstance(document[name], list):
                for index, item in enumerate(document[name]):
                    _apply(result, name, index, item, _acknowledge)
        result["statuscode"] = 1 if result["errors"] else 0
        return result

    def _apply_creditor(self, item: Json) -> str:
        idnumber = _identifier(item.get("idnumber"))
        if not is_valid_org_number(idnumber):
            raise ValueError(
                f"idnumber {item.get('idnumber')!r} is not a valid organisation number"
            )
        fields = _checked(item, _CREDITOR_FIELDS)
        for contact in ("contact", "casehandler"):
            if fields.get(contact) is not None:
                fields[contact] = _checked(fields[contact], _CONTACT_FIELDS)
        account = fields.get("bankaccountno")
        if account is not None and not is_valid_bank_account(account):
            raise ValueError(f"bankaccountno {account!r} is not a valid bank account number")
        existing = self._creditors.get(idnumber)
        if existing is not None:
            existing.record.update(fields)
            return "UPDATED"
        defaults = DataGenerator(int(idnumber)).creditor(len(self._creditors))
        self._add_creditor({**defaults, **fields, "idnumber": idnumber})
        return "CREATED"

    def _apply_case(self, item: Json, default_creditor: Any) -> str:
        creditor_id = _identifier(item.get("creditorid") or default_creditor)
        data = self._creditors.get(creditor_id)
        if data is None:
            raise ValueError(f"the case names no known creditor (creditorid {creditor_id!r})")
        ledger_ref = _identifier(item.get("ledgerref"))
        if not ledger_ref:
            raise ValueError("the case has no ledgerref")
        if ledger_ref in data.ledger_refs:
            raise ValueError(f"ledgerref {ledger_ref!r} already exists for creditor {creditor_id}")
        fields = {**_checked(item, _CASE_TEXT_FIELDS), "ledgerref": ledger_ref}
        currency = fields.get("currencycode") or "NOK"
        if not (
            len(currency) == 3 and currency.isascii() and currency.isalpha() and currency.isupper()
        ):
            raise ValueError(f"currencycode {currency!r} is not an ISO 4217 code")
        original = (
            _cents(item.get("originalprincipal"), "originalprincipal", positive=True),
            _cents(item.get("originalfee"), "originalfee"),
            _cents(item.get("originalinterest"), "originalinterest"),
        )
        case = _registered_case(data, {**fields, "currencycode": currency}, original)
        data.add_cases([case])
        self._notify("case", data, case)
        return "REGISTERED"

    # -- for the Collection API (sandbox/collection_state.py) ----------------------------------

    def creditor_record(self, creditor_id: str) -> Json:
        """The creditor's own record, private keys included (``_organization_id``).

        Raises:
            UnknownCreditorError: no such creditor.
        """
        return self._creditor(creditor_id).record

    def cases(self, creditor_id: str) -> list[Json]:
        """The creditor's cases, in registration order (the state's own list: read only).

        Raises:
            UnknownCreditorError: no such creditor.
        """
        return self._creditor(creditor_id).cases

    def update_case(self, creditor_id: str, case: Json, fields: Json) -> None:
        """Change fields of one of the creditor's cases (what ``GET Batch`` shows changes too)."""
        data = self._creditor(creditor_id)
        case.update(fields)
        data.case_json.clear()

    # -- attachments ------------------------------------------------------------------------

    def attachment(self, attachment_id: str) -> tuple[bytes, str] | None:
        """``(content, content_type)`` of an uploaded attachment, or a small stand-in PDF for an
        ``ATT-...`` id that a case history links to; ``None`` for any other id."""
        if attachment_id in self._attachments:
            return self._attachments[attachment_id]
        number = attachment_id.removeprefix("ATT-")
        linked = number != attachment_id and number.isascii() and number.isdigit()
        if linked and 0 < int(number) <= self._generator.attachments_issued:
            body = f"%PDF-1.4\n% amili sandbox attachment {attachment_id}\n%%EOF\n"
            return body.encode(), "application/pdf"
        return None

    def add_generated_attachment(self, size: int, content_type: str = "application/pdf") -> str:
        """An attachment of ``size`` bytes, generated as it is streamed (never held in memory);
        returns its id (``GEN-00000001``, ...). For tests of large downloads."""
        attachment_id = f"GEN-{len(self.generated_attachments) + 1:08d}"
        self.generated_attachments[attachment_id] = (size, content_type)
        return attachment_id

    def add_attachment(self, content: bytes, content_type: str = "application/pdf") -> str:
        """Store an uploaded attachment; returns its new id (``UPL-00000001``, ...)."""
        attachment_id = f"UPL-{len(self._attachments) + 1:08d}"
        self._attachments[attachment_id] = (bytes(content), content_type)
        return attachment_id


# -- helpers ------------------------------------------------------------------------------------

# The fields a POSTed object may set, with their wire types (a null counts as not sent).
_CREDITOR_FIELDS: dict[str, type] = {
    "parentidnumber": str,
    "onlydebtcollection": bool,
    "vattype": int,
    "fullname": str,
    "street": str,
    "city": str,
    "zipcode": str,
    "countrycode": str,
    "bankaccountno": str,
    "contact": dict,
    "casehandler": dict,
    "sourceid": int,
    "reminderflow": int,
    "debtcollectiontransfer": int,
    "invoicearchive": int,
    "hasforeigndebtors": bool,
    "hasforeigncurrency": bool,
    "disabled": bool,
}
_CONTACT_FIELDS: dict[str, type] = {
    "fullname": str,
    "workphone": str,
    "email": str,
    "isinvoicequery": bool,
    "isremittancereport": bool,
    "isorderconfirmation": bool,
    "iscollectionlist": bool,
    "isweb": bool,
}
_CASE_TEXT_FIELDS: dict[str, type] = {
    "customerref": str,
    "customername": str,
    "referencenumber": str,
    "currencycode": str,
    "billdate": str,
    "duedate": str,
    "service_description": str,
}


def _translated(case: Json, language: str) -> Json:
    """``case`` with its history texts in ``language`` (the case itself for ``nb``)."""
    if language == "nb" or not case["history"]:
        return case
    history = [
        {**entry, "subject": texts[language][0], "message": texts[language][1]}
        if (texts := HISTORY_TEXTS.get(entry["type"]))
        else entry
        for entry in case["history"]
    ]
    return {**case, "history": history}


def _list(document: Json, name: str, result: Json) -> list[Any]:
    """``document[name]``: a list; null or absent is empty, anything else an error."""
    items = document.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        _error(result, name, -1, f"{name} must be a list of objects")
        return []
    return items


def _apply(result: Json, name: str, index: int, item: Any, apply: Callable[[Json], str]) -> None:
    """Apply one POSTed object; its outcome goes to the result's responses or errors."""
    if not isinstance(item, dict):
        _error(result, name, index, "not an object")
        return
    try:
        status = apply(item)
    except ValueError as problem:
        _error(result, name, index, str(problem))
        return
    ledger_ref = item.get("ledgerref")
    result["responses"].append(
        {
            "objectname": name,
            "objectindex": index,
            "ledgerref": None if ledger_ref is None else str(ledger_ref),
            "status_statuscode": status,
        }
    )


def _acknowledge(item: Json) -> str:
    return "RECEIVED"


def _error(result: Json, name: str, index: int, message: str) -> None:
    result["errors"].append({"objectname": name, "objectindex": index, "message": message})


def _identifier(value: Any) -> str:
    """An id sent as a string or an integer, as a string ("" for anything else)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _checked(item: Mapping[str, Any], fields: Mapping[str, type]) -> Json:
    """The known ``fields`` of ``item``, type-checked; unknown keys and nulls are dropped."""
    known: Json = {}
    for name, kind in fields.items():
        value = item.get(name)
        if value is None:
            continue
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ValueError(f"{name} must be {_TYPE_NAMES[kind]}, got {value!r}")
        known[name] = value
    return known


_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", dict: "an object"}


def _cents(value: Any, name: str, *, positive: bool = False) -> int:
    """An amount sent as a number or numeric string, in cents (``ValueError`` if it is none).

    Huge amounts are refused here: stored, they would break every later payout on that case.
    """
    if value is None and not positive:
        return 0
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise InvalidOperation
        amount = Decimal(str(value).strip())
        cents = amount.scaleb(2)
        if not amount.is_finite() or cents != cents.to_integral_value():
            raise InvalidOperation
    except (ArithmeticError, ValueError):  # InvalidOperation, Overflow; int too long for str()
        raise ValueError(
            f"{name} must be a finite amount with at most two decimals, got {_short(value)}"
        ) from None
    if cents < 0 or (positive and cents == 0):
        raise ValueError(
            f"{name} must be {'above' if positive else 'at least'} zero, got {_short(value)}"
        )
    if amount > MAX_AMOUNT:
        raise ValueError(f"{name} must be at most {MAX_AMOUNT}, got {_short(value)}")
    return int(cents)


def _short(value: Any) -> str:
    """``repr(value)``, cut short: an error message must not echo a 5,000-digit number."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _registered_case(data: _Creditor, fields: Json, original: tuple[int, int, int]) -> Json:
    """A case sent by POST, completed the way the service would: nothing paid yet."""
    now_ms = milliseconds(datetime.datetime.now(datetime.UTC))
    today = now_ms // DAY_MS
    case_number = f"{data.record['_index'] + 1:02d}{len(data.cases) + 1:08d}"
    case: Json = dict.fromkeys(CASE_FIELDS)  # every field, null, in wire order
    case.update(
        casenumber=case_number,
        regdate=timestamp(now_ms),
        isdebtcollection=False,
        billdate=midnight(today),
        duedate=midnight(today + 14),
        status_statuscode="REGISTERED",
        reminders=0,
        debtcollectionlist=0,
        history=[history_entry(1, now_ms)],
    )
    case.update(fields)
    case.update(money_fields(original, (0, 0, 0)))
    case["paymentDetails"] = {
        "paymentValue": case["remainingsum"],
        "currency": case["currencycode"],
        "kid": make_kid(case_number),
        "bankAccount": data.record["bankaccountno"],
        "dueDate": case["duedate"],
    }
    return case
