"""Helpers for the ingest tests: a real threaded HTTP server on loopback serving fixture
feeds and hostile responses, test settings, and shortcuts to run ingestion."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy.orm import Session

from pipeline.db import make_engine
from pipeline.ingest import IngestReport, ingest_feeds
from pipeline.schema import Feed
from pipeline.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"

Handler = Callable[["RequestHandler"], None]


@dataclass
class Served:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    """Routes path -> handler; records every request; tracks in-flight requests per run."""

    host: str = "127.0.0.1"
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Served] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def feed(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/rss+xml",
        etag: bool = True,
    ) -> str:
        """Serve ``body`` at ``path`` with ETag/If-None-Match support; returns the URL."""
        tag = '"' + hashlib.sha1(body).hexdigest() + '"'

        def handle(request: RequestHandler) -> None:
            if etag and request.headers.get("If-None-Match") == tag:
                request.send_response(304)
                request.send_header("ETag", tag)
                request.end_headers()
                return
            request.reply(
                200, body, content_type=content_type, headers={"ETag": tag} if etag else {}
            )

        self.routes[path] = handle
        return self.url(path)

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def paths_requested(self) -> list[str]:
        return [served.path for served in self.requests]


class RequestHandler(BaseHTTPRequestHandler):
    server_version = "fixture"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    feed_server: FeedServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output quiet

    def handle(self) -> None:
        # A client closing a kept-alive connection is no error (and no noise on stderr).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def reply(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/rss+xml",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        server = self.feed_server
        with server.lock:
            server.requests.append(Served(self.path, dict(self.headers.items())))
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            handler = server.routes.get(self.path.split("?", 1)[0])
            if handler is None:
                self.reply(404, b"not found", content_type="text/plain")
            else:
                handler(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should on hostile responses
        finally:
            with server.lock:
                server.in_flight -= 1


def start_server(host: str = "127.0.0.1") -> FeedServer:
    server = FeedServer(host=host)
    handler = type("BoundHandler", (RequestHandler,), {"feed_server": server})
    server.httpd = ThreadingHTTPServer((host, 0), handler)
    server.httpd.daemon_threads = True
    threading.Thread(
        target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def stop_server(server: FeedServer) -> None:
    server.stop.set()  # releases handlers that "never answer"
    assert server.httpd is not None
    server.httpd.shutdown()
    server.httpd.server_close()


# Handlers for hostile servers -------------------------------------------------------------


def never_answers(request: RequestHandler) -> None:
    request.feed_server.stop.wait(30)


def drips(request: RequestHandler) -> None:
    request.send_response(200)
    request.send_header("Content-Type", "application/rss+xml")
    request.end_headers()
    while not request.feed_server.stop.wait(0.2):
        request.wfile.write(b" ")
        request.wfile.flush()


def endless_body(*, declare_length: bool) -> Handler:
    """64 MiB generated lazily (never held in memory), with or without Content-Length."""

    def handle(request: RequestHandler) -> None:
        total = 64 * 1024 * 1024
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        if declare_length:
            request.send_header("Content-Length", str(total))
        else:
            request.send_header("Connection", "close")
        request.end_headers()
        chunk = b"<rss>" + b"x" * (64 * 1024 - 5)
        for _ in range(total // len(chunk)):
            request.wfile.write(chunk)

    return handle


@functools.cache
def _gzip_bomb_body() -> bytes:
    # 64 MiB of zeros compress to about 64 KiB.
    inflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1024 * 1024)
    return b"".join(inflater.compress(zeros) for _ in range(64)) + inflater.flush()


def gzip_bomb(request: RequestHandler) -> None:
    request.reply(200, _gzip_bomb_body(), headers={"Content-Encoding": "gzip"})


def redirect_to(location: str, status: int = 302) -> Handler:
    def handle(request: RequestHandler) -> None:
        request.reply(status, b"", content_type="text/plain", headers={"Location": location})

    return handle


def status(code: int, headers: dict[str, str] | None = None) -> Handler:
    def handle(request: RequestHandler) -> None:
        request.reply(code, f"status {code}".encode(), content_type="text/plain", headers=headers)

    return handle


def slow_then(body: bytes, seconds: float) -> Handler:
    def handle(request: RequestHandler) -> None:
        time.sleep(seconds)
        request.reply(200, body)

    return handle


# Settings and runs --------------------------------------------------------------------------


def ingest_settings(db_url: str, **overrides: object) -> Settings:
    """Settings for tests: private networks allowed (loopback server), short timeouts."""
    values: dict[str, object] = {
        "database_url": db_url,
        "allow_private_networks": True,
        "feed_min_interval_seconds": 0,
        "backoff_base_seconds": 1,  # the least allowed; reruns in tests are minutes apart
        "fetch_connect_timeout": 2.0,
        "fetch_read_timeout": 1.0,
        "fetch_total_timeout": 3.0,
        "fetch_max_bytes": 1024 * 1024,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def run_ingest(
    settings: Settings, *, now: datetime | None = None, **kwargs: object
) -> IngestReport:
    engine = make_engine(settings.database_url)
    try:
        return ingest_feeds(engine=engine, settings=settings, now=now, **kwargs)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def add_feeds(db_url: str, *urls: str) -> list[int]:
    """Insert feeds directly (the CLI path is tested on its own)."""
    engine = make_engine(db_url)
    try:
        with Session(engine) as session, session.begin():
            feeds = [Feed(url=url, enabled=True, consecutive_failures=0) for url in urls]
            session.add_all(feeds)
            session.flush()
            return [feed.id for feed in feeds]
    finally:
        engine.dispose()


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()
