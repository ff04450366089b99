"""Helpers for the Airflow tests: news feeds on a loopback HTTP server, the environment
of an Airflow subprocess, and running one with its output kept for the failure message.

The headlines are those of tests/news_corpus.py, as in tests/e2e, with published times
relative to a ``now`` chosen by the test, since a DAG run reads the clock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import news_corpus
from news_corpus import BURST, ORDINARY, ROUTINE_BAD, headline

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
FINSENT = str(BIN / "finsent")

Item = news_corpus.Item


def rss(items: list[Item]) -> bytes:
    return news_corpus.rss(items).encode()


def ten_days_then_burst(now: datetime) -> list[Item]:
    """Ten days at two articles an hour (one in eight bad), then 26 unmistakably bad
    ones in the last two hours before ``now``: a negative burst."""
    items: list[Item] = []
    start = now - timedelta(days=10)
    for i in range(10 * 24 * 2 - 4):
        templates = ROUTINE_BAD if i % 8 == 5 else ORDINARY
        when = start + timedelta(minutes=30 * i + 7)
        items.append((f"{headline(templates, i)} ({i})", when, f"o-{i}"))
    for j in range(26):
        when = now - timedelta(hours=2) + timedelta(minutes=2 + j * 4.5)
        items.append((f"{headline(BURST, j)} ({j})", when, f"burst-{j}"))
    return items


def ordinary_items(now: datetime, count: int, *, prefix: str) -> list[Item]:
    """``count`` ordinary headlines over the last ``count`` hours, GUIDs under ``prefix``."""
    return [
        (
            f"{headline(ORDINARY, i)} ({prefix} {i})",
            now - timedelta(hours=count - i),
            f"{prefix}-{i}",
        )
        for i in range(count)
    ]


@dataclass
class FeedServer:
    """A threaded HTTP server on 127.0.0.1 serving fixed bodies by path (no ETag, so
    every poll downloads and parses the feed again: a re-run really re-reads it)."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    httpd: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@contextmanager
def feed_server(bodies: Mapping[str, bytes]) -> Iterator[FeedServer]:
    server = FeedServer(bodies=dict(bodies))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
            body = server.bodies.get(self.path)
            with lock:
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.httpd.daemon_threads = True
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=10)


def subprocess_env(**overrides: str) -> dict[str, str]:
    """The environment for an Airflow or finsent subprocess: this one without any
    ``FINSENT_*``/``AIRFLOW*`` variable the developer may have set, the venv's bin/ first
    on PATH (Airflow starts ``airflow`` subprocesses), plus ``overrides``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FINSENT_", "AIRFLOW"))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    env.update(overrides)
    return env


@dataclass
class Ran:
    """A finished subprocess: its output and how long it took."""

    args: list[str]
    returncode: int
    output: str
    seconds: float


def run(args: list[str], *, env: Mapping[str, str], timeout: float, check: bool = True) -> Ran:
    """Run a command to completion; with ``check``, fail the test with its output's tail."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            args,
            env=dict(env),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode()
        raise AssertionError(f"{' '.join(args)} ran over {timeout} s:\n{excerpt(output)}") from None
    ran = Ran(list(args), done.returncode, done.stdout, time.perf_counter() - started)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{excerpt(done.stdout)}")
    return ran


def excerpt(output: str) -> str:
    """The first traceback in ``output`` (a failed task's, in an Airflow log) and the tail."""
    lines = output.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("Traceback")), None)
    traceback = "\n".join(lines[first : first + 60]) + "\n...\n" if first is not None else ""
    return traceback + "\n".join(lines[-40:])
