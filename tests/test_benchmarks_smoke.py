"""The benchmark's floors are the same schema as the SDK's models (so its ratios mean something)."""

from __future__ import annotations

import msgspec
import pytest

from amili_async import decode_batch
from amili_async.sandbox.generator import generate_batch_payload
from benchmarks import _floors
from benchmarks._payloads import batch_payload, with_every_enum_value_unlisted
from benchmarks._report import paired_ratio

PAYLOAD = generate_batch_payload(cases=50, settlements=10, seed=5)


def test_exact_floor_decodes_the_same_values_as_ours() -> None:
    ours = decode_batch(PAYLOAD)
    floor = msgspec.json.decode(PAYLOAD, type=_floors.exact_floor())
    assert msgspec.json.encode(ours) == msgspec.json.encode(floor)
    assert type(floor).__struct_config__.gc is False
    assert _floors.exact_floor().__struct_config__.frozen is False


def test_float_floor_differs_only_in_money_type() -> None:
    floor = msgspec.json.decode(PAYLOAD, type=_floors.float_floor())
    ours = decode_batch(PAYLOAD)
    first = floor.case[0]  # type: ignore[attr-defined]
    assert isinstance(first.originalsum, float)
    assert first.originalsum == float(ours.cases[0].original_sum or 0)
    assert first.ledgerref == ours.cases[0].ledger_ref


def test_page_floor_matches_the_poller_page() -> None:
    page = msgspec.json.decode(PAYLOAD, type=_floors.page_floor())
    assert [s.id for s in page.settlement] == [s.id for s in decode_batch(PAYLOAD).settlements]  # type: ignore[attr-defined]


def test_pydantic_models_decode_the_same_values() -> None:
    pytest.importorskip("pydantic")
    model = _floors.pydantic_batch()
    theirs = model.model_validate_json(PAYLOAD)
    ours = decode_batch(PAYLOAD)
    assert theirs.cases[3].original_sum == ours.cases[3].original_sum
    assert theirs.cases[3].due_date == ours.cases[3].due_date
    assert theirs.settlements[2].id == ours.settlements[2].id
    assert ours.creditors[0].contact is not None
    assert theirs.creditors[0].contact.full_name == ours.creditors[0].contact.full_name


def test_the_unlisted_enum_payload_differs_only_in_enum_values() -> None:
    listed = generate_batch_payload(cases=20, settlements=30, seed=6)
    unlisted, count = with_every_enum_value_unlisted(listed)
    assert count == 30 * 4
    before, after = decode_batch(listed), decode_batch(unlisted)
    values = [
        (s.collection_type, s.settlement_type, s.invoice.type, s.invoice.status)
        for s in after.settlements
        if s.invoice is not None
    ]
    assert len(values) == 30
    assert all(v is not None and not v.is_known for row in values for v in row)
    assert [s.id for s in after.settlements] == [s.id for s in before.settlements]
    assert after.cases == before.cases


def test_benchmark_payloads_carry_surprises() -> None:
    batch = decode_batch(batch_payload(cases=200, settlements=400, seed=1))
    kinds = [s.collection_type for s in batch.settlements]
    assert any(k is not None and not k.is_known for k in kinds)
    assert any(k is not None and k.is_known for k in kinds)


def test_paired_ratio_pairs_runs_of_the_same_round() -> None:
    # the machine slowed down in round 2: the ratios per round stay 1.1 while the medians drift
    ours, theirs = [1.1, 2.2, 1.1], [1.0, 2.0, 1.0]
    ratio, low, high = paired_ratio(ours, theirs)
    assert round(ratio, 6) == round(low, 6) == round(high, 6) == 1.1
    assert paired_ratio([1.0, 3.0, 2.0], [1.0, 1.0, 1.0]) == (2.0, 1.0, 3.0)


def test_the_fleet_section_runs_at_tiny_sizes(
    postgres: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `fleet` section end to end (one worker in both modes, 1-3 worker processes) at two
    settlements for each of 30 creditors: every run must ack every settlement, or it raises."""
    import asyncio

    from benchmarks import fleet
    from benchmarks._report import Report

    report = Report()
    asyncio.run(fleet.run(report, quick=True, creditors=30, per_creditor=2))
    out = capsys.readouterr().out
    assert "pool of 16" in out
    assert [line.split()[3] for line in out.splitlines() if "(default loop)" in line][-3:] == [
        "1",
        "2",
        "3",
    ]
    assert len(report.targets) == 1
