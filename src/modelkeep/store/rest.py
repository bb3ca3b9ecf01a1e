"""RestStore: the :class:`BaseStore` contract over HTTP, talking to ``modelkeep server``.

Every call is one HTTP request to the ``/api/v1/`` API; answers are parsed with the server's own
wire schemas (:mod:`modelkeep.server.schemas`), so NaN and infinite metric values round-trip
exactly. Error answers become the same :mod:`modelkeep.exceptions` classes the server raised
(``field`` and filter ``position`` included); a server that cannot be reached raises
:class:`~modelkeep.exceptions.StoreUnavailableError`.

Thread safety: one :class:`httpx.Client` (with its connection pool) is shared by every thread.
Idempotent GETs are retried on connection errors; writes are not, so none is applied twice.

Example:
    >>> store = RestStore("http://127.0.0.1:5000", token="mk_...")  # doctest: +SKIP
    >>> run = store.create_run(store.get_or_create_experiment("churn").id)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from modelkeep.entities import (
    ApiToken,
    ArtifactRecord,
    DatasetInput,
    Experiment,
    Metric,
    Page,
    Param,
    Role,
    Run,
    RunStatus,
    RunTag,
)
from modelkeep.exceptions import (
    AuthenticationError,
    ConflictError,
    InvalidFilterError,
    InvalidInputError,
    ModelkeepError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StoreError,
    StoreUnavailableError,
)
from modelkeep.server.schemas import (
    ArtifactList,
    ArtifactRecordPublic,
    ExperimentList,
    ExperimentPublic,
    MetricHistory,
    RunPage,
    RunPublic,
    TokenList,
    TokenPublic,
    encode_float,
)
from modelkeep.store.base import BaseStore, RunView
from modelkeep.store.rest_audit import RestAuditMixin, actor_header
from modelkeep.store.rest_registry import RestRegistryMixin

__all__ = ["RestStore"]

M = TypeVar("M", bound=BaseModel)

_GET_ATTEMPTS = 3
_RETRY_DELAY_S = 0.2
_STATUS_FALLBACK: dict[int, type[ModelkeepError]] = {
    400: InvalidInputError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: InvalidInputError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: InvalidInputError,
    422: InvalidInputError,
}


def _subclasses(cls: type[ModelkeepError]) -> list[type[ModelkeepError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def _error_from_response(response: httpx.Response) -> ModelkeepError:
    """The modelkeep error an error answer stands for."""
    try:
        body = response.json()["error"]
        code, message = str(body["code"]), str(body["message"])
        field = body.get("field")
        position = body.get("position")
    except (ValueError, KeyError, TypeError):
        code, message, field, position = "", response.text[:500], None, None
    by_code = {cls.code: cls for cls in _subclasses(ModelkeepError)}
    cls = by_code.get(code) or _STATUS_FALLBACK.get(response.status_code)
    if cls is None:
        cls = StoreError if response.status_code >= 500 else ModelkeepError
    message = message or f"HTTP {response.status_code} from {response.request.url}"
    if cls is InvalidFilterError:
        return InvalidFilterError(message, position=position, field=field or "filter")
    return cls(message, field=field)


def _encode_json(payload: object) -> bytes:
    try:
        return json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"value cannot be sent as JSON: {exc}") from None


def _metric_json(metric: Metric) -> dict[str, Any]:
    # Values are sent as given (not coerced) so the server's store judges them as a local one
    # would; only non-finite floats need the string spelling JSON can carry.
    value = encode_float(metric.value) if isinstance(metric.value, float) else metric.value
    return {"key": metric.key, "value": value, "step": metric.step, "timestamp": metric.timestamp}


def _dataset_json(dataset: DatasetInput) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "digest": dataset.digest,
        "source": dataset.source,
        "schema": dict(dataset.schema),
        "num_rows": dataset.num_rows,
        "context": dataset.context,
    }


def _segment(value: str) -> str:
    """One URL path segment, every reserved character escaped."""
    return quote(value, safe="")


def artifact_url_path(path: str) -> str:
    """A logical artifact path as URL path segments (slashes kept, the rest escaped)."""
    return quote(path, safe="/")


class RestStore(RestRegistryMixin, RestAuditMixin, BaseStore):
    """A metadata store served by a modelkeep tracking server.

    Args:
        uri: the server's base URL, e.g. ``http://127.0.0.1:5000``.
        token: API token sent as ``Authorization: Bearer ...`` (when the server has auth on).
        client: an :class:`httpx.Client` to send requests with (e.g. FastAPI's ``TestClient``
            for an in-process server); by default the store creates and owns one.
        timeout: seconds to wait for the server on each request (for the client the store
            creates; a client passed in keeps its own timeout).
    """

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not uri.startswith(("http://", "https://")):
            raise InvalidInputError(f"not an http(s) URL: {uri!r}", field="uri")
        self.uri = uri.rstrip("/")
        self._api = f"{self.uri}/api/v1"
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __repr__(self) -> str:
        return f"RestStore({self.uri!r})"

    def __enter__(self) -> RestStore:
        return self

    def close(self) -> None:
        """Close the HTTP client if this store created it."""
        if self._owns_client:
            self._client.close()

    # ---- HTTP plumbing ---------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Mapping[str, str] | None = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request to ``/api/v1{path}``; raise the mapped error on an error answer.

        GETs are retried on connection errors (they change nothing); other methods are not.
        """
        all_headers = {**self._headers, **actor_header()}
        if headers:
            all_headers.update(headers)
        if body is not None:
            content = _encode_json(body)
            all_headers["Content-Type"] = "application/json"
        attempts = _GET_ATTEMPTS if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.request(
                    method,
                    f"{self._api}{path}",
                    params=params,
                    content=content,
                    headers=all_headers,
                )
                break
            except httpx.TransportError as exc:
                if attempt == attempts or isinstance(exc, httpx.UnsupportedProtocol):
                    raise StoreUnavailableError(
                        f"tracking server {self.uri} unreachable: {exc}"
                    ) from exc
                time.sleep(_RETRY_DELAY_S * attempt)
        if response.status_code >= 400:
            raise _error_from_response(response)
        return response

    def open_stream(self, path: str) -> httpx.Response:
        """Start a streaming GET of ``/api/v1{path}``; the caller closes the response."""
        for attempt in range(1, _GET_ATTEMPTS + 1):
            try:
                request = self._client.build_request(
                    "GET", f"{self._api}{path}", headers=self._headers
                )
                response = self._client.send(request, stream=True)
                break
            except httpx.TransportError as exc:
                if attempt == _GET_ATTEMPTS:
                    raise StoreUnavailableError(
                        f"tracking server {self.uri} unreachable: {exc}"
                    ) from exc
                time.sleep(_RETRY_DELAY_S * attempt)
        if response.status_code >= 400:
            response.read()
            response.close()
            raise _error_from_response(response)
        return response

    def _parse(self, schema: type[M], response: httpx.Response) -> M:
        try:
            return schema.model_validate_json(response.content)
        except ValidationError as exc:
            raise StoreError(
                f"unexpected answer from {self.uri} for {schema.__name__}: {exc}"
            ) from exc

    # ---- experiments -----------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        body = {"name": name, "tags": dict(tags or {})}
        response = self.request("POST", "/experiments", body=body)
        return self._parse(ExperimentPublic, response).to_entity()

    def get_experiment(self, experiment_id: str) -> Experiment:
        response = self.request("GET", f"/experiments/{_segment(experiment_id)}")
        return self._parse(ExperimentPublic, response).to_entity()

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            response = self.request("GET", "/experiments/by-name", params={"name": name})
        except NotFoundError:
            return None
        return self._parse(ExperimentPublic, response).to_entity()

    def list_experiments(self, view: RunView = "active") -> list[Experiment]:
        response = self.request("GET", "/experiments", params={"view": view})
        return [e.to_entity() for e in self._parse(ExperimentList, response).experiments]

    def delete_experiment(self, experiment_id: str) -> None:
        self.request("DELETE", f"/experiments/{_segment(experiment_id)}")

    def restore_experiment(self, experiment_id: str) -> None:
        self.request("POST", f"/experiments/{_segment(experiment_id)}/restore")

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        body = {"key": key, "value": value}
        self.request("POST", f"/experiments/{_segment(experiment_id)}/tags", body=body)

    # ---- runs ------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
    ) -> Run:
        body = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "tags": dict(tags or {}),
            "parent_run_id": parent_run_id,
            "start_time": start_time,
        }
        return self._parse(RunPublic, self.request("POST", "/runs", body=body)).to_entity()

    def get_run(self, run_id: str) -> Run:
        response = self.request("GET", f"/runs/{_segment(run_id)}")
        return self._parse(RunPublic, response).to_entity()

    def update_run(
        self,
        run_id: str,
        status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> None:
        body = {"status": status, "end_time": end_time, "run_name": run_name}
        self.request("PATCH", f"/runs/{_segment(run_id)}", body=body)

    def delete_run(self, run_id: str) -> None:
        self.request("DELETE", f"/runs/{_segment(run_id)}")

    def restore_run(self, run_id: str) -> None:
        self.request("POST", f"/runs/{_segment(run_id)}/restore")

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        body = {
            "metrics": [_metric_json(m) for m in metrics],
            "params": [{"key": p.key, "value": p.value} for p in params],
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        }
        self.request("POST", f"/runs/{_segment(run_id)}/batch", body=body)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        path = f"/runs/{_segment(run_id)}/metrics/history"
        response = self.request("GET", path, params={"key": key})
        return [m.to_entity() for m in self._parse(MetricHistory, response).metrics]

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        body = {"datasets": [_dataset_json(d) for d in datasets]}
        self.request("POST", f"/runs/{_segment(run_id)}/inputs", body=body)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        view: RunView = "active",
    ) -> Page[Run]:
        body = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string,
            "order_by": list(order_by),
            "max_results": max_results,
            "page_token": page_token,
            "view": view,
        }
        page = self._parse(RunPage, self.request("POST", "/runs/search", body=body))
        return Page([r.to_entity() for r in page.runs], page.next_page_token)

    # ---- artifacts -------------------------------------------------------------------------
    def record_artifact(self, run_id: str, path: str, digest: str, size: int) -> ArtifactRecord:
        body = {"path": path, "digest": digest, "size": size}
        response = self.request("POST", f"/runs/{_segment(run_id)}/artifact-records", body=body)
        return self._parse(ArtifactRecordPublic, response).to_entity()

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        path = f"/runs/{_segment(run_id)}/artifacts"
        response = self.request("GET", path, params={"prefix": prefix})
        return [a.to_entity() for a in self._parse(ArtifactList, response).artifacts]

    def get_artifact(self, run_id: str, path: str) -> ArtifactRecord:
        url = f"/runs/{_segment(run_id)}/artifact-records/{artifact_url_path(path)}"
        return self._parse(ArtifactRecordPublic, self.request("GET", url)).to_entity()

    # ---- API tokens ------------------------------------------------------------------------
    def create_token(self, name: str, role: Role, token_hash: str) -> ApiToken:
        body = {"name": name, "role": role, "token_hash": token_hash}
        return self._parse(TokenPublic, self.request("POST", "/tokens", body=body)).to_entity()

    def get_token_by_hash(self, token_hash: str) -> ApiToken | None:
        try:
            response = self.request("GET", f"/tokens/by-hash/{_segment(token_hash)}")
        except NotFoundError:
            return None
        return self._parse(TokenPublic, response).to_entity()

    def list_tokens(self) -> list[ApiToken]:
        response = self.request("GET", "/tokens")
        return [t.to_entity() for t in self._parse(TokenList, response).tokens]

    def revoke_token(self, token_id: str) -> None:
        self.request("POST", f"/tokens/{_segment(token_id)}/revoke")
