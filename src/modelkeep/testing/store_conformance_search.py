"""Conformance tests for the ``search_runs`` filter language.

Part of :class:`modelkeep.testing.store_conformance.StoreConformance`. Most tests search four
runs made by :func:`seed_runs`:

======== ========== ===== ===== ====== ======== ===== ======== ==========
run      start_time acc   loss  lr     model    team  status   end_time
======== ========== ===== ===== ====== ======== ===== ======== ==========
alpha-1  T0+1       0.9   0.3   0.1    tree     Alpha FINISHED T0+100
alpha-2  T0+2       0.5   0.7   0.01   linear   beta  FAILED   T0+200
beta-3   T0+3       0.7   -     0.2    Tree     gamma RUNNING  -
Beta-4   T0+4       -     -     -      forest   -     KILLED   T0+400
======== ========== ===== ===== ====== ======== ===== ======== ==========
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pytest

from modelkeep.entities import Metric, Param, RunStatus, RunTag
from modelkeep.exceptions import InvalidFilterError
from modelkeep.store.base import BaseStore
from modelkeep.testing.store_conformance_tracking import T0, new_experiment, new_run

__all__ = ["SearchFilterConformance", "search_names", "seed_runs"]


class _SeedRun(NamedTuple):
    name: str
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    status: RunStatus
    end_time: int | None


_SEED = [
    _SeedRun(
        "alpha-1",
        {"acc": 0.9, "loss": 0.3},
        {"lr": "0.1", "model": "tree"},
        {"team": "Alpha"},
        RunStatus.FINISHED,
        T0 + 100,
    ),
    _SeedRun(
        "alpha-2",
        {"acc": 0.5, "loss": 0.7},
        {"lr": "0.01", "model": "linear"},
        {"team": "beta", "note": "a and b"},
        RunStatus.FAILED,
        T0 + 200,
    ),
    _SeedRun(
        "beta-3",
        {"acc": 0.7},
        {"lr": "0.2", "model": "Tree"},
        {"team": "gamma"},
        RunStatus.RUNNING,
        None,
    ),
    _SeedRun("Beta-4", {}, {"model": "forest"}, {}, RunStatus.KILLED, T0 + 400),
]


def seed_runs(store: BaseStore, experiment_name: str = "search") -> str:
    """Create the four runs of the module docstring; return their experiment's id."""
    exp_id = new_experiment(store, experiment_name)
    for i, (name, metrics, params, tags, status, end) in enumerate(_SEED, start=1):
        run = new_run(store, exp_id, run_name=name, start_time=T0 + i)
        store.log_batch(
            run.id,
            metrics=[Metric(k, v, 0, T0 + i) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if status is not RunStatus.RUNNING:
            store.update_run(run.id, status=status, end_time=end)
    return exp_id


def search_names(
    store: BaseStore,
    experiment_ids: Sequence[str],
    filter_string: str = "",
    order_by: Sequence[str] = (),
    view: str = "active",
) -> list[str]:
    """Names of the runs ``search_runs`` returns (at most 1000), in its order."""
    page = store.search_runs(experiment_ids, filter_string, order_by, view=view)
    return [run.name for run in page]


class SearchFilterConformance:
    """Each operator on metrics, params, tags and attributes, and their combinations."""

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("metrics.acc > 0.6", {"alpha-1", "beta-3"}),
            ("metrics.acc >= 0.7", {"alpha-1", "beta-3"}),
            ("metrics.acc < 0.7", {"alpha-2"}),
            ("metrics.acc <= 0.7", {"alpha-2", "beta-3"}),
            ("metrics.acc = 0.5", {"alpha-2"}),
            ("metrics.acc != 0.5", {"alpha-1", "beta-3"}),
            ("metrics.loss IS NULL", {"beta-3", "Beta-4"}),
            ("metrics.loss IS NOT NULL", {"alpha-1", "alpha-2"}),
            ("metrics.acc > -1.5", {"alpha-1", "alpha-2", "beta-3"}),
        ],
    )
    def test_metric_operator(
        self, store: BaseStore, filter_string: str, expected: set[str]
    ) -> None:
        exp_id = seed_runs(store)
        assert set(search_names(store, [exp_id], filter_string)) == expected

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("params.lr = '0.1'", {"alpha-1"}),
            ("params.model != 'tree'", {"alpha-2", "beta-3", "Beta-4"}),
            ("params.model IN ('tree', 'forest')", {"alpha-1", "Beta-4"}),
            ("params.model NOT IN ('tree', 'forest')", {"alpha-2", "beta-3"}),
            ("params.model LIKE 't%'", {"alpha-1"}),
            ("params.model ILIKE 't%'", {"alpha-1", "beta-3"}),
            ("params.model LIKE '_ree'", {"alpha-1", "beta-3"}),
            ("params.lr IS NULL", {"Beta-4"}),
            ("params.lr IS NOT NULL", {"alpha-1", "alpha-2", "beta-3"}),
            ("params.lr > '0.05'", {"alpha-1", "beta-3"}),
        ],
    )
    def test_param_operator(
        self, store: BaseStore, filter_string: str, expected: set[str]
    ) -> None:
        exp_id = seed_runs(store)
        assert set(search_names(store, [exp_id], filter_string)) == expected

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("tags.team = 'beta'", {"alpha-2"}),
            ("tags.team IN ('Alpha', 'gamma')", {"alpha-1", "beta-3"}),
            ("tags.team LIKE '%mm%'", {"beta-3"}),
            ("tags.team LIKE 'alpha'", set()),
            ("tags.team ILIKE 'ALPHA'", {"alpha-1"}),
            ("tags.team IS NULL", {"Beta-4"}),
            ("tags.team IS NOT NULL", {"alpha-1", "alpha-2", "beta-3"}),
            ("tags.note = 'a and b'", {"alpha-2"}),
        ],
    )
    def test_tag_operator(self, store: BaseStore, filter_string: str, expected: set[str]) -> None:
        exp_id = seed_runs(store)
        assert set(search_names(store, [exp_id], filter_string)) == expected

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("attributes.status = 'FINISHED'", {"alpha-1"}),
            ("attributes.status != 'RUNNING'", {"alpha-1", "alpha-2", "Beta-4"}),
            ("attributes.status IN ('FAILED', 'KILLED')", {"alpha-2", "Beta-4"}),
            ("attributes.status NOT IN ('FAILED', 'KILLED')", {"alpha-1", "beta-3"}),
            ("attributes.run_name = 'beta-3'", {"beta-3"}),
            ("attributes.run_name LIKE 'alpha%'", {"alpha-1", "alpha-2"}),
            ("attributes.run_name LIKE 'beta%'", {"beta-3"}),
            ("attributes.run_name ILIKE 'beta%'", {"beta-3", "Beta-4"}),
            (f"attributes.start_time > {T0 + 2}", {"beta-3", "Beta-4"}),
            (f"attributes.start_time <= {T0 + 2}", {"alpha-1", "alpha-2"}),
            (f"attributes.start_time = {T0 + 3}", {"beta-3"}),
            (f"attributes.end_time >= {T0 + 200}", {"alpha-2", "Beta-4"}),
            (f"attributes.end_time < {T0 + 200}", {"alpha-1"}),
            ("attributes.end_time IS NULL", {"beta-3"}),
            ("attributes.end_time IS NOT NULL", {"alpha-1", "alpha-2", "Beta-4"}),
        ],
    )
    def test_attribute_operator(
        self, store: BaseStore, filter_string: str, expected: set[str]
    ) -> None:
        exp_id = seed_runs(store)
        assert set(search_names(store, [exp_id], filter_string)) == expected

    @pytest.mark.parametrize(
        ("filter_string", "expected"),
        [
            ("metrics.acc > 0.6 and params.model = 'tree'", {"alpha-1"}),
            ("params.model = 'forest' or tags.team = 'beta'", {"alpha-2", "Beta-4"}),
            # ``and`` binds tighter than ``or``, as in SQL.
            ("metrics.acc > 0.8 or params.model = 'linear' and tags.team = 'gamma'", {"alpha-1"}),
            ("(metrics.acc > 0.8 or params.model = 'linear') and tags.team = 'beta'", {"alpha-2"}),
            (
                "((params.lr = '0.1') or (params.lr = '0.2' and metrics.acc < 0.8))",
                {"alpha-1", "beta-3"},
            ),
        ],
    )
    def test_boolean_combination(
        self, store: BaseStore, filter_string: str, expected: set[str]
    ) -> None:
        exp_id = seed_runs(store)
        assert set(search_names(store, [exp_id], filter_string)) == expected

    def test_search_compares_latest_metric_value(self, store: BaseStore) -> None:
        run = new_run(store, run_name="r")
        store.log_metric(run.id, "acc", 0.9, step=5, timestamp=T0)
        store.log_metric(run.id, "acc", 0.1, step=3, timestamp=T0 + 1)
        assert search_names(store, [run.experiment_id], "metrics.acc > 0.5") == ["r"]

    def test_empty_filter_returns_all_runs(self, store: BaseStore) -> None:
        exp_id = seed_runs(store)
        assert len(search_names(store, [exp_id])) == 4

    def test_search_spans_several_experiments(self, store: BaseStore) -> None:
        first, second, third = (new_experiment(store, n) for n in ("e1", "e2", "e3"))
        for exp_id, name in ((first, "a"), (second, "b"), (third, "c")):
            new_run(store, exp_id, run_name=name)
        assert set(search_names(store, [first, second])) == {"a", "b"}

    def test_deleted_runs_are_excluded_by_default(self, store: BaseStore) -> None:
        exp_id = new_experiment(store)
        store.delete_run(new_run(store, exp_id, run_name="gone").id)
        new_run(store, exp_id, run_name="kept")
        assert search_names(store, [exp_id]) == ["kept"]

    @pytest.mark.parametrize(
        ("view", "expected"), [("deleted", {"gone"}), ("all", {"gone", "kept"})]
    )
    def test_search_view(self, store: BaseStore, view: str, expected: set[str]) -> None:
        exp_id = new_experiment(store)
        store.delete_run(new_run(store, exp_id, run_name="gone").id)
        new_run(store, exp_id, run_name="kept")
        assert set(search_names(store, [exp_id], view=view)) == expected

    def test_restored_run_is_found_again(self, store: BaseStore) -> None:
        run = new_run(store, run_name="back")
        store.delete_run(run.id)
        store.restore_run(run.id)
        assert search_names(store, [run.experiment_id]) == ["back"]

    @pytest.mark.parametrize(
        "filter_string",
        [
            "metrics.acc >",
            "metrics.acc > 0.5 and",
            "metrics.acc >> 0.5",
            "(metrics.acc > 0.5",
            "metrics.acc > 0.5)",
            "params.lr = '0.1",
            "acc > 0.5",
            "unknown.acc > 0.5",
            "attributes.colour = 'red'",
            "params.lr IN ()",
            "metrics.acc 0.5",
        ],
    )
    def test_malformed_filter_raises_invalid_filter(
        self, store: BaseStore, filter_string: str
    ) -> None:
        exp_id = seed_runs(store)
        with pytest.raises(InvalidFilterError):
            store.search_runs([exp_id], filter_string)
