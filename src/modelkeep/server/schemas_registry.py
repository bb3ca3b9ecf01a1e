"""Wire schemas of the model-registry API, shared by the server and :class:`RestStore`.

Same families as :mod:`modelkeep.server.schemas`: ``*Create`` / ``*Update`` / ``*Set`` are
request bodies (unknown fields refused), ``*Public`` are answers that convert from and to their
:mod:`modelkeep.entities` snapshot (unknown fields ignored).

``actor`` in a request body is used only when the server runs without authentication; with
auth on, the server records the API token's name instead.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from modelkeep.entities import (
    AliasChange,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    VersionSignature,
)
from modelkeep.server.schemas import _Public, _Request

__all__ = [
    "AliasChangePublic",
    "AliasHistory",
    "AliasSet",
    "ModelTagSet",
    "ModelVersionCreate",
    "ModelVersionPage",
    "ModelVersionPublic",
    "ModelVersionUpdate",
    "RegisteredModelCreate",
    "RegisteredModelPage",
    "RegisteredModelPublic",
    "RegisteredModelUpdate",
    "SignatureCreate",
    "VersionSignaturePublic",
]


def _upper(value: object) -> object:
    # Statuses are accepted in any case ("archived"), as for runs.
    return value.upper() if isinstance(value, str) else value


# ---- registered models -------------------------------------------------------------------------
class RegisteredModelCreate(_Request):
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    actor: str = ""


class RegisteredModelUpdate(_Request):
    """Fields left out (or null) stay as they are; changing the signature policy
    (``require_signatures``, ``trusted_keys``) needs an admin token."""

    description: str | None = None
    require_signatures: bool | None = None
    trusted_keys: list[str] | None = None
    actor: str = ""

    @property
    def changes_signature_policy(self) -> bool:
        """Whether the update touches what only an admin may change."""
        return self.require_signatures is not None or self.trusted_keys is not None


class ModelTagSet(_Request):
    """Body of ``PUT .../tags/{key}``: the key is in the URL."""

    value: str


class RegisteredModelPublic(_Public):
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, int] = Field(default_factory=dict)
    require_signatures: bool = False
    trusted_keys: list[str] = Field(default_factory=list)
    latest_version: int | None = None
    created_by: str = ""
    creation_time: int = 0
    last_update_time: int = 0

    @classmethod
    def from_entity(cls, model: RegisteredModel) -> RegisteredModelPublic:
        return cls.model_validate(model.to_dict())

    def to_entity(self) -> RegisteredModel:
        return RegisteredModel(
            name=self.name,
            description=self.description,
            tags=dict(self.tags),
            aliases=dict(self.aliases),
            require_signatures=self.require_signatures,
            trusted_keys=tuple(self.trusted_keys),
            latest_version=self.latest_version,
            created_by=self.created_by,
            creation_time=self.creation_time,
            last_update_time=self.last_update_time,
        )


class RegisteredModelPage(_Public):
    registered_models: list[RegisteredModelPublic]
    next_page_token: str | None = None


# ---- versions ----------------------------------------------------------------------------------
class ModelVersionCreate(_Request):
    source: str
    root_digest: str
    run_id: str | None = None
    flavor: str = ""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    actor: str = ""


class ModelVersionUpdate(_Request):
    description: str | None = None
    status: Annotated[ModelVersionStatus | None, BeforeValidator(_upper)] = None
    actor: str = ""


class VersionSignaturePublic(_Public):
    key_id: str
    public_key: str
    signature: str
    signed_by: str = ""
    timestamp: int = 0

    @classmethod
    def from_entity(cls, signature: VersionSignature) -> VersionSignaturePublic:
        return cls.model_validate(signature.to_dict())

    def to_entity(self) -> VersionSignature:
        return VersionSignature(
            key_id=self.key_id,
            public_key=self.public_key,
            signature=self.signature,
            signed_by=self.signed_by,
            timestamp=self.timestamp,
        )


class SignatureCreate(_Request):
    """An ed25519 signature of the version's root digest; both values base64 of raw bytes."""

    public_key: str
    signature: str
    actor: str = ""


class ModelVersionPublic(_Public):
    name: str
    version: int
    source: str
    run_id: str | None = None
    root_digest: str
    flavor: str = ""
    status: ModelVersionStatus = ModelVersionStatus.READY
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    signatures: list[VersionSignaturePublic] = Field(default_factory=list)
    created_by: str = ""
    updated_by: str = ""
    creation_time: int = 0
    last_update_time: int = 0

    @classmethod
    def from_entity(cls, version: ModelVersion) -> ModelVersionPublic:
        return cls.model_validate(version.to_dict())

    def to_entity(self) -> ModelVersion:
        return ModelVersion(
            name=self.name,
            version=self.version,
            source=self.source,
            run_id=self.run_id,
            root_digest=self.root_digest,
            flavor=self.flavor,
            status=self.status,
            description=self.description,
            tags=dict(self.tags),
            aliases=tuple(self.aliases),
            signatures=tuple(s.to_entity() for s in self.signatures),
            created_by=self.created_by,
            updated_by=self.updated_by,
            creation_time=self.creation_time,
            last_update_time=self.last_update_time,
        )


class ModelVersionPage(_Public):
    model_versions: list[ModelVersionPublic]
    next_page_token: str | None = None


# ---- aliases -----------------------------------------------------------------------------------
class AliasSet(_Request):
    """Body of ``PUT .../aliases/{alias}``: where the alias should point, and why."""

    version: int
    reason: str = ""
    actor: str = ""


class AliasChangePublic(_Public):
    name: str
    alias: str
    version: int | None = None
    previous_version: int | None = None
    actor: str = ""
    reason: str = ""
    timestamp: int = 0

    @classmethod
    def from_entity(cls, change: AliasChange) -> AliasChangePublic:
        return cls.model_validate(change.to_dict())

    def to_entity(self) -> AliasChange:
        return AliasChange(
            name=self.name,
            alias=self.alias,
            version=self.version,
            previous_version=self.previous_version,
            actor=self.actor,
            reason=self.reason,
            timestamp=self.timestamp,
        )


class AliasHistory(_Public):
    changes: list[AliasChangePublic]
