"""
### finsent_ingest: feeds → articles, every 15 minutes

Fetches every enabled feed once and stores its new stories as articles
(`pipeline.ingest.ingest_feeds`). The enabled feeds are split into batches of
`batch_size` (a DAG param; default `FINSENT_INGEST_BATCH_SIZE`, 25) and one mapped
`ingest_batch` task ingests each batch, so a large feed list spreads over the Celery
workers. When every batch has succeeded, `articles_stored` updates the `articles`
asset, which starts `finsent_score`.

Idempotent: articles are deduplicated (GUID, canonical URL, content hash), so a retried
task or a re-run stores nothing twice; a feed polled less than
`FINSENT_FEED_MIN_INTERVAL_SECONDS` ago is skipped. XCom carries feed ids and counts only.
There is no backfill: a feed serves what it holds now (see README, "Backfilling").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipeline import orchestration

SETTINGS = orchestration.dag_settings()
ARTICLES = Asset(*orchestration.ARTICLES_ASSET)


@dag(
    dag_id="finsent_ingest",
    schedule="*/15 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=orchestration.TASK_DEFAULTS,
    doc_md=__doc__,
    tags=["finsent", "ingest"],
    params={
        "batch_size": Param(
            SETTINGS.ingest_batch_size,
            type="integer",
            minimum=1,
            maximum=10_000,
            description="Feeds per mapped ingest task.",
        )
    },
)
def finsent_ingest() -> None:
    @task
    def plan_batches() -> list[list[int]]:
        """The enabled feed ids, in batches of `batch_size`."""
        params = get_current_context()["params"]
        return orchestration.feed_batches(
            settings=orchestration.dag_settings(), batch_size=int(params["batch_size"])
        )

    @task(map_index_template="{{ batch_label }}")
    def ingest_batch(feed_ids: list[int]) -> dict[str, Any]:
        """Ingest one batch of feeds; returns its counts."""
        # Names the mapped task in the UI by its feeds instead of its index.
        get_current_context()["batch_label"] = f"feeds {feed_ids[0]}..{feed_ids[-1]}"
        return orchestration.ingest_batch(settings=orchestration.dag_settings(), feed_ids=feed_ids)

    @task(outlets=[ARTICLES])
    def articles_stored(reports: list[dict[str, Any]]) -> dict[str, int]:
        """The run's counts; succeeding updates the `articles` asset."""
        return orchestration.ingest_total(reports)

    articles_stored(ingest_batch.expand(feed_ids=plan_batches()))


finsent_ingest()
