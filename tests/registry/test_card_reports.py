"""The model card shows what was measured about a version after training: global importance
(with its plot), the privacy and security audits, and the energy of each version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from modelkeep.audit import privacy_audit, security_audit
from modelkeep.config import Settings
from modelkeep.explain import importance
from modelkeep.tracking import Client
from modelkeep.train import train


def test_the_card_shows_importance_audits_and_energy(tmp_path: Path) -> None:
    import modelkeep as mk

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400)})
    frame["y"] = (frame["signal"] > 0).astype(int)
    frame.iloc[:300].to_csv(tmp_path / "train.csv", index=False)
    settings = Settings(home=tmp_path).model_copy(
        update={"tracking_uri": f"sqlite:///{tmp_path / 'modelkeep.db'}"}
    )
    mk.set_tracking_uri(settings.resolved_tracking_uri())
    try:
        train({"task": "classification", "data": str(tmp_path / "train.csv"), "target": "y",
               "model": {"family": "logistic"}, "register": {"name": "m"}})  # fmt: skip
    finally:
        mk.set_tracking_uri(None)
    uri = "models:/m/1"
    importance(uri, frame.iloc[300:], "y", n_repeats=2, settings=settings)
    security_audit(uri, settings=settings)
    report = privacy_audit(uri, frame.iloc[:300], frame.iloc[300:], "y", reference_models=0,
                  bootstrap=50, settings=settings)  # fmt: skip

    with Client(settings.resolved_tracking_uri(), settings=settings) as client:
        markdown, html = client.write_model_card(uri, tmp_path / "cards")
    text, page = markdown.read_text(), html.read_text()

    for title in ("Explainability", "Privacy audit", "Security audit", "Energy and cost"):
        assert f"## {title}" in text
    assert "| signal |" in text and "| noise |" in text
    assert text.index("| signal |") < text.index("| noise |")  # the signal ranks first
    assert '<img alt="permutation importance' in page and "data:image/png;base64," in page
    verdict = "passed" if report.passed else "FAILED"
    assert f"Membership inference: {verdict}" in text
    assert f"| loss | {report.attacks['loss'].auc:.4g} [" in text
    assert "| integrity | passed |" in text
    assert "| v1 |" in text and "This version is not a compressed variant." in text
