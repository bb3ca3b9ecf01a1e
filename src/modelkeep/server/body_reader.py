"""A blocking file-like view of an ASGI request body, for code running in a worker thread.

The blob store reads a ``BinaryIO`` in a worker thread, while the request body is an async
iterator on the event loop. :class:`RequestBodyReader` pulls one chunk at a time across that
boundary (``anyio.from_thread``), so an upload is streamed, never held in memory.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import BinaryIO

from anyio import from_thread

__all__ = ["RequestBodyReader"]


class RequestBodyReader(io.RawIOBase):
    """Raw binary stream over an async byte iterator; use only from a worker thread."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = b""
        self._done = False

    @classmethod
    def wrap(cls, chunks: AsyncIterator[bytes]) -> BinaryIO:
        """A buffered ``BinaryIO`` reading ``chunks``."""
        return io.BufferedReader(cls(chunks))

    def readable(self) -> bool:
        return True

    async def _next_chunk(self) -> bytes | None:
        try:
            return await anext(self._chunks)
        except StopAsyncIteration:
            return None

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            chunk = from_thread.run(self._next_chunk)
            if chunk is None:
                self._done = True
            else:
                self._pending = chunk
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count
