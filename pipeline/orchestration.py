"""What the Airflow DAGs in ``dags/`` call: plain functions, no Airflow in sight.

Each DAG task is one call here, so the DAG files stay a page of wiring and the logic
is testable (and usable) without a scheduler. Every function takes the settings,
opens the database through :mod:`pipeline.wiring` itself, and returns only ids,
ranges and counts: small JSON values that fit an XCom, never article text.

Splitting the work (the DAGs map one task over each item):

* :func:`feed_batches`: the enabled feed ids in batches of ``ingest_batch_size``;
  :func:`ingest_batch` ingests one batch (``ingest_feeds(feed_ids=...)``).
* :func:`score_ranges`: the unscored articles as inclusive id ranges of about
  ``score_range_size`` articles; :func:`score_range` scores one range.
* :func:`detect`: one detection run at a given time (the DAG run's logical date,
  which is how a backfill evaluates the past).

Every step is idempotent because the stages are: ingest dedups articles, scoring
inserts ``ON CONFLICT DO NOTHING`` (and claims rows with ``SKIP LOCKED`` on
PostgreSQL), detection re-evaluated at the same time changes nothing and sends
nothing twice. A retried task, or a re-run DAG run, writes nothing twice.

Heavy modules (the stages, torch, the model) are imported inside the functions, so a
DAG file that imports this module parses in milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.errors import FinsentError
from pipeline.settings import Settings, describe_settings_error, get_settings

# The assets that chain the DAGs (finsent_ingest -> finsent_score -> finsent_alert).
# Custom URI schemes must start with "x-" in Airflow 3; the URI names what changed,
# not where (the database URL holds credentials and differs per deployment).
ARTICLES_ASSET = ("articles", "x-finsent://articles")
SCORES_ASSET = ("scores", "x-finsent://scores")

# Task defaults for every finsent DAG: a failed task (a database restart, a worker
# lost) is retried after 1, 2, 4 minutes, never waiting more than 30.
TASK_DEFAULTS: dict[str, Any] = {
    "owner": "finsent",
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
}

# Counts that add up over the mapped tasks of one stage (the rest of a report does not).
_INGEST_COUNTS = ("feeds", "fetched", "not_modified", "skipped", "new_articles", "duplicates")
_SCORE_COUNTS = ("scored", "empty_text")


def dag_settings() -> Settings:
    """The settings, read when a DAG file is parsed; a bad ``FINSENT_*`` value becomes a
    one-line import error naming the variable (as the CLI prints it), not a traceback."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise FinsentError(describe_settings_error(exc)) from None


def as_utc(value: datetime) -> datetime:
    """``value`` as a plain ``datetime`` in UTC. Airflow hands tasks pendulum ``DateTime``s,
    and pendulum's arithmetic on one whose tzinfo is ``datetime.UTC`` returns a naive
    value (``now - timedelta(hours=2)`` loses the zone), which the stages cannot compare."""
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def score_task_routing(settings: Settings) -> dict[str, str]:
    """``queue``/``pool`` for the scoring tasks: ``FINSENT_SCORE_QUEUE`` (say ``gpu``) sends
    them to the Celery workers consuming that queue, through a pool of the same name
    that bounds how many run at once; unset (or empty), the default queue and pool."""
    queue = (settings.score_queue or "").strip()
    return {"queue": queue, "pool": queue} if queue else {}


def batches(ids: Sequence[int], size: int) -> list[list[int]]:
    """``ids`` in consecutive batches of at most ``size``, order kept."""
    if size < 1:
        raise FinsentError("batch size must be at least 1")
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


def total(reports: Iterable[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, int]:
    """The sum of each count in ``keys`` over per-task reports (an XCom list)."""
    sums = dict.fromkeys(keys, 0)
    for report in reports:
        for key in keys:
            sums[key] += int(report.get(key) or 0)
    return sums


def feed_batches(*, settings: Settings, batch_size: int) -> list[list[int]]:
    """The enabled feeds' ids in batches of ``batch_size``: one mapped ingest task each."""
    from pipeline.ingest import enabled_feed_ids
    from pipeline.wiring import open_database

    engine = open_database(settings, migrate=False)
    try:
        return batches(enabled_feed_ids(engine=engine), batch_size)
    finally:
        engine.dispose()


def ingest_batch(
    *, settings: Settings, feed_ids: Sequence[int], now: datetime | None = None
) -> dict[str, Any]:
    """Ingest the feeds ``feed_ids``; returns the report's counts (no per-feed details,
    which hold URLs and error texts that do not belong in XCom)."""
    from pipeline.ingest import ingest_feeds
    from pipeline.wiring import open_database

    engine = open_database(settings, migrate=False)
    try:
        report = ingest_feeds(
            engine=engine,
            settings=settings,
            now=None if now is None else as_utc(now),
            feed_ids=feed_ids,
        )
    finally:
        engine.dispose()
    counts = report.as_dict()
    counts.pop("details", None)
    return counts


def ingest_total(reports: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """One ingest run's counts over its mapped tasks."""
    return total(reports, (*_INGEST_COUNTS, "errors"))


def model_version(settings: Settings) -> str:
    """The version string of the configured model, read from its card without loading it.

    The same rule as ``Scorer.from_pretrained`` (the card's ``version``, else the
    directory's name). Planning needs it only to find unscored articles; a wrong guess
    could only make more ranges, since each scoring task checks again with the real
    scorer's version.
    """
    from models import SHIPPED_MODEL_DIR

    directory = Path(settings.model_dir or SHIPPED_MODEL_DIR)
    try:
        card = json.loads((directory / "model_card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FinsentError(f"cannot read the model card in {directory}: {exc}") from None
    return str(card.get("version") or directory.name)


def score_ranges(*, settings: Settings, range_size: int) -> list[list[int]]:
    """The articles without a score from the current model, as inclusive ``[low, high]``
    id ranges of at most ``range_size`` articles: one mapped scoring task each."""
    from pipeline.scoring import unscored_id_ranges
    from pipeline.wiring import open_database

    if range_size < 1:
        raise FinsentError("range size must be at least 1")
    engine = open_database(settings, migrate=False)
    try:
        ranges = unscored_id_ranges(
            engine=engine, model_version=model_version(settings), size=range_size
        )
    finally:
        engine.dispose()
    return [[int(low), int(high)] for low, high in ranges]


def score_range(*, settings: Settings, id_range: Sequence[int]) -> dict[str, Any]:
    """Score the unscored articles with ids in ``id_range`` (inclusive); returns the report."""
    from pipeline.scoring import score_articles
    from pipeline.wiring import load_scorer, open_database

    low, high = (int(value) for value in id_range)
    if low > high:
        raise FinsentError(f"empty id range [{low}, {high}]")
    engine = open_database(settings, migrate=False)
    try:
        scorer = load_scorer(settings)
        report = score_articles(
            engine=engine,
            scorer=scorer,
            batch_size=settings.score_batch_size,
            min_id=low,
            max_id=high,
        )
    finally:
        engine.dispose()
    return report.as_dict()


def score_total(reports: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """One scoring run's counts over its mapped tasks."""
    return total(reports, _SCORE_COUNTS)


def detect(*, settings: Settings, now: datetime) -> dict[str, Any]:
    """Evaluate the alert rules as of ``now`` and send the deliveries due; returns the report."""
    from pipeline.alerts import run_detection
    from pipeline.wiring import open_database

    engine = open_database(settings, migrate=False)
    try:
        return run_detection(engine=engine, settings=settings, now=as_utc(now)).as_dict()
    finally:
        engine.dispose()
