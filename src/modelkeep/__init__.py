"""modelkeep: manage machine-learning models through their whole life.

The tracking API in thirty seconds::

    import modelkeep as mk

    with mk.start_run(experiment="churn") as run:
        run.log_param("lr", 0.1)
        run.log_metric("loss", 0.3, step=1)
    mk.search_runs(experiments=["churn"], filter="metrics.loss < 0.5")
"""

from __future__ import annotations

from modelkeep.config import Settings
from modelkeep.entities import (
    ApiToken,
    ArtifactRecord,
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    Page,
    Param,
    Role,
    Run,
    RunStatus,
    RunTag,
)
from modelkeep.exceptions import (
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    ImmutableParamError,
    InvalidFilterError,
    InvalidInputError,
    ModelkeepError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StoreError,
    StoreUnavailableError,
    UnsafePathError,
)
from modelkeep.store import BaseStore, open_store
from modelkeep.tracking import (
    ActiveRun,
    Client,
    active_run,
    end_run,
    get_metric_history,
    get_run,
    get_tracking_uri,
    search_runs,
    set_tracking_uri,
    start_run,
)

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
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
    "InvalidFilterError",
    "InvalidInputError",
    "LifecycleStage",
    "Metric",
    "ModelkeepError",
    "NotFoundError",
    "Page",
    "Param",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Role",
    "Run",
    "RunStatus",
    "RunTag",
    "Settings",
    "StoreError",
    "StoreUnavailableError",
    "UnsafePathError",
    "__version__",
    "active_run",
    "end_run",
    "get_metric_history",
    "get_run",
    "get_tracking_uri",
    "open_store",
    "search_runs",
    "set_tracking_uri",
    "start_run",
]
