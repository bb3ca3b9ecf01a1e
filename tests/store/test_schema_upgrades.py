"""Upgrading real databases written by earlier releases (Optuna's practice).

``fixtures/modelkeep-<revision>.db`` is a SQLite file made by the release whose newest schema
revision is ``<revision>``, with one of everything that schema could hold. Opening a copy with
today's SqlStore must migrate it to head and keep every value; each new schema revision adds a
file here, made with the release before it.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from modelkeep.store.sql import SqlStore
from modelkeep.store.sql.migrate import head_revision

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("modelkeep-*.db"))
RUN_ID = "a18541b88e5641f79bdae9e054cd00ea"


@pytest.fixture(params=FIXTURES, ids=lambda path: path.stem)
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> SqlStore:
    copy = tmp_path / "old.db"
    shutil.copyfile(request.param, copy)
    store = SqlStore(f"sqlite:///{copy}")
    request.addfinalizer(store.close)
    return store


def test_there_is_a_fixture_for_every_past_schema() -> None:
    assert [path.stem for path in FIXTURES] == ["modelkeep-0001", "modelkeep-0002"]
    assert head_revision() == "0003"


def test_runs_metrics_and_inputs_survive_the_upgrade(upgraded: SqlStore) -> None:
    run = upgraded.get_run(RUN_ID)
    assert (run.name, run.status.value, run.end_time) == ("old-run", "FINISHED", 2000)
    assert run.params == {"lr": "0.1"}
    assert run.tags["note"] == "made by schema 0001"
    assert run.metrics["loss"] == pytest.approx(1 / 50)
    assert math.isnan(run.metrics["nan"])
    history = upgraded.get_metric_history(RUN_ID, "loss")
    assert [m.step for m in history] == list(range(50))
    assert [(d.name, d.num_rows, d.context) for d in run.inputs] == [("train", 10, "training")]
    assert upgraded.get_artifact(RUN_ID, "model/weights.json").size == 123
    assert [t.name for t in upgraded.list_tokens()] == ["ci"]
    experiment = upgraded.get_experiment(run.experiment_id)
    assert (experiment.name, dict(experiment.tags)) == ("churn", {"team": "a"})


def test_the_upgraded_store_takes_registry_writes(upgraded: SqlStore) -> None:
    version = upgraded.create_model_version("m", f"runs:/{RUN_ID}/model", "0" * 64, run_id=RUN_ID)
    assert version.version == 1
    found = upgraded.search_runs([upgraded.get_run(RUN_ID).experiment_id], "params.lr = '0.1'")
    assert [r.id for r in found] == [RUN_ID]


def test_the_0002_registry_survives_the_upgrade(tmp_path: Path) -> None:
    copy = tmp_path / "old.db"
    shutil.copyfile(Path(__file__).parent / "fixtures" / "modelkeep-0002.db", copy)
    store = SqlStore(f"sqlite:///{copy}")
    try:
        model = store.get_registered_model("churn-model")
        assert (model.description, dict(model.tags)) == ("made by schema 0002", {"team": "a"})
        versions = store.search_model_versions("name = 'churn-model'")
        assert sorted(v.version for v in versions) == [1, 2]
        first = store.get_model_version("churn-model", 1)
        assert (first.root_digest, first.run_id, dict(first.tags)) == (
            "a" * 64,
            RUN_ID,
            {"stage": "old"},
        )
        assert store.get_model_version_by_alias("churn-model", "champion").version == 2
        history = store.list_alias_history("churn-model", "champion")
        assert [(h.version, h.actor, h.reason) for h in history][-1] == (2, "bob", "better")
        assert store.create_model_version("churn-model", "runs:/x/m", "c" * 64).version == 3
    finally:
        store.close()
