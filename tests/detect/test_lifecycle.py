"""Alert lifecycle on SQLite and PostgreSQL: open once, stay quiet, resolve, pend, silence."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from detect_helpers import NOW, VERSION, add_articles, add_burst, add_news, add_ordinary_week
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipeline.alerts import run_detection
from pipeline.alerts.actions import acknowledge_alert, add_silence, list_alerts
from pipeline.alerts.counts import (
    all_topics_hourly,
    hourly_sentiment_counts,
    latest_model_version,
    sentiment_counts_by_topic,
)
from pipeline.alerts.notify import OutboxNotifier
from pipeline.errors import FinsentError
from pipeline.schema import Alert, Delivery
from pipeline.settings import Settings


def alerts_by_topic(engine: Engine) -> dict[str, Alert]:
    with Session(engine) as session:
        return {a.topic: a for a in session.scalars(select(Alert).order_by(Alert.id))}


def deliveries(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def outbox_files(folder: Path, suffix: str) -> list[str]:
    return sorted(p.name for p in folder.glob(f"*{suffix}"))


@pytest.fixture
def outbox(tmp_path: Path) -> OutboxNotifier:
    return OutboxNotifier(folder=tmp_path / "outbox")


def test_surge_opens_one_alert_per_scope_with_evidence(engine, outbox) -> None:
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10)

    report = run_detection(engine=engine, settings=Settings(), now=NOW, notifiers=[outbox])

    assert (report.opened, report.resolved, report.notified, report.failed) == (2, 0, 2, 0)
    assert report.model_version == VERSION and report.firing == 2
    alerts = alerts_by_topic(engine)
    assert set(alerts) == {"banking", "all"}
    banking = alerts["banking"]
    assert (banking.scope, banking.state, banking.fired_at) == ("topic", "firing", NOW)
    assert alerts["all"].scope == "all"
    ev = banking.evidence
    assert ev["n"] == 18  # 14 burst + 4 ordinary articles
    assert ev["negatives"] in (10, 11)  # 10 burst + whatever the ordinary stream put there
    assert ev["share"] == pytest.approx(ev["negatives"] / 18)
    assert ev["baseline"] == pytest.approx(0.15, abs=0.01)
    assert ev["p_value"] < 0.001 and ev["model_version"] == VERSION
    assert ev["window_end"] == NOW.isoformat() and ev["baseline_days"] == 7
    assert len(ev["headlines"]) == 5
    assert all("Shock banking loss" in h["title"] for h in ev["headlines"])
    assert all(h["link"].startswith("https://news.example/banking/") for h in ev["headlines"])
    # No channel configured: the outbox holds an .eml and a .json per notification.
    assert len(outbox_files(outbox.folder, ".eml")) == 2
    assert len(outbox_files(outbox.folder, ".json")) == 2


def test_running_again_while_nothing_changed_opens_and_sends_nothing(engine, outbox) -> None:
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10)
    run_detection(engine=engine, settings=Settings(), now=NOW, notifiers=[outbox])

    for later in (NOW, NOW + timedelta(minutes=15)):
        again = run_detection(engine=engine, settings=Settings(), now=later, notifiers=[outbox])
        assert (again.opened, again.resolved, again.notified, again.failed) == (0, 0, 0, 0)
        assert again.firing == 2
    assert len(deliveries(engine)) == 2
    assert len(outbox_files(outbox.folder, ".json")) == 2


def test_alert_resolves_and_says_so_when_the_window_calms_down(engine, outbox) -> None:
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10)
    add_news(
        engine,
        topic="banking",
        start=NOW,
        end=NOW + timedelta(hours=4),
        per_hour=6,
        negative_share=0.15,
    )
    run_detection(engine=engine, settings=Settings(), now=NOW, notifiers=[outbox])

    calm = run_detection(
        engine=engine, settings=Settings(), now=NOW + timedelta(hours=4), notifiers=[outbox]
    )

    assert (calm.opened, calm.resolved, calm.notified) == (0, 2, 2)
    alerts = alerts_by_topic(engine)
    assert alerts["banking"].state == "resolved"
    assert alerts["banking"].resolved_at == NOW + timedelta(hours=4)
    assert alerts["banking"].evidence["latest"]["share"] < 0.3
    events = sorted((d.event, d.status) for d in deliveries(engine))
    assert events == [("firing", "sent")] * 2 + [("resolved", "sent")] * 2
    assert len(outbox_files(outbox.folder, "-resolved.json")) == 2
    # A new episode of the same scope is a new alert with the same fingerprint.
    add_burst(engine, topic="banking", n=20, negatives=16, end=NOW + timedelta(hours=8))
    again = run_detection(
        engine=engine, settings=Settings(), now=NOW + timedelta(hours=8), notifiers=[outbox]
    )
    assert again.opened >= 1
    with Session(engine) as session:
        banking = session.scalars(select(Alert).where(Alert.topic == "banking")).all()
    assert [a.state for a in banking] == ["resolved", "firing"]
    assert banking[0].fingerprint == banking[1].fingerprint


def test_with_for_evaluations_an_alert_pends_before_firing(engine, outbox) -> None:
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10)
    settings = Settings(detect_for_evaluations=2)

    first = run_detection(engine=engine, settings=settings, now=NOW, notifiers=[outbox])
    assert (first.opened, first.pending, first.notified) == (0, 2, 0)
    assert {a.state for a in alerts_by_topic(engine).values()} == {"pending"}

    second = run_detection(
        engine=engine, settings=settings, now=NOW + timedelta(minutes=5), notifiers=[outbox]
    )
    assert (second.opened, second.pending, second.notified) == (2, 0, 2)


def test_a_pending_alert_that_stops_holding_is_dropped_silently(engine, outbox) -> None:
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10)
    settings = Settings(detect_for_evaluations=3)
    run_detection(engine=engine, settings=settings, now=NOW, notifiers=[outbox])
    later = run_detection(
        engine=engine, settings=settings, now=NOW + timedelta(hours=6), notifiers=[outbox]
    )
    assert (later.opened, later.resolved, later.notified, later.pending) == (0, 0, 0, 0)
    assert alerts_by_topic(engine) == {}


def test_silence_suppresses_notifications_until_it_ends(engine, outbox) -> None:
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10)
    with Session(engine) as session, session.begin():
        add_silence(session=session, scope="banking", duration=timedelta(minutes=30), now=NOW)

    report = run_detection(engine=engine, settings=Settings(), now=NOW, notifiers=[outbox])

    assert (report.opened, report.silenced, report.notified) == (2, 1, 1)
    alerts = alerts_by_topic(engine)
    assert alerts["banking"].state == "firing"
    assert alerts["banking"].evidence["silenced_until"] == (NOW + timedelta(minutes=30)).isoformat()
    assert [d.alert_id for d in deliveries(engine)] == [alerts["all"].id]

    # The silence is over and banking still fires: now it is announced, once.
    later = NOW + timedelta(minutes=45)
    after = run_detection(engine=engine, settings=Settings(), now=later, notifiers=[outbox])
    assert alerts_by_topic(engine)["banking"].state == "firing"
    assert (after.opened, after.notified) == (0, 1)
    again = run_detection(engine=engine, settings=Settings(), now=later, notifiers=[outbox])
    assert again.notified == 0


def test_no_history_means_nothing_is_evaluated(engine, outbox) -> None:
    add_burst(engine, topic="banking", n=40, negatives=40)
    report = run_detection(engine=engine, settings=Settings(), now=NOW, notifiers=[outbox])
    assert (report.scopes, report.opened, report.notified) == (0, 0, 0)


def test_nothing_scored_yet_is_not_an_error(engine, outbox) -> None:
    report = run_detection(engine=engine, settings=Settings(), now=NOW, notifiers=[outbox])
    assert report.model_version is None and report.opened == 0


def test_current_model_version_is_the_most_recently_scored(engine, outbox) -> None:
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10)
    # A newer model scored the same window later and found it calm.
    add_articles(
        engine,
        topic="banking",
        times=[NOW - timedelta(hours=1)] * 3,
        negatives=[False] * 3,
        version="test-v2",
        scored_at=NOW + timedelta(minutes=1),
    )
    with Session(engine) as session:
        assert latest_model_version(session=session) == "test-v2"
    report = run_detection(engine=engine, settings=Settings(), now=NOW, notifiers=[outbox])
    # test-v2 has no 7-day history, so nothing is evaluated: the old labels are never mixed in.
    assert report.model_version == "test-v2" and report.opened == 0 and report.scopes == 0
    pinned = run_detection(
        engine=engine, settings=Settings(), now=NOW, notifiers=[outbox], model_version=VERSION
    )
    assert pinned.opened == 2


def test_list_and_acknowledge(engine, outbox) -> None:
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10)
    run_detection(engine=engine, settings=Settings(), now=NOW, notifiers=[outbox])
    with Session(engine) as session, session.begin():
        firing = list_alerts(session=session, state="firing")
        assert len(firing) == 2 and list_alerts(session=session, state="resolved") == []
        first_id = firing[0].id
        acknowledge_alert(session=session, alert_id=first_id, now=NOW)
        acknowledge_alert(session=session, alert_id=first_id, now=NOW + timedelta(hours=1))
        with pytest.raises(FinsentError, match="no alert"):
            acknowledge_alert(session=session, alert_id=999_999)
        with pytest.raises(FinsentError, match="unknown state"):
            list_alerts(session=session, state="burning")
    with Session(engine) as session:
        assert session.get_one(Alert, first_id).acknowledged_at == NOW


def test_hourly_counts_by_published_hour_under_one_model_version(engine) -> None:
    hour = NOW.replace(minute=0)
    add_articles(
        engine,
        topic="banking",
        times=[
            hour + timedelta(minutes=5),
            hour + timedelta(minutes=55),
            hour + timedelta(hours=1),
        ],
        negatives=[True, False, True],
    )
    add_articles(engine, topic="markets", times=[hour + timedelta(minutes=30)], negatives=[False])
    add_articles(engine, topic="banking", times=[hour], negatives=[True], version="other-version")
    with Session(engine) as session:
        rows = hourly_sentiment_counts(
            session=session, model_version=VERSION, start=hour, end=hour + timedelta(hours=2)
        )
        by_topic = sentiment_counts_by_topic(
            session=session, model_version=VERSION, start=hour, end=hour + timedelta(hours=2)
        )
    assert [(r.hour, r.topic, r.counts.negative, r.counts.neutral) for r in rows] == [
        (hour, "banking", 1, 1),
        (hour, "markets", 0, 1),
        (hour + timedelta(hours=1), "banking", 1, 0),
    ]
    totals = all_topics_hourly(rows)
    assert [(r.hour, r.counts.total) for r in totals] == [(hour, 3), (hour + timedelta(hours=1), 1)]
    assert by_topic["banking"].negative == 2 and by_topic["banking"].total == 3
    assert json.dumps([r.as_dict() for r in rows])
