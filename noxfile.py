"""Project tasks: `nox -s tests lint typecheck docs bench demo` (`make test` / `make demo` bootstrap nox)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typecheck", "tests", "docs", "demo"]
nox.options.reuse_existing_virtualenvs = True
# Sessions use the interpreter nox runs on (the Makefile's python3, 3.11+): a fresh machine need
# not have a `python3.11` binary on PATH.


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (real servers on 127.0.0.1, aioresponses, hypothesis)."""
    session.install("-e", ".[test]")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the benchmarks."""
    session.install("-e", ".[typecheck,bench]", "nox")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site, failing on any warning."""
    session.install("-e", ".[docs]")
    session.env["NO_MKDOCS_2_WARNING"] = "1"  # mkdocs-material's end-of-life banner
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite: ratios measured side by side in one run."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The demo against the embedded sandbox server."""
    session.install("-e", ".")
    session.run("python", "-m", "amili_async", "demo", *session.posargs)


@nox.session(name="demo-fleet")
def demo_fleet(session: nox.Session) -> None:
    """Three worker processes sharing 60 creditors through a throwaway PostgreSQL (the machine's
    initdb and pg_ctl), one SIGKILLed midway."""
    session.install("-e", ".[postgres]")
    session.run("python", "-m", "amili_async", "demo", "--workers", "3", *session.posargs)
