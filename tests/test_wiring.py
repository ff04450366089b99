"""Opening the database, as every command does: each way it can fail is one line and exit 1.

The server-side cases run against a private PostgreSQL instance that these tests start
on a port of their own and stop again (never the shared server on 5432), so the test
can make it unreachable, read-only, or kill it in the middle of an ingest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.db import make_engine, upgrade_database
from pipeline.errors import FinsentError
from pipeline.schema import Article
from pipeline.settings import Settings
from pipeline.wiring import open_database

PG_BIN = Path(max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/nonexistent")))


def _finsent(*args: str, url: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    clean.update({"FINSENT_DATABASE_URL": url, **env})
    return subprocess.run(
        [sys.executable, "-c", "from pipeline.cli import main; main()", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line_error(result: subprocess.CompletedProcess[str], *, contains: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("finsent: error: ") and contains in lines[0], lines[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL server owned by one test."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data_dir),
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._ctl("-o", options, "-l", str(self.data_dir / "server.log"), "-w", "start")

    def kill(self) -> None:
        """Stop at once, as a crash would: open connections are cut."""
        self._ctl("-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    # Under /tmp, owned by the postgres user: initdb refuses to run as root.
    data_dir = Path(tempfile.mkdtemp(prefix="finsent-pg-", dir="/tmp"))
    shutil.chown(data_dir, user="postgres")
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(data_dir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = PrivatePostgres(data_dir=data_dir, port=_free_port())
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test already
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# --- SQLite: nothing is created before the problem is reported -----------------------------


def test_a_missing_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    for command in (["feeds", "list"], ["ingest"], ["detect"], ["alerts", "list"]):
        _one_line_error(_finsent(*command, url=f"sqlite:///{path}"), contains="no database at")
    assert not path.exists()


def test_a_missing_directory_is_one_line_for_every_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    _one_line_error(_finsent("db", "upgrade", url=url), contains="no such directory")
    _one_line_error(_finsent("run", url=url), contains="no such directory")
    _one_line_error(_finsent("feeds", "list", url=url), contains="no database at")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("shopping list\n" * 100)
    _one_line_error(_finsent("feeds", "list", url=f"sqlite:///{path}"), contains="not a database")


def test_unusable_urls_and_drivers_are_one_line(tmp_path: Path) -> None:
    _one_line_error(_finsent("feeds", "list", url="not a url"), contains="not a database URL")
    _one_line_error(
        _finsent("db", "upgrade", url="mysql+mysqldb://u@127.0.0.1/x"),
        contains="driver not installed",
    )


@pytest.mark.integration
def test_psycopg2_urls_work(pg_url: str) -> None:
    url = pg_url.replace("postgresql+psycopg://", "postgresql+psycopg2://")
    engine = open_database(Settings(database_url=url), migrate=False)
    try:
        assert engine.dialect.driver == "psycopg2"
    finally:
        engine.dispose()
    assert _finsent("feeds", "list", "--json", url=url).returncode == 0


@pytest.mark.integration
def test_two_first_time_upgrades_at_once_both_succeed(tmp_path: Path, private_pg) -> None:
    for url in (f"sqlite:///{tmp_path / 'fresh.db'}", private_pg.url):
        env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
        env["FINSENT_DATABASE_URL"] = url
        command = [sys.executable, "-c", "from pipeline.cli import main; main()", "db", "upgrade"]
        runs = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        results = [
            (run.wait(timeout=120), run.stderr.read() if run.stderr else b"") for run in runs
        ]
        assert [code for code, _ in results] == [0, 0, 0], results


# --- A private PostgreSQL server: unreachable, read-only, killed mid-ingest ----------------


@pytest.mark.integration
def test_an_unreachable_server_is_one_line_for_every_command(private_pg) -> None:
    upgrade_database(private_pg.url)
    private_pg.stop()
    for command in (
        ["db", "upgrade"],
        ["feeds", "list"],
        ["feeds", "add", "https://example.com/rss"],
        ["ingest"],
        ["detect"],
        ["run"],
        ["alerts", "list"],
    ):
        _one_line_error(_finsent(*command, url=private_pg.url), contains="connect")
    with pytest.raises(FinsentError, match="connect"):
        open_database(Settings(database_url=private_pg.url), migrate=False)


@pytest.mark.integration
def test_a_read_only_database_is_one_line(private_pg) -> None:
    upgrade_database(private_pg.url)
    engine = make_engine(private_pg.url)
    with engine.connect() as connection:
        connection.exec_driver_sql("ALTER DATABASE postgres SET default_transaction_read_only = on")
        connection.commit()
    engine.dispose()
    result = _finsent("feeds", "add", "https://example.com/rss", url=private_pg.url)
    _one_line_error(result, contains="read-only")


class _SlowFeeds(ThreadingHTTPServer):
    """Feeds on loopback; ``/slow`` answers only once ``release`` is set."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FeedHandler)
        self.release = threading.Event()
        self.slow_requested = threading.Event()


class _FeedHandler(BaseHTTPRequestHandler):
    server: _SlowFeeds

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        if self.path == "/slow":
            self.server.slow_requested.set()
            self.server.release.wait(timeout=60)
        name = self.path.strip("/")
        items = "".join(
            f"<item><guid>{name}-{i}</guid><title>{name} story {i}</title>"
            f"<link>https://news.example.com/{name}/{i}</link></item>"
            for i in range(20)
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>{items}'
        body += "</channel></rss>"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.mark.integration
def test_a_database_killed_mid_ingest_is_one_line_and_the_rerun_completes(private_pg) -> None:
    upgrade_database(private_pg.url)
    feeds = _SlowFeeds()
    threading.Thread(target=feeds.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{feeds.server_address[1]}"
    env = {"FINSENT_ALLOW_PRIVATE_NETWORKS": "1", "FINSENT_FEED_MIN_INTERVAL_SECONDS": "0"}
    try:
        for name in ("alpha", "beta", "slow"):
            added = _finsent("feeds", "add", f"{base}/{name}", url=private_pg.url, **env)
            assert added.returncode == 0, added.stderr
        clean = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
        clean.update({"FINSENT_DATABASE_URL": private_pg.url, **env})
        ingest = subprocess.Popen(
            [sys.executable, "-c", "from pipeline.cli import main; main()", "ingest"],
            env=clean,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert feeds.slow_requested.wait(timeout=60), "the slow feed was never requested"
        time.sleep(0.5)  # the two quick feeds are stored by now (their commits are tiny)
        private_pg.kill()
        feeds.release.set()  # the writer now tries to store the slow feed: the server is gone
        _, stderr = ingest.communicate(timeout=120)
        result = subprocess.CompletedProcess(ingest.args, ingest.returncode, "", stderr)
        _one_line_error(result, contains="database error")

        private_pg.start()
        rerun = _finsent("ingest", "--json", url=private_pg.url, **env)
        assert rerun.returncode == 0, rerun.stderr
        engine = make_engine(private_pg.url)
        try:
            with Session(engine) as session:
                stored = session.scalar(select(func.count()).select_from(Article))
                distinct = session.scalar(select(func.count(func.distinct(Article.guid))))
        finally:
            engine.dispose()
        assert stored == distinct == 60  # every story once, none lost, none twice
    finally:
        feeds.release.set()
        feeds.shutdown()
        feeds.server_close()
