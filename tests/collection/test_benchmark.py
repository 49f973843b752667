"""The Collection benchmark runs end to end on a small list (no timing asserted)."""

from __future__ import annotations

from benchmarks import collection
from benchmarks._report import Report


async def test_the_settlements_walk_benchmark_runs_and_fetches_one_token() -> None:
    report = Report()
    await collection.run(report, 1_500, repeat=1)
    token_target = next(t for t in report.targets if t.name.startswith("token requests"))
    assert token_target.value == 1
    assert report.targets[0].name.startswith("settlements.list walk")
