"""The monitoring report: a self-contained HTML page and its JSON twin."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pytest

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.report import render_html, render_json

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
XSS_CATEGORY = "</title><script src=https://evil.example/x.js></script>"


def _column(method: str, statistic: float, p_value: float | None, threshold: float) -> dict:
    drifted = p_value < threshold if p_value is not None else statistic >= threshold
    kind = "categorical" if method in ("chisquare", "jensenshannon") else "numeric"
    return {
        "column": "",
        "kind": kind,
        "method": method,
        "statistic": statistic,
        "p_value": p_value,
        "threshold": threshold,
        "drifted": drifted,
        "reference_rows": 5000,
        "current_rows": 1200,
    }


def minimal_report() -> dict[str, Any]:
    return {
        "model": "churn",
        "window": {"start": "2024-05-01T10:00:00+00:00", "end": "2024-05-01T11:00:00+00:00"},
        "drift": {"columns": {}, "drift_share": 0.0, "dataset_drift": False},
    }


def full_report() -> dict[str, Any]:
    columns = {
        "age": _column("wasserstein", 0.2345, None, 0.1),
        "income": _column("wasserstein", 0.0312, None, 0.1),
        XSS: _column("jensenshannon", 0.4567, None, 0.1),
        "tenure": _column("ks", 0.0871, 0.000123, 0.05),
        "plan": _column("chisquare", 1.5, 0.4721, 0.05),
        "score": _column("psi", math.nan, None, 0.25),
    }
    for name, column in columns.items():
        column["column"] = name
    return {
        "model": "churn",
        "version": "3",
        "window": {
            "start": "2024-05-01T10:00:00+00:00",
            "end": "2024-05-01T11:00:00+00:00",
            "rows": 1200,
        },
        "drift": {
            "columns": columns,
            "drift_share": 0.5,
            "dataset_drift": True,
            "number_of_drifted_columns": 3,
        },
        "prediction_drift": {
            "columns": {"prediction": _column("jensenshannon", 0.0421, None, 0.1)},
            "drift_share": 0.0,
            "dataset_drift": False,
        },
        "distributions": {
            "age": {
                "kind": "numeric",
                "edges": [18.0, 30.0, 45.0, 60.0, 90.0],
                "reference": [400, 300, 200, 100],
                "current": [100, 200, 300, 400],
            },
            "income": {
                "kind": "numeric",
                "edges": [-math.inf, 1000.0, 5000.0, math.inf],
                "reference": [10, 80, 10],
                "current": [12, 76, 12],
            },
            XSS: {
                "kind": "categorical",
                "reference": {"a": 70, "b": 30, XSS_CATEGORY: 5},
                "current": {"a": 20, "b": 30, XSS_CATEGORY: 50},
            },
        },
        "quality": {
            "rows": 1200,
            "missing_rate": {"age": 0.0525, "income": 0.0},
            "missing_rate_change": {"age": 0.0325, "income": 0.0},
            "out_of_range": {"age": 0.125, "income": 0.0},
            "unseen_categories": {XSS: 0.0875},
            "schema_violations": ["missing column: loyalty", f"extra column: {XSS}"],
        },
        "multivariate": [
            {
                "method": "pca_reconstruction",
                "statistic": 1.8734,
                "threshold": 1.45,
                "drifted": True,
                "lower": 1.05,
                "upper": 1.45,
            },
            {
                "method": "domain_classifier",
                "statistic": 0.5123,
                "threshold": 0.55,
                "drifted": False,
            },
        ],
        "performance": {
            "realized": {"accuracy": 0.8125, "f1": 0.7333},
            "estimated": {
                "accuracy": {
                    "metric": "accuracy",
                    "value": 0.8042,
                    "lower": 0.7817,
                    "upper": 0.8267,
                },
                "roc_auc": {"metric": "roc_auc", "value": 0.8811, "lower": 0.86, "upper": 0.9022},
            },
        },
        "history": [
            {
                "window_end": f"2024-05-01T{hour:02d}:00:00+00:00",
                "drift_share": share,
                "metrics": {
                    "drift.share": share,
                    "drift.column.age.statistic": 0.01 * hour,
                    "performance.accuracy": 0.86 - 0.005 * hour,
                    "estimated.accuracy.value": 0.85 - 0.004 * hour,
                    "estimated.accuracy.lower": 0.83 - 0.004 * hour,
                    "estimated.accuracy.upper": 0.87 - 0.004 * hour,
                    "multivariate.pca_reconstruction.statistic": 1.1 + 0.07 * hour,
                    "multivariate.pca_reconstruction.drifted": 0.0,
                },
            }
            for hour, share in ((11, 0.5), (9, 0.1667), (10, 0.3333), (8, 0.0))  # unsorted
        ],
        "alerts": [
            {
                "rule": "drift",
                "model": "churn",
                "metric": "drift.share",
                "value": 0.5,
                "severity": "critical",
                "message": f"drift share 0.5 >= 0.5 ({XSS})",
                "window_start_ms": 1714557600000,
                "window_end_ms": 1714561200000,
                "fired_at_ms": 1714561201000,
                "dedup_key": "drift:churn",
                "delivery": {"log": "sent", "ops-hook": "failed: HTTP 500"},
            }
        ],
    }


class _Markup(HTMLParser):
    """What a browser would act on: the tags, their attribute values and the style text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.style = ""
        self._in_style = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [f"{name}={value}" for name, value in attrs]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


def test_minimal_report_renders_a_complete_page() -> None:
    page = render_html(minimal_report())
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "Monitoring report: churn" in page
    assert "No column was compared." in page
    assert "No alert fired for this window." in page
    for absent in ('id="quality"', 'id="performance"', 'id="history"', 'id="distributions"'):
        assert absent not in page


def test_full_report_has_every_section() -> None:
    page = render_html(full_report())
    for anchor in ("drift", "distributions", "quality", "multivariate", "performance",
                   "history", "alerts"):  # fmt: skip
        assert f'<section id="{anchor}">' in page
    assert "Monitoring report: churn version 3" in page
    assert "Prediction drift" in page


def test_page_is_self_contained_with_a_strict_csp() -> None:
    page = render_html(full_report())
    markup = _Markup(page)
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"
    assert any(a.startswith(f"content={csp}") for a in markup.attributes)
    assert "<script" not in page.lower()
    assert not set(markup.tags) & {"script", "img", "link", "iframe", "object", "embed", "a"}
    assert not [a for a in markup.attributes if "//" in a or a.startswith(("src=", "href="))]
    assert "url(" not in markup.style and "@import" not in markup.style
    # The only URL in the page is the escaped text of a category name.
    assert "http://" not in page
    assert page.count("https://") == page.count("&lt;script src=https://evil.example/x.js&gt;")


def test_xss_in_column_and_category_names_is_escaped() -> None:
    page = render_html(full_report())
    assert XSS not in page and XSS_CATEGORY not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;/title&gt;&lt;script src=https://evil.example/x.js&gt;" in page
    # The payloads reach the page only as text: the parser sees no tag or attribute of theirs.
    markup = _Markup(page)
    assert "script" not in markup.tags and "img" not in markup.tags
    assert not [a for a in markup.attributes if a.startswith(("onerror", "src"))]
    assert page.count("<title>") == page.count("</title>")


def test_xss_in_the_model_name_and_version_is_escaped() -> None:
    report = minimal_report()
    report["model"], report["version"] = XSS, XSS_CATEGORY
    page = render_html(report)
    assert XSS not in page and XSS_CATEGORY not in page
    head = page[: page.index("</head>")]
    assert head.count("<title>") == 1 and "&lt;script&gt;" in head
    assert "script" not in _Markup(page).tags


def test_columns_are_sorted_by_drift_and_calm_ones_folded() -> None:
    page = render_html(full_report())
    drift = page[page.index('<section id="drift">') : page.index('<section id="distributions">')]
    table = drift[drift.index("<table>") : drift.index("</table>")]
    # Drifted columns only, furthest past the threshold first: tenure's p-value is 400x under
    # 0.05, the JS distance 4.6x over 0.1, age's distance 2.3x over.
    order = [table.index(name) for name in ("tenure", "&lt;script&gt;", "age")]
    assert order == sorted(order)
    assert "income" not in table
    folded = drift[drift.index("<details>") :]
    assert "3 columns without drift" in folded
    assert all(name in folded for name in ("income", "plan", "score"))


def test_the_numbers_appear() -> None:
    page = render_html(full_report())
    for text in (
        "0.2345",  # statistics
        "0.000123",  # p-value
        "0.4721",
        "1,200",  # rows in the window
        "3 of 6 (share 0.5)",
        "12.50%",  # out of range
        "+3.25%",  # missing rate change
        "8.75%",  # unseen categories
        "1.873",  # multivariate statistic, 4 significant digits
        "0.8042",  # estimate, its band and the realized value
        "0.7817",
        "0.8267",
        "0.8125",
        "0.7333",
        "failed: HTTP 500",
        "2024-05-01 11:00:01 UTC",  # alert fired at
    ):
        assert text in page, text
    assert "NaN" in page  # the psi column whose statistic could not be computed


def test_svg_charts_are_inline_and_carry_exact_numbers() -> None:
    page = render_html(full_report())
    assert page.count("<svg") == page.count("</svg>") > 0
    assert "xmlns" not in page
    # reference vs current shares of a bin, drift bars with the threshold, history with a band
    assert "[18, 30): reference 40.0%, current 10.0%" in page
    assert "wasserstein: statistic (dashed: threshold)" in page
    assert "ks: -log10(p-value)" in page
    assert "<polygon" in page and "<polyline" in page
    assert "(other)" not in page  # three categories fit


def test_history_is_drawn_in_time_order_with_bands() -> None:
    page = render_html(full_report())
    history = page[page.index('<section id="history">') : page.index('<section id="alerts">')]
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", history)
    assert captions == [
        "drift share",
        "performance.accuracy",
        "estimated.accuracy",
        "multivariate.pca_reconstruction.statistic",
    ]
    assert history.index("2024-05-01 08:00:") < history.index("2024-05-01 11:00:")
    assert "(band 0.79 to 0.83)" in history  # 11:00's estimate band


def test_many_columns_stay_readable() -> None:
    report = minimal_report()
    columns = {f"f{i:03d}": _column("wasserstein", i / 1000, None, 0.1) for i in range(200)}
    for name, column in columns.items():
        column["column"] = name
    report["drift"]["columns"] = columns
    page = render_html(report)
    drift = page[page.index('<section id="drift">') : page.index("</section>")]
    assert "(the 25 furthest of 200)" in drift
    assert "100 columns without drift" in drift
    drifted_table = drift[drift.index("<table>") : drift.index("</table>")]
    assert drifted_table.index("f199") < drifted_table.index("f100")
    assert "f099" not in drifted_table


def test_many_categories_are_summed_into_other() -> None:
    report = minimal_report()
    reference = {f"c{i:02d}": 100 - i for i in range(40)}
    reference["__other__"] = 500
    report["distributions"] = {"city": {"kind": "categorical", "reference": reference,
                                        "current": {"c00": 5, "c39": 9}}}  # fmt: skip
    page = render_html(report)
    assert "(other)" in page
    assert "c00: reference" in page and "c39: reference" in page  # c39 kept: 90% of current
    assert "c20: reference" not in page


def test_json_round_trip_keeps_the_numbers() -> None:
    report = full_report()
    text = render_json(report)
    loaded = json.loads(text)
    assert loaded["drift"]["columns"]["age"]["statistic"] == 0.2345
    assert loaded["drift"]["columns"]["score"]["statistic"] == "NaN"
    assert loaded["distributions"]["income"]["edges"] == ["-Infinity", 1000.0, 5000.0, "Infinity"]
    assert loaded["drift"]["columns"][XSS]["column"] == XSS
    assert render_json(loaded) == text
    # The page of the report read back from its JSON is the same page.
    assert render_html(loaded) == render_html(report)


def test_json_is_strict_and_takes_numpy_values() -> None:
    report = minimal_report()
    report["window"]["rows"] = np.int64(7)
    report["drift"]["drift_share"] = np.float64(np.inf)
    report["distributions"] = {
        "x": {"kind": "numeric", "edges": np.array([0.0, 1.0, 2.0]),
              "reference": np.array([3, 4]), "current": np.array([5, 6])}
    }  # fmt: skip
    loaded = json.loads(render_json(report))
    assert loaded["window"]["rows"] == 7
    assert loaded["drift"]["drift_share"] == "Infinity"
    assert loaded["distributions"]["x"]["reference"] == [3, 4]
    assert "NaN" not in render_json(minimal_report())
    assert "[1, 2): reference 57.1%, current 54.5%" in render_html(report)


@pytest.mark.parametrize("missing", ["model", "window", "drift"])
def test_required_keys_are_named(missing: str) -> None:
    report = minimal_report()
    del report[missing]
    for render in (render_html, render_json):
        with pytest.raises(InvalidInputError) as err:
            render(report)
        assert err.value.field == missing


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r["drift"].update(columns={"x": {"statistic": "big"}}),
         "drift.columns.x.statistic"),
        (lambda r: r.update(distributions={"x": {"kind": "numeric", "edges": [0, 1],
                                                  "reference": [1, 2], "current": [1, 2]}}),
         "distributions.x"),
        (lambda r: r.update(alerts="fired"), "alerts"),
        (lambda r: r.update(quality={"out_of_range": [0.1]}), "quality.out_of_range"),
    ],
)  # fmt: skip
def test_malformed_parts_are_named(change: Any, field: str) -> None:
    report = minimal_report()
    change(report)
    with pytest.raises(InvalidInputError) as err:
        render_html(report)
    assert err.value.field == field


def test_json_refuses_values_it_cannot_write() -> None:
    report = minimal_report()
    report["window"]["start"] = object()
    with pytest.raises(InvalidInputError) as err:
        render_json(report)
    assert err.value.field == "report.window.start"
