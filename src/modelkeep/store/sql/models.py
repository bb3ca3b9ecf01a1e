"""Table definitions (SQLAlchemy Core). Every table carries the ``mk_`` prefix.

Runs have an integer surrogate key (``pk``) used by every child table. Metric history is stored
in chunks: one row per (run, key, logged batch) holding little-endian int64 steps, int64
timestamps and float64 values as packed arrays, so logging 100,000 points writes a handful of
rows (NaN and +-inf kept bit-exact). The latest-value table, used by search, stores NaN as NULL
(SQLite cannot store NaN, and PostgreSQL would sort it above every number).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
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
