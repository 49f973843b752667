"""Writing a streamed body to a file so that ``path`` holds either nothing new or the whole
file: chunks go to a temporary file beside it, which is renamed over ``path`` only when complete."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterable
from pathlib import Path
from typing import BinaryIO

from . import errors
from ._blocking import fsync_directory

__all__ = ["write_atomically"]


async def write_atomically(
    destination: Path, chunks: AsyncIterable[bytes], *, expected_size: int | None = None
) -> int:
    """Write ``chunks`` to ``destination``; return the number of bytes.

    Memory holds one chunk at a time; disk writes run off the event loop. On any failure (the
    stream breaking, fewer bytes than ``expected_size``, a full disk, cancellation) the temporary
    file is removed and ``destination`` is left as it was.

    Raises:
        TransportError: The stream ended before ``expected_size`` bytes.
        AmiliError: The file could not be written (the ``OSError`` is its ``__cause__``).
    """
    loop = asyncio.get_running_loop()
    try:
        fd, temporary = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
        )
    except OSError as exc:
        raise errors.AmiliError(f"cannot write to {destination.parent}: {exc}") from exc
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in chunks:
                await loop.run_in_executor(None, handle.write, chunk)
                size += len(chunk)
            if expected_size is not None and size != expected_size:
                raise errors.TransportError(f"download ended after {size} of {expected_size} bytes")
            await loop.run_in_executor(None, _sync, handle)
        os.replace(temporary, destination)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise errors.AmiliError(f"cannot write {destination}: {exc}") from exc
        raise
    await loop.run_in_executor(None, fsync_directory, destination.parent)
    return size


def _sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
