"""The pytest plug-in as a user gets it: the package installed (not editable) into a throwaway venv,
a separate project with no conftest, pytest-asyncio in its default strict mode."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

USER_TEST = """
import sys

import pytest

import amili_async
from amili_async import AmiliClient
from amili_async.sandbox import SandboxServer


def test_the_installed_package_is_the_one_under_test() -> None:
    assert amili_async.__file__.startswith(sys.prefix)


@pytest.mark.asyncio
@pytest.mark.amili_sandbox(creditors=2, seed=7, page_size=3)
async def test_fixture_serves_a_batch(amili_sandbox: SandboxServer) -> None:
    assert len(amili_sandbox.creditor_ids) == 2
    creditor_id = amili_sandbox.creditor_ids[0]
    async with AmiliClient(base_url=amili_sandbox.url, token=amili_sandbox.token) as client:
        batch = await client.get_batch(creditor_id=creditor_id)
    assert len(batch.settlements) == 3  # the marker's page_size reached the sandbox
"""

# As docs/sandbox.md shows it; no asyncio_mode: pytest-asyncio's default, strict.
PYTEST_INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
addopts = --strict-markers -p no:cacheprovider
"""


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=80
    )


def _make_venv(where: Path) -> Path:
    """A venv without pip that sees this interpreter's packages (pytest, aiohttp, ...), with the
    package under test installed on top (installed copies come first on its sys.path)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", where],
        check=True,
        timeout=60,
    )
    python = where / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    # Every site-packages this interpreter imports from (its own, or what its .pth files add);
    # never the checkout, where amili_async is the source and not the install.
    outer = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    (Path(purelib.stdout.strip()) / "_outer_site.pth").write_text("\n".join(outer) + "\n")
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a throwaway venv with the package installed from the checkout (a wheel
    built by pip, not editable)."""
    python = _make_venv(tmp_path_factory.mktemp("venv"))
    offline = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    install = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
        *offline, ROOT,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    return python


def test_installed_package_registers_the_fixture_for_a_strict_mode_project(
    installed: Path, tmp_path: Path
) -> None:
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TEST))
    result = _run(installed, "-m", "pytest", "-W", "error", cwd=tmp_path)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
    assert re.search(r"asyncio: mode=(Mode\.)?strict", result.stdout, re.IGNORECASE)


def test_without_pytest_asyncio_pytest_still_runs_and_the_fixture_says_what_to_install(
    installed: Path, tmp_path: Path
) -> None:
    # pytest-asyncio made unimportable: its plug-in blocked, a stub that fails in its place.
    (tmp_path / "pytest_asyncio.py").write_text("raise ImportError('not installed')\n")
    (tmp_path / "test_user.py").write_text(
        "def test_unrelated() -> None:\n    pass\n\n\n"
        "def test_wants_the_sandbox(amili_sandbox: object) -> None:\n    pass\n"
    )
    result = _run(installed, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider",
                  cwd=tmp_path)  # fmt: skip

    assert "1 passed" in result.stdout, result.stdout[-3000:] + result.stderr[-2000:]
    assert "pip install 'amili_async[pytest]'" in result.stdout
