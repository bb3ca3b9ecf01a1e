"""hyperparameter study journal and trial heartbeats

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 12:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mk_study_journal",
        sa.Column("journal", sa.String(length=256), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("journal", "seq", name=op.f("pk_mk_study_journal")),
    )
    op.create_table(
        "mk_study_heartbeats",
        sa.Column("journal", sa.String(length=256), nullable=False),
        sa.Column("trial_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("beat_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("journal", "trial_id", name=op.f("pk_mk_study_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("mk_study_heartbeats")
    op.drop_table("mk_study_journal")
