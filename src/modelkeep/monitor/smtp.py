"""The ``email`` alert channel: one plain-text message per alert over SMTP (smtplib).

YAML::

    channels:
      oncall: {type: email, smtp_host: mail.example, smtp_port: 587, from: mk@example.com,
               to: [oncall@example.com], starttls: true, username: mk,
               password_env: MK_SMTP_PASSWORD, timeout_s: 10, retries: 2, backoff_s: 1}

The password is never written in the rules: ``password_env`` names the environment variable
that holds it. Connection failures and 4xx (temporary) SMTP answers are retried with backoff;
5xx answers and authentication failures are not. The SMTP host is the operator's own relay, so
it is not put through the webhook channel's address checks.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelkeep.monitor.channels import (
    AlertChannel,
    ChannelSpec,
    DeliveryError,
    parse_channel_options,
    register_channel,
    send_with_retries,
)

if TYPE_CHECKING:
    from modelkeep.monitor.alerts import Alert

__all__ = ["EmailChannel", "EmailOptions", "alert_email"]


class EmailOptions(BaseModel):
    """The keys of a ``type: email`` channel (``from`` is the sender address)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    smtp_host: str = Field(default="localhost", min_length=1)
    smtp_port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(alias="from")
    to: tuple[str, ...] = Field(min_length=1)
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=10)
    backoff_s: float = Field(default=1.0, ge=0, le=60)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(v) for v in value)


class EmailChannel(AlertChannel):
    """Mails each alert to a fixed list of recipients."""

    def __init__(self, options: EmailOptions) -> None:
        self.options = options

    @classmethod
    def from_spec(cls, spec: ChannelSpec) -> EmailChannel:
        """The factory registered for ``type: email``."""
        return cls(parse_channel_options(EmailOptions, spec))

    def send(self, alert: Alert) -> None:
        """Send the alert by mail, retrying transient failures.

        Raises:
            DeliveryError: not delivered (connection, authentication or SMTP refusal).
        """
        password = self._password()
        message = alert_email(alert, self.options.sender, self.options.to)
        send_with_retries(
            lambda: self._send_once(message, password),
            retries=self.options.retries,
            backoff_s=self.options.backoff_s,
        )

    def _password(self) -> str | None:
        if self.options.username is None:
            return None
        name = self.options.password_env
        if not name or name not in os.environ:
            raise DeliveryError(
                f"username {self.options.username!r} is set but the password environment "
                f"variable {name or '(password_env)'} is not"
            )
        return os.environ[name]

    def _send_once(self, message: EmailMessage, password: str | None) -> None:
        opts = self.options
        where = f"{opts.smtp_host}:{opts.smtp_port}"
        try:
            with smtplib.SMTP(opts.smtp_host, opts.smtp_port, timeout=opts.timeout_s) as smtp:
                if opts.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if opts.username is not None and password is not None:
                    smtp.login(opts.username, password)
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP {where} refused the login: {_reply(exc)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP {where}: {exc}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"SMTP {where} refused the recipients ({', '.join(sorted(exc.recipients))})",
                retryable=all(400 <= code < 500 for code in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {where} answered {_reply(exc)}", retryable=400 <= exc.smtp_code < 500
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"SMTP {where}: {exc or type(exc).__name__}", retryable=True
            ) from None


def alert_email(alert: Alert, sender: str, to: tuple[str, ...]) -> EmailMessage:
    """The message sent for ``alert``: subject with severity, rule and model; plain-text body."""
    message = EmailMessage()
    message["Subject"] = _one_line(f"[modelkeep {alert.severity}] {alert.model}: {alert.rule}")
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(alert.fired_at_ms / 1000, usegmt=True)
    # An explicit domain: make_msgid would otherwise look up this host's FQDN (slow offline).
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "modelkeep")
    message.set_content(
        "\n".join(
            [
                alert.message,
                "",
                f"model:    {alert.model}",
                f"rule:     {alert.rule}",
                f"metric:   {alert.metric} = {alert.value:.6g}",
                f"severity: {alert.severity}",
                f"window:   {_iso(alert.window_start_ms)} .. {_iso(alert.window_end_ms)}",
                f"key:      {alert.dedup_key}",
            ]
        )
    )
    return message


def _address(value: str) -> str:
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in value):
        raise ValueError(f"not an email address: {value!r}")
    return value


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code} {text}".strip()


register_channel("email", EmailChannel.from_spec)
