"""Decoding: ``decode_batch`` against the floors, msgspec untyped, orjson and pydantic; the cost of
enum values the SDK does not list; and the poller's narrow page decode against a full decode."""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable
from typing import Any

import msgspec

from amili_async import decode_batch
from amili_async.models.decoding import TypedDecoder
from amili_async.models.polling import SettlementPage
from amili_async.sandbox.generator import generate_batch_payload

from . import _floors
from ._payloads import SURPRISES, batch_payload, with_every_enum_value_unlisted
from ._report import Report, alternating_runs, median_time, ms, paired_ratio

Decoder = Callable[[bytes], Any]


def decoders() -> dict[str, Decoder]:
    """Every decoder compared, each built once."""
    import orjson

    exact = msgspec.json.Decoder(_floors.exact_floor())
    floating = msgspec.json.Decoder(_floors.float_floor())
    untyped = msgspec.json.Decoder()
    pydantic_batch = _floors.pydantic_batch()
    return {
        "amili_async.decode_batch": decode_batch,
        "exact floor (plain Structs, Decimal)": exact.decode,
        "float floor (plain Structs, float)": floating.decode,
        "msgspec untyped": untyped.decode,
        "orjson": orjson.loads,
        "pydantic v2 model_validate_json": pydantic_batch.model_validate_json,
    }


def time_decoder(decode: Decoder, payload: bytes, repeat: int, *, keep_previous: bool) -> float:
    """Median decode time on a clean heap, or with the previous result still alive."""
    previous: list[Any] = [decode(payload)] if keep_previous else []

    def once() -> None:
        result = decode(payload)
        if keep_previous:
            previous[0] = result

    if not keep_previous:
        previous.clear()
    gc.collect()
    return median_time(once, repeat)


def run(report: Report, sizes: list[int], repeat: int, *, unlisted_settlements: int) -> None:
    report.section("Decode (median wall time; ratio to the exact floor under the same condition)")
    report.note(
        f"payloads with surprises={SURPRISES}: that share of settlements has enum values the SDK "
        "does not list, of settlements and cases nulls; some 64 KiB strings"
    )
    all_decoders = decoders()
    largest = max(sizes)
    for size in sizes:
        payload = batch_payload(cases=size, settlements=min(size // 20, 500), seed=1)
        report.note(f"{size:,} cases: {len(payload) / 1e6:.1f} MB")
        rows, results = [], {}
        for name, decode in all_decoders.items():
            runs = 1 if ("pydantic" in name and size >= 100_000) else repeat
            clean = time_decoder(decode, payload, runs, keep_previous=False)
            alive = time_decoder(decode, payload, runs, keep_previous=True)
            results[name] = (clean, alive)
        floor_clean, floor_alive = results["exact floor (plain Structs, Decimal)"]
        for name, (clean, alive) in results.items():
            rows.append(
                [
                    name,
                    ms(clean),
                    f"{clean / floor_clean:.2f}x",
                    ms(alive),
                    f"{alive / floor_alive:.2f}x",
                ]
            )
        report.table(["decoder", "clean heap", "vs floor", "previous alive", "vs floor"], rows)
        if size == largest:
            _decode_targets(report, size, results)
        gc.collect()
    _unlisted_enum_cost(report, unlisted_settlements, repeat)
    _page_decode(report, repeat)


def _decode_targets(report: Report, size: int, results: dict[str, tuple[float, float]]) -> None:
    ours_clean, ours_alive = results["amili_async.decode_batch"]
    floor_clean, floor_alive = results["exact floor (plain Structs, Decimal)"]
    float_clean, float_alive = results["float floor (plain Structs, float)"]
    pydantic_clean, _ = results["pydantic v2 model_validate_json"]
    report.target(
        f"decode_batch {size:,} cases vs exact floor, clean heap", ours_clean / floor_clean, 1.15
    )
    report.target(
        f"decode_batch {size:,} cases vs exact floor, previous alive",
        ours_alive / floor_alive,
        1.15,
    )
    report.target(
        f"pydantic time / decode_batch time, {size:,} cases",
        pydantic_clean / ours_clean,
        7.0,
        at_most=False,
    )
    report.note(
        f"price of exact money: decode_batch is {ours_clean / float_clean:.2f}x the float floor on a "
        f"clean heap, {ours_alive / float_alive:.2f}x with the previous result alive"
    )


def _unlisted_enum_cost(report: Report, settlements: int, repeat: int) -> None:
    """The same payload twice, once with every settlement's four enum values listed by the SDK,
    once with none of them listed (what the day after Amili adds a value looks like)."""
    report.section(f"Enum values the SDK does not list: {settlements:,} settlements, 4 values each")
    listed = generate_batch_payload(cases=200, settlements=settlements, seed=5)
    unlisted, count = with_every_enum_value_unlisted(listed)
    listed_times, unlisted_times = alternating_runs(
        lambda: decode_batch(listed), lambda: decode_batch(unlisted), repeat
    )
    known, unknown = statistics.median(listed_times), statistics.median(unlisted_times)
    ratio, low, high = paired_ratio(unlisted_times, listed_times)
    report.table(
        ["decode_batch", "median", "vs listed"],
        [
            ["every enum value listed", ms(known), "1.00x"],
            [f"{count:,} values not listed", ms(unknown), f"{unknown / known:.2f}x"],
        ],
    )
    per_value_us = (unknown - known) / count * 1e6
    report.note(
        f"per round {ratio:.2f}x (from {low:.2f}x to {high:.2f}x over {repeat} rounds); every "
        "enum value of every settlement unlisted is the worst case: the decode tables above carry "
        f"{SURPRISES:.0%} of such settlements"
    )
    # Uncached, each value built a new pseudo-member: about 4 us (issue 9, item 10). Cached, what
    # is left is msgspec calling the enum's lookup in Python once per value.
    report.target("cost of one enum value the SDK does not list (us)", per_value_us, 1.0)


def _page_decode(report: Report, repeat: int) -> None:
    report.section("The poller's page decode (creditor + settlements only) vs a full decode_batch")
    payload = generate_batch_payload(cases=10_000, settlements=500, seed=2)
    page = TypedDecoder(SettlementPage)
    assert len(page(payload).settlements) == 500
    full = median_time(lambda: decode_batch(payload), repeat)
    narrow = median_time(lambda: page(payload), repeat)
    report.table(
        ["10,000-case page with 500 settlements", "time"],
        [["decode_batch (everything)", ms(full)], ["SettlementPage (poller)", ms(narrow)]],
    )
    report.target("page decode / full decode_batch", narrow / full, 0.2)
