"""The privacy audit on real registered models in a temporary SQLite store: an overfit forest
is flagged, a regularised logistic regression passes, the report is stored on the version's
run, and the "privacy" promotion gate reads it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeRegressor

from modelkeep.audit import PrivacyReport, privacy_audit
from modelkeep.audit.privacy import PRIVACY_ARTIFACT, privacy_gate
from modelkeep.config import Settings
from modelkeep.entities import ModelVersion
from modelkeep.exceptions import InvalidInputError
from modelkeep.maintain.evaluate import Evaluation
from modelkeep.maintain.gates import GateContext, gate_names, run_gates
from modelkeep.maintain.policy import GatesConfig
from modelkeep.maintain.stats import BootstrapResult
from modelkeep.tracking import Client

FEATURES = [f"f{i}" for i in range(5)]


def noisy_rows(n: int, seed: int) -> pd.DataFrame:
    """Five features, a label that depends weakly on two of them (lots of label noise)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 5)), columns=FEATURES)
    noise = rng.normal(0, 1.0, n)
    frame["y"] = (frame["f0"] + 0.5 * frame["f1"] + noise > 0).astype(int)
    return frame


def _register(client: Client, model: Any, rows: pd.DataFrame, name: str) -> ModelVersion:
    features = rows[FEATURES]
    model.fit(features, rows["y"])
    run = client.store.create_run(client.store.get_or_create_experiment("audit").id)
    info = client.log_model(run.id, model, input_example=features.head(3))
    return client.register_model(info.uri, name)


@dataclass
class World:
    settings: Settings
    client: Client
    forest: ModelVersion
    linear: ModelVersion
    unaudited: ModelVersion
    forest_rows: tuple[pd.DataFrame, pd.DataFrame]
    linear_rows: tuple[pd.DataFrame, pd.DataFrame]
    forest_report: PrivacyReport
    linear_report: PrivacyReport


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("privacy")
    uri = f"sqlite:///{root / 'mk.db'}"
    settings = Settings(home=root / "home").model_copy(update={"tracking_uri": uri})
    forest_rows = (noisy_rows(300, 1), noisy_rows(300, 2))
    linear_rows = (noisy_rows(1000, 3), noisy_rows(1000, 4))
    with Client(uri, settings=settings) as client:
        # Full depth, one sample per leaf: the forest memorises its noisy training rows.
        forest = _register(
            client,
            RandomForestClassifier(n_estimators=40, min_samples_leaf=1, random_state=0),
            forest_rows[0],
            "forest",
        )
        linear = _register(client, LogisticRegression(C=0.1), linear_rows[0], "linear")
        unaudited = _register(client, LogisticRegression(C=0.1), linear_rows[0], "linear")
        yield World(
            settings,
            client,
            forest,
            linear,
            unaudited,
            forest_rows,
            linear_rows,
            privacy_audit(forest.uri, *forest_rows, "y", settings=settings),
            privacy_audit(linear.uri, *linear_rows, "y", settings=settings),
        )


def test_an_overfit_forest_is_flagged(world: World) -> None:
    report = world.forest_report
    assert report.passed is False
    assert report.auc > 0.7
    assert report.advantage > 0.3
    assert set(report.attacks) == {"loss", "lira_offline"}
    for attack in report.attacks.values():
        assert attack.auc > 0.7
        assert attack.ci["auc"][0] > 0.6  # the whole interval is well above guessing


def test_a_regularised_logistic_regression_passes(world: World) -> None:
    report = world.linear_report
    assert report.passed is True
    assert abs(report.auc - 0.5) < 0.05
    assert report.advantage <= 0.1
    for attack in report.attacks.values():
        low, high = attack.ci["auc"]
        assert low < 0.5 < high + 0.02


def test_the_headline_is_the_worst_attack(world: World) -> None:
    report = world.forest_report
    aucs = {name: attack.auc for name, attack in report.attacks.items()}
    assert report.auc == max(aucs.values())
    assert report.worst_attack == max(aucs, key=aucs.__getitem__)
    assert report.ci["auc"] == report.attacks[report.worst_attack].ci["auc"]
    assert report.advantage == max(a.advantage for a in report.attacks.values())


def test_sample_sizes_keep_reference_rows_apart(world: World) -> None:
    report = world.forest_report
    assert (report.n_members, report.n_non_members, report.n_reference_rows) == (300, 150, 150)
    assert report.reference_models == 4
    assert report.attacks["loss"].n_non_members == 150
    assert report.attacks["loss"].bootstrap == 200
    assert report.advantage_noise_floor == pytest.approx(1.36 * np.sqrt(1 / 300 + 1 / 150))
    assert any("by chance" in note for note in report.notes)


def test_the_report_is_stored_on_the_versions_run(world: World) -> None:
    body = world.client.read_artifact(str(world.forest.run_id), PRIVACY_ARTIFACT)
    stored = json.loads(body)
    assert stored["passed"] is False
    assert stored["model_uri"] == world.forest.uri
    assert PrivacyReport.from_dict(stored) == world.forest_report


def test_thresholds_decide_and_a_new_audit_replaces_the_stored_one(world: World) -> None:
    lenient = privacy_audit(
        world.forest.uri,
        *world.forest_rows,
        "y",
        reference_models=0,
        max_auc=0.99,
        max_advantage=0.99,
        bootstrap=20,
        settings=world.settings,
    )
    try:
        assert lenient.passed is True
        assert list(lenient.attacks) == ["loss"]
        assert (lenient.n_non_members, lenient.n_reference_rows) == (300, 0)
        stored = world.client.read_artifact(str(world.forest.run_id), PRIVACY_ARTIFACT)
        assert json.loads(stored)["passed"] is True
    finally:
        body = json.dumps(world.forest_report.to_dict()).encode()
        world.client.log_bytes(str(world.forest.run_id), body, PRIVACY_ARTIFACT)


def test_an_audit_without_record_stores_nothing(world: World) -> None:
    report = privacy_audit(
        world.unaudited.uri,
        *world.linear_rows,
        "y",
        bootstrap=0,
        record=False,
        reference_models=0,
        settings=world.settings,
    )
    assert report.passed is True
    assert world.client.list_artifacts(str(world.unaudited.run_id), "audit") == []


def test_a_regressor_is_audited_by_its_squared_error(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mk.db'}"
    settings = Settings(home=tmp_path).model_copy(update={"tracking_uri": uri})
    rows, other = noisy_rows(200, 5), noisy_rows(200, 6)
    for frame in (rows, other):
        frame["y"] = frame["f0"] + np.random.default_rng(0).normal(0, 1, len(frame))
    with Client(uri, settings=settings) as client:
        tree = _register(client, DecisionTreeRegressor(random_state=0), rows, "tree")
        ridge = _register(client, Ridge(alpha=10.0), rows, "ridge")
    leaky = privacy_audit(tree.uri, rows, other, "y", bootstrap=0, settings=settings)
    sober = privacy_audit(ridge.uri, rows, other, "y", bootstrap=0, settings=settings)
    assert leaky.task == "regression" and leaky.auc > 0.9 and not leaky.passed
    assert abs(sober.auc - 0.5) < 0.1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": "label"}, "target"),
        ({"reference_models": 1}, "reference_models"),
        ({"max_auc": 1.5}, "max_auc"),
        ({"max_advantage": -0.1}, "max_advantage"),
        ({"bootstrap": -1}, "bootstrap"),
        ({"non_members": noisy_rows(4, 9)}, "non_members"),
    ],
)
def test_bad_arguments_name_their_field(world: World, change: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {
        "members": world.forest_rows[0],
        "non_members": world.forest_rows[1],
        "target": "y",
        "bootstrap": 0,
        "record": False,
        **change,
    }
    with pytest.raises(InvalidInputError) as caught:
        privacy_audit(world.forest.uri, settings=world.settings, **arguments)
    assert caught.value.field == field


# ---- the promotion gate ---------------------------------------------------------------------


def _context(world: World, challenger: ModelVersion) -> GateContext:
    bootstrap = BootstrapResult("accuracy", 0.8, 0.86, 0.06, 0.01, 0.11, 0.001, 300, 1000)
    evaluation = Evaluation("accuracy", "classification", 300, 0.8, 0.86, bootstrap, None, [])
    return GateContext(
        client=world.client,
        model=challenger.name,
        champion=world.unaudited,
        challenger=challenger,
        evaluation=evaluation,
        holdout=world.linear_rows[1][FEATURES].head(20),
        config=GatesConfig(latency_ratio=None, signature=False, integrity=False),
    )


def test_the_gate_fails_a_version_whose_audit_failed(world: World) -> None:
    result = privacy_gate(_context(world, world.forest))
    assert result.passed is False
    assert result.detail.startswith("privacy audit failed: membership inference AUC")
    assert result.values["audited"] is True
    assert result.values["auc"] == world.forest_report.auc


def test_the_gate_passes_a_version_whose_audit_passed(world: World) -> None:
    result = privacy_gate(_context(world, world.linear))
    assert result.passed is True
    assert result.detail.startswith("privacy audit passed")


def test_the_gate_passes_an_unaudited_version_and_runs_with_the_others(world: World) -> None:
    assert "privacy" in gate_names()
    results = {r.name: r for r in run_gates(_context(world, world.unaudited))}
    assert results["privacy"].passed is True
    assert results["privacy"].detail == "not audited"
    assert results["privacy"].values == {"audited": False}


def test_the_audit_package_exports_its_contract() -> None:
    import modelkeep.audit

    names = {"privacy_audit", "PrivacyReport", "scan_pii", "PiiFinding", "PiiReport"}
    assert names <= set(modelkeep.audit.__all__)
    assert all(getattr(modelkeep.audit, name, None) is not None for name in names)
