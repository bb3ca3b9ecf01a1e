"""The ``webhook`` alert channel: a JSON POST per alert, plain or Slack-compatible.

YAML::

    channels:
      ops-hook: {type: webhook, url: "https://hooks.example/x", format: slack,
                 timeout_s: 5, retries: 3, backoff_s: 0.5, allow_hosts: [], allow_private: false}

Requests go through :func:`modelkeep.monitor.netguard.guarded_client`: the host is resolved
once, loopback, private, link-local, metadata, multicast and unspecified addresses are refused
unless ``allow_hosts`` lists the host (or ``allow_private`` allows private networks), and the
connection goes to the address that was checked. Redirects are never followed. A 5xx answer, a
timeout or a connection error is retried with exponential backoff and jitter; a 4xx or 3xx
answer, or a refused address, is not.

Webhook URLs often carry a secret in their path (Slack's do), so messages about a delivery
name only the scheme and host.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelkeep.monitor.channels import (
    AlertChannel,
    ChannelSpec,
    DeliveryError,
    parse_channel_options,
    register_channel,
    send_with_retries,
)
from modelkeep.monitor.netguard import AddressPolicy, Resolver, guarded_client, system_resolver

if TYPE_CHECKING:
    from modelkeep.monitor.alerts import Alert

__all__ = ["WebhookChannel", "WebhookOptions", "json_payload", "slack_payload"]

_SLACK_HEADER_LIMIT = 150  # Slack rejects header blocks with longer text
_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


class WebhookOptions(BaseModel):
    """The keys of a ``type: webhook`` channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    format: Literal["json", "slack"] = "json"
    timeout_s: float = Field(default=5.0, gt=0, le=300)
    retries: int = Field(default=3, ge=0, le=10)
    backoff_s: float = Field(default=0.5, ge=0, le=60)
    allow_hosts: tuple[str, ...] = ()
    allow_private: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a valid URL ({exc})") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not host.strip() for host in value):
            raise ValueError("entries must be host names or IP addresses, not empty")
        return value


class WebhookChannel(AlertChannel):
    """POSTs each alert as JSON to one URL.

    Args:
        options: the channel's checked options.
        resolver: name resolution for the address check (the system's by default).
    """

    def __init__(self, options: WebhookOptions, *, resolver: Resolver = system_resolver) -> None:
        self.options = options
        self._resolver = resolver
        self._policy = AddressPolicy(options.allow_hosts, options.allow_private)
        url = httpx.URL(options.url)
        self._shown = f"{url.scheme}://{url.netloc.decode('ascii')}"

    @classmethod
    def from_spec(cls, spec: ChannelSpec) -> WebhookChannel:
        """The factory registered for ``type: webhook``."""
        return cls(parse_channel_options(WebhookOptions, spec))

    def send(self, alert: Alert) -> None:
        """POST the alert, retrying transient failures.

        Raises:
            DeliveryError: not delivered (the status, timeout or connection error).
            InvalidInputError: the URL's host resolves to a forbidden address.
        """
        payload = slack_payload(alert) if self.options.format == "slack" else json_payload(alert)
        body = json.dumps(payload, allow_nan=False).encode()
        with guarded_client(
            self._policy, timeout_s=self.options.timeout_s, resolver=self._resolver
        ) as client:
            send_with_retries(
                lambda: self._post(client, body),
                retries=self.options.retries,
                backoff_s=self.options.backoff_s,
            )

    def _post(self, client: httpx.Client, body: bytes) -> None:
        headers = {"content-type": "application/json", "user-agent": _user_agent()}
        try:
            # Streamed and never read: the answer's body is not needed, however large.
            with client.stream("POST", self.options.url, content=body, headers=headers) as r:
                status, location = r.status_code, r.headers.get("location", "")
        except httpx.TimeoutException:
            raise DeliveryError(
                f"{self._shown} timed out after {self.options.timeout_s:g}s", retryable=True
            ) from None
        except httpx.TransportError as exc:
            raise DeliveryError(f"{self._shown}: {exc}", retryable=True) from None
        if status < 300:
            return
        if status < 400:
            raise DeliveryError(
                f"{self._shown} answered HTTP {status}, a redirect to {_target(location)}; "
                "redirects are not followed"
            )
        raise DeliveryError(f"{self._shown} answered HTTP {status}", retryable=status >= 500)


def json_payload(alert: Alert) -> dict[str, Any]:
    """The plain JSON body: the alert's fields (non-finite numbers as strings)."""
    return {key: _finite(value) for key, value in alert.to_dict().items()}


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` (the fallback) and Block Kit ``blocks``."""
    header = f"{alert.severity.upper()}: {alert.rule} on {alert.model}"
    if len(header) > _SLACK_HEADER_LIMIT:
        header = header[: _SLACK_HEADER_LIMIT - 1] + "…"
    fields = {
        "Metric": alert.metric,
        "Value": f"{alert.value:.6g}",
        "Window": f"{_iso(alert.window_start_ms)} – {_iso(alert.window_end_ms)}",
        "Severity": alert.severity,
    }
    return {
        "text": _slack_escape(alert.message),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(alert.message)}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n{_slack_escape(value)}"}
                    for name, value in fields.items()
                ],
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"modelkeep · fired {_iso(alert.fired_at_ms)}"}
                ],
            },
        ],
    }


def _target(location: str) -> str:
    """Where a redirect points, by host only (its path may hold a secret)."""
    try:
        host = httpx.URL(location).host
    except httpx.InvalidURL:
        return "an invalid URL"
    return host or ("a relative URL" if location else "nowhere")


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions: user-supplied names must not become one.
    return text.translate(_SLACK_ESCAPES)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _user_agent() -> str:
    from modelkeep import __version__

    return f"modelkeep/{__version__} (alerts)"


register_channel("webhook", WebhookChannel.from_spec)
