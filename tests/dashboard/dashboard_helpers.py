"""A seeded finsent database for the dashboard tests: ten days of scored finance news in
every topic, a negative burst in Financials in the last two hours (detection opens an
alert on it), feeds in every state, and hostile titles and links."""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from models import TOPIC_LABELS
from pipeline.alerts import run_detection
from pipeline.alerts.notify import OutboxNotifier
from pipeline.db import make_engine
from pipeline.schema import Alert, Article, Feed, FetchAttempt, Score
from pipeline.settings import Settings

# The real entrypoint, run by AppTest and the browser test.
APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"

VERSION = "dash-test-v1"
BURST_TOPIC = "Financials"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
JAVASCRIPT_LINK = "javascript:alert(1)"

_SUBJECTS = ["Acme Corp", "Globex", "Initech", "Umbrella Bank", "Stark Industries",
             "Wayne Capital", "Hooli", "Vandelay Imports", "Soylent", "Cyberdyne"]  # fmt: skip
_TONES = {
    "negative": ["{s} shares slide after {t} worries", "{s} warns on {t}, stock tumbles"],
    "neutral": ["{s} to report {t} figures next week", "{s} comments on {t}"],
    "positive": ["{s} beats expectations on {t}", "{s} rallies as {t} improves"],
}


_BANKS = ["Harbor Bancorp", "Pinecrest Bank", "Westbridge Financial", "Union Lake Savings"]
_BURST_TITLES = [
    "{bank} shares plunge as depositors pull funds",
    "{bank} discloses large loan losses, suspends dividend",
    "Regulators step in at {bank} after a run on deposits",
    "{bank} downgraded to junk on liquidity fears",
    "{bank} halts buybacks and warns on full-year profit",
]


def _set_negative(session: Session, article: Article, p_negative: float) -> None:
    score = session.query(Score).filter(Score.article_id == article.id).one()
    rest = (1 - p_negative) / 2
    score.p_negative, score.p_neutral, score.p_positive = p_negative, rest, rest
    score.sentiment_score = rest - p_negative


def now_hour() -> datetime:
    """The current time, to the minute: seeded data ends just before it."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def seed_database(url: str, *, now: datetime | None = None, days: int = 10) -> dict[str, int]:
    """Fill the migrated database at ``url``; returns the ids tests need."""
    now = now or now_hour()
    rng = random.Random(7)
    engine = make_engine(url)
    try:
        ids = _fill(engine, rng=rng, now=now, days=days)
        with tempfile.TemporaryDirectory() as folder:
            run_detection(
                engine=engine,
                # Eight headlines of evidence: the hostile titles are among them.
                settings=Settings(database_url=url, detect_top_headlines=8),
                now=now,
                notifiers=[OutboxNotifier(folder=Path(folder))],
            )
        with Session(engine) as session:
            alert = session.query(Alert).filter(Alert.state == "firing").first()
            ids["alert_id"] = alert.id if alert else 0
    finally:
        engine.dispose()
    return ids


def _score(article_id: int, topic: str, sentiment: str, rng: random.Random) -> Score:
    p_top = 0.55 + 0.4 * rng.random()
    strong = 0.6 + 0.35 * rng.random()
    rest = (1 - strong) / 2
    probs = {name: (strong if name == sentiment else rest) for name in _TONES}
    return Score(
        article_id=article_id,
        model_version=VERSION,
        topic=topic,
        topic_probability=p_top,
        sentiment=sentiment,
        p_negative=probs["negative"],
        p_neutral=probs["neutral"],
        p_positive=probs["positive"],
        sentiment_score=probs["positive"] - probs["negative"],
        scored_at=datetime.now(UTC),
    )


def _fill(engine: Engine, *, rng: random.Random, now: datetime, days: int) -> dict[str, int]:
    with Session(engine) as session, session.begin():
        feeds = [
            Feed(url="https://markets.example/rss", name="Markets Wire", enabled=True,
                 created_at=now - timedelta(days=30), consecutive_failures=0,
                 last_success_at=now - timedelta(minutes=6),
                 last_attempt_at=now - timedelta(minutes=6)),
            Feed(url="https://banks.example/feed.xml", name="Banking Desk", enabled=True,
                 created_at=now - timedelta(days=30), consecutive_failures=0,
                 last_success_at=now - timedelta(minutes=6),
                 last_attempt_at=now - timedelta(minutes=6)),
            Feed(url="https://flaky.example/rss", name=XSS_IMG, enabled=True,
                 created_at=now - timedelta(days=30), consecutive_failures=4,
                 last_success_at=now - timedelta(days=1),
                 last_attempt_at=now - timedelta(minutes=20),
                 next_attempt_at=now + timedelta(hours=1),
                 last_error="HTTP 503 Service Unavailable"),
            Feed(url="https://old.example/rss", name="Retired feed", enabled=False,
                 created_at=now - timedelta(days=60), consecutive_failures=0),
        ]  # fmt: skip
        session.add_all(feeds)
        session.flush()
        for feed in feeds[:3]:
            for k in range(8):
                failed = feed.consecutive_failures > 0
                session.add(
                    FetchAttempt(
                        feed_id=feed.id,
                        started_at=now - timedelta(hours=2 * k + 1),
                        status="error" if failed else "fetched",
                        http_status=503 if failed else 200,
                        entries_seen=20,
                        new_articles=0 if failed else 5,
                        error="HTTP 503" if failed else None,
                        duration_ms=180,
                    )
                )
        serial = 0
        pending: list[tuple[Article, str, str]] = []

        def add(topic: str, sentiment: str, when: datetime, title: str | None = None,
                link: str | None = "default", feed: Feed | None = None) -> Article:  # fmt: skip
            nonlocal serial
            serial += 1
            subject = rng.choice(_SUBJECTS)
            headline = title or rng.choice(_TONES[sentiment]).format(s=subject, t=topic.lower())
            article = Article(
                feed_id=(feed or feeds[serial % 2]).id,
                guid=f"urn:test:{serial}",
                canonical_url=None,
                content_hash=f"{serial:064x}",
                title=headline,
                summary=f"{subject} — details of story {serial}.",
                link=f"https://news.example/story/{serial}" if link == "default" else link,
                published_at=when,
                published_from_feed=True,
                fetched_at=when + timedelta(minutes=3),
            )
            session.add(article)
            pending.append((article, topic, sentiment))
            return article

        start = now - timedelta(days=days)
        hours = days * 24
        for h in range(hours):
            hour = start + timedelta(hours=h)
            for topic_index, topic in enumerate(TOPIC_LABELS):
                rate = 0.6 if topic_index % 3 else 1.2  # articles per hour
                if rng.random() < rate % 1 or rate >= 1:
                    negative_share = 0.12 + 0.02 * (topic_index % 5)
                    r = rng.random()
                    sentiment = (
                        "negative" if r < negative_share else "neutral" if r < 0.65 else "positive"
                    )
                    add(topic, sentiment, hour + timedelta(minutes=rng.uniform(0, 59)))
        # The burst: 30 Financials stories in the last two hours, 24 of them negative.
        burst = []
        for i in range(30):
            when = now - timedelta(minutes=118 - 4 * i)
            bank = _BANKS[i % len(_BANKS)]
            title = _BURST_TITLES[i % len(_BURST_TITLES)].format(bank=bank)
            burst.append(add(BURST_TOPIC, "negative" if i % 5 else "neutral", when, title=title))
        script = add(BURST_TOPIC, "negative", now - timedelta(minutes=9), title=XSS_SCRIPT,
                     link=JAVASCRIPT_LINK)  # fmt: skip
        image = add(BURST_TOPIC, "negative", now - timedelta(minutes=7), title=XSS_IMG, link=None)
        session.flush()
        sentiments = {id(article): sentiment for article, _, sentiment in pending}

        def pending_sentiment(article: Article) -> str:
            return sentiments[id(article)]

        for article, topic, sentiment in pending:
            session.add(_score(article.id, topic, sentiment, rng))
        # The burst reads very negative; the hostile titles just below its strongest, so
        # they are among the most negative headlines everywhere (and in the evidence).
        session.flush()
        for rank, article in enumerate(a for a in burst if pending_sentiment(a) == "negative"):
            _set_negative(session, article, 0.99 - 0.004 * rank)
        for article in (script, image):
            _set_negative(session, article, 0.975)
        return {"xss_script_id": script.id, "xss_img_id": image.id, "articles": serial}
