"""The schema: migrations and the ORM models cannot drift apart, on either backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from pipeline import schema  # noqa: F401  (registers every table on Base.metadata)
from pipeline.db import Base, current_revision, make_engine


def test_migrations_create_the_same_tables_on_both_backends(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"feeds", "fetch_attempts", "articles", "scores", "alerts", "deliveries"} <= tables


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    """Alembic's autogenerate finds nothing to do: every table, column, index and
    constraint the models declare is what the migrations built, and nothing more."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": False}
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_migrations_end_at_one_head(db_url: str) -> None:
    from alembic.script import ScriptDirectory

    from pipeline.db import alembic_config

    heads = ScriptDirectory.from_config(alembic_config(db_url)).get_heads()
    engine = make_engine(db_url)
    try:
        assert [current_revision(engine)] == heads
    finally:
        engine.dispose()
