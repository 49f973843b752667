"""Norwegian check digits: known numbers, generated numbers, and single-digit errors caught."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from random import Random
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amili_async.sandbox.checkdigits import (
    BANK_ACCOUNT_WEIGHTS,
    ORG_NUMBER_WEIGHTS,
    is_valid_bank_account,
    is_valid_kid,
    is_valid_kid_mod11,
    is_valid_org_number,
    make_bank_account,
    make_kid,
    make_org_number,
    mod10,
    mod11,
)

_T = TypeVar("_T")
seeds = st.integers(min_value=0, max_value=2**64)
digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=24)


def _with_digit_changed(number: str, position: int, step: int) -> str:
    changed = str((int(number[position]) + step) % 10)
    return number[:position] + changed + number[position + 1 :]


def test_known_numbers() -> None:
    assert is_valid_org_number("923609016")  # a real organisation number
    assert is_valid_org_number("974760673")  # the Brønnøysund register centre
    assert is_valid_bank_account("86011117947")  # the usual example account
    assert mod10("7992739871") == "3"  # the Luhn textbook example
    assert mod10("1234567890") == "3"
    assert mod11("1234567890") == "3"
    assert mod11("92360901", ORG_NUMBER_WEIGHTS) == "6"
    assert mod11("8601111794", BANK_ACCOUNT_WEIGHTS) == "7"


def test_known_invalid_numbers() -> None:
    assert not is_valid_org_number("923609017")  # wrong check digit
    assert not is_valid_org_number("92360901")  # too short
    assert not is_valid_org_number("9236090160")  # too long
    assert not is_valid_org_number("92360901a")
    assert not is_valid_bank_account("86011117948")
    assert not is_valid_bank_account("8601111794")
    assert not is_valid_kid("79927398710")
    assert not is_valid_kid("7")  # no body
    assert not is_valid_kid("1" * 26)  # longer than a KID can be


def test_non_ascii_digits_are_not_digits() -> None:
    fullwidth = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
    arabic_indic = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))
    assert "923609016".translate(fullwidth).isdigit()  # Python says digits...
    assert not is_valid_org_number("923609016".translate(fullwidth))  # ... a registry does not
    assert not is_valid_kid("79927398713".translate(arabic_indic))
    assert not is_valid_org_number("92360901\u00b2")  # superscript two
    with pytest.raises(ValueError, match="ASCII digits"):
        mod10("12a")
    with pytest.raises(ValueError, match="ASCII digits"):
        mod11("")


def test_mod11_remainder_ten_has_no_check_digit() -> None:
    assert mod11("6") is None  # 6 * 2 = 12, 12 % 11 = 1, 11 - 1 = 10
    assert mod11("0000000000", BANK_ACCOUNT_WEIGHTS) == "0"  # 11 - 0 = 11 -> 0
    with pytest.raises(ValueError, match="weights"):
        mod11("123", ORG_NUMBER_WEIGHTS)


def test_mod11_kids() -> None:
    assert is_valid_kid_mod11("12345678903")
    assert is_valid_kid_mod11("6-")  # no check digit: the NETS rule writes a minus
    assert not is_valid_kid_mod11("60")
    assert not is_valid_kid_mod11("12345678904")
    assert not is_valid_kid_mod11("-")
    assert not is_valid_kid_mod11("")


class _Scripted(Random):
    """A Random whose ``randrange`` answers from a script, to force a redraw."""

    def __init__(self, draws: Sequence[int]) -> None:
        super().__init__(0)
        self.draws = list(draws)

    def randrange(self, *args: int) -> int:  # type: ignore[override]
        return self.draws.pop(0)

    def choice(self, seq: Sequence[_T]) -> _T:  # type: ignore[override]
        return seq[0]


@pytest.mark.parametrize(
    ("make", "prefix", "weights"),
    [(make_org_number, "8", ORG_NUMBER_WEIGHTS), (make_bank_account, "1503", BANK_ACCOUNT_WEIGHTS)],
)
def test_a_base_without_check_digit_is_drawn_again(
    make: Callable[[Random], str], prefix: str, weights: tuple[int, ...]
) -> None:
    free = len(weights) - len(prefix)
    bad = next(n for n in range(10**free) if mod11(f"{prefix}{n:0{free}d}", weights) is None)
    good = next(n for n in range(10**free) if mod11(f"{prefix}{n:0{free}d}", weights) is not None)
    rng = _Scripted([bad, good])
    number = make(rng)
    assert number[:-1] == f"{prefix}{good:0{free}d}"
    assert rng.draws == []  # both draws used: the first base was refused


@settings(max_examples=50)
@given(seeds)
def test_generated_org_numbers_and_accounts_validate(seed: int) -> None:
    rng = Random(seed)
    org, account = make_org_number(rng), make_bank_account(rng)
    assert is_valid_org_number(org) and org[0] in "89"
    assert is_valid_bank_account(account)


@settings(max_examples=50)
@given(digit_strings)
def test_generated_kids_validate(base: str) -> None:
    kid = make_kid(base)
    assert kid.startswith(base) and len(kid) == len(base) + 1
    assert is_valid_kid(kid)


@settings(max_examples=50)
@given(seeds, st.data())
def test_a_single_changed_digit_is_rejected(seed: int, data: st.DataObject) -> None:
    rng = Random(seed)
    for number, valid in (
        (make_org_number(rng), is_valid_org_number),
        (make_bank_account(rng), is_valid_bank_account),
        (make_kid(str(seed)), is_valid_kid),
    ):
        position = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
        step = data.draw(st.integers(min_value=1, max_value=9))
        assert valid(number)
        assert not valid(_with_digit_changed(number, position, step))
