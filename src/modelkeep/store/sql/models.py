"""Table definitions (SQLAlchemy Core). Every table carries the ``mk_`` prefix.

Runs have an integer surrogate key (``pk``) used by every child table. Metric history is stored
in chunks: one row per (run, key, logged batch) holding little-endian int64 steps, int64
timestamps and float64 values as packed arrays, so logging 100,000 points writes a handful of
rows (NaN and +-inf kept bit-exact). The latest-value table, used by search, stores NaN as NULL
(SQLite cannot store NaN, and PostgreSQL would sort it above every number).

Model registry: registered models and versions have integer surrogate keys (``id``) that child
tables use. ``mk_registered_models.next_version`` is the number the next version gets; it is
incremented in the transaction that inserts the version (the row lock, or SQLite's write lock,
serialises concurrent registrations), so numbers are never reused, even after a delete. Trusted
keys are a JSON list of base64 public keys. Alias history has no foreign key to the versions:
it outlives the versions it mentions and goes only with its model.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

experiments = Table(
    "mk_experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("lifecycle_stage", String(20), nullable=False, default="active"),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

experiment_tags = Table(
    "mk_experiment_tags",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("mk_experiments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "mk_runs",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False, unique=True),
    Column("experiment_id", Integer, ForeignKey("mk_experiments.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("parent_pk", Integer, ForeignKey("mk_runs.pk"), nullable=True),
    Column("lifecycle_stage", String(20), nullable=False),
    Index("ix_mk_runs_experiment_start", "experiment_id", "lifecycle_stage", "start_time"),
)

params = Table(
    "mk_params",
    metadata,
    Column("run_pk", Integer, ForeignKey("mk_runs.pk"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", String(6000), nullable=False),
    Index("ix_mk_params_key_run", "key", "run_pk"),
)

tags = Table(
    "mk_tags",
    metadata,
    Column("run_pk", Integer, ForeignKey("mk_runs.pk"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_mk_tags_key_run", "key", "run_pk"),
)

metric_history = Table(
    "mk_metric_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_pk", Integer, ForeignKey("mk_runs.pk"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("count", Integer, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Column("metric_values", LargeBinary, nullable=False),
    Index("ix_mk_metric_chunks_run_key", "run_pk", "key"),
)

latest_metrics = Table(
    "mk_latest_metrics",
    metadata,
    Column("run_pk", Integer, ForeignKey("mk_runs.pk"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=True),
    Index("ix_mk_latest_metrics_key_value", "key", "value"),
)

inputs = Table(
    "mk_inputs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_pk", Integer, ForeignKey("mk_runs.pk"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema_json", Text, nullable=False),
    Column("num_rows", BigInteger, nullable=True),
    Column("context", String(100), nullable=False),
    UniqueConstraint("run_pk", "name", "digest", "context"),
)

artifacts = Table(
    "mk_artifacts",
    metadata,
    Column("run_pk", Integer, ForeignKey("mk_runs.pk"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_time", BigInteger, nullable=False),
)

api_tokens = Table(
    "mk_api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(250), nullable=False),
    Column("role", String(20), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_time", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)


# ---- model registry ------------------------------------------------------------------------

registered_models = Table(
    "mk_registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("require_signatures", Boolean, nullable=False),
    Column("trusted_keys", Text, nullable=False),
    Column("next_version", Integer, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

registered_model_tags = Table(
    "mk_registered_model_tags",
    metadata,
    Column(
        "model_id",
        Integer,
        ForeignKey("mk_registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_mk_registered_model_tags_key_model", "key", "model_id"),
)

model_versions = Table(
    "mk_model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "model_id",
        Integer,
        ForeignKey("mk_registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("root_digest", String(64), nullable=False),
    Column("flavor", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("updated_by", String(256), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    UniqueConstraint("model_id", "version"),
    Index("ix_mk_model_versions_run_id", "run_id"),
    Index("ix_mk_model_versions_root_digest", "root_digest"),
    Index("ix_mk_model_versions_creation_time", "creation_time"),
)

model_version_tags = Table(
    "mk_model_version_tags",
    metadata,
    Column(
        "version_id",
        Integer,
        ForeignKey("mk_model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_mk_model_version_tags_key_version", "key", "version_id"),
)

model_aliases = Table(
    "mk_model_aliases",
    metadata,
    Column(
        "model_id",
        Integer,
        ForeignKey("mk_registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
    # an alias can only point at an existing version; deleting one it points at fails
    ForeignKeyConstraint(
        ["model_id", "version"],
        ["mk_model_versions.model_id", "mk_model_versions.version"],
        name="fk_mk_model_aliases_version_mk_model_versions",
    ),
    Index("ix_mk_model_aliases_model_version", "model_id", "version"),
)

alias_history = Table(
    "mk_model_alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "model_id",
        Integer,
        ForeignKey("mk_registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("alias", String(256), nullable=False),
    Column("version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("actor", String(256), nullable=False),
    Column("reason", Text, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_mk_model_alias_history_model_alias", "model_id", "alias", "id"),
)

model_version_signatures = Table(
    "mk_model_version_signatures",
    metadata,
    Column(
        "version_id",
        Integer,
        ForeignKey("mk_model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key_id", String(16), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("signed_by", String(256), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

# Hyperparameter studies (``modelkeep tune``): Optuna's journal storage over SQL, one journal
# per study (named after it). ``seq`` numbers a journal's entries 0, 1, 2... without gaps (a
# writer takes the next numbers under a per-journal lock), which every worker of the study
# replays in order; heartbeats let a dead worker's RUNNING trials be failed.
study_journal = Table(
    "mk_study_journal",
    metadata,
    Column("journal", String(256), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", Text, nullable=False),
)

study_heartbeats = Table(
    "mk_study_heartbeats",
    metadata,
    Column("journal", String(256), primary_key=True),
    Column("trial_id", BigInteger, primary_key=True, autoincrement=False),
    Column("beat_time", BigInteger, nullable=False),
)

# ---- audit log -----------------------------------------------------------------------------
# Append-only: migration 0004 adds triggers (SQLite, PostgreSQL) that abort UPDATE and DELETE.
# Written on every mutating call, log_batch included, so it has no index besides its key: each
# index is one more page written per commit, and listing (newest first by id) is rare.
audit_events = Table(
    "mk_audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("source", String(512), nullable=False),
)
