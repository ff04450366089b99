"""Delivery through a real SMTP server (aiosmtpd) and a real HTTP receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from detect_helpers import (
    NOW,
    SmtpReceiver,
    WebhookReceiver,
    add_articles,
    add_burst,
    add_news,
    add_ordinary_week,
    free_port,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.alerts import run_detection
from pipeline.alerts.notify import SIGNATURE_HEADER
from pipeline.schema import Alert, Delivery
from pipeline.settings import Settings, get_settings

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-for-tests-only"


def surge(engine) -> None:
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10)


def deliveries(engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_webhook_and_email_end_to_end(sqlite_engine, monkeypatch) -> None:
    engine = sqlite_engine
    surge(engine)
    add_news(
        engine,
        topic="banking",
        start=NOW,
        end=NOW + timedelta(hours=4),
        per_hour=6,
        negative_share=0.15,
    )
    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        monkeypatch.setenv("FINSENT_WEBHOOK_URLS", hook.url)
        monkeypatch.setenv("FINSENT_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("FINSENT_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("FINSENT_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("FINSENT_SMTP_STARTTLS", "false")
        monkeypatch.setenv("FINSENT_SMTP_FROM", "finsent@example.org")
        monkeypatch.setenv("FINSENT_ALERT_EMAIL_TO", "desk@example.org, risk@example.org")
        monkeypatch.setenv("FINSENT_DASHBOARD_URL", "http://dash.example:8501")
        get_settings.cache_clear()
        settings = get_settings()

        first = run_detection(engine=engine, settings=settings, now=NOW)
        # Two alerts, each to one webhook and to each of two recipients (one delivery each).
        assert (first.opened, first.notified, first.failed) == (2, 6, 0)

        # Webhook: Alertmanager v4 shape, one alert per notification, signed.
        assert len(hook.requests) == 2
        for request in hook.requests:
            expected = (
                "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
            )
            assert request["headers"][SIGNATURE_HEADER] == expected
            assert request["headers"]["Content-Type"] == "application/json"
        by_topic = {p["alerts"][0]["labels"]["topic"]: p for p in hook.payloads()}
        assert set(by_topic) == {"banking", "all"}
        payload = by_topic["banking"]
        assert payload["version"] == "4" and payload["status"] == "firing"
        assert payload["receiver"] == "finsent" and payload["truncatedAlerts"] == 0
        assert payload["externalURL"] == "http://dash.example:8501"
        assert payload["groupKey"].startswith("{}:{") and 'topic="banking"' in payload["groupKey"]
        for key in ("groupLabels", "commonLabels", "commonAnnotations"):
            assert isinstance(payload[key], dict) and payload[key]
        alert = payload["alerts"][0]
        assert alert["labels"] == {
            "alertname": "NegativeNewsSurge",
            "scope": "topic",
            "topic": "banking",
        }
        assert by_topic["all"]["alerts"][0]["labels"]["scope"] == "all"
        assert by_topic["all"]["alerts"][0]["labels"]["topic"] == "all"
        assert "banking" in alert["annotations"]["summary"]
        assert alert["annotations"]["description"]
        assert alert["startsAt"] == "2026-03-02T15:00:00Z"
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
        assert alert["generatorURL"].startswith("http://dash.example:8501")
        assert len(alert["fingerprint"]) == 16 and alert["status"] == "firing"

        # Email: one transaction per alert and recipient, the whole list in To:, text + HTML.
        assert len(smtp.messages) == 4
        assert sorted(r for e in smtp.envelopes for r in e.rcpt_tos) == [
            "desk@example.org",
            "desk@example.org",
            "risk@example.org",
            "risk@example.org",
        ]
        assert all(m["To"] == "desk@example.org, risk@example.org" for m in smtp.messages)
        mail = next(m for m in smtp.messages if "topic banking" in m["Subject"])
        assert mail["Subject"].startswith("[FIRING]") and "% negative" in mail["Subject"]
        assert mail["From"] == "finsent@example.org"
        text = mail.get_body(preferencelist=("plain",)).get_content()
        html = mail.get_body(preferencelist=("html",)).get_content()
        assert "Shock banking loss" in text and "http://dash.example:8501" in text
        assert "Shock banking loss" in html and 'href="http://dash.example:8501' in html

        # Dedup while firing: a second run sends nothing.
        again = run_detection(engine=engine, settings=settings, now=NOW + timedelta(minutes=15))
        assert (again.opened, again.notified) == (0, 0)
        assert len(hook.requests) == 2 and len(smtp.messages) == 4

        # The window calms down: a resolved message to each target for each alert.
        calm = run_detection(engine=engine, settings=settings, now=NOW + timedelta(hours=4))
        assert (calm.resolved, calm.notified, calm.failed) == (2, 6, 0)
        resolved = [p for p in hook.payloads() if p["status"] == "resolved"]
        assert len(resolved) == 2
        assert resolved[0]["alerts"][0]["endsAt"] == "2026-03-02T19:00:00Z"
        assert sum(m["Subject"].startswith("[RESOLVED]") for m in smtp.messages) == 4
    assert all(d.status == "sent" and d.attempts == 1 for d in deliveries(engine))


@pytest.mark.parametrize("status", [500, 429])
def test_failed_webhook_is_retried_on_a_later_run(sqlite_engine, status) -> None:
    engine = sqlite_engine
    surge(engine)
    with WebhookReceiver(statuses=[status]) as hook:
        settings = Settings(webhook_urls=[hook.url])
        first = run_detection(engine=engine, settings=settings, now=NOW)
        assert (first.notified, first.failed) == (1, 1)
        failed = next(d for d in deliveries(engine) if d.status == "retry")
        assert failed.attempts == 1 and str(status) in (failed.last_error or "")
        assert failed.next_attempt_at == NOW + timedelta(seconds=60)

        # Not due yet: the back-off holds it.
        soon = run_detection(engine=engine, settings=settings, now=NOW + timedelta(seconds=30))
        assert (soon.notified, soon.failed) == (0, 0)

        later = run_detection(engine=engine, settings=settings, now=NOW + timedelta(minutes=15))
        assert (later.notified, later.failed, later.opened) == (1, 0, 0)
        assert len(hook.requests) == 3
    retried = next(d for d in deliveries(engine) if d.id == failed.id)
    assert (retried.status, retried.attempts, retried.last_error) == ("sent", 2, None)


@pytest.mark.parametrize("status", [400, 404])
def test_client_errors_are_not_retried(sqlite_engine, status) -> None:
    engine = sqlite_engine
    surge(engine)
    with WebhookReceiver(statuses=[status, status]) as hook:
        settings = Settings(webhook_urls=[hook.url])
        first = run_detection(engine=engine, settings=settings, now=NOW)
        assert (first.notified, first.failed) == (0, 2)
        later = run_detection(engine=engine, settings=settings, now=NOW + timedelta(hours=1))
        assert (later.notified, later.failed) == (0, 0)
        assert len(hook.requests) == 2
    for delivery in deliveries(engine):
        assert (delivery.status, delivery.attempts) == ("failed", 1)
        assert delivery.next_attempt_at is None and str(status) in (delivery.last_error or "")


def test_a_dead_channel_never_blocks_another(sqlite_engine) -> None:
    engine = sqlite_engine
    add_ordinary_week(engine)
    # Feed text that tries to be HTML: it must reach the email escaped, never rendered.
    add_articles(
        engine,
        topic="banking",
        times=[NOW - timedelta(minutes=100 - 7 * i) for i in range(14)],
        negatives=[True] * 10 + [False] * 4,
        title='<script>alert("x")</script> Bank {i} <b>collapses</b>',
        p_negative=0.99,
    )
    dead_url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    with SmtpReceiver() as smtp:
        settings = Settings(
            webhook_urls=[dead_url],
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            alert_email_to=["desk@example.org"],
        )
        report = run_detection(engine=engine, settings=settings, now=NOW)
        assert (report.opened, report.notified, report.failed) == (2, 2, 2)
        assert len(smtp.messages) == 2
        mail = next(m for m in smtp.messages if "topic banking" in m["Subject"])
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "<b>collapses" not in html
    assert "&lt;script&gt;" in html
    by_channel = {(d.channel, d.status) for d in deliveries(engine)}
    assert by_channel == {("email", "sent"), ("webhook", "retry")}


def test_outbox_is_used_when_no_channel_is_configured(sqlite_engine) -> None:
    engine = sqlite_engine
    surge(engine)
    settings = get_settings()  # FINSENT_OUTBOX_DIR points at a temporary folder
    report = run_detection(engine=engine, settings=settings, now=NOW)
    assert (report.opened, report.notified) == (2, 2)
    files = sorted(settings.outbox_dir.iterdir())
    assert len([f for f in files if f.suffix == ".eml"]) == 2
    payloads = [json.loads(f.read_text()) for f in files if f.suffix == ".json"]
    assert {p["alerts"][0]["labels"]["topic"] for p in payloads} == {"banking", "all"}
    with Session(engine) as session:
        assert len(session.scalars(select(Alert)).all()) == 2
