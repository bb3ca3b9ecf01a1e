"""Artifact routes over HTTP: streamed upload and download, listing, records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient

from modelkeep.artifacts import LocalArtifactStore
from modelkeep.config import Settings
from modelkeep.store.sql import SqlStore


def _url(run_id: str, path: str = "") -> str:
    return f"/api/v1/runs/{run_id}/artifacts" + (f"/{path}" if path else "")


def _blob_files(blob_root: Path) -> list[Path]:
    return [p for p in (blob_root / "blobs").rglob("*") if p.is_file()]


def test_upload_answers_201_with_the_record(client: TestClient, run_id: str) -> None:
    response = client.put(_url(run_id, "plots/roc.png"), content=b"png-bytes")
    assert response.status_code == 201
    body = response.json()
    assert (body["path"], body["size"], body["digest"]) == (
        "plots/roc.png",
        9,
        hashlib.sha256(b"png-bytes").hexdigest(),
    )


def test_upload_then_download_round_trips(client: TestClient, run_id: str) -> None:
    data = bytes(range(256)) * 1000
    client.put(_url(run_id, "data.bin"), content=data)
    response = client.get(_url(run_id, "data.bin"))
    assert (response.status_code, response.content) == (200, data)
    assert response.headers["content-type"] == "application/octet-stream"


def test_upload_streamed_in_chunks_is_stored_whole(client: TestClient, run_id: str) -> None:
    def chunks() -> Iterator[bytes]:
        for i in range(8):
            yield bytes([i]) * 65_536

    client.put(_url(run_id, "big.bin"), content=chunks())
    body = client.get(_url(run_id, "big.bin")).content
    assert body == b"".join(bytes([i]) * 65_536 for i in range(8))


def test_upload_is_recorded_in_the_store(
    client: TestClient, sql_store: SqlStore, run_id: str
) -> None:
    client.put(_url(run_id, "a/b.txt"), content=b"hi")
    assert sql_store.get_artifact(run_id, "a/b.txt").size == 2


def test_upload_path_is_normalised(client: TestClient, run_id: str) -> None:
    assert client.put(_url(run_id, "a//./b.txt"), content=b"x").json()["path"] == "a/b.txt"


def test_upload_over_the_limit_is_413_and_stores_nothing(
    client: TestClient, settings: Settings, blob_root: Path, run_id: str
) -> None:
    response = client.put(_url(run_id, "huge.bin"), content=b"x" * (settings.max_body_bytes + 1))
    assert response.status_code == 413
    assert client.get(_url(run_id)).json()["artifacts"] == []
    assert _blob_files(blob_root) == []


def test_streamed_upload_over_the_limit_is_413(
    client: TestClient, settings: Settings, blob_root: Path, run_id: str
) -> None:
    chunk = b"x" * 65_536
    count = settings.max_body_bytes // len(chunk) + 2
    response = client.put(_url(run_id, "huge.bin"), content=iter([chunk] * count))
    assert response.status_code == 413
    assert _blob_files(blob_root) == []


def test_upload_at_the_limit_is_accepted(
    client: TestClient, settings: Settings, run_id: str
) -> None:
    response = client.put(_url(run_id, "edge.bin"), content=b"x" * settings.max_body_bytes)
    assert response.status_code == 201


def test_upload_to_unknown_run_is_404_and_stores_nothing(
    client: TestClient, blob_root: Path, missing_run: str
) -> None:
    assert client.put(_url(missing_run, "a.txt"), content=b"x").status_code == 404
    assert _blob_files(blob_root) == []


def test_upload_accepts_any_content_type(client: TestClient, run_id: str) -> None:
    response = client.put(
        _url(run_id, "page.html"), content=b"<p>", headers={"Content-Type": "text/html"}
    )
    assert response.status_code == 201


def test_download_of_unknown_artifact_is_404(client: TestClient, run_id: str) -> None:
    response = client.get(_url(run_id, "missing.txt"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_list_with_prefix_returns_that_subtree(client: TestClient, run_id: str) -> None:
    for path in ["a/x.txt", "a/y/z.txt", "ab/c.txt", "b.txt"]:
        client.put(_url(run_id, path), content=path.encode())
    listed = client.get(_url(run_id), params={"prefix": "a"}).json()["artifacts"]
    assert [a["path"] for a in listed] == ["a/x.txt", "a/y/z.txt"]


def test_list_without_prefix_returns_all_sorted(client: TestClient, run_id: str) -> None:
    for path in ["b.txt", "a.txt"]:
        client.put(_url(run_id, path), content=b"x")
    assert [a["path"] for a in client.get(_url(run_id)).json()["artifacts"]] == ["a.txt", "b.txt"]


def test_list_of_unknown_run_is_404(client: TestClient, missing_run: str) -> None:
    assert client.get(_url(missing_run)).status_code == 404


def test_record_artifact_points_a_path_at_a_blob(
    client: TestClient, blobs: LocalArtifactStore, run_id: str
) -> None:
    info = blobs.put_bytes(b"shared")
    body = {"path": "copy.txt", "digest": info.digest, "size": info.size}
    response = client.post(f"/api/v1/runs/{run_id}/artifact-records", json=body)
    assert response.status_code == 201
    assert client.get(_url(run_id, "copy.txt")).content == b"shared"


def test_get_artifact_record(client: TestClient, run_id: str) -> None:
    client.put(_url(run_id, "m/model.bin"), content=b"abc")
    response = client.get(f"/api/v1/runs/{run_id}/artifact-records/m/model.bin")
    assert (response.json()["path"], response.json()["size"]) == ("m/model.bin", 3)
