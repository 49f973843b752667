"""Archive the exact bytes of many creditors' batches, for audits, and check they decode.

For each creditor, the raw response body goes to ``<folder>/<creditor>/<request id>.json`` and
what identifies it (request id, the server's ``Date``, size) to a ``.meta.json`` beside it; the body
is then decoded, so a payload the SDK cannot read is found now rather than in an audit. Against
the sandbox (in another shell: ``python -m amili_async sandbox --port 8080``)::

    export AMILI_BASE_URL=http://127.0.0.1:8080 AMILI_TOKEN=sk_sandbox_amili
    python examples/archive_raw_payloads.py --folder archive 842793483 824378908 905619004
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from amili_async import AmiliClient, DecodeError, FanOut, RawResponse, decode_batch

SEED_1_CREDITORS = ["842793483", "824378908", "905619004"]


def archive(folder: Path, creditor_id: str, raw: RawResponse) -> Path:
    target = folder / creditor_id
    target.mkdir(parents=True, exist_ok=True)
    name = raw.request_id or "no-request-id"
    body_path = target / f"{name}.json"
    body_path.write_bytes(raw.body)
    meta = {"request_id": raw.request_id, "date": raw.headers.get("Date"), "bytes": len(raw.body)}
    (target / f"{name}.meta.json").write_text(json.dumps(meta))
    return body_path


async def main(creditor_ids: list[str], folder: Path) -> int:
    failed = 0
    async with AmiliClient() as client:  # AMILI_BASE_URL, AMILI_TOKEN

        async def fetch(creditor_id: str) -> RawResponse:
            return await client.get_batch_raw(creditor_id=creditor_id, include_closed=True)

        async with FanOut(creditor_ids, fetch, concurrency=10) as responses:
            async for response in responses:
                if response.value is None:
                    failed += 1
                    print(f"{response.key}: FAILED {response.error}")
                    continue
                path = archive(folder, response.key, response.value)
                try:
                    batch = decode_batch(response.value.body)
                except DecodeError as error:
                    failed += 1
                    print(f"{response.key}: archived {path}, does NOT decode at {error.path}")
                    continue
                print(f"{response.key}: archived {path} ({len(batch.cases)} cases)")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("creditor_ids", nargs="*", default=SEED_1_CREDITORS)
    parser.add_argument("--folder", type=Path, default=Path("archive"), help="where (./archive)")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.creditor_ids, args.folder)))
