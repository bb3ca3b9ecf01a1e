"""Conformance tests for ``search_registered_models``: filters, ordering, pagination.

Part of :class:`modelkeep.testing.registry_conformance.RegistryConformance`. Most tests search the
four models made by :func:`seed_models`, created in this order:

======== ============== ====
model    description    team
======== ============== ====
fraud    flags fraud    b
churn    predicts churn a
scoring  ranks leads    -
ranking  (empty)        a
======== ============== ====
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from modelkeep.exceptions import InvalidFilterError
from modelkeep.store.base import BaseStore

__all__ = ["RegisteredModelSearchConformance", "seed_models"]

_SEED = [
    ("fraud", "flags fraud", {"team": "b"}),
    ("churn", "predicts churn", {"team": "a"}),
    ("scoring", "ranks leads", {}),
    ("ranking", "", {"team": "a"}),
]

# A bound on page walks so a backend that never ends its pages fails instead of hanging.
_MAX_PAGES = 100


def _tick() -> None:
    # Stores stamp times in milliseconds; a short pause keeps creation times distinct.
    time.sleep(0.005)


def seed_models(store: BaseStore) -> None:
    """Create the four models of the module docstring, each a few milliseconds apart."""
    for name, description, tags in _SEED:
        store.create_registered_model(name, description=description, tags=tags)
        _tick()


def _names(store: BaseStore, filter_string: str = "", order_by: Sequence[str] = ()) -> list[str]:
    return [m.name for m in store.search_registered_models(filter_string, order_by)]


def _walk_pages(store: BaseStore, max_results: int) -> list[list[str]]:
    pages: list[list[str]] = []
    token: str | None = None
    for _ in range(_MAX_PAGES):
        page = store.search_registered_models(max_results=max_results, page_token=token)
        pages.append([m.name for m in page])
        token = page.next_page_token
        if token is None:
            return pages
    raise AssertionError(f"no last page after {_MAX_PAGES} pages")


class RegisteredModelSearchConformance:
    """Filter identifiers, name order by default, ``order_by`` and page tokens."""

    def test_default_order_is_name_ascending(self, store: BaseStore) -> None:
        seed_models(store)
        assert _names(store) == ["churn", "fraud", "ranking", "scoring"]

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("name = 'fraud'", ["fraud"]),
            ("name LIKE '%ing'", ["ranking", "scoring"]),
            ("description = 'flags fraud'", ["fraud"]),
            ("tags.team = 'a'", ["churn", "ranking"]),
            ("name = 'churn' and tags.team = 'a'", ["churn"]),
            ("name = 'fraud' and tags.team = 'a'", []),
            ("tags.team = 'a' or name = 'scoring'", ["churn", "ranking", "scoring"]),
        ],
    )
    def test_model_filter(self, store: BaseStore, filter_string: str, expected: list[str]) -> None:
        seed_models(store)
        assert _names(store, filter_string) == expected

    def test_filter_on_creation_time(self, store: BaseStore) -> None:
        seed_models(store)
        cutoff = store.get_registered_model("scoring").creation_time
        assert _names(store, f"creation_time >= {cutoff}") == ["ranking", "scoring"]

    def test_bad_model_filter_raises_invalid_filter(self, store: BaseStore) -> None:
        seed_models(store)
        with pytest.raises(InvalidFilterError):
            store.search_registered_models("name = ")

    def test_unknown_model_filter_key_raises_invalid_filter(self, store: BaseStore) -> None:
        seed_models(store)
        with pytest.raises(InvalidFilterError):
            store.search_registered_models("metrics.acc > 0.5")

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            (["name DESC"], ["scoring", "ranking", "fraud", "churn"]),
            (["name ASC"], ["churn", "fraud", "ranking", "scoring"]),
            (["creation_time ASC"], ["fraud", "churn", "scoring", "ranking"]),
            (["creation_time DESC"], ["ranking", "scoring", "churn", "fraud"]),
        ],
    )
    def test_model_order_by(
        self, store: BaseStore, order_by: list[str], expected: list[str]
    ) -> None:
        seed_models(store)
        assert _names(store, order_by=order_by) == expected

    def test_order_by_last_update_time(self, store: BaseStore) -> None:
        seed_models(store)
        store.update_registered_model("churn", description="now first")
        assert _names(store, order_by=["last_update_time DESC"])[0] == "churn"

    def test_pages_cover_every_model_once_in_order(self, store: BaseStore) -> None:
        seed_models(store)
        store.create_registered_model("zeta")
        assert _walk_pages(store, max_results=2) == [
            ["churn", "fraud"],
            ["ranking", "scoring"],
            ["zeta"],
        ]
