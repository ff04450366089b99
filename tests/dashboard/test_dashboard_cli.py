"""``finsent dashboard`` and ``finsent corrections``: real processes, one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

import pytest
from dashboard_helpers import seed_database

FINSENT = [sys.executable, "-c", "from pipeline.cli import main; main()"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_port_in_use_is_one_line(sqlite_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*FINSENT, "dashboard", "--port", str(port)],
            env=_env(FINSENT_DATABASE_URL=sqlite_url),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"finsent: error: port {port} on 127.0.0.1 is already in use; stop what uses it "
        "or set FINSENT_DASHBOARD_PORT"
    ]


@pytest.mark.integration
@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_finsent_dashboard_serves_and_warns_when_exposed(sqlite_url: str, host: str) -> None:
    seed_database(sqlite_url)
    port = _free_port()
    process = subprocess.Popen(
        [*FINSENT, "dashboard"],
        env=_env(
            FINSENT_DATABASE_URL=sqlite_url,
            FINSENT_DASHBOARD_HOST=host,
            FINSENT_DASHBOARD_PORT=str(port),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        healthy = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    healthy = response.status == 200
                    break
            except (URLError, OSError):
                time.sleep(0.25)  # polling a server that is starting
        assert healthy, "finsent dashboard did not answer"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    warned = "open to anyone who can reach it" in stderr
    assert warned == (host == "0.0.0.0")
    assert f"finsent dashboard on http://{host}:{port}" in stderr


def test_corrections_cli(sqlite_url: str, tmp_path: Path) -> None:
    ids: dict[str, Any] = seed_database(sqlite_url)
    from sqlalchemy.orm import Session

    from pipeline.corrections import record_correction
    from pipeline.db import make_engine

    engine = make_engine(sqlite_url)
    with Session(engine) as session, session.begin():
        record_correction(
            session=session, article_id=ids["xss_img_id"], field="topic", label="Markets"
        )
    engine.dispose()
    env = _env(FINSENT_DATABASE_URL=sqlite_url)

    listed = subprocess.run(
        [*FINSENT, "corrections", "list", "--json"], env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["article_id"], row["field"], row["label"]) == (
        ids["xss_img_id"],
        "topic",
        "Markets",
    )

    out = tmp_path / "topic.csv"
    exported = subprocess.run(
        [*FINSENT, "corrections", "export", "--out", str(out), "--field", "topic", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout) == {"out": str(out), "rows": 1, "fields": ["topic"]}

    bad = subprocess.run(
        [*FINSENT, "corrections", "export", "--out", str(out), "--field", "tone"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "finsent: error: --field must be topic, sentiment or both, not 'tone'"
    ]
    unwritable = subprocess.run(
        [*FINSENT, "corrections", "export", "--out", str(tmp_path / "no" / "such.csv")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert unwritable.returncode == 1
    assert len(unwritable.stderr.strip().splitlines()) == 1
    assert "cannot write" in unwritable.stderr
