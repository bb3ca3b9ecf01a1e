"""The tracking server's route groups, one small module each."""

from __future__ import annotations

from fastapi import APIRouter

from modelkeep.server.routes import (
    artifacts,
    audit,
    experiments,
    models,
    runs,
    service,
    tokens,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    service.router,
    experiments.router,
    runs.router,
    artifacts.router,
    tokens.router,
    models.router,
    audit.router,
)
