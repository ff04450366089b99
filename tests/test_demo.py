"""`finsent demo --once`: the bundled scenario through the real stages into a fresh database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.db import make_engine
from pipeline.demo.scenario import FEEDS, demo_items, render_feed
from pipeline.schema import Alert, Article, Score


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    return subprocess.run(
        [sys.executable, "-c", "from pipeline.cli import main; main()", "demo", *args],
        cwd=home.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_scenario_is_relative_to_its_anchor() -> None:
    anchor = datetime(2030, 3, 4, 12, 0, tzinfo=UTC)
    items = demo_items(anchor)
    past = [item for item in items if item.published <= anchor]
    assert min(item.published for item in items) >= anchor - timedelta(days=10)
    burst = [item for item in past if item.guid.startswith("burst-")]
    assert len(burst) >= 20 and all(anchor - item.published < timedelta(hours=2) for item in burst)
    assert len({item.guid for item in items}) == len(items)
    # Later stories appear on the feeds as time passes.
    later = anchor + timedelta(minutes=30)
    shown_now = sum(render_feed(name, items, now=anchor).count("<item>") for name in FEEDS)
    shown_later = sum(render_feed(name, items, now=later).count("<item>") for name in FEEDS)
    assert shown_now == len(past) and shown_later > shown_now


@pytest.mark.slow
def test_demo_once_opens_an_alert_with_scores_and_outbox_files(tmp_path: Path) -> None:
    home = tmp_path / "finsent-demo"
    port = str(_free_port())
    result = _demo(home, "--once", "--no-serve", "--home", str(home), "--feed-port", port, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ingest"]["errors"] == 0
    assert summary["ingest"]["new_articles"] == summary["score"]["scored"] == 374
    firing = [alert for alert in summary["open_alerts"] if alert["state"] == "firing"]
    assert firing, summary["open_alerts"]

    engine = make_engine(f"sqlite:///{home / 'finsent.db'}")
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Article)) == 374
            assert session.scalar(select(func.count()).select_from(Score)) == 374
            assert session.scalar(select(func.count()).where(Alert.state == "firing")) >= 1
    finally:
        engine.dispose()
    # No channel configured: every message lands in the demo's outbox as .eml and .json.
    outbox = sorted(path.suffix for path in (home / "outbox").iterdir())
    assert outbox.count(".eml") == outbox.count(".json") == summary["detect"]["notified"] >= 1

    # --once starts afresh: the same scenario, the same alert, nothing doubled.
    again = _demo(home, "--once", "--no-serve", "--home", str(home), "--feed-port", port, "--json")
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)
    assert rerun["ingest"]["new_articles"] == 374
    assert [a["topic"] for a in rerun["open_alerts"]] == [
        a["topic"] for a in summary["open_alerts"]
    ]


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = _demo(
            tmp_path / "finsent-demo", "--once", "--home", str(tmp_path / "d"), "--feed-port", port
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"finsent: error: port {port} (the demo's feeds) is already in use; "
        "stop what uses it or pass --feed-port"
    ]
