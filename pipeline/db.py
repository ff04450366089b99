"""Database plumbing: the declarative base, engines, sessions and migrations.

The schema itself lives in :mod:`pipeline.schema`; Alembic migrations in
``pipeline/migrations`` own it. The same code runs on SQLite (the embedded
default) and PostgreSQL.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Stable constraint names, so migrations read the same on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always UTC-aware in Python, on SQLite and PostgreSQL alike.

    SQLite has no time zones, so values are stored as naive UTC there and made
    aware again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; finsent stores UTC-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; on SQLite, with foreign keys, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# Any constant both processes agree on: the key of PostgreSQL's advisory lock that
# serialises concurrent `finsent db upgrade`s (two fresh workers starting at once).
_MIGRATION_LOCK_KEY = 0x66696E73656E74  # "finsent"


@contextmanager
def _sqlite_migration_lock(url: str) -> Iterator[None]:
    """An exclusive ``flock`` on the database file itself while migrations run.

    SQLite's own locks last one transaction, and Alembic commits per migration on
    SQLite, so a second process could start the first migration again in between.
    ``flock`` is separate from SQLite's POSIX locks, so it never blocks normal use.
    """
    database = make_url(url).database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        yield
        return
    path = Path(database)
    with path.open("ab") as handle:  # creates the (empty) database file if missing
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def upgrade_database(url: str, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; returns the revision the database is at.

    Safe to run from several processes at once: on PostgreSQL they queue on an
    advisory lock, on SQLite on a lock of the database file, and whoever comes
    second finds the schema current and changes nothing.
    """
    from alembic import command

    config = alembic_config(url)
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                connection.execute(
                    text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
                connection.commit()
                try:
                    config.attributes["connection"] = connection
                    command.upgrade(config, revision)
                    connection.commit()
                finally:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                    )
                    connection.commit()
        elif engine.dialect.name == "sqlite":
            with _sqlite_migration_lock(url):
                command.upgrade(config, revision)
        else:
            command.upgrade(config, revision)
        return current_revision(engine)
    finally:
        engine.dispose()


def iso(value: datetime | None) -> str | None:
    """A timestamp as ISO 8601 text for JSON, or None."""
    return value.isoformat() if value is not None else None


def dialect_insert(table: Any, *, dialect_name: str) -> Any:
    """An INSERT for ``table`` with ``on_conflict_do_nothing/_do_update`` (SQLite, PostgreSQL)."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    raise ValueError(f"unsupported database dialect {dialect_name!r}; use SQLite or PostgreSQL")
