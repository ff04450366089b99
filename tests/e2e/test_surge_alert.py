"""End to end: ten days of ordinary news, then two hours that go wrong — or only get busy.

The feeds are RSS files written for a fixed ``NOW`` and read through ``file://`` by the
real ingest stage; the real shipped checkpoint scores them; detection runs with a real
webhook receiver and a real SMTP server on loopback. The headlines are plain enough
(routine announcements; unmistakable losses and failures) for the model to label them
reliably.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from detect_helpers import SmtpReceiver, WebhookReceiver
from news_corpus import BURST, ORDINARY, ROUTINE_BAD, headline, rss
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import SHIPPED_MODEL_DIR
from pipeline.alerts import run_detection
from pipeline.alerts.notify import SIGNATURE_HEADER
from pipeline.db import make_engine, upgrade_database
from pipeline.ingest import ingest_feeds
from pipeline.ingest.feeds import add_feed
from pipeline.schema import Alert, Score
from pipeline.scoring import score_articles
from pipeline.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.integration]

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SECRET = "e2e-webhook-secret-7f3a"


def write_feeds(folder: Path, *, negative_surge: bool) -> list[Path]:
    """Ten days at two articles an hour (one in eight bad), then 26 in the last two hours."""
    items: list[tuple[str, datetime, str]] = []
    start = NOW - timedelta(days=10)
    for i in range(10 * 24 * 2 - 4):  # up to two hours before NOW
        templates = ROUTINE_BAD if i % 8 == 5 else ORDINARY
        when = start + timedelta(minutes=30 * i + 7)
        items.append((f"{headline(templates, i)} ({i})", when, f"ordinary-{i}"))
    for j in range(26):  # the last two hours: a busy spell
        when = NOW - timedelta(hours=2) + timedelta(minutes=2 + j * 4.5)
        if negative_surge:
            title = headline(BURST, j)
        else:
            title = headline(ROUTINE_BAD if j % 8 == 5 else ORDINARY, j + 1000)
        items.append((f"{title} ({j})", when, f"busy-{j}"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(3):  # three wires
        path = folder / f"wire-{k}.xml"
        path.write_text(rss(items[k::3]), encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def scorer() -> Any:
    from models import Scorer

    assert (SHIPPED_MODEL_DIR / "model_card.json").is_file(), "the shipped checkpoint is missing"
    return Scorer.from_pretrained(SHIPPED_MODEL_DIR, device="cpu")


def run_stages(tmp_path: Path, scorer: Any, *, negative_surge: bool, receivers=None):
    url = f"sqlite:///{tmp_path / 'finsent.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    settings_kwargs: dict[str, Any] = {
        "database_url": url,
        "allow_private_networks": True,
        "outbox_dir": tmp_path / "outbox",
    }
    if receivers:
        hook, smtp = receivers
        settings_kwargs.update(
            webhook_urls=[hook.url],
            webhook_secret=SECRET,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            alert_email_to=["desk@example.org"],
        )
    settings = Settings(**settings_kwargs)
    with Session(engine) as session, session.begin():
        for path in write_feeds(tmp_path / "feeds", negative_surge=negative_surge):
            add_feed(session=session, url=path.as_uri(), allow_private=True)
    ingest = ingest_feeds(engine=engine, settings=settings, now=NOW)
    assert ingest.errors == 0 and ingest.new_articles == 10 * 24 * 2 - 4 + 26
    score = score_articles(engine=engine, scorer=scorer)
    assert score.scored == ingest.new_articles
    return engine, settings


def negative_share(engine, *, since: datetime) -> float:
    from pipeline.schema import Article

    with Session(engine) as session:
        rows = session.execute(
            select(Score.sentiment, func.count())
            .join(Article, Article.id == Score.article_id)
            .where(Article.published_at >= since)
            .group_by(Score.sentiment)
        ).all()
    counts = dict(rows)
    return counts.get("negative", 0) / max(1, sum(counts.values()))


def test_negative_surge_alerts_once_per_channel_signed(tmp_path: Path, scorer: Any) -> None:
    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        engine, settings = run_stages(tmp_path, scorer, negative_surge=True, receivers=(hook, smtp))
        # The model read the days as ordinary and the last two hours as bad news.
        assert negative_share(engine, since=NOW - timedelta(days=7)) < 0.3
        assert negative_share(engine, since=NOW - timedelta(hours=2)) > 0.7

        report = run_detection(engine=engine, settings=settings, now=NOW)

        assert report.opened >= 1 and report.failed == 0
        with Session(engine) as session:
            overall = session.scalars(select(Alert).where(Alert.scope == "all")).one()
        assert overall.state == "firing" and overall.evidence["share"] > 0.6
        assert overall.evidence["headlines"], "evidence lists the most negative headlines"
        hooks = [r for r in hook.requests if b'"scope": "all"' in r["body"]]
        assert len(hooks) == 1
        body = hooks[0]["body"]
        assert hooks[0]["headers"][SIGNATURE_HEADER] == (
            "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        )
        mails = [m for m in smtp.messages if "all articles" in m["Subject"]]
        assert len(mails) == 1 and mails[0]["Subject"].startswith("[FIRING]")
        sent = (len(hook.requests), len(smtp.messages))

        again = run_detection(engine=engine, settings=settings, now=NOW + timedelta(minutes=15))
        assert (again.opened, again.notified) == (0, 0)
        assert (len(hook.requests), len(smtp.messages)) == sent
    engine.dispose()


def test_a_busy_but_ordinary_spell_opens_nothing(tmp_path: Path, scorer: Any) -> None:
    engine, settings = run_stages(tmp_path, scorer, negative_surge=False)
    report = run_detection(engine=engine, settings=settings, now=NOW)
    assert report.scopes > 1
    assert (report.opened, report.notified) == (0, 0)
    with Session(engine) as session:
        assert session.scalars(select(Alert)).all() == []
    engine.dispose()
