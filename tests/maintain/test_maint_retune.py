"""A tuned champion retuned on refreshed data (``retrain.tune_trials``): the champion's
study config is rerun, its refit is the challenger, with lineage saying so."""

from __future__ import annotations

from pathlib import Path

from maint_support import make_rows, policy, send

from modelkeep.config import Settings
from modelkeep.maintain import run_policies
from modelkeep.monitor.runner import run_monitor
from modelkeep.tracking import Client
from modelkeep.tune import tune


def test_a_tuned_champion_is_retuned_when_the_policy_asks(tmp_path: Path) -> None:
    import modelkeep as mk

    settings = Settings(home=tmp_path).model_copy(
        update={"tracking_uri": f"sqlite:///{tmp_path / 'modelkeep.db'}"}
    )
    make_rows(800, 0, shifted=False).to_csv(tmp_path / "churn.csv", index=False)
    mk.set_tracking_uri(settings.resolved_tracking_uri())
    try:
        tune({"task": "classification", "data": str(tmp_path / "churn.csv"),
              "target": "churned", "model": {"family": "random_forest",
                                             "params": {"n_estimators": 15}},
              "split": {"kind": "stratified_kfold", "n_splits": 2}, "metrics": ["accuracy"],
              "register": {"name": "churn"},
              "tune": {"n_trials": 2, "space": {
                  "model.params.max_depth": {"type": "int", "low": 3, "high": 8}}}},
             progress=False)  # fmt: skip
    finally:
        mk.set_tracking_uri(None)
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        client.set_alias("churn", "champion", 1)
    send(settings, make_rows(300, 1, shifted=True))
    run_monitor("models:/churn@champion", "1h", settings=settings, rules="rules: []")

    [record] = run_policies(settings=settings, policies=[policy(retrain={"tune_trials": 2})])

    assert record.challenger_version == 2, record.reason
    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        v2 = client.get_model_version("churn", 2)
        refit = client.get_run(v2.run_id)
        study = client.get_run(refit.parent_run_id or "")
    assert v2.tags["modelkeep.lineage.retrained_by"] == "tune"
    assert study.tags["modelkeep.tune.n_complete"] == "2"
    assert record.action in ("promoted", "rejected")
