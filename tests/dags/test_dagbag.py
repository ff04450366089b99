"""The DAG folder as Airflow's DagBag sees it: no import errors, fast parsing, the three
DAGs with their schedules, retries and routing, and no heavy import at parse time.

Parsing runs in a subprocess, as the dag-processor does, so that ``sys.modules`` there
shows exactly what the DAG files import (this test process has torch loaded by others).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from dag_helpers import AIRFLOW, DAGS_FOLDER, run, subprocess_env

pytestmark = pytest.mark.airflow

# Parses the folder under three environments and prints what the test checks as JSON.
PROBE = r"""
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
from pipeline.settings import get_settings

HEAVY = ("torch", "transformers", "peft", "safetensors", "feedparser", "tqdm",
         "models.scorer", "models.network", "models.checkpoint",
         "pipeline.ingest", "pipeline.scoring", "pipeline.alerts", "pipeline.wiring")

def parse(env):
    os.environ.update(env)
    get_settings.cache_clear()
    bag = DagBag(dag_folder=sys.argv[1])
    for key in env:
        del os.environ[key]
    return bag

def describe(bag):
    return {
        dag_id: {
            "fileloc": os.path.basename(dag.fileloc),
            "schedule": type(dag.timetable).__name__,
            "time_part": type(getattr(dag.timetable, "timetable", None)).__name__,
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tags": sorted(dag.tags),
            "doc_md": dag.doc_md or "",
            "params": {k: dag.params[k] for k in dag.params},
            "tasks": {
                t.task_id: {
                    "retries": t.retries,
                    "backoff": t.retry_exponential_backoff,
                    "queue": t.queue,
                    "pool": t.pool,
                    "outlets": [getattr(a, "name", None) for a in t.outlets],
                }
                for t in dag.tasks
            },
        }
        for dag_id, dag in bag.dags.items()
    }

plain = parse({})
heavy = sorted(m for m in sys.modules if m in HEAVY or m.split(".")[0] in HEAVY)
routed = parse({"FINSENT_SCORE_QUEUE": "gpu", "FINSENT_INGEST_BATCH_SIZE": "7"})
broken = parse({"FINSENT_SCORE_RANGE_SIZE": "0"})
print("PROBE" + json.dumps({
    "errors": plain.import_errors,
    "seconds": {os.path.basename(s.file): s.duration.total_seconds() for s in plain.dagbag_stats},
    "dags": describe(plain),
    "heavy": heavy,
    "routed": describe(routed),
    "broken_errors": {os.path.basename(k): v for k, v in broken.import_errors.items()},
}))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow-parse")
    ran = run(
        [str(Path(AIRFLOW).with_name("python")), "-c", PROBE, str(DAGS_FOLDER)],
        env=subprocess_env(AIRFLOW_HOME=str(home)),
        timeout=120,
    )
    line = next(line for line in ran.output.splitlines() if line.startswith("PROBE"))
    return json.loads(line.removeprefix("PROBE"))


def test_no_import_errors_and_the_three_dags(probe: dict) -> None:
    assert probe["errors"] == {}
    assert sorted(probe["dags"]) == ["finsent_alert", "finsent_ingest", "finsent_score"]
    for dag_id, dag in probe["dags"].items():
        assert dag["fileloc"] == f"{dag_id}.py", "one DAG per file, named for it"
        assert dag["catchup"] is False and dag["max_active_runs"] == 1
        assert "finsent" in dag["tags"] and len(dag["tags"]) >= 2
        assert dag["doc_md"].lstrip().startswith(f"### {dag_id}")


def test_each_file_parses_under_two_seconds(probe: dict) -> None:
    assert sorted(probe["seconds"]) == ["finsent_alert.py", "finsent_ingest.py", "finsent_score.py"]
    assert max(probe["seconds"].values()) < 2.0, probe["seconds"]


def test_no_heavy_import_at_parse_time(probe: dict) -> None:
    # torch, the model and the stages load inside task bodies only.
    assert probe["heavy"] == []


def test_every_task_retries_with_exponential_backoff(probe: dict) -> None:
    for dag in probe["dags"].values():
        for task_id, task in dag["tasks"].items():
            assert task["retries"] >= 2, task_id
            assert task["backoff"] > 1, task_id


def test_schedules_and_assets_chain_the_dags(probe: dict) -> None:
    dags = probe["dags"]
    assert dags["finsent_ingest"]["schedule"] == "CronTriggerTimetable"
    assert dags["finsent_ingest"]["tasks"]["articles_stored"]["outlets"] == ["articles"]
    assert dags["finsent_score"]["schedule"] == "AssetTriggeredTimetable"
    assert dags["finsent_score"]["tasks"]["scores_stored"]["outlets"] == ["scores"]
    # The scores asset or every 15 minutes; the time part makes it backfillable.
    assert dags["finsent_alert"]["schedule"] == "AssetOrTimeSchedule"
    assert dags["finsent_alert"]["time_part"] == "CronTriggerTimetable"
    # Work split by mapped tasks; the split size is a DAG param with the settings' default.
    assert dags["finsent_ingest"]["params"] == {"batch_size": 25}
    assert dags["finsent_score"]["params"] == {"range_size": 2000}


def test_scoring_routes_to_the_configured_queue_and_pool(probe: dict) -> None:
    default = probe["dags"]["finsent_score"]["tasks"]["score_range"]
    assert (default["queue"], default["pool"]) == ("default", "default_pool")
    routed = probe["routed"]["finsent_score"]["tasks"]
    assert (routed["score_range"]["queue"], routed["score_range"]["pool"]) == ("gpu", "gpu")
    # Only the scoring itself: planning and the asset update stay on the default queue.
    assert routed["plan_ranges"]["queue"] == routed["scores_stored"]["queue"] == "default"
    assert probe["routed"]["finsent_ingest"]["params"] == {"batch_size": 7}


def test_a_bad_setting_is_an_import_error_naming_the_variable(probe: dict) -> None:
    errors = probe["broken_errors"]
    assert sorted(errors) == ["finsent_ingest.py", "finsent_score.py"]
    for error in errors.values():
        last = error.strip().splitlines()[-1]
        assert "FINSENT_SCORE_RANGE_SIZE" in last and "allowed: [1, 10000000]" in last, last


def test_list_import_errors_is_empty(airflow_env: Callable[..., dict[str, str]]) -> None:
    ran = run(
        [AIRFLOW, "dags", "list-import-errors", "--local", "--output", "json"],
        env=airflow_env(),
        timeout=120,
    )
    assert json.loads(ran.output.strip().splitlines()[-1]) == []
