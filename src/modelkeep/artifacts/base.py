"""The blob-store contract: content-addressed, deduplicated, atomic.

Artifact bytes live in a :class:`BaseArtifactStore`, addressed by the sha256 hex digest of their
content; the metadata store maps each run's logical artifact paths to those digests. Every
backend passes :class:`modelkeep.testing.artifact_conformance.ArtifactStoreConformance`.

Invariants every backend keeps:

* A blob is visible under its digest only once all of its bytes are durable: a writer that dies
  at any point (even by SIGKILL) leaves no partial blob behind its digest.
* Storing content that is already there stores nothing new and returns the same
  :class:`BlobInfo`.
* Digests are validated (64 lowercase hex characters) before they are used to build any path;
  a malformed one raises :class:`~modelkeep.exceptions.InvalidInputError` (``field="digest"``),
  an unknown one :class:`~modelkeep.exceptions.NotFoundError`.

Thread safety: a store object may be shared by threads and several processes may use the same
store at once; each call is independent.
"""

from __future__ import annotations

import abc
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from modelkeep.exceptions import InvalidInputError, NotFoundError

__all__ = ["CHUNK_SIZE", "BaseArtifactStore", "BlobInfo", "sha256_hexdigest", "validate_digest"]

CHUNK_SIZE = 1024 * 1024
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored blob: the sha256 hex digest of its content and its size in bytes."""

    digest: str
    size: int


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is a sha256 hex digest (64 lowercase hex characters).

    Raises:
        InvalidInputError: (``field="digest"``) for anything else.

    Example:
        >>> validate_digest("0" * 64) == "0" * 64
        True
    """
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        shown = repr(digest)[:80]
        raise InvalidInputError(
            f"not a sha256 digest (64 lowercase hex characters): {shown}", field="digest"
        )
    return digest


def sha256_hexdigest(data: bytes) -> str:
    """The digest a blob store gives ``data``."""
    return hashlib.sha256(data).hexdigest()


class BaseArtifactStore(abc.ABC):
    """Abstract content-addressed blob store.

    Subclasses implement :meth:`put_stream`, :meth:`open`, :meth:`exists` and :meth:`size`;
    :meth:`put_bytes` and :meth:`put_file` are built on :meth:`put_stream`.

    Example:
        >>> from modelkeep.artifacts import LocalArtifactStore
        >>> store = LocalArtifactStore(tmp_path)  # doctest: +SKIP
        >>> info = store.put_bytes(b"hello")  # doctest: +SKIP
        >>> store.open(info.digest).read()  # doctest: +SKIP
        b'hello'
    """

    @abc.abstractmethod
    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> BlobInfo:
        """Store everything ``stream`` yields until EOF, hashing as it goes.

        The stream is read in chunks, never whole into memory. The blob becomes visible under
        its digest only after every byte is durable.

        Args:
            stream: a binary file-like object; read until ``read`` returns ``b""``.
            max_bytes: refuse streams longer than this many bytes (``None``: no limit).

        Returns:
            The digest and size of the stored content.

        Raises:
            PayloadTooLargeError: the stream exceeded ``max_bytes``; nothing is left behind.
            InvalidInputError: ``max_bytes`` is negative.
            Exception: whatever ``stream.read`` raised, after cleaning up; nothing is left behind.
        """

    @abc.abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading; the caller closes it.

        Raises:
            InvalidInputError: ``digest`` is malformed.
            NotFoundError: no blob has this digest.
        """

    @abc.abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether a complete blob with this digest is stored.

        Raises:
            InvalidInputError: ``digest`` is malformed.
        """

    @abc.abstractmethod
    def size(self, digest: str) -> int:
        """Size in bytes of a stored blob.

        Raises:
            InvalidInputError: ``digest`` is malformed.
            NotFoundError: no blob has this digest.
        """

    # ---- helpers built only from the abstract methods ------------------------------------
    def put_bytes(self, data: bytes) -> BlobInfo:
        """Store ``data``; see :meth:`put_stream`."""
        return self.put_stream(io.BytesIO(data))

    def put_file(self, src: Path) -> BlobInfo:
        """Store the content of the local file ``src``; see :meth:`put_stream`.

        Raises:
            NotFoundError: ``src`` does not exist.
            InvalidInputError: ``src`` is not a regular file.
        """
        src = Path(src)
        if not src.exists():
            raise NotFoundError(f"no such file: {src}", field="src")
        if not src.is_file():
            raise InvalidInputError(f"not a regular file: {src}", field="src")
        with src.open("rb") as stream:
            return self.put_stream(stream)
