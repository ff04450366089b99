"""`finsent demo` (what `make demo` runs): bundled feeds → shipped model → an alert, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _demo(cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    result = subprocess.run(
        [sys.executable, "-c", "from pipeline.cli import main; main()", "demo", "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_demo_replays_a_burst_into_one_alert_and_reruns_quietly(tmp_path: Path) -> None:
    first = _demo(tmp_path)
    assert first["ingest"]["errors"] == 0
    assert first["ingest"]["new_articles"] == 374
    assert first["score"]["scored"] == 374
    assert first["detect"]["opened"] >= 1
    firing = [a for a in first["open_alerts"] if a["state"] == "firing"]
    assert "all" in {a["topic"] for a in firing}
    # No channel configured: every message lands in the outbox as .eml and .json.
    outbox = sorted(p.suffix for p in (tmp_path / "outbox").iterdir())
    assert outbox.count(".eml") == outbox.count(".json") == first["detect"]["notified"] >= 1

    second = _demo(tmp_path)
    assert second["ingest"]["new_articles"] == 0
    assert second["score"]["scored"] == 0
    assert second["detect"]["opened"] == 0
    assert second["detect"]["notified"] == 0
    assert [a["id"] for a in second["open_alerts"]] == [a["id"] for a in first["open_alerts"]]
