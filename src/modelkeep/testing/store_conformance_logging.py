"""Conformance tests for logging into a run: params, metrics, tags, dataset inputs.

Part of :class:`modelkeep.testing.store_conformance.StoreConformance`.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from modelkeep.entities import DatasetInput, Metric, Param, RunStatus, RunTag
from modelkeep.exceptions import ImmutableParamError, InvalidInputError, NotFoundError
from modelkeep.store.base import BaseStore
from modelkeep.testing.store_conformance_tracking import MISSING_ID, T0, new_run

# The documented input limits, restated here: the suite is the spec a backend is checked against.
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000

__all__ = [
    "FinishRunConformance",
    "InputConformance",
    "MetricConformance",
    "ParamTagConformance",
    "ValidationConformance",
]


class ParamTagConformance:
    """Params are immutable, tags overwrite, batches are atomic."""

    def test_log_param_is_stored_as_string(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_param(run.id, "n_trees", 100)
        assert dict(store.get_run(run.id).params) == {"n_trees": "100"}

    def test_relogging_param_with_same_value_is_a_noop(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_batch(run.id, params=[Param("lr", "0.1")])
        store.log_batch(run.id, params=[Param("lr", "0.1")])
        assert dict(store.get_run(run.id).params) == {"lr": "0.1"}

    def test_relogging_param_with_other_value_raises(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_param(run.id, "lr", "0.1")
        with pytest.raises(ImmutableParamError):
            store.log_param(run.id, "lr", "0.2")

    def test_rejected_param_change_keeps_old_value(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_param(run.id, "lr", "0.1")
        with pytest.raises(ImmutableParamError):
            store.log_param(run.id, "lr", "0.2")
        assert store.get_run(run.id).params["lr"] == "0.1"

    def test_batch_with_conflicting_param_stores_nothing(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_param(run.id, "lr", "0.1")
        with pytest.raises(ImmutableParamError):
            store.log_batch(
                run.id,
                metrics=[Metric("loss", 0.5, 0, T0)],
                params=[Param("depth", "3"), Param("lr", "0.2")],
                tags=[RunTag("team", "a")],
            )
        got = store.get_run(run.id)
        assert (dict(got.metrics), dict(got.params), dict(got.tags)) == ({}, {"lr": "0.1"}, {})
        assert store.get_metric_history(run.id, "loss") == []

    def test_params_of_one_run_do_not_constrain_another(self, store: BaseStore) -> None:
        run, other = new_run(store), new_run(store)
        store.log_param(run.id, "lr", "0.1")
        store.log_param(other.id, "lr", "0.2")
        assert store.get_run(other.id).params["lr"] == "0.2"

    def test_tag_is_overwritten(self, store: BaseStore) -> None:
        run = new_run(store, tags={"stage": "dev"})
        store.set_tag(run.id, "stage", "prod")
        assert dict(store.get_run(run.id).tags) == {"stage": "prod"}

    def test_log_batch_stores_metrics_params_and_tags(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_batch(
            run.id,
            metrics=[Metric("acc", 0.9, 1, T0)],
            params=[Param("lr", "0.1")],
            tags=[RunTag("team", "a")],
        )
        got = store.get_run(run.id)
        assert (dict(got.metrics), dict(got.params), dict(got.tags)) == (
            {"acc": 0.9},
            {"lr": "0.1"},
            {"team": "a"},
        )

    def test_log_batch_to_unknown_run_raises_not_found(self, store: BaseStore) -> None:
        with pytest.raises(NotFoundError):
            store.log_batch(MISSING_ID, params=[Param("lr", "0.1")])

    def test_earlier_snapshot_does_not_change(self, store: BaseStore) -> None:
        run = new_run(store, tags={"stage": "dev"})
        store.log_metric(run.id, "loss", 1.0, step=0, timestamp=T0)
        before = store.get_run(run.id)
        store.log_batch(
            run.id,
            metrics=[Metric("loss", 0.5, 1, T0 + 1)],
            params=[Param("lr", "0.1")],
            tags=[RunTag("stage", "prod")],
        )
        store.update_run(run.id, run_name="renamed")
        assert (dict(before.metrics), dict(before.params), dict(before.tags)) == (
            {"loss": 1.0},
            {},
            {"stage": "dev"},
        )
        assert before.name == run.name

    def test_earlier_experiment_snapshot_does_not_change(self, store: BaseStore) -> None:
        exp = store.create_experiment("churn", tags={"team": "a"})
        store.set_experiment_tag(exp.id, "team", "b")
        store.delete_experiment(exp.id)
        assert (dict(exp.tags), exp.lifecycle_stage.value) == ({"team": "a"}, "active")

    def test_threads_may_share_one_store(self, store: BaseStore) -> None:
        run_ids = [new_run(store).id for _ in range(4)]

        def log(run_id: str) -> None:
            for step in range(20):
                store.log_metric(run_id, "loss", float(step), step=step, timestamp=T0 + step)

        # Executor futures re-raise a thread's exception here instead of losing it.
        with ThreadPoolExecutor(max_workers=4) as pool:
            for future in [pool.submit(log, run_id) for run_id in run_ids]:
                future.result()
        assert [len(store.get_metric_history(rid, "loss")) for rid in run_ids] == [20] * 4


class MetricConformance:
    """Metric history, latest values and non-finite numbers."""

    def test_history_ordered_by_step_then_timestamp(self, store: BaseStore) -> None:
        run = new_run(store)
        points = [(2, T0 + 1), (1, T0 + 9), (2, T0), (0, T0 + 5)]
        store.log_batch(run.id, metrics=[Metric("m", float(s), s, t) for s, t in points])
        history = store.get_metric_history(run.id, "m")
        assert [(m.step, m.timestamp) for m in history] == [
            (0, T0 + 5),
            (1, T0 + 9),
            (2, T0),
            (2, T0 + 1),
        ]

    def test_history_points_round_trip(self, store: BaseStore) -> None:
        run = new_run(store)
        point = Metric("loss", 0.1 + 0.2, 10**12, T0 + 123)
        store.log_batch(run.id, metrics=[point])
        assert store.get_metric_history(run.id, "loss") == [point]

    @pytest.mark.parametrize("value", [1e-300, 1.7976931348623157e308, -123456789.123456789])
    def test_extreme_finite_values_round_trip(self, store: BaseStore, value: float) -> None:
        run = new_run(store)
        store.log_metric(run.id, "m", value, timestamp=T0)
        assert store.get_metric_history(run.id, "m")[0].value == value

    def test_nan_and_infinities_round_trip_in_history(self, store: BaseStore) -> None:
        run = new_run(store)
        values = [math.nan, math.inf, -math.inf]
        store.log_batch(run.id, metrics=[Metric("m", v, i, T0) for i, v in enumerate(values)])
        got = [m.value for m in store.get_metric_history(run.id, "m")]
        assert math.isnan(got[0]) and got[1:] == [math.inf, -math.inf]

    def test_nan_and_infinities_round_trip_as_latest(self, store: BaseStore) -> None:
        run = new_run(store)
        values = {"nan": math.nan, "pinf": math.inf, "ninf": -math.inf}
        store.log_batch(run.id, metrics=[Metric(k, v, 0, T0) for k, v in values.items()])
        latest = store.get_run(run.id).metrics
        assert math.isnan(latest["nan"])
        assert (latest["pinf"], latest["ninf"]) == (math.inf, -math.inf)

    def test_latest_is_highest_step_not_last_logged(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_metric(run.id, "loss", 0.5, step=5, timestamp=T0)
        store.log_metric(run.id, "loss", 0.9, step=3, timestamp=T0 + 10)
        assert store.get_run(run.id).metrics["loss"] == 0.5

    def test_latest_on_same_step_is_highest_timestamp(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_metric(run.id, "loss", 0.2, step=1, timestamp=T0 + 10)
        store.log_metric(run.id, "loss", 0.7, step=1, timestamp=T0)
        assert store.get_run(run.id).metrics["loss"] == 0.2

    def test_latest_within_one_batch(self, store: BaseStore) -> None:
        run = new_run(store)
        points = [Metric("loss", 0.1, 9, T0), Metric("loss", 0.3, 2, T0 + 5)]
        store.log_batch(run.id, metrics=points)
        assert store.get_run(run.id).metrics["loss"] == 0.1

    def test_many_points_in_one_batch_are_all_stored(self, store: BaseStore) -> None:
        run = new_run(store)
        points = [Metric("loss", i / 10_000, i, T0 + i) for i in range(10_000)]
        store.log_batch(run.id, metrics=points)
        history = store.get_metric_history(run.id, "loss")
        assert [m.step for m in history] == list(range(10_000))
        assert store.get_run(run.id).metrics["loss"] == 0.9999

    def test_history_of_unknown_key_is_empty(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_metric(run.id, "loss", 1.0, timestamp=T0)
        assert store.get_metric_history(run.id, "acc") == []

    def test_history_of_unknown_run_raises_not_found(self, store: BaseStore) -> None:
        with pytest.raises(NotFoundError):
            store.get_metric_history(MISSING_ID, "loss")

    def test_metrics_of_runs_are_separate(self, store: BaseStore) -> None:
        run, other = new_run(store), new_run(store)
        store.log_metric(run.id, "loss", 1.0, timestamp=T0)
        store.log_metric(other.id, "loss", 2.0, timestamp=T0)
        assert [m.value for m in store.get_metric_history(run.id, "loss")] == [1.0]


class FinishRunConformance:
    """``finish_run`` writes the last batch and ends the run; a bad batch ends nothing."""

    def test_finish_run_logs_batch_and_ends_run(self, store: BaseStore) -> None:
        run = new_run(store)
        store.finish_run(
            run.id, RunStatus.FINISHED, T0 + 5, [Metric("m", 1.0, 0, T0)], [Param("p", "1")]
        )
        got = store.get_run(run.id)
        assert (got.status, got.end_time) == (RunStatus.FINISHED, T0 + 5)
        assert (got.metrics, got.params) == ({"m": 1.0}, {"p": "1"})

    def test_finish_run_with_conflicting_param_changes_nothing(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_param(run.id, "p", "1")
        with pytest.raises(ImmutableParamError):
            store.finish_run(
                run.id, RunStatus.FINISHED, T0 + 5, [Metric("m", 1.0, 0, T0)], [Param("p", "2")]
            )
        got = store.get_run(run.id)
        assert got.status is RunStatus.RUNNING
        assert got.metrics == {}


class InputConformance:
    """Dataset inputs recorded with log_inputs."""

    @staticmethod
    def _dataset(context: str = "training") -> DatasetInput:
        schema = {"columns": [{"name": "age", "type": "int64"}], "target": "churn", "n": 2}
        return DatasetInput("train", "f" * 64, "s3://b/train.csv", schema, 1000, context)

    def test_inputs_round_trip_with_all_fields(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_inputs(run.id, [self._dataset()])
        assert store.get_run(run.id).inputs == (self._dataset(),)

    def test_input_without_row_count_round_trips(self, store: BaseStore) -> None:
        run = new_run(store)
        dataset = DatasetInput("eval", "e" * 64)
        store.log_inputs(run.id, [dataset])
        assert store.get_run(run.id).inputs == (dataset,)

    def test_duplicate_input_is_a_noop(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_inputs(run.id, [self._dataset()])
        store.log_inputs(run.id, [self._dataset()])
        assert len(store.get_run(run.id).inputs) == 1

    def test_same_dataset_in_other_context_is_recorded(self, store: BaseStore) -> None:
        run = new_run(store)
        store.log_inputs(run.id, [self._dataset("training"), self._dataset("validation")])
        contexts = sorted(d.context for d in store.get_run(run.id).inputs)
        assert contexts == ["training", "validation"]

    def test_log_inputs_to_unknown_run_raises_not_found(self, store: BaseStore) -> None:
        with pytest.raises(NotFoundError):
            store.log_inputs(MISSING_ID, [self._dataset()])


_LONG_KEY = "k" * (MAX_KEY_LENGTH + 1)


@dataclass(frozen=True)
class _Batch:
    metrics: list[Metric] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)


class ValidationConformance:
    """Bad values raise InvalidInputError naming the field, and store nothing."""

    def test_unknown_experiment_view_is_invalid(self, store: BaseStore) -> None:
        with pytest.raises(InvalidInputError):
            store.list_experiments(view="bogus")

    def test_unknown_search_view_is_invalid(self, store: BaseStore) -> None:
        exp_id = store.create_experiment("exp").id
        with pytest.raises(InvalidInputError):
            store.search_runs([exp_id], view="bogus")

    @pytest.mark.parametrize(
        "batch",
        [
            _Batch(metrics=[Metric("", 1.0, 0, T0)]),
            _Batch(metrics=[Metric(_LONG_KEY, 1.0, 0, T0)]),
            _Batch(params=[Param("", "v")]),
            _Batch(params=[Param(_LONG_KEY, "v")]),
            _Batch(params=[Param("p", "v" * (MAX_PARAM_VALUE_LENGTH + 1))]),
            _Batch(tags=[RunTag("", "v")]),
            _Batch(tags=[RunTag(_LONG_KEY, "v")]),
            _Batch(tags=[RunTag("t", "v" * (MAX_TAG_VALUE_LENGTH + 1))]),
            _Batch(metrics=[Metric("m", 1.0, 2**63, T0)]),
            _Batch(metrics=[Metric("m", 1.0, 0, 2**63)]),
        ],
        ids=[
            "empty-metric-key",
            "long-metric-key",
            "empty-param-key",
            "long-param-key",
            "long-param-value",
            "empty-tag-key",
            "long-tag-key",
            "long-tag-value",
            "step-beyond-int64",
            "timestamp-beyond-int64",
        ],
    )
    def test_bad_batch_value_is_invalid(self, store: BaseStore, batch: _Batch) -> None:
        run = new_run(store)
        with pytest.raises(InvalidInputError) as info:
            store.log_batch(run.id, metrics=batch.metrics, params=batch.params, tags=batch.tags)
        assert info.value.field

    def test_longest_allowed_values_are_accepted(self, store: BaseStore) -> None:
        run = new_run(store)
        key = "k" * MAX_KEY_LENGTH
        store.log_batch(
            run.id,
            metrics=[Metric(key, 1.0, 0, T0)],
            params=[Param(key, "v" * MAX_PARAM_VALUE_LENGTH)],
            tags=[RunTag(key, "v" * MAX_TAG_VALUE_LENGTH)],
        )
        got = store.get_run(run.id)
        assert (len(got.params[key]), len(got.tags[key]), got.metrics[key]) == (
            MAX_PARAM_VALUE_LENGTH,
            MAX_TAG_VALUE_LENGTH,
            1.0,
        )

    def test_invalid_batch_stores_nothing(self, store: BaseStore) -> None:
        run = new_run(store)
        with pytest.raises(InvalidInputError):
            store.log_batch(
                run.id,
                metrics=[Metric("ok", 1.0, 0, T0), Metric("", 2.0, 0, T0)],
                params=[Param("lr", "0.1")],
            )
        got = store.get_run(run.id)
        assert (dict(got.metrics), dict(got.params)) == ({}, {})
