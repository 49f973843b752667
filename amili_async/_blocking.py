"""Blocking file and database work kept off the event loop: one dedicated thread per owner, and
the directory fsync that makes an atomic rename durable. Shared by the checkpoint stores, the
webhook dedupe store and downloads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["BlockingWorker", "fsync_directory"]

T = TypeVar("T")


class BlockingWorker:
    """One dedicated thread for an owner's blocking I/O: the event loop never blocks on a disk,
    and no thread or connection is created per write (SQLite connections stay on one thread)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self._name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


def fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
