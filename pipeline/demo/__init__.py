"""The demo: finsent's whole data path on news written for it, from a folder of its own.

:mod:`~pipeline.demo.scenario` holds the stories (ten days of ordinary headlines, a
burst of bad banking news just before the demo's anchor, more stories after it);
:mod:`~pipeline.demo.feedserver` serves them on loopback as RSS. :func:`run_first_cycle`
registers the feeds and runs ingest → score → detect through the real stages into
``<home>/finsent.db``, with alert messages in ``<home>/outbox`` (no channel is
configured). Everything the demo writes stays under ``home`` (``./finsent-demo``).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.demo.feedserver import DemoFeedServer
from pipeline.demo.scenario import demo_items
from pipeline.settings import Settings

DEMO_HOME = Path("finsent-demo")
DEMO_FEED_PORT = 8599


def demo_settings(base: Settings, *, home: Path) -> Settings:
    """``base`` pointed at the demo's own folder; private networks allowed for its feeds."""
    home = home.resolve()
    return base.model_copy(
        update={
            "database_url": f"sqlite:///{home / 'finsent.db'}",
            "outbox_dir": home / "outbox",
            # The demo's feeds are on loopback: the demo, and only the demo, may read them.
            "allow_private_networks": True,
            "feed_min_interval_seconds": 0,
        }
    )


def reset_demo(home: Path) -> None:
    """Forget a previous demo run: its database, outbox and anchor (the --once path)."""
    for name in ("finsent.db", "finsent.db-wal", "finsent.db-shm", "anchor.txt"):
        (home / name).unlink(missing_ok=True)
    shutil.rmtree(home / "outbox", ignore_errors=True)


def demo_anchor(home: Path) -> datetime:
    """When this demo was first started (created now if new): the scenario's clock."""
    path = home / "anchor.txt"
    if path.is_file():
        try:
            return datetime.fromisoformat(path.read_text().strip()).astimezone(UTC)
        except ValueError:
            pass  # a damaged anchor: start the scenario afresh
    anchor = datetime.now(UTC).replace(microsecond=0)
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(anchor.isoformat() + "\n")
    return anchor


def start_feed_server(home: Path, *, port: int = DEMO_FEED_PORT) -> DemoFeedServer:
    """The demo's feeds on ``127.0.0.1:<port>``; a port in use is a one-line error."""
    return DemoFeedServer(demo_items(demo_anchor(home)), port=port)


def has_scored_articles(settings: Settings) -> bool:
    """Whether the demo database exists and already holds scores (a rerun reuses it)."""
    from sqlalchemy import exists

    from pipeline.errors import FinsentError
    from pipeline.schema import Score
    from pipeline.wiring import open_database

    try:
        engine = open_database(settings, migrate=False)
    except FinsentError:
        return False
    try:
        with Session(engine) as session:
            return bool(session.scalar(select(exists().where(Score.id.is_not(None)))))
    finally:
        engine.dispose()


def run_first_cycle(
    *, settings: Settings, server: DemoFeedServer, progress: bool = False
) -> dict[str, Any]:
    """Register the demo feeds and run ingest → score → detect once; summarise it."""
    from pipeline.alerts.actions import alert_as_dict, list_alerts
    from pipeline.ingest.feeds import add_feed
    from pipeline.run import run_pipeline
    from pipeline.schema import Score
    from pipeline.wiring import open_database

    engine = open_database(settings, migrate=True)
    try:
        with Session(engine) as session, session.begin():
            for name, url in server.feed_urls().items():
                add_feed(session=session, url=url, name=f"finsent demo: {name}", allow_private=True)
        reports = run_pipeline(settings=settings, progress=progress)
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
    from pipeline.alerts.evidence import Evidence

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
        ev = Evidence.from_json(alert["evidence"])
        lines.append(
            f"ALERT {alert['state']}: {alert['topic']} — {ev.negatives} of "
            f"{ev.n} articles negative in the last window, baseline "
            f"{ev.baseline:.0%} (p = {ev.p_value:.1e})"
        )
    lines.append(
        f"database: {summary['database_url']}; alert messages: {summary['outbox_dir']}/ "
        f"(set FINSENT_WEBHOOK_URLS or FINSENT_SMTP_HOST to deliver them)"
    )
    return "\n".join(lines)
