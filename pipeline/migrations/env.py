"""Alembic environment: runs migrations against the URL set by pipeline.db.alembic_config."""

from alembic import context
from sqlalchemy import Connection, pool

from pipeline import schema  # noqa: F401  (registers every table on Base.metadata)
from pipeline.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # pipeline.db.upgrade_database hands over the connection that holds its migration lock.
    given = config.attributes.get("connection")
    if given is not None:
        _migrate(given)
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic_config() sets sqlalchemy.url; it is missing")
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _migrate(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
