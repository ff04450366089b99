"""The three DAGs run for real with ``airflow dags test`` (``DAG.test()``), one after the
other, on a fresh Airflow home (SQLite metadata) against a real PostgreSQL database:
ten days of news and a negative burst served on loopback become articles, scores and
an open alert. Afterwards the stages run outside Airflow find nothing left to do, and
running the detection DAG again sends nothing twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dag_helpers import AIRFLOW, FINSENT, feed_server, rss, run, ten_days_then_burst
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.db import make_engine
from pipeline.ingest.feeds import add_feed
from pipeline.schema import Alert, Article, Score

pytestmark = [pytest.mark.airflow, pytest.mark.integration, pytest.mark.slow]

WIRES = 3


def _xcom_values(airflow_home: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        return [
            (dag_id, task_id, str(value))
            for dag_id, task_id, value in db.execute("SELECT dag_id, task_id, value FROM xcom")
        ]


def _mapped_count(airflow_home: Path, dag_id: str, task_id: str) -> int:
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        query = "SELECT count(*) FROM task_instance WHERE dag_id = ? AND task_id = ? AND state = ?"
        return int(db.execute(query, (dag_id, task_id, "success")).fetchone()[0])


# A failing task would be retried after 1, 2 and 4 minutes (dag.test waits them out);
# each command's own timeout stops that sooner and shows the task's traceback.
@pytest.mark.timeout(1200)
def test_three_dags_take_a_negative_burst_to_an_open_alert(
    airflow_env: Callable[..., dict[str, str]],
    airflow_home: Path,
    pg_url: str,
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    items = ten_days_then_burst(now)
    bodies = {f"/wire-{k}.xml": rss(items[k::WIRES]) for k in range(WIRES)}
    outbox = tmp_path / "outbox"
    engine = make_engine(pg_url)
    with feed_server(bodies) as server:
        with Session(engine) as session, session.begin():
            for path in bodies:
                add_feed(session=session, url=server.url(path), allow_private=True)
        env = airflow_env(
            FINSENT_DATABASE_URL=pg_url,
            FINSENT_ALLOW_PRIVATE_NETWORKS="1",
            FINSENT_OUTBOX_DIR=str(outbox),
            FINSENT_DEVICE="cpu",
            # The re-ingest below must really poll the feeds again, not skip them.
            FINSENT_FEED_MIN_INTERVAL_SECONDS="0",
            # Small splits, so both stages map over more than one task.
            FINSENT_INGEST_BATCH_SIZE="2",
            FINSENT_SCORE_RANGE_SIZE="300",
        )

        seconds = {}
        for dag_id in ("finsent_ingest", "finsent_score", "finsent_alert"):
            ran = run([AIRFLOW, "dags", "test", dag_id, now.isoformat()], env=env, timeout=300)
            seconds[dag_id] = round(ran.seconds, 1)
        print(f"airflow dags test, seconds each: {seconds}")

        with Session(engine) as session:
            articles = session.scalar(select(func.count()).select_from(Article))
            scores = session.scalar(select(func.count()).select_from(Score))
            scored_articles = session.scalar(select(func.count(func.distinct(Score.article_id))))
            open_alerts = session.scalars(select(Alert).where(Alert.state == "firing")).all()
        assert articles == len(items)
        assert scores == scored_articles == articles, "every article scored exactly once"
        overall = [alert for alert in open_alerts if alert.scope == "all"]
        assert len(overall) == 1 and overall[0].evidence["share"] > 0.6
        sent = sorted(path.name for path in outbox.iterdir())
        assert sent, "the firing alert was delivered to the outbox"

        # The work was split over mapped tasks: 3 feeds in batches of 2, 500 articles in 300s.
        assert _mapped_count(airflow_home, "finsent_ingest", "ingest_batch") == 2
        assert _mapped_count(airflow_home, "finsent_score", "score_range") == 2
        # XCom carried ids, ranges and counts, never article text.
        xcoms = _xcom_values(airflow_home)
        assert xcoms and max(len(value) for *_, value in xcoms) < 1000
        assert not [x for x in xcoms if "shares" in x[2] or "news.example" in x[2]]

        # Outside Airflow, the stages find nothing new: the feeds are read again (every
        # entry a duplicate) and every article already has its score.
        ingest = json.loads(run([FINSENT, "ingest", "--json"], env=env, timeout=300).output)
        assert ingest["new_articles"] == 0 and ingest["duplicates"] == len(items)
        score = json.loads(run([FINSENT, "score", "--json"], env=env, timeout=300).output)
        assert score["scored"] == 0

        # Detection again at the same logical date: the same alert, nothing sent twice.
        run([AIRFLOW, "dags", "test", "finsent_alert", now.isoformat()], env=env, timeout=300)
        assert sorted(path.name for path in outbox.iterdir()) == sent
        listed = json.loads(run([FINSENT, "alerts", "list", "--json"], env=env, timeout=120).output)
        assert [(a["id"], a["state"]) for a in listed if a["scope"] == "all"] == [
            (overall[0].id, "firing")
        ]
    engine.dispose()


def test_alert_dag_backfills_a_time_range(airflow_env: Callable[..., dict[str, str]]) -> None:
    """`airflow backfill create` accepts finsent_alert (its timetable is periodic) and plans
    one detection run per 15-minute tick of the range."""
    env = airflow_env()
    run([AIRFLOW, "dags", "reserialize"], env=env, timeout=300)
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    start = two_days_ago.replace(hour=9, minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=1)
    ran = run(
        [
            AIRFLOW,
            "backfill",
            "create",
            "--dag-id",
            "finsent_alert",
            "--from-date",
            start.isoformat(),
            "--to-date",
            end.isoformat(),
            "--dry-run",
        ],
        env=env,
        timeout=300,
    )
    planned = [
        datetime.fromisoformat(line.split("|")[1].strip())
        for line in ran.output.splitlines()
        if line.startswith("| 20")
    ]
    assert planned == [start + timedelta(minutes=15 * i) for i in range(5)], ran.output[-3000:]
