"""Norwegian check digits: KID (MOD10/MOD11), organisation numbers and bank accounts (MOD11).

The sandbox only hands out numbers that a real Norwegian bank or registry would accept, so an
integration that validates them sees realistic data.
"""

from __future__ import annotations

import random

__all__ = [
    "is_valid_bank_account",
    "is_valid_kid",
    "is_valid_org_number",
    "make_bank_account",
    "make_kid",
    "make_org_number",
    "mod10",
    "mod11",
]

ORG_NUMBER_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
BANK_ACCOUNT_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def mod10(digits: str) -> str:
    """The Luhn (MOD10) check digit of ``digits``."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def mod11(digits: str, weights: tuple[int, ...] | None = None) -> str | None:
    """The MOD11 check digit of ``digits``, or ``None`` when the remainder makes it invalid (10).

    Without ``weights`` the KID weights 2, 3, 4, 5, 6, 7, 2, 3, ... from the right are used.
    """
    if weights is None:
        weights = tuple(2 + i % 6 for i in range(len(digits)))[::-1]
    if len(weights) != len(digits):
        raise ValueError(f"{len(digits)} digits but {len(weights)} weights")
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    check = 11 - remainder
    if check == 11:
        return "0"
    if check == 10:
        return None
    return str(check)


def is_valid_org_number(number: str) -> bool:
    """A 9-digit Norwegian organisation number with a valid MOD11 check digit."""
    return (
        len(number) == 9 and number.isdigit() and mod11(number[:8], ORG_NUMBER_WEIGHTS) == number[8]
    )


def is_valid_bank_account(number: str) -> bool:
    """An 11-digit Norwegian bank account number with a valid MOD11 check digit."""
    return (
        len(number) == 11
        and number.isdigit()
        and mod11(number[:10], BANK_ACCOUNT_WEIGHTS) == number[10]
    )


def is_valid_kid(kid: str) -> bool:
    """A KID (2-25 digits) whose last digit is its MOD10 or MOD11 check digit."""
    if not (2 <= len(kid) <= 25 and kid.isdigit()):
        return False
    body, check = kid[:-1], kid[-1]
    return mod10(body) == check or mod11(body) == check


def _with_mod11(rng: random.Random, length: int, weights: tuple[int, ...], first: str) -> str:
    while True:  # about 1 in 11 bases has no valid check digit: draw again
        base = first + "".join(rng.choice("0123456789") for _ in range(length - 1 - len(first)))
        check = mod11(base, weights)
        if check is not None:
            return base + check


def make_org_number(rng: random.Random) -> str:
    """A valid organisation number (they start with 8 or 9)."""
    return _with_mod11(rng, 9, ORG_NUMBER_WEIGHTS, rng.choice("89"))


def make_bank_account(rng: random.Random) -> str:
    """A valid 11-digit bank account number."""
    return _with_mod11(rng, 11, BANK_ACCOUNT_WEIGHTS, rng.choice(["1503", "1506", "3000", "9710"]))


def make_kid(base: str) -> str:
    """A KID: ``base`` digits plus their MOD10 check digit."""
    return base + mod10(base)
