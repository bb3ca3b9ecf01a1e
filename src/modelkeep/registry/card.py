"""Model cards: one page that says what a model version is, where it came from and how it moved.

:func:`render_card` gathers the registry entities, the package manifest and the source run into
sections (purpose, package, signature, training data lineage, parameters, metrics, tags, alias
history, maintenance decisions) and renders the same sections twice: as Markdown, and as a
self-contained HTML page (inline CSS, no script, no external resource, and a
Content-Security-Policy that forbids both).

Every user-provided string is escaped (:mod:`modelkeep.registry.card_render`): names,
descriptions, tags and reasons can hold ``<script>`` or ``|`` and still render as plain text.

Example:
    >>> card = render_card(model, version, manifest, run, history)  # doctest: +SKIP
    >>> write_card(card, Path("cards"), "churn-v3")  # doctest: +SKIP
    (PosixPath('cards/churn-v3.md'), PosixPath('cards/churn-v3.html'))
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelkeep.entities import AliasChange, ModelVersion, RegisteredModel, Run
from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.card_render import (
    Block,
    Code,
    Heading,
    Mono,
    Section,
    Table,
    Text,
    to_html,
    to_markdown,
)
from modelkeep.registry.card_reports import CardReports, report_sections
from modelkeep.registry.manifest import Manifest

__all__ = ["ModelCard", "render_card", "write_card"]


@dataclass(frozen=True, slots=True)
class ModelCard:
    """A rendered model card: the same content as Markdown and as a self-contained HTML page."""

    markdown: str
    html: str


def render_card(
    model: RegisteredModel,
    version: ModelVersion,
    manifest: Manifest,
    run: Run | None,
    alias_history: Sequence[AliasChange],
    decisions: Sequence[Mapping[str, Any]] = (),
    reports: CardReports | None = None,
) -> ModelCard:
    """Render the model card of one version.

    Args:
        model: the registered model (description, tags, aliases).
        version: the version the card is about.
        manifest: the version's package manifest (flavor, signature, lineage, metrics).
        run: the source run (params, metrics, dataset inputs), or None when unknown.
        alias_history: alias moves of the model, in any order; shown oldest first.
        decisions: maintenance decision records (``DecisionRecord.to_dict()``) of the model;
            those naming this version as champion or challenger are shown.
        reports: the version's stored explanation, audit, compression and energy reports
            (:mod:`modelkeep.registry.card_reports`).

    Returns:
        The card as Markdown and as self-contained HTML. Rendering is deterministic: the same
        inputs give the same text.

    Example:
        >>> card = render_card(model, version, manifest, None, [])  # doctest: +SKIP
        >>> card.markdown.splitlines()[0]  # doctest: +SKIP
        '# churn v3'
    """
    title = f"{model.name} v{version.version}"
    aliases = sorted(
        set(version.aliases) | {a for a, v in model.aliases.items() if v == version.version}
    )
    lead = f"Aliases: {', '.join(aliases)}" if aliases else "Aliases: none"
    sections = (
        _overview(version, run),
        _purpose(model, version),
        _package(version, manifest),
        _signature(manifest.signature),
        _lineage(manifest, run),
        _parameters(run),
        _metrics(manifest, run),
        _tags(model, version),
        _alias_history(alias_history),
        _decisions(version, decisions),
        *report_sections(reports or CardReports()),
    )
    return ModelCard(to_markdown(title, lead, sections), to_html(title, lead, sections))


def write_card(card: ModelCard, directory: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.html`` into ``directory`` (created if missing).

    Returns:
        The paths of the Markdown and HTML files.

    Raises:
        InvalidInputError: ``stem`` is empty, ``.``/``..``, or holds a path separator or NUL.
    """
    if stem in ("", ".", "..") or any(c in stem for c in "/\\\x00"):
        raise InvalidInputError(
            f"card file stem {stem!r} must be a plain file name without separators",
            field="stem",
        )
    directory.mkdir(parents=True, exist_ok=True)
    markdown, page = directory / f"{stem}.md", directory / f"{stem}.html"
    markdown.write_text(card.markdown, encoding="utf-8", newline="\n")
    page.write_text(card.html, encoding="utf-8", newline="\n")
    return markdown, page


# ---- sections ---------------------------------------------------------------------------------


def _utc(ms: int) -> str:
    if ms <= 0:
        return "unknown"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float) -> str:
    return format(value, ".6g")


def _field_table(rows: Iterable[tuple[str, str]]) -> Table:
    return Table(("Field", "Value"), tuple(rows))


def _overview(version: ModelVersion, run: Run | None) -> Section:
    source_run = version.run_id or ""
    if run is not None:
        source_run = f"{run.name} ({run.id})" if run.name else run.id
    rows = [
        ("URI", version.uri),
        ("Status", version.status.value),
        ("Created", _utc(version.creation_time)),
        ("Created by", version.created_by or "unknown"),
        ("Source", version.source),
        ("Source run", source_run or "none"),
    ]
    return Section("Overview", (_field_table(rows),))


def _purpose(model: RegisteredModel, version: ModelVersion) -> Section:
    blocks: list[Block] = []
    if model.description.strip():
        blocks.append(Text(model.description.strip()))
    if version.description.strip():
        blocks += [Heading(f"Version {version.version}"), Text(version.description.strip())]
    if not blocks:
        blocks.append(Text("No description was given for this model or this version."))
    return Section("Purpose", tuple(blocks))


def _package(version: ModelVersion, manifest: Manifest) -> Section:
    requirements = ", ".join(manifest.requirements) or "none recorded"
    blocks: list[Block] = [
        _field_table(
            [
                ("Flavor", manifest.flavor),
                ("Python", manifest.python_version or "unknown"),
                ("Requirements", requirements),
                ("Packaged", _utc(manifest.created_time)),
                ("Root digest", Mono(version.root_digest)),
            ]
        )
    ]
    if manifest.library_versions:
        libraries = tuple(sorted(manifest.library_versions.items()))
        blocks += [Heading("Library versions"), Table(("Library", "Version"), libraries)]
    blocks.append(Heading("Signatures of the root digest"))
    if version.signatures:
        rows = tuple(
            (Mono(s.key_id), s.signed_by or "unknown", _utc(s.timestamp))
            for s in version.signatures
        )
        blocks.append(Table(("Key id", "Signed by", "Signed at (UTC)"), rows))
    else:
        blocks.append(Text("This version is not signed."))
    return Section("Package", tuple(blocks))


def _is_column_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(c, Mapping) and "name" in c for c in value)


def _yes_no(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, "") if isinstance(value, bool) else str(value)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _signature(signature: Mapping[str, Any] | None) -> Section:
    if signature is None:
        text = "No signature was recorded, so inputs are not checked when the model is served."
        return Section("Signature", (Text(text),))
    blocks: list[Block] = []
    for key in ("inputs", "outputs"):
        value = signature.get(key)
        if value is None:
            continue
        blocks.append(Heading(key.capitalize()))
        if _is_column_list(value):
            rows = tuple(
                (
                    str(c["name"]),
                    str(c.get("dtype", c.get("type", ""))),
                    _yes_no(c.get("nullable", "")),
                )
                for c in value
            )
            blocks.append(Table(("Name", "Type", "Nullable"), rows))
        else:
            blocks.append(Code(_json(value)))
    rest = {k: v for k, v in signature.items() if k not in ("inputs", "outputs")}
    if rest:
        blocks += [Heading("Other"), Code(_json(rest))]
    return Section("Signature", tuple(blocks) or (Code(_json(dict(signature))),))


def _lineage(manifest: Manifest, run: Run | None) -> Section:
    found: dict[tuple[str, ...], dict[str, str]] = {}
    entries: list[Mapping[str, Any]] = list(manifest.datasets)
    if run is not None:
        entries += [
            {
                "name": d.name,
                "digest": d.digest,
                "num_rows": d.num_rows,
                "context": d.context,
                "source": d.source,
            }
            for d in run.inputs
        ]
    for entry in entries:
        key = tuple(str(entry.get(k) or "") for k in ("name", "digest", "context"))
        row = found.setdefault(key, {"rows": "", "source": ""})
        if entry.get("num_rows") is not None and not row["rows"]:
            row["rows"] = str(entry["num_rows"])
        row["source"] = row["source"] or str(entry.get("source") or "")
    if not found:
        return Section("Training data lineage", (Text("No training datasets were recorded."),))
    rows = tuple(
        (name, Mono(digest), info["rows"], context, info["source"])
        for (name, digest, context), info in sorted(found.items())
    )
    table = Table(("Dataset", "Digest", "Rows", "Context", "Source"), rows)
    return Section("Training data lineage", (table,))


def _parameters(run: Run | None) -> Section:
    if run is None:
        text = "No source run is linked to this version, so its parameters are unknown."
        return Section("Parameters", (Text(text),))
    if not run.params:
        return Section("Parameters", (Text("The source run logged no parameters."),))
    return Section(
        "Parameters", (Table(("Parameter", "Value"), tuple(sorted(run.params.items()))),)
    )


def _metrics(manifest: Manifest, run: Run | None) -> Section:
    run_metrics: Mapping[str, float] = run.metrics if run is not None else {}
    keys = sorted(set(manifest.metrics) | set(run_metrics))
    if not keys:
        return Section("Metrics", (Text("No metrics were recorded."),))
    rows = tuple(
        (
            key,
            _num(manifest.metrics[key]) if key in manifest.metrics else "",
            _num(run_metrics[key]) if key in run_metrics else "",
        )
        for key in keys
    )
    return Section("Metrics", (Table(("Metric", "At packaging", "Source run (latest)"), rows),))


def _tags(model: RegisteredModel, version: ModelVersion) -> Section:
    rows = [("model", k, v) for k, v in sorted(model.tags.items())]
    rows += [(f"version {version.version}", k, v) for k, v in sorted(version.tags.items())]
    if not rows:
        return Section("Tags", (Text("No tags."),))
    return Section("Tags", (Table(("Scope", "Key", "Value"), tuple(rows)),))


def _alias_history(history: Sequence[AliasChange]) -> Section:
    if not history:
        return Section("Alias history", (Text("No alias has been moved on this model."),))

    def label(version: int | None, none: str) -> str:
        return none if version is None else f"v{version}"

    rows = tuple(
        (
            _utc(c.timestamp),
            c.alias,
            f"{label(c.previous_version, '(none)')} → {label(c.version, '(removed)')}",
            c.actor or "unknown",
            c.reason,
        )
        for c in sorted(history, key=lambda c: c.timestamp)
    )
    headers = ("Time (UTC)", "Alias", "Change", "Actor", "Reason")
    return Section("Alias history", (Table(headers, rows),))


def _decisions(version: ModelVersion, decisions: Sequence[Mapping[str, Any]]) -> Section:
    title = "Maintenance decisions"
    mine = [
        d for d in decisions
        if version.version in (d.get("champion_version"), d.get("challenger_version"))
        and d.get("action") not in ("none", "pending")
    ]  # fmt: skip
    if not mine:
        return Section(title, (Text("No maintenance decision involved this version."),))
    rows = tuple(_decision_row(d) for d in sorted(mine, key=lambda d: d.get("started_ms") or 0))
    headers = ("Time (UTC)", "Action", "Champion", "Challenger", "Metric", "Gates", "Why")
    return Section(title, (Table(headers, rows),))


def _decision_row(decision: Mapping[str, Any]) -> tuple[str, ...]:
    evaluation = decision.get("evaluation") or {}
    metric = "-"
    if evaluation:
        metric = (f"{evaluation.get('metric')}: {_maybe(evaluation.get('champion'))} → "
                  f"{_maybe(evaluation.get('challenger'))}")  # fmt: skip
    gates = decision.get("gates") or []
    passed = sum(bool(g.get("passed")) for g in gates)
    return (
        _utc(int(decision.get("started_ms") or 0)),
        str(decision.get("action", "")),
        _maybe_version(decision.get("champion_version")),
        _maybe_version(decision.get("challenger_version")),
        metric,
        f"{passed}/{len(gates)} passed" if gates else "-",
        str(decision.get("reason", "")),
    )


def _maybe(value: Any) -> str:
    return _num(float(value)) if isinstance(value, int | float) else "-"


def _maybe_version(value: Any) -> str:
    return f"v{value}" if value is not None else "-"
