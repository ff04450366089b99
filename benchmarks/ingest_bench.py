"""Ingestion benchmark: 200 local feeds x 50 entries into PostgreSQL, run twice.

The first run fetches, parses and stores every entry (new articles per second);
the second runs over unchanged feeds, where every feed answers 304 to the
conditional GET. The feeds are served by a threaded HTTP server with ETag
support in a separate process, so it does not share the interpreter lock with
the ingest under test. The script creates and drops its own database.

    nice .venv/bin/python benchmarks/ingest_bench.py [--feeds 200] [--entries 50]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import resource
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.db import make_engine, upgrade_database
from pipeline.ingest import ingest_feeds
from pipeline.schema import Article, Feed
from pipeline.settings import Settings

PG_ADMIN_DSN = os.environ.get(
    "FINSENT_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
PG_URL_BASE = os.environ.get(
    "FINSENT_TEST_PG_URL_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Contoso", "Fabrikam", "Northwind"]
EVENTS = [
    "shares fall after profit warning",
    "beats quarterly estimates",
    "cuts full-year guidance",
    "announces $2bn buyback",
    "faces regulator probe over accounting",
    "raises dividend 8%",
]


def make_feed(feed_no: int, entries: int) -> bytes:
    """An RSS 2.0 feed shaped like a news wire: HTML summaries, tracking links, dates."""
    start = datetime(2026, 11, 20, tzinfo=UTC)
    items = []
    for n in range(entries):
        company = COMPANIES[(feed_no + n) % len(COMPANIES)]
        event = EVENTS[(feed_no * 7 + n) % len(EVENTS)]
        when = (start + timedelta(minutes=feed_no * entries + n)).strftime(
            "%a, %d %b %Y %H:%M:%S GMT"
        )
        url = f"https://wire{feed_no}.example.com/{feed_no}/{n}"
        items.append(
            f"<item><title>{company} {event} (wire {feed_no}, story {n})</title>"
            f"<link>{url}?utm_source=rss&amp;utm_medium=feed</link>"
            f'<guid isPermaLink="true">{url}</guid><pubDate>{when}</pubDate>'
            f"<description>&lt;p&gt;{company} said on {when} that it {event}; analysts at "
            f"several banks revised their price targets &amp;amp; ratings.&lt;/p&gt;"
            f"</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Wire {feed_no}</title><link>https://wire{feed_no}.example.com/</link>"
        f"<description>Bench wire</description>{''.join(items)}</channel></rss>"
    ).encode()


def serve(feeds: dict[str, bytes], ready: multiprocessing.Queue) -> None:
    """The feed server process: GET /<n>.xml with ETag / If-None-Match."""
    tags = {path: '"' + hashlib.sha1(body).hexdigest() + '"' for path, body in feeds.items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes; without this, Nagle plus delayed
        # ACKs add ~40 ms per response, which is the test server's cost, not ours.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            body, tag = feeds.get(self.path), tags.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.headers.get("If-None-Match") == tag:
                self.send_response(304)
                self.send_header("ETag", tag)
                self.end_headers()
            else:
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", tag)
                self.end_headers()
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ready.put(server.server_address[1])
    server.serve_forever()


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # parser processes, once joined
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    args = parser.parse_args()

    feeds = {f"/{n}.xml": make_feed(n, args.entries) for n in range(args.feeds)}
    ready: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(feeds, ready), daemon=True)
    server.start()
    port = ready.get(timeout=30)

    name = f"finsent_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_URL_BASE}/{name}"
    try:
        upgrade_database(url)
        engine = make_engine(url)
        with Session(engine) as session, session.begin():
            session.add_all(
                Feed(url=f"http://127.0.0.1:{port}{path}", enabled=True, consecutive_failures=0)
                for path in feeds
            )
        settings = Settings(
            database_url=url, allow_private_networks=True, feed_min_interval_seconds=0
        )
        load = os.getloadavg()
        cpu_before = _cpu_seconds()
        first = ingest_feeds(engine=engine, settings=settings)
        first_cpu = _cpu_seconds() - cpu_before
        second = ingest_feeds(engine=engine, settings=settings)
        with Session(engine) as session:
            stored = session.scalar(select(func.count()).select_from(Article))
        engine.dispose()
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.terminate()

    result = {
        "feeds": args.feeds,
        "entries_per_feed": args.entries,
        "first_run": {
            "seconds": round(first.seconds, 2),
            "new_articles": first.new_articles,
            "errors": first.errors,
            "new_articles_per_second": round(first.new_articles / first.seconds),
            # This process and its parser processes; the PostgreSQL server is not counted.
            "cpu_seconds": round(first_cpu, 2),
        },
        "second_run": {
            "seconds": round(second.seconds, 2),
            "not_modified": second.not_modified,
            "new_articles": second.new_articles,
        },
        "speedup": round(first.seconds / second.seconds, 1),
        "articles_stored": stored,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "load_average_before": [round(value, 2) for value in load],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
