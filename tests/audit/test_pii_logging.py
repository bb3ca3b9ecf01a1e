"""The PII hook of dataset logging: a warning by default, a refusal with MODELKEEP_PII_BLOCK,
and nothing recorded when refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from modelkeep.config import Settings
from modelkeep.exceptions import InvalidInputError
from modelkeep.tracking import Client
from modelkeep.tracking.active_run import ActiveRun
from modelkeep.tracking.buffer import MetricBuffer

PEOPLE = pd.DataFrame(
    {"email": [f"user{i}@example.com" for i in range(30)], "spend": list(range(30))}
)


def _run(tmp_path: Path, block: bool) -> tuple[Client, ActiveRun]:
    settings = Settings(home=tmp_path, pii_block=block).model_copy(
        update={"tracking_uri": f"sqlite:///{tmp_path / 'modelkeep.db'}"}
    )
    client = Client(settings.resolved_tracking_uri(), settings=settings)
    run = client.create_run(client.get_or_create_experiment("pii").id)
    return client, ActiveRun(client, MetricBuffer(client.store.log_batch), run)


def test_personal_data_is_logged_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client, run = _run(tmp_path, block=False)
    with caplog.at_level(logging.WARNING, logger="modelkeep.audit"):
        run.log_dataset(PEOPLE, name="customers")
    inputs = client.get_run(run.id).inputs
    client.close()

    assert [d.name for d in inputs] == ["customers"]
    assert "email" in caplog.text


def test_blocking_refuses_personal_data_and_records_nothing(tmp_path: Path) -> None:
    client, run = _run(tmp_path, block=True)
    with pytest.raises(InvalidInputError) as caught:
        run.log_dataset(PEOPLE, name="customers")
    run.log_dataset(PEOPLE[["spend"]], name="spend-only")
    inputs = client.get_run(run.id).inputs
    client.close()

    assert caught.value.field == "data" and "email" in caught.value.message
    assert [d.name for d in inputs] == ["spend-only"]
