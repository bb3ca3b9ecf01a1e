"""Run the shipped store conformance suite against every backend of the ``store`` fixture."""

from __future__ import annotations

from modelkeep.testing.store_conformance import StoreConformance


class TestStoreConformance(StoreConformance):
    """SQLite, PostgreSQL and RestStore -> server -> SQLite (see ``tests/conftest.py``)."""
