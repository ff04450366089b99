"""``finsent detect`` and ``finsent alerts ...`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from detect_helpers import add_burst, add_ordinary_week
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.db import make_engine, utcnow
from pipeline.settings import get_settings

FINSENT = [sys.executable, "-c", "from pipeline.cli import main; main()"]


@pytest.fixture
def surging_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database whose last two hours (real time: the CLI has no clock to inject) surge."""
    engine = make_engine(sqlite_url)
    now = utcnow()
    add_ordinary_week(engine, now=now)
    add_burst(engine, topic="banking", n=14, negatives=10, end=now)
    engine.dispose()
    monkeypatch.setenv("FINSENT_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    return sqlite_url


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_detect_list_ack_and_silence(surging_db: str) -> None:
    first = json.loads(invoke("detect", "--json"))
    assert {"opened", "resolved", "notified", "failed"} <= set(first)
    assert (first["opened"], first["notified"], first["failed"]) == (2, 2, 0)  # outbox
    second = json.loads(invoke("detect", "--json"))
    assert (second["opened"], second["notified"]) == (0, 0)
    assert "opened: 0 resolved: 0 notified: 0 failed: 0" in invoke("detect")

    firing = json.loads(invoke("alerts", "list", "--json", "--state", "firing"))
    assert {a["topic"] for a in firing} == {"banking", "all"}
    assert all(a["state"] == "firing" and a["evidence"]["n"] >= 14 for a in firing)
    assert json.loads(invoke("alerts", "list", "--json", "--state", "resolved")) == []
    assert "banking" in invoke("alerts", "list")

    alert_id = firing[0]["id"]
    assert f"alert #{alert_id} acknowledged" in invoke("alerts", "ack", str(alert_id))
    listed = json.loads(invoke("alerts", "list", "--json"))
    assert next(a for a in listed if a["id"] == alert_id)["acknowledged_at"]

    silence = json.loads(invoke("alerts", "silence", "--scope", "banking", "--for", "6h", "--json"))
    assert silence["scope"] == "banking"
    assert "silenced all until" in invoke("alerts", "silence", "--scope", "all", "--for", "1h30m")


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["alerts", "ack", "4242"], "no alert with id 4242", 1),
        (["alerts", "silence", "--scope", "banking", "--for", "soon"], "cannot read duration", 2),
        (["alerts", "list", "--state", "burning"], "unknown state", 2),
        (["alerts", "ack", "99999999999999999999999"], "no alert with id", 1),
        (["alerts", "silence", "--scope", "banking", "--for", "999999999d"], "at most 366d", 1),
        (["alerts", "silence", "--scope", "banking", "--for", "9" * 30 + "d"], "at most", 1),
    ],
)
def test_mistakes_exit_non_zero_with_one_line(
    sqlite_url: str, args: list[str], message: str, code: int
) -> None:
    """A runtime error (no such alert) exits 1, a usage error (bad value) 2, as Click does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    env["FINSENT_DATABASE_URL"] = sqlite_url
    result = subprocess.run([*FINSENT, *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == code
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("finsent: error: ") and message in result.stderr


def test_a_silence_for_a_topic_that_does_not_exist_is_refused(surging_db: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    env["FINSENT_DATABASE_URL"] = surging_db
    result = subprocess.run(
        [*FINSENT, "alerts", "silence", "--scope", "bankng", "--for", "1h"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "no topic 'bankng'" in result.stderr and "banking" in result.stderr
    engine = make_engine(surging_db)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM silences").scalar() == 0
    finally:
        engine.dispose()
