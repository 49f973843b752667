"""The sandbox's in-memory service: one sender, its creditors, their cases and settlement ledgers.

This is where the legacy API's semantics live (the HTTP layer only parses and answers). Where the
real API is undocumented, the rule chosen here is written in the docstring of the method that
applies it, and collected in the sandbox docs page.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .checkdigits import is_valid_org_number
from .generator import HISTORY_TEXTS, DataGenerator, Json, encode_json, money, public

__all__ = ["SandboxState", "UnknownCreditorError", "UnknownCursorError"]

_LANGUAGES = frozenset(HISTORY_TEXTS[1])
_CENT = Decimal("0.01")


class UnknownCursorError(ValueError):
    """``lastsettlementid`` is not a settlement of the creditor asked for (the API answers 400)."""


class UnknownCreditorError(KeyError):
    """No creditor with that id in this sandbox."""


@dataclasses.dataclass(frozen=True)
class _Query:
    """The filters of one GET /webapi/api/Batch."""

    sender_id: str | None = None
    creditor_id: str | None = None
    customer_ref: str | None = None
    ledger_ref: str | None = None
    include_closed: bool = False
    last_settlement_id: str | None = None
    remittance_date: datetime.date | None = None
    language_code: str | None = None
    page_size: int = 500


@dataclasses.dataclass
class _Creditor:
    record: Json  # the wire creditor, with the generator's private keys
    cases: list[Json]
    ledger: list[Json] = dataclasses.field(default_factory=list)
    # Encoded `case` arrays by (include_closed, language): a poll of a large creditor must not
    # re-encode 100,000 cases. Dropped whenever the cases change.
    case_json: dict[tuple[bool, str], bytes] = dataclasses.field(default_factory=dict)


class SandboxState:
    """All data of one sandbox. Build it with :meth:`generate`.

    Attributes:
        sender_id: The one sender account of this sandbox.
    """

    def __init__(self, generator: DataGenerator, sender_id: str) -> None:
        self.sender_id = sender_id
        self._generator = generator
        self._creditors: dict[str, _Creditor] = {}
        self._settlement_owner: dict[str, tuple[str, int]] = {}  # id -> (creditor, position)
        self._attachments: dict[str, tuple[bytes, str]] = {}
        self._received: dict[str, list[Json]] = {}
        self._batch_ids = itertools.count(1)

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

        ``cases`` and ``settlements`` are per creditor; ``None`` draws a mix (20-200 cases, 5-60
        settlements). Every creditor with two or more cases has open and closed ones.
        """
        generator = DataGenerator(seed)
        state = cls(generator, sender_id)
        rng = generator.rng
        for index in range(creditors):
            record = generator.creditor(index)
            count = cases if cases is not None else rng.randint(20, 200)
            data = _Creditor(record, generator.cases(record, max(count, 0)))
            state._creditors[record["idnumber"]] = data
            paid = settlements if settlements is not None else rng.randint(5, 60)
            state._pay(data, paid, None)
        return state

    @property
    def creditor_ids(self) -> list[str]:
        """The creditors' ids (organisation numbers), in generation order."""
        return list(self._creditors)

    # -- GET /webapi/api/Batch ------------------------------------------------------------

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
        """The batch the API answers, as a JSON-ready dict.

        Rules (assumed where the API is undocumented):

        * another ``sender_id`` or an unknown ``creditor_id`` gives an empty batch (not 404);
        * cases are open ones unless ``include_closed``; ``customer_ref`` / ``ledger_ref`` match
          exactly and filter settlements (``customerReference`` / ``ledgerRef``) too;
        * settlements come in ``settlementNumber`` order, after ``last_settlement_id`` when given
          (it must be a settlement of that creditor, else :class:`UnknownCursorError`; without a
          ``creditor_id`` the cursor's own creditor continues after it and the others start from
          their first settlement), at most ``page_size`` per creditor; ``remittance_date`` keeps
          the settlements remitted that day;
        * each creditor's ``lastsettlementid`` is the id of its last settlement in this response,
          or the cursor that was sent when there are none, or ``null``.
        """
        query = _Query(
            sender_id, creditor_id, customer_ref, ledger_ref, include_closed,
            last_settlement_id, remittance_date, language_code, page_size,
        )  # fmt: skip
        envelope, _ = self._assemble(query, encoded_cases=False)
        return envelope

    def batch_json(self, **filters: Any) -> bytes:
        """:meth:`batch` (same keywords), encoded. Unfiltered case lists are encoded once per
        creditor and reused, so polling a creditor with 100,000 cases stays cheap."""
        query = _Query(**filters)
        if query.customer_ref is not None or query.ledger_ref is not None:
            return encode_json(self.batch(**filters))
        envelope, case_parts = self._assemble(query, encoded_cases=True)
        cases = b"[" + b",".join(part for part in case_parts if part) + b"]"
        return encode_json(envelope).replace(b'"case":[]', b'"case":' + cases, 1)

    def _assemble(self, query: _Query, *, encoded_cases: bool) -> tuple[Json, list[bytes]]:
        """The envelope, with its cases inline or (``encoded_cases``) as cached JSON parts."""
        selected = self._select(query.sender_id, query.creditor_id)
        cursor_owner = self._cursor_owner(query.last_settlement_id, query.creditor_id)
        language = _language(query.language_code)
        creditors: list[Json] = []
        cases: list[Json] = []
        case_parts: list[bytes] = []
        settlements: list[Json] = []
        for cid, data in selected:
            if encoded_cases:
                case_parts.append(self._case_json(data, query.include_closed, language))
            else:
                cases.extend(self._cases(data, query, language))
            cursor = query.last_settlement_id if cid == cursor_owner else None
            page = self._page(data, cursor, query)
            settlements.extend(page)
            creditors.append(self._creditor_view(data, page, cursor))
        return self._envelope(creditors, cases, settlements), case_parts

    def _envelope(self, creditors: list[Json], cases: list[Json], settlements: list[Json]) -> Json:
        return {
            "batchid": f"SBX-{next(self._batch_ids):08d}",
            "offline": False,
            "creditor": creditors,
            "case": cases,
            "settlement": settlements,
        }

    def _select(
        self, sender_id: str | None, creditor_id: str | None
    ) -> list[tuple[str, _Creditor]]:
        if sender_id is not None and sender_id != self.sender_id:
            return []
        if creditor_id is not None:
            data = self._creditors.get(creditor_id)
            return [(creditor_id, data)] if data else []
        return list(self._creditors.items())

    def _cursor_owner(self, cursor: str | None, creditor_id: str | None) -> str | None:
        if cursor is None:
            return None
        owner = self._settlement_owner.get(cursor.lower())
        if owner is None or (creditor_id is not None and owner[0] != creditor_id):
            raise UnknownCursorError(
                f"lastsettlementid {cursor!r} is not a settlement of "
                f"{'creditor ' + creditor_id if creditor_id else 'this sender'}"
            )
        return owner[0]

    @staticmethod
    def _cases(data: _Creditor, query: _Query, language: str) -> list[Json]:
        return [
            _translated(case, language)
            for case in data.cases
            if (query.include_closed or not case["closuredate"])
            and (query.customer_ref is None or case["customerref"] == query.customer_ref)
            and (query.ledger_ref is None or case["ledgerref"] == query.ledger_ref)
        ]

    def _case_json(self, data: _Creditor, include_closed: bool, language: str) -> bytes:
        key = (include_closed, language)
        if key not in data.case_json:
            cases = self._cases(data, _Query(include_closed=include_closed), language)
            data.case_json[key] = encode_json(cases)[1:-1]  # the items, without the brackets
        return data.case_json[key]

    def _page(self, data: _Creditor, cursor: str | None, query: _Query) -> list[Json]:
        start = self._settlement_owner[cursor.lower()][1] + 1 if cursor else 0
        day = query.remittance_date.isoformat() if query.remittance_date else None
        page = []
        for settlement in itertools.islice(data.ledger, start, None):
            if (
                (
                    query.customer_ref is None
                    or settlement["customerReference"] == query.customer_ref
                )
                and (query.ledger_ref is None or settlement["ledgerRef"] == query.ledger_ref)
                and (day is None or settlement["remittanceDate"].startswith(day))
            ):
                page.append(settlement)
                if len(page) >= query.page_size:
                    break
        return page

    @staticmethod
    def _creditor_view(data: _Creditor, page: list[Json], cursor: str | None) -> Json:
        view = public(data.record)
        view["lastsettlementid"] = page[-1]["id"] if page else cursor
        return view

    # -- the ledger ---------------------------------------------------------------------------

    def add_settlements(self, creditor_id: str, n: int = 1) -> list[Json]:
        """Pay out ``n`` new settlements to a creditor now; they appear at the end of its ledger."""
        data = self._creditors.get(creditor_id)
        if data is None:
            raise UnknownCreditorError(creditor_id)
        return self._pay(data, n, datetime.datetime.now(datetime.UTC))

    def _pay(self, data: _Creditor, n: int, moment: datetime.datetime | None) -> list[Json]:
        if not data.cases:
            return []
        generator = self._generator
        creditor_id = data.record["idnumber"]
        paid = []
        for _ in range(n):
            case = data.cases[generator.rng.randrange(len(data.cases))]
            settlement = generator.settlement(data.record, case, len(data.ledger) + 1, moment)
            self._settlement_owner[settlement["id"]] = (creditor_id, len(data.ledger))
            data.ledger.append(settlement)
            paid.append(settlement)
        return paid

    def ledger(self, creditor_id: str) -> list[Json]:
        """Every settlement paid out to the creditor so far, in order."""
        data = self._creditors.get(creditor_id)
        if data is None:
            raise UnknownCreditorError(creditor_id)
        return list(data.ledger)

    # -- POST /webapi/api/Batch -------------------------------------------------------------------

    def apply_batch(self, document: Json) -> Json:
        """Store what a POSTed batch document sends; answer with the legacy status object.

        Rules (assumed): ``creditor`` items need a valid ``idnumber`` (an existing creditor is
        updated, a new one added); ``case`` items need a ``ledgerref`` unique for their creditor
        and name it by ``creditorid``, or inherit the document's only creditor. Other lists
        (payments, credits, messages, ...) are acknowledged and kept. Invalid objects are listed
        in ``errors`` and stored nowhere; ``statuscode`` is 0 when all went through, else 1.
        """
        errors: list[Json] = []
        responses: list[Json] = []
        creditors = document.get("creditor") or []
        for index, item in enumerate(creditors):
            self._apply_item("creditor", index, item, self._apply_creditor, errors, responses)
        default_creditor = creditors[0].get("idnumber") if len(creditors) == 1 else None
        for index, item in enumerate(document.get("case") or []):
            apply = functools.partial(self._apply_case, default_creditor=default_creditor)
            self._apply_item("case", index, item, apply, errors, responses)
        for name, items in document.items():
            if name not in ("creditor", "case") and isinstance(items, list):
                for index, item in enumerate(items):
                    self._received.setdefault(name, []).append(item)
                    responses.append(_response(name, index, item, "RECEIVED"))
        return {"statuscode": 1 if errors else 0, "errors": errors, "responses": responses}

    @staticmethod
    def _apply_item(
        name: str,
        index: int,
        item: Any,
        apply: Callable[[Json], str],
        errors: list[Json],
        responses: list[Json],
    ) -> None:
        if not isinstance(item, dict):
            errors.append({"objectname": name, "objectindex": index, "message": "not an object"})
            return
        try:
            status = apply(item)
        except (ValueError, ArithmeticError) as problem:  # ArithmeticError: a bad amount
            errors.append({"objectname": name, "objectindex": index, "message": str(problem)})
        else:
            responses.append(_response(name, index, item, status))

    def _apply_creditor(self, item: Json) -> str:
        idnumber = str(item.get("idnumber") or "")
        if not is_valid_org_number(idnumber):
            raise ValueError(f"idnumber {idnumber!r} is not a valid organisation number")
        existing = self._creditors.get(idnumber)
        if existing is not None:
            existing.record.update({k: v for k, v in item.items() if not k.startswith("_")})
            return "UPDATED"
        record = {**self._generator.creditor(len(self._creditors)), **item}
        self._creditors[idnumber] = _Creditor(record, [])
        return "CREATED"

    def _apply_case(self, item: Json, default_creditor: str | None) -> str:
        creditor_id = item.get("creditorid") or default_creditor
        data = self._creditors.get(str(creditor_id)) if creditor_id else None
        if data is None:
            raise ValueError(f"case names no known creditor (creditorid={creditor_id!r})")
        ledger_ref = item.get("ledgerref")
        if not ledger_ref:
            raise ValueError("case has no ledgerref")
        if any(case["ledgerref"] == ledger_ref for case in data.cases):
            raise ValueError(f"ledgerref {ledger_ref!r} already exists for creditor {creditor_id}")
        data.cases.append(_new_case(item, data, len(data.cases)))
        data.case_json.clear()
        return "REGISTERED"

    # -- attachments ------------------------------------------------------------------------

    def attachment(self, attachment_id: str) -> tuple[bytes, str] | None:
        """An uploaded attachment, or a generated stand-in for one a case history links to."""
        if attachment_id in self._attachments:
            return self._attachments[attachment_id]
        if attachment_id.startswith("ATT-") and attachment_id[4:].isdigit():
            number = int(attachment_id[4:])
            if 0 < number <= self._generator._attachment_counter:
                body = f"%PDF-1.4\n% amili sandbox attachment {attachment_id}\n%%EOF\n".encode()
                return body, "application/pdf"
        return None

    def add_attachment(self, content: bytes, content_type: str = "application/pdf") -> str:
        """Store an uploaded attachment; returns its new id."""
        attachment_id = f"UPL-{len(self._attachments) + 1:08d}"
        self._attachments[attachment_id] = (content, content_type)
        return attachment_id


def _language(code: str | None) -> str:
    code = (code or "nb").lower()
    return code if code in _LANGUAGES else "nb"


def _translated(case: Json, language: str) -> Json:
    if language == "nb" or not case["history"]:
        return case
    history = [
        {**entry, "subject": texts[language][0], "message": texts[language][1]}
        if (texts := HISTORY_TEXTS.get(entry["type"]))
        else entry
        for entry in case["history"]
    ]
    return {**case, "history": history}


def _response(name: str, index: int, item: Json, status: str) -> Json:
    return {
        "objectname": name,
        "objectindex": index,
        "ledgerref": item.get("ledgerref"),
        "status_statuscode": status,
    }


def _new_case(item: Json, data: _Creditor, n: int) -> Json:
    """A case sent by POST, completed the way the service would (number, dates, sums)."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    case: Json = {
        "customerref": None,
        "customername": None,
        "referencenumber": None,
        "currencycode": "NOK",
        "billdate": now,
        "duedate": now,
        "service_description": None,
        "reminders": 0,
        "debtcollectionlist": 0,
        "isdebtcollection": False,
        "paymentDetails": None,
    }
    case.update({k: v for k, v in item.items() if k != "creditorid"})
    case.update(
        {
            "casenumber": case.get("casenumber") or f"{data.record['_index'] + 1:02d}{n + 1:08d}",
            "regdate": now,
            "closuredate": None,
            "status_statuscode": "REGISTERED",
            "history": [],
        }
    )
    for part in ("principal", "fee", "interest"):
        original = Decimal(str(case.get(f"original{part}") or 0)).quantize(_CENT)
        case[f"original{part}"], case[f"paid{part}"], case[f"remaining{part}"] = (
            original,
            money(0),
            original,
        )
    for stage in ("original", "paid", "remaining"):
        case[f"{stage}sum"] = sum(
            (case[f"{stage}{p}"] for p in ("principal", "fee", "interest")), money(0)
        )
    return case
