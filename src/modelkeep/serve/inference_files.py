"""Where the inference log lives on disk: hive partitions by model and UTC hour.

```
<root>/predictions/model=<name>/date=2026-11-27/hour=13/part-<ms>-<seq>-<uuid>.parquet
<root>/feedback/model=<name>/date=2026-11-27/hour=13/part-<ms>-<seq>-<uuid>.parquet
```

The model name is percent-encoded (every byte but ``A-Z a-z 0-9 _ . -``), the way pyarrow,
pandas and polars decode hive partition values, so ``model`` read from the path is the real
name. A segment is always ``model=`` followed by that encoding: it cannot contain a separator
and cannot be ``.`` or ``..``, so no name escapes the root. Names whose encoding is longer
than :data:`MAX_SEGMENT` bytes (the registry allows 256 characters; a file name has 255
bytes) keep an encoded prefix plus ``~`` and a sha256 digest of the whole name; ``~`` never
appears in a plain encoding, so the two forms cannot collide. Direct readers see that
shortened form as the ``model`` value of such names; :mod:`modelkeep.serve.inference_read`
adds the real name.

Files are written atomically (temporary ``.part-*`` file, fsync, rename, fsync of the folder);
readers skip names starting with ``.`` or ``_``, as pyarrow does.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from modelkeep.artifacts.local import fsync_dir
from modelkeep.exceptions import InvalidInputError

__all__ = [
    "FEEDBACK",
    "HOUR_MS",
    "MAX_SEGMENT",
    "PREDICTIONS",
    "TIMESTAMP",
    "hour_bucket_dir",
    "hour_dirs",
    "hour_files",
    "latest_schema",
    "list_files",
    "model_dir",
    "partition_value",
    "write_atomically",
]

PREDICTIONS = "predictions"
FEEDBACK = "feedback"
HOUR_MS = 3_600_000
MAX_SEGMENT = 200
TIMESTAMP = pa.timestamp("ms", tz="UTC")

_PREFIX_BYTES = 120
_sequence = itertools.count()


def _encode(text: str) -> str:
    # ``quote`` leaves ``~`` alone; encoding it keeps ``~`` free to mark shortened names.
    return quote(text, safe="").replace("~", "%7E")


def partition_value(model: str) -> str:
    """The encoded form of ``model`` used in ``model=<value>`` folder names.

    Raises:
        InvalidInputError: ``model`` is not valid Unicode text (a lone surrogate).
    """
    try:
        encoded = _encode(model)
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"model name {model!r} is not valid text", field="model") from exc
    if encoded.endswith("."):
        # Windows drops a trailing dot from file names.
        encoded = encoded[:-1] + "%2E"
    if len(encoded) <= MAX_SEGMENT:
        return encoded
    prefix: list[str] = []
    size = 0
    # Cut at a character, never inside one character's escapes: a partial UTF-8 sequence
    # would make pyarrow refuse the whole dataset.
    for char in model:
        piece = _encode(char)
        if size + len(piece) > _PREFIX_BYTES:
            break
        prefix.append(piece)
        size += len(piece)
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:32]
    return "".join(prefix) + "~" + digest


def model_dir(root: Path, kind: str, model: str) -> Path:
    """``<root>/<kind>/model=<encoded model>`` (kind: ``predictions`` or ``feedback``)."""
    return Path(root) / kind / f"model={partition_value(model)}"


def hour_bucket_dir(directory: Path, bucket: int) -> Path:
    """The ``date=YYYY-MM-DD/hour=H`` folder (UTC) of hour ``bucket`` (epoch ms // HOUR_MS)."""
    start = datetime.fromtimestamp(bucket * HOUR_MS / 1000, tz=UTC)
    return directory / f"date={start:%Y-%m-%d}" / f"hour={start.hour}"


def _parse_bucket(date_name: str, hour_name: str) -> int | None:
    date_key, _, date_text = date_name.partition("=")
    hour_key, _, hour_text = hour_name.partition("=")
    if date_key != "date" or hour_key != "hour" or not hour_text.isdigit():
        return None
    try:
        day = datetime.strptime(date_text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(day.timestamp() * 1000) // HOUR_MS + int(hour_text)


def hour_dirs(directory: Path) -> list[tuple[int, Path]]:
    """``(hour bucket, folder)`` of every hour partition under ``directory``, oldest first.

    Folders that are not ``date=.../hour=...`` are ignored.
    """
    found: list[tuple[int, Path]] = []
    if not directory.is_dir():
        return found
    for date_entry in os.scandir(directory):
        if not date_entry.is_dir() or not date_entry.name.startswith("date="):
            continue
        for hour_entry in os.scandir(date_entry.path):
            bucket = _parse_bucket(date_entry.name, hour_entry.name)
            if bucket is not None and hour_entry.is_dir():
                found.append((bucket, Path(hour_entry.path)))
    found.sort(key=lambda item: item[0])
    return found


def hour_files(directory: Path) -> list[Path]:
    """The data files of one hour folder in write order (temporary and hidden files skipped)."""
    names = sorted(
        entry.name
        for entry in os.scandir(directory)
        if entry.name.endswith(".parquet") and entry.name[0] not in "._" and entry.is_file()
    )
    return [directory / name for name in names]


def list_files(
    directory: Path, since_ms: int | None = None, until_ms: int | None = None
) -> list[Path]:
    """The Parquet files of the hours overlapping ``[since_ms, until_ms)``, in write order.

    Within an hour, names sort by write time and then by a per-process sequence number.
    """
    files: list[Path] = []
    for bucket, path in hour_dirs(directory):
        if since_ms is not None and (bucket + 1) * HOUR_MS <= since_ms:
            continue
        if until_ms is not None and bucket * HOUR_MS >= until_ms:
            continue
        files.extend(hour_files(path))
    return files


def latest_schema(directory: Path) -> pa.Schema | None:
    """The schema of the newest file under a model folder (None if there is none or it is
    unreadable): the writer keeps column types stable across restarts with it."""
    try:
        for _, path in reversed(hour_dirs(directory)):
            files = hour_files(path)
            if files:
                return pq.read_schema(files[-1])
    except (OSError, pa.ArrowException):
        return None
    return None


def write_atomically(table: pa.Table, directory: Path) -> Path:
    """Write ``table`` as a new Parquet file in ``directory`` (created if missing).

    The file is written under a hidden temporary name, fsynced, then renamed, so readers see
    the whole file or nothing.
    """
    directory.mkdir(parents=True, exist_ok=True)
    now = int(datetime.now(tz=UTC).timestamp() * 1000)
    name = f"part-{now:013d}-{next(_sequence):08d}-{uuid.uuid4().hex}.parquet"
    temporary = directory / f".{name}.tmp"
    final = directory / name
    try:
        with open(temporary, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(directory)
    return final
