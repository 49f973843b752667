"""Collects measurements and targets, and prints them as aligned tables."""

from __future__ import annotations

import dataclasses
import gc
import statistics
import time
from collections.abc import Callable
from typing import NamedTuple


@dataclasses.dataclass(frozen=True)
class Target:
    """A goal of the performance issue: ``value`` must be at most (or at least) ``limit``."""

    name: str
    value: float
    limit: float
    at_most: bool = True

    @property
    def passed(self) -> bool:
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def line(self) -> str:
        sign = "<=" if self.at_most else ">="
        verdict = "PASS" if self.passed else "FAIL"
        return f"  {verdict}  {self.name}: {self.value:.3g} (target {sign} {self.limit:g})"


@dataclasses.dataclass
class Report:
    """Sections of rows, and the targets checked along the way."""

    targets: list[Target] = dataclasses.field(default_factory=list)

    def section(self, title: str) -> None:
        print(f"\n## {title}", flush=True)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, ["-" * w for w in widths], *rows]:
            cells = [
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            print("  " + "  ".join(cells), flush=True)

    def note(self, text: str) -> None:
        print(f"  {text}", flush=True)

    def target(self, name: str, value: float, limit: float, *, at_most: bool = True) -> Target:
        made = Target(name, value, limit, at_most)
        self.targets.append(made)
        print(made.line(), flush=True)
        return made

    def summary(self) -> bool:
        print("\n## Targets")
        for target in self.targets:
            print(target.line())
        failed = [t for t in self.targets if not t.passed]
        print(f"\n{len(self.targets) - len(failed)} of {len(self.targets)} targets PASS")
        return not failed


def median_time(run: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class Timing(NamedTuple):
    """Wall time, and CPU time of this process (which a loaded machine inflates far less)."""

    wall: float
    cpu: float


def clock() -> Timing:
    """Now, for :func:`since`."""
    return Timing(time.perf_counter(), time.process_time())


def since(start: Timing) -> Timing:
    """The wall and CPU time spent since ``start``."""
    now = clock()
    return Timing(now.wall - start.wall, now.cpu - start.cpu)


def alternating_runs(
    first: Callable[[], object],
    second: Callable[[], object],
    rounds: int,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], list[float]]:
    """Time two calls side by side for ``rounds`` rounds, alternating which goes first (drift
    hits both alike), collecting the heap before each and freeing each result off the clock."""
    times: tuple[list[float], list[float]] = ([], [])
    for round_number in range(rounds):
        order = (0, 1) if round_number % 2 == 0 else (1, 0)
        for index in order:
            call = (first, second)[index]
            gc.collect()
            started = clock()
            result = call()
            times[index].append(clock() - started)
            del result  # freed off the clock
    return times


def paired_ratio(ours: list[float], theirs: list[float]) -> tuple[float, float, float]:
    """The median, lowest and highest of ``ours[i] / theirs[i]``: runs made side by side in the
    same round, so drift of a loaded machine hits both sides of each ratio alike."""
    ratios = sorted(a / b for a, b in zip(ours, theirs, strict=True))
    return statistics.median(ratios), ratios[0], ratios[-1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
