"""RestArtifactRepository: a run's artifacts through the tracking server's artifact routes.

Uploads stream the local stream as the raw request body (``PUT .../artifacts/{path}``); reads
stream the answer (``GET .../artifacts/{path}``), so neither side holds a whole file in memory.

Example:
    >>> repo = RestArtifactRepository(RestStore("http://127.0.0.1:5000"))  # doctest: +SKIP
    >>> repo.log_bytes(run_id, b"hello", "notes/hello.txt").size  # doctest: +SKIP
    5
"""

from __future__ import annotations

import builtins
import io
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

import httpx

from modelkeep.artifacts import BaseRunArtifactRepository, validate_artifact_path
from modelkeep.entities import ArtifactRecord
from modelkeep.exceptions import PayloadTooLargeError, StoreUnavailableError
from modelkeep.server.schemas import ArtifactRecordPublic
from modelkeep.store.rest import RestStore, artifact_url_path

__all__ = ["RestArtifactRepository"]

_UPLOAD_CHUNK = 1024 * 1024


def _upload_chunks(stream: BinaryIO, max_bytes: int | None) -> Iterator[bytes]:
    """Yield ``stream`` in chunks, refusing (before sending more) past ``max_bytes``."""
    sent = 0
    while chunk := stream.read(_UPLOAD_CHUNK):
        sent += len(chunk)
        if max_bytes is not None and sent > max_bytes:
            raise PayloadTooLargeError(f"artifact is larger than the limit of {max_bytes} bytes")
        yield chunk


class _ResponseStream(io.RawIOBase):
    """A raw binary stream over a streaming :class:`httpx.Response`; closing closes it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__()
        self._response = response
        self._chunks = response.iter_bytes()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
            except httpx.TransportError as exc:
                raise StoreUnavailableError(f"artifact download interrupted: {exc}") from exc
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


class RestArtifactRepository(BaseRunArtifactRepository):
    """Run artifacts stored on a tracking server.

    Args:
        store: the :class:`RestStore` whose server (and token) to use.
    """

    def __init__(self, store: RestStore) -> None:
        self.store = store

    def _url(self, run_id: str, path: str) -> str:
        return f"/runs/{quote(run_id, safe='')}/artifacts/{artifact_url_path(path)}"

    def log_stream(
        self, run_id: str, stream: BinaryIO, path: str, max_bytes: int | None = None
    ) -> ArtifactRecord:
        """See :meth:`BaseRunArtifactRepository.log_stream`."""
        logical = validate_artifact_path(path)
        self.store.get_run(run_id)  # fail fast, before sending any bytes
        response = self.store.request(
            "PUT",
            self._url(run_id, logical),
            content=_upload_chunks(stream, max_bytes),
            headers={"Content-Type": "application/octet-stream"},
        )
        return ArtifactRecordPublic.model_validate_json(response.content).to_entity()

    def list(self, run_id: str, prefix: str = "") -> builtins.list[ArtifactRecord]:
        """See :meth:`BaseRunArtifactRepository.list`."""
        logical = "" if prefix.strip("/") == "" else validate_artifact_path(prefix)
        return self.store.list_artifacts(run_id, logical)

    def open(self, run_id: str, path: str) -> BinaryIO:
        """See :meth:`BaseRunArtifactRepository.open`; the content is streamed as it is read."""
        logical = validate_artifact_path(path)
        response = self.store.open_stream(self._url(run_id, logical))
        return io.BufferedReader(_ResponseStream(response), buffer_size=_UPLOAD_CHUNK)
