from sqlalchemy import inspect

from pipeline.db import make_engine


def test_migrations_create_the_same_tables_on_both_backends(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"feeds", "fetch_attempts", "articles", "scores"} <= tables
