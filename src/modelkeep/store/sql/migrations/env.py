"""Alembic environment: runs on the connection modelkeep hands over (see ``migrate.py``)."""

from __future__ import annotations

from alembic import context

from modelkeep.store.sql.models import metadata

VERSION_TABLE = "mk_alembic_version"


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Only our own tables: an Optuna study (or anything else) may share the database.
    if type_ == "table":
        return bool(name) and str(name).startswith("mk_")
    return True


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=_include_name,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
