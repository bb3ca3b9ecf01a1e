"""modelkeep: manage machine-learning models through their whole life.

The tracking API in thirty seconds::

    import modelkeep as mk

    with mk.start_run(experiment="churn") as run:
        run.log_param("lr", 0.1)
        run.log_metric("loss", 0.3, step=1)
    mk.search_runs(experiments=["churn"], filter="metrics.loss < 0.5")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelkeep.config import Settings
from modelkeep.entities import (
    AliasChange,
    ApiToken,
    ArtifactRecord,
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    ModelVersion,
    ModelVersionStatus,
    Page,
    Param,
    RegisteredModel,
    Role,
    Run,
    RunStatus,
    RunTag,
    VersionSignature,
)
from modelkeep.exceptions import (
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    ImmutableParamError,
    InputSchemaError,
    InvalidFilterError,
    InvalidInputError,
    ModelkeepError,
    NotFoundError,
    PackageIntegrityError,
    PayloadTooLargeError,
    PermissionDeniedError,
    SignatureError,
    StoreError,
    StoreUnavailableError,
    UnsafeArchiveError,
    UnsafeModelError,
    UnsafePathError,
    UnsupportedMediaTypeError,
)
from modelkeep.store import BaseStore, open_store
from modelkeep.tracking import (
    ActiveRun,
    Client,
    ModelInfo,
    active_run,
    delete_alias,
    end_run,
    get_metric_history,
    get_model_version,
    get_registered_model,
    get_run,
    get_tracking_uri,
    load_model,
    log_model,
    register_model,
    search_model_versions,
    search_registered_models,
    search_runs,
    set_alias,
    set_tracking_uri,
    start_run,
)

if TYPE_CHECKING:
    from modelkeep.registry.flavors.pyfunc import PythonModel
    from modelkeep.registry.loaded import LoadedModel
    from modelkeep.registry.signature import ModelSignature, infer_signature

__version__ = "0.1.0"

# Model-package names pull in pandas and scikit-learn; they are imported on first use so that
# ``import modelkeep`` (and the CLI's --help) stays fast.
_LAZY = {
    "LoadedModel": "modelkeep.registry.loaded",
    "ModelSignature": "modelkeep.registry.signature",
    "PythonModel": "modelkeep.registry.flavors.pyfunc",
    "infer_signature": "modelkeep.registry.signature",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelkeep' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ActiveRun",
    "AliasChange",
    "AlreadyExistsError",
    "ApiToken",
    "ArtifactRecord",
    "AuthenticationError",
    "BaseStore",
    "Client",
    "ConflictError",
    "DatasetInput",
    "Experiment",
    "ImmutableParamError",
    "InputSchemaError",
    "InvalidFilterError",
    "InvalidInputError",
    "LifecycleStage",
    "LoadedModel",
    "Metric",
    "ModelInfo",
    "ModelSignature",
    "ModelVersion",
    "ModelVersionStatus",
    "ModelkeepError",
    "NotFoundError",
    "PackageIntegrityError",
    "Page",
    "Param",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PythonModel",
    "RegisteredModel",
    "Role",
    "Run",
    "RunStatus",
    "RunTag",
    "Settings",
    "SignatureError",
    "StoreError",
    "StoreUnavailableError",
    "UnsafeArchiveError",
    "UnsafeModelError",
    "UnsafePathError",
    "UnsupportedMediaTypeError",
    "VersionSignature",
    "__version__",
    "active_run",
    "delete_alias",
    "end_run",
    "get_metric_history",
    "get_model_version",
    "get_registered_model",
    "get_run",
    "get_tracking_uri",
    "infer_signature",
    "load_model",
    "log_model",
    "open_store",
    "register_model",
    "search_model_versions",
    "search_registered_models",
    "search_runs",
    "set_alias",
    "set_tracking_uri",
    "start_run",
]
