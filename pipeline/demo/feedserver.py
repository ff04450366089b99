"""The demo's feeds, served over HTTP on loopback as a news site would serve them.

Each request renders a feed from the scenario as of the moment it is read, so stories
scheduled after the anchor appear one by one while the demo runs.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline.demo.scenario import FEEDS, DemoItem, render_feed
from pipeline.errors import FinsentError


class _Handler(BaseHTTPRequestHandler):
    server: DemoFeedServer

    def log_message(self, *args: object) -> None:  # the demo's terminal shows progress only
        pass

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        feed = self.path.lstrip("/").removesuffix(".xml")
        if feed not in FEEDS:
            self.send_error(404)
            return
        body = render_feed(feed, self.server.items, now=self.server.clock()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class DemoFeedServer(ThreadingHTTPServer):
    """Serves ``/<feed>.xml`` for every demo feed from a background thread."""

    daemon_threads = True

    def __init__(
        self,
        items: list[DemoItem],
        *,
        port: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.items = items
        self.clock = clock
        try:
            super().__init__(("127.0.0.1", port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise FinsentError(
                    f"port {port} (the demo's feeds) is already in use; stop what uses it "
                    "or pass --feed-port"
                ) from None
            raise
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def feed_urls(self) -> dict[str, str]:
        return {name: f"http://127.0.0.1:{self.port}/{name}.xml" for name in FEEDS}

    def __enter__(self) -> DemoFeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
