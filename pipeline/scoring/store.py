"""The database side of scoring: which articles still need a score, claiming them,
writing score rows, and splitting the backlog into id ranges for parallel workers.

"Not yet scored by version V" is one condition (:func:`_not_scored_by`), an anti-join
against ``scores`` that the unique index on ``(article_id, model_version)`` serves one
probe per article; the chunk query, the progress count and the id ranges all use it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    exists,
    func,
    select,
)

from pipeline.db import dialect_insert
from pipeline.errors import FinsentError
from pipeline.schema import Article, Score


def _not_scored_by(version: str) -> ColumnElement[bool]:
    """Articles with no score row from ``version``."""
    return ~exists().where(and_(Score.article_id == Article.id, Score.model_version == version))


def _selection(
    *, version: str, rescore: bool, min_id: int | None, max_id: int | None
) -> list[ColumnElement[bool]]:
    """The articles a run works on: not yet scored by ``version`` (every article with
    ``rescore``), with ``min_id <= id <= max_id`` for the bounds given."""
    conditions = [] if rescore else [_not_scored_by(version)]
    if min_id is not None:
        conditions.append(Article.id >= min_id)
    if max_id is not None:
        conditions.append(Article.id <= max_id)
    return conditions


def candidates(
    *,
    version: str,
    rescore: bool,
    below_id: int | None,
    size: int,
    lock: bool,
    min_id: int | None = None,
    max_id: int | None = None,
) -> Select[int, str, str]:
    """The next chunk of articles to score: id, title, summary; newest first, below
    ``below_id`` (keyset paging). ``lock`` (PostgreSQL) claims the rows for this
    transaction and skips rows another worker has claimed."""
    query = select(Article.id, Article.title, Article.summary).where(
        *_selection(version=version, rescore=rescore, min_id=min_id, max_id=max_id)
    )
    if below_id is not None:
        query = query.where(Article.id < below_id)
    query = query.order_by(Article.id.desc()).limit(size)
    if lock:
        # NO KEY UPDATE: conflicts with another worker's claim (which then skips the
        # row) but not with the KEY SHARE lock our own score insert's foreign key takes.
        query = query.with_for_update(of=Article, key_share=True, skip_locked=True)
    return query


def count_candidates(
    *, engine: Engine, version: str, rescore: bool, min_id: int | None, max_id: int | None
) -> int:
    """How many articles a run would score (for the progress bar)."""
    query = (
        select(func.count())
        .select_from(Article)
        .where(*_selection(version=version, rescore=rescore, min_id=min_id, max_id=max_id))
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def write_scores(connection: Connection, values: list[dict[str, Any]], *, rescore: bool) -> int:
    """Insert (or, with rescore, upsert) score rows; returns how many rows were written."""
    if not values:
        return 0
    try:
        statement = dialect_insert(Score, dialect_name=connection.dialect.name)
    except ValueError as exc:
        raise FinsentError(f"scoring: {exc}") from None
    keys = [Score.article_id, Score.model_version]
    if rescore:
        updated = {
            name: statement.excluded[name]
            for name in values[0]
            if name not in ("article_id", "model_version")
        }
        statement = statement.on_conflict_do_update(index_elements=keys, set_=updated)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    # RETURNING yields only the rows actually written: a row another run wrote first
    # (DO NOTHING) is not counted.
    return len(connection.execute(statement.returning(Score.id), values).all())


def unscored_id_ranges(*, engine: Engine, model_version: str, size: int) -> list[tuple[int, int]]:
    """The articles not yet scored by ``model_version``, split into inclusive id ranges
    ``(min_id, max_id)`` of ``size`` unscored articles each (the newest range holds the
    remainder), newest range first — one :func:`~pipeline.scoring.score_articles` call per
    range (``min_id=..., max_id=...``) scores the backlog in parallel, each unscored
    article in exactly one range. Scored articles between two unscored ones fall inside
    a range and are skipped by the call.

    Computed in the database: ``row_number()`` over the unscored ids in id order,
    grouped by ``(row_number - 1) / size``; one row per range comes back, never the ids.
    Cost: one walk of the primary-key index with one probe of the unique
    ``(article_id, model_version)`` index per article (the same anti-join the scoring
    chunks use) and a group-by over the unscored ids only.

    A snapshot: articles that arrive later are in no range (the next call finds them),
    and articles another run scores meanwhile are skipped by the calls.
    """
    if size < 1:
        raise FinsentError(f"range size must be at least 1, got {size}")
    numbered = (
        select(
            Article.id.label("id"),
            ((func.row_number().over(order_by=Article.id) - 1) // size).label("bucket"),
        )
        .where(_not_scored_by(model_version))
        .subquery()
    )
    query = (
        select(func.min(numbered.c.id), func.max(numbered.c.id))
        .group_by(numbered.c.bucket)
        .order_by(numbered.c.bucket.desc())
    )
    with engine.connect() as connection:
        return [(int(low), int(high)) for low, high in connection.execute(query)]
