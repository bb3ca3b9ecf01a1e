"""Experiment routes: create, get, get by name, list, delete, restore, tag."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response, status

from modelkeep.entities import Role
from modelkeep.exceptions import NotFoundError
from modelkeep.server.deps import StoreDep, require
from modelkeep.server.errors import ERROR_RESPONSES
from modelkeep.server.schemas import (
    ExperimentCreate,
    ExperimentList,
    ExperimentPublic,
    ExperimentTagSet,
    ViewName,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"], responses=ERROR_RESPONSES)

_READ = [Depends(require(Role.READER))]
_WRITE = [Depends(require(Role.WRITER))]
_NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=_WRITE)
def create_experiment(body: ExperimentCreate, store: StoreDep) -> ExperimentPublic:
    """Create an experiment; 409 if the name is taken."""
    return ExperimentPublic.from_entity(store.create_experiment(body.name, body.tags))


@router.get("", dependencies=_READ)
def list_experiments(store: StoreDep, view: ViewName = "active") -> ExperimentList:
    """Experiments in ``view``, ordered by name."""
    found = store.list_experiments(view)
    return ExperimentList(experiments=[ExperimentPublic.from_entity(e) for e in found])


@router.get("/by-name", dependencies=_READ)
def get_experiment_by_name(store: StoreDep, name: str = Query()) -> ExperimentPublic:
    """The experiment called ``name`` (active or deleted); 404 if there is none."""
    found = store.get_experiment_by_name(name)
    if found is None:
        raise NotFoundError(f"no experiment named {name!r}", field="name")
    return ExperimentPublic.from_entity(found)


@router.get("/{experiment_id}", dependencies=_READ)
def get_experiment(experiment_id: str, store: StoreDep) -> ExperimentPublic:
    """One experiment; 404 if unknown."""
    return ExperimentPublic.from_entity(store.get_experiment(experiment_id))


@router.delete("/{experiment_id}", status_code=_NO_CONTENT, dependencies=_WRITE)
def delete_experiment(experiment_id: str, store: StoreDep) -> Response:
    """Soft-delete an experiment."""
    store.delete_experiment(experiment_id)
    return Response(status_code=_NO_CONTENT)


@router.post("/{experiment_id}/restore", status_code=_NO_CONTENT, dependencies=_WRITE)
def restore_experiment(experiment_id: str, store: StoreDep) -> Response:
    """Undo a soft-delete."""
    store.restore_experiment(experiment_id)
    return Response(status_code=_NO_CONTENT)


@router.post("/{experiment_id}/tags", status_code=_NO_CONTENT, dependencies=_WRITE)
def set_experiment_tag(experiment_id: str, body: ExperimentTagSet, store: StoreDep) -> Response:
    """Set or overwrite one experiment tag."""
    store.set_experiment_tag(experiment_id, body.key, body.value)
    return Response(status_code=_NO_CONTENT)
