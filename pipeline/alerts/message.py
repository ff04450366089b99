"""What a notification says: one alert event as an Alertmanager webhook body and an email.

The webhook body follows Prometheus Alertmanager's webhook format, version 4, with one
alert per notification (as an Alertmanager route grouping by every label would send),
so existing Alertmanager receivers accept it. Everything that came from a feed is
escaped in HTML, and only http(s) links leave finsent (:func:`~pipeline.alerts.evidence.
safe_link`): a ``javascript:`` or ``data:`` link is dropped from the JSON and the email.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import quote

from pipeline.alerts.evidence import Evidence, safe_link
from pipeline.alerts.states import DeliveryEvent
from pipeline.db import iso

# Alertmanager's "not resolved yet" endsAt.
ZERO_TIME = "0001-01-01T00:00:00Z"


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


@dataclass(frozen=True)
class AlertMessage:
    """What a notification says about one alert event (``firing`` or ``resolved``)."""

    alert_id: int
    event: DeliveryEvent
    rule: str
    scope: str  # all | topic
    topic: str  # topic name, or "all"
    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None
    evidence: Evidence
    dashboard_url: str

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
            f"Negative news surge in {self.scope_name}: {_pct(ev.share)} negative "
            f"(baseline {_pct(ev.baseline)})"
        )
        description = (
            f"{ev.negatives} of {ev.n} articles published between "
            f"{iso(ev.window_start)} and {iso(ev.window_end)} were negative, against a "
            f"baseline of {_pct(ev.baseline)} over the previous "
            f"{ev.baseline_days} days (one-sided binomial p = {ev.p_value:.2g}; "
            f"model {ev.model_version})."
        )
        return {"summary": summary, "description": description, "dashboard": self.dashboard_url}

    def subject(self) -> str:
        ev = self.evidence
        state = "FIRING" if self.event == DeliveryEvent.FIRING else "RESOLVED"
        return (
            f"[{state}] finsent: {self.scope_name} at {_pct(ev.share)} negative "
            f"(baseline {_pct(ev.baseline)})"
        )


def webhook_payload(message: AlertMessage, *, receiver: str = "finsent") -> dict[str, Any]:
    """An Alertmanager v4 webhook body holding this one alert."""
    labels = message.labels()
    annotations = message.annotations()
    group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    alert = {
        "status": str(message.event),
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
        "status": str(message.event),
        "receiver": receiver,
        "groupLabels": dict(labels),
        "commonLabels": dict(labels),
        "commonAnnotations": dict(annotations),
        "externalURL": message.dashboard_url,
        "alerts": [alert],
        # finsent's own addition; Alertmanager receivers ignore unknown keys.
        "evidence": message.evidence.with_safe_links().to_json(),
    }


def email_text(message: AlertMessage) -> str:
    """The plain-text part."""
    ev = message.evidence
    annotations = message.annotations()
    lines = [annotations["summary"], "", annotations["description"], ""]
    if message.event == DeliveryEvent.RESOLVED:
        share = ev.latest.share if ev.latest else None
        lines += [f"Resolved at {message.ends_at}: now {_pct(share)} negative.", ""]
    if ev.headlines:
        lines.append("Most negative headlines:")
        for item in ev.headlines:
            link = safe_link(item.link)
            lines.append(f"- {item.title}{f' <{link}>' if link else ''}")
        lines.append("")
    if ev.silenced_until:
        lines += [f"Silenced until {iso(ev.silenced_until)}.", ""]
    lines.append(f"Dashboard: {message.generator_url}")
    return "\n".join(lines) + "\n"


def email_html(message: AlertMessage) -> str:
    """The HTML part. Every feed-derived string is escaped; feed HTML is never rendered."""
    ev = message.evidence
    esc = html.escape
    rows = [
        ("Scope", message.scope_name),
        ("Window", f"{iso(ev.window_start)} to {iso(ev.window_end)}"),
        ("Articles", str(ev.n)),
        ("Negative", f"{ev.negatives} ({_pct(ev.share)})"),
        ("Baseline", f"{_pct(ev.baseline)} over {ev.baseline_days} days"),
        ("p-value", f"{ev.p_value:.2g}"),
        ("Model", str(ev.model_version)),
    ]
    table = "".join(f"<tr><th align='left'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    items = []
    for item in ev.headlines:
        title = esc(item.title)
        link = safe_link(item.link)
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
