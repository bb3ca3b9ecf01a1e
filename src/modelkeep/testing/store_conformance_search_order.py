"""Conformance tests for ``search_runs`` ordering, pagination and argument checks.

Part of :class:`modelkeep.testing.store_conformance.StoreConformance`; the four seeded runs are
described in :mod:`modelkeep.testing.store_conformance_search`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from modelkeep.exceptions import InvalidFilterError, InvalidInputError
from modelkeep.store.base import BaseStore
from modelkeep.testing.store_conformance_search import search_names, seed_runs
from modelkeep.testing.store_conformance_tracking import T0, new_experiment, new_run

__all__ = ["SearchOrderConformance", "SearchPaginationConformance"]

# The most runs one page may ask for; restated here because the suite is the spec.
MAX_RESULTS_LIMIT = 50_000

# A bound on page walks so a backend that never ends its pages fails instead of hanging.
_MAX_PAGES = 100


def _walk_pages(
    store: BaseStore,
    experiment_ids: Sequence[str],
    max_results: int,
    filter_string: str = "",
    order_by: Sequence[str] = (),
) -> list[list[str]]:
    """Run ids of every page, following page tokens until the last page."""
    pages: list[list[str]] = []
    token: str | None = None
    for _ in range(_MAX_PAGES):
        page = store.search_runs(
            experiment_ids, filter_string, order_by, max_results=max_results, page_token=token
        )
        pages.append([run.id for run in page])
        token = page.next_page_token
        if token is None:
            return pages
    raise AssertionError(f"no last page after {_MAX_PAGES} pages")


def _make_runs(store: BaseStore, count: int, same_start: bool = False) -> str:
    """``count`` runs named r0, r1, ... (distinct start times unless ``same_start``)."""
    exp_id = new_experiment(store, "paged")
    for i in range(count):
        start = T0 if same_start else T0 + i
        run = new_run(store, exp_id, run_name=f"r{i}", start_time=start)
        store.log_metric(run.id, "m", float(i % 3), timestamp=T0)
    return exp_id


class SearchOrderConformance:
    """``order_by`` on every kind of key, NULLs last, newest first by default."""

    def test_default_order_is_newest_first(self, store: BaseStore) -> None:
        exp_id = seed_runs(store)
        assert search_names(store, [exp_id]) == ["Beta-4", "beta-3", "alpha-2", "alpha-1"]

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            ("metrics.acc DESC", ["alpha-1", "beta-3", "alpha-2", "Beta-4"]),
            ("metrics.acc ASC", ["alpha-2", "beta-3", "alpha-1", "Beta-4"]),
            ("metrics.acc", ["alpha-2", "beta-3", "alpha-1", "Beta-4"]),
            ("params.lr ASC", ["alpha-2", "alpha-1", "beta-3", "Beta-4"]),
            ("params.lr DESC", ["beta-3", "alpha-1", "alpha-2", "Beta-4"]),
            ("tags.team ASC", ["alpha-1", "alpha-2", "beta-3", "Beta-4"]),
            ("tags.team DESC", ["beta-3", "alpha-2", "alpha-1", "Beta-4"]),
            ("attributes.start_time ASC", ["alpha-1", "alpha-2", "beta-3", "Beta-4"]),
            ("attributes.end_time ASC", ["alpha-1", "alpha-2", "Beta-4", "beta-3"]),
            ("attributes.end_time DESC", ["Beta-4", "alpha-2", "alpha-1", "beta-3"]),
            ("attributes.status ASC", ["alpha-2", "alpha-1", "Beta-4", "beta-3"]),
        ],
    )
    def test_order_by_key_with_nulls_last(
        self, store: BaseStore, order_by: str, expected: list[str]
    ) -> None:
        exp_id = seed_runs(store)
        assert search_names(store, [exp_id], order_by=[order_by]) == expected

    @pytest.mark.parametrize(
        ("second_key", "expected"),
        [
            ("attributes.start_time DESC", ["c", "b", "a"]),
            ("attributes.start_time ASC", ["c", "a", "b"]),
        ],
    )
    def test_second_order_key_breaks_ties(
        self, store: BaseStore, second_key: str, expected: list[str]
    ) -> None:
        exp_id = new_experiment(store)
        for i, (name, group) in enumerate((("a", 1.0), ("b", 1.0), ("c", 0.0))):
            run = new_run(store, exp_id, run_name=name, start_time=T0 + i)
            store.log_metric(run.id, "group", group, timestamp=T0)
        order = ["metrics.group ASC", second_key]
        assert search_names(store, [exp_id], order_by=order) == expected

    def test_order_and_filter_combine(self, store: BaseStore) -> None:
        exp_id = seed_runs(store)
        names = search_names(store, [exp_id], "params.lr IS NOT NULL", ["metrics.loss DESC"])
        assert names == ["alpha-2", "alpha-1", "beta-3"]

    @pytest.mark.parametrize(
        "order_by", ["metrics.acc SIDEWAYS", "colour.acc ASC", "attributes.colour DESC", "acc"]
    )
    def test_malformed_order_by_raises_invalid_filter(
        self, store: BaseStore, order_by: str
    ) -> None:
        exp_id = seed_runs(store)
        with pytest.raises(InvalidFilterError):
            store.search_runs([exp_id], order_by=[order_by])


class SearchPaginationConformance:
    """Page tokens walk every run exactly once; ``max_results`` is bounded."""

    def test_pages_have_max_results_runs(self, store: BaseStore) -> None:
        exp_id = _make_runs(store, 7)
        assert [len(page) for page in _walk_pages(store, [exp_id], 3)] == [3, 3, 1]

    def test_pages_continue_the_order_of_one_search(self, store: BaseStore) -> None:
        exp_id = _make_runs(store, 7)
        whole = [run.id for run in store.search_runs([exp_id])]
        assert sum(_walk_pages(store, [exp_id], 3), []) == whole

    def test_single_page_has_no_next_token(self, store: BaseStore) -> None:
        exp_id = _make_runs(store, 3)
        assert store.search_runs([exp_id], max_results=10).next_page_token is None

    def test_partial_page_has_next_token(self, store: BaseStore) -> None:
        exp_id = _make_runs(store, 3)
        assert store.search_runs([exp_id], max_results=2).next_page_token is not None

    def test_pages_with_tied_start_times_cover_every_run_once(self, store: BaseStore) -> None:
        exp_id = _make_runs(store, 9, same_start=True)
        ids = sum(_walk_pages(store, [exp_id], 2), [])
        assert len(ids) == len(set(ids)) == 9

    def test_pages_with_filter_and_tied_order_cover_matches_once(self, store: BaseStore) -> None:
        exp_id = _make_runs(store, 10)
        ids = sum(_walk_pages(store, [exp_id], 2, "metrics.m >= 1", ["metrics.m DESC"]), [])
        whole = store.search_runs([exp_id], "metrics.m >= 1", ["metrics.m DESC"])
        assert len(ids) == len(set(ids)) == 6 and set(ids) == {run.id for run in whole}

    @pytest.mark.parametrize("max_results", [0, -1, MAX_RESULTS_LIMIT + 1])
    def test_max_results_out_of_range_is_invalid(self, store: BaseStore, max_results: int) -> None:
        exp_id = new_experiment(store)
        with pytest.raises(InvalidInputError) as info:
            store.search_runs([exp_id], max_results=max_results)
        assert info.value.field

    def test_max_results_at_limit_is_accepted(self, store: BaseStore) -> None:
        exp_id = _make_runs(store, 2)
        assert len(store.search_runs([exp_id], max_results=MAX_RESULTS_LIMIT)) == 2

    def test_garbage_page_token_is_invalid(self, store: BaseStore) -> None:
        exp_id = _make_runs(store, 2)
        with pytest.raises(InvalidInputError):
            store.search_runs([exp_id], page_token="not a token!")

    @pytest.mark.parametrize("descending", [True, False])
    def test_pages_cross_from_valued_to_missing_runs(
        self, store: BaseStore, descending: bool
    ) -> None:
        exp_id = new_experiment(store, "half")
        for i in range(7):
            run = new_run(store, exp_id, run_name=f"r{i}", start_time=T0 + i)
            if i % 2 == 0:  # r0, r2, r4, r6 have the metric; r1, r3, r5 do not
                store.log_metric(run.id, "m", float(i), timestamp=T0)
        order = ["metrics.m DESC" if descending else "metrics.m ASC"]
        whole = [run.name for run in store.search_runs([exp_id], order_by=order)]
        valued = ["r6", "r4", "r2", "r0"] if descending else ["r0", "r2", "r4", "r6"]
        assert whole == [*valued, "r5", "r3", "r1"]
        for size in (1, 2, 3, 4, 5):
            pages = _walk_pages(store, [exp_id], size, order_by=order)
            names = {run.id: run.name for run in store.search_runs([exp_id])}
            assert [names[i] for i in sum(pages, [])] == whole
