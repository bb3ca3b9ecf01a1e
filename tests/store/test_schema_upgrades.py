"""Upgrading real databases written by earlier releases (Optuna's practice).

``fixtures/modelkeep-<revision>.db`` is a SQLite file made by the release whose newest schema
revision is ``<revision>``, with one of everything that schema could hold. Opening a copy with
today's SqlStore must migrate it to head and keep every value; each new schema revision adds a
file here, made with the release before it.

``modelkeep-0003.db`` is the 0002 file upgraded to 0003 with Alembic's command API (stopping at
0003) plus one Optuna study (two trials and three heartbeats) written through the store's study
journal by the release whose head was 0003.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelkeep.store.audit import audit_context
from modelkeep.store.sql import SqlStore
from modelkeep.store.sql.migrate import head_revision
from modelkeep.store.sql.study_journal import StudyJournal

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
    assert [path.stem for path in FIXTURES] == [
        "modelkeep-0001",
        "modelkeep-0002",
        "modelkeep-0003",
    ]
    assert head_revision() == "0004"


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


def test_the_0003_study_journal_survives_the_upgrade(tmp_path: Path) -> None:
    copy = tmp_path / "old.db"
    shutil.copyfile(Path(__file__).parent / "fixtures" / "modelkeep-0003.db", copy)
    SqlStore(f"sqlite:///{copy}").close()
    journal = StudyJournal(f"sqlite:///{copy}", "old-study")
    try:
        entries = journal.read(0)
        assert len(entries) == 9
        assert entries[0]["study_name"] == "old-study"
        assert journal.quiet([0, 1, 7], grace_s=0) == [0, 1, 7]
        journal.append([{"op_code": 6, "note": "after the upgrade"}])
        assert journal.read(9) == [{"op_code": 6, "note": "after the upgrade"}]
    finally:
        journal.close()


def test_an_upgraded_store_starts_an_empty_audit_log_and_keeps_it(upgraded: SqlStore) -> None:
    assert upgraded.list_audit_events() == []
    with audit_context(actor="upgrader"):
        upgraded.set_tag(RUN_ID, "after", "upgrade")
    (event,) = upgraded.list_audit_events()
    assert (event.actor, event.action, event.target) == ("upgrader", "log_batch", f"run:{RUN_ID}")
    engine = sa.create_engine(upgraded.uri)
    try:
        with pytest.raises(sa.exc.IntegrityError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM mk_audit_events"))
    finally:
        engine.dispose()
    assert upgraded.list_audit_events() == [event]
