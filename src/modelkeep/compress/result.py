"""What :func:`~modelkeep.compress.compress` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from modelkeep.compress.choose import RULE
from modelkeep.compress.register import jsonable
from modelkeep.compress.variants import Variant
from modelkeep.exceptions import NotFoundError

__all__ = ["CompressResult"]


@dataclass(frozen=True)
class CompressResult:
    """What :func:`compress` measured and chose.

    Attributes:
        variants: one row per measured variant (columns: see
            :data:`modelkeep.compress.choose.COLUMNS`), the original first.
        chosen: the name of the chosen variant (``"original"`` when none beats it).
        version: the registered version of the chosen variant, or None (nothing registered:
            ``register=False``, a ``runs:/`` URI, or the original was chosen).
        model: the registered model's name (None for a ``runs:/`` URI).
        parent_version: the version that was compressed (None for a ``runs:/`` URI).
        metric: the metric's name (``accuracy``, ``rmse``...).
        max_metric_drop, min_fidelity: the tolerance the choice used.
        validation_rows, fit_rows: rows measured on, and rows the refits were trained on.
        skipped: candidates left out, ``name -> reason``.
        candidates: the measured variants by name (their models).
        rule: the choice rule, in words.
    """

    variants: pd.DataFrame
    chosen: str
    version: int | None
    model: str | None
    parent_version: int | None
    metric: str
    max_metric_drop: float
    min_fidelity: float
    validation_rows: int
    fit_rows: int
    skipped: dict[str, str] = field(default_factory=dict)
    candidates: dict[str, Variant] = field(default_factory=dict, repr=False)
    rule: str = RULE

    def variant(self, name: str) -> Variant:
        """The measured variant called ``name`` (NotFoundError when there is none)."""
        if name not in self.candidates:
            raise NotFoundError(f"no variant {name!r} was measured", field="variant")
        return self.candidates[name]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite numbers as None): everything but the candidates' models."""
        data: dict[str, Any] = jsonable({
            "model": self.model,
            "parent_version": self.parent_version,
            "version": self.version,
            "chosen": self.chosen,
            "metric": self.metric,
            "max_metric_drop": self.max_metric_drop,
            "min_fidelity": self.min_fidelity,
            "rule": self.rule,
            "validation_rows": self.validation_rows,
            "fit_rows": self.fit_rows,
            "variants": self.variants.to_dict(orient="records"),
            "skipped": dict(self.skipped),
        })  # fmt: skip
        return data
