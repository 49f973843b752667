"""Seeded, deterministic generation of realistic AutoCollect data, in the wire format.

Everything is drawn from one ``random.Random(seed)`` and dated from a fixed epoch, so the same seed
gives byte-identical payloads on every machine. The invariants a creditor's accountant would check
hold by construction:

* organisation numbers and bank accounts carry valid MOD11 check digits, KIDs a valid MOD10;
* for every case each sum is principal + fee + interest, and remaining = original - paid, component
  by component; a closed case is fully paid and has its ``closuredate``;
* a settlement's ``paymentAmount`` is the sum of its principal, fee and interest distributions
  (collector part plus creditor part), and its ``organization`` is its creditor.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from random import Random
from typing import Any

import msgspec

from .checkdigits import make_bank_account, make_kid, make_org_number

__all__ = [
    "EPOCH",
    "HISTORY_TEXTS",
    "DataGenerator",
    "encode_json",
    "generate_batch_payload",
    "money",
]

Json = dict[str, Any]

EPOCH = datetime.datetime(2026, 1, 5, 8, 0, 0, tzinfo=datetime.UTC)
_ENCODER = msgspec.json.Encoder(decimal_format="number")

_FIRST = [
    "Ola",
    "Kari",
    "Per",
    "Anne",
    "Lars",
    "Ingrid",
    "Jonas",
    "Sofie",
    "Erik",
    "Nora",
    "Magnus",
    "Emma",
    "Henrik",
    "Ida",
    "Sander",
    "Thea",
    "Kristian",
    "Maja",
    "Ole",
    "Hanna",
]
_LAST = [
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Pedersen",
    "Nilsen",
    "Kristiansen",
    "Jensen",
    "Karlsen",
    "Johnsen",
    "Pettersen",
    "Eriksen",
    "Berg",
    "Haugen",
    "Hagen",
]
_COMPANY = [
    "Fjord",
    "Nordlys",
    "Vik",
    "Bjerke",
    "Solberg",
    "Aker",
    "Dal",
    "Skog",
    "Havn",
    "Tind",
    "Lofoten",
    "Vidde",
    "Elv",
    "Berg",
    "Strand",
    "Fonn",
]
_KIND = [
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
]
_CITIES = [
    ("0150", "Oslo"),
    ("5003", "Bergen"),
    ("7010", "Trondheim"),
    ("4006", "Stavanger"),
    ("9008", "Tromsø"),
    ("3015", "Drammen"),
    ("4612", "Kristiansand"),
    ("1607", "Fredrikstad"),
]
_STREETS = [
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
]
_SERVICES = [
    "Konsulenttjenester",
    "Varelevering",
    "Serviceavtale",
    "Husleie",
    "Abonnement",
    "Reparasjon",
    "Transport",
    "Lisens",
]
_FOREIGN_CURRENCIES = ["EUR", "SEK"]

# history type -> language -> (subject, message). The sandbox answers `languagecode` with these.
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
_STATUS_OPEN = ["REMINDER", "REMINDER", "DEBTCOLLECTIONWARNING", "DEBTCOLLECTION"]


def money(cents: int) -> Decimal:
    """An amount with two decimals from whole cents (``12345`` -> ``123.45``)."""
    return Decimal(cents).scaleb(-2)


def encode_json(value: Any) -> bytes:
    """JSON the way the service writes it: money as numbers, not strings."""
    return _ENCODER.encode(value)


def _timestamp(moment: datetime.datetime, net_style: bool) -> str:
    """``2026-03-12T13:36:35.123Z``, or .NET's offset-less 7-digit form for ``net_style``."""
    if net_style:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _midnight(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT00:00:00Z")


class DataGenerator:
    """Draws creditors, cases and settlements from one seeded random source.

    Call order matters for determinism: the same calls in the same order give the same data.
    """

    def __init__(self, seed: int) -> None:
        self.rng = Random(seed)
        self._attachment_counter = 0

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _when(self, days: float) -> datetime.datetime:
        return EPOCH + datetime.timedelta(
            seconds=int(days * 86400), microseconds=self.rng.randrange(10**6)
        )

    def _ts(self, days: float) -> str:
        return _timestamp(self._when(days), self.rng.random() < 0.05)

    def creditor(self, index: int) -> Json:
        """A creditor with valid organisation and bank account numbers."""
        rng = self.rng
        zip_code, city = rng.choice(_CITIES)
        name = f"{rng.choice(_COMPANY)} {rng.choice(_KIND)}"
        contact_name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        slug = name.split()[0].lower()
        return {
            "idnumber": make_org_number(rng),
            "parentidnumber": None,
            "onlydebtcollection": rng.random() < 0.1,
            "vattype": rng.choice([0, 1, 2]),
            "fullname": name,
            "street": f"{rng.choice(_STREETS)} {rng.randint(1, 120)}",
            "city": city,
            "zipcode": zip_code,
            "countrycode": "NO",
            "bankaccountno": make_bank_account(rng),
            "contact": self._contact(contact_name, f"post@{slug}.no"),
            "casehandler": self._contact(
                f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", f"saksbehandler{index}@amili.no"
            ),
            "sourceid": rng.choice([1, 2, 3, 7]),
            "reminderflow": rng.choice([10, 20, 30, 40, 50, 60, 70, 80]),
            "debtcollectiontransfer": rng.choice([0, 14, 21]),
            "invoicearchive": rng.choice([0, 1]),
            "hasforeigndebtors": rng.random() < 0.2,
            "hasforeigncurrency": index % 4 == 3,
            "disabled": False,
            "lastsettlementid": None,
            "_organization_id": self.uuid(),
            "_index": index,
        }

    def _contact(self, name: str, email: str) -> Json:
        rng = self.rng
        return {
            "fullname": name,
            "workphone": f"+47 {rng.randint(40, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
            "email": email,
            "isinvoicequery": rng.random() < 0.5,
            "isremittancereport": True,
            "isorderconfirmation": rng.random() < 0.3,
            "iscollectionlist": rng.random() < 0.5,
            "isweb": True,
        }

    def cases(self, creditor: Json, count: int, closed_share: float = 0.3) -> list[Json]:
        """``count`` cases; at least one open and (for two or more) one closed."""
        cases = []
        for n in range(count):
            closed = n == 1 or (n != 0 and self.rng.random() < closed_share)
            cases.append(self.case(creditor, n, closed))
        return cases

    def case(self, creditor: Json, n: int, closed: bool) -> Json:
        rng = self.rng
        index = creditor["_index"]
        currency = "NOK"
        if creditor["hasforeigncurrency"] and rng.random() < 0.25:
            currency = rng.choice(_FOREIGN_CURRENCIES)
        principal = rng.randint(200_00, 50_000_00)
        fee = rng.choice([0, 35_00, 70_00, 105_00, 140_00])
        interest = rng.randint(0, principal // 40)
        if closed:
            paid = (principal, fee, interest)
        else:
            paid = (
                rng.randint(0, principal) if rng.random() < 0.3 else 0,
                rng.choice([0, fee]),
                rng.randint(0, interest) if rng.random() < 0.2 else 0,
            )
        original = (principal, fee, interest)
        remaining = tuple(o - p for o, p in zip(original, paid, strict=True))
        reg_days = rng.uniform(0, 300)
        bill_days = reg_days - rng.uniform(10, 40)
        due_days = bill_days + 14
        customer = rng.randint(10_000, 99_999)
        ledger_ref = f"{index + 1}{n + 100_000:07d}"
        case: Json = {
            "customerref": str(customer),
            "customername": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            "ledgerref": ledger_ref,
            "referencenumber": f"R{index:03d}-{n:07d}",
            "casenumber": f"{index + 1:02d}{n + 1:08d}",
            "currencycode": currency,
            "regdate": self._ts(reg_days),
            "closuredate": self._ts(reg_days + rng.uniform(5, 60)) if closed else None,
            "isdebtcollection": not closed and rng.random() < 0.25,
            "billdate": self._ts(bill_days),
            "duedate": self._ts(due_days),
            "service_description": f"{rng.choice(_SERVICES)}, ordre {rng.randint(10_000, 999_999)}",
            "status_statuscode": "CLOSED" if closed else rng.choice(_STATUS_OPEN),
            "reminders": rng.randint(0, 3),
            "debtcollectionlist": rng.randint(0, 2),
            "history": self._history(reg_days, closed),
            "paymentDetails": {
                "paymentValue": money(sum(remaining)),
                "currency": currency,
                "kid": make_kid(f"{index + 1:03d}{n:08d}"),
                "bankAccount": creditor["bankaccountno"],
                "dueDate": self._ts(due_days),
            },
        }
        for stage, amounts in (("original", original), ("paid", paid), ("remaining", remaining)):
            case[f"{stage}sum"] = money(sum(amounts))
            case[f"{stage}principal"] = money(amounts[0])
            case[f"{stage}fee"] = money(amounts[1])
            case[f"{stage}interest"] = money(amounts[2])
        return case

    def _history(self, reg_days: float, closed: bool) -> list[Json]:
        rng = self.rng
        count = rng.randint(0, 5)
        entries = []
        for k in range(count):
            kind = 1 if k == 0 else rng.choice([2, 3, 4, 5])
            if closed and k == count - 1:
                kind = 6
            attachment = None
            if kind in (2, 3) and rng.random() < 0.5:
                self._attachment_counter += 1
                attachment = f"ATT-{self._attachment_counter:08d}"
            subject, message = HISTORY_TEXTS[kind]["nb"]
            entries.append(
                {
                    "type": kind,
                    "loggedat": self._ts(reg_days + k * 7),
                    "message": message,
                    "subject": subject,
                    "conversationid": f"C{rng.randrange(10**8):08d}" if kind == 5 else None,
                    "attachmentid": attachment,
                }
            )
        return entries

    def settlement(
        self,
        creditor: Json,
        case: Json,
        number: int,
        moment: datetime.datetime | None = None,
    ) -> Json:
        """Settlement ``number`` of ``creditor``, paying part of ``case``."""
        rng = self.rng
        when = moment or self._when(20 + number * 0.5)
        principal = rng.randint(100_00, 20_000_00)
        fee = rng.choice([0, 35_00, 70_00])
        interest = rng.randint(0, 300_00)
        collector_principal = 0 if rng.random() < 0.8 else principal // 10
        collector_interest = interest // 2 if rng.random() < 0.5 else 0
        collection_type = "REMINDER" if rng.random() < 0.8 else "DEBT_COLLECTION"
        return {
            "caseNumber": case["casenumber"],
            "collectionType": collection_type,
            "currency": case["currencycode"],
            "customerReference": case["customerref"],
            "exchangeRate": Decimal(1) if case["currencycode"] == "NOK" else Decimal("11.4825"),
            "feeDistribution": _split(fee, fee),
            "id": self.uuid(),
            "interestDistribution": _split(interest, collector_interest),
            "invoice": {
                "id": self.uuid(),
                "invoiceNumber": case["ledgerref"],
                "uniqueSourceInvoiceId": f"ERP-{case['ledgerref']}",
                "collectionCaseNumber": case["casenumber"],
                "type": "REMINDER",
                "status": "CLOSED" if case["closuredate"] else "OPEN",
                "closureDate": case["closuredate"],
            },
            "ledgerRef": case["ledgerref"],
            "organization": {
                "id": creditor["_organization_id"],
                "organizationNumber": creditor["idnumber"],
                "name": creditor["fullname"],
            },
            "paymentAmount": money(principal + fee + interest),
            "principalDistribution": _split(principal, collector_principal),
            "remittanceDate": _midnight(when + datetime.timedelta(days=rng.randint(1, 3))),
            "settlementDate": _timestamp(when, False),
            "settlementNumber": number,
            "settlementType": "COLLECTOR_PAYMENT",
            "vat": money(fee // 4),
        }


def _split(total: int, collector: int) -> Json:
    """A distribution: the collector's part and the creditor's part add up to ``total``."""
    return {"collector": money(collector), "creditor": money(total - collector)}


def public(record: Json) -> Json:
    """A record without the generator's private keys (those starting with ``_``)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def generate_batch_payload(*, cases: int, settlements: int = 0, seed: int = 1) -> bytes:
    """The JSON of one creditor's full batch (open and closed cases): for benchmarks and tests.

    About 1.6 KB per case, so ``cases=100_000`` is a payload of about 160 MB.
    """
    generator = DataGenerator(seed)
    creditor = generator.creditor(0)
    case_list = generator.cases(creditor, cases)
    settlement_list = (
        [
            generator.settlement(
                creditor, case_list[generator.rng.randrange(len(case_list))], n + 1
            )
            for n in range(settlements)
        ]
        if case_list
        else []
    )
    if settlement_list:
        creditor = {**creditor, "lastsettlementid": settlement_list[-1]["id"]}
    return encode_json(
        {
            "batchid": f"B{seed:06d}-{cases}",
            "offline": False,
            "creditor": [public(creditor)],
            "case": case_list,
            "settlement": settlement_list,
        }
    )
