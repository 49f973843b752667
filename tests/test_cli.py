"""The ``amili`` command: each command's happy path, help, errors and output conventions.

Commands run in-process (``main(argv)`` in a worker thread, since it runs its own event loop)
against a sandbox served by the test's loop; a few run as ``python -m amili_async`` to see what a
shell sees (exit codes, pipes, signals).
"""

from __future__ import annotations

import argparse
import asyncio
import decimal
import io
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from amili_async import AmiliClient, __version__, decode_batch
from amili_async._cli import build_parser, main
from amili_async._cli._terminal import Progress, Styles
from amili_async.sandbox import Fault, SandboxServer

pytestmark = pytest.mark.amili_sandbox(creditors=3, seed=1)

COMMANDS = ("sandbox", "demo", "ping", "batch", "settlements", "fetch")


@pytest.fixture(autouse=True)
def _no_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AMILI_") or name == "NO_COLOR":
            monkeypatch.delenv(name)


def connection(sandbox: SandboxServer, token: str | None = None) -> list[str]:
    return ["--base-url", sandbox.url, "--token", token or sandbox.token]


async def amili(*argv: str) -> int:
    """Run the command in a worker thread (it runs its own event loop), as a console would."""
    return await asyncio.to_thread(main, list(argv))


def assert_one_line_error(stderr: str, *words: str) -> None:
    assert "Traceback" not in stderr
    (line,) = stderr.splitlines()
    assert ": error: " in line
    assert all(word in line for word in words), line


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(commands.choices)


# -- help, version, usage errors ----------------------------------------------------------------


def test_every_command_is_registered() -> None:
    assert tuple(subcommands()) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_and_shows_its_default(command: str) -> None:
    parser = subcommands()[command]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.dest in ("help",):
            continue
        assert action.help, f"{command} {action.option_strings or action.dest} has no help"
        if action.option_strings:
            shown = formatter._get_help_string(action)
            assert "(default: " in (shown or ""), f"{command} {action.option_strings}: {shown}"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: amili {command} ")
    description = subcommands()[command].description or ""
    assert description.split("\n")[0] in text  # as written, line breaks kept
    for action in subcommands()[command]._actions:
        for option in action.option_strings:
            assert option in text
    words = " ".join(text.split())  # as wrapped for any width
    if command in ("ping", "batch", "settlements", "fetch"):
        assert "(default: $AMILI_BASE_URL)" in words
        assert "(default: $AMILI_TOKEN, " in words


def test_top_level_help_lists_commands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert all(f"    {command}" in text for command in COMMANDS)
    assert "exit codes: 0 ok, 1 failure" in text
    assert "130 interrupted" in text
    assert "developer" not in text.lower()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"amili (amili_async) {__version__}\n"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([], ["required: COMMAND"]),
        (["bogus"], ["invalid choice: 'bogus'"]),
        (["batch"], ["CREDITOR_ID"]),
        (["fetch", "1", "--concurrency", "0"], ["--concurrency", "at least 1, got 0"]),
        (["settlements", "1", "--interval", "nan"], ["--interval"]),
        (["batch", "1", "--remittance-date", "tomorrow"], ["--remittance-date", "tomorrow"]),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(captured.err, *words, "--help")


def test_no_creditor_ids_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "--base-url", "http://127.0.0.1:9", "--token", "t"]) == 2
    assert_one_line_error(capsys.readouterr().err, "no creditor ids", "--ids-from")


def test_no_base_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ping", "--token", "t"]) == 2
    assert_one_line_error(capsys.readouterr().err, "amili ping: error: no base URL")


def test_python_dash_m_usage_error_has_no_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "amili_async", "fetch", "--concurrency", "x", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert_one_line_error(done.stderr, "python -m amili_async fetch: error:", "--concurrency")


# -- ping, and an API error ---------------------------------------------------------------------


async def test_ping(amili_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert await amili("ping", *connection(amili_sandbox)) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {amili_sandbox.url} answered in ")


async def test_a_wrong_token_is_one_line_with_the_request_id(
    amili_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await amili("ping", *connection(amili_sandbox, token="wrong")) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(captured.err, "401", "[request id sbx-", "--token")
    assert "wrong" not in captured.err  # the secret is never echoed


# -- batch --------------------------------------------------------------------------------------


async def test_batch_prints_the_batch_as_exact_json(
    amili_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    creditor = amili_sandbox.creditor_ids[0]
    code = await amili("batch", creditor, "--include-closed", *connection(amili_sandbox))
    assert code == 0
    printed = decode_batch(capsys.readouterr().out.encode())
    async with AmiliClient(base_url=amili_sandbox.url, token=amili_sandbox.token) as client:
        expected = await client.get_batch(creditor_id=creditor, include_closed=True)
    assert printed.cases == expected.cases  # every amount to the last digit
    assert printed.settlements == expected.settlements
    assert printed.creditors[0].id_number == creditor


async def test_batch_amounts_as_strings(
    amili_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    creditor = amili_sandbox.creditor_ids[0]
    code = await amili(
        "batch", creditor, "--decimals", "string", "--compact", *connection(amili_sandbox)
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    document = json.loads(out)
    amounts = [s["paymentAmount"] for s in document["settlement"]]
    assert amounts and all(isinstance(a, str) for a in amounts)
    assert all(decimal.Decimal(a).as_tuple().exponent == -2 for a in amounts)


async def test_batch_raw_is_the_servers_bytes(
    amili_sandbox: SandboxServer, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    creditor = amili_sandbox.creditor_ids[1]
    assert await amili("batch", creditor, "--raw", *connection(amili_sandbox)) == 0
    raw = capsysbinary.readouterr().out
    assert raw.startswith(b"{") and b'"idnumber"' in raw
    assert decode_batch(raw).creditors[0].id_number == creditor


async def test_batch_summary_sums_exactly(
    amili_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    creditor = amili_sandbox.creditor_ids[0]
    code = await amili(
        "batch", creditor, "--summary", "--include-closed", *connection(amili_sandbox)
    )
    assert code == 0
    out = capsys.readouterr().out
    paid = sum(decimal.Decimal(str(s["paymentAmount"])) for s in amili_sandbox.ledger(creditor))
    assert f"settlements  {len(amili_sandbox.ledger(creditor))}\n" in out
    assert f"paid         {paid} NOK\n" in out
    assert out.startswith(f"creditor     {creditor} ")


async def test_batch_of_a_creditor_the_answer_lacks_warns(
    amili_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await amili("batch", "999999999", "--summary", *connection(amili_sandbox)) == 0
    assert "no creditor 999999999" in capsys.readouterr().err


# -- settlements -------------------------------------------------------------------------------


def settlement_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


async def test_settlements_drains_what_is_there_and_exits(
    amili_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = amili_sandbox.creditor_ids[:2]
    assert await amili("settlements", *ids, *connection(amili_sandbox)) == 0
    lines = settlement_lines(capsys.readouterr().out)
    for creditor in ids:
        ledger = amili_sandbox.ledger(creditor)
        mine = [line["settlement"] for line in lines if line["creditor_id"] == creditor]
        assert [s["id"] for s in mine] == [s["id"] for s in ledger]
        assert [decimal.Decimal(str(s["paymentAmount"])) for s in mine] == [
            decimal.Decimal(str(s["paymentAmount"])) for s in ledger
        ]


async def test_settlements_store_resumes_with_only_new_ones(
    amili_sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = amili_sandbox.creditor_ids
    store = str(tmp_path / "cursors.db")
    assert await amili("settlements", *ids, "--store", store, *connection(amili_sandbox)) == 0
    first = settlement_lines(capsys.readouterr().out)
    assert len(first) == sum(len(amili_sandbox.ledger(c)) for c in ids)

    new = amili_sandbox.add_settlements(ids[1], 2)
    assert await amili("settlements", *ids, "--store", store, *connection(amili_sandbox)) == 0
    second = settlement_lines(capsys.readouterr().out)
    assert [line["settlement"]["id"] for line in second] == [s["id"] for s in new]

    assert await amili("settlements", *ids, "--store", store, *connection(amili_sandbox)) == 0
    assert capsys.readouterr().out == ""


async def test_follow_stops_after_max_events_and_acks_the_last(
    amili_sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creditor = amili_sandbox.creditor_ids[0]
    store = ["--store", str(tmp_path / "cursors.db")]
    code = await amili(
        "settlements", creditor, "--follow", "--max-events", "3", *store, *connection(amili_sandbox)
    )
    assert code == 0
    followed = settlement_lines(capsys.readouterr().out)
    assert len(followed) == 3
    # The rest, and nothing printed twice: the third line's cursor was saved before exiting.
    assert await amili("settlements", creditor, *store, *connection(amili_sandbox)) == 0
    rest = settlement_lines(capsys.readouterr().out)
    ids = [line["settlement"]["id"] for line in followed + rest]
    assert ids == [s["id"] for s in amili_sandbox.ledger(creditor)]


async def test_settlements_with_a_wrong_token_is_one_line(
    amili_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await amili(
        "settlements", amili_sandbox.creditor_ids[0], *connection(amili_sandbox, token="nope")
    )
    assert code == 1
    assert_one_line_error(capsys.readouterr().err, "401", "request id")


async def test_follow_ends_on_sigint_with_130(amili_sandbox: SandboxServer) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "amili_async", "settlements", amili_sandbox.creditor_ids[0],
        "--follow", *connection(amili_sandbox),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stderr is not None
        first = await asyncio.wait_for(process.stdout.readline(), 30)
        assert json.loads(first)["creditor_id"] == amili_sandbox.creditor_ids[0]
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 20) == 130
        assert b"Traceback" not in await process.stderr.read()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


# -- fetch --------------------------------------------------------------------------------------


async def test_fetch_writes_one_file_per_creditor(
    amili_sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, *others = amili_sandbox.creditor_ids
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("# creditors\n" + "\n".join(others) + "\n\n")
    out = tmp_path / "batches"
    code = await amili(
        "fetch", first, "--ids-from", str(ids_file), "--out", str(out), *connection(amili_sandbox)
    )
    assert code == 0
    written = sorted(capsys.readouterr().out.split())
    assert written == sorted(str(out / f"{c}.json") for c in amili_sandbox.creditor_ids)
    for creditor in amili_sandbox.creditor_ids:
        batch = decode_batch((out / f"{creditor}.json").read_bytes())
        assert [c.id_number for c in batch.creditors] == [creditor]
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(p).name for p in written)


async def test_fetch_reports_each_failed_creditor_and_exits_1(
    amili_sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = amili_sandbox.creditor_ids[:2]
    code = await amili(
        "fetch", *ids, "--out", str(tmp_path), *connection(amili_sandbox, token="nope")
    )
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert sorted(line.split()[1].rstrip(":") for line in lines[:2]) == sorted(ids)
    assert lines[2] == "amili fetch: error: 2 of 2 creditors failed"
    assert list(tmp_path.iterdir()) == []


def test_fetch_refuses_an_id_that_is_not_a_file_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "../etc", "--base-url", "http://127.0.0.1:9", "--token", "t"]) == 2
    assert_one_line_error(capsys.readouterr().err, "'../etc'")


# -- what a pipe sees --------------------------------------------------------------------------


async def run_piped(*argv: str, stdin: bytes = b"") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "amili_async", *argv,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def assert_plain(text: str) -> None:
    assert "\x1b" not in text
    assert "\r" not in text


async def test_piped_output_is_plain_lines(amili_sandbox: SandboxServer, tmp_path: Path) -> None:
    ids = amili_sandbox.creditor_ids
    code, out, err = await run_piped(
        "fetch", "--ids-from", "-", "--out", str(tmp_path), *connection(amili_sandbox),
        stdin="\n".join(ids).encode(),
    )  # fmt: skip
    assert code == 0
    assert sorted(out.splitlines()) == sorted(str(tmp_path / f"{c}.json") for c in ids)
    assert_plain(out + err)
    code, out, err = await run_piped("batch", ids[0], "--summary", *connection(amili_sandbox))
    assert code == 0 and "settlements" in out
    assert_plain(out + err)
    code, out, err = await run_piped("ping", *connection(amili_sandbox, token="bad"))
    assert code == 1
    assert_plain(out + err)


async def test_piped_demo_prints_a_plain_line_per_step() -> None:
    code, out, err = await run_piped(
        "demo", "--creditors", "2", "--seconds", "0.5", "--quiet", "--fault-rate", "0"
    )
    assert code == 0, err
    assert_plain(out + err)
    assert "fetching batches: 1/2 creditors" in out
    assert "fetching batches: 2/2 creditors" in out
    assert out.rstrip().endswith("OK")


# -- colour and progress --------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TERM", raising=False)
    assert Styles(FakeTerminal())("x", "red") == "\x1b[31mx\x1b[0m"
    assert Styles(io.StringIO())("x", "red") == "x"
    monkeypatch.setenv("NO_COLOR", "1")
    assert Styles(FakeTerminal())("x", "red") == "x"


def test_progress_draws_only_on_a_terminal() -> None:
    terminal, pipe = FakeTerminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = Progress(2, "creditors", stream)
        progress.step()
        progress.step(failed=True)
        progress.finish()
    assert pipe.getvalue() == ""
    assert terminal.getvalue().endswith("] 2/2 creditors, 1 failed\n")
    assert terminal.getvalue().count("\r") == 2


def test_the_console_script_runs_main() -> None:
    import importlib
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    module, _, name = pyproject["project"]["scripts"]["amili"].partition(":")
    assert getattr(importlib.import_module(module), name) is main


async def test_verbose_logs_retries_on_stderr_and_only_while_it_runs(
    amili_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    amili_sandbox.faults.script("ping", Fault.E503)
    assert await amili("ping", *connection(amili_sandbox)) == 0
    assert capsys.readouterr().err == ""  # retried quietly without -v

    amili_sandbox.faults.script("ping", Fault.E503)
    handlers = list(logging.getLogger("amili_async").handlers)
    assert await amili("-v", "ping", *connection(amili_sandbox)) == 0
    err = capsys.readouterr().err
    assert "INFO amili_async" in err
    assert "retrying GET" in err and "/webapi/api/Ping" in err
    assert amili_sandbox.token not in err
    assert logging.getLogger("amili_async").handlers == handlers


async def test_settlements_reports_a_failing_creditor_and_drains_the_others(
    amili_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = amili_sandbox.creditor_ids[:2]
    amili_sandbox.faults.script("batch", Fault.E500)  # not retried: the first poll fails
    assert await amili("settlements", *ids, *connection(amili_sandbox)) == 1
    captured = capsys.readouterr()
    failed_line, error_line = captured.err.splitlines()
    failed = failed_line.split()[1].rstrip(":")
    assert failed in ids and "500" in failed_line
    assert error_line == "amili settlements: error: 1 of 2 creditors failed"
    (other,) = set(ids) - {failed}
    printed = [line["settlement"]["id"] for line in settlement_lines(captured.out)]
    assert printed == [s["id"] for s in amili_sandbox.ledger(other)]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_fits_80_columns(
    command: str | None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main([command, "--help"] if command else ["--help"])
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)


async def test_an_html_error_page_is_still_one_line(
    serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async def gateway_page(request: web.Request) -> web.Response:
        page = "<html>\n<body>\n<h1>500 Internal Server Error</h1>\n</body>\n</html>\n"
        return web.Response(status=500, text=page, content_type="text/html")

    url, _ = await serve({"GET /webapi/api/Batch": gateway_page})
    assert await amili("batch", "842793483", "--base-url", url, "--token", "t") == 1
    assert_one_line_error(capsys.readouterr().err, "500", "<h1>500 Internal Server Error</h1>")
