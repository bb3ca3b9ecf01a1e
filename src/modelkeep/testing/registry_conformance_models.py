"""Conformance tests for registered models: naming, tags, description, signing policy, delete.

Part of :class:`modelkeep.testing.registry_conformance.RegistryConformance`; the helpers here
(digests, versions, signing keys) are shared by the other ``registry_conformance_*`` modules.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelkeep.entities import ModelVersion, now_ms
from modelkeep.exceptions import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from modelkeep.registry.signing import public_key_b64
from modelkeep.store.base import BaseStore

__all__ = [
    "MAX_MODEL_NAME_LENGTH",
    "RegisteredModelConformance",
    "digest",
    "new_key",
    "new_version",
    "new_versions",
    "trust",
]

# The documented name limit, restated here: the suite is the spec a backend is checked against.
MAX_MODEL_NAME_LENGTH = 256

# Names the contract forbids: empty, too long, ``/``, ``@``, control characters, edge spaces.
BAD_NAMES = [
    "",
    "x" * (MAX_MODEL_NAME_LENGTH + 1),
    "team/churn",
    "churn@prod",
    "churn\nmodel",
    "churn\x00",
    "churn\t",
    " churn",
    "churn ",
]


def digest(n: int) -> str:
    """A distinct, well-formed root digest (64 lowercase hex characters) for each ``n``."""
    return f"{n:064x}"


def new_version(
    store: BaseStore,
    name: str = "churn",
    *,
    tags: Mapping[str, str] | None = None,
    flavor: str = "sklearn",
    run_id: str | None = None,
    actor: str = "",
) -> ModelVersion:
    """Register the next version of ``name`` with a source and digest unique to it."""
    latest = _latest_version_or_zero(store, name)
    return store.create_model_version(
        name,
        source=f"file:///models/{name}/{latest + 1}",
        root_digest=digest(latest + 1),
        run_id=run_id,
        flavor=flavor,
        tags=tags,
        actor=actor,
    )


def new_versions(store: BaseStore, count: int, name: str = "churn") -> list[ModelVersion]:
    """Register ``count`` versions of ``name``."""
    return [new_version(store, name) for _ in range(count)]


def _latest_version_or_zero(store: BaseStore, name: str) -> int:
    try:
        return store.get_registered_model(name).latest_version or 0
    except NotFoundError:
        return 0


def new_key() -> tuple[Ed25519PrivateKey, str]:
    """A fresh ed25519 private key and its base64 raw public key."""
    key = Ed25519PrivateKey.generate()
    return key, public_key_b64(key)


def trust(store: BaseStore, name: str, *public_keys: str) -> None:
    """Make ``name`` require signatures from the given keys."""
    store.update_registered_model(name, require_signatures=True, trusted_keys=list(public_keys))


class RegisteredModelConformance:
    """Create, read, name rules, tags, description, signing policy and delete."""

    def test_create_returns_empty_model(self, store: BaseStore) -> None:
        model = store.create_registered_model("churn", description="d", tags={"team": "a"})
        assert (model.name, model.description, dict(model.tags)) == ("churn", "d", {"team": "a"})
        assert (dict(model.aliases), model.latest_version, model.require_signatures) == (
            {},
            None,
            False,
        )
        assert model.trusted_keys == ()

    def test_create_records_actor_and_time(self, store: BaseStore) -> None:
        before = now_ms()
        model = store.create_registered_model("churn", actor="alice")
        assert model.created_by == "alice"
        assert before <= model.creation_time <= model.last_update_time <= now_ms()

    def test_get_returns_created(self, store: BaseStore) -> None:
        model = store.create_registered_model("churn", description="d", tags={"k": "v"})
        assert store.get_registered_model("churn") == model

    def test_duplicate_name_raises_already_exists(self, store: BaseStore) -> None:
        store.create_registered_model("churn")
        with pytest.raises(AlreadyExistsError):
            store.create_registered_model("churn", description="second")

    def test_rejected_duplicate_keeps_first_model(self, store: BaseStore) -> None:
        first = store.create_registered_model("churn", description="first")
        with pytest.raises(AlreadyExistsError):
            store.create_registered_model("churn", description="second")
        assert store.get_registered_model("churn") == first

    @pytest.mark.parametrize("name", BAD_NAMES)
    def test_bad_name_is_invalid(self, store: BaseStore, name: str) -> None:
        with pytest.raises(InvalidInputError) as info:
            store.create_registered_model(name)
        assert info.value.field == "name"

    def test_bad_name_stores_nothing(self, store: BaseStore) -> None:
        with pytest.raises(InvalidInputError):
            store.create_registered_model("team/churn")
        assert list(store.search_registered_models()) == []

    @pytest.mark.parametrize("name", ["c", "x" * MAX_MODEL_NAME_LENGTH, "churn v2.1-β_(x)"])
    def test_edge_names_are_accepted(self, store: BaseStore, name: str) -> None:
        store.create_registered_model(name)
        assert store.get_registered_model(name).name == name

    def test_model_tag_is_set_and_overwritten(self, store: BaseStore) -> None:
        store.create_registered_model("churn", tags={"team": "a"})
        store.set_registered_model_tag("churn", "team", "b")
        store.set_registered_model_tag("churn", "stage", "qa")
        assert dict(store.get_registered_model("churn").tags) == {"team": "b", "stage": "qa"}

    def test_model_tag_is_deleted(self, store: BaseStore) -> None:
        store.create_registered_model("churn", tags={"team": "a", "keep": "1"})
        store.delete_registered_model_tag("churn", "team")
        assert dict(store.get_registered_model("churn").tags) == {"keep": "1"}

    def test_deleting_unset_model_tag_raises_not_found(self, store: BaseStore) -> None:
        store.create_registered_model("churn")
        with pytest.raises(NotFoundError):
            store.delete_registered_model_tag("churn", "team")

    def test_model_description_is_updated(self, store: BaseStore) -> None:
        store.create_registered_model("churn", description="old")
        updated = store.update_registered_model("churn", description="new")
        assert updated.description == "new"
        assert store.get_registered_model("churn").description == "new"

    def test_require_signatures_with_trusted_key_is_stored(self, store: BaseStore) -> None:
        store.create_registered_model("churn")
        _, public = new_key()
        trust(store, "churn", public)
        got = store.get_registered_model("churn")
        assert (got.require_signatures, got.trusted_keys) == (True, (public,))

    def test_require_signatures_without_trusted_keys_is_invalid(self, store: BaseStore) -> None:
        store.create_registered_model("churn")
        with pytest.raises(InvalidInputError) as info:
            store.update_registered_model("churn", require_signatures=True)
        assert info.value.field == "trusted_keys"
        assert store.get_registered_model("churn").require_signatures is False

    def test_trusted_keys_replace_the_whole_list(self, store: BaseStore) -> None:
        store.create_registered_model("churn")
        (_, first), (_, second) = new_key(), new_key()
        store.update_registered_model("churn", trusted_keys=[first, second])
        store.update_registered_model("churn", trusted_keys=[second])
        assert store.get_registered_model("churn").trusted_keys == (second,)

    @pytest.mark.parametrize("bad_key", ["not base64!", "AAAA", ""])
    def test_malformed_trusted_key_is_invalid_and_changes_nothing(
        self, store: BaseStore, bad_key: str
    ) -> None:
        store.create_registered_model("churn")
        _, good = new_key()
        with pytest.raises(InvalidInputError):
            store.update_registered_model(
                "churn", description="new", require_signatures=True, trusted_keys=[good, bad_key]
            )
        got = store.get_registered_model("churn")
        assert (got.description, got.require_signatures, got.trusted_keys) == ("", False, ())

    def test_delete_removes_model_and_versions(self, store: BaseStore) -> None:
        new_versions(store, 2)
        store.delete_registered_model("churn")
        with pytest.raises(NotFoundError):
            store.get_registered_model("churn")
        assert list(store.search_model_versions("name = 'churn'")) == []

    def test_delete_with_aliased_version_needs_force(self, store: BaseStore) -> None:
        new_version(store)
        store.set_model_alias("churn", "champion", 1)
        with pytest.raises(ConflictError):
            store.delete_registered_model("churn")
        assert store.get_model_version_by_alias("churn", "champion").version == 1

    def test_forced_delete_removes_aliased_model(self, store: BaseStore) -> None:
        new_version(store)
        store.set_model_alias("churn", "champion", 1)
        store.delete_registered_model("churn", force=True)
        with pytest.raises(NotFoundError):
            store.get_registered_model("churn")

    def test_deleted_name_may_be_reused_without_old_history(self, store: BaseStore) -> None:
        new_version(store)
        store.set_model_alias("churn", "champion", 1)
        store.delete_registered_model("churn", force=True)
        model = store.create_registered_model("churn")
        assert (dict(model.aliases), store.list_alias_history("churn")) == ({}, [])
