"""A throwaway PostgreSQL server for the tests (tests/pg_fixtures.py), the benchmarks and the fleet
demo: the machine's own initdb and pg_ctl (on PATH or under /usr/lib/postgresql/*/bin), a temporary data directory, a free port on
127.0.0.1, its unix socket in that directory, stopped (``-m immediate``) and removed at the end.

PostgreSQL refuses to run as root; as root (CI) it runs as the ``postgres`` user that Debian's
package creates, through ``runuser``, in a directory handed over to that user.

Standard library only: the demo, the benchmarks and the tests use it alike. Not public API.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresNotFound", "PostgresServer", "find_bin_dir", "throwaway_postgres"]

SUPERUSER = "postgres"
# Fast and disposable: nothing here must survive a power cut. Benchmarks override fsync.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "on",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "32MB",
}


class PostgresNotFound(RuntimeError):
    """No initdb/pg_ctl on this machine (install Debian's ``postgresql`` package)."""


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server."""

    host: str
    port: int
    directory: Path

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"


def find_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: PATH first, then the newest Debian one."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0)
    )
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresNotFound(
        "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin"
    )


@contextlib.contextmanager
def throwaway_postgres(settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    """Start a server, yield it, stop it and delete its files."""
    bin_dir = find_bin_dir()
    as_user = _run_as()
    directory = Path(tempfile.mkdtemp(prefix="amili-pg-"))
    try:
        if as_user is not None:
            os.chown(directory, as_user.pw_uid, as_user.pw_gid)
        data = directory / "data"
        _run(
            as_user,
            bin_dir / "initdb",
            "-D",
            data,
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--locale=C",
            "-E",
            "UTF8",
        )
        port = _start(as_user, bin_dir, data, {**FAST_SETTINGS, **(settings or {})})
        try:
            yield PostgresServer("127.0.0.1", port, directory)
        finally:
            _run(as_user, bin_dir / "pg_ctl", "stop", "-m", "immediate", "-w", "-D", data)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _start(
    as_user: pwd.struct_passwd | None, bin_dir: Path, data: Path, settings: dict[str, str]
) -> int:
    """Start the server on a free port (another one if that was taken meanwhile); the port."""
    for _ in range(2):
        with contextlib.suppress(RuntimeError):
            return _start_on(_free_port(), as_user, bin_dir, data, settings)
    return _start_on(_free_port(), as_user, bin_dir, data, settings)


def _start_on(
    port: int,
    as_user: pwd.struct_passwd | None,
    bin_dir: Path,
    data: Path,
    settings: dict[str, str],
) -> int:
    log = data.parent / "server.log"
    options = {
        **settings,
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(data.parent),
    }
    _run(
        as_user,
        bin_dir / "pg_ctl",
        "start",
        "-w",
        "-t",
        "60",
        "-D",
        data,
        "-l",
        log,
        "-o",
        " ".join(f"-c {key}={value}" for key, value in options.items()),
        log=log,
    )
    return port


def _run_as() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, or ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise PostgresNotFound(
            "running as root, and there is no 'postgres' user to run the server as"
        ) from None


def _run(as_user: pwd.struct_passwd | None, *command: str | Path, log: Path | None = None) -> None:
    args = [str(part) for part in command]
    if as_user is not None:
        args = ["runuser", "-u", as_user.pw_name, "--", *args]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode:
        server_log = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
        raise RuntimeError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            f"\n{server_log}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
