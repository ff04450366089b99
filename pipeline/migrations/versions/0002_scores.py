"""scores: one row per (article, model version)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipeline.db import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("topic_probability", sa.Float(), nullable=False),
        sa.Column("sentiment", sa.String(16), nullable=False),
        sa.Column("p_negative", sa.Float(), nullable=False),
        sa.Column("p_neutral", sa.Float(), nullable=False),
        sa.Column("p_positive", sa.Float(), nullable=False),
        sa.Column("sentiment_score", sa.Float(), nullable=False),
        sa.Column("scored_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name="fk_scores_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("article_id", "model_version", name="uq_scores_article_version"),
    )
    op.create_index("ix_scores_model_version_topic", "scores", ["model_version", "topic"])


def downgrade() -> None:
    op.drop_table("scores")
