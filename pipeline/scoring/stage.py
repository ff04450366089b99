"""One scoring run: :func:`score_articles` claims unscored articles chunk by chunk, builds
their texts (:mod:`~pipeline.scoring.text`), predicts, and writes score rows
(:mod:`~pipeline.scoring.store`).

* Newest first (highest article id first), because detection reads the recent
  window: after a model upgrade the window fills with current-version scores first.
* In chunks of ``chunk_size`` articles, one transaction each, so a crash or kill
  loses at most one chunk and the next run resumes where it stopped.
* Optionally within an id range (``min_id <= id <= max_id``, either bound optional):
  workers given the ranges of :func:`~pipeline.scoring.unscored_id_ranges` split a
  backlog; overlapping ranges are safe, as below.
* Writes are ``INSERT ... ON CONFLICT (article_id, model_version) DO NOTHING``:
  two runs at once never write a score twice. On PostgreSQL each chunk's articles
  are also claimed with ``FOR NO KEY UPDATE SKIP LOCKED`` so two workers split
  the work instead of doing it twice; on SQLite they may both score an article,
  and the unique key keeps one row.
* ``rescore=True`` scores every article again (not only the unscored ones) with
  the current model version and overwrites that version's rows in place
  (``ON CONFLICT DO UPDATE``, ``scored_at`` refreshed); rows of other versions are
  never touched. Use it when the same checkpoint should be re-applied, e.g. after
  switching int8/fp32 or after a change in how the text is built.
* An article with an empty title and summary is scored from the empty string (a
  valid model input, it reads as the model's prior) rather than skipped, so every
  article gets exactly one row per version and no run keeps revisiting it; the
  report counts these as ``empty_text``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from sqlalchemy import Engine

from pipeline.db import utcnow
from pipeline.errors import FinsentError
from pipeline.scoring.store import candidates, count_candidates, write_scores
from pipeline.scoring.text import TextFitter, article_texts


class _Prediction(Protocol):
    """What scoring reads of ``models.Prediction`` (read-only, as that dataclass is frozen)."""

    @property
    def topic(self) -> str: ...
    @property
    def topic_probability(self) -> float: ...
    @property
    def sentiment(self) -> str: ...
    @property
    def sentiment_probabilities(self) -> dict[str, float]: ...
    @property
    def sentiment_score(self) -> float: ...


class ScoringModel(TextFitter, Protocol):
    """What scoring needs of ``models.Scorer``: its version, the token budget
    (``fit_to_length``) and ``predict``; tests may pass a wrapper around one."""

    @property
    def version(self) -> str: ...

    def predict(
        self, texts: Sequence[str], *, batch_size: int = 64, clean: bool = True
    ) -> Sequence[_Prediction]: ...


@dataclass(frozen=True)
class ScoreReport:
    """What one scoring run did."""

    scored: int  # score rows this run wrote (inserted, or updated with rescore)
    model_version: str
    seconds: float
    articles_per_second: float
    empty_text: int  # articles this run scored from an empty text (no title, no summary)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _score_rows(
    rows: Sequence[Any], *, scorer: ScoringModel, batch_size: int
) -> tuple[list[dict[str, Any]], int]:
    """Score rows (id, title, summary); returns score-table rows and how many texts were empty."""
    texts = article_texts([(row.title, row.summary) for row in rows], scorer=scorer)
    # Cleaned and cut already: what was fitted to the budget is exactly what the model reads.
    predictions = scorer.predict(texts, batch_size=batch_size, clean=False)
    if len(predictions) != len(texts):
        raise RuntimeError(f"scorer returned {len(predictions)} predictions for {len(texts)} texts")
    now = utcnow()
    values = [
        {
            "article_id": row.id,
            "model_version": scorer.version,
            "topic": p.topic,
            "topic_probability": float(p.topic_probability),
            "sentiment": p.sentiment,
            "p_negative": float(p.sentiment_probabilities["negative"]),
            "p_neutral": float(p.sentiment_probabilities["neutral"]),
            "p_positive": float(p.sentiment_probabilities["positive"]),
            "sentiment_score": float(p.sentiment_score),
            "scored_at": now,
        }
        for row, p in zip(rows, predictions, strict=True)
    ]
    return values, sum(1 for text in texts if not text)


def _chunks(
    *,
    engine: Engine,
    scorer: ScoringModel,
    batch_size: int,
    rescore: bool,
    chunk_size: int,
    limit: int | None,
    min_id: int | None,
    max_id: int | None,
) -> Iterator[tuple[int, int, int]]:
    """Score chunk after chunk; yields (articles read, rows written, empty texts) per chunk."""
    lock = engine.dialect.name == "postgresql"
    below_id: int | None = None
    remaining = limit
    while remaining is None or remaining > 0:
        size = chunk_size if remaining is None else min(chunk_size, remaining)
        query = candidates(
            version=scorer.version,
            rescore=rescore,
            below_id=below_id,
            size=size,
            lock=lock,
            min_id=min_id,
            max_id=max_id,
        )
        if lock:
            # Claim, score and write in one transaction: the row locks hold until commit.
            with engine.begin() as connection:
                rows = connection.execute(query).all()
                if not rows:
                    return
                values, empty = _score_rows(rows, scorer=scorer, batch_size=batch_size)
                written = write_scores(connection, values, rescore=rescore)
        else:
            # SQLite: read, score, then write in a short transaction of its own, so no
            # read snapshot is held across inference (a stale one cannot be upgraded to
            # a write lock there).
            with engine.connect() as connection:
                rows = connection.execute(query).all()
            if not rows:
                return
            values, empty = _score_rows(rows, scorer=scorer, batch_size=batch_size)
            with engine.begin() as connection:
                written = write_scores(connection, values, rescore=rescore)
        # Keyset paging: this run never reads an article twice, even one another
        # worker holds or one that was skipped.
        below_id = min(row.id for row in rows)
        if remaining is not None:
            remaining -= len(rows)
        yield len(rows), written, empty


def score_articles(
    *,
    engine: Engine,
    scorer: ScoringModel,
    batch_size: int = 64,
    limit: int | None = None,
    rescore: bool = False,
    chunk_size: int = 256,
    progress: bool = False,
    min_id: int | None = None,
    max_id: int | None = None,
) -> ScoreReport:
    """Score every article that has no score from ``scorer.version`` (all of them with
    ``rescore``), only those with ``min_id <= id <= max_id`` when bounds are given, at
    most ``limit`` of them, newest first, ``chunk_size`` per transaction.

    Re-running scores nothing new; see the module docstring for the guarantees.
    """
    if batch_size < 1 or chunk_size < 1:
        raise FinsentError("batch size and chunk size must be at least 1")
    if limit is not None and limit < 0:
        raise FinsentError("limit must not be negative")
    if min_id is not None and max_id is not None and min_id > max_id:
        raise FinsentError(f"empty id range: min_id {min_id} is above max_id {max_id}")
    started = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        total = count_candidates(
            engine=engine, version=scorer.version, rescore=rescore, min_id=min_id, max_id=max_id
        )
        bar = tqdm(total=total if limit is None else min(total, limit), unit="article")
    scored = empty_text = 0
    try:
        for read, written, empty in _chunks(
            engine=engine,
            scorer=scorer,
            batch_size=batch_size,
            rescore=rescore,
            chunk_size=chunk_size,
            limit=limit,
            min_id=min_id,
            max_id=max_id,
        ):
            scored += written
            empty_text += empty
            if bar is not None:
                bar.update(read)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - started
    return ScoreReport(
        scored=scored,
        model_version=scorer.version,
        seconds=round(seconds, 3),
        articles_per_second=round(scored / seconds, 1) if seconds > 0 else 0.0,
        empty_text=empty_text,
    )
