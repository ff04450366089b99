"""analysts' corrections; score_hours, the hourly rollup of scores kept by triggers;
indexes for the article table's probability sorts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

``score_hours`` holds, per (model version, UTC hour of publication, topic, sentiment),
how many score rows there are, so that counts over days read a few thousand rollup rows
instead of joining every article of the period with its score (720 ms for the 7-day
baseline on a million articles before this migration; see BENCHMARKS.md, Dashboard).

On PostgreSQL, statement-level triggers keep it exact in the same transaction as every
write to ``scores``: each INSERT, UPDATE (a rescore) or DELETE statement appends one
*delta* row per (version, hour, topic, sentiment) it changed, with a signed count.
Appending takes no row lock, so concurrent scoring workers never wait for or deadlock
on each other; readers add the deltas up (``SUM(n)``), and
:func:`pipeline.alerts.counts.compact_score_hours` folds old deltas into one row per
key now and then. Deleting an article subtracts its scores before the cascade removes
them (a BEFORE DELETE row trigger, since afterwards the article's hour is gone), and
changing an article's ``published_at`` moves its scores between hours. On SQLite (the
embedded, single-machine default) the table stays empty and counts are read from
``scores`` directly, which is fast at the sizes SQLite serves.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipeline.db import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HOUR = "date_trunc('hour', {ts} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"

_FUNCTIONS = f"""
CREATE FUNCTION finsent_score_hours_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO score_hours (model_version, hour, topic, sentiment, n)
    SELECT s.model_version, {_HOUR.format(ts="a.published_at")}, s.topic, s.sentiment, count(*)
    FROM new_scores AS s JOIN articles AS a ON a.id = s.article_id
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;

CREATE FUNCTION finsent_score_hours_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO score_hours (model_version, hour, topic, sentiment, n)
    SELECT model_version, hour, topic, sentiment, sum(n)
    FROM (
        SELECT s.model_version, {_HOUR.format(ts="a.published_at")} AS hour, s.topic,
               s.sentiment, -1 AS n
        FROM old_scores AS s JOIN articles AS a ON a.id = s.article_id
        UNION ALL
        SELECT s.model_version, {_HOUR.format(ts="a.published_at")}, s.topic, s.sentiment, 1
        FROM new_scores AS s JOIN articles AS a ON a.id = s.article_id
    ) AS changes
    GROUP BY 1, 2, 3, 4
    HAVING sum(n) <> 0;
    RETURN NULL;
END $$;

-- A score deleted with its article (ON DELETE CASCADE) no longer finds the article here:
-- finsent_score_hours_article_delete has already subtracted it.
CREATE FUNCTION finsent_score_hours_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO score_hours (model_version, hour, topic, sentiment, n)
    SELECT s.model_version, {_HOUR.format(ts="a.published_at")}, s.topic, s.sentiment, -count(*)
    FROM old_scores AS s JOIN articles AS a ON a.id = s.article_id
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;

CREATE FUNCTION finsent_score_hours_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM score_hours;
    RETURN NULL;
END $$;

CREATE FUNCTION finsent_score_hours_article_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO score_hours (model_version, hour, topic, sentiment, n)
    SELECT s.model_version, {_HOUR.format(ts="OLD.published_at")}, s.topic, s.sentiment,
           -count(*)
    FROM scores AS s WHERE s.article_id = OLD.id
    GROUP BY 1, 2, 3, 4;
    RETURN OLD;
END $$;

CREATE FUNCTION finsent_score_hours_article_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO score_hours (model_version, hour, topic, sentiment, n)
    SELECT s.model_version, moved.hour, s.topic, s.sentiment, sum(moved.n)
    FROM (
        SELECT o.id, {_HOUR.format(ts="o.published_at")} AS hour, -1 AS n
        FROM old_articles AS o JOIN new_articles AS w ON w.id = o.id
        WHERE {_HOUR.format(ts="o.published_at")} <> {_HOUR.format(ts="w.published_at")}
        UNION ALL
        SELECT w.id, {_HOUR.format(ts="w.published_at")}, 1
        FROM old_articles AS o JOIN new_articles AS w ON w.id = o.id
        WHERE {_HOUR.format(ts="o.published_at")} <> {_HOUR.format(ts="w.published_at")}
    ) AS moved JOIN scores AS s ON s.article_id = moved.id
    GROUP BY 1, 2, 3, 4
    HAVING sum(moved.n) <> 0;
    RETURN NULL;
END $$;

CREATE TRIGGER score_hours_insert AFTER INSERT ON scores
    REFERENCING NEW TABLE AS new_scores
    FOR EACH STATEMENT EXECUTE FUNCTION finsent_score_hours_insert();
CREATE TRIGGER score_hours_update AFTER UPDATE ON scores
    REFERENCING OLD TABLE AS old_scores NEW TABLE AS new_scores
    FOR EACH STATEMENT EXECUTE FUNCTION finsent_score_hours_update();
CREATE TRIGGER score_hours_delete AFTER DELETE ON scores
    REFERENCING OLD TABLE AS old_scores
    FOR EACH STATEMENT EXECUTE FUNCTION finsent_score_hours_delete();
CREATE TRIGGER score_hours_truncate AFTER TRUNCATE ON scores
    FOR EACH STATEMENT EXECUTE FUNCTION finsent_score_hours_truncate();
CREATE TRIGGER score_hours_article_delete BEFORE DELETE ON articles
    FOR EACH ROW EXECUTE FUNCTION finsent_score_hours_article_delete();
CREATE TRIGGER score_hours_article_update AFTER UPDATE ON articles
    REFERENCING OLD TABLE AS old_articles NEW TABLE AS new_articles
    FOR EACH STATEMENT EXECUTE FUNCTION finsent_score_hours_article_update();
"""

_BACKFILL = f"""
INSERT INTO score_hours (model_version, hour, topic, sentiment, n)
SELECT s.model_version, {_HOUR.format(ts="a.published_at")}, s.topic, s.sentiment, count(*)
FROM scores AS s JOIN articles AS a ON a.id = s.article_id
GROUP BY 1, 2, 3, 4
"""

_TRIGGERS = {
    "score_hours_insert": "scores",
    "score_hours_update": "scores",
    "score_hours_delete": "scores",
    "score_hours_truncate": "scores",
    "score_hours_article_delete": "articles",
    "score_hours_article_update": "articles",
}
_FUNCTION_NAMES = (
    "finsent_score_hours_insert",
    "finsent_score_hours_update",
    "finsent_score_hours_delete",
    "finsent_score_hours_truncate",
    "finsent_score_hours_article_delete",
    "finsent_score_hours_article_update",
)


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("model_label", sa.String(128)),
        sa.Column("model_version", sa.String(64)),
        sa.Column("author", sa.String(256)),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_corrections"),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_corrections_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("article_id", "field", name="uq_corrections_article_field"),
        sa.CheckConstraint("field IN ('topic', 'sentiment')", name="ck_corrections_field"),
    )
    op.create_index("ix_corrections_created_at", "corrections", ["created_at"])
    op.create_table(
        "score_hours",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("sentiment", sa.String(16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_score_hours"),
    )
    op.create_index(
        "ix_score_hours_model_version_hour", "score_hours", ["model_version", "hour"]
    )
    # The Articles page's "most negative / most positive first" under one model version:
    # a backward index scan that stops after one page, instead of sorting a month of rows.
    op.create_index("ix_scores_model_version_p_negative", "scores", ["model_version", "p_negative"])
    op.create_index("ix_scores_model_version_p_positive", "scores", ["model_version", "p_positive"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTIONS)
        op.execute(_BACKFILL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for trigger, table in _TRIGGERS.items():
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        for function in _FUNCTION_NAMES:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_index("ix_scores_model_version_p_positive", table_name="scores")
    op.drop_index("ix_scores_model_version_p_negative", table_name="scores")
    op.drop_table("score_hours")
    op.drop_table("corrections")
