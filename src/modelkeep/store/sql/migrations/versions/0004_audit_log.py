"""append-only audit log of store changes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 16:00:00

The triggers make the table append-only for every client of the database, not only for
modelkeep: an UPDATE or DELETE (and, on SQLite, an INSERT OR REPLACE over an event) is
aborted with an integrity error. (Someone who may drop
triggers or tables can still do so; this guards against mistakes and casual edits.)

No index besides the primary key: every mutating call, ``log_batch`` included, inserts a row,
and each index would add a page write to every commit. Listing walks the key newest first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_MESSAGE = "mk_audit_events is append-only"

_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER mk_audit_events_no_{verb.lower()} BEFORE {verb} ON mk_audit_events "
    f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
    for verb in ("UPDATE", "DELETE")
] + [
    # INSERT OR REPLACE deletes the old row without firing DELETE triggers (SQLite runs
    # them on REPLACE only with recursive triggers on): refuse an insert over an event.
    "CREATE TRIGGER mk_audit_events_no_replace BEFORE INSERT ON mk_audit_events "
    "WHEN EXISTS (SELECT 1 FROM mk_audit_events WHERE id = NEW.id) "
    f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
]

_POSTGRES_FUNCTION = f"""
CREATE OR REPLACE FUNCTION mk_audit_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'restrict_violation';
END
$$
"""

_POSTGRES_TRIGGER = (
    "CREATE TRIGGER mk_audit_events_append_only BEFORE UPDATE OR DELETE ON mk_audit_events "
    "FOR EACH ROW EXECUTE FUNCTION mk_audit_events_refuse_change()"
)


def upgrade() -> None:
    op.create_table(
        "mk_audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mk_audit_events")),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(_POSTGRES_TRIGGER)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS mk_audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS mk_audit_events_no_delete")
        op.execute("DROP TRIGGER IF EXISTS mk_audit_events_no_replace")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS mk_audit_events_append_only ON mk_audit_events")
        op.execute("DROP FUNCTION IF EXISTS mk_audit_events_refuse_change()")
    op.drop_table("mk_audit_events")
