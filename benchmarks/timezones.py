"""The cost of ``timezone=``: decoding a 10,000-case batch with every naive timestamp made aware
in Europe/Oslo, against the plain decode of the same payload (target: at most 1.3x)."""

from __future__ import annotations

import statistics
import time
from zoneinfo import ZoneInfo

from amili_async import decode_batch

from ._payloads import batch_payload
from ._report import Report, alternating_runs, ms, paired_ratio

CASES = 10_000
OSLO = ZoneInfo("Europe/Oslo")


def run(report: Report, quick: bool) -> None:
    rounds = 5 if quick else 15
    report.section(
        f"Timestamps made aware (timezone=): {CASES:,}-case batch, {rounds} paired rounds"
    )
    payload = batch_payload(cases=CASES, settlements=500, seed=1)
    visited, converted = _count_timestamps(payload)
    plain_times, zoned_times = alternating_runs(
        lambda: decode_batch(payload),
        lambda: decode_batch(payload, timezone=OSLO),
        rounds,
        clock=time.process_time,  # CPU time: a loaded machine inflates it far less
    )
    plain, zoned = statistics.median(plain_times), statistics.median(zoned_times)
    ratio, low, high = paired_ratio(zoned_times, plain_times)
    report.table(
        ["decode_batch (CPU time)", "median", "vs plain"],
        [
            ["as sent (default)", ms(plain), "1.00x"],
            ["timezone=ZoneInfo('Europe/Oslo')", ms(zoned), f"{zoned / plain:.2f}x"],
        ],
    )
    report.note(
        f"{len(payload) / 1e6:.1f} MB, {visited:,} timestamps looked at, {converted:,} of them "
        f"naive and made aware: {(zoned - plain) / max(visited, 1) * 1e9:.0f} ns per timestamp; "
        f"per round {ratio:.2f}x (from {low:.2f}x to {high:.2f}x)"
    )
    report.target("decode with timezone / plain decode (paired runs)", ratio, 1.3)


def _count_timestamps(payload: bytes) -> tuple[int, int]:
    """How many timestamps the payload has, and how many are naive (on a plain decode)."""
    batch = decode_batch(payload)
    stamps = []
    for case in batch.cases:
        stamps += [case.reg_date, case.closure_date, case.bill_date, case.due_date]
        stamps += [entry.logged_at for entry in case.history]
        if case.payment_details is not None:
            stamps.append(case.payment_details.due_date)
    for settlement in batch.settlements:
        stamps += [settlement.remittance_date, settlement.settlement_date]
        if settlement.invoice is not None:
            stamps.append(settlement.invoice.closure_date)
    present = [s for s in stamps if s is not None]
    return len(present), sum(1 for s in present if s.tzinfo is None)
