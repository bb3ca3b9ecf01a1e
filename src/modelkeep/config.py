"""Settings: one object, read from ``MODELKEEP_*`` environment variables, passed down.

There are no module-level settings globals: functions take a :class:`Settings` (or build the
default one) so tests can point everything at a temporary store.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """modelkeep configuration.

    Attributes:
        home: store root for the embedded default (``MODELKEEP_HOME``, default ``./.modelkeep``).
        tracking_uri: ``sqlite:///...``, ``postgresql+psycopg://...`` or ``http(s)://host:port``
            (``MODELKEEP_TRACKING_URI``); unset means the SQLite file under ``home``.
        artifact_root: where blobs live for SQL stores (default ``home/artifacts``).
        tracking_token: bearer token a REST client sends (``MODELKEEP_TRACKING_TOKEN``).
        max_body_bytes: largest request body the server accepts.
        pii_block: refuse to log a dataset that looks like it holds personal data
            (``MODELKEEP_PII_BLOCK``; off: such findings are logged as warnings).
    """

    model_config = SettingsConfigDict(env_prefix="MODELKEEP_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path(".modelkeep"))
    tracking_uri: str | None = None
    artifact_root: Path | None = None
    tracking_token: str | None = None
    max_body_bytes: int = 256 * 1024 * 1024
    max_json_bytes: int = 32 * 1024 * 1024
    pii_block: bool = False

    def resolved_tracking_uri(self) -> str:
        """The tracking URI in force: the explicit one, else SQLite under ``home``."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.home / 'modelkeep.db').resolve()}"

    def resolved_artifact_root(self) -> Path:
        """Blob store folder for SQL-backed stores."""
        if self.artifact_root is not None:
            return self.artifact_root.resolve()
        uri = self.resolved_tracking_uri()
        if uri.startswith("sqlite:///") and not self.tracking_uri_is_memory():
            return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve()
        return (self.home / "artifacts").resolve()

    def tracking_uri_is_memory(self) -> bool:
        uri = self.resolved_tracking_uri()
        return uri in ("sqlite://", "sqlite:///:memory:")
