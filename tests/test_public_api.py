"""The public surface is deliberate (httpx's rule): ``modelkeep.__all__`` is exactly this set,
every name resolves, and ``import modelkeep`` does not pull in pandas or scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import modelkeep

EXPECTED = {
    # tracking
    "ActiveRun", "Client", "Settings", "BaseStore", "open_store", "set_tracking_uri",
    "get_tracking_uri", "start_run", "active_run", "end_run", "get_run", "get_metric_history",
    "search_runs",
    # registry
    "ModelInfo", "LoadedModel", "ModelSignature", "PythonModel", "infer_signature",
    "log_model", "register_model", "set_alias", "delete_alias", "load_model",
    "get_model_version", "get_registered_model", "search_model_versions",
    "search_registered_models",
    # entities
    "AliasChange", "ApiToken", "ArtifactRecord", "DatasetInput", "Experiment",
    "LifecycleStage", "Metric", "ModelVersion", "ModelVersionStatus", "Page", "Param",
    "RegisteredModel", "Role", "Run", "RunStatus", "RunTag", "VersionSignature",
    # errors
    "ModelkeepError", "InvalidInputError", "InvalidFilterError", "UnsafePathError",
    "InputSchemaError", "UnsafeArchiveError", "UnsafeModelError", "NotFoundError",
    "AlreadyExistsError", "ConflictError", "ImmutableParamError", "PackageIntegrityError",
    "SignatureError", "AuthenticationError", "PermissionDeniedError", "PayloadTooLargeError",
    "StoreError", "StoreUnavailableError", "UnsupportedMediaTypeError",
    "__version__",
}  # fmt: skip


def test_all_is_exactly_the_intended_names() -> None:
    assert set(modelkeep.__all__) == EXPECTED
    assert len(modelkeep.__all__) == len(EXPECTED)


def test_every_exported_name_resolves() -> None:
    missing = [name for name in modelkeep.__all__ if getattr(modelkeep, name, None) is None]
    assert missing == []


def test_importing_modelkeep_stays_light() -> None:
    code = "import sys, modelkeep; print(sorted({'pandas', 'sklearn'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
