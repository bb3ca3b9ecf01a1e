"""Conformance suite every :class:`~modelkeep.artifacts.BaseArtifactStore` backend must pass.

Subclass :class:`ArtifactStoreConformance` in a test module and provide a fixture named
``artifact_store`` that yields a fresh, empty store::

    class TestLocalArtifactStore(ArtifactStoreConformance):
        @pytest.fixture
        def artifact_store(self, tmp_path: Path) -> BaseArtifactStore:
            return LocalArtifactStore(tmp_path)

The class name does not start with ``Test`` so pytest collects it only through subclasses.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from modelkeep.artifacts.base import BaseArtifactStore, BlobInfo
from modelkeep.exceptions import InvalidInputError, NotFoundError, PayloadTooLargeError

__all__ = ["BAD_DIGESTS", "ArtifactStoreConformance", "chunked_stream"]

BAD_DIGESTS = (
    "",
    "abc",
    "0" * 63,
    "0" * 65,
    "A" * 64,
    "g" * 64,
    "../" + "0" * 61,
    "00/" + "0" * 61,
    "0" * 62 + "\x00a",
    " " + "0" * 63,
)
"""Strings that are not sha256 hex digests; stores must refuse them before touching a path."""

_UNKNOWN = hashlib.sha256(b"modelkeep: content nobody stored").hexdigest()


class _ChunkedStream(io.RawIOBase):
    def __init__(self, chunks: list[bytes], fail_with: BaseException | None = None) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._fail_with = fail_with

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = next(self._chunks, None)
        if chunk is not None:
            return chunk
        if self._fail_with is not None:
            raise self._fail_with
        return b""


def chunked_stream(chunks: list[bytes], fail_with: BaseException | None = None) -> BinaryIO:
    """A readable stream that hands out ``chunks`` one per read, then optionally fails.

    Args:
        chunks: the byte strings to return, one per ``read`` call.
        fail_with: raised by the ``read`` after the last chunk instead of returning EOF.
    """
    return cast(BinaryIO, _ChunkedStream(chunks, fail_with))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_all(store: BaseArtifactStore, digest: str) -> bytes:
    with store.open(digest) as stream:
        return stream.read()


class ArtifactStoreConformance:
    """Behaviour every blob store shares; needs an ``artifact_store`` fixture."""

    # ---- round trips ---------------------------------------------------------------------
    def test_put_bytes_returns_sha256_digest_and_size(
        self, artifact_store: BaseArtifactStore
    ) -> None:
        assert artifact_store.put_bytes(b"hello") == BlobInfo(_digest(b"hello"), 5)

    def test_put_bytes_round_trips_through_open(self, artifact_store: BaseArtifactStore) -> None:
        info = artifact_store.put_bytes(b"some model weights")
        assert _read_all(artifact_store, info.digest) == b"some model weights"

    def test_put_file_round_trips(self, artifact_store: BaseArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "source-file.bin"
        src.write_bytes(bytes(range(256)) * 10)
        info = artifact_store.put_file(src)
        assert _read_all(artifact_store, info.digest) == src.read_bytes()

    def test_put_stream_round_trips_many_chunks(self, artifact_store: BaseArtifactStore) -> None:
        chunks = [bytes([i]) * 700_000 for i in range(5)]
        info = artifact_store.put_stream(chunked_stream(chunks))
        assert _read_all(artifact_store, info.digest) == b"".join(chunks)

    def test_empty_content_round_trips(self, artifact_store: BaseArtifactStore) -> None:
        info = artifact_store.put_bytes(b"")
        assert (info.size, _read_all(artifact_store, info.digest)) == (0, b"")

    def test_exists_after_put(self, artifact_store: BaseArtifactStore) -> None:
        info = artifact_store.put_bytes(b"present")
        assert artifact_store.exists(info.digest)

    def test_size_reports_stored_bytes(self, artifact_store: BaseArtifactStore) -> None:
        info = artifact_store.put_bytes(b"x" * 1234)
        assert artifact_store.size(info.digest) == 1234

    def test_put_file_of_missing_file_raises_not_found(
        self, artifact_store: BaseArtifactStore, tmp_path: Path
    ) -> None:
        with pytest.raises(NotFoundError):
            artifact_store.put_file(tmp_path / "missing.bin")

    # ---- deduplication -------------------------------------------------------------------
    def test_same_content_twice_gives_same_blob(self, artifact_store: BaseArtifactStore) -> None:
        first = artifact_store.put_bytes(b"duplicate me")
        second = artifact_store.put_stream(chunked_stream([b"duplicate", b" me"]))
        assert first == second

    def test_same_content_twice_still_reads_back(self, artifact_store: BaseArtifactStore) -> None:
        artifact_store.put_bytes(b"duplicate me")
        info = artifact_store.put_bytes(b"duplicate me")
        assert _read_all(artifact_store, info.digest) == b"duplicate me"

    def test_different_content_gets_different_digests(
        self, artifact_store: BaseArtifactStore
    ) -> None:
        assert artifact_store.put_bytes(b"a") != artifact_store.put_bytes(b"b")

    # ---- limits and atomicity ------------------------------------------------------------
    def test_stream_over_max_bytes_raises_payload_too_large(
        self, artifact_store: BaseArtifactStore
    ) -> None:
        with pytest.raises(PayloadTooLargeError):
            artifact_store.put_stream(io.BytesIO(b"x" * 101), max_bytes=100)

    def test_stream_over_max_bytes_stores_nothing(self, artifact_store: BaseArtifactStore) -> None:
        with pytest.raises(PayloadTooLargeError):
            artifact_store.put_stream(io.BytesIO(b"y" * 101), max_bytes=100)
        assert not artifact_store.exists(_digest(b"y" * 101))
        assert not artifact_store.exists(_digest(b"y" * 100))

    def test_stream_of_exactly_max_bytes_is_accepted(
        self, artifact_store: BaseArtifactStore
    ) -> None:
        info = artifact_store.put_stream(io.BytesIO(b"z" * 100), max_bytes=100)
        assert info.size == 100

    def test_negative_max_bytes_is_invalid(self, artifact_store: BaseArtifactStore) -> None:
        with pytest.raises(InvalidInputError):
            artifact_store.put_stream(io.BytesIO(b"z"), max_bytes=-1)

    def test_failing_stream_propagates_its_error(self, artifact_store: BaseArtifactStore) -> None:
        stream = chunked_stream([b"partial"], fail_with=ConnectionResetError("client went away"))
        with pytest.raises(ConnectionResetError):
            artifact_store.put_stream(stream)

    def test_failing_stream_stores_nothing(self, artifact_store: BaseArtifactStore) -> None:
        stream = chunked_stream([b"partial"], fail_with=ConnectionResetError("client went away"))
        with pytest.raises(ConnectionResetError):
            artifact_store.put_stream(stream)
        assert not artifact_store.exists(_digest(b"partial"))

    def test_failed_write_does_not_block_a_later_one(
        self, artifact_store: BaseArtifactStore
    ) -> None:
        with pytest.raises(ConnectionResetError):
            artifact_store.put_stream(chunked_stream([b"again"], fail_with=ConnectionResetError()))
        info = artifact_store.put_bytes(b"again")
        assert _read_all(artifact_store, info.digest) == b"again"

    # ---- unknown and malformed digests ---------------------------------------------------
    def test_exists_is_false_for_unknown_digest(self, artifact_store: BaseArtifactStore) -> None:
        assert not artifact_store.exists(_UNKNOWN)

    def test_open_unknown_digest_raises_not_found(self, artifact_store: BaseArtifactStore) -> None:
        with pytest.raises(NotFoundError):
            artifact_store.open(_UNKNOWN)

    def test_size_of_unknown_digest_raises_not_found(
        self, artifact_store: BaseArtifactStore
    ) -> None:
        with pytest.raises(NotFoundError):
            artifact_store.size(_UNKNOWN)

    @pytest.mark.parametrize("method", ["open", "exists", "size"])
    @pytest.mark.parametrize("digest", BAD_DIGESTS)
    def test_malformed_digest_is_invalid_input(
        self, artifact_store: BaseArtifactStore, method: str, digest: str
    ) -> None:
        with pytest.raises(InvalidInputError) as caught:
            getattr(artifact_store, method)(digest)
        assert caught.value.field == "digest"
