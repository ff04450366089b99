"""The demo: bundled feeds replayed through the whole data path on the shipped model.

``replay-*.xml`` hold a week of ordinary finance headlines and, at the end, a
two-hour burst of bad banking news (regenerate them with
``python -m pipeline.demo.make_demo_feeds``). The alert rules are evaluated as
of the last bundled story, so the demo shows the same alert on any date.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.settings import Settings

DEMO_FEEDS_DIR = Path(__file__).resolve().parent


def demo_feed_paths() -> list[Path]:
    """The bundled demo feeds, in a fixed order."""
    return sorted(DEMO_FEEDS_DIR.glob("replay-*.xml"))


def replay_time() -> datetime:
    """Five minutes after the newest story in the bundled feeds."""
    # Our own bundled files, so the standard library parser is safe here.
    from xml.etree import ElementTree

    newest = max(
        parsedate_to_datetime(element.text or "")
        for path in demo_feed_paths()
        for element in ElementTree.parse(path).iter("pubDate")
    )
    return newest + timedelta(minutes=5)


def replay_demo(*, settings: Settings, progress: bool = False) -> dict[str, Any]:
    """Add the demo feeds to ``settings.database_url``, run the data path, summarise it."""
    from pipeline.alerts.actions import alert_as_dict, list_alerts
    from pipeline.ingest.feeds import add_feed
    from pipeline.run import run_pipeline
    from pipeline.schema import Score
    from pipeline.wiring import open_database

    engine = open_database(settings, migrate=True)
    try:
        with Session(engine) as session, session.begin():
            for path in demo_feed_paths():
                add_feed(session=session, url=path.as_uri(), allow_private=True)
        reports = run_pipeline(settings=settings, progress=progress, detect_at=replay_time())
        with Session(engine) as session:
            version = reports["score"]["model_version"]
            sentiments = dict(
                session.execute(
                    select(Score.sentiment, func.count())
                    .where(Score.model_version == version)
                    .group_by(Score.sentiment)
                ).all()
            )
            alerts = [
                alert_as_dict(session=session, alert=alert)
                for alert in list_alerts(session=session, state="open")
            ]
    finally:
        engine.dispose()
    summary: dict[str, Any] = {
        **reports,
        "database_url": settings.database_url,
        "sentiment_counts": sentiments,
        "open_alerts": alerts,
        "outbox_dir": str(settings.outbox_dir),
    }
    summary["text"] = _describe(summary)
    return summary


def _describe(summary: dict[str, Any]) -> str:
    ingest, score = summary["ingest"], summary["score"]
    lines = [
        f"ingested {ingest['new_articles']} new articles from {ingest['feeds']} demo feeds "
        f"({ingest['duplicates']} already known, {ingest['errors']} errors)",
        f"scored {score['scored']} articles with model {score['model_version']}",
        "sentiment: "
        + ", ".join(
            f"{name} {count}" for name, count in sorted(summary["sentiment_counts"].items())
        ),
    ]
    if not summary["open_alerts"]:
        lines.append("no open alerts")
    for alert in summary["open_alerts"]:
        evidence = alert.get("evidence") or {}
        baseline, p_value = float(evidence.get("baseline", 0)), float(evidence.get("p_value", 1))
        lines.append(
            f"ALERT {alert['state']}: {alert['topic']} — {evidence.get('negatives')} of "
            f"{evidence.get('n')} articles negative in the last window, baseline "
            f"{baseline:.0%} (p = {p_value:.1e})"
        )
    lines.append(
        f"database: {summary['database_url']}; alert messages: {summary['outbox_dir']}/ "
        f"(set FINSENT_WEBHOOK_URLS or FINSENT_SMTP_HOST to deliver them)"
    )
    return "\n".join(lines)
