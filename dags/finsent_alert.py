"""
### finsent_alert: scores → alerts, detection and delivery

Evaluates the negative-news spike rule for every topic and overall, moves alerts
through pending → firing → resolved and sends the deliveries that are due (webhook,
email, or the outbox folder), all in `pipeline.alerts.run_detection`, as of the DAG
run's time: its logical date for scheduled and backfill runs, the time the `scores`
event queued it otherwise.

Scheduled on the `scores` asset (new scores are evaluated at once) *or* every 15
minutes: time passing alone resolves alerts and retries failed deliveries, and the
timetable makes the DAG backfillable:
`airflow backfill create --dag-id finsent_alert --from-date … --to-date …` evaluates
each 15-minute tick in the range (see README, "Backfilling"). One run at a time, so
evaluations happen in order.

Idempotent: evaluating the same time again changes no alert and sends nothing twice
(deliveries are recorded per alert, event and target). XCom carries counts only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    dag,
    get_current_context,
    task,
)

from pipeline import orchestration

SCORES = Asset(*orchestration.SCORES_ASSET)


@dag(
    dag_id="finsent_alert",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"), assets=[SCORES]
    ),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=orchestration.TASK_DEFAULTS,
    doc_md=__doc__,
    tags=["finsent", "alerts"],
)
def finsent_alert() -> None:
    @task
    def detect_and_notify() -> dict[str, Any]:
        """One detection run as of the run's time; returns its counts."""
        context = get_current_context()
        # Asset-triggered runs have no logical date; run_after is when they were queued.
        # Either way a retry evaluates the same instant again.
        now = context.get("logical_date") or context["dag_run"].run_after
        return orchestration.detect(settings=orchestration.dag_settings(), now=now)

    detect_and_notify()


finsent_alert()
