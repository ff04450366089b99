"""
### finsent_score: articles → scores, when new articles are stored

Runs on every update of the `articles` asset. `plan_ranges` splits the articles that
have no score from the current model version into inclusive id ranges of about
`range_size` articles (a DAG param; default `FINSENT_SCORE_RANGE_SIZE`, 2000), and one
mapped `score_range` task scores each range with the model in `FINSENT_MODEL_DIR`
(`pipeline.scoring.score_articles`), so the work spreads over the workers.
With `FINSENT_SCORE_QUEUE` set (say `gpu`), the scoring tasks go to that Celery queue
and a pool of that name, i.e. to the GPU workers; unset, to the default queue.
When anything was scored, `scores_stored` updates the `scores` asset, which starts
`finsent_alert`.

Idempotent: a score is written once per (article, model version) and, on PostgreSQL,
rows are claimed with `SKIP LOCKED`, so retries, re-runs and overlapping runs never
score an article twice. The plan picks up any backlog (a failed earlier run, a new
model version). XCom carries id ranges and counts only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipeline import orchestration

SETTINGS = orchestration.dag_settings()
ARTICLES = Asset(*orchestration.ARTICLES_ASSET)
SCORES = Asset(*orchestration.SCORES_ASSET)


@dag(
    dag_id="finsent_score",
    schedule=[ARTICLES],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=orchestration.TASK_DEFAULTS,
    doc_md=__doc__,
    tags=["finsent", "scoring"],
    params={
        "range_size": Param(
            SETTINGS.score_range_size,
            type="integer",
            minimum=1,
            maximum=10_000_000,
            description="Articles per mapped scoring task.",
        )
    },
)
def finsent_score() -> None:
    @task
    def plan_ranges() -> list[list[int]]:
        """The unscored articles as inclusive [low, high] id ranges."""
        params = get_current_context()["params"]
        return orchestration.score_ranges(
            settings=orchestration.dag_settings(), range_size=int(params["range_size"])
        )

    @task(map_index_template="{{ range_label }}", **orchestration.score_task_routing(SETTINGS))
    def score_range(id_range: list[int]) -> dict[str, Any]:
        """Score one id range (loads the model: torch is imported here, not at parse time)."""
        get_current_context()["range_label"] = f"articles {id_range[0]}..{id_range[1]}"
        return orchestration.score_range(settings=orchestration.dag_settings(), id_range=id_range)

    @task(outlets=[SCORES])
    def scores_stored(reports: list[dict[str, Any]]) -> dict[str, int]:
        """The run's counts; updates the `scores` asset only when something was scored."""
        from airflow.sdk.exceptions import AirflowSkipException

        counts = orchestration.score_total(reports)
        if counts["scored"] == 0:
            # Skipped, not failed: nothing new for detection, so no asset event.
            raise AirflowSkipException("no new scores")
        return counts

    scores_stored(score_range.expand(id_range=plan_ranges()))


finsent_score()
