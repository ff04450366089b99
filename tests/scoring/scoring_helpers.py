"""Helpers for the scoring tests: a recording wrapper around the real Scorer, articles."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.schema import Article, Score


class RecordingScorer:
    """Wraps a real Scorer: records the texts it is given, optionally fails or waits.

    ``fail_on_call``: the n-th ``predict`` call (1-based) raises, as a crash mid-run would.
    ``delay``: seconds to sleep per call, so concurrent runs interleave.
    """

    def __init__(self, scorer: Any, *, fail_on_call: int | None = None, delay: float = 0.0):
        self._scorer = scorer
        self.version = scorer.version
        self.fail_on_call = fail_on_call
        self.delay = delay
        self.calls: list[list[str]] = []
        self.cleaned: list[bool] = []  # the `clean` argument of each predict call

    def fit_to_length(self, texts: Sequence[str], *, max_length: int | None = None) -> list[str]:
        return self._scorer.fit_to_length(texts, max_length=max_length)

    def predict(
        self, texts: Sequence[str], *, batch_size: int = 64, clean: bool = True
    ) -> list[Any]:
        self.calls.append(list(texts))
        self.cleaned.append(clean)
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("simulated crash while scoring")
        if self.delay:
            threading.Event().wait(self.delay)
        return self._scorer.predict(texts, batch_size=batch_size, clean=clean)

    @property
    def texts(self) -> list[str]:
        return [text for call in self.calls for text in call]


def add_articles(engine: Engine, items: Sequence[tuple[str, str]]) -> list[int]:
    """Insert articles (title, summary) directly; returns their ids in insertion order."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with Session(engine) as session:
        offset = session.scalar(select(func.count()).select_from(Article)) or 0
        rows = [
            Article(
                title=title,
                summary=summary,
                content_hash=f"hash-{offset + i}",
                guid=f"guid-{offset + i}",
                published_at=start + timedelta(minutes=offset + i),
            )
            for i, (title, summary) in enumerate(items)
        ]
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def numbered_articles(n: int) -> list[tuple[str, str]]:
    return [(f"Company {i} reports results", f"Revenue changed by {i} percent.") for i in range(n)]


def score_rows(engine: Engine, version: str | None = None) -> list[Score]:
    with Session(engine) as session:
        query = select(Score).order_by(Score.article_id, Score.model_version)
        if version is not None:
            query = query.where(Score.model_version == version)
        return list(session.scalars(query))
