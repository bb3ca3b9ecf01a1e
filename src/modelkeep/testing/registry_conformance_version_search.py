"""Conformance tests for ``search_model_versions``: filters, ordering, pagination.

Part of :class:`modelkeep.testing.registry_conformance.RegistryConformance`. Most tests search the
five versions made by :func:`seed_versions` (``digest(n)`` is the n-th registered digest):

========= ======== ==== ===== ======== ======== ========
version   flavor   team actor status   alias    digest
========= ======== ==== ===== ======== ======== ========
churn 1   sklearn  a    alice READY    -        1
churn 2   lightgbm b    bob   ARCHIVED -        2
churn 3   sklearn  a    alice READY    champion 3
fraud 1   sklearn  a    bob   READY    -        4
fraud 2   onnx     -    alice READY    champion 5
========= ======== ==== ===== ======== ======== ========
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from modelkeep.entities import ModelVersionStatus
from modelkeep.exceptions import InvalidFilterError
from modelkeep.store.base import BaseStore
from modelkeep.testing.registry_conformance_models import digest, new_version

__all__ = ["ModelVersionSearchConformance", "seed_versions"]

_SEED = [
    ("churn", "sklearn", {"team": "a"}, "alice"),
    ("churn", "lightgbm", {"team": "b"}, "bob"),
    ("churn", "sklearn", {"team": "a"}, "alice"),
    ("fraud", "sklearn", {"team": "a"}, "bob"),
    ("fraud", "onnx", {}, "alice"),
]
_ALL = [("churn", 3), ("churn", 2), ("churn", 1), ("fraud", 2), ("fraud", 1)]

# A bound on page walks so a backend that never ends its pages fails instead of hanging.
_MAX_PAGES = 100

Key = tuple[str, int]


def seed_versions(store: BaseStore) -> None:
    """Register the five versions of the module docstring, with statuses and aliases."""
    for n, (name, flavor, tags, actor) in enumerate(_SEED, start=1):
        store.create_model_version(
            name, f"file:///models/{n}", digest(n), flavor=flavor, tags=tags, actor=actor
        )
    store.update_model_version("churn", 2, status=ModelVersionStatus.ARCHIVED)
    store.set_model_alias("churn", "champion", 3)
    store.set_model_alias("fraud", "champion", 2)


def _keys(store: BaseStore, filter_string: str = "", order_by: Sequence[str] = ()) -> list[Key]:
    return [(v.name, v.version) for v in store.search_model_versions(filter_string, order_by)]


class ModelVersionSearchConformance:
    """Filter identifiers, newest first by default, ``order_by`` and page tokens."""

    def test_default_order_is_name_then_newest_version(self, store: BaseStore) -> None:
        seed_versions(store)
        assert _keys(store) == _ALL

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("name = 'churn'", [("churn", 3), ("churn", 2), ("churn", 1)]),
            ("name = 'churn' and tags.team = 'a'", [("churn", 3), ("churn", 1)]),
            ("version >= 2", [("churn", 3), ("churn", 2), ("fraud", 2)]),
            ("version = 1", [("churn", 1), ("fraud", 1)]),
            ("aliases = 'champion'", [("churn", 3), ("fraud", 2)]),
            ("status = 'ARCHIVED'", [("churn", 2)]),
            ("flavor = 'sklearn'", [("churn", 3), ("churn", 1), ("fraud", 1)]),
            ("created_by = 'bob'", [("churn", 2), ("fraud", 1)]),
            ("source = 'file:///models/4'", [("fraud", 1)]),
            (f"root_digest = '{digest(5)}'", [("fraud", 2)]),
            ("name LIKE 'fr%'", [("fraud", 2), ("fraud", 1)]),
            ("name = 'fraud' or version = 2", [("churn", 2), ("fraud", 2), ("fraud", 1)]),
            ("aliases = 'nobody'", []),
        ],
    )
    def test_version_filter(
        self, store: BaseStore, filter_string: str, expected: list[Key]
    ) -> None:
        seed_versions(store)
        assert _keys(store, filter_string) == expected

    def test_filter_on_run_id(self, store: BaseStore) -> None:
        run = store.create_run(store.create_experiment("train").id)
        new_version(store, "churn")
        new_version(store, "churn", run_id=run.id)
        assert _keys(store, f"run_id = '{run.id}'") == [("churn", 2)]

    def test_alias_filter_follows_a_moved_alias(self, store: BaseStore) -> None:
        seed_versions(store)
        store.set_model_alias("churn", "champion", 1)
        assert _keys(store, "name = 'churn' and aliases = 'champion'") == [("churn", 1)]

    def test_bad_version_filter_raises_invalid_filter(self, store: BaseStore) -> None:
        seed_versions(store)
        with pytest.raises(InvalidFilterError):
            store.search_model_versions("version >=")

    def test_unknown_version_filter_key_raises_invalid_filter(self, store: BaseStore) -> None:
        seed_versions(store)
        with pytest.raises(InvalidFilterError):
            store.search_model_versions("params.lr = '0.1'")

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            (
                ["name DESC", "version ASC"],
                [("fraud", 1), ("fraud", 2), ("churn", 1), ("churn", 2), ("churn", 3)],
            ),
            (
                ["name ASC", "version ASC"],
                [("churn", 1), ("churn", 2), ("churn", 3), ("fraud", 1), ("fraud", 2)],
            ),
            (
                ["name DESC", "version DESC"],
                [("fraud", 2), ("fraud", 1), ("churn", 3), ("churn", 2), ("churn", 1)],
            ),
        ],
    )
    def test_version_order_by(
        self, store: BaseStore, order_by: list[str], expected: list[Key]
    ) -> None:
        seed_versions(store)
        assert _keys(store, order_by=order_by) == expected

    def test_pages_cover_every_version_once_in_order(self, store: BaseStore) -> None:
        seed_versions(store)
        pages: list[list[Key]] = []
        token: str | None = None
        for _ in range(_MAX_PAGES):
            page = store.search_model_versions(max_results=2, page_token=token)
            pages.append([(v.name, v.version) for v in page])
            token = page.next_page_token
            if token is None:
                break
        assert pages == [_ALL[0:2], _ALL[2:4], _ALL[4:5]]

    def test_filtered_pages_keep_the_filter(self, store: BaseStore) -> None:
        seed_versions(store)
        first = store.search_model_versions("flavor = 'sklearn'", max_results=2)
        assert first.next_page_token is not None
        rest = store.search_model_versions(
            "flavor = 'sklearn'", max_results=2, page_token=first.next_page_token
        )
        assert [(v.name, v.version) for v in [*first, *rest]] == [
            ("churn", 3),
            ("churn", 1),
            ("fraud", 1),
        ]
        assert rest.next_page_token is None

    def test_found_version_equals_get(self, store: BaseStore) -> None:
        seed_versions(store)
        (found,) = store.search_model_versions("aliases = 'champion' and name = 'churn'")
        assert found == store.get_model_version("churn", 3)
