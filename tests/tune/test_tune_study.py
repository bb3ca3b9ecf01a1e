"""Where studies live and how workers create, join, resume and finish them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from tune_support import classification_config

from modelkeep.config import Settings
from modelkeep.entities import RunStatus
from modelkeep.exceptions import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StoreUnavailableError,
)
from modelkeep.store.sql import SqlStore
from modelkeep.tracking import Client
from modelkeep.tune import load_tune_config
from modelkeep.tune.config import TuneConfig
from modelkeep.tune.journal import JournalStudyStorage, open_study_journal
from modelkeep.tune.study import (
    ATTR_PARENT,
    StudyStorage,
    claim_refit,
    close_storage,
    make_pruner,
    make_sampler,
    open_storage,
    open_study,
    quiet_optuna,
    redact,
    storage_url,
)


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mk.db'}"


@pytest.fixture
def client(uri: str, tmp_path: Path) -> Iterator[Client]:
    settings = Settings(home=tmp_path / "home").model_copy(update={"tracking_uri": uri})
    with Client(uri, settings=settings) as opened:
        yield opened


@pytest.fixture(params=["journal", "rdb"])
def storage(client: Client, uri: str, request: pytest.FixtureRequest) -> Iterator[StudyStorage]:
    opened = open_storage(storage_url(uri), study="s", journal=request.param == "journal")
    yield opened
    close_storage(opened)


@pytest.fixture
def config(tmp_path: Path) -> TuneConfig:
    return load_tune_config(classification_config(tmp_path / "d.csv"))


def _parent_maker(client: Client) -> tuple[list[str], object]:
    made: list[str] = []

    def make(experiment_id: str) -> str:
        run_id = client.create_run(experiment_id, run_name="parent").id
        made.append(run_id)
        return run_id

    return made, make


def test_the_study_lives_in_the_store_database_by_default(uri: str) -> None:
    assert storage_url(uri) == uri
    assert storage_url(uri, "sqlite:///other.db") == "sqlite:///other.db"
    assert storage_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("tracking", ["http://127.0.0.1:5000", "sqlite://", "sqlite:///:memory:"])
def test_a_store_without_a_shareable_database_needs_a_storage_url(tracking: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        storage_url(tracking)
    assert caught.value.field == "storage"
    assert "--storage" in caught.value.message
    assert storage_url(tracking, "sqlite:///s.db") == "sqlite:///s.db"


def test_optuna_tables_sit_beside_the_store_tables(
    client: Client, storage: StudyStorage, tmp_path: Path, uri: str
) -> None:
    optuna.create_study(storage=storage, study_name="side-by-side")
    tables = {
        row[0]
        for row in sqlite3.connect(tmp_path / "mk.db").execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    if isinstance(storage, JournalStudyStorage):  # the default: modelkeep's journal tables
        assert {"mk_study_journal", "mk_study_heartbeats", "mk_runs"} <= tables
        assert "studies" not in tables
    else:  # a --storage URL: Optuna's own tables, next to the store's
        assert {"studies", "trials", "alembic_version", "mk_runs", "mk_alembic_version"} <= tables
    reopened = SqlStore(uri)  # the store's migrations still see only their own tables
    assert reopened.list_experiments() is not None
    reopened.close()
    mode = sqlite3.connect(tmp_path / "mk.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"  # the store's setting sticks to the file, for Optuna's writers too


def test_redact_hides_the_password() -> None:
    assert "secret" not in redact("postgresql+psycopg://me:secret@db/x")
    assert redact("::") == "<unparseable URL>"


@pytest.mark.parametrize("journal", [True, False], ids=["journal", "rdb"])
def test_bad_and_unreachable_storage_urls(journal: bool) -> None:
    with pytest.raises(InvalidInputError):
        open_storage("not a url", study="s", journal=journal)
    with pytest.raises(StoreUnavailableError) as caught:
        open_storage(
            "postgresql+psycopg://nobody:pw@127.0.0.1:1/none?connect_timeout=1",
            study="s",
            journal=journal,
        )
    assert "pw" not in caught.value.message
    if journal:
        with pytest.raises(InvalidInputError):
            open_storage("sqlite:///x.db", study="", journal=journal)


def test_created_study_records_its_parent_run(
    client: Client, storage: StudyStorage, config: TuneConfig
) -> None:
    made, make = _parent_maker(client)
    opened = open_study(storage, config, "s", resume=False, client=client, make_parent=make)
    assert opened.created and opened.parent_run_id == made[0]
    assert opened.study.user_attrs[ATTR_PARENT] == made[0]
    assert client.get_experiment(opened.experiment_id).name == "tuning"
    assert opened.study.direction.name == "MAXIMIZE"


def test_joining_worker_shares_the_parent_run(
    client: Client, storage: StudyStorage, config: TuneConfig
) -> None:
    made, make = _parent_maker(client)
    first = open_study(storage, config, "s", resume=False, client=client, make_parent=make)
    second = open_study(storage, config, "s", resume=False, client=client, make_parent=make)
    assert not second.created
    assert second.parent_run_id == first.parent_run_id and len(made) == 1


def test_resume_needs_an_existing_study(
    client: Client, storage: StudyStorage, config: TuneConfig
) -> None:
    _, make = _parent_maker(client)
    with pytest.raises(NotFoundError) as caught:
        open_study(storage, config, "nope", resume=True, client=client, make_parent=make)
    assert caught.value.field == "study"


def test_an_ended_study_is_continued_only_with_resume(
    client: Client, storage: StudyStorage, config: TuneConfig
) -> None:
    _, make = _parent_maker(client)
    first = open_study(storage, config, "s", resume=False, client=client, make_parent=make)
    client.set_terminated(first.parent_run_id, RunStatus.KILLED)
    with pytest.raises(ConflictError) as caught:
        open_study(storage, config, "s", resume=False, client=client, make_parent=make)
    assert "--resume" in caught.value.message
    resumed = open_study(storage, config, "s", resume=True, client=client, make_parent=make)
    assert resumed.parent_run_id == first.parent_run_id
    assert client.get_run(first.parent_run_id).status == RunStatus.RUNNING


def test_a_study_with_another_objective_is_refused(
    client: Client, storage: StudyStorage, config: TuneConfig, tmp_path: Path
) -> None:
    _, make = _parent_maker(client)
    open_study(storage, config, "s", resume=False, client=client, make_parent=make)
    raw = classification_config(tmp_path / "d.csv")
    raw["tune"]["metric"] = "accuracy"
    other_metric = load_tune_config(raw)
    with pytest.raises(ConflictError) as caught:
        open_study(storage, other_metric, "s", resume=False, client=client, make_parent=make)
    assert caught.value.field == "tune.metric"
    raw["tune"].update(metric="roc_auc", direction="minimize")
    other_direction = load_tune_config(raw)
    with pytest.raises(ConflictError) as caught:
        open_study(storage, other_direction, "s", resume=False, client=client, make_parent=make)
    assert caught.value.field == "tune.direction"


def test_a_study_made_outside_modelkeep_gets_a_parent_on_resume(
    client: Client, storage: StudyStorage, config: TuneConfig
) -> None:
    optuna.create_study(storage=storage, study_name="plain", direction="maximize")
    made, make = _parent_maker(client)
    opened = open_study(storage, config, "plain", resume=True, client=client, make_parent=make)
    assert opened.parent_run_id == made[0]


def test_exactly_one_worker_claims_the_refit(
    client: Client, storage: StudyStorage, config: TuneConfig
) -> None:
    _, make = _parent_maker(client)
    opened = open_study(storage, config, "s", resume=False, client=client, make_parent=make)
    assert claim_refit(storage, opened.study)
    assert not claim_refit(storage, opened.study)
    opened.study.enqueue_trial({})  # one more trial: a new claim is possible
    assert claim_refit(storage, opened.study)


@pytest.mark.parametrize("kind", ["tpe", "random", "grid"])
def test_samplers_and_pruners(config: TuneConfig, kind: str, tmp_path: Path) -> None:
    raw = classification_config(tmp_path / "d.csv", sampler=kind, pruner="successive_halving")
    if kind == "grid":
        raw["tune"]["space"]["model.params.C"]["step"] = None
        raw["tune"]["space"]["model.params.C"] = {
            "type": "categorical",
            "choices": [0.1, 1.0],
            "when": {"model.family": "logistic"},
        }
    checked = load_tune_config(raw)
    sampler = make_sampler(checked, 1)
    assert type(sampler).__name__.lower().startswith(kind)
    assert isinstance(make_pruner(checked), optuna.pruners.SuccessiveHalvingPruner)


def test_a_dead_workers_trial_run_is_ended_failed(
    client: Client, storage: StudyStorage, config: TuneConfig
) -> None:
    from optuna.trial import FrozenTrial, TrialState

    from modelkeep.tune.worker import stale_trial_marker

    _, make = _parent_maker(client)
    opened = open_study(storage, config, "s", resume=False, client=client, make_parent=make)
    tags = {"modelkeep.tune.study": "s", "modelkeep.tune.trial": "3"}
    run = client.create_run(opened.experiment_id, tags=tags, parent_run_id=opened.parent_run_id)
    other = client.create_run(opened.experiment_id, tags={**tags, "modelkeep.tune.study": "t"})
    trial = FrozenTrial(
        number=3,
        state=TrialState.FAIL,
        value=None,
        datetime_start=None,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=4,
    )
    stale_trial_marker(client.store)(opened.study, trial)
    ended = client.get_run(run.id)
    assert ended.status == RunStatus.FAILED
    assert ended.tags["modelkeep.tune.state"] == "FAIL"
    assert client.get_run(other.id).status == RunStatus.RUNNING  # another study's trial 3


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated store on SQLite, or in its own database on the PostgreSQL test server
    (these tests write journal entries that are not Optuna's, which no other test may read)."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'journal.db'}"
        SqlStore(uri).close()
        yield uri
        return
    import uuid

    import sqlalchemy as sa

    shared = sa.engine.make_url(request.getfixturevalue("postgres_database"))
    name = f"mk_journal_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(shared, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    uri = shared.set(database=name).render_as_string(hide_password=False)
    SqlStore(uri).close()
    yield uri
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_silent_trial_is_failed_and_reported_by_the_next_worker(any_store: str) -> None:
    import time
    import warnings

    failed: list[int] = []
    storage = open_study_journal(
        any_store,
        "beats",
        heartbeat_interval=1,
        grace_period=0,
        on_stale=lambda _s, t: failed.append(t.number),
    )
    try:
        study = optuna.create_study(storage=storage, study_name="beats")
        with warnings.catch_warnings():  # "heartbeat is supposed to be used with optimize"
            warnings.simplefilter("ignore", UserWarning)
            silent, never_beat = study.ask(), study.ask()
        storage.record_heartbeat(silent._trial_id)
        storage.record_heartbeat(silent._trial_id)  # a second beat updates the first
        time.sleep(0.05)

        with quiet_optuna():
            optuna.storages.fail_stale_trials(study)

        states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
        assert states == {
            silent.number: optuna.trial.TrialState.FAIL,
            never_beat.number: optuna.trial.TrialState.RUNNING,  # as Optuna's RDB storage
        }
        assert failed == [silent.number]
    finally:
        close_storage(storage)


def test_journal_entries_are_numbered_without_gaps_across_concurrent_writers(
    any_store: str,
) -> None:
    import threading

    from modelkeep.store.sql.study_journal import StudyJournal

    reader = StudyJournal(any_store, "j")
    other = StudyJournal(any_store, "another study")
    other.append([{"other": True}])
    start = len(reader.read(0))
    writers = [StudyJournal(any_store, "j") for _ in range(4)]

    def write(index: int) -> None:
        for step in range(25):
            writers[index].append([{"w": index, "s": step}, {"w": index, "s": step, "b": 1}])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        entries = reader.read(start)
        assert len(entries) == 4 * 25 * 2
        for index in range(4):  # each writer's entries in its order, each pair adjacent
            mine = [e for e in entries if e["w"] == index]
            assert [e["s"] for e in mine] == [s for s in range(25) for _ in (0, 1)]
        positions = {(e["w"], e["s"], e.get("b")): i for i, e in enumerate(entries)}
        assert all(positions[(w, s, 1)] == positions[(w, s, None)] + 1
                   for w in range(4) for s in range(25))  # fmt: skip
        assert reader.read(start + len(entries)) == []
        assert other.read(0) == [{"other": True}]  # journals do not mix
    finally:
        reader.close()
        other.close()
        for journal in writers:
            journal.close()
