"""Where a study lives, and how workers find, join and finish it.

By default a study lives in the tracking store's own database, in modelkeep's journal tables
(:mod:`modelkeep.tune.journal`: Optuna's ``JournalStorage`` with its log in
``mk_study_journal``, plus trial heartbeats), on a SQLite file or PostgreSQL. An explicit
``--storage`` URL (``tune.storage``) gets an Optuna RDB storage instead, with Optuna's own
tables (``studies``, ``trials``...) that Optuna's tools such as optuna-dashboard read; a store
reached over HTTP has no database URL here, so it needs one.

Every worker (a ``modelkeep tune --study NAME`` process on any machine, or one of the
``--jobs`` processes) opens the same study by name. The first one to create it also creates
the study's parent run and records its id as a study attribute; the others wait for that
attribute, so all trials become children of one parent run. When a worker's loop ends it waits
for the trials still running elsewhere, and then one worker only (whoever creates the claim
study ``NAME:refit:<trials>`` first, a unique name in either storage) refits the best
configuration.

SQLite works for several processes on one machine: the store puts the file in WAL mode (which
sticks to the file), and writers wait up to 60 s for the lock instead of failing; commits use
``synchronous=NORMAL`` (no fsync each time). Heartbeats (every 15 s) let a crashed worker's
trials be failed after a minute instead of staying RUNNING for ever.
"""

from __future__ import annotations

import contextlib
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy.exc as sa_exc
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import event
from sqlalchemy.engine import make_url

from modelkeep.entities import RunStatus
from modelkeep.exceptions import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StoreUnavailableError,
)
from modelkeep.tracking import Client
from modelkeep.tune.config import PRUNERS, TuneConfig
from modelkeep.tune.journal import JournalStudyStorage, open_study_journal

__all__ = [
    "ATTR_METRIC",
    "ATTR_PARENT",
    "OpenedStudy",
    "claim_refit",
    "close_storage",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "open_study",
    "quiet_optuna",
    "redact",
    "search_description",
    "storage_url",
    "wait_for_running_trials",
]

ATTR_PARENT = "modelkeep.parent_run_id"
ATTR_METRIC = "modelkeep.metric"
ATTR_EXPERIMENT = "modelkeep.experiment_id"
ATTR_SPACE = "modelkeep.search"
HEARTBEAT_S = 15
GRACE_S = 60
_BUSY_TIMEOUT_S = 60
_PARENT_WAIT_S = 30.0

StaleTrialCallback = Callable[[optuna.Study, FrozenTrial], None]


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's own log lines (modelkeep reports trials itself) and its experimental-feature
    warnings, silenced."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def storage_url(tracking_uri: str, storage: str | None = None) -> str:
    """The database URL the study lives in: ``storage`` if given, else the store's own.

    Raises:
        InvalidInputError: (``storage``) the store is a server or in memory and no storage
            URL was given.
    """
    url = storage or tracking_uri
    if url.startswith(("http://", "https://")):
        raise InvalidInputError(
            "storage: the tracking store is a server (http); Optuna needs a database for the "
            "study: pass --storage postgresql+psycopg://... (tune.storage), the server's DB",
            field="storage",
        )
    if url in ("sqlite://", "sqlite:///:memory:"):
        raise InvalidInputError(
            "storage: an in-memory database cannot be shared by study workers; use a SQLite "
            "file or PostgreSQL store, or pass --storage",
            field="storage",
        )
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def redact(url: str) -> str:
    """``url`` with its password hidden, for messages and run tags."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable URL>"


StudyStorage = optuna.storages.RDBStorage | JournalStudyStorage


def open_storage(
    url: str,
    on_stale: StaleTrialCallback | None = None,
    *,
    study: str,
    journal: bool = True,
) -> StudyStorage:
    """The storage of study ``study`` on ``url``: its journal in the store's database
    (``journal``, the default), else an Optuna RDB storage (a ``--storage`` URL, whose tables
    Optuna's own tools such as optuna-dashboard read).

    Raises:
        InvalidInputError: (``storage``) ``url`` is not a database URL.
        StoreUnavailableError: the database could not be reached.
    """
    if journal:
        return open_study_journal(
            url, study, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S, on_stale=on_stale
        )
    return _open_rdb(url, on_stale)


def close_storage(storage: StudyStorage) -> None:
    """Close the storage's database connections."""
    if isinstance(storage, JournalStudyStorage):
        storage.dispose()
    else:
        storage.engine.dispose()


def _open_rdb(url: str, on_stale: StaleTrialCallback | None) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage on ``url`` (tables created on first use).

    Several workers starting at once may race to create Optuna's tables; a failed attempt is
    retried a few times before it is reported.
    """
    try:
        dialect = make_url(url).get_backend_name()
    except sa_exc.ArgumentError:
        raise InvalidInputError(f"storage: not a database URL: {url!r}", field="storage") from None
    # No pool_pre_ping on PostgreSQL: Optuna opens a session for nearly every call, and a
    # ping each time would add a round trip to all of them.
    engine_kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": _BUSY_TIMEOUT_S}} if dialect == "sqlite" else {}
    )
    last: Exception | None = None
    for attempt in range(5):
        try:
            with quiet_optuna():
                storage = optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=on_stale,
                )
            if dialect == "sqlite":
                event.listen(storage.engine, "connect", _sqlite_normal_sync)
                storage.engine.dispose()  # connections opened so far lack the pragma
            return storage
        except (sa_exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
            last = exc
            if not _creation_race(exc):
                break
            time.sleep(0.1 + random.random() * 0.3 * (attempt + 1))
        except ImportError as exc:
            raise InvalidInputError(f"storage: {exc}", field="storage") from None
    raise StoreUnavailableError(f"cannot open the study storage {redact(url)}: {last}") from last


def _sqlite_normal_sync(dbapi_conn: Any, _record: object) -> None:
    """``synchronous=NORMAL``, as the store's own connections: with WAL, a commit is durable
    against a crash of the process without an fsync each time (Optuna commits many times per
    trial)."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _creation_race(exc: Exception) -> bool:
    """Whether ``exc`` looks like another worker creating Optuna's tables at the same time
    (worth a retry), rather than a database that cannot be reached."""
    if isinstance(exc, optuna.exceptions.StorageInternalError) and exc.__cause__ is not None:
        return isinstance(exc.__cause__, Exception) and _creation_race(exc.__cause__)
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.ProgrammingError):
        return True
    text = str(exc).lower()
    return "already exists" in text or "locked" in text or "deadlock" in text


def make_sampler(config: TuneConfig, seed: int | None) -> optuna.samplers.BaseSampler:
    """The sampler ``tune.sampler`` names, seeded with ``seed``.

    Only the worker that creates a study uses the config's seed: a worker joining it (or
    resuming it) with the same seed would propose the same first configurations again.
    """
    kind = config.settings.sampler
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if kind == "grid":
        return optuna.samplers.GridSampler(config.grid(), seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(config: TuneConfig) -> optuna.pruners.BasePruner:
    """The pruner ``tune.pruner`` names, with its options."""
    spec = config.settings.pruner
    kind, options = (spec, {}) if isinstance(spec, str) else (spec.kind, spec.model_extra or {})
    cls = getattr(optuna.pruners, PRUNERS[kind])
    try:
        pruner: optuna.pruners.BasePruner = cls(**options)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"tune.pruner: {exc}", field="tune.pruner") from None
    return pruner


@dataclass(frozen=True)
class OpenedStudy:
    """A study this worker takes part in.

    Attributes:
        study: the Optuna study (on the shared storage).
        parent_run_id: the study's parent run; every trial is its child.
        experiment_id: the experiment of the parent run and trials.
        created: whether this worker created the study.
        reopened_from: the status the parent run had when ``resume`` set it RUNNING again.
    """

    study: optuna.Study
    parent_run_id: str
    experiment_id: str
    created: bool
    reopened_from: RunStatus | None = None


def open_study(
    storage: StudyStorage,
    config: TuneConfig,
    name: str,
    *,
    resume: bool,
    client: Client,
    make_parent: Callable[[str], str],
) -> OpenedStudy:
    """Create the study ``name``, or join it when another worker (or an earlier session) did.

    Args:
        storage: the shared storage.
        config: the tuning config (direction, metric, sampler, pruner).
        name: the study name.
        resume: continue a study whose parent run already ended; refuse a missing study.
        client: tracking client for the parent run.
        make_parent: creates the parent run in experiment ``experiment_id``; returns its id.

    Raises:
        NotFoundError: ``resume`` and no such study.
        ConflictError: the study optimises another metric or direction, or it already ended
            and ``resume`` is false.
    """
    exists = _study_exists(storage, name)
    if resume and not exists:
        raise NotFoundError(
            f"no study {name!r} in {redact(storage.url)}; run without --resume to start it",
            field="study",
        )
    created = False
    with quiet_optuna():
        if not exists:
            try:
                optuna.create_study(storage=storage, study_name=name, direction=config.direction)
                created = True
            except optuna.exceptions.DuplicatedStudyError:
                pass  # another worker was faster: join it
        sampler = make_sampler(config, config.seed if created else None)
        study = optuna.load_study(
            study_name=name, storage=storage, sampler=sampler, pruner=make_pruner(config)
        )
    _check_same_objective(study, config)
    if created:
        experiment_id = client.get_or_create_experiment(_experiment(config)).id
        parent = make_parent(experiment_id)
        study.set_user_attr(ATTR_METRIC, config.metric)
        study.set_user_attr(ATTR_SPACE, search_description(config))
        study.set_user_attr(ATTR_EXPERIMENT, experiment_id)
        study.set_user_attr(ATTR_PARENT, parent)
        return OpenedStudy(study, parent, experiment_id, created=True)
    parent, experiment_id = _wait_for_parent(study, client, config, make_parent, resume)
    reopened_from = _check_parent_running(client, study, parent, resume)
    return OpenedStudy(study, parent, experiment_id, False, reopened_from)


def _experiment(config: TuneConfig) -> str:
    return config.train.experiment or "Default"


def _study_exists(storage: StudyStorage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True


def _check_same_objective(study: optuna.Study, config: TuneConfig) -> None:
    direction = study.direction.name.lower()
    if direction != config.direction:
        raise ConflictError(
            f"tune.direction: study {study.study_name!r} {direction}s; this config asks to "
            f"{config.direction}; use another --study",
            field="tune.direction",
        )
    metric = study.user_attrs.get(ATTR_METRIC)
    if metric is not None and metric != config.metric:
        raise ConflictError(
            f"tune.metric: study {study.study_name!r} optimises {metric}, not {config.metric}; "
            "use another --study",
            field="tune.metric",
        )
    recorded = study.user_attrs.get(ATTR_SPACE)
    if recorded is None:
        return
    wanted = search_description(config)
    for key in ("task", "family", "space"):
        if recorded.get(key) != wanted[key]:
            field = {"task": "task", "family": "model.family", "space": "tune.space"}[key]
            raise ConflictError(
                f"{field}: study {study.study_name!r} searched another {key} "
                f"({_short(recorded.get(key))}); its trials cannot be mixed with this config's; "
                "use another --study",
                field=field,
            )


def search_description(config: TuneConfig) -> dict[str, Any]:
    """What makes two configs' trials comparable: task, base family and search space, as
    JSON-ready values (stored on the study, compared when a worker joins or resumes)."""
    space = [
        {
            "name": p.name,
            "kind": p.kind,
            "low": p.low,
            "high": p.high,
            "step": p.step,
            "log": p.log,
            "choices": [repr(c) for c in p.choices],
            "when": [[cond, [repr(v) for v in values]] for cond, values in p.when],
        }
        for p in sorted(config.space, key=lambda p: p.name)
    ]
    return {"task": config.train.task, "family": config.train.model.family, "space": space}


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item.get("name")) for item in value if isinstance(item, dict))
    return str(value)


def _wait_for_parent(
    study: optuna.Study,
    client: Client,
    config: TuneConfig,
    make_parent: Callable[[str], str],
    resume: bool,
) -> tuple[str, str]:
    """The parent run the creating worker recorded (it writes it right after creating)."""
    deadline = time.monotonic() + (0.0 if resume else _PARENT_WAIT_S)
    while True:
        attrs = study.user_attrs
        if ATTR_PARENT in attrs:
            return str(attrs[ATTR_PARENT]), str(attrs[ATTR_EXPERIMENT])
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    # Created outside modelkeep, or its creator died before recording a parent run.
    experiment_id = client.get_or_create_experiment(_experiment(config)).id
    parent = make_parent(experiment_id)
    study.set_user_attr(ATTR_METRIC, config.metric)
    study.set_user_attr(ATTR_EXPERIMENT, experiment_id)
    study.set_user_attr(ATTR_PARENT, parent)
    return parent, experiment_id


def _check_parent_running(
    client: Client, study: optuna.Study, parent: str, resume: bool
) -> RunStatus | None:
    """Refuse to join a study whose parent run has ended, unless resuming; a resumed parent
    is set RUNNING again and its previous status returned."""
    run = client.get_run(parent)
    if run.status == RunStatus.RUNNING:
        return None
    if not resume:
        raise ConflictError(
            f"study {study.study_name!r} already ran (its parent run {parent} is "
            f"{run.status.value}); pass --resume to continue it, or use another --study",
            field="study",
        )
    client.store.update_run(parent, status=RunStatus.RUNNING)
    return run.status


def wait_for_running_trials(study: optuna.Study, poll_s: float = 0.25) -> None:
    """Block until no trial of the study is RUNNING (other workers' last trials).

    A trial whose worker died stops counting once its heartbeat is older than the grace
    period (Optuna fails it then).
    """
    while study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        with quiet_optuna():
            optuna.storages.fail_stale_trials(study)
        time.sleep(poll_s)


def claim_refit(storage: StudyStorage, study: optuna.Study) -> bool:
    """Whether this worker is the one to refit the study's best configuration now.

    The claim is the creation of a study named ``NAME:refit:<number of trials>``: a unique
    insert, so exactly one worker succeeds. A resumed study with more trials makes a new claim.
    """
    n_trials = len(study.get_trials(deepcopy=False))
    name = f"{study.study_name}:refit:{n_trials}"
    try:
        with quiet_optuna():
            claim = optuna.create_study(storage=storage, study_name=name)
    except optuna.exceptions.DuplicatedStudyError:
        return False
    claim.set_user_attr("modelkeep.refit_claim_for", study.study_name)
    return True
