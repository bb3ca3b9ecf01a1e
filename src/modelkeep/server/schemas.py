"""Wire schemas of the tracking API (pydantic v2), shared by the server and :class:`RestStore`.

Families: ``*Create`` / ``*Update`` are request bodies, ``*Public`` are what the server answers.
Each ``*Public`` converts from and to its :mod:`modelkeep.entities` snapshot, so the server and
the client agree on one wire format.

JSON has no NaN or infinity, so metric values travel as numbers when finite and as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` otherwise (:data:`WireFloat`), in both directions.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from modelkeep.entities import (
    ApiToken,
    ArtifactRecord,
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Role,
    Run,
    RunStatus,
    RunTag,
)

__all__ = [
    "ArtifactList",
    "ArtifactRecordCreate",
    "ArtifactRecordPublic",
    "DatasetInputPublic",
    "ErrorBody",
    "ErrorResponse",
    "ExperimentCreate",
    "ExperimentList",
    "ExperimentPublic",
    "ExperimentTagSet",
    "LogBatch",
    "LogInputs",
    "MetricHistory",
    "MetricPublic",
    "ParamPublic",
    "RunCreate",
    "RunPage",
    "RunPublic",
    "RunSearch",
    "RunUpdate",
    "TagPublic",
    "TokenCreate",
    "TokenList",
    "TokenPublic",
    "ViewName",
    "WireFloat",
    "decode_float",
    "encode_float",
]

ViewName = Literal["active", "deleted", "all"]

_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def encode_float(value: float) -> float | str:
    """A float as JSON can carry it: itself when finite, else "NaN", "Infinity", "-Infinity".

    Example:
        >>> encode_float(float("-inf")), encode_float(0.5)
        ('-Infinity', 0.5)
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def decode_float(value: object) -> object:
    """Undo :func:`encode_float`; other values pass on to pydantic's strict float check."""
    if isinstance(value, str) and value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    return value


WireFloat = Annotated[
    float,
    Field(strict=True),
    BeforeValidator(decode_float),
    PlainSerializer(encode_float, return_type=float | str, when_used="json"),
]
"""A float that survives JSON, NaN and infinities included."""


class _Request(BaseModel):
    # Unknown fields are refused so that a typo in a request is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class _Public(BaseModel):
    # Answers ignore unknown fields so an older client keeps working against a newer server.
    model_config = ConfigDict(extra="ignore")


# ---- errors ------------------------------------------------------------------------------------
class ErrorBody(_Public):
    code: str
    message: str
    field: str | None = None
    position: int | None = None


class ErrorResponse(_Public):
    """The body of every 4xx/5xx answer."""

    error: ErrorBody


# ---- experiments -------------------------------------------------------------------------------
class ExperimentCreate(_Request):
    name: str
    tags: dict[str, str] = Field(default_factory=dict)


class ExperimentTagSet(_Request):
    key: str
    value: str


class ExperimentPublic(_Public):
    id: str
    name: str
    lifecycle_stage: LifecycleStage
    tags: dict[str, str]
    creation_time: int
    last_update_time: int

    @classmethod
    def from_entity(cls, experiment: Experiment) -> ExperimentPublic:
        return cls(
            id=experiment.id,
            name=experiment.name,
            lifecycle_stage=experiment.lifecycle_stage,
            tags=dict(experiment.tags),
            creation_time=experiment.creation_time,
            last_update_time=experiment.last_update_time,
        )

    def to_entity(self) -> Experiment:
        return Experiment(
            id=self.id,
            name=self.name,
            lifecycle_stage=self.lifecycle_stage,
            tags=dict(self.tags),
            creation_time=self.creation_time,
            last_update_time=self.last_update_time,
        )


class ExperimentList(_Public):
    experiments: list[ExperimentPublic]


# ---- metrics, params, tags, inputs -------------------------------------------------------------
class MetricPublic(_Request):
    key: str
    value: WireFloat
    step: int = 0
    timestamp: int = 0

    @classmethod
    def from_entity(cls, metric: Metric) -> MetricPublic:
        return cls(
            key=metric.key, value=metric.value, step=metric.step, timestamp=metric.timestamp
        )

    def to_entity(self) -> Metric:
        return Metric(self.key, self.value, self.step, self.timestamp)


class ParamPublic(_Request):
    key: str
    value: str


class TagPublic(_Request):
    key: str
    value: str


class DatasetInputPublic(_Request):
    name: str
    digest: str
    source: str = ""
    # "schema" would shadow a BaseModel attribute, hence the alias.
    dataset_schema: dict[str, Any] = Field(default_factory=dict, alias="schema")
    num_rows: int | None = None
    context: str = ""

    @classmethod
    def from_entity(cls, dataset: DatasetInput) -> DatasetInputPublic:
        return cls(
            name=dataset.name,
            digest=dataset.digest,
            source=dataset.source,
            schema=dict(dataset.schema),
            num_rows=dataset.num_rows,
            context=dataset.context,
        )

    def to_entity(self) -> DatasetInput:
        return DatasetInput(
            name=self.name,
            digest=self.digest,
            source=self.source,
            schema=dict(self.dataset_schema),
            num_rows=self.num_rows,
            context=self.context,
        )


class LogBatch(_Request):
    metrics: list[MetricPublic] = Field(default_factory=list)
    params: list[ParamPublic] = Field(default_factory=list)
    tags: list[TagPublic] = Field(default_factory=list)

    def entities(self) -> tuple[list[Metric], list[Param], list[RunTag]]:
        """The batch as store entities: (metrics, params, tags)."""
        return (
            [m.to_entity() for m in self.metrics],
            [Param(p.key, p.value) for p in self.params],
            [RunTag(t.key, t.value) for t in self.tags],
        )


class LogInputs(_Request):
    datasets: list[DatasetInputPublic]


class MetricHistory(_Public):
    metrics: list[MetricPublic]


# ---- runs --------------------------------------------------------------------------------------
class RunCreate(_Request):
    experiment_id: str
    run_name: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    parent_run_id: str | None = None
    start_time: int | None = None


def _upper(value: object) -> object:
    # The stores accept statuses in any case ("finished"); so does the API.
    return value.upper() if isinstance(value, str) else value


class RunUpdate(_Request):
    status: Annotated[RunStatus | None, BeforeValidator(_upper)] = None
    end_time: int | None = None
    run_name: str | None = None


class RunPublic(_Public):
    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    parent_run_id: str | None = None
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    metrics: dict[str, WireFloat] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    inputs: list[DatasetInputPublic] = Field(default_factory=list)

    @classmethod
    def from_entity(cls, run: Run) -> RunPublic:
        return cls(
            id=run.id,
            experiment_id=run.experiment_id,
            name=run.name,
            status=run.status,
            start_time=run.start_time,
            end_time=run.end_time,
            parent_run_id=run.parent_run_id,
            lifecycle_stage=run.lifecycle_stage,
            metrics=dict(run.metrics),
            params=dict(run.params),
            tags=dict(run.tags),
            inputs=[DatasetInputPublic.from_entity(d) for d in run.inputs],
        )

    def to_entity(self) -> Run:
        return Run(
            id=self.id,
            experiment_id=self.experiment_id,
            name=self.name,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            parent_run_id=self.parent_run_id,
            lifecycle_stage=self.lifecycle_stage,
            metrics=dict(self.metrics),
            params=dict(self.params),
            tags=dict(self.tags),
            inputs=tuple(d.to_entity() for d in self.inputs),
        )


class RunSearch(_Request):
    experiment_ids: list[str]
    filter: str = ""
    order_by: list[str] = Field(default_factory=list)
    max_results: int = 1000
    page_token: str | None = None
    view: ViewName = "active"


class RunPage(_Public):
    runs: list[RunPublic]
    next_page_token: str | None = None


# ---- artifacts ---------------------------------------------------------------------------------
class ArtifactRecordCreate(_Request):
    path: str
    digest: str
    size: int


class ArtifactRecordPublic(_Public):
    run_id: str
    path: str
    digest: str
    size: int
    created_time: int = 0

    @classmethod
    def from_entity(cls, record: ArtifactRecord) -> ArtifactRecordPublic:
        return cls(
            run_id=record.run_id,
            path=record.path,
            digest=record.digest,
            size=record.size,
            created_time=record.created_time,
        )

    def to_entity(self) -> ArtifactRecord:
        return ArtifactRecord(self.run_id, self.path, self.digest, self.size, self.created_time)


class ArtifactList(_Public):
    artifacts: list[ArtifactRecordPublic]


# ---- API tokens --------------------------------------------------------------------------------
class TokenCreate(_Request):
    name: str
    role: Role
    token_hash: str


class TokenPublic(_Public):
    id: str
    name: str
    role: Role
    created_time: int
    revoked: bool = False

    @classmethod
    def from_entity(cls, token: ApiToken) -> TokenPublic:
        return cls(
            id=token.id,
            name=token.name,
            role=token.role,
            created_time=token.created_time,
            revoked=token.revoked,
        )

    def to_entity(self) -> ApiToken:
        return ApiToken(self.id, self.name, self.role, self.created_time, self.revoked)


class TokenList(_Public):
    tokens: list[TokenPublic]
