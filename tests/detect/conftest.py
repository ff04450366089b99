"""Fixtures for the detection tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from pipeline.db import make_engine


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh migrated database, SQLite and PostgreSQL."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """An engine on a fresh migrated SQLite database (for tests about delivery, not SQL)."""
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()
