"""Alert channels against real local receivers: a threaded HTTP server for webhooks (JSON and
Slack payloads, retries, timeouts, redirects, SSRF refusals) and a small threaded SMTP server
for email. Everything listens on loopback, so the webhook channels list 127.0.0.1 in
``allow_hosts`` unless a test checks that it is refused."""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modelkeep.exceptions import InvalidInputError
from modelkeep.monitor.alerts import Alert, AlertRules, deliver, load_rules
from modelkeep.monitor.netguard import (
    AddressPolicy,
    PinnedTransport,
    forbidden_reason,
    pin_address,
)
from modelkeep.monitor.webhook import WebhookChannel, WebhookOptions

ALERT = Alert(
    rule="drift",
    model="churn",
    metric="drift.share",
    value=0.75,
    severity="critical",
    message="[critical] churn: drift: drift.share = 0.75 (>= 0.5)",
    window_start_ms=1_700_000_000_000,
    window_end_ms=1_700_003_600_000,
    fired_at_ms=1_700_003_601_000,
    dedup_key="churn:drift",
)


# --- a local HTTP receiver ------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """Records POSTs; answers with ``statuses`` in turn (then 200)."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    location: str | None = None
    stall: bool = False
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        receiver.requests.append(Received(self.path, headers, body))
        if receiver.stall:
            receiver.release.wait(5)
            return
        self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
        if receiver.location is not None:
            self.send_header("Location", receiver.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    receiver: HttpReceiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (the timeout test) is expected."""


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with _serve_http() as found:
        yield found


@pytest.fixture
def other_receiver() -> Iterator[HttpReceiver]:
    with _serve_http() as found:
        yield found


class _serve_http:  # noqa: N801 - used as a context manager
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls

    def __enter__(self) -> HttpReceiver:
        server = _HttpServer(("127.0.0.1", 0), _HttpHandler)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.receiver = HttpReceiver(server)
        server.receiver = self.receiver
        self.thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        return self.receiver

    def __exit__(self, *exc: object) -> None:
        self.receiver.release.set()
        self.receiver.server.shutdown()
        self.receiver.server.server_close()
        self.thread.join(5)


def hook_rules(url: str, **options: Any) -> AlertRules:
    channel = {"type": "webhook", "url": url, "backoff_s": 0.001, **options}
    return load_rules(
        {
            "channels": {"hook": channel},
            "rules": [{"name": "drift", "metric": "drift.share", "condition": ">=",
                       "value": 0.5, "channels": ["hook"]}],
        }
    )  # fmt: skip


LOCAL = {"allow_hosts": ["127.0.0.1"]}


# --- webhook delivery -----------------------------------------------------------------------


def test_webhook_posts_the_alert_as_json(receiver: HttpReceiver) -> None:
    outcome = deliver(ALERT, hook_rules(receiver.url(), **LOCAL))

    assert outcome == {"hook": "sent"}
    [request] = receiver.requests
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("modelkeep/")
    assert json.loads(request.body) == ALERT.to_dict()


def test_webhook_slack_payload_has_text_and_blocks(receiver: HttpReceiver) -> None:
    alert = Alert(**{**ALERT.to_dict(), "model": "<!channel> churn & co"})
    alert = Alert(**{**alert.to_dict(), "message": f"[critical] {alert.model}: drift"})

    outcome = deliver(alert, hook_rules(receiver.url(), format="slack", **LOCAL))

    assert outcome == {"hook": "sent"}
    payload = json.loads(receiver.requests[0].body)
    assert payload["text"] == "[critical] &lt;!channel&gt; churn &amp; co: drift"
    assert [block["type"] for block in payload["blocks"]] == [
        "header", "section", "section", "context"
    ]  # fmt: skip
    assert payload["blocks"][0]["text"]["text"].startswith("CRITICAL: drift on <!channel>")
    fields = " ".join(f["text"] for f in payload["blocks"][2]["fields"])
    assert "drift.share" in fields and "0.75" in fields and "2023-11-14T22:13:20+00:00" in fields


def test_webhook_retries_5xx_until_it_succeeds(receiver: HttpReceiver) -> None:
    receiver.statuses = [500, 503]

    outcome = deliver(ALERT, hook_rules(receiver.url(), retries=3, **LOCAL))

    assert outcome == {"hook": "sent"}
    assert len(receiver.requests) == 3


def test_webhook_gives_up_after_its_retries(receiver: HttpReceiver) -> None:
    receiver.statuses = [500] * 5

    outcome = deliver(ALERT, hook_rules(receiver.url(), retries=2, **LOCAL))

    assert outcome["hook"].startswith("failed: ")
    assert "HTTP 500" in outcome["hook"] and "after 3 attempts" in outcome["hook"]
    assert len(receiver.requests) == 3


def test_webhook_does_not_retry_4xx(receiver: HttpReceiver) -> None:
    receiver.statuses = [400]

    outcome = deliver(ALERT, hook_rules(receiver.url("/T0/B0/s3cr3t"), retries=3, **LOCAL))

    assert outcome["hook"].startswith("failed: ") and "HTTP 400" in outcome["hook"]
    assert len(receiver.requests) == 1
    # Webhook URLs carry secrets in their path: messages name the host only.
    assert "s3cr3t" not in outcome["hook"]


def test_webhook_times_out_and_retries_the_timeout(receiver: HttpReceiver) -> None:
    receiver.stall = True

    outcome = deliver(ALERT, hook_rules(receiver.url(), timeout_s=0.2, retries=1, **LOCAL))

    assert outcome["hook"].startswith("failed: ") and "timed out" in outcome["hook"]
    assert len(receiver.requests) == 2


def test_webhook_connection_refused_is_a_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    outcome = deliver(ALERT, hook_rules(f"http://127.0.0.1:{port}/", retries=1, **LOCAL))

    assert outcome["hook"].startswith("failed: ") and "after 2 attempts" in outcome["hook"]


def test_webhook_does_not_follow_a_redirect(
    receiver: HttpReceiver, other_receiver: HttpReceiver
) -> None:
    receiver.statuses = [302]
    receiver.location = f"http://localhost:{other_receiver.port}/steal"

    outcome = deliver(ALERT, hook_rules(receiver.url(), retries=3, **LOCAL))

    assert outcome["hook"].startswith("failed: ")
    assert "redirect to localhost" in outcome["hook"] and "not followed" in outcome["hook"]
    assert len(receiver.requests) == 1
    assert other_receiver.requests == []


# --- SSRF refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://10.0.0.1/hook", "private"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://0.0.0.0/hook", "unspecified"),
    ],
)
def test_webhook_refuses_inside_addresses(url: str, reason: str) -> None:
    outcome = deliver(ALERT, hook_rules(url, retries=3))

    assert outcome["hook"].startswith("failed: refused to connect")
    assert reason in outcome["hook"]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "[::1]", "localhost", "2130706433", "[::ffff:127.0.0.1]"],
    ids=["ipv4-loopback", "ipv6-loopback", "name-to-loopback", "decimal-ip", "v4-mapped"],
)
def test_webhook_refuses_loopback_unless_allowed(receiver: HttpReceiver, host: str) -> None:
    outcome = deliver(ALERT, hook_rules(f"http://{host}:{receiver.port}/hook", retries=3))

    assert outcome["hook"].startswith("failed: refused to connect")
    assert "loopback" in outcome["hook"]
    assert receiver.requests == []


def test_pinned_address_is_the_one_connected_to(receiver: HttpReceiver) -> None:
    # A rebinding name: checked as loopback (allowed here), then it would turn private.
    answers = [["127.0.0.1"], ["10.0.0.1"]]
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), 2) - 1]

    options = WebhookOptions(
        url=f"http://rebind.test:{receiver.port}/hook", allow_hosts=("127.0.0.1",), retries=0
    )
    WebhookChannel(options, resolver=rebinding).send(ALERT)

    assert asked == ["rebind.test"]
    [request] = receiver.requests
    assert request.headers["host"] == f"rebind.test:{receiver.port}"


def test_a_name_with_any_forbidden_address_is_refused(receiver: HttpReceiver) -> None:
    options = WebhookOptions(url=f"http://mixed.test:{receiver.port}/hook", retries=0)
    channel = WebhookChannel(options, resolver=lambda host, port: ["8.8.8.8", "127.0.0.1"])

    with pytest.raises(InvalidInputError, match="loopback") as caught:
        channel.send(ALERT)

    assert caught.value.field == "url"
    assert receiver.requests == []


def test_allow_hosts_by_name(receiver: HttpReceiver) -> None:
    options = WebhookOptions(
        url=f"http://hooks.internal:{receiver.port}/x", allow_hosts=("HOOKS.internal",)
    )
    WebhookChannel(options, resolver=lambda host, port: ["127.0.0.1"]).send(ALERT)

    assert len(receiver.requests) == 1


def _self_signed(name: str, directory: Path) -> tuple[ssl.SSLContext, bytes]:
    """A server TLS context with a certificate for ``name``, and that certificate (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return server, pem


def _pinned_https_post(url: str, trusted: bytes) -> int:
    client_tls = ssl.create_default_context(cadata=trusted.decode())
    transport = PinnedTransport(
        AddressPolicy(allow_hosts=("127.0.0.1",)),
        resolver=lambda host, port: ["127.0.0.1"],
        inner=httpx.HTTPTransport(verify=client_tls, trust_env=False),
    )
    with httpx.Client(transport=transport, timeout=5, trust_env=False) as client:
        return client.post(url, json={"ok": True}).status_code


def test_pinned_https_verifies_the_certificate_against_the_name(tmp_path: Path) -> None:
    server_tls, pem = _self_signed("hooks.test", tmp_path)
    names: list[str | None] = []

    def record_sni(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        names.append(name)

    server_tls.sni_callback = record_sni

    with _serve_http(server_tls) as tls_receiver:
        status = _pinned_https_post(f"https://hooks.test:{tls_receiver.port}/x", pem)

    assert status == 200
    assert names == ["hooks.test"]
    assert tls_receiver.requests[0].headers["host"] == f"hooks.test:{tls_receiver.port}"


def test_pinned_https_rejects_a_certificate_for_another_name(tmp_path: Path) -> None:
    server_tls, pem = _self_signed("other.test", tmp_path)

    with _serve_http(server_tls) as tls_receiver:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            _pinned_https_post(f"https://hooks.test:{tls_receiver.port}/x", pem)

    assert tls_receiver.requests == []


def test_pinned_transport_keeps_host_header_and_sets_sni(receiver: HttpReceiver) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    transport = PinnedTransport(
        AddressPolicy(),
        resolver=lambda host, port: ["93.184.215.14"],
        inner=httpx.MockTransport(record),
    )
    with httpx.Client(transport=transport) as client:
        assert client.post("https://hooks.example/x", json={}).status_code == 204

    [sent] = seen
    assert sent.url.host == "93.184.215.14" and sent.url.port is None
    assert sent.headers["host"] == "hooks.example"
    assert sent.extensions["sni_hostname"] == "hooks.example"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("100.64.0.1", "a reserved, not globally routable address"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_forbidden_reason(address: str, reason: str | None) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


def test_allow_private_still_refuses_metadata_and_loopback() -> None:
    policy = AddressPolicy(allow_private=True)

    assert policy.allows("x", ipaddress.ip_address("10.1.2.3"))
    assert policy.allows("x", ipaddress.ip_address("fd12::1"))
    assert not policy.allows("x", ipaddress.ip_address("fd00:ec2::254"))
    assert not policy.allows("x", ipaddress.ip_address("127.0.0.1"))
    assert not policy.allows("x", ipaddress.ip_address("169.254.169.254"))


def test_allow_hosts_takes_networks() -> None:
    policy = AddressPolicy(allow_hosts=("10.20.0.0/16",))

    assert pin_address("hooks.corp", 443, policy, lambda h, p: ["10.20.1.2"]) == "10.20.1.2"
    with pytest.raises(InvalidInputError, match="private"):
        pin_address("hooks.corp", 443, policy, lambda h, p: ["10.21.1.2"])


def test_unresolvable_name_is_a_connection_error() -> None:
    def nothing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(httpx.ConnectError, match="cannot resolve nowhere.test"):
        pin_address("nowhere.test", 443, AddressPolicy(), nothing)


# --- a local SMTP receiver ------------------------------------------------------------------


@dataclass
class SmtpReceiver:
    server: socketserver.ThreadingTCPServer
    sessions: int = 0
    auths: list[str] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    messages: list[EmailMessage] = field(default_factory=list)
    rcpt_reply: str | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, QUIT."""

    server: _SmtpServer

    def handle(self) -> None:
        box = self.server.box
        box.sessions += 1
        self._reply("220 test ESMTP")
        sender, recipients = "", list[str]()
        while line := self.rfile.readline():
            verb, _, arg = line.decode().rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.wfile.write(b"250-test\r\n250-AUTH PLAIN\r\n250 HELP\r\n")
            elif verb == "AUTH":
                box.auths.append(base64.b64decode(arg.partition(" ")[2]).decode())
                self._reply("235 2.7.0 accepted")
            elif verb == "MAIL":
                sender, recipients = arg, []
                self._reply("250 ok")
            elif verb == "RCPT":
                recipients.append(arg)
                self._reply(box.rcpt_reply or "250 ok")
            elif verb == "DATA":
                self._reply("354 go ahead")
                box.messages.append(
                    message_from_bytes(self._data(), EmailMessage, policy=default_policy)
                )
                box.envelopes.append((sender, recipients))
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 ok")

    def _data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)

    def _reply(self, text: str) -> None:
        self.wfile.write(f"{text}\r\n".encode())


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    box: SmtpReceiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
    server.box = SmtpReceiver(server)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server.box
    server.shutdown()
    server.server_close()
    thread.join(5)


def mail_rules(port: int, **options: Any) -> AlertRules:
    channel = {"type": "email", "smtp_host": "127.0.0.1", "smtp_port": port,
               "from": "modelkeep@example.com", "to": ["oncall@example.com", "ml@example.com"],
               "timeout_s": 5, "backoff_s": 0.001, **options}  # fmt: skip
    return load_rules(
        {
            "channels": {"oncall": channel},
            "rules": [{"name": "drift", "metric": "drift.share", "condition": ">=",
                       "value": 0.5, "channels": ["oncall", "log"]}],
        }
    )  # fmt: skip


def test_email_is_delivered(smtp: SmtpReceiver) -> None:
    outcome = deliver(ALERT, mail_rules(smtp.port))

    assert outcome == {"oncall": "sent", "log": "sent"}
    [message] = smtp.messages
    assert message["Subject"] == "[modelkeep critical] churn: drift"
    assert message["From"] == "modelkeep@example.com"
    assert message["To"] == "oncall@example.com, ml@example.com"
    body = message.get_content()
    assert ALERT.message in body and "churn:drift" in body
    assert smtp.envelopes == [
        ("FROM:<modelkeep@example.com>", ["TO:<oncall@example.com>", "TO:<ml@example.com>"])
    ]
    assert smtp.auths == []


def test_email_logs_in_with_the_password_from_the_environment(
    smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MK_TEST_SMTP_PASSWORD", "s3cret")

    outcome = deliver(
        ALERT, mail_rules(smtp.port, username="mk", password_env="MK_TEST_SMTP_PASSWORD")
    )

    assert outcome["oncall"] == "sent"
    assert smtp.auths == ["\0mk\0s3cret"]


def test_email_without_its_password_is_not_sent(
    smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MK_TEST_SMTP_PASSWORD", raising=False)

    outcome = deliver(
        ALERT, mail_rules(smtp.port, username="mk", password_env="MK_TEST_SMTP_PASSWORD")
    )

    assert outcome["oncall"].startswith("failed: ")
    assert "MK_TEST_SMTP_PASSWORD" in outcome["oncall"]
    assert smtp.sessions == 0


def test_email_permanent_refusal_is_not_retried(smtp: SmtpReceiver) -> None:
    smtp.rcpt_reply = "550 5.1.1 no such user"

    outcome = deliver(ALERT, mail_rules(smtp.port, retries=2))

    assert outcome["oncall"].startswith("failed: ")
    assert "refused the recipients" in outcome["oncall"]
    assert smtp.sessions == 1 and smtp.messages == []


def test_email_temporary_refusal_is_retried(smtp: SmtpReceiver) -> None:
    smtp.rcpt_reply = "451 4.3.0 try again later"

    outcome = deliver(ALERT, mail_rules(smtp.port, retries=2))

    assert outcome["oncall"].startswith("failed: ") and "after 3 attempts" in outcome["oncall"]
    assert smtp.sessions == 3


def test_email_to_a_closed_port_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    outcome = deliver(ALERT, mail_rules(port, retries=0))

    assert outcome["oncall"].startswith("failed: SMTP 127.0.0.1:")
    assert outcome["log"] == "sent"
