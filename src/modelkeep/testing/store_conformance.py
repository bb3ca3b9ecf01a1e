"""The conformance suite every :class:`~modelkeep.store.base.BaseStore` backend must pass.

Subclass :class:`StoreConformance` in a test module and provide a pytest fixture named ``store``
that yields a fresh, empty store; every ``test_*`` method then runs against it (the idea of
Optuna's storage tests). The suite checks the invariants stated in :mod:`modelkeep.store.base`:
frozen snapshots, immutable params, atomic batches, NaN/inf metrics and latest values,
NotFoundError and InvalidInputError, the search filter language, ordering and pagination, and
the audit log (one event per change, none for reads or failed calls; filters, newest first).

Example, for a third-party backend::

    import pytest
    from modelkeep.testing.store_conformance import StoreConformance

    @pytest.fixture
    def store(tmp_path):
        with MyStore(tmp_path / "db") as s:
            yield s

    class TestMyStore(StoreConformance):
        pass
"""

from __future__ import annotations

from modelkeep.testing.store_conformance_audit import (
    AuditListingConformance,
    AuditRecordingConformance,
)
from modelkeep.testing.store_conformance_logging import (
    FinishRunConformance,
    InputConformance,
    MetricConformance,
    ParamTagConformance,
    ValidationConformance,
)
from modelkeep.testing.store_conformance_search import SearchFilterConformance
from modelkeep.testing.store_conformance_search_order import (
    SearchOrderConformance,
    SearchPaginationConformance,
)
from modelkeep.testing.store_conformance_tracking import (
    ArtifactConformance,
    ExperimentConformance,
    RunConformance,
    TokenConformance,
)

__all__ = ["StoreConformance"]


class StoreConformance(
    ExperimentConformance,
    RunConformance,
    ParamTagConformance,
    MetricConformance,
    FinishRunConformance,
    InputConformance,
    ValidationConformance,
    SearchFilterConformance,
    SearchOrderConformance,
    SearchPaginationConformance,
    ArtifactConformance,
    TokenConformance,
    AuditRecordingConformance,
    AuditListingConformance,
):
    """Every behaviour a metadata store promises; needs a ``store`` fixture (fresh, empty)."""
