"""Small shared type aliases."""

from __future__ import annotations

from typing import TypeAlias

# collections.abc.Buffer arrives in 3.12; these are the buffers msgspec decodes from without a copy.
Buffer: TypeAlias = bytes | bytearray | memoryview
