"""Every ```python block of README.md and docs/**/*.md runs, so a sample can never rot.

A sample is a complete script: it imports what it uses, defines every name, reads the service's
URL and credentials from the environment (``AMILI_BASE_URL``, ``AMILI_TOKEN``, ``AMILI_CLIENT_ID``,
``AMILI_CLIENT_SECRET``, ``AMILI_TOKEN_URL``), ends by itself and prints what it did. Here it runs
against a fresh ``SandboxServer(creditors=20, seed=1)`` (the ids docs/sandbox.md lists), in an empty
working directory, within ``SAMPLE_TIMEOUT`` seconds.

An HTML comment on the line right above a block changes how it is checked:

- ``<!-- sample: fragment -->`` or ``<!-- sample: fragment (why) -->``: only compiled (top-level
  ``await`` allowed): a signature listing, or a program that needs what the suite does not have
  (a PostgreSQL server, redis, a port of its own). Keep these rare.
- ``<!-- sample: pytest -->``: a test file; run by pytest in a subprocess, pytest-asyncio in its
  default strict mode (``<!-- sample: pytest auto -->``: in auto mode), with the plug-in.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import CodeType

import pytest

from amili_async.sandbox import SandboxServer
from tests.sandbox_thread import sandbox_in_thread

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TIMEOUT = 30.0
_FENCE = re.compile(r"^(?P<indent>\s*)```python\b")
_MARKER = re.compile(r"<!--\s*sample:\s*(?P<kind>[a-z ]+?)\s*(?:\((?P<why>[^)]*)\))?\s*-->")
_KINDS = {"fragment", "pytest", "pytest auto"}


@dataclass(frozen=True)
class Sample:
    path: Path
    line: int  # of the opening fence, 1-based
    kind: str  # "run", or one of _KINDS
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _samples(path: Path) -> list[Sample]:
    lines = path.read_text(encoding="utf-8").splitlines()
    samples: list[Sample] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        indent, start = fence["indent"], index
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index].removeprefix(indent))
            index += 1
        marker = _MARKER.search(lines[start - 1]) if start else None
        kind = marker["kind"] if marker else "run"
        samples.append(Sample(path, start + 1, kind, "\n".join(body) + "\n"))
        index += 1
    return samples


SAMPLES = [sample for path in _markdown_files() for sample in _samples(path)]


def test_every_marker_is_known() -> None:
    assert len(SAMPLES) > 20  # the collector finds the docs' samples
    assert {s.kind for s in SAMPLES} <= {"run", *_KINDS}


def _compiled(sample: Sample) -> CodeType:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if sample.kind == "fragment" else 0
    # Blank lines first, so that a traceback's line numbers are the Markdown file's.
    source = "\n" * sample.line + sample.code
    code: CodeType = compile(source, str(sample.path.relative_to(ROOT)), "exec", flags=flags)
    return code


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.where)
def test_sample_compiles(sample: Sample) -> None:
    _compiled(sample)


RUNNABLE = [s for s in SAMPLES if s.kind == "run"]
PYTEST_SAMPLES = [s for s in SAMPLES if s.kind.startswith("pytest")]


def sandbox_env(sandbox: SandboxServer) -> dict[str, str]:
    """The environment a sample (or an example script) reads the service and credentials from."""
    return {
        "AMILI_BASE_URL": sandbox.url,
        "AMILI_TOKEN": sandbox.token,
        "AMILI_CLIENT_ID": sandbox.client_id,
        "AMILI_CLIENT_SECRET": sandbox.client_secret,
        "AMILI_TOKEN_URL": sandbox.token_url,
    }


@pytest.mark.parametrize("sample", RUNNABLE, ids=lambda s: s.where)
def test_sample_runs_against_the_sandbox(
    sample: Sample,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = _compiled(sample)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            exec(code, {"__name__": "__main__"})  # noqa: S102 - our own documentation
        except BaseException as error:
            errors.append(error)

    with sandbox_in_thread(creditors=20, seed=1, batch_delay=0.05) as sandbox:
        for name, value in sandbox_env(sandbox).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(SAMPLE_TIMEOUT)
    assert not worker.is_alive(), f"{sample.where} still running after {SAMPLE_TIMEOUT} s"
    if errors:
        raise AssertionError(f"{sample.where} failed") from errors[0]
    assert capsys.readouterr().out.strip(), f"{sample.where} printed nothing: show the result"


def plugin_args() -> list[str]:
    """Load the plug-in explicitly only where its entry point is not installed (PYTHONPATH runs)."""
    installed = any(
        ep.value == "amili_async.sandbox.pytest_plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "amili_async.sandbox.pytest_plugin"]


@pytest.mark.parametrize("sample", PYTEST_SAMPLES, ids=lambda s: s.where)
def test_pytest_sample_passes(sample: Sample, tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(sample.code)
    mode = "auto" if sample.kind == "pytest auto" else "strict"
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin_args()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
