"""``python -m benchmarks [--quick] [--only decode,memory,end_to_end,fanout,poller,collection,postgres,fleet,
timezones]``."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time

import aiohttp
import msgspec

from . import collection, decode, end_to_end, fanout, fleet, memory, poller, postgres, timezones
from ._report import Report

SECTIONS = (
    "decode",
    "memory",
    "end_to_end",
    "fanout",
    "poller",
    "collection",
    "postgres",
    "fleet",
    "timezones",
)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of seconds")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args()
    only = set(args.only.split(","))
    report = Report()
    started = time.perf_counter()
    print(_machine())
    quick = args.quick
    if "decode" in only:
        decode.run(
            report,
            [1_000, 10_000] if quick else [1_000, 10_000, 100_000],
            repeat=3 if quick else 5,
            unlisted_settlements=5_000 if quick else 25_000,
        )
    if "memory" in only:
        memory.run(report, 10_000 if quick else 100_000)
    if "end_to_end" in only:
        asyncio.run(end_to_end.run(report, 10_000, repeat=5 if quick else 15))
    if "fanout" in only:
        asyncio.run(fanout.run(report, 200 if quick else 1_000))
    if "poller" in only:
        asyncio.run(
            poller.run(report, 10_000 if quick else 100_000, 500 if quick else 2_000, 3_000)
        )
    if "collection" in only:
        asyncio.run(collection.run(report, 10_000 if quick else 100_000, repeat=3 if quick else 5))
    if "postgres" in only:
        asyncio.run(postgres.run(report, quick))
    if "fleet" in only:
        asyncio.run(fleet.run(report, quick))
    if "timezones" in only:
        timezones.run(report, quick)
    ok = report.summary()
    print(f"(ran in {time.perf_counter() - started:.0f} s{'; --quick sizes' if quick else ''})")
    return 0 if ok else 1


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return (
        f"# amili_async benchmarks\n{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"msgspec {msgspec.__version__}, aiohttp {aiohttp.__version__}"
    )


if __name__ == "__main__":
    sys.exit(main())
