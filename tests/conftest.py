"""Shared fixtures: databases (SQLite and a real PostgreSQL), clean settings.

The PostgreSQL tests use the local server at 127.0.0.1:5432 (trust auth); each
test session creates its own database and drops it at the end. A missing
server is a failure, never a skip: `make test` starts it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine

from pipeline.db import make_engine, upgrade_database
from pipeline.settings import get_settings

if TYPE_CHECKING:
    from models import Scorer

# Property tests are deterministic: the same examples on every run, in CI and here, so a
# failure is reproducible and a pass means the same thing each time. `--hypothesis-seed`
# or HYPOTHESIS_PROFILE=explore searches afresh while developing.
hypothesis_settings.register_profile(
    "deterministic",
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile("explore", max_examples=500, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

PG_ADMIN_DSN = os.environ.get(
    "FINSENT_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
PG_URL_BASE = os.environ.get(
    "FINSENT_TEST_PG_URL_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432"
)


@pytest.fixture(autouse=True)
def _clean_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Each test starts from settings that only it has set."""
    for key in list(os.environ):
        if key.startswith("FINSENT_") and not key.startswith("FINSENT_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FINSENT_OUTBOX_DIR", str(tmp_path_factory.mktemp("outbox")))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _create_pg_database() -> tuple[str, str]:
    name = f"finsent_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:  # pragma: no cover - environment failure
        pytest.fail(f"PostgreSQL is required at 127.0.0.1:5432 (run `make test`): {exc}")
    return name, f"{PG_URL_BASE}/{name}"


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name, url = _create_pg_database()
    upgrade_database(url)
    try:
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A fresh, migrated SQLite database file for one test."""
    url = f"sqlite:///{tmp_path / 'finsent.db'}"
    upgrade_database(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on PostgreSQL. PostgreSQL runs are marked integration."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    request.applymarker(pytest.mark.integration)
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh migrated database, SQLite and PostgreSQL."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """An engine on a fresh migrated SQLite database (for tests about behaviour, not SQL)."""
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete, randomly initialised tiny model directory (seed 0): fast, real code."""
    from models.testing import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny-seed0") / "model", seed=0)


@pytest.fixture(scope="session")
def tiny_scorer(tiny_model_dir: Path) -> Scorer:
    """The real Scorer on the tiny model, with the CPU defaults a user gets."""
    from models import Scorer

    return Scorer.from_pretrained(tiny_model_dir, device="cpu")
