"""Run the shipped registry conformance suite against every backend of the ``store`` fixture."""

from __future__ import annotations

from modelkeep.testing.registry_conformance import RegistryConformance


class TestRegistryConformance(RegistryConformance):
    """SQLite, PostgreSQL and RestStore -> server -> SQLite (see ``tests/conftest.py``)."""
