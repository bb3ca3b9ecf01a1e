"""Run routes: create, get, update, delete, restore, log batch, history, inputs, search."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response, status

from modelkeep.entities import Role
from modelkeep.server.deps import StoreDep, require
from modelkeep.server.errors import ERROR_RESPONSES
from modelkeep.server.schemas import (
    LogBatch,
    LogInputs,
    MetricHistory,
    MetricPublic,
    RunCreate,
    RunPage,
    RunPublic,
    RunSearch,
    RunUpdate,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], responses=ERROR_RESPONSES)

_READ = [Depends(require(Role.READER))]
_WRITE = [Depends(require(Role.WRITER))]
_NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=_WRITE)
def create_run(body: RunCreate, store: StoreDep) -> RunPublic:
    """Create a RUNNING run in an experiment."""
    run = store.create_run(
        body.experiment_id,
        run_name=body.run_name,
        tags=body.tags,
        parent_run_id=body.parent_run_id,
        start_time=body.start_time,
    )
    return RunPublic.from_entity(run)


# Searching reads, but its query is too rich for a URL, hence POST with reader access.
@router.post("/search", dependencies=_READ)
def search_runs(body: RunSearch, store: StoreDep) -> RunPage:
    """Runs matching a filter, sorted and paginated (see ``BaseStore.search_runs``)."""
    page = store.search_runs(
        body.experiment_ids,
        filter_string=body.filter,
        order_by=body.order_by,
        max_results=body.max_results,
        page_token=body.page_token,
        view=body.view,
    )
    return RunPage(
        runs=[RunPublic.from_entity(run) for run in page], next_page_token=page.next_page_token
    )


@router.get("/{run_id}", dependencies=_READ)
def get_run(run_id: str, store: StoreDep) -> RunPublic:
    """One run snapshot; 404 if unknown."""
    return RunPublic.from_entity(store.get_run(run_id))


@router.patch("/{run_id}", dependencies=_WRITE)
def update_run(run_id: str, body: RunUpdate, store: StoreDep) -> RunPublic:
    """Change status, end time and/or name; answers the new snapshot."""
    store.update_run(run_id, status=body.status, end_time=body.end_time, run_name=body.run_name)
    return RunPublic.from_entity(store.get_run(run_id))


@router.delete("/{run_id}", status_code=_NO_CONTENT, dependencies=_WRITE)
def delete_run(run_id: str, store: StoreDep) -> Response:
    """Soft-delete a run."""
    store.delete_run(run_id)
    return Response(status_code=_NO_CONTENT)


@router.post("/{run_id}/restore", status_code=_NO_CONTENT, dependencies=_WRITE)
def restore_run(run_id: str, store: StoreDep) -> Response:
    """Undo a soft-delete."""
    store.restore_run(run_id)
    return Response(status_code=_NO_CONTENT)


@router.post("/{run_id}/batch", status_code=_NO_CONTENT, dependencies=_WRITE)
def log_batch(run_id: str, body: LogBatch, store: StoreDep) -> Response:
    """Atomically log metric points, params and tags."""
    metrics, params, tags = body.entities()
    store.log_batch(run_id, metrics=metrics, params=params, tags=tags)
    return Response(status_code=_NO_CONTENT)


@router.get("/{run_id}/metrics/history", dependencies=_READ)
def get_metric_history(run_id: str, store: StoreDep, key: str = Query()) -> MetricHistory:
    """Every point of one metric, by step then timestamp. The key is a query parameter
    because metric keys may contain slashes."""
    points = store.get_metric_history(run_id, key)
    return MetricHistory(metrics=[MetricPublic.from_entity(m) for m in points])


@router.post("/{run_id}/inputs", status_code=_NO_CONTENT, dependencies=_WRITE)
def log_inputs(run_id: str, body: LogInputs, store: StoreDep) -> Response:
    """Record datasets the run consumed."""
    store.log_inputs(run_id, [d.to_entity() for d in body.datasets])
    return Response(status_code=_NO_CONTENT)
