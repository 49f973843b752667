"""Peak and retained memory of each decoder on a 100,000-case batch, each in a fresh process.

The child reads the payload from a file, notes its RSS, decodes, and reports RSS after (retained:
the decoded result is still alive) and its peak RSS (``ru_maxrss``), both relative to before.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ._payloads import batch_payload
from ._report import Report

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def _peak_rss() -> int:
    """VmHWM: this process's peak RSS (``ru_maxrss`` would carry the parent's over exec)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def child(name: str, path: str) -> None:
    """Runs in the fresh process: decode the payload with ``name``; print the figures as JSON.

    Peak is measured relative to the RSS before decoding, with the payload already read."""
    from .decode import decoders

    decode = decoders()[name]
    payload = Path(path).read_bytes()
    gc.collect()
    before = _rss()
    result = decode(payload)
    gc.collect()
    after = _rss()
    peak = _peak_rss()
    print(
        json.dumps({"retained": after - before, "peak": peak - before, "alive": result is not None})
    )


def run(report: Report, cases: int) -> float:
    """Measure every decoder; returns our retained memory as a multiple of the payload size."""
    from .decode import decoders

    report.section(f"Memory for {cases:,} cases (fresh process per decoder, RSS)")
    payload = batch_payload(cases=cases, settlements=500, seed=1)
    size = len(payload)
    rows = []
    ours = 0.0
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "payload.json"
        path.write_bytes(payload)
        del payload
        for name in decoders():
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.memory", name, str(path)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            figures = json.loads(out.strip().splitlines()[-1])
            retained, peak = figures["retained"] / size, figures["peak"] / size
            rows.append(
                [
                    name,
                    f"{figures['retained'] / 1e6:.0f} MB",
                    f"{retained:.2f}x",
                    f"{figures['peak'] / 1e6:.0f} MB",
                    f"{peak:.2f}x",
                ]
            )
            if name == "amili_async.decode_batch":
                ours = retained
    report.note(f"payload: {size / 1e6:.1f} MB")
    report.table(["decoder", "retained", "x payload", "peak", "x payload"], rows)
    report.target(f"retained memory of a decoded {cases:,}-case batch / payload size", ours, 2.8)
    return ours


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2])
