"""Analysts' corrections of the model's labels: record, list, export as training data.

A correction says "the model's topic (or sentiment) for this article is wrong; the right
one is X". Corrections live in their own table and never touch ``scores``: the model's
output stays what it was, and detection keeps reading it. One correction per (article,
field): correcting again replaces the earlier one.

:func:`export_corrections` writes them in the labelled-data CSV format that
``finsent train`` reads (``models.data``): a ``text`` column — the article as the model
reads it, title and summary joined and cleaned as scoring does — and a ``topic`` and/or
``sentiment`` column holding label names, blank where that field was not corrected.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.alerts.counts import latest_model_version
from pipeline.db import dialect_insert, utcnow
from pipeline.errors import FinsentError, UsageError
from pipeline.schema import Article, Correction, Score

Field = Literal["topic", "sentiment"]
FIELDS: tuple[Field, ...] = ("topic", "sentiment")
MAX_NOTE_CHARS = 2000


def label_names(field: str) -> tuple[str, ...]:
    """The label names ``finsent train`` knows for ``field`` (the shipped tasks')."""
    from models import SENTIMENT_LABELS, TOPIC_LABELS

    if field == "topic":
        return tuple(TOPIC_LABELS)
    if field == "sentiment":
        return tuple(SENTIMENT_LABELS)
    raise UsageError(f"unknown field {field!r}; use topic or sentiment")


def record_correction(
    *,
    session: Session,
    article_id: int,
    field: str,
    label: str,
    author: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> Correction:
    """Store that ``field`` of article ``article_id`` should be ``label`` (an upsert on
    (article, field)). What the current model said is kept beside it."""
    names = label_names(field)
    if label not in names:
        raise UsageError(f"unknown {field} label {label!r}; known: {', '.join(names)}")
    if session.get(Article, article_id) is None:
        raise FinsentError(f"no article with id {article_id}")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise UsageError(f"the note is longer than {MAX_NOTE_CHARS} characters")
    version = latest_model_version(session=session)
    model_label = None
    if version is not None:
        column = Score.topic if field == "topic" else Score.sentiment
        model_label = session.scalar(
            select(column).where(Score.article_id == article_id, Score.model_version == version)
        )
    values = {
        "article_id": article_id,
        "field": field,
        "label": label,
        "model_label": model_label,
        "model_version": version if model_label is not None else None,
        "author": author,
        "note": note or None,
        "created_at": now or utcnow(),
    }
    dialect = session.get_bind().dialect.name
    statement = dialect_insert(Correction, dialect_name=dialect).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["article_id", "field"],
        set_={k: v for k, v in values.items() if k not in ("article_id", "field")},
    )
    session.execute(statement)
    query = (
        select(Correction)
        .where(Correction.article_id == article_id, Correction.field == field)
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).one()


def remove_correction(*, session: Session, article_id: int, field: str) -> bool:
    """Withdraw a correction; True when there was one."""
    correction = session.scalars(
        select(Correction).where(Correction.article_id == article_id, Correction.field == field)
    ).one_or_none()
    if correction is None:
        return False
    session.delete(correction)
    return True


@dataclass(frozen=True)
class CorrectionRow:
    """A correction with the article it is about."""

    article_id: int
    field: str
    label: str
    model_label: str | None
    model_version: str | None
    author: str | None
    note: str | None
    created_at: datetime
    title: str
    summary: str


def list_corrections(*, session: Session, limit: int | None = None) -> list[CorrectionRow]:
    """Corrections, newest first."""
    query = (
        select(
            Correction.article_id,
            Correction.field,
            Correction.label,
            Correction.model_label,
            Correction.model_version,
            Correction.author,
            Correction.note,
            Correction.created_at,
            Article.title,
            Article.summary,
        )
        .join(Article, Article.id == Correction.article_id)
        .order_by(Correction.created_at.desc(), Correction.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [CorrectionRow(*tuple(row)) for row in session.execute(query)]


def training_text(title: str, summary: str) -> str:
    """The article as the model reads it: ``"<title>. <summary>"``, each part cleaned as
    model input — scoring's own join (``finsent train`` cuts it to its token budget)."""
    from pipeline.scoring.text import joined_text

    return joined_text(title or "", summary or "")


def _export_rows(session: Session, fields: Sequence[Field]) -> Iterator[dict[str, str]]:
    """One row per corrected article (oldest correction first), label names by field."""
    query = (
        select(Article.id, Article.title, Article.summary, Correction.field, Correction.label)
        .join(Correction, Correction.article_id == Article.id)
        .where(Correction.field.in_(list(fields)))
        .order_by(Article.id, Correction.field)
    )
    current: dict[str, str] | None = None
    current_id = None
    for article_id, title, summary, field, label in session.execute(query):
        if article_id != current_id:
            if current is not None:
                yield current
            current_id = article_id
            current = {"text": training_text(title, summary), **dict.fromkeys(fields, "")}
        assert current is not None
        current[field] = label
    if current is not None:
        yield current


def export_corrections(*, session: Session, out: Path, fields: Sequence[Field] = FIELDS) -> int:
    """Write the corrections as a training CSV (``text`` + one column per field) to
    ``out``; returns the number of rows. ``finsent train --topic-data`` and
    ``--sentiment-data`` both accept the file: each reads only its own column and skips
    rows where it is blank."""
    for field in fields:
        label_names(field)  # an unknown field is a usage error, before anything is written
    temporary = out.with_name(out.name + ".partial")
    try:
        with temporary.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", *fields])
            writer.writeheader()
            count = 0
            for row in _export_rows(session, fields):
                if row["text"]:
                    writer.writerow(row)
                    count += 1
        temporary.replace(out)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise FinsentError(f"cannot write {out}: {exc.strerror or exc}") from None
    return count
