"""The conformance suite every backend's model-registry half must pass.

Subclass :class:`RegistryConformance` in a test module and provide a pytest fixture named
``store`` that yields a fresh, empty store; every ``test_*`` method then runs against it, as with
:class:`~modelkeep.testing.store_conformance.StoreConformance`. The suite checks each invariant
stated in :mod:`modelkeep.store.registry_base`: unique, well-formed model names; version numbers
1, 2, 3... never reused and distinct under concurrent registration; one version per alias and an
append-only alias history with actor, reason and previous version; alias name rules; ``force``
for deleting aliased versions and models; verified ed25519 signatures, one per key; the
require-signatures alias gate; the search filter identifiers, ordering and pagination; frozen
snapshots; NotFoundError for unknown models, versions and aliases; and that a failed call
changes nothing.

Example, for a third-party backend::

    import pytest
    from modelkeep.testing.registry_conformance import RegistryConformance

    @pytest.fixture
    def store(tmp_path):
        with MyStore(tmp_path / "db") as s:
            yield s

    class TestMyRegistry(RegistryConformance):
        pass
"""

from __future__ import annotations

from modelkeep.testing.registry_conformance_aliases import (
    AliasConformance,
    AliasDeleteConformance,
    AliasHistoryConformance,
)
from modelkeep.testing.registry_conformance_model_search import RegisteredModelSearchConformance
from modelkeep.testing.registry_conformance_models import RegisteredModelConformance
from modelkeep.testing.registry_conformance_signatures import (
    SignatureConformance,
    SignedAliasConformance,
)
from modelkeep.testing.registry_conformance_snapshots import (
    FailedCallConformance,
    NotFoundConformance,
    SnapshotConformance,
)
from modelkeep.testing.registry_conformance_version_search import ModelVersionSearchConformance
from modelkeep.testing.registry_conformance_versions import (
    ModelVersionConformance,
    VersionNumberingConformance,
)

__all__ = ["RegistryConformance"]


class RegistryConformance(
    RegisteredModelConformance,
    RegisteredModelSearchConformance,
    VersionNumberingConformance,
    ModelVersionConformance,
    ModelVersionSearchConformance,
    AliasConformance,
    AliasDeleteConformance,
    AliasHistoryConformance,
    SignatureConformance,
    SignedAliasConformance,
    SnapshotConformance,
    NotFoundConformance,
    FailedCallConformance,
):
    """Every behaviour a registry store promises; needs a ``store`` fixture (fresh, empty)."""
