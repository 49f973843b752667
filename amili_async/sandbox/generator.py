"""Seeded, deterministic generation of realistic AutoCollect data, as wire-format dicts.

Why it looks the way it does:

* **Deterministic.** Everything is drawn from one ``random.Random(seed)`` and dated from a fixed
  ``EPOCH`` (never the wall clock), so the same seed gives byte-identical payloads on every
  machine and a failing test can be replayed.
* **Consistent.** The invariants a creditor's accountant would check hold by construction:
  organisation numbers and bank accounts carry valid MOD11 check digits and KIDs a valid MOD10; for
  every case each sum is principal + fee + interest, remaining = original - paid component by
  component, a closed case is fully paid and has its ``closuredate``, an open one has something
  left to pay; a settlement's ``paymentAmount`` is the sum of its six distribution parts, never more
  than its case's original amounts, and its ``organization`` is its creditor.
* **Wire-exact.** Dicts carry the exact field names and order of the documented example (
  ``idnumber``, ``paymentDetails``, ``caseNumber``, ...), money as two-decimal ``Decimal``
  (encoded as JSON numbers by ``encode_json``). Timestamps are mostly written like
  ``2026-03-12T13:36:35.123Z``; a deterministic ~5% the .NET way, with 7 fractional digits and no
  offset, so clients are exercised. Dates (bill, due, remittance) are midnight, ``...T00:00:00Z``.
* **Fast.** ``generate_batch_payload`` builds 100,000 cases (about 160 MB of JSON) in a few
  seconds: names come from precomputed pools, draws use ``Random.random`` (a C call) rather than
  ``randint``, and timestamps are assembled from precomputed day and clock texts.

Creditor dicts carry private keys (``_index``, ``_organization_id``, ``_first_invoice``) for the
generator's own use; ``public`` strips them before anything goes on the wire.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from decimal import Decimal
from random import Random
from typing import Any, TypeVar

import msgspec

from .checkdigits import make_bank_account, make_kid, make_org_number

__all__ = [
    "CASE_FIELDS",
    "DAY_MS",
    "EPOCH",
    "HISTORY_TEXTS",
    "LANGUAGES",
    "UNLISTED_ENUM_VALUES",
    "DataGenerator",
    "Json",
    "encode_json",
    "generate_batch_payload",
    "history_entry",
    "midnight",
    "milliseconds",
    "money",
    "money_fields",
    "public",
    "settlement_invoice",
    "timestamp",
]

Json = dict[str, Any]
_T = TypeVar("_T")

EPOCH = datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC)
"""Day 0 of every seeded date: seeded data never looks at the wall clock."""
DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST_NAMES = _words(
    "Ola Kari Per Anne Lars Ingrid Jonas Sofie Erik Nora Magnus Emma Henrik Ida Sander Thea "
    "Kristian Maja Ole Hanna Knut Solveig Bjørn Astrid Håkon Sigrid Eirik Marte Torbjørn Liv "
    "Aksel Frida Espen Tone Geir Hilde Øystein Randi Trond Åse"
)
_LAST_NAMES = _words(
    "Hansen Johansen Olsen Larsen Andersen Pedersen Nilsen Kristiansen Jensen Karlsen Johnsen "
    "Pettersen Eriksen Berg Haugen Hagen Johannessen Andreassen Jacobsen Dahl Jørgensen Halvorsen "
    "Henriksen Lund Sørensen Jakobsen Moen Gundersen Iversen Strand Solberg Svendsen Eide Knutsen "
    "Martinsen Paulsen Bakken Kristoffersen Mathisen Lie"
)
_COMPANY_STEMS = _words(
    "Fjord Nordlys Vik Bjerke Solberg Aker Dal Skog Havn Tind Lofoten Vidde Elv Berg Strand "
    "Fonn Kyst Myr Nes Stein"
)
_COMPANY_KINDS = (
    "Regnskap AS",
    "Bygg AS",
    "Elektro AS",
    "Transport AS",
    "Eiendom AS",
    "Helse AS",
    "Data AS",
    "Handel AS",
    "Marin AS",
    "Energi AS",
    "Rør og Varme AS",
    "Maskin AS",
)
_PERSONS = tuple(f"{first} {last}" for first in _FIRST_NAMES for last in _LAST_NAMES)
_COMPANIES = tuple(f"{stem} {kind}" for stem in _COMPANY_STEMS for kind in _COMPANY_KINDS)
_CUSTOMER_NAMES = _PERSONS + _COMPANIES[::3]  # debtors: mostly people, some businesses
_CITIES = (
    ("0150", "Oslo"),
    ("0560", "Oslo"),
    ("5003", "Bergen"),
    ("7010", "Trondheim"),
    ("4006", "Stavanger"),
    ("9008", "Tromsø"),
    ("3015", "Drammen"),
    ("4612", "Kristiansand"),
    ("1607", "Fredrikstad"),
    ("2317", "Hamar"),
    ("6002", "Ålesund"),
    ("8006", "Bodø"),
)
_STREETS = (
    "Storgata",
    "Kongens gate",
    "Dronningens gate",
    "Strandveien",
    "Bryggen",
    "Markveien",
    "Parkveien",
    "Skolegata",
    "Kirkegata",
    "Torggata",
    "Sjøgata",
    "Industriveien",
)
_SERVICES = (
    "Konsulenttjenester",
    "Varelevering",
    "Serviceavtale",
    "Husleie",
    "Abonnement",
    "Reparasjon",
    "Transport",
    "Programvarelisens",
    "Vedlikehold",
    "Rørleggerarbeid",
)
_MONTH_NAMES = _words(
    "januar februar mars april mai juni juli august september oktober november desember"
)
_FEES = (0, 35_00, 35_00, 70_00, 70_00, 105_00)  # reminder fees in øre: 35 NOK per reminder
_EXCHANGE_RATES = {"NOK": Decimal(1), "EUR": Decimal("11.4825"), "SEK": Decimal("1.0321")}
_FOREIGN_CURRENCIES = ("EUR", "SEK")
_ASCII = str.maketrans({"æ": "ae", "ø": "o", "å": "a", " ": "."})

# history type -> language -> (subject, message). Cases store the Norwegian texts; the state swaps
# in another language's by ``type`` when a batch asks for it (``languagecode``).
HISTORY_TEXTS: dict[int, dict[str, tuple[str, str]]] = {
    1: {
        "nb": (
            "Faktura registrert",
            "Saken er registrert hos Amili og overvåkes for innbetaling. Kunden varsles ved forfall.",
        ),
        "en": (
            "Invoice registered",
            "The case was registered with Amili and is watched for payment. The customer is notified when it falls due.",
        ),
    },
    2: {
        "nb": (
            "Purring sendt",
            "Betalingspåminnelse er sendt til kunden per e-post og brev med ny frist på 14 dager.",
        ),
        "en": (
            "Reminder sent",
            "A payment reminder was sent to the customer by e-mail and letter with a new deadline of 14 days.",
        ),
    },
    3: {
        "nb": (
            "Inkassovarsel sendt",
            "Inkassovarsel er sendt med 14 dagers frist. Saken går til inkasso dersom den ikke betales.",
        ),
        "en": (
            "Debt collection notice sent",
            "A debt collection notice with 14 days' notice was sent. The case goes to collection if it is not paid.",
        ),
    },
    4: {
        "nb": (
            "Innbetaling mottatt",
            "Kunden har betalt et beløp på saken. Beløpet er fordelt på hovedstol, gebyr og renter.",
        ),
        "en": (
            "Payment received",
            "The customer paid an amount on the case. It was split between principal, fee and interest.",
        ),
    },
    5: {
        "nb": (
            "Melding fra kunde",
            "Kunden ber om en betalingsavtale med månedlige avdrag og ønsker å bli kontaktet på telefon.",
        ),
        "en": (
            "Message from customer",
            "The customer asks for a payment plan with monthly instalments and wants to be called by phone.",
        ),
    },
    6: {
        "nb": (
            "Sak avsluttet",
            "Saken er fullt betalt og avsluttet. Oppgjør til oppdragsgiver følger ved neste remittering.",
        ),
        "en": (
            "Case closed",
            "The case is paid in full and closed. Settlement to the creditor follows with the next remittance.",
        ),
    },
}
CASE_FIELDS = _words(
    "customerref customername ledgerref referencenumber casenumber currencycode regdate "
    "closuredate isdebtcollection billdate duedate originalsum paidsum remainingsum "
    "originalprincipal paidprincipal remainingprincipal originalfee paidfee remainingfee "
    "originalinterest paidinterest remaininginterest service_description status_statuscode "
    "reminders debtcollectionlist history paymentDetails"
)
"""A case's wire fields, in the order of the documented example."""
LANGUAGES = frozenset(HISTORY_TEXTS[1])
"""The ``languagecode`` values with texts of their own; ``nb`` is the default."""
_HISTORY_LENGTHS = (0, 1, 2, 3, 4, 4, 5, 5, 5, 5)  # most cases have come a long way
_MIDDLE_HISTORY = (2, 2, 3, 4, 4, 5)  # what happens between registration and closure
_WITH_ATTACHMENT = frozenset((2, 3))  # letters sent to the customer: a PDF copy

# -- values --------------------------------------------------------------------------------


_ZERO = Decimal("0.00")


def money(cents: int) -> Decimal:
    """An amount with two decimals from whole cents (``12345`` -> ``Decimal("123.45")``)."""
    return Decimal(cents).scaleb(-2) if cents else _ZERO


def _cents(amount: Decimal) -> int:
    return int(amount.scaleb(2))


def encode_json(value: Any) -> bytes:
    """JSON the way the service writes it: money as numbers (msgspec's default is strings)."""
    return _ENCODER.encode(value)


def public(record: Json) -> Json:
    """A copy of ``record`` without the generator's private keys (those starting with ``_``)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


_EPOCH_DATE = EPOCH.date()
_DAY_TEXTS = tuple((_EPOCH_DATE + datetime.timedelta(days=d)).isoformat() for d in range(1500))
_CLOCK_TEXTS = tuple(f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60))


def _day_text(day: int) -> str:
    if 0 <= day < len(_DAY_TEXTS):
        return _DAY_TEXTS[day]
    return (_EPOCH_DATE + datetime.timedelta(days=day)).isoformat()


def milliseconds(moment: datetime.datetime) -> int:
    """``moment`` as milliseconds since ``EPOCH`` (the unit of ``timestamp``)."""
    return (moment - EPOCH) // datetime.timedelta(milliseconds=1)


def timestamp(ms: int) -> str:
    """Milliseconds since ``EPOCH`` as the service writes them: ``2026-03-12T13:36:35.123Z``,
    or (for the ~5% whose milliseconds end in a set pattern) .NET's ``2026-03-12T13:36:35.1234567``.
    """
    day, ms = divmod(ms, DAY_MS)
    minute, ms = divmod(ms, 60_000)
    second, milli = divmod(ms, 1000)
    head = f"{_day_text(day)}{_CLOCK_TEXTS[minute]}{second:02d}.{milli:03d}"
    if milli % 20 == 13:  # deterministic, and never at midnight
        return f"{head}{(minute * 7919 + second * 104_729) % 10_000:04d}"
    return head + "Z"


def midnight(day: int) -> str:
    """Day ``day`` after ``EPOCH`` as a date on the wire: ``2026-03-12T00:00:00Z``."""
    return f"{_day_text(day)}T00:00:00Z"


class DataGenerator:
    """Draws creditors, cases and settlements from one seeded random source.

    The same calls in the same order on the same seed give the same data.
    """

    def __init__(self, seed: int) -> None:
        self.rng = Random(seed)
        self._random = self.rng.random
        self.attachments_issued = 0
        """How many ``ATT-...`` attachment ids case histories link to (numbered from 1)."""

    # -- draws -------------------------------------------------------------------------------

    def uuid(self) -> str:
        """A random (version 4) UUID from the seeded source."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _pick(self, pool: Sequence[_T]) -> _T:
        return pool[int(self._random() * len(pool))]

    def _between(self, low: int, high: int) -> int:
        """An int in ``[low, high]``."""
        return low + int(self._random() * (high - low + 1))

    def _chance(self, probability: float) -> bool:
        return self._random() < probability

    # -- creditors -------------------------------------------------------------------------

    def creditor(self, index: int) -> Json:
        """Creditor number ``index``: valid organisation and bank account numbers, Norwegian
        address, contacts. Every fourth (``index % 4 == 3``) has foreign-currency cases."""
        name = self._pick(_COMPANIES)
        zip_code, city = self._pick(_CITIES)
        return {
            "idnumber": make_org_number(self.rng),
            "parentidnumber": make_org_number(self.rng) if self._chance(0.1) else None,
            "onlydebtcollection": self._chance(0.1),
            "vattype": self._pick((0, 1, 2)),
            "fullname": name,
            "street": f"{self._pick(_STREETS)} {self._between(1, 120)}",
            "city": city,
            "zipcode": zip_code,
            "countrycode": "NO",
            "bankaccountno": make_bank_account(self.rng),
            "contact": self._contact(self._pick(_PERSONS), "post@" + _email_part(name.split()[0])),
            "casehandler": self._contact(handler := self._pick(_PERSONS), _handler_email(handler)),
            "sourceid": self._pick((1, 2, 3, 7)),
            "reminderflow": self._pick((10, 20, 30, 40, 50, 60, 70, 80)),
            "debtcollectiontransfer": self._pick((0, 14, 21, 30)),
            "invoicearchive": self._pick((0, 1)),
            "hasforeigndebtors": self._chance(0.2),
            "hasforeigncurrency": index % 4 == 3,
            "disabled": False,
            "lastsettlementid": None,
            "_index": index,
            "_organization_id": self.uuid(),
            "_first_invoice": self._between(10, 89) * 10_000,
        }

    def _contact(self, name: str, email: str) -> Json:
        return {
            "fullname": name,
            "workphone": f"+47 {self._between(40, 99)} {self._between(10, 99)} "
            f"{self._between(10, 99)} {self._between(10, 99)}",
            "email": email,
            "isinvoicequery": self._chance(0.5),
            "isremittancereport": True,
            "isorderconfirmation": self._chance(0.3),
            "iscollectionlist": self._chance(0.5),
            "isweb": True,
        }

    # -- cases -------------------------------------------------------------------------------

    def cases(self, creditor: Json, count: int, closed_share: float = 0.3) -> list[Json]:
        """``count`` cases of ``creditor``: the first open, the second (if any) closed, the rest
        closed with probability ``closed_share``. About three cases per customer."""
        customers = [(10_000 + k, self._pick(_CUSTOMER_NAMES)) for k in range(max(1, count // 3))]
        return [
            self.case(
                creditor,
                n,
                closed=n == 1 or (n > 1 and self._chance(closed_share)),
                customer=self._pick(customers),
            )
            for n in range(count)
        ]

    def case(self, creditor: Json, n: int, *, closed: bool, customer: tuple[int, str]) -> Json:
        """Case number ``n`` of ``creditor``, owed by ``customer`` (number, name)."""
        index, ledger_no = creditor["_index"], creditor["_first_invoice"] + n
        currency = "NOK"
        if creditor["hasforeigncurrency"] and self._chance(0.25):
            currency = self._pick(_FOREIGN_CURRENCIES)
        bill_day = self._between(0, 270)
        due_day = bill_day + self._pick((10, 14, 14, 14, 20, 30))
        reg_ms = (due_day + self._between(3, 20)) * DAY_MS + self._between(7, 17) * _HOUR_MS
        reg_ms += int(self._random() * _HOUR_MS)
        closure_ms = reg_ms + self._between(2, 60) * DAY_MS + int(self._random() * 8 * _HOUR_MS)
        status = self._status(closed)
        amounts = self._amounts(closed)
        return {
            "customerref": str(customer[0]),
            "customername": customer[1],
            "ledgerref": str(ledger_no),
            "referencenumber": f"PO-{self._between(100_000, 999_999)}",
            "casenumber": f"{index + 1:02d}{n + 1:08d}",
            "currencycode": currency,
            "regdate": timestamp(reg_ms),
            "closuredate": timestamp(closure_ms) if closed else None,
            "isdebtcollection": status == "DEBTCOLLECTION" or (closed and self._chance(0.15)),
            "billdate": midnight(bill_day),
            "duedate": midnight(due_day),
            **amounts,
            "service_description": self._service(bill_day),
            "status_statuscode": status,
            "reminders": self._between(0, 1) if closed else _REMINDERS[status],
            "debtcollectionlist": self._between(1, 12) if status == "DEBTCOLLECTION" else 0,
            "history": self._history(reg_ms, closure_ms if closed else None),
            "paymentDetails": {
                "paymentValue": amounts["remainingsum"],
                "currency": currency,
                "kid": make_kid(f"{customer[0]:05d}{ledger_no:07d}"),
                "bankAccount": creditor["bankaccountno"],
                "dueDate": midnight(reg_ms // DAY_MS + 14),
            },
        }

    def _status(self, closed: bool) -> str:
        draw = self._random()
        if closed:
            return "PAID" if draw < 0.8 else "CLOSED"
        if draw < 0.55:
            return "REMINDER"
        return "DEBTCOLLECTIONWARNING" if draw < 0.75 else "DEBTCOLLECTION"

    def _amounts(self, closed: bool) -> Json:
        """The twelve money fields, in wire order.

        Remaining = original - paid per component; a closed case is fully paid, an open one
        always has some principal left (``random() < 1``).
        """
        r = self._random
        principal = 200_00 + int(49_800_00 * r() ** 3)  # mostly small invoices
        fee, interest = _FEES[int(r() * len(_FEES))], int(principal * r() * 0.03)
        if closed:
            paid = (principal, fee, interest)
        else:
            paid = (
                int(principal * r()) if r() < 0.3 else 0,
                fee if r() < 0.3 else 0,
                int(interest * r()) if r() < 0.2 else 0,
            )
        return money_fields((principal, fee, interest), paid)

    def _service(self, bill_day: int) -> str:
        month = _MONTH_NAMES[(_EPOCH_DATE + datetime.timedelta(days=bill_day)).month - 1]
        return f"{self._pick(_SERVICES)} {month}, ordre {self._between(10_000, 999_999)}"

    def _history(self, reg_ms: int, closure_ms: int | None) -> list[Json]:
        """0-5 entries from registration on, a week apart; a closed case's last one is its
        closure (type 6), logged at its ``closuredate``."""
        count = self._pick(_HISTORY_LENGTHS)
        if count == 0:
            return []
        kinds = [1, *(self._pick(_MIDDLE_HISTORY) for _ in range(count - 1))]
        step = 7 * DAY_MS
        if closure_ms is not None:
            kinds[-1] = 6 if count > 1 else 1
            step = (closure_ms - reg_ms) // max(count - 1, 1)
        times = [
            reg_ms + k * step + (int(self._random() * _HOUR_MS) if k else 0) for k in range(count)
        ]
        if closure_ms is not None and count > 1:
            times[-1] = closure_ms
        return [self._history_entry(kind, at) for kind, at in zip(kinds, times, strict=True)]

    def _history_entry(self, kind: int, at_ms: int) -> Json:
        attachment = None
        if kind in _WITH_ATTACHMENT and self._chance(0.5):
            self.attachments_issued += 1
            attachment = f"ATT-{self.attachments_issued:08d}"
        conversation = f"C{self._between(10**7, 10**8 - 1)}" if kind == 5 else None
        return history_entry(kind, at_ms, conversation_id=conversation, attachment_id=attachment)

    # -- settlements -------------------------------------------------------------------------

    def settlements(
        self, creditor: Json, cases: Sequence[Json], first: int, count: int
    ) -> list[Json]:
        """Settlements number ``first`` .. ``first + count - 1`` of ``creditor``, each paying a
        random one of ``cases`` (none when there are no cases), dated from the seed."""
        if not cases:
            return []
        return [
            self.settlement(creditor, self._pick(cases), number)
            for number in range(first, first + count)
        ]

    def settlement(
        self, creditor: Json, case: Json, number: int, moment: datetime.datetime | None = None
    ) -> Json:
        """Settlement ``number`` of ``creditor``, paying part of ``case``.

        Settled at ``moment``, or (seeded) three hours after settlement ``number - 1`` from day 20
        on; remitted (paid out, ``remittanceDate``) one to three days later, at midnight.
        """
        settled_ms = (
            milliseconds(moment)
            if moment is not None
            else 20 * DAY_MS + number * 3 * _HOUR_MS + int(self._random() * _HOUR_MS)
        )
        collection_type = "DEBT_COLLECTION" if case["isdebtcollection"] else "REMINDER"
        principal, fee, interest = self._payment(case)
        collector_fee = fee if collection_type == "DEBT_COLLECTION" else 0
        collector_interest = interest // 2 if collector_fee and self._chance(0.5) else 0
        return {
            "caseNumber": case["casenumber"],
            "collectionType": collection_type,
            "currency": case["currencycode"],
            "customerReference": case["customerref"],
            "exchangeRate": _EXCHANGE_RATES.get(case["currencycode"], Decimal(1)),
            "feeDistribution": _split(fee, collector_fee),
            "id": self.uuid(),
            "interestDistribution": _split(interest, collector_interest),
            "invoice": settlement_invoice(creditor, case),
            "ledgerRef": case["ledgerref"],
            "organization": {
                "id": creditor["_organization_id"],
                "organizationNumber": creditor["idnumber"],
                "name": creditor["fullname"],
            },
            "paymentAmount": money(principal + fee + interest),
            "principalDistribution": _split(principal, 0),
            "remittanceDate": midnight(settled_ms // DAY_MS + self._between(1, 3)),
            "settlementDate": timestamp(settled_ms),
            "settlementNumber": number,
            "settlementType": "COLLECTOR_PAYMENT",
            "vat": money(collector_fee // 5),  # the VAT inside the collector's (fee) income
        }

    def _payment(self, case: Json) -> tuple[int, int, int]:
        """Principal, fee and interest paid (cents): part of the case's original amounts."""
        principal = _cents(case["originalprincipal"])
        return (
            min(principal, max(1, int(principal * (0.2 + 0.8 * self._random())))),
            _cents(case["originalfee"]) if self._chance(0.5) else 0,
            int(_cents(case["originalinterest"]) * self._random()),
        )


def money_fields(original: tuple[int, int, int], paid: tuple[int, int, int]) -> Json:
    """A case's money fields (wire names, wire order) from its original and paid cents."""
    (op, of, oi), (pp, pf, pi) = original, paid
    rp, rf, ri = op - pp, of - pf, oi - pi
    return {
        "originalsum": money(op + of + oi),
        "paidsum": money(pp + pf + pi),
        "remainingsum": money(rp + rf + ri),
        "originalprincipal": money(op),
        "paidprincipal": money(pp),
        "remainingprincipal": money(rp),
        "originalfee": money(of),
        "paidfee": money(pf),
        "remainingfee": money(rf),
        "originalinterest": money(oi),
        "paidinterest": money(pi),
        "remaininginterest": money(ri),
    }


def history_entry(
    kind: int, at_ms: int, *, conversation_id: str | None = None, attachment_id: str | None = None
) -> Json:
    """A case history entry of type ``kind`` with its Norwegian texts, logged at ``at_ms``."""
    subject, message = HISTORY_TEXTS[kind]["nb"]
    return {
        "type": kind,
        "loggedat": timestamp(at_ms),
        "message": message,
        "subject": subject,
        "conversationid": conversation_id,
        "attachmentid": attachment_id,
    }


_REMINDERS = {"REMINDER": 1, "DEBTCOLLECTIONWARNING": 2, "DEBTCOLLECTION": 3}


def _email_part(text: str) -> str:
    return text.lower().translate(_ASCII)


def _handler_email(name: str) -> str:
    return f"{_email_part(name)}@amili.no"


def _split(total: int, collector: int) -> Json:
    """A distribution: the collector's part and the creditor's part add up to ``total``."""
    return {"collector": money(collector), "creditor": money(total - collector)}


def settlement_invoice(creditor: Json, case: Json) -> Json:
    """The settlement's view of the case's invoice; its id is stable per case."""
    invoice_id = uuid.uuid5(uuid.UUID(creditor["_organization_id"]), case["casenumber"])
    return {
        "id": str(invoice_id),
        "invoiceNumber": case["ledgerref"],
        "uniqueSourceInvoiceId": f"{creditor['idnumber']}-{case['ledgerref']}",
        "collectionCaseNumber": case["casenumber"],
        "type": "REMINDER",
        "status": "CLOSED" if case["closuredate"] else "OPEN",
        "closureDate": case["closuredate"],
    }


# Values the SDK's enums do not list (yet): what the service will send the day Amili adds one.
UNLISTED_ENUM_VALUES: dict[str, tuple[str, ...]] = {
    "collectionType": ("LEGAL_COLLECTION", "SURVEILLANCE"),
    "settlementType": ("DIRECT_PAYMENT", "CREDIT_NOTE_PAYMENT"),
    "invoice.type": ("INVOICE", "CREDIT_NOTE"),
    "invoice.status": ("PARTIALLY_PAID", "DISPUTED"),
}
_NULLABLE_SETTLEMENT_FIELDS = ("customerReference", "exchangeRate", "vat", "remittanceDate")
_NULLABLE_CASE_FIELDS = ("referencenumber", "service_description", "paymentDetails", "history")
_HUGE_STRING_CHARS = 64 * 1024


def generate_batch_payload(
    *, cases: int, settlements: int = 0, seed: int = 1, surprises: float = 0.0
) -> bytes:
    """The JSON of one creditor's full batch (open and closed cases), for benchmarks and tests.

    About 1.6 KB per case: ``cases=100_000`` is a payload of about 160 MB, generated at several
    tens of thousands of cases per second. The creditor's ``lastsettlementid`` is its last
    settlement's id (``null`` without settlements).

    ``surprises`` (0 to 1) makes the payload look like what the real service will send one day:
    that share of settlements carries enum values the SDK does not list
    (``UNLISTED_ENUM_VALUES``), the same share of settlements and of cases has nulls in
    documented fields, and one case in ``50 / surprises`` has a 64 KiB ``service_description``.
    The surprises come from their own seeded source: the rest of the data is the same as
    without them.
    """
    generator = DataGenerator(seed)
    creditor = generator.creditor(0)
    case_list = generator.cases(creditor, cases)
    settlement_list = generator.settlements(creditor, case_list, 1, settlements)
    if surprises > 0:
        _add_surprises(case_list, settlement_list, surprises, Random(seed * 7919 + 1))
    view = public(creditor)
    view["lastsettlementid"] = settlement_list[-1]["id"] if settlement_list else None
    batch = {
        "batchid": generator.uuid(),
        "offline": False,
        "creditor": [view],
        "case": case_list,
        "settlement": settlement_list,
    }
    return encode_json(batch)


def _add_surprises(cases: list[Json], settlements: list[Json], share: float, rng: Random) -> None:
    """Unlisted enum values, nulls and huge strings, in place (see ``generate_batch_payload``)."""
    for settlement in settlements:
        if rng.random() < share:
            invoice = settlement["invoice"] = dict(settlement["invoice"])
            settlement["collectionType"] = rng.choice(UNLISTED_ENUM_VALUES["collectionType"])
            settlement["settlementType"] = rng.choice(UNLISTED_ENUM_VALUES["settlementType"])
            invoice["type"] = rng.choice(UNLISTED_ENUM_VALUES["invoice.type"])
            invoice["status"] = rng.choice(UNLISTED_ENUM_VALUES["invoice.status"])
        if rng.random() < share:
            settlement[rng.choice(_NULLABLE_SETTLEMENT_FIELDS)] = None
    for index, case in enumerate(cases):
        if rng.random() < share:
            cases[index] = case = {**case, rng.choice(_NULLABLE_CASE_FIELDS): None}
        if rng.random() < share / 50:
            cases[index] = {**case, "service_description": "x" * _HUGE_STRING_CHARS}
