"""Alert delivery behind one small interface: webhook, email and an outbox folder.

A :class:`Notifier` knows its channel name and targets, and sends one
:class:`AlertMessage` (one alert's firing or resolved event) to one target. It raises
:class:`DeliveryError` on failure, saying whether a retry could help. Scheduling,
recording attempts and back-off live in :mod:`pipeline.alerts.deliveries`.

The webhook body follows Prometheus Alertmanager's webhook format, version 4, with
one alert per notification (as an Alertmanager route grouping by every label would
send), so existing Alertmanager receivers accept it.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

import httpx
from pydantic import SecretStr

from pipeline.settings import Settings

SIGNATURE_HEADER = "X-Finsent-Signature"
# Alertmanager's "not resolved yet" endsAt.
ZERO_TIME = "0001-01-01T00:00:00Z"


class DeliveryError(Exception):
    """A notification did not go through. ``permanent``: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


@dataclass(frozen=True)
class AlertMessage:
    """What a notification says about one alert event (``firing`` or ``resolved``)."""

    alert_id: int
    event: str
    rule: str
    scope: str  # all | topic
    topic: str  # topic name, or "all"
    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None
    evidence: dict[str, Any]
    dashboard_url: str
    acknowledged: bool = False

    @property
    def scope_name(self) -> str:
        return "all articles" if self.scope == "all" else f"topic {self.topic}"

    @property
    def generator_url(self) -> str:
        return f"{self.dashboard_url.rstrip('/')}/?topic={quote(self.topic)}"

    def labels(self) -> dict[str, str]:
        return {"alertname": self.rule, "scope": self.scope, "topic": self.topic}

    def annotations(self) -> dict[str, str]:
        ev = self.evidence
        summary = (
            f"Negative news surge in {self.scope_name}: {_pct(ev.get('share'))} negative "
            f"(baseline {_pct(ev.get('baseline'))})"
        )
        description = (
            f"{ev.get('negatives')} of {ev.get('n')} articles published between "
            f"{ev.get('window_start')} and {ev.get('window_end')} were negative, against a "
            f"baseline of {_pct(ev.get('baseline'))} over the previous "
            f"{ev.get('baseline_days')} days (one-sided binomial p = {ev.get('p_value', 0):.2g}; "
            f"model {ev.get('model_version')})."
        )
        return {"summary": summary, "description": description, "dashboard": self.dashboard_url}

    def subject(self) -> str:
        ev = self.evidence
        state = "FIRING" if self.event == "firing" else "RESOLVED"
        return (
            f"[{state}] finsent: {self.scope_name} at {_pct(ev.get('share'))} negative "
            f"(baseline {_pct(ev.get('baseline'))})"
        )


@runtime_checkable
class Notifier(Protocol):
    """Sends alert events on one channel to each of its targets."""

    channel: str

    def targets(self) -> list[str]:
        """Where this notifier delivers (URLs, a recipient list, a folder)."""
        ...

    def send(self, message: AlertMessage, *, target: str) -> str:
        """Deliver ``message`` to ``target``; return the body sent (kept as a record)."""
        ...


def webhook_payload(message: AlertMessage, *, receiver: str = "finsent") -> dict[str, Any]:
    """An Alertmanager v4 webhook body holding this one alert."""
    labels = message.labels()
    annotations = message.annotations()
    group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    alert = {
        "status": message.event,
        "labels": labels,
        "annotations": annotations,
        "startsAt": _rfc3339(message.starts_at),
        "endsAt": _rfc3339(message.ends_at) if message.ends_at else ZERO_TIME,
        "generatorURL": message.generator_url,
        "fingerprint": message.fingerprint,
    }
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": message.event,
        "receiver": receiver,
        "groupLabels": dict(labels),
        "commonLabels": dict(labels),
        "commonAnnotations": dict(annotations),
        "externalURL": message.dashboard_url,
        "alerts": [alert],
        # finsent's own addition; Alertmanager receivers ignore unknown keys.
        "evidence": message.evidence,
    }


def sign(body: bytes, secret: str) -> str:
    """The ``X-Finsent-Signature`` value: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class WebhookNotifier:
    """POSTs the Alertmanager-style JSON to each URL; signs it when a secret is set."""

    urls: list[str]
    secret: SecretStr | None = None
    timeout: float = 10.0
    receiver: str = "finsent"
    channel: str = "webhook"

    def targets(self) -> list[str]:
        return list(self.urls)

    def send(self, message: AlertMessage, *, target: str) -> str:
        body = json.dumps(webhook_payload(message, receiver=self.receiver), default=str).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "finsent-alerts/0.1"}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self.secret.get_secret_value())
        try:
            response = httpx.post(target, content=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return body.decode()
        reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
        # 429 and 5xx may pass later; any other answer (4xx, a redirect) will not.
        transient = response.status_code == 429 or response.status_code >= 500
        raise DeliveryError(reason, permanent=not transient)


def _safe_link(url: str | None) -> str | None:
    """Only http(s) links become clickable; anything else (javascript:, data:) stays text."""
    if url and urlsplit(url).scheme in ("http", "https"):
        return url
    return None


def email_text(message: AlertMessage) -> str:
    """The plain-text part."""
    ev = message.evidence
    lines = [message.annotations()["summary"], "", message.annotations()["description"], ""]
    if message.event == "resolved":
        latest = ev.get("latest") or {}
        lines += [f"Resolved at {message.ends_at}: now {_pct(latest.get('share'))} negative.", ""]
    headlines = ev.get("headlines") or []
    if headlines:
        lines.append("Most negative headlines:")
        for item in headlines:
            link = f" <{item['link']}>" if item.get("link") else ""
            lines.append(f"- {item.get('title')}{link}")
        lines.append("")
    if ev.get("silenced_until"):
        lines += [f"Silenced until {ev['silenced_until']}.", ""]
    lines.append(f"Dashboard: {message.generator_url}")
    return "\n".join(lines) + "\n"


def email_html(message: AlertMessage) -> str:
    """The HTML part. Every feed-derived string is escaped; feed HTML is never rendered."""
    ev = message.evidence
    esc = html.escape
    rows = [
        ("Scope", message.scope_name),
        ("Window", f"{ev.get('window_start')} to {ev.get('window_end')}"),
        ("Articles", str(ev.get("n"))),
        ("Negative", f"{ev.get('negatives')} ({_pct(ev.get('share'))})"),
        ("Baseline", f"{_pct(ev.get('baseline'))} over {ev.get('baseline_days')} days"),
        ("p-value", f"{ev.get('p_value', 0):.2g}"),
        ("Model", str(ev.get("model_version"))),
    ]
    table = "".join(f"<tr><th align='left'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    items = []
    for item in ev.get("headlines") or []:
        title = esc(str(item.get("title", "")))
        link = _safe_link(item.get("link"))
        items.append(f'<li><a href="{esc(link)}">{title}</a></li>' if link else f"<li>{title}</li>")
    headline_block = f"<p>Most negative headlines:</p><ul>{''.join(items)}</ul>" if items else ""
    dashboard = esc(message.generator_url)
    return (
        "<html><body>"
        f"<p><strong>{esc(message.subject())}</strong></p>"
        f"<p>{esc(message.annotations()['description'])}</p>"
        f"<table>{table}</table>{headline_block}"
        f'<p><a href="{dashboard}">Open the dashboard</a></p>'
        "</body></html>"
    )


def build_email(message: AlertMessage, *, sender: str, recipients: list[str]) -> EmailMessage:
    """A multipart/alternative message: plain text first, then HTML."""
    mail = EmailMessage()
    mail["Subject"] = message.subject()
    mail["From"] = sender
    mail["To"] = ", ".join(recipients) if recipients else "undisclosed-recipients:;"
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain="finsent")
    mail["X-Finsent-Fingerprint"] = message.fingerprint
    mail.set_content(email_text(message))
    mail.add_alternative(email_html(message), subtype="html")
    return mail


@dataclass
class EmailNotifier:
    """Sends one email per alert event to all recipients through SMTP."""

    host: str
    port: int
    sender: str
    recipients: list[str]
    user: str | None = None
    password: SecretStr | None = None
    starttls: bool = True
    timeout: float = 10.0
    channel: str = "email"

    def targets(self) -> list[str]:
        return [", ".join(self.recipients)] if self.recipients else []

    def send(self, message: AlertMessage, *, target: str) -> str:
        recipients = [part.strip() for part in target.split(",") if part.strip()]
        mail = build_email(message, sender=self.sender, recipients=recipients)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.user:
                    password = self.password.get_secret_value() if self.password else ""
                    smtp.login(self.user, password)
                smtp.send_message(mail, from_addr=self.sender, to_addrs=recipients)
        except smtplib.SMTPResponseException as exc:
            # 5xx replies are permanent (bad recipient, auth refused); 4xx are temporary.
            raise DeliveryError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipients refused: {exc.recipients}", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        return email_text(message)


@dataclass
class OutboxNotifier:
    """Writes each alert event as ``.eml`` and ``.json`` files, so nothing is lost."""

    folder: Path
    sender: str = "finsent@localhost"
    recipients: list[str] = field(default_factory=list)
    channel: str = "outbox"

    def targets(self) -> list[str]:
        return [str(self.folder)]

    def send(self, message: AlertMessage, *, target: str) -> str:
        folder = Path(target)
        moment = (message.ends_at if message.event == "resolved" else message.starts_at) or (
            message.starts_at
        )
        stem = (
            f"{moment.strftime('%Y%m%dT%H%M%SZ')}-alert{message.alert_id}-"
            f"{message.fingerprint}-{message.event}"
        )
        body = json.dumps(webhook_payload(message), default=str, indent=2)
        mail = build_email(message, sender=self.sender, recipients=self.recipients)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{stem}.json").write_text(body, encoding="utf-8")
            (folder / f"{stem}.eml").write_bytes(mail.as_bytes())
        except OSError as exc:
            raise DeliveryError(f"cannot write to outbox {folder}: {exc}") from exc
        return body


def notifiers_from_settings(settings: Settings) -> list[Notifier]:
    """The configured channels; the outbox folder alone when none is configured."""
    notifiers: list[Notifier] = []
    if settings.webhook_urls:
        notifiers.append(
            WebhookNotifier(
                urls=list(settings.webhook_urls),
                secret=settings.webhook_secret,
                timeout=settings.delivery_timeout_seconds,
            )
        )
    if settings.smtp_host and settings.alert_email_to:
        notifiers.append(
            EmailNotifier(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                recipients=list(settings.alert_email_to),
                user=settings.smtp_user,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
                timeout=settings.delivery_timeout_seconds,
            )
        )
    if not notifiers:
        notifiers.append(
            OutboxNotifier(
                folder=settings.outbox_dir,
                sender=settings.smtp_from,
                recipients=list(settings.alert_email_to),
            )
        )
    return notifiers
