"""``POST /explain``: per-row attributions from the inference server.

The body is read exactly as ``POST /invocations`` reads it (JSON ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs``; CSV; Parquet: see
:mod:`modelkeep.serve.payloads`). The answer is :meth:`modelkeep.explain.Explanation.to_dict`:
``attributions`` (one ``{column: value}`` record per row), ``base_values``, ``outputs``,
``explained_class``, ``method``, ``output_space`` and ``additivity_error``, with the
``X-Model-Version`` and ``X-Model-Variant`` headers of the version that was explained (the
request is routed like a scoring request, so a caller is explained the variant that
answers it).

Choose the method with ``?method=auto|tree|linear|kernel`` (or ``params.method``) and
KernelSHAP's coalitions per row with ``?nsamples=`` (or ``params.nsamples``). The background
is the served version's training reference sample when it has one, else the request's own
rows; it is read once per version and kept. At most :data:`MAX_EXPLAIN_ROWS` rows a request:
explaining costs far more than scoring. Explanations run in a worker thread and are not
written to the inference log.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pandas as pd
from starlette.requests import Request
from starlette.responses import Response

from modelkeep.entities import Role
from modelkeep.exceptions import InvalidInputError, PermissionDeniedError
from modelkeep.serve.deployment import Deployment
from modelkeep.serve.guard import client_key
from modelkeep.serve.http import json_response, read_body
from modelkeep.serve.payloads import parse_invocation
from modelkeep.serve.routes import observe_client, request_key, text_columns
from modelkeep.serve.state import ServingState
from modelkeep.serve.table import Table

__all__ = ["MAX_EXPLAIN_ROWS", "ExplainRoutes"]

MAX_EXPLAIN_ROWS = 1_000


class ExplainRoutes:
    """The ``/explain`` handler, bound to one serving state."""

    def __init__(self, state: ServingState) -> None:
        self.state = state
        self._backgrounds: dict[str, pd.DataFrame | None] = {}
        self._lock = threading.Lock()

    async def explain(self, request: Request) -> Response:
        state = self.state
        token = state.authorize(request.headers.get("authorization"), Role.READER)
        hardened = state.guard.settings.round_probabilities is not None
        if state.guard.settings.labels_only or hardened:
            # Attributions and base values reveal the exact scores the hardening withholds.
            raise PermissionDeniedError(
                "explanations are off while outputs are hardened (--labels-only or "
                "--round-probabilities)"
            )
        client = client_key(request, token)
        if (refused := state.guard.admit(client, token)) is not None:
            return refused.response()
        body = await read_body(request, state.options.max_body_bytes)
        slot = state.route(request_key(request))
        deployment = slot.current
        content_type = request.headers.get("content-type")
        csv = content_type is not None and "csv" in content_type
        text = text_columns(deployment) if csv else frozenset()
        invocation = await asyncio.to_thread(
            parse_invocation, body, content_type, text_columns=text
        )
        params = invocation.params
        method = str(request.query_params.get("method") or params.get("method") or "auto")
        nsamples = _positive_int(request.query_params.get("nsamples") or params.get("nsamples"))
        if len(invocation.table) > MAX_EXPLAIN_ROWS:
            raise InvalidInputError(
                f"rows: at most {MAX_EXPLAIN_ROWS} rows can be explained in one request",
                field="rows",
            )
        if (refused := state.guard.charge(client, len(invocation.table), token)) is not None:
            return refused.response()
        answer = await asyncio.to_thread(
            self._explain, deployment, invocation.table, method, nsamples
        )
        await observe_client(state, client, deployment, invocation.table)
        headers = {"x-model-version": deployment.version, "x-model-variant": slot.variant}
        return json_response(answer, headers=headers)

    def _explain(
        self, deployment: Deployment, table: Table, method: str, nsamples: int | None
    ) -> dict[str, Any]:
        from modelkeep.explain.local import check_method, explain_model

        check_method(method)
        rows = _rows(deployment, table)
        background = self._background(deployment)
        try:
            result = explain_model(
                deployment.model, rows, background=background, method=method, nsamples=nsamples
            )
        except (ValueError, TypeError) as exc:  # the model itself refused the rows
            raise InvalidInputError(
                f"the model could not explain this input: {exc}", field="inputs"
            ) from None
        answer = result.to_dict()
        answer.update(
            model_uri=deployment.uri,
            version=deployment.version or None,
            background={
                "source": "reference" if background is not None else "rows",
                "rows": result.background_rows,
            },
        )
        return answer

    def _background(self, deployment: Deployment) -> pd.DataFrame | None:
        """The version's reference sample (read once per version; None when it has none)."""
        from modelkeep.explain.local import reference_background

        key = deployment.root_digest
        with self._lock:
            if key not in self._backgrounds:
                self._backgrounds[key] = reference_background(self.state.client, deployment.model)
            return self._backgrounds[key]


def _rows(deployment: Deployment, table: Table) -> Any:
    """The request's rows as the model takes them (a DataFrame, or an array of positional
    rows for a model without column names)."""
    if table.frame is not None:
        return table.frame
    names = table.names_for(deployment.model.signature)
    if names is None:
        try:
            return np.asarray(table.rows)
        except ValueError as exc:  # ragged rows
            raise InvalidInputError(f"rows of different lengths: {exc}", field="rows") from None
    return pd.DataFrame(table.rows, columns=list(names))


def _positive_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or isinstance(value, bool | float):
        raise InvalidInputError("nsamples: a positive whole number is needed", field="nsamples")
    return number
