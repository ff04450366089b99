"""Helpers for the detection tests: articles with scores, real loopback receivers."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.schema import Article, Score

# A Monday afternoon, so the window and the baseline are ordinary days.
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
VERSION = "test-v1"

_counter = iter(range(1, 10**9))


def add_news(
    engine: Engine,
    *,
    topic: str,
    start: datetime,
    end: datetime,
    per_hour: float,
    negative_share: float,
    version: str = VERSION,
    title: str = "Ordinary {topic} update {i}",
) -> int:
    """Evenly spaced articles in ``[start, end)``; exactly ``negative_share`` of them negative
    (spread evenly). Returns how many were added."""
    seconds = (end - start).total_seconds()
    n = round(seconds / 3600 * per_hour)
    return add_articles(
        engine,
        topic=topic,
        times=[start + timedelta(seconds=seconds * (i + 0.5) / n) for i in range(n)],
        negatives=[int((i + 1) * negative_share) > int(i * negative_share) for i in range(n)],
        version=version,
        title=title,
    )


def add_articles(
    engine: Engine,
    *,
    topic: str,
    times: list[datetime],
    negatives: list[bool],
    version: str = VERSION,
    title: str = "Ordinary {topic} update {i}",
    scored_at: datetime | None = None,
    p_negative: float = 0.9,
    numbers: list[int] | None = None,
    link: str = "https://news.example/{topic}/{i}",
) -> int:
    """Articles with scores. ``{i}`` in ``title`` and ``link`` is a serial unique in the test
    session, or the matching entry of ``numbers`` (for text that must not depend on which
    tests ran before)."""
    with Session(engine) as session, session.begin():
        articles = []
        for index, when in enumerate(times):
            serial = next(_counter)
            number = serial if numbers is None else numbers[index]
            articles.append(
                Article(
                    content_hash=f"{serial:064x}",
                    title=title.format(topic=topic, i=number),
                    summary="",
                    link=link.format(topic=topic, i=number),
                    published_at=when,
                    published_from_feed=True,
                    fetched_at=when,
                )
            )
        session.add_all(articles)
        session.flush()  # one batch for the ids
        for article, negative in zip(articles, negatives, strict=True):
            p_neg = p_negative if negative else 0.05
            session.add(
                Score(
                    article_id=article.id,
                    model_version=version,
                    topic=topic,
                    topic_probability=0.9,
                    sentiment="negative" if negative else "neutral",
                    p_negative=p_neg,
                    p_neutral=1 - p_neg - 0.02,
                    p_positive=0.02,
                    sentiment_score=0.02 - p_neg,
                    scored_at=scored_at or article.published_at,
                )
            )
    return len(times)


def add_ordinary_week(engine: Engine, *, now: datetime = NOW, per_hour: float = 2.0) -> None:
    """Seven days (+ the current window) of calm news in two topics at 15 % negative."""
    start = now - timedelta(days=7, hours=2)
    for topic in ("banking", "markets"):
        add_news(engine, topic=topic, start=start, end=now, per_hour=per_hour, negative_share=0.15)


def add_burst(
    engine: Engine,
    *,
    topic: str,
    n: int,
    negatives: int,
    end: datetime = NOW,
    fixed_text: bool = False,
    link: str = "https://news.example/{topic}/{i}",
) -> None:
    """``n`` articles in the two hours before ``end``, ``negatives`` of them negative.

    ``fixed_text``: titles and links numbered 1..n, the same whatever ran before.
    """
    times = [end - timedelta(hours=2) + timedelta(seconds=7200 * (i + 0.5) / n) for i in range(n)]
    # Negatives spread evenly through the two hours, as a developing story would be.
    flags = [(i + 1) * negatives // n > i * negatives // n for i in range(n)]
    add_articles(
        engine,
        topic=topic,
        times=times,
        negatives=flags,
        title="Shock {topic} loss {i}",
        p_negative=0.97,
        numbers=list(range(1, n + 1)) if fixed_text else None,
        link=link,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WebhookReceiver:
    """A real threaded HTTP server on loopback that records every POST.

    ``statuses``: the answers to give, in order; after the list runs out, 200.
    """

    statuses: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __enter__(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# A self-signed certificate for localhost and 127.0.0.1, for tests only (valid to 2126).
TLS_CERT = Path(__file__).parent / "tls" / "localhost-cert.pem"
TLS_KEY = Path(__file__).parent / "tls" / "localhost-key.pem"


class SmtpReceiver:
    """A real aiosmtpd SMTP server on loopback that keeps every message.

    ``tls``: offer STARTTLS with the test certificate (:data:`TLS_CERT`).
    """

    def __init__(self, *, tls: bool = False) -> None:
        self.tls = tls
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []
        self.over_tls: list[bool] = []  # per message: did it come over STARTTLS

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.over_tls.append(session.ssl is not None)
        return "250 Message accepted for delivery"

    def __enter__(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        options: dict[str, Any] = {}
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(TLS_CERT, TLS_KEY)
            options["tls_context"] = context
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


class SmtpPolicyReceiver(SmtpReceiver):
    """An aiosmtpd server that answers ``RCPT TO`` per address from ``replies`` (e.g.
    ``"451 4.7.1 Greylisted"``); any other address is accepted. ``replies`` may change
    between runs (greylisting lifted)."""

    def __init__(self, replies: dict[str, str], *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self.replies = replies
        self.rcpt_attempts: list[str] = []

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        self.rcpt_attempts.append(address)
        reply = self.replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def delivered_to(self) -> list[str]:
        return sorted(rcpt for envelope in self.envelopes for rcpt in envelope.rcpt_tos)


class DrippingServer:
    """A real TCP server on loopback that reads what it is sent and answers ``first``, then
    one ``line`` per ``interval`` seconds, for ever: every read a client makes succeeds
    well within any per-read timeout, and the answer never ends.

    As an HTTP receiver: ``first=b"HTTP/1.1 200 OK\\r\\n"``, ``line=b"X-Drip: 1\\r\\n"``;
    as an SMTP server: ``first=b""``, ``line=b"220-still greeting\\r\\n"``.
    """

    def __init__(self, *, first: bytes, line: bytes, interval: float = 1.0) -> None:
        self.first, self.line, self.interval = first, line, interval
        self.connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> DrippingServer:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._drip, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.2)
            with contextlib.suppress(TimeoutError, OSError):
                conn.recv(65536)  # the request (or nothing, for SMTP): not looked at
            try:
                conn.sendall(self.first)
                while not self._stop.wait(self.interval):
                    conn.sendall(self.line)
            except OSError:
                return  # the client hung up: what finsent's deadline does

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)
