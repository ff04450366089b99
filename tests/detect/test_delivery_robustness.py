"""Alerts get through whatever a receiver does (issue 13, items 1, 2 and 6).

Real servers on loopback: a webhook receiver that drips one header line a second for
ever, an SMTP server that greets the same way, an aiosmtpd server that accepts one
recipient, greylists (451) another and refuses (550) a third, and one without STARTTLS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from detect_helpers import (
    NOW,
    TLS_CERT,
    DrippingServer,
    SmtpPolicyReceiver,
    WebhookReceiver,
    add_articles,
    add_burst,
    add_ordinary_week,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from pipeline.alerts import run_detection
from pipeline.alerts.deliveries import GRACE_SECONDS
from pipeline.alerts.notify import EmailNotifier, WebhookNotifier
from pipeline.alerts.states import DeliveryStatus
from pipeline.cli import app
from pipeline.schema import Delivery
from pipeline.settings import Settings, get_settings

pytestmark = pytest.mark.integration

TIMEOUT = 2.0  # FINSENT_DELIVERY_TIMEOUT_SECONDS in these tests
# What one run may take beyond the deadline and its grace: the evaluation and the
# bookkeeping on SQLite, on a busy two-core machine.
SLACK = 3.0
BOUND = TIMEOUT + GRACE_SECONDS + SLACK

ACCEPTING = "desk@example.org"
GREYLISTED = "busy@example.org"
REFUSED = "nobody@example.org"
GREYLIST_REPLY = "451 4.7.1 Greylisted, try again later"
REFUSE_REPLY = "550 5.1.1 No such user here"


def surge(engine: Engine) -> None:
    """Two alerts (banking and all) fire at NOW."""
    add_ordinary_week(engine)
    add_burst(engine, topic="banking", n=14, negatives=10)


def rows(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def by_target(engine: Engine) -> dict[str, set[str]]:
    """target -> the statuses of its deliveries (one per alert)."""
    found: dict[str, set[str]] = {}
    for row in rows(engine):
        found.setdefault(row.target, set()).add(row.status)
    return found


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def timed_detection(engine: Engine, settings: Settings, **kwargs: object) -> tuple[float, object]:
    started = time.monotonic()
    report = run_detection(engine=engine, settings=settings, **kwargs)  # type: ignore[arg-type]
    return time.monotonic() - started, report


def test_dripping_webhook_and_greylisting_refusing_smtp_in_one_bounded_run(
    sqlite_engine, sqlite_url, monkeypatch
):
    """Issue 13's "done" scenario: one run returns within the bound; the healthy webhook
    and the accepting recipient get the alert; the dripping webhook and the greylisted
    recipient are due for retry; the refused recipient is recorded as refused."""
    engine = sqlite_engine
    surge(engine)
    replies = {GREYLISTED: GREYLIST_REPLY, REFUSED: REFUSE_REPLY}
    drip = DrippingServer(first=b"HTTP/1.1 200 OK\r\n", line=b"X-Drip: 1\r\n")
    with drip, WebhookReceiver() as healthy, SmtpPolicyReceiver(replies) as smtp:
        settings = Settings(
            webhook_urls=[drip.url, healthy.url],
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            alert_email_to=[ACCEPTING, GREYLISTED, REFUSED],
            delivery_timeout_seconds=TIMEOUT,
        )
        elapsed, report = timed_detection(engine, settings, now=NOW)

        assert elapsed < BOUND, f"detect took {elapsed:.1f} s"
        assert elapsed >= TIMEOUT  # the dripping receiver really was waited on, to the deadline
        assert (report.opened, report.notified, report.failed) == (2, 4, 6)
        assert len(healthy.requests) == 2
        assert smtp.delivered_to() == [ACCEPTING, ACCEPTING]
        statuses = by_target(engine)
        assert statuses[healthy.url] == {DeliveryStatus.SENT}
        assert statuses[ACCEPTING] == {DeliveryStatus.SENT}
        assert statuses[drip.url] == {DeliveryStatus.RETRY}
        assert statuses[GREYLISTED] == {DeliveryStatus.RETRY}
        assert statuses[REFUSED] == {DeliveryStatus.REFUSED}
        for row in rows(engine):
            if row.status == DeliveryStatus.RETRY:
                assert row.next_attempt_at == NOW + timedelta(seconds=60)  # first back-off
        errors = {row.target: row.last_error or "" for row in rows(engine)}
        assert "no complete answer within 2 s" in errors[drip.url]
        assert "451" in errors[GREYLISTED] and "Greylisted" in errors[GREYLISTED]
        assert "550" in errors[REFUSED]

        # The refused recipient is visible on the alert, in `finsent alerts list`.
        monkeypatch.setenv("FINSENT_DATABASE_URL", sqlite_url)
        get_settings.cache_clear()
        listed = json.loads(cli("alerts", "list", "--json"))
        assert len(listed) == 2
        for alert in listed:
            refused = [d for d in alert["deliveries"] if d["status"] == "refused"]
            assert [(d["target"], d["channel"]) for d in refused] == [(REFUSED, "email")]
            assert "550" in refused[0]["last_error"] and refused[0]["next_attempt_at"] is None
        text = cli("alerts", "list")
        assert f"email to {REFUSED} (firing): refused; last error: SMTP 550" in text
        assert f"email to {GREYLISTED} (firing): retry at " in text

        # Greylisting lifted, the receiver still drips: the next due run retries only
        # the greylisted recipient and the dripping webhook, and returns within the bound.
        del replies[GREYLISTED]
        later = NOW + timedelta(minutes=15)
        elapsed, again = timed_detection(engine, settings, now=later)
        assert elapsed < BOUND
        assert (again.opened, again.notified, again.failed) == (0, 2, 2)
        assert smtp.delivered_to() == sorted([ACCEPTING, GREYLISTED] * 2)
        assert smtp.rcpt_attempts.count(REFUSED) == 2  # once per alert, never again
        assert len(healthy.requests) == 2
    statuses = by_target(engine)
    assert statuses[GREYLISTED] == {DeliveryStatus.SENT}
    assert statuses[drip.url] == {DeliveryStatus.RETRY}
    assert statuses[REFUSED] == {DeliveryStatus.REFUSED}
    for row in rows(engine):
        if row.target == drip.url:
            assert row.attempts == 2
            assert row.next_attempt_at == later + timedelta(seconds=120)  # doubled


def test_an_smtp_server_that_never_finishes_its_greeting_delays_nothing(sqlite_engine):
    engine = sqlite_engine
    surge(engine)
    drip = DrippingServer(first=b"", line=b"220-still greeting you\r\n")
    with drip, WebhookReceiver() as healthy:
        settings = Settings(
            webhook_urls=[healthy.url],
            smtp_host="127.0.0.1",
            smtp_port=drip.port,
            smtp_starttls=False,
            alert_email_to=[ACCEPTING],
            delivery_timeout_seconds=TIMEOUT,
        )
        elapsed, report = timed_detection(engine, settings, now=NOW)
        assert TIMEOUT <= elapsed < BOUND
        assert (report.notified, report.failed) == (2, 2)
        assert len(healthy.requests) == 2
        assert drip.connections == 2
    for row in rows(engine):
        if row.channel == "email":
            assert row.status == DeliveryStatus.RETRY
            assert "no complete answer within 2 s" in (row.last_error or "")
        else:
            assert row.status == DeliveryStatus.SENT


def test_smtp_without_starttls_is_a_configuration_error_recorded_once(sqlite_engine):
    engine = sqlite_engine
    surge(engine)
    with SmtpPolicyReceiver({}) as smtp:  # aiosmtpd without a TLS context offers no STARTTLS
        settings = Settings(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=True,
            alert_email_to=[ACCEPTING],
        )
        first = run_detection(engine=engine, settings=settings, now=NOW)
        assert (first.notified, first.failed) == (0, 2)
        later = run_detection(engine=engine, settings=settings, now=NOW + timedelta(minutes=15))
        assert (later.notified, later.failed) == (0, 0)
        assert smtp.messages == []
    for row in rows(engine):
        assert (row.status, row.attempts, row.next_attempt_at) == ("misconfigured", 1, None)
        assert "STARTTLS" in (row.last_error or "")


def test_email_over_starttls_with_a_certificate_that_verifies(sqlite_engine, monkeypatch):
    engine = sqlite_engine
    surge(engine)
    # The test certificate is the only trusted one: what the default context loads.
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_CERT))
    with SmtpPolicyReceiver({}, tls=True) as smtp:
        settings = Settings(smtp_host="127.0.0.1", smtp_port=smtp.port, alert_email_to=[ACCEPTING])
        report = run_detection(engine=engine, settings=settings, now=NOW)
        assert (report.notified, report.failed) == (2, 0)
        assert smtp.over_tls == [True, True]


def test_a_certificate_that_does_not_verify_is_a_configuration_error(sqlite_engine):
    engine = sqlite_engine
    surge(engine)
    with SmtpPolicyReceiver({}, tls=True) as smtp:  # self-signed: trusted by nobody here
        settings = Settings(smtp_host="127.0.0.1", smtp_port=smtp.port, alert_email_to=[ACCEPTING])
        report = run_detection(engine=engine, settings=settings, now=NOW)
        assert (report.notified, report.failed) == (0, 2)
        assert smtp.messages == []
    for row in rows(engine):
        assert (row.status, row.attempts, row.next_attempt_at) == ("misconfigured", 1, None)
        assert "certificate does not verify" in (row.last_error or "")


@pytest.mark.parametrize(
    "target", ["ftp://hooks.example/alert", "hooks.example/alert", "http://[::1/x", "http:///x"]
)
def test_a_webhook_target_that_is_not_an_http_url_is_a_configuration_error(sqlite_engine, target):
    engine = sqlite_engine
    surge(engine)
    with WebhookReceiver() as healthy:
        notifier = WebhookNotifier(urls=[target, healthy.url])
        kwargs = {"engine": engine, "settings": Settings(), "notifiers": [notifier]}
        first = run_detection(now=NOW, **kwargs)  # type: ignore[arg-type]
        later = run_detection(now=NOW + timedelta(minutes=15), **kwargs)  # type: ignore[arg-type]
        assert (first.notified, first.failed, later.notified, later.failed) == (2, 2, 0, 0)
        assert len(healthy.requests) == 2
    bad = [row for row in rows(engine) if row.target == target]
    assert len(bad) == 2
    for row in bad:
        assert (row.status, row.attempts, row.next_attempt_at) == ("misconfigured", 1, None)
        assert (row.last_error or "").startswith("webhook target ")
        assert target not in (row.last_error or "")  # a webhook URL may hold a token


def test_several_recipients_one_row_each_only_the_failing_ones_retried(sqlite_engine):
    """A message that reached two of three recipients is not plain ``sent``."""
    engine = sqlite_engine
    surge(engine)
    replies = {GREYLISTED: "452 4.2.2 Mailbox busy"}
    with SmtpPolicyReceiver(replies) as smtp:
        notifier = EmailNotifier(
            host="127.0.0.1",
            port=smtp.port,
            sender="finsent@example.org",
            recipients=[ACCEPTING, GREYLISTED, "risk@example.org"],
            starttls=False,
        )
        kwargs = {"engine": engine, "settings": Settings(), "notifiers": [notifier]}
        first = run_detection(now=NOW, **kwargs)  # type: ignore[arg-type]
        assert (first.notified, first.failed) == (4, 2)
        # Not due before its back-off.
        early = run_detection(now=NOW + timedelta(seconds=30), **kwargs)  # type: ignore[arg-type]
        assert (early.notified, early.failed) == (0, 0)
        replies.clear()
        later = run_detection(now=NOW + timedelta(minutes=5), **kwargs)  # type: ignore[arg-type]
        assert (later.notified, later.failed) == (2, 0)
        assert sorted(smtp.rcpt_attempts) == sorted(
            [ACCEPTING, "risk@example.org"] * 2 + [GREYLISTED] * 4
        )
        # Every copy names the whole list, as one message to the team would.
        assert {m["To"] for m in smtp.messages} == {f"{ACCEPTING}, {GREYLISTED}, risk@example.org"}
    for row in rows(engine):
        assert row.status == DeliveryStatus.SENT
        assert row.attempts == (2 if row.target == GREYLISTED else 1)


def test_only_http_links_leave_finsent(sqlite_engine):
    engine = sqlite_engine
    add_ordinary_week(engine)
    hostile = [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        " javascript:alert(2)",
        "https://news.example/fine",
    ]
    add_articles(
        engine,
        topic="banking",
        times=[NOW - timedelta(minutes=100 - 7 * i) for i in range(14)],
        negatives=[True] * 10 + [False] * 4,
        title="Bank {i} collapses",
        p_negative=0.99,
        numbers=list(range(14)),
        link="{i}",
    )
    # Give the five most negative articles (the headlines) the links to test.
    from pipeline.schema import Article

    with Session(engine) as session, session.begin():
        for number, link in enumerate(hostile):
            article = session.scalars(
                select(Article).where(Article.title == f"Bank {number} collapses")
            ).one()
            article.link = link
    with WebhookReceiver() as hook, SmtpPolicyReceiver({}) as smtp:
        settings = Settings(
            webhook_urls=[hook.url],
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            alert_email_to=[ACCEPTING],
        )
        report = run_detection(engine=engine, settings=settings, now=NOW)
        assert report.notified == 4
        bodies = [r["body"].decode() for r in hook.requests]
        mails = list(smtp.messages)
    for body in bodies:
        headlines = json.loads(body)["evidence"]["headlines"]
        assert [h["link"] for h in headlines] == [None, None, None, None, hostile[4]]
    for mail in mails:
        for kind in ("plain", "html"):
            part = mail.get_body(preferencelist=(kind,))
            assert part is not None
            text = part.get_content().lower()
            assert "javascript:" not in text and "data:text" not in text
            assert "https://news.example/fine" in text


def test_a_stuck_attempt_neither_outlives_the_bound_nor_holds_up_exit(tmp_path):
    """An attempt stuck where no socket can be cut (a DNS lookup, a notifier bug) is
    recorded as timed out and left behind in a daemon thread: the process exits."""
    script = """
import threading, time
from pipeline.alerts.deliveries import _Attempt, _run_all

class Stuck:
    channel = "webhook"
    def targets(self):
        return ["stuck"]
    def send(self, message, *, target, deadline):
        threading.Event().wait()  # for ever; nothing to cut

attempt = _Attempt(delivery_id=1, channel="webhook", target="stuck", notifier=Stuck(),
                   message=None)
started = time.monotonic()
_run_all([attempt], timeout_seconds=0.5)
print(round(time.monotonic() - started, 2), attempt.error)
"""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    waited, error = result.stdout.split(" ", 1)
    assert 0.5 <= float(waited) < 0.5 + GRACE_SECONDS + SLACK
    assert error.strip() == "no complete answer within 0.5 s"
    assert wall < 30  # the interpreter did not wait for the stuck thread
