"""Model cards: every section and value appears, user strings are escaped in both formats."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from modelkeep.entities import (
    AliasChange,
    DatasetInput,
    ModelVersion,
    RegisteredModel,
    Run,
    RunStatus,
    VersionSignature,
)
from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.card import ModelCard, render_card, write_card
from modelkeep.registry.manifest import Manifest

XSS = "<script>alert(1)</script>"
MAY_1 = 1_714_521_600_000  # 2024-05-01T00:00:00Z
SECTIONS = [
    "Overview",
    "Purpose",
    "Package",
    "Signature",
    "Training data lineage",
    "Parameters",
    "Metrics",
    "Tags",
    "Alias history",
    "Maintenance decisions",
    "Explainability",
    "Privacy audit",
    "Security audit",
    "Compression",
    "Energy and cost",
]


MODEL = RegisteredModel(
    name="churn",
    description=f"Predicts monthly churn {XSS} | for the growth team.",
    tags={"team": "growth|ops", "note": XSS},
    aliases={"champion": 3, "staging": 2},
)
VERSION = ModelVersion(
    name="churn",
    version=3,
    source="runs:/r1/model",
    run_id="r1",
    root_digest="ab" * 32,
    flavor="sklearn",
    description="Retrained on <b>May</b> data.",
    tags={"validated": "yes"},
    aliases=("champion",),
    signatures=(
        VersionSignature(
            key_id="0123456789abcdef",
            public_key="cHVi",
            signature="c2ln",
            signed_by="release-bot",
            timestamp=MAY_1 + 3_600_000,
        ),
    ),
    created_by="alice",
    creation_time=MAY_1,
)
MANIFEST = Manifest(
    flavor="sklearn",
    files={"model.skops": "cd" * 32},
    library_versions={"scikit-learn": "1.9.1", "numpy": "2.4.0"},
    python_version="3.11.7",
    signature={
        "inputs": [
            {"name": "tenure", "dtype": "int64", "nullable": False},
            {"name": "plan|tier", "dtype": "string", "nullable": True},
        ],
        "outputs": [{"name": "churn_probability", "dtype": "float64", "nullable": False}],
    },
    requirements=("scikit-learn==1.9.1",),
    source_run_id="r1",
    datasets=({"name": "train", "digest": "ef" * 32, "context": "training"},),
    metrics={"auc": 0.91},
    created_time=MAY_1,
)


def _run() -> Run:
    return Run(
        id="r1",
        experiment_id="1",
        name="nightly",
        status=RunStatus.FINISHED,
        start_time=MAY_1,
        metrics={"auc": 0.912, "log_loss": 0.3},
        params={"max_depth": "4", "note": XSS},
        inputs=(
            DatasetInput(
                "train", "ef" * 32, "s3://bucket/train.parquet", num_rows=1000, context="training"
            ),
            DatasetInput("holdout", "12" * 32, num_rows=200, context="validation"),
        ),
    )


HISTORY = [
    AliasChange(
        "churn", "champion", 3, 2, "bob", f"better AUC {XSS} | beats v2", MAY_1 + 86_400_000
    ),
    AliasChange("churn", "champion", 2, None, "alice", "first release", MAY_1 - 86_400_000),
    AliasChange("churn", "staging", None, 3, "carol", "moved on", MAY_1 + 2 * 86_400_000),
]


@pytest.fixture
def card() -> ModelCard:
    return render_card(MODEL, VERSION, MANIFEST, _run(), HISTORY)


def _md_rows(markdown: str, header_start: str) -> list[list[str]]:
    """Cells of the Markdown table whose header row starts with ``header_start``, honouring
    backslash escapes the way GFM splits cells."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start} |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells, cell, chars = [], "", iter(line.strip()[1:])
        for char in chars:
            if char == "\\":
                cell += char + next(chars)
            elif char == "|":
                cells.append(cell.strip())
                cell = ""
            else:
                cell += char
        rows.append(cells)
    return [rows[0], *rows[2:]]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs


def test_markdown_has_every_section_in_order(card: ModelCard) -> None:
    headings = re.findall(r"^## (.+)$", card.markdown, flags=re.M)
    assert headings == SECTIONS
    assert card.markdown.startswith("# churn v3\n\nAliases: champion\n")


def test_html_has_every_section_in_order(card: ModelCard) -> None:
    assert re.findall(r"<h2>(.+?)</h2>", card.html) == SECTIONS
    assert "<h1>churn v3</h1>" in card.html
    assert "Aliases: champion" in card.html


def test_overview_and_package_values(card: ModelCard) -> None:
    overview = _md_rows(card.markdown, "Field")
    assert ["URI", "models:/churn/3"] in overview
    assert ["Created", "2024-05-01T00:00:00Z"] in overview
    assert ["Source run", "nightly (r1)"] in overview
    for text in ("sklearn", "3.11.7", "scikit-learn==1.9.1", f"`{'ab' * 32}`"):
        assert text in card.markdown
    assert _md_rows(card.markdown, "Library")[1:] == [
        ["numpy", "2.4.0"],
        ["scikit-learn", "1.9.1"],
    ]
    signatures = _md_rows(card.markdown, "Key id")
    assert signatures[1] == ["`0123456789abcdef`", "release-bot", "2024-05-01T01:00:00Z"]


def test_purpose_shows_model_then_version_description(card: ModelCard) -> None:
    purpose = card.markdown.split("## Purpose")[1].split("## Package")[0]
    assert purpose.index("Predicts monthly churn") < purpose.index("Retrained on")
    assert "### Version 3" in purpose


def test_signature_tables_list_columns(card: ModelCard) -> None:
    columns = _md_rows(card.markdown, "Name")
    assert columns[1:] == [["tenure", "int64", "no"], ["plan\\|tier", "string", "yes"]]
    assert "| churn_probability | float64 | no |" in card.markdown
    assert "<td>plan|tier</td><td>string</td><td>yes</td>" in card.html


def test_lineage_merges_manifest_and_run_datasets(card: ModelCard) -> None:
    rows = _md_rows(card.markdown, "Dataset")
    assert rows[1:] == [
        ["holdout", f"`{'12' * 32}`", "200", "validation", ""],
        ["train", f"`{'ef' * 32}`", "1000", "training", "s3://bucket/train.parquet"],
    ]


def test_parameters_metrics_and_tags(card: ModelCard) -> None:
    assert ["max_depth", "4"] in _md_rows(card.markdown, "Parameter")
    assert _md_rows(card.markdown, "Metric")[1:] == [
        ["auc", "0.91", "0.912"],
        ["log_loss", "", "0.3"],
    ]
    tags = _md_rows(card.markdown, "Scope")
    assert ["model", "team", "growth\\|ops"] in tags
    assert ["version 3", "validated", "yes"] in tags


def test_alias_history_is_oldest_first_with_moves(card: ModelCard) -> None:
    rows = _md_rows(card.markdown, "Time (UTC)")[1:]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("2024-04-30T00:00:00Z", "champion", "(none) → v2", "alice"),
        ("2024-05-02T00:00:00Z", "champion", "v2 → v3", "bob"),
        ("2024-05-03T00:00:00Z", "staging", "v3 → (removed)", "carol"),
    ]
    assert rows[1][4] == "better AUC &lt;script>alert(1)&lt;/script> \\| beats v2"


def test_html_escapes_every_user_string(card: ModelCard) -> None:
    parser = _Tags()
    parser.feed(card.html)
    assert "script" not in parser.tags and "b" not in parser.tags
    assert "<script" not in card.html.lower()
    assert card.html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 4
    assert "Retrained on &lt;b&gt;May&lt;/b&gt; data." in card.html


def test_html_is_self_contained(card: ModelCard) -> None:
    parser = _Tags()
    parser.feed(card.html)
    assert {"link", "script", "img", "iframe", "object"}.isdisjoint(parser.tags)
    assert not any(name in ("src", "href") for name, _ in parser.attrs)
    assert "<style>" in card.html and "url(" not in card.html and "@import" not in card.html
    assert "Content-Security-Policy" in card.html and "default-src 'none'" in card.html


def test_markdown_has_no_raw_html_from_users(card: ModelCard) -> None:
    assert "<script" not in card.markdown and "<b>" not in card.markdown
    assert "Predicts monthly churn &lt;script>alert(1)&lt;/script> | for the growth team." in (
        card.markdown
    )


def test_markdown_table_rows_keep_their_cell_count(card: ModelCard) -> None:
    for header in ("Field", "Name", "Dataset", "Parameter", "Scope", "Time (UTC)"):
        rows = _md_rows(card.markdown, header)
        assert {len(row) for row in rows} == {len(rows[0])}, header


def test_missing_information_is_said_plainly() -> None:
    card = render_card(
        replace(MODEL, description="", tags={}, aliases={}),
        replace(VERSION, description="", tags={}, aliases=(), signatures=(), run_id=None),
        replace(MANIFEST, signature=None, datasets=(), metrics={}, library_versions={}),
        None,
        [],
    )
    for text in (
        "Aliases: none",
        "No description was given for this model or this version.",
        "This version is not signed.",
        "No signature was recorded",
        "No training datasets were recorded.",
        "No source run is linked to this version",
        "No metrics were recorded.",
        "No tags.",
        "No alias has been moved on this model.",
    ):
        assert text in card.markdown and text in card.html


def test_signature_in_another_form_is_shown_as_json() -> None:
    odd = {"inputs": {"type": "tensor", "shape": [-1, 4], "note": "```"}, "params": {"k": 1}}
    card = render_card(MODEL, VERSION, replace(MANIFEST, signature=odd), None, [])
    assert '"type": "tensor"' in card.markdown and "````json" in card.markdown
    assert "### Other" in card.markdown and '"params"' in card.markdown
    assert "&quot;type&quot;: &quot;tensor&quot;" in card.html


def test_rendering_is_deterministic() -> None:
    first = render_card(MODEL, VERSION, MANIFEST, _run(), HISTORY)
    assert render_card(MODEL, VERSION, MANIFEST, _run(), list(reversed(HISTORY))) == first


def test_write_card_writes_markdown_and_html(tmp_path: Path, card: ModelCard) -> None:
    markdown, page = write_card(card, tmp_path / "cards" / "churn", "churn-v3")
    assert markdown == tmp_path / "cards" / "churn" / "churn-v3.md"
    assert page == tmp_path / "cards" / "churn" / "churn-v3.html"
    assert markdown.read_text(encoding="utf-8") == card.markdown
    assert page.read_text(encoding="utf-8") == card.html


@pytest.mark.parametrize("stem", ["", "..", "../escape", "a/b", "a\\b"])
def test_write_card_refuses_a_stem_that_is_a_path(
    tmp_path: Path, card: ModelCard, stem: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        write_card(card, tmp_path, stem)
    assert info.value.field == "stem"
    assert list(tmp_path.iterdir()) == []
