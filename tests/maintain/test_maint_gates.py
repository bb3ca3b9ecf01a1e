"""Promotion gates on real registered sklearn models in a temporary SQLite store: each built-in
gate passes and fails for real reasons, every enabled gate runs, a gate's error is a failed
result, and the latency gate times real single-row predictions."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from modelkeep.config import Settings
from modelkeep.entities import ModelVersion
from modelkeep.exceptions import InvalidInputError
from modelkeep.maintain import gates
from modelkeep.maintain.evaluate import Evaluation, SliceComparison, evaluate_pair
from modelkeep.maintain.gates import (
    GateContext,
    GateResult,
    gate_names,
    measure_latency,
    register_gate,
    run_gates,
)
from modelkeep.maintain.policy import GatesConfig
from modelkeep.maintain.stats import BootstrapResult
from modelkeep.registry.signing import generate_keypair, load_private_key, load_public_key
from modelkeep.tracking import Client

BUILTIN = ["improvement", "slices", "latency", "signature", "integrity", "data_validation"]
QUICK = {"latency_ratio": None}  # the latency gate loads and times both models: off unless tested


def _evaluation(
    champion: float = 0.80,
    challenger: float = 0.86,
    p_value: float = 0.001,
    slices: list[SliceComparison] | None = None,
) -> Evaluation:
    """An evaluation of accuracy judged by its paired bootstrap (no McNemar result)."""
    diff = challenger - champion
    bootstrap = BootstrapResult(
        "accuracy", champion, challenger, diff, diff - 0.05, diff + 0.05, p_value, 300, 1000
    )
    return Evaluation(
        "accuracy", "classification", 300, champion, challenger, bootstrap, None, slices or []
    )


# ---- a store with registered versions -------------------------------------------------------


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, 300),
            "income": rng.normal(50, 10, 300),
            "tenure": rng.integers(0, 10, 300),
        }
    )


@pytest.fixture(scope="module")
def target(frame: pd.DataFrame) -> np.ndarray:
    noise = np.random.default_rng(1).normal(0, 5, len(frame))
    return (frame["income"] + noise > 50).astype(int).to_numpy()


def _open_client(root: Path) -> Client:
    uri = f"sqlite:///{root / 'mk.db'}"
    return Client(
        uri, settings=Settings(home=root / "home").model_copy(update={"tracking_uri": uri})
    )


def _register(
    client: Client, model: Any, features: pd.DataFrame, *, example: bool = True
) -> ModelVersion:
    experiment = client.store.get_or_create_experiment("gates")
    run = client.store.create_run(experiment.id)
    info = client.log_model(run.id, model, input_example=features.head(5) if example else None)
    return client.register_model(info.uri, "churn")


def _tree(features: pd.DataFrame, target: np.ndarray, depth: int = 3) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(max_depth=depth, random_state=0).fit(features, target)


@dataclass
class Registry:
    client: Client
    champion: ModelVersion
    same_inputs: ModelVersion
    extra_column: ModelVersion
    float_age: ModelVersion
    fewer_columns: ModelVersion
    no_signature: ModelVersion
    weak: ModelVersion


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame, target: np.ndarray
) -> Iterator[Registry]:
    base = frame[["age", "income"]]
    with _open_client(tmp_path_factory.mktemp("gates")) as client:
        forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(base, target)
        wide = frame[["age", "income", "tenure"]]
        floats = base.astype({"age": "float64"})
        shuffled = np.random.default_rng(2).permutation(target)
        yield Registry(
            client,
            champion=_register(client, forest, base),
            same_inputs=_register(client, _tree(base, target), base),
            extra_column=_register(client, _tree(wide, target), wide),
            float_age=_register(client, _tree(floats, target), floats),
            fewer_columns=_register(client, _tree(frame[["income"]], target), frame[["income"]]),
            no_signature=_register(client, _tree(base, target), base, example=False),
            weak=_register(client, _tree(base, shuffled), base),
        )


def _context(
    client: Client,
    champion: ModelVersion,
    challenger: ModelVersion,
    holdout: pd.DataFrame,
    *,
    evaluation: Evaluation | None = None,
    validation: dict[str, Any] | None = None,
    **config: Any,
) -> GateContext:
    return GateContext(
        client=client,
        model="churn",
        champion=champion,
        challenger=challenger,
        evaluation=evaluation or _evaluation(),
        holdout=holdout,
        config=GatesConfig(**config),
        data_validation=validation,
        latency_calls=20,
    )


def _by_name(results: list[GateResult]) -> dict[str, GateResult]:
    return {result.name: result for result in results}


def _gate(context: GateContext, name: str) -> GateResult:
    return _by_name(run_gates(context))[name]


@pytest.fixture
def holdout(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["age", "income"]].tail(50).reset_index(drop=True)


# ---- the gate table -------------------------------------------------------------------------


def test_builtin_gates_are_registered_in_order() -> None:
    assert gate_names()[: len(BUILTIN)] == BUILTIN


@pytest.mark.parametrize(("name", "fn", "field_name"), [("", len, "name"), ("x", 3, "fn")])
def test_register_gate_refuses_a_bad_name_or_function(name: str, fn: Any, field_name: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        register_gate(name, fn)
    assert caught.value.field == field_name
    assert name not in gate_names() or name == ""


def test_every_enabled_gate_runs_even_after_failures(
    registry: Registry, holdout: pd.DataFrame
) -> None:
    context = _context(
        registry.client,
        registry.champion,
        registry.extra_column,
        holdout,
        evaluation=_evaluation(champion=0.9, challenger=0.8, p_value=0.5),
        validation={"passed": False},
        **QUICK,
    )
    # Only the built-in gates: another package's gate (modelkeep.audit's "privacy") may have
    # been registered by an earlier import in the session.
    results = [r for r in run_gates(context) if r.name in BUILTIN]
    assert [r.name for r in results] == [n for n in BUILTIN if n != "latency"]
    passed = {r.name: r.passed for r in results}
    assert passed == {
        "improvement": False,
        "slices": True,
        "signature": False,
        "integrity": True,
        "data_validation": False,
    }
    json.dumps([r.to_dict() for r in results])  # decision records store them as JSON


def test_disabled_gates_do_not_run(registry: Registry, holdout: pd.DataFrame) -> None:
    context = _context(
        registry.client,
        registry.champion,
        registry.same_inputs,
        holdout,
        signature=False,
        integrity=False,
        data_validation=False,
        **QUICK,
    )
    ran = [r.name for r in run_gates(context) if r.name in BUILTIN]
    assert ran == ["improvement", "slices"]


def test_a_user_gate_runs_and_its_error_becomes_a_failed_result(
    registry: Registry, holdout: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gates, "_GATES", dict(gates._GATES))  # keep the table of other tests

    def small(context: GateContext) -> GateResult:
        return GateResult("tiny", context.challenger.version > 1, "a later version", {})

    def silent(context: GateContext) -> Any:
        return None

    def broken(context: GateContext) -> GateResult:
        raise ValueError("no size recorded")

    register_gate("small", small)
    register_gate("broken", broken)
    register_gate("silent", silent)
    context = _context(
        registry.client,
        registry.champion,
        registry.same_inputs,
        holdout,
        signature=False,
        integrity=False,
        **QUICK,
    )
    results = _by_name(run_gates(context))
    assert gate_names()[-3:] == ["small", "broken", "silent"]
    assert results["small"].passed  # a result is filed under the gate's name in the table
    assert not results["broken"].passed
    assert results["broken"].detail == "gate raised ValueError: no size recorded"
    assert not results["silent"].passed
    assert results["silent"].detail == "gate returned NoneType, not a GateResult"
    assert results["data_validation"].passed  # later gates still ran


# ---- improvement and slices -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "evaluation", "passed"),
    [
        ({}, _evaluation(0.80, 0.86, 0.001), True),
        ({"min_improvement": 0.1}, _evaluation(0.80, 0.86, 0.001), False),
        ({}, _evaluation(0.80, 0.86, 0.2), False),
        ({"require_significance": False}, _evaluation(0.80, 0.86, 0.2), True),
        ({"require_significance": False}, _evaluation(0.86, 0.80, 0.001), False),
    ],
)
def test_improvement_gate(
    registry: Registry,
    holdout: pd.DataFrame,
    config: dict[str, Any],
    evaluation: Evaluation,
    passed: bool,
) -> None:
    context = _context(
        registry.client,
        registry.champion,
        registry.same_inputs,
        holdout,
        evaluation=evaluation,
        **QUICK,
        **config,
    )
    result = _gate(context, "improvement")
    assert result.passed is passed
    assert result.values["improvement"] == pytest.approx(evaluation.improvement())


@pytest.mark.parametrize(("better_challenger", "passed"), [(True, True), (False, False)])
def test_improvement_gate_on_a_real_evaluation(
    registry: Registry,
    frame: pd.DataFrame,
    target: np.ndarray,
    better_challenger: bool,
    passed: bool,
) -> None:
    strong, weak = registry.champion, registry.weak  # weak learned shuffled labels
    champion, challenger = (weak, strong) if better_challenger else (strong, weak)
    holdout = frame[["age", "income"]].assign(target=target).tail(120)
    evaluation = evaluate_pair(
        registry.client.load_model(champion.uri),
        registry.client.load_model(challenger.uri),
        holdout,
        "target",
        task="classification",
        metric="accuracy",
        n_boot=200,
    )
    features = holdout.drop(columns=["target"])
    context = _context(
        registry.client, champion, challenger, features, evaluation=evaluation, **QUICK
    )
    result = _gate(context, "improvement")
    assert result.passed is passed
    assert result.values["significant"] is passed
    assert (result.values["improvement"] > 0) is better_challenger


def test_improvement_gate_explains_each_failure(registry: Registry, holdout: pd.DataFrame) -> None:
    evaluation = _evaluation(0.80, 0.81, 0.3)
    context = _context(
        registry.client,
        registry.champion,
        registry.same_inputs,
        holdout,
        evaluation=evaluation,
        min_improvement=0.05,
        **QUICK,
    )
    detail = _gate(context, "improvement").detail
    assert "below the minimum" in detail and "not significant at alpha=0.05" in detail


def test_slices_gate_fails_on_a_slice_worse_than_the_tolerance(
    registry: Registry, holdout: pd.DataFrame
) -> None:
    slices = [
        SliceComparison("region", "north", 80, 0.80, 0.84, 0.04),
        SliceComparison("region", "south", 60, 0.85, 0.75, -0.10),
    ]
    context = _context(
        registry.client,
        registry.champion,
        registry.same_inputs,
        holdout,
        evaluation=_evaluation(slices=slices),
        **QUICK,
    )
    result = _gate(context, "slices")
    assert not result.passed
    assert "region=south" in result.detail
    assert result.values["failing"] == [
        {"column": "region", "value": "south", "rows": 60, "change": -0.10}
    ]


def test_slices_gate_passes_within_the_tolerance(
    registry: Registry, holdout: pd.DataFrame
) -> None:
    slices = [SliceComparison("region", "south", 60, 0.85, 0.82, -0.03)]
    context = _context(
        registry.client,
        registry.champion,
        registry.same_inputs,
        holdout,
        evaluation=_evaluation(slices=slices),
        slice_tolerance=0.05,
        **QUICK,
    )
    result = _gate(context, "slices")
    assert result.passed and result.values["worst_change"] == pytest.approx(-0.03)
    assert (
        _gate(
            _context(registry.client, registry.champion, registry.same_inputs, holdout, **QUICK),
            "slices",
        ).detail
        == "no slices were compared"
    )


# ---- latency --------------------------------------------------------------------------------


def test_measure_latency_times_single_row_predictions(
    registry: Registry, holdout: pd.DataFrame
) -> None:
    model = registry.client.load_model(registry.champion.uri)
    timings = measure_latency(model, holdout.head(3), calls=25)
    assert set(timings) == {"p50_ms", "p99_ms", "mean_ms", "max_ms", "calls"}
    assert timings["max_ms"] >= timings["p99_ms"] >= timings["p50_ms"] > 0
    assert timings["calls"] == 25


def test_gates_use_the_models_the_caller_already_loaded(
    registry: Registry, holdout: pd.DataFrame
) -> None:
    champion = registry.client.load_model(registry.champion.uri)
    context = _context(registry.client, registry.champion, registry.same_inputs, holdout)
    context.models["champion"] = champion
    assert _gate(context, "latency").passed
    assert context.loaded("champion") is champion
    assert context.loaded("challenger").root_digest == registry.same_inputs.root_digest


@pytest.mark.parametrize(("rows", "calls", "field_name"), [(0, 10, "rows"), (5, 0, "calls")])
def test_measure_latency_refuses_no_rows_or_calls(
    registry: Registry, holdout: pd.DataFrame, rows: int, calls: int, field_name: str
) -> None:
    model = registry.client.load_model(registry.champion.uri)
    with pytest.raises(InvalidInputError) as caught:
        measure_latency(model, holdout.head(rows), calls=calls)
    assert caught.value.field == field_name


@pytest.mark.parametrize(("budget", "passed"), [(1e-6, False), (1e6, True)])
def test_latency_gate_compares_the_challenger_p99_with_the_budget(
    registry: Registry, holdout: pd.DataFrame, budget: float, passed: bool
) -> None:
    evaluation = _evaluation()
    context = _context(
        registry.client,
        registry.champion,
        registry.same_inputs,
        holdout,
        evaluation=evaluation,
        latency_p99_ms=budget,
        latency_ratio=None,
    )
    result = _gate(context, "latency")
    assert result.passed is passed
    assert ("over the budget" in result.detail) is not passed
    for role in ("champion", "challenger"):
        assert evaluation.latency[role]["p99_ms"] >= evaluation.latency[role]["p50_ms"] > 0
        assert result.values[role] == evaluation.latency[role]


@pytest.mark.parametrize(("ratio", "passed"), [(1e-6, False), (1e6, True)])
def test_latency_gate_compares_the_challenger_with_the_champion(
    registry: Registry, holdout: pd.DataFrame, ratio: float, passed: bool
) -> None:
    context = _context(
        registry.client, registry.champion, registry.same_inputs, holdout, latency_ratio=ratio
    )
    result = _gate(context, "latency")
    assert result.passed is passed
    assert result.values["ratio"] > 0 and result.values["max_ratio"] == ratio


# ---- signature ------------------------------------------------------------------------------


def _signature(registry: Registry, challenger: ModelVersion, holdout: pd.DataFrame) -> GateResult:
    context = _context(registry.client, registry.champion, challenger, holdout, **QUICK)
    return _gate(context, "signature")


def test_signature_gate_passes_the_same_inputs(registry: Registry, holdout: pd.DataFrame) -> None:
    result = _signature(registry, registry.same_inputs, holdout)
    assert result.passed and result.values["problems"] == []


def test_signature_gate_fails_a_challenger_needing_an_extra_column(
    registry: Registry, holdout: pd.DataFrame
) -> None:
    result = _signature(registry, registry.extra_column, holdout)
    assert not result.passed
    assert result.detail == "the challenger needs column 'tenure' (required) the champion lacks"


def test_signature_gate_fails_a_changed_dtype(registry: Registry, holdout: pd.DataFrame) -> None:
    result = _signature(registry, registry.float_age, holdout)
    assert not result.passed
    assert result.detail == "column 'age' changed dtype from int64 to float64"


def test_signature_gate_fails_a_challenger_dropping_a_column(
    registry: Registry, holdout: pd.DataFrame
) -> None:
    # the server refuses unexpected columns, so the champion's traffic would fail
    result = _signature(registry, registry.fewer_columns, holdout)
    assert not result.passed
    assert result.detail == "the challenger does not take the champion's column 'age'"


def test_signature_gate_fails_without_a_challenger_signature(
    registry: Registry, holdout: pd.DataFrame
) -> None:
    result = _signature(registry, registry.no_signature, holdout)
    assert not result.passed and result.values == {"missing": "challenger"}


# ---- integrity and data validation ----------------------------------------------------------


@pytest.fixture
def fresh(
    tmp_path: Path, frame: pd.DataFrame, target: np.ndarray
) -> Iterator[tuple[Client, ModelVersion, ModelVersion]]:
    """A store of its own (these tests change it): champion v1 and challenger v2."""
    base = frame[["age", "income"]]
    with _open_client(tmp_path) as client:
        forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(base, target)
        yield client, _register(client, forest, base), _register(client, _tree(base, target), base)


def _tamper(client: Client, version: ModelVersion) -> None:
    """Flip one byte of the version's model file in the blob store."""
    assert version.run_id is not None
    record = next(
        r for r in client.artifacts.list(version.run_id) if r.path.endswith("model.skops")
    )
    blob = client.settings.resolved_artifact_root() / "blobs" / record.digest[:2]
    blob = blob / record.digest[2:]
    os.chmod(blob, stat.S_IRUSR | stat.S_IWUSR)
    content = bytearray(blob.read_bytes())
    content[len(content) // 2] ^= 0xFF
    blob.write_bytes(bytes(content))


def test_integrity_gate_passes_an_untouched_package(
    fresh: tuple[Client, ModelVersion, ModelVersion], holdout: pd.DataFrame
) -> None:
    client, champion, challenger = fresh
    result = _gate(_context(client, champion, challenger, holdout, **QUICK), "integrity")
    assert result.passed
    assert result.values["root_digest"] == challenger.root_digest
    assert result.values["require_signatures"] is False and result.values["ok"] is False


def test_integrity_gate_fails_a_tampered_package(
    fresh: tuple[Client, ModelVersion, ModelVersion], holdout: pd.DataFrame
) -> None:
    client, champion, challenger = fresh
    _tamper(client, challenger)
    results = _by_name(run_gates(_context(client, champion, challenger, holdout)))
    assert not results["integrity"].passed
    assert "model.skops" in results["integrity"].detail
    assert "model.skops" in results["integrity"].values["error"]
    # gates that load the challenger fail too, each with the error, and nothing stops the rest
    assert not results["latency"].passed and not results["signature"].passed
    assert "PackageIntegrityError" in results["signature"].detail
    assert results["data_validation"].passed


def test_integrity_gate_requires_a_trusted_signature_when_the_model_does(
    fresh: tuple[Client, ModelVersion, ModelVersion], holdout: pd.DataFrame, tmp_path: Path
) -> None:
    client, champion, challenger = fresh
    private, public = generate_keypair(tmp_path / "release")
    client.store.update_registered_model(
        "churn", require_signatures=True, trusted_keys=[load_public_key(public)]
    )
    context = _context(client, champion, challenger, holdout, **QUICK)
    unsigned = _gate(context, "integrity")
    assert not unsigned.passed and "needs a signature by a trusted key" in unsigned.detail

    client.sign_model_version(challenger.uri, load_private_key(private))
    signed = _gate(context, "integrity")
    assert signed.passed and signed.values["ok"] is True and signed.values["signatures"] == 1


@pytest.mark.parametrize(
    ("summary", "passed", "detail"),
    [
        (None, True, "no rules"),
        ({"passed": True}, True, "the refreshed data passed validation"),
        (
            {"passed": False, "detail": "2 of 5 rules failed"},
            False,
            "data validation failed: 2 of 5 rules failed",
        ),
        ({"rules": 3}, False, "gate raised InvalidInputError"),
    ],
)
def test_data_validation_gate(
    registry: Registry,
    holdout: pd.DataFrame,
    summary: dict[str, Any] | None,
    passed: bool,
    detail: str,
) -> None:
    context = _context(
        registry.client,
        registry.champion,
        registry.same_inputs,
        holdout,
        validation=summary,
        **QUICK,
    )
    result = _gate(context, "data_validation")
    assert result.passed is passed and result.detail.startswith(detail)
