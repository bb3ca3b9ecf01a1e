"""The model-registry half of the metadata-store contract (mixed into :class:`BaseStore`).

Invariants every backend keeps (checked by :mod:`modelkeep.testing.registry_conformance`):

* Registered-model names are unique (``AlreadyExistsError``); names are 1-256 characters with no
  ``/``, ``@``, control characters, or leading/trailing spaces (``InvalidInputError``, field
  ``name``).
* Version numbers are allocated atomically per model: 1, 2, 3... in creation order, never
  reused, even after a delete, and distinct when many processes register at once.
* An alias points at most at one version. Every set or removal appends an :class:`AliasChange`
  (actor, reason, time, previous version) to the alias history, which is never rewritten.
  Alias names follow the model-name rules and may not be ``latest`` or all digits
  (``InvalidInputError``, field ``alias``).
* A version that an alias points at cannot be deleted without ``force`` (``ConflictError``);
  with ``force`` its aliases are removed first and each removal is recorded. A model with
  aliased versions likewise needs ``force`` to be deleted.
* When a model requires signatures, :meth:`set_model_alias` refuses (``SignatureError``) a
  version without a stored signature from one of the model's trusted keys. Turning the
  requirement on needs at least one trusted key (``InvalidInputError``, field
  ``trusted_keys``). So that no alias of such a model ever points at an unsigned version,
  turning the requirement on, or changing the trusted keys while it is on, is refused
  (``SignatureError``) while an alias points at a version with no signature from the
  resulting trusted keys.
* :meth:`add_model_version_signature` verifies the signature against the version's root digest
  before storing it (``SignatureError`` if it does not verify); the same key signing again
  replaces its earlier signature.
* ``actor`` is who made the change, recorded as ``created_by``/``updated_by``/alias actor. The
  server fills it from the API token's name, ignoring what the client sends.
* A failed call changes nothing.

Filters (``search_registered_models``, ``search_model_versions``) use the run-filter syntax with
these identifiers: ``name``, ``description``, ``tags.<key>``, ``creation_time``,
``last_update_time``; versions also ``version``, ``run_id``, ``status``, ``flavor``, ``source``,
``root_digest``, ``created_by`` and ``aliases`` (``aliases = 'champion'`` matches the version
the alias points at). Example: ``name = 'churn' and tags.team = 'a'``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

from modelkeep.entities import (
    AliasChange,
    ModelVersion,
    ModelVersionStatus,
    Page,
    RegisteredModel,
    VersionSignature,
)

__all__ = ["RegistryStore"]


class RegistryStore(abc.ABC):
    """Abstract registry: registered models, versions, tags, aliases, signatures."""

    # ---- registered models -------------------------------------------------------------
    @abc.abstractmethod
    def create_registered_model(
        self,
        name: str,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str = "",
    ) -> RegisteredModel:
        """Create an empty registered model. AlreadyExistsError if the name is taken."""

    @abc.abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """The model or NotFoundError."""

    @abc.abstractmethod
    def search_registered_models(
        self,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        """Models matching the filter; by name ascending unless ``order_by`` says otherwise
        (``name``, ``creation_time``, ``last_update_time`` with ASC/DESC)."""

    @abc.abstractmethod
    def update_registered_model(
        self,
        name: str,
        description: str | None = None,
        require_signatures: bool | None = None,
        trusted_keys: Sequence[str] | None = None,
        actor: str = "",
    ) -> RegisteredModel:
        """Change what is not None; ``trusted_keys`` replaces the whole list (base64 raw
        ed25519 public keys, each checked to be one)."""

    @abc.abstractmethod
    def delete_registered_model(self, name: str, force: bool = False, actor: str = "") -> None:
        """Delete the model with its versions (hard delete; alias history goes too).
        ConflictError if a version has an alias and ``force`` is False."""

    @abc.abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set or overwrite one tag of the model."""

    @abc.abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove one tag; NotFoundError if it is not set."""

    # ---- versions ----------------------------------------------------------------------
    @abc.abstractmethod
    def create_model_version(
        self,
        name: str,
        source: str,
        root_digest: str,
        run_id: str | None = None,
        flavor: str = "",
        description: str = "",
        tags: Mapping[str, str] | None = None,
        actor: str = "",
    ) -> ModelVersion:
        """Add the next version of ``name``, creating the registered model if it is missing.
        ``root_digest`` is 64 lowercase hex characters (InvalidInputError, field
        ``root_digest``); ``run_id``, when given, must name an existing run."""

    @abc.abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """The version or NotFoundError."""

    @abc.abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at; NotFoundError if the alias is not set."""

    @abc.abstractmethod
    def search_model_versions(
        self,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """Versions matching the filter, newest first (name ascending, version descending)
        unless ``order_by`` says otherwise (``name``, ``version``, ``creation_time``,
        ``last_update_time``)."""

    @abc.abstractmethod
    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        status: ModelVersionStatus | None = None,
        actor: str = "",
    ) -> ModelVersion:
        """Change what is not None and stamp ``updated_by``/``last_update_time``."""

    @abc.abstractmethod
    def delete_model_version(
        self, name: str, version: int, force: bool = False, actor: str = ""
    ) -> None:
        """Delete one version. ConflictError if an alias points at it and ``force`` is False;
        with ``force`` each alias removal is recorded in the history first."""

    @abc.abstractmethod
    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        """Set or overwrite one tag of a version."""

    @abc.abstractmethod
    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        """Remove one tag; NotFoundError if it is not set."""

    # ---- aliases -----------------------------------------------------------------------
    @abc.abstractmethod
    def set_model_alias(
        self, name: str, alias: str, version: int, reason: str = "", actor: str = ""
    ) -> AliasChange:
        """Point ``alias`` at ``version`` (moving it if set) and record the change.
        SignatureError if the model requires signatures and the version has none from a
        trusted key. Setting an alias to the version it already points at still records it."""

    @abc.abstractmethod
    def delete_model_alias(
        self, name: str, alias: str, reason: str = "", actor: str = ""
    ) -> AliasChange:
        """Remove ``alias`` and record it (``version`` None). NotFoundError if not set."""

    @abc.abstractmethod
    def list_alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Every recorded alias change of the model (or of one alias), oldest first."""

    # ---- signatures --------------------------------------------------------------------
    @abc.abstractmethod
    def add_model_version_signature(
        self, name: str, version: int, public_key: str, signature: str, actor: str = ""
    ) -> VersionSignature:
        """Store an ed25519 signature of the version's root digest (see
        :func:`modelkeep.registry.signing.signed_message`) after verifying it."""

    # ---- helpers built only from the abstract methods ------------------------------------
    def get_latest_model_version(self, name: str) -> ModelVersion:
        """The highest-numbered version of ``name``; NotFoundError if it has none."""
        from modelkeep.exceptions import NotFoundError

        latest = self.get_registered_model(name).latest_version
        if latest is None:
            raise NotFoundError(f"registered model {name!r} has no versions", field="version")
        return self.get_model_version(name, latest)
