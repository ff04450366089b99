"""Fixtures for the ingest tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ingest_helpers import FeedServer, start_server, stop_server


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A threaded HTTP server on 127.0.0.1 with no routes yet."""
    server = start_server()
    yield server
    stop_server(server)
