"""Artifact storage: content-addressed blobs and each run's tree of logical paths.

* :class:`BaseArtifactStore` / :class:`LocalArtifactStore`: bytes stored by sha256 digest,
  deduplicated and written atomically.
* :class:`BaseRunArtifactRepository` / :class:`StoreArtifactRepository`: a run's files, by
  logical path, recorded in the metadata store.
* :func:`validate_artifact_path` / :func:`safe_join`: the one gate every logical path passes;
  :data:`TRAVERSAL_PAYLOADS` lists hostile paths for tests.
"""

from __future__ import annotations

from modelkeep.artifacts.base import BaseArtifactStore, BlobInfo
from modelkeep.artifacts.local import LocalArtifactStore
from modelkeep.artifacts.paths import TRAVERSAL_PAYLOADS, safe_join, validate_artifact_path
from modelkeep.artifacts.repository import BaseRunArtifactRepository, StoreArtifactRepository

__all__ = [
    "TRAVERSAL_PAYLOADS",
    "BaseArtifactStore",
    "BaseRunArtifactRepository",
    "BlobInfo",
    "LocalArtifactStore",
    "StoreArtifactRepository",
    "safe_join",
    "validate_artifact_path",
]
