"""What finsent stores and sends, pinned byte for byte.

``golden/alert_messages.json`` was captured from the code before evidence became a typed
:class:`~pipeline.alerts.evidence.Evidence`: the stored evidence of both alerts (firing,
then resolved), the webhook bodies and the email parts must stay exactly what they were,
so stored alerts and every receiver see no change.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from detect_helpers import (
    NOW,
    SmtpReceiver,
    WebhookReceiver,
    add_burst,
    add_news,
    add_ordinary_week,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.alerts import run_detection
from pipeline.schema import Alert
from pipeline.settings import Settings

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).parent / "golden" / "alert_messages.json"


def _stored_evidence(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        alerts = session.scalars(select(Alert).order_by(Alert.id)).all()
        return {alert.topic: json.dumps(alert.evidence) for alert in alerts}


def capture_messages(engine: Engine) -> dict[str, str]:
    """Run one surge through firing and resolution; every stored and sent text, by name."""
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10, fixed_text=True)
    add_news(
        engine,
        topic="banking",
        start=NOW,
        end=NOW + timedelta(hours=4),
        per_hour=6,
        negative_share=0.15,
        title="Calm banking update",
    )
    texts: dict[str, str] = {}
    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        settings = Settings(
            webhook_urls=[hook.url],
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            smtp_from="finsent@example.org",
            alert_email_to=["desk@example.org"],
            dashboard_url="http://dash.example:8501",
        )
        for event, now in (("firing", NOW), ("resolved", NOW + timedelta(hours=4))):
            run_detection(engine=engine, settings=settings, now=now)
            for topic, evidence in _stored_evidence(engine).items():
                texts[f"evidence/{event}/{topic}"] = evidence
        for request in hook.requests:
            payload = json.loads(request["body"])
            name = f"{payload['status']}/{payload['alerts'][0]['labels']['topic']}"
            texts[f"webhook/{name}"] = request["body"].decode()
        for mail in smtp.messages:
            subject = mail["Subject"]
            event = "firing" if subject.startswith("[FIRING]") else "resolved"
            topic = "banking" if "topic banking" in subject else "all"
            texts[f"email/{event}/{topic}/subject"] = subject
            for kind in ("plain", "html"):
                part = mail.get_body(preferencelist=(kind,))
                assert part is not None
                texts[f"email/{event}/{topic}/{kind}"] = part.get_content()
    return dict(sorted(texts.items()))


def test_stored_evidence_webhook_bodies_and_emails_are_unchanged(sqlite_engine) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    captured = capture_messages(sqlite_engine)
    assert sorted(captured) == sorted(golden)
    for name, text in golden.items():
        assert captured[name] == text, name
