"""Norwegian check digits: KID (MOD10 or MOD11), organisation numbers and bank accounts (MOD11).

The sandbox only hands out numbers that a Norwegian bank or the company registry would accept, so an
integration that validates them sees realistic data, and tests can prove it.

* MOD10 is the Luhn algorithm: weights 2, 1, 2, 1, ... from the right, digit sums of the products.
* MOD11 multiplies by weights (2, 3, 4, 5, 6, 7, 2, 3, ... from the right for a KID; fixed weights
  for organisation numbers and bank accounts) and takes ``11 - sum % 11``: 11 gives ``0``, 10 gives
  no digit. Such a base is invalid for organisation numbers and bank accounts; a MOD11 KID then
  ends in ``-`` (the NETS rule).

Only ASCII digits count as digits: ``"²".isdigit()`` is true in Python, but not on a giro.
"""

from __future__ import annotations

import random

__all__ = [
    "BANK_ACCOUNT_WEIGHTS",
    "ORG_NUMBER_WEIGHTS",
    "is_valid_bank_account",
    "is_valid_kid",
    "is_valid_kid_mod11",
    "is_valid_org_number",
    "make_bank_account",
    "make_kid",
    "make_org_number",
    "mod10",
    "mod11",
]

ORG_NUMBER_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
BANK_ACCOUNT_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit -> digit sum of twice the digit
_BANK_REGISTERS = ("1503", "1506", "1254", "3000", "3201", "9710")  # the first four: the bank


def _is_digits(text: object, *, length: range) -> bool:
    return isinstance(text, str) and len(text) in length and text.isascii() and text.isdigit()


def _require_digits(digits: str) -> None:
    if not _is_digits(digits, length=range(1, 1 << 16)):
        raise ValueError(f"expected ASCII digits, got {digits!r}")


def mod10(digits: str) -> str:
    """The Luhn (MOD10) check digit of ``digits``: ``mod10("7992739871") == "3"``."""
    _require_digits(digits)
    doubled = sum(_LUHN_DOUBLED[int(d)] for d in digits[-1::-2])
    return str(-(doubled + sum(map(int, digits[-2::-2]))) % 10)


def mod11(digits: str, weights: tuple[int, ...] | None = None) -> str | None:
    """The MOD11 check digit of ``digits``, or ``None`` when the remainder leaves none (10).

    Without ``weights``, the KID weights 2, 3, 4, 5, 6, 7, 2, 3, ... from the right.
    """
    _require_digits(digits)
    if weights is None:
        weights = tuple(2 + i % 6 for i in range(len(digits)))[::-1]
    if len(weights) != len(digits):
        raise ValueError(f"{len(digits)} digits but {len(weights)} weights")
    check = -sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return None if check == 10 else str(check)


def is_valid_org_number(number: str) -> bool:
    """A 9-digit Norwegian organisation number with a valid MOD11 check digit."""
    return _is_digits(number, length=range(9, 10)) and (
        mod11(number[:8], ORG_NUMBER_WEIGHTS) == number[8]
    )


def is_valid_bank_account(number: str) -> bool:
    """An 11-digit Norwegian bank account number with a valid MOD11 check digit."""
    return _is_digits(number, length=range(11, 12)) and (
        mod11(number[:10], BANK_ACCOUNT_WEIGHTS) == number[10]
    )


def is_valid_kid(kid: str) -> bool:
    """A MOD10 KID: 2-25 digits, the last the Luhn check digit of the others."""
    return _is_digits(kid, length=range(2, 26)) and mod10(kid[:-1]) == kid[-1]


def is_valid_kid_mod11(kid: str) -> bool:
    """A MOD11 KID: 2-25 characters, digits then the MOD11 check digit, ``-`` where there is none."""
    body, check = kid[:-1], kid[-1:]
    return _is_digits(body, length=range(1, 25)) and (mod11(body) or "-") == check


def _with_mod11(rng: random.Random, prefix: str, length: int, weights: tuple[int, ...]) -> str:
    free = length - 1 - len(prefix)
    while True:  # about 1 base in 11 has no MOD11 check digit: draw another
        base = f"{prefix}{rng.randrange(10**free):0{free}d}"
        check = mod11(base, weights)
        if check is not None:
            return base + check


def make_org_number(rng: random.Random) -> str:
    """A valid organisation number; like real ones, it starts with 8 or 9."""
    return _with_mod11(rng, rng.choice("89"), 9, ORG_NUMBER_WEIGHTS)


def make_bank_account(rng: random.Random) -> str:
    """A valid 11-digit bank account number with a real bank's register number in front."""
    return _with_mod11(rng, rng.choice(_BANK_REGISTERS), 11, BANK_ACCOUNT_WEIGHTS)


def make_kid(base: str) -> str:
    """A MOD10 KID: ``base`` (ASCII digits) and its Luhn check digit. Always valid: MOD10 has a
    check digit for every base."""
    return base + mod10(base)
