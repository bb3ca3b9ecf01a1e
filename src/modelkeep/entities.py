"""Frozen snapshot objects returned by every store.

A store never hands out live database rows: each call returns fresh immutable values, so the
caller may keep, share and compare them freely (Optuna's ``FrozenTrial`` idea).
Times are integer milliseconds since the Unix epoch, as in MLflow.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "AliasChange",
    "ApiToken",
    "ArtifactRecord",
    "DatasetInput",
    "Experiment",
    "LifecycleStage",
    "Metric",
    "ModelVersion",
    "ModelVersionStatus",
    "Page",
    "Param",
    "RegisteredModel",
    "Role",
    "Run",
    "RunStatus",
    "RunTag",
    "VersionSignature",
    "now_ms",
]

T = TypeVar("T")


def now_ms() -> int:
    """Current wall-clock time in integer milliseconds."""
    return time.time_ns() // 1_000_000


class RunStatus(enum.StrEnum):
    """Where a run is in its life. Only RUNNING runs are unfinished."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


class LifecycleStage(enum.StrEnum):
    """Soft-delete state of experiments and runs."""

    ACTIVE = "active"
    DELETED = "deleted"


class Role(enum.StrEnum):
    """API token roles, each including the rights of the ones before it."""

    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def allows(self, needed: Role) -> bool:
        """Whether a token of this role may do what ``needed`` is required for."""
        return self.rank >= needed.rank


_ROLE_RANK = {Role.READER: 0, Role.WRITER: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    name: str
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    tags: Mapping[str, str] = field(default_factory=dict)
    creation_time: int = 0
    last_update_time: int = 0


@dataclass(frozen=True, slots=True)
class Metric:
    """One logged metric point. ``value`` may be NaN or +-inf."""

    key: str
    value: float
    step: int = 0
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset a run consumed, identified by the sha256 digest of its content."""

    name: str
    digest: str
    source: str = ""
    schema: Mapping[str, Any] = field(default_factory=dict)
    num_rows: int | None = None
    context: str = ""


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """One logical file of a run's artifact tree, pointing at a content-addressed blob."""

    run_id: str
    path: str
    digest: str
    size: int
    created_time: int = 0


@dataclass(frozen=True, slots=True)
class Run:
    """A snapshot of a run: its attributes, latest metric values, params, tags and inputs."""

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    parent_run_id: str | None = None
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[DatasetInput, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (used by ``--json`` output and the REST API)."""
        return {
            "id": self.id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "status": self.status.value,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "parent_run_id": self.parent_run_id,
            "lifecycle_stage": self.lifecycle_stage.value,
            "metrics": dict(self.metrics),
            "params": dict(self.params),
            "tags": dict(self.tags),
            "inputs": [
                {
                    "name": d.name,
                    "digest": d.digest,
                    "source": d.source,
                    "schema": dict(d.schema),
                    "num_rows": d.num_rows,
                    "context": d.context,
                }
                for d in self.inputs
            ],
        }


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A server API token. The secret itself is never stored, only its hash."""

    id: str
    name: str
    role: Role
    created_time: int
    revoked: bool = False


class Page(list[T], Generic[T]):
    """A list of results plus the opaque token for the next page (``None`` on the last)."""

    def __init__(self, items: Iterable[T] = (), next_page_token: str | None = None) -> None:
        super().__init__(items)
        self.next_page_token = next_page_token


# ---- model registry --------------------------------------------------------------------------


class ModelVersionStatus(enum.StrEnum):
    """Registration state of a model version. Versions are READY once registered; ARCHIVED
    versions stay loadable but are out of service (set by users or maintenance policies)."""

    READY = "READY"
    ARCHIVED = "ARCHIVED"


@dataclass(frozen=True, slots=True)
class VersionSignature:
    """An ed25519 signature over a model version's root digest.

    ``public_key`` and ``signature`` are base64 (standard alphabet) of the raw 32- and 64-byte
    values; ``key_id`` is the first 16 hex characters of the sha256 of the raw public key.
    """

    key_id: str
    public_key: str
    signature: str
    signed_by: str = ""
    timestamp: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "public_key": self.public_key,
            "signature": self.signature,
            "signed_by": self.signed_by,
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model in the registry: its versions are numbered 1, 2, 3... and never reused.

    ``aliases`` maps each alias to the version it points at. When ``require_signatures`` is set,
    an alias may only point at a version signed by one of ``trusted_keys`` (base64 raw ed25519
    public keys). ``latest_version`` is the highest existing version number, or None.
    """

    name: str
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, int] = field(default_factory=dict)
    require_signatures: bool = False
    trusted_keys: tuple[str, ...] = ()
    latest_version: int | None = None
    created_by: str = ""
    creation_time: int = 0
    last_update_time: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
            "require_signatures": self.require_signatures,
            "trusted_keys": list(self.trusted_keys),
            "latest_version": self.latest_version,
            "created_by": self.created_by,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
        }


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a registered model: an immutable model package plus its metadata.

    ``source`` is the package URI (``runs:/<run_id>/<path>``); ``root_digest`` the sha256 root
    over the package's per-file digests (see :mod:`modelkeep.registry.manifest`), fixed at
    registration. ``aliases`` are the aliases pointing here, sorted.
    """

    name: str
    version: int
    source: str
    run_id: str | None
    root_digest: str
    flavor: str = ""
    status: ModelVersionStatus = ModelVersionStatus.READY
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    signatures: tuple[VersionSignature, ...] = ()
    created_by: str = ""
    updated_by: str = ""
    creation_time: int = 0
    last_update_time: int = 0

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "run_id": self.run_id,
            "root_digest": self.root_digest,
            "flavor": self.flavor,
            "status": self.status.value,
            "description": self.description,
            "tags": dict(self.tags),
            "aliases": list(self.aliases),
            "signatures": [s.to_dict() for s in self.signatures],
            "created_by": self.created_by,
            "updated_by": self.updated_by,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
        }


@dataclass(frozen=True, slots=True)
class AliasChange:
    """One move of an alias: who pointed ``alias`` from ``previous_version`` to ``version``
    (None when the alias was removed), when and why."""

    name: str
    alias: str
    version: int | None
    previous_version: int | None
    actor: str
    reason: str
    timestamp: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "version": self.version,
            "previous_version": self.previous_version,
            "actor": self.actor,
            "reason": self.reason,
            "timestamp": self.timestamp,
        }
