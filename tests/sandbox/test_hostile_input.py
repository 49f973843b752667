"""The sandbox under input meant to break it: huge or non-finite amounts, undecodable credentials,
absurdly deep JSON, a request log that must not grow for ever, and a CLI given bad options."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from typing import Any

import aiohttp
import pytest

from amili_async.sandbox import SandboxServer

POST_HEADERS = {"Content-Type": "application/json"}


async def _post(sandbox: SandboxServer, body: str | bytes) -> tuple[int, Any]:
    headers = {**POST_HEADERS, "Authorization": f"Bearer {sandbox.token}"}
    async with (
        aiohttp.ClientSession() as raw,
        raw.post(f"{sandbox.url}/webapi/api/Batch", data=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_the_request_log_keeps_only_the_latest_requests() -> None:
    async with (
        SandboxServer(creditors=1, cases=1, settlements=0, request_log_size=5) as sandbox,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {sandbox.token}"}) as raw,
    ):
        for n in range(12):
            async with raw.get(f"{sandbox.url}/webapi/api/Ping?n={n}") as response:
                assert response.status == 200
        assert [r.query["n"] for r in sandbox.requests] == ["7", "8", "9", "10", "11"]
        assert sandbox.request_count == 12


def test_bad_sizes_are_refused_when_the_sandbox_is_made() -> None:
    with pytest.raises(ValueError, match="request_log_size"):
        SandboxServer(creditors=1, request_log_size=-1)
    with pytest.raises(ValueError, match="page_size"):
        SandboxServer(creditors=1, page_size=0)


@pytest.mark.parametrize(
    "amount",
    ["1e5000", "-1e5000", "1E+999999999", "1e13", "NaN", "Infinity", "-Infinity", '"1e5000"'],
)
async def test_huge_and_non_finite_amounts_are_refused_and_payouts_go_on(amount: str) -> None:
    # A creditor without cases: whatever case the POST stores is the one every payout pays.
    async with SandboxServer(creditors=1, cases=0, settlements=0) as sandbox:
        creditor = sandbox.creditor_ids[0]
        case = f'{{"creditorid": "{creditor}", "ledgerref": "X1", "originalprincipal": {amount}}}'
        status, result = await _post(sandbox, f'{{"case": [{case}]}}')
        assert status == 200  # the legacy status object: the refusal is per object
        assert result["statuscode"] == 1 and result["responses"] == []
        (error,) = result["errors"]
        assert error["objectname"] == "case" and "originalprincipal" in error["message"]
        assert len(error["message"]) < 120  # the number is not echoed in full
        assert sandbox.add_settlements(creditor, 3) == []  # nothing was stored

        valid = case.replace(amount, "125.50").replace("X1", "X2")
        status, result = await _post(sandbox, f'{{"case": [{valid}]}}')
        assert (status, result["statuscode"]) == (200, 0)
        sandbox.start_payouts(rate=500)
        for _ in range(200):  # bounded: 2 s at most
            if len(sandbox.ledger(creditor)) >= 3:
                break
            await asyncio.sleep(0.01)
        assert len(sandbox.ledger(creditor)) >= 3
    # leaving `async with` closed the payouts and the server without raising


async def test_the_largest_amount_allowed_still_pays_out() -> None:
    async with SandboxServer(creditors=1, cases=0, settlements=0) as sandbox:
        creditor = sandbox.creditor_ids[0]
        case = {"creditorid": creditor, "ledgerref": "MAX", "originalprincipal": 999999999999.99}
        status, result = await _post(sandbox, json.dumps({"case": [case]}))
        assert (status, result["statuscode"]) == (200, 0)
        assert len(sandbox.add_settlements(creditor, 5)) == 5


@pytest.mark.parametrize(
    "authorization", [b"Bearer \xff\xfe\xfd", b"\xc3\x28 token", b"Basic \xff\xff"]
)
async def test_undecodable_credentials_get_401(authorization: bytes) -> None:
    async with SandboxServer(creditors=1, cases=1, settlements=0) as sandbox:
        host, port = sandbox.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(
                b"GET /webapi/api/Ping HTTP/1.1\r\nHost: sandbox\r\nAuthorization: "
                + authorization
                + b"\r\nConnection: close\r\n\r\n"
            )
            status_line = await asyncio.wait_for(reader.readline(), 10)
        finally:
            writer.close()
        assert status_line.split()[1] == b"401"


@pytest.mark.parametrize("opening", ["[", '{"case":'])
async def test_a_100000_deep_body_gets_400(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    async with SandboxServer(creditors=1, cases=1, settlements=0) as sandbox:
        status, result = await _post(sandbox, opening * 100_000 + "1" + closing * 100_000)
    assert status == 400
    assert "nested too deeply" in str(result["message"])


def _cli(*options: str, command: str = "sandbox") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amili_async", command, *options],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _assert_one_line_error(
    done: subprocess.CompletedProcess[str], *words: str, command: str = "sandbox"
) -> None:
    assert done.returncode != 0
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"python -m amili_async {command}: error: ")
    assert all(word in line for word in words), line


@pytest.mark.parametrize(
    ("option", "value"), [("--creditors", "0"), ("--page-size", "0"), ("--fault-rate", "2")]
)
def test_cli_refuses_bad_options_in_one_line(option: str, value: str) -> None:
    _assert_one_line_error(_cli("--port", "0", option, value), option, value)


def test_demo_refuses_no_creditors_in_one_line() -> None:
    done = _cli("--creditors", "0", "--seconds", "0.1", "--quiet", command="demo")
    _assert_one_line_error(done, "--creditors", "0", command="demo")


def test_cli_reports_a_busy_port_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        _assert_one_line_error(_cli("--port", port), "127.0.0.1", port)


async def test_close_logs_a_failed_payout_task_instead_of_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = SandboxServer(creditors=1, cases=2, settlements=0)
    await sandbox.start()

    def broken(creditor_id: str, n: int = 1) -> list[dict[str, Any]]:
        raise OverflowError("int too large to convert to float")

    sandbox.state.add_settlements = broken  # type: ignore[method-assign]
    sandbox.start_payouts(rate=1000)
    await asyncio.sleep(0.05)  # the payout task has died by now
    await sandbox.close()  # does not raise
    assert "sandbox payouts had failed" in caplog.text
    async with aiohttp.ClientSession() as raw:  # and the server was closed all the same
        with pytest.raises(aiohttp.ClientConnectionError):
            await raw.get(f"{sandbox.url}/webapi/api/Ping")
    await sandbox.close()  # a second close is harmless
