"""Conformance tests across the registry: frozen snapshots, NotFoundError, failed calls.

Part of :class:`modelkeep.testing.registry_conformance.RegistryConformance`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelkeep.entities import ModelVersionStatus
from modelkeep.exceptions import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SignatureError,
)
from modelkeep.registry.signing import sign_root_digest
from modelkeep.store.base import BaseStore
from modelkeep.testing.registry_conformance_models import digest, new_key, new_versions, trust

__all__ = ["FailedCallConformance", "NotFoundConformance", "SnapshotConformance"]

StoreCall = Callable[[BaseStore], object]


def _signed_add(name: str, version: int) -> StoreCall:
    """A call adding a well-formed signature of ``digest(version)`` to ``name``/``version``."""
    public, signature = sign_root_digest(new_key()[0], digest(version))
    return lambda s: s.add_model_version_signature(name, version, public, signature)


# Every call that names a model, tried on a model that does not exist.
_UNKNOWN_MODEL_CALLS: dict[str, StoreCall] = {
    "get_registered_model": lambda s: s.get_registered_model("nope"),
    "update_registered_model": lambda s: s.update_registered_model("nope", description="d"),
    "delete_registered_model": lambda s: s.delete_registered_model("nope", force=True),
    "set_registered_model_tag": lambda s: s.set_registered_model_tag("nope", "k", "v"),
    "delete_registered_model_tag": lambda s: s.delete_registered_model_tag("nope", "k"),
    "get_model_version": lambda s: s.get_model_version("nope", 1),
    "get_model_version_by_alias": lambda s: s.get_model_version_by_alias("nope", "champion"),
    "get_latest_model_version": lambda s: s.get_latest_model_version("nope"),
    "update_model_version": lambda s: s.update_model_version("nope", 1, description="d"),
    "delete_model_version": lambda s: s.delete_model_version("nope", 1, force=True),
    "set_model_version_tag": lambda s: s.set_model_version_tag("nope", 1, "k", "v"),
    "delete_model_version_tag": lambda s: s.delete_model_version_tag("nope", 1, "k"),
    "set_model_alias": lambda s: s.set_model_alias("nope", "champion", 1),
    "delete_model_alias": lambda s: s.delete_model_alias("nope", "champion"),
    "list_alias_history": lambda s: s.list_alias_history("nope"),
    "add_model_version_signature": _signed_add("nope", 1),
}

# Every call that names a version, tried on version 2 of a model that has only version 1.
_UNKNOWN_VERSION_CALLS: dict[str, StoreCall] = {
    "get_model_version": lambda s: s.get_model_version("churn", 2),
    "update_model_version": lambda s: s.update_model_version("churn", 2, description="d"),
    "delete_model_version": lambda s: s.delete_model_version("churn", 2, force=True),
    "set_model_version_tag": lambda s: s.set_model_version_tag("churn", 2, "k", "v"),
    "delete_model_version_tag": lambda s: s.delete_model_version_tag("churn", 2, "k"),
    "set_model_alias": lambda s: s.set_model_alias("churn", "champion", 2),
    "add_model_version_signature": _signed_add("churn", 2),
}


class SnapshotConformance:
    """Returned objects are frozen: later changes to the store never reach them."""

    def test_model_snapshot_does_not_change(self, store: BaseStore) -> None:
        model = store.create_registered_model("churn", description="d", tags={"team": "a"})
        store.set_registered_model_tag("churn", "team", "b")
        store.update_registered_model("churn", description="new")
        new_versions(store, 1)
        store.set_model_alias("churn", "champion", 1)
        assert (model.description, dict(model.tags), dict(model.aliases)) == (
            "d",
            {"team": "a"},
            {},
        )
        assert model.latest_version is None

    def test_version_snapshot_does_not_change(self, store: BaseStore) -> None:
        (version,) = new_versions(store, 1)
        store.set_model_version_tag("churn", 1, "team", "b")
        store.update_model_version("churn", 1, status=ModelVersionStatus.ARCHIVED)
        store.set_model_alias("churn", "champion", 1)
        public, signature = sign_root_digest(new_key()[0], version.root_digest)
        store.add_model_version_signature("churn", 1, public, signature)
        assert (dict(version.tags), version.status, version.aliases, version.signatures) == (
            {},
            ModelVersionStatus.READY,
            (),
            (),
        )

    def test_search_results_do_not_change(self, store: BaseStore) -> None:
        new_versions(store, 1)
        (found,) = store.search_model_versions("name = 'churn'")
        store.set_model_alias("churn", "champion", 1)
        store.set_model_version_tag("churn", 1, "team", "b")
        assert (found.aliases, dict(found.tags)) == ((), {})

    def test_editing_returned_tags_does_not_reach_the_store(self, store: BaseStore) -> None:
        model = store.create_registered_model("churn", tags={"team": "a"})
        # A backend may hand out a plain dict; writing to it must not write to the store.
        if isinstance(model.tags, dict):
            model.tags["team"] = "changed"
        assert dict(store.get_registered_model("churn").tags) == {"team": "a"}


class NotFoundConformance:
    """Unknown models, versions and aliases raise NotFoundError from every call."""

    @pytest.mark.parametrize("call", _UNKNOWN_MODEL_CALLS.values(), ids=_UNKNOWN_MODEL_CALLS)
    def test_unknown_model(self, store: BaseStore, call: StoreCall) -> None:
        store.create_registered_model("other")
        with pytest.raises(NotFoundError):
            call(store)

    @pytest.mark.parametrize("call", _UNKNOWN_VERSION_CALLS.values(), ids=_UNKNOWN_VERSION_CALLS)
    def test_unknown_version(self, store: BaseStore, call: StoreCall) -> None:
        new_versions(store, 1)
        with pytest.raises(NotFoundError):
            call(store)

    def test_calls_on_unknown_model_create_nothing(self, store: BaseStore) -> None:
        for call in _UNKNOWN_MODEL_CALLS.values():
            with pytest.raises(NotFoundError):
                call(store)
        assert list(store.search_registered_models()) == []
        assert list(store.search_model_versions()) == []


class FailedCallConformance:
    """A call that raises leaves the store exactly as it was."""

    def test_bad_digest_for_new_model_creates_no_model(self, store: BaseStore) -> None:
        with pytest.raises(InvalidInputError):
            store.create_model_version("churn", "file:///m", "not-a-digest")
        with pytest.raises(NotFoundError):
            store.get_registered_model("churn")

    def test_refused_model_delete_keeps_versions_and_history(self, store: BaseStore) -> None:
        versions = new_versions(store, 2)
        store.set_model_alias("churn", "champion", 2)
        history = store.list_alias_history("churn")
        with pytest.raises(ConflictError):
            store.delete_registered_model("churn")
        assert store.get_model_version("churn", 1) == versions[0]
        assert store.list_alias_history("churn") == history

    def test_refused_signed_alias_leaves_model_unchanged(self, store: BaseStore) -> None:
        new_versions(store, 1)
        trust(store, "churn", new_key()[1])
        before = store.get_registered_model("churn")
        with pytest.raises(SignatureError):
            store.set_model_alias("churn", "champion", 1, actor="mallory")
        assert store.get_registered_model("churn") == before
        assert store.list_alias_history("churn") == []
