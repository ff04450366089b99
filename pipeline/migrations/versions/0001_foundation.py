"""feeds, fetch attempts and articles

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipeline.db import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("name", sa.String(512)),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("etag", sa.String(1024)),
        sa.Column("last_modified", sa.String(256)),
        sa.Column("last_attempt_at", UTCDateTime()),
        sa.Column("last_success_at", UTCDateTime()),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_feeds"),
        sa.UniqueConstraint("url", name="uq_feeds_url"),
    )
    op.create_table(
        "fetch_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("entries_seen", sa.Integer(), nullable=False),
        sa.Column("new_articles", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fetch_attempts"),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name="fk_fetch_attempts_feed_id_feeds", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_fetch_attempts_feed_id", "fetch_attempts", ["feed_id"])
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("feed_id", sa.Integer()),
        sa.Column("guid", sa.String(2048)),
        sa.Column("canonical_url", sa.String(2048)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("link", sa.String(2048)),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("published_from_feed", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name="fk_articles_feed_id_feeds", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("guid", name="uq_articles_guid"),
        sa.UniqueConstraint("canonical_url", name="uq_articles_canonical_url"),
        sa.UniqueConstraint("content_hash", name="uq_articles_content_hash"),
    )
    op.create_index("ix_articles_feed_id", "articles", ["feed_id"])
    op.create_index("ix_articles_published_at", "articles", ["published_at"])


def downgrade() -> None:
    op.drop_table("articles")
    op.drop_table("fetch_attempts")
    op.drop_table("feeds")
