"""Model URIs: every accepted form parses, every malformed one names the problem."""

from __future__ import annotations

import pytest

from modelkeep.exceptions import InvalidInputError
from modelkeep.registry.uris import ModelUri, parse_model_uri


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("runs:/abc123/model", ModelUri("run", run_id="abc123", path="model")),
        ("runs:/abc123/models/clf/", ModelUri("run", run_id="abc123", path="models/clf")),
        ("models:/churn/3", ModelUri("model", name="churn", version=3)),
        ("models:/churn@champion", ModelUri("model", name="churn", alias="champion")),
        ("models:/churn/latest", ModelUri("model", name="churn")),
        ("models:/my model.v2/12", ModelUri("model", name="my model.v2", version=12)),
    ],
)
def test_accepted_forms(text: str, expected: ModelUri) -> None:
    parsed = parse_model_uri(text)
    assert parsed == expected
    assert parse_model_uri(str(parsed)) == parsed


def test_latest_flag() -> None:
    assert parse_model_uri("models:/churn/latest").latest
    assert not parse_model_uri("models:/churn/2").latest
    assert not parse_model_uri("models:/churn@a").latest


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("s3://bucket/model", "unknown scheme"),
        ("runs:/abc", "run id and an artifact path"),
        ("models:/churn", "name and a version"),
        ("models:/churn/0", "positive integer"),
        ("models:/churn/v3", "positive integer"),
        ("models:/a/b/3", "cannot contain '/'"),
        ("models:/churn@", "models:/<name>@<alias>"),
        ("models:/@champion", "models:/<name>@<alias>"),
    ],
)
def test_malformed_uris_name_the_problem(text: str, hint: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_model_uri(text)
    assert caught.value.field == "uri"
    assert hint in caught.value.message
