"""Model-card sections for what is measured about a version after training: explanations
(global importance with its plot), privacy and security audits, compression lineage and
energy. Each reads the JSON that its package stored with the version's run (plain dicts, so
the registry does not import those packages); a section whose report is absent says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelkeep.registry.card_render import Image, Section, Table, Text

__all__ = ["CardReports", "report_sections"]

ENERGY_METRICS = ("wall_seconds", "cpu_seconds", "peak_memory_mb", "energy_kwh", "co2_kg")


@dataclass(frozen=True)
class CardReports:
    """The stored reports of one version (each None when it was never produced).

    Attributes:
        importance, importance_png: ``explain/importance.json`` and its plot.
        privacy, security: ``audit/privacy.json`` and ``audit/security.json``.
        compress: ``compress/variants.json`` of a compressed version; ``compress_tags`` its
            ``modelkeep.compress.*`` tags.
        energy: one row per version of the model (``version``, the energy metrics of its
            training run, ``method``), to compare versions.
    """

    importance: Mapping[str, Any] | None = None
    importance_png: bytes | None = None
    privacy: Mapping[str, Any] | None = None
    security: Mapping[str, Any] | None = None
    compress: Mapping[str, Any] | None = None
    compress_tags: Mapping[str, str] = field(default_factory=dict)
    energy: Sequence[Mapping[str, Any]] = ()


def report_sections(reports: CardReports) -> tuple[Section, ...]:
    """The card sections of ``reports``, in a fixed order."""
    return (
        _explainability(reports),
        _privacy(reports.privacy),
        _security(reports.security),
        _compression(reports),
        _energy(reports.energy),
    )


def _n(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    if not math.isfinite(float(value)):
        return "-"
    return f"{float(value):.{digits}g}"


def _explainability(reports: CardReports) -> Section:
    title = "Explainability"
    data = reports.importance
    if not data:
        return Section(title, (Text("No global importance was computed for this version "
                                    "(`modelkeep explain MODEL_URI ROWS --importance "
                                    "--target COL`)."),))  # fmt: skip
    rows = tuple(
        (str(f.get("feature", "")), f"{_n(f.get('importance_mean'))} ± "
         f"{_n(f.get('importance_std'))}", _n(f.get("mean_abs_shap")))
        for f in data.get("features") or []
    )  # fmt: skip
    lead = (f"Permutation importance on {data.get('rows', '?')} rows ({data.get('metric')}, "
            f"{data.get('n_repeats', '?')} repeats; mean ± std of the score drop) and mean "
            "|SHAP|.")  # fmt: skip
    blocks: list[Any] = [Text(lead), Table(("Feature", "Permutation", "Mean |SHAP|"), rows)]
    if reports.importance_png:
        blocks.append(Image("permutation importance with its spread", reports.importance_png))
    return Section(title, tuple(blocks))


def _privacy(data: Mapping[str, Any] | None) -> Section:
    title = "Privacy audit"
    if not data:
        return Section(title, (Text("No membership-inference audit was run "
                                    "(`modelkeep audit privacy`)."),))  # fmt: skip
    verdict = "passed" if data.get("passed") else "FAILED"
    lead = (f"Membership inference: {verdict} (AUC at most {_n(data.get('max_auc'))}, "
            f"advantage at most {_n(data.get('max_advantage'))}); {data.get('n_members')} "
            f"members, {data.get('n_non_members')} non-members.")  # fmt: skip
    rows = []
    for name, attack in (data.get("attacks") or {}).items():
        ci = (attack.get("ci") or {}).get("auc") or [None, None]
        rows.append((
            str(name), f"{_n(attack.get('auc'))} [{_n(ci[0], 3)}, {_n(ci[1], 3)}]",
            _n(attack.get("tpr_at_1pct_fpr")), _n(attack.get("tpr_at_01pct_fpr")),
            _n(attack.get("advantage")),
        ))  # fmt: skip
    headers = ("Attack", "ROC AUC [95% CI]", "TPR @ 1% FPR", "TPR @ 0.1% FPR", "Advantage")
    return Section(title, (Text(lead), Table(headers, tuple(rows))))


def _security(data: Mapping[str, Any] | None) -> Section:
    title = "Security audit"
    if not data:
        return Section(title, (Text("No security audit was run (`modelkeep audit security`)."),))
    rows = tuple(
        (str(c.get("name", "")), "passed" if c.get("passed") else "FAILED",
         str(c.get("severity", "")), str(c.get("detail", "")))
        for c in data.get("checks") or []
    )  # fmt: skip
    verdict = "every check passed" if data.get("passed") else "a check failed"
    return Section(title, (Text(f"Package checks: {verdict}."),
                           Table(("Check", "Result", "Severity", "Detail"), rows)))  # fmt: skip


def _compression(reports: CardReports) -> Section:
    title = "Compression"
    tags, data = reports.compress_tags, reports.compress
    if not tags and not data:
        return Section(title, (Text("This version is not a compressed variant."),))
    parent = tags.get("modelkeep.compress.parent_version", "?")
    variant = tags.get("modelkeep.compress.variant", (data or {}).get("chosen", "?"))
    blocks: list[Any] = [Text(f"Variant `{variant}` of version {parent}.")]
    variants = (data or {}).get("variants") or []
    if variants:
        rows = tuple(
            (str(v.get("variant", "")), str(v.get("runtime", "")), _n(v.get("size_bytes"), 6),
             _n(v.get("latency_1row_ms")), _n(v.get("latency_1000rows_ms")),
             _n(v.get("metric")), _n(v.get("fidelity")), "yes" if v.get("chosen") else "")
            for v in variants
        )  # fmt: skip
        headers = ("Variant", "Runtime", "Bytes", "1 row (ms)", "1,000 rows (ms)",
                   str((data or {}).get("metric", "metric")), "Fidelity", "Chosen")  # fmt: skip
        blocks.append(Table(headers, rows))
    return Section(title, tuple(blocks))


def _energy(rows: Sequence[Mapping[str, Any]]) -> Section:
    title = "Energy and cost"
    measured = [r for r in rows if any(r.get(k) is not None for k in ENERGY_METRICS)]
    if not measured:
        return Section(title, (Text("No energy was recorded for this model's training runs."),))
    table = tuple(
        (f"v{r.get('version')}", *(_n(r.get(k)) for k in ENERGY_METRICS), str(r.get("method")))
        for r in measured
    )
    headers = ("Version", "Wall (s)", "CPU (s)", "Peak memory (MB)", "Energy (kWh)",
               "CO2 (kg)", "Method")  # fmt: skip
    note = ("Training cost of each version. Unless the method is `codecarbon` (hardware "
            "counters), energy and CO2 are estimates from CPU time and the grid's carbon "
            "intensity.")  # fmt: skip
    return Section(title, (Text(note), Table(headers, table)))
