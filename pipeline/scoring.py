"""Scoring stage: articles without a score from the current model version → ``scores``.

How the text is built (:func:`article_text`): ``"<title>. <summary>"``, each part
first cleaned the way the model cleans its input (``models.text.clean_text``: HTML
entities and tag remnants, links and the ``$`` of cashtags removed, whitespace
collapsed). The period is left out when the title already ends in sentence
punctuation, and a missing part is simply left out (title only, summary only, or
the empty string). The text is cut to the model's maximum length in tokens with the
title kept whole: the summary is cut first, and only a title that alone is too
long is cut itself.

How the work is done (:func:`score_articles`):

* Newest first (highest article id first), because detection reads the recent
  window: after a model upgrade the window fills with current-version scores first.
* In chunks of ``chunk_size`` articles, one transaction each, so a crash or kill
  loses at most one chunk and the next run resumes where it stopped (the
  candidates are found by an anti-join against ``scores``, which the unique index
  on ``(article_id, model_version)`` serves).
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

from sqlalchemy import Connection, Engine, and_, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite

from models.text import clean_text
from pipeline.db import utcnow
from pipeline.errors import FinsentError
from pipeline.schema import Article, Score

# The period is not doubled after a title that already ends a sentence.
_SENTENCE_END = (".", "!", "?", ":", ";", "…")
# Vocabulary tokens are far shorter than this many characters (only an [UNK] standing
# for a 100+-character "word" is longer), so cutting a huge text to budget * this many
# characters before tokenising bounds the cost and loses no readable text, unless the
# text is mostly whitespace or such "words".
_MAX_CHARS_PER_TOKEN = 100


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


class _Scorer(Protocol):
    """What scoring needs of ``models.Scorer``; tests may pass a wrapper around one."""

    version: str
    max_length: int
    tokenizer: Any

    def predict(self, texts: Sequence[str], *, batch_size: int = 64) -> Sequence[_Prediction]: ...


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


def _join(title: str, summary: str) -> str:
    """Title and summary as one line of text (see the module docstring)."""
    # The model's own cleaning (entities, tag remnants, links, cashtags, whitespace), done
    # here too so that the token budget is spent on words the model will actually read.
    title = clean_text(title)
    summary = clean_text(summary)
    if not title or not summary:
        return title or summary
    separator = " " if title.endswith(_SENTENCE_END) else ". "
    return f"{title}{separator}{summary}"


def article_text(title: str, summary: str, *, tokenizer: Any, max_length: int) -> str:
    """The text the model scores for one article, at most ``max_length`` tokens long.

    ``"<title>. <summary>"`` (each part cleaned like model input, no doubled period,
    missing parts left out), cut at a token boundary so that, with the tokenizer's
    special tokens, it fits ``max_length``. The summary is cut first; a title is cut
    only when it alone does not fit. For example ``("Apple beats estimates",
    "Shares rose.")`` gives ``"Apple beats estimates. Shares rose."``.
    """
    return article_texts([(title, summary)], tokenizer=tokenizer, max_length=max_length)[0]


def article_texts(
    items: Sequence[tuple[str, str]], *, tokenizer: Any, max_length: int
) -> list[str]:
    """:func:`article_text` for many (title, summary) pairs, tokenising in batches."""
    texts = [_join(title or "", summary or "") for title, summary in items]
    if not getattr(tokenizer, "is_fast", False):
        # No offsets without a fast tokenizer; the model's own truncation keeps the
        # title (it comes first) and cuts the summary.
        return texts
    budget = max(max_length - tokenizer.num_special_tokens_to_add(pair=False), 1)
    # Fast path: in an ASCII text every token covers at least one character (plus, at
    # most, one SentencePiece word-start marker), so a short one cannot be too long.
    pending = [i for i, text in enumerate(texts) if len(text) + 1 > budget or not text.isascii()]
    for i in pending:
        texts[i] = texts[i][: budget * _MAX_CHARS_PER_TOKEN]
    # One batched tokenizer call per round. Round 1 cuts after the last token that
    # fits; cutting inside a word can, rarely, tokenise into more pieces than before,
    # and the next round cuts again. Each round shortens every text it keeps.
    for _ in range(8):
        if not pending:
            break
        encoded = tokenizer(
            [texts[i] for i in pending], add_special_tokens=False, return_offsets_mapping=True
        )
        still_long = []
        for i, offsets in zip(pending, encoded["offset_mapping"], strict=True):
            if len(offsets) <= budget:
                continue
            text = texts[i]
            cut = offsets[budget - 1][1]
            if cut >= len(text):  # zero-width tokens at the end: cut before the first extra
                cut = offsets[budget][0]
            if cut >= len(text):
                continue  # cannot shorten; the model's own truncation takes over
            texts[i] = text[:cut].rstrip()
            still_long.append(i)
        pending = still_long
    return texts


def _insert(connection: Connection) -> Any:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(Score)
    if dialect == "sqlite":
        return sqlite.insert(Score)
    raise FinsentError(f"scoring supports PostgreSQL and SQLite, not {dialect}")


def _candidates(*, version: str, rescore: bool, below_id: int | None, size: int, lock: bool) -> Any:
    """The next chunk of articles to score: id, title, summary; newest first."""
    query = select(Article.id, Article.title, Article.summary)
    if not rescore:
        # Anti-join; each probe is a lookup in the unique (article_id, model_version) index.
        query = query.where(
            ~exists().where(and_(Score.article_id == Article.id, Score.model_version == version))
        )
    if below_id is not None:
        query = query.where(Article.id < below_id)
    query = query.order_by(Article.id.desc()).limit(size)
    if lock:
        # NO KEY UPDATE: conflicts with another worker's claim (which then skips the
        # row) but not with the KEY SHARE lock our own score insert's foreign key takes.
        query = query.with_for_update(of=Article, key_share=True, skip_locked=True)
    return query


def _count_candidates(*, engine: Engine, version: str, rescore: bool) -> int:
    query = select(func.count()).select_from(Article)
    if not rescore:
        query = query.where(
            ~exists().where(and_(Score.article_id == Article.id, Score.model_version == version))
        )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _score_rows(
    rows: Sequence[Any], *, scorer: _Scorer, batch_size: int
) -> tuple[list[dict[str, Any]], int]:
    """Score rows (id, title, summary); returns score-table rows and how many texts were empty."""
    texts = article_texts(
        [(row.title, row.summary) for row in rows],
        tokenizer=scorer.tokenizer,
        max_length=scorer.max_length,
    )
    predictions = scorer.predict(texts, batch_size=batch_size)
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


def _write(connection: Connection, values: list[dict[str, Any]], *, rescore: bool) -> int:
    """Insert (or, with rescore, upsert) score rows; returns how many rows were written."""
    if not values:
        return 0
    statement = _insert(connection)
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


def _chunks(
    *,
    engine: Engine,
    scorer: _Scorer,
    batch_size: int,
    rescore: bool,
    chunk_size: int,
    limit: int | None,
) -> Iterator[tuple[int, int, int]]:
    """Score chunk after chunk; yields (articles read, rows written, empty texts) per chunk."""
    lock = engine.dialect.name == "postgresql"
    below_id: int | None = None
    remaining = limit
    while remaining is None or remaining > 0:
        size = chunk_size if remaining is None else min(chunk_size, remaining)
        query = _candidates(
            version=scorer.version, rescore=rescore, below_id=below_id, size=size, lock=lock
        )
        if lock:
            # Claim, score and write in one transaction: the row locks hold until commit.
            with engine.begin() as connection:
                rows = connection.execute(query).all()
                if not rows:
                    return
                values, empty = _score_rows(rows, scorer=scorer, batch_size=batch_size)
                written = _write(connection, values, rescore=rescore)
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
                written = _write(connection, values, rescore=rescore)
        # Keyset paging: this run never reads an article twice, even one another
        # worker holds or one that was skipped.
        below_id = min(row.id for row in rows)
        if remaining is not None:
            remaining -= len(rows)
        yield len(rows), written, empty


def score_articles(
    *,
    engine: Engine,
    scorer: _Scorer,
    batch_size: int = 64,
    limit: int | None = None,
    rescore: bool = False,
    chunk_size: int = 256,
    progress: bool = False,
) -> ScoreReport:
    """Score every article that has no score from ``scorer.version`` (all of them with
    ``rescore``), at most ``limit`` of them, newest first, ``chunk_size`` per transaction.

    Re-running scores nothing new; see the module docstring for the guarantees.
    """
    if batch_size < 1 or chunk_size < 1:
        raise FinsentError("batch size and chunk size must be at least 1")
    if limit is not None and limit < 0:
        raise FinsentError("limit must not be negative")
    started = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        total = _count_candidates(engine=engine, version=scorer.version, rescore=rescore)
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
