"""pipeline.orchestration and pipeline.deploy without Airflow: splitting, totals, routing,
the model version read from the card, the tasks' calls on a real SQLite database, and
the init job's steps."""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pendulum
import pytest
from dag_helpers import run, subprocess_env
from sqlalchemy.orm import Session

from models import SHIPPED_MODEL_DIR
from pipeline import orchestration
from pipeline.db import make_engine
from pipeline.deploy import main as deploy_main
from pipeline.deploy import secret_problems, write_admin_password
from pipeline.errors import FinsentError
from pipeline.ingest.feeds import add_feed
from pipeline.settings import Settings, get_settings

FIXTURE_FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


def test_batches_keep_order_and_cover_every_id_once() -> None:
    assert orchestration.batches([3, 5, 8, 9, 12], 2) == [[3, 5], [8, 9], [12]]
    assert orchestration.batches([], 25) == []
    assert orchestration.batches([1, 2], 25) == [[1, 2]]
    with pytest.raises(FinsentError):
        orchestration.batches([1], 0)


def test_totals_add_the_counts_of_mapped_tasks() -> None:
    reports = [
        {"feeds": 2, "fetched": 2, "new_articles": 10, "errors": 0, "seconds": 0.5},
        {"feeds": 1, "skipped": 1, "new_articles": 0, "errors": 1, "seconds": 0.1},
    ]
    total = orchestration.ingest_total(reports)
    assert total["feeds"] == 3 and total["new_articles"] == 10 and total["errors"] == 1
    assert "seconds" not in total, "times do not add up over parallel tasks"
    assert orchestration.score_total([{"scored": 4}, {"scored": 6, "empty_text": 1}]) == {
        "scored": 10,
        "empty_text": 1,
    }
    assert orchestration.score_total([]) == {"scored": 0, "empty_text": 0}


@pytest.mark.parametrize(
    ("queue", "routing"),
    [(None, {}), ("", {}), ("  ", {}), ("gpu", {"queue": "gpu", "pool": "gpu"})],
)
def test_score_routing_follows_the_setting(queue: str | None, routing: dict) -> None:
    assert orchestration.score_task_routing(Settings(score_queue=queue)) == routing


def test_dag_settings_turn_a_bad_value_into_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_INGEST_BATCH_SIZE", "0")
    get_settings.cache_clear()
    with pytest.raises(FinsentError) as caught:
        orchestration.dag_settings()
    assert "FINSENT_INGEST_BATCH_SIZE" in str(caught.value) and "\n" not in str(caught.value)


def test_as_utc_survives_pendulum_arithmetic() -> None:
    # What Airflow hands a task: a pendulum DateTime, here one whose tzinfo is datetime.UTC;
    # pendulum drops that zone in arithmetic, a plain datetime keeps it.
    logical = pendulum.datetime(2026, 3, 2, 15, tz="UTC").astimezone(UTC)
    assert (logical - timedelta(hours=2)).tzinfo is None
    plain = orchestration.as_utc(logical)
    assert type(plain) is datetime and plain == datetime(2026, 3, 2, 15, tzinfo=UTC)
    assert (plain - timedelta(hours=2)).tzinfo is UTC


def test_model_version_is_the_cards_without_loading_the_model(tmp_path: Path) -> None:
    card = json.loads((SHIPPED_MODEL_DIR / "model_card.json").read_text())
    assert orchestration.model_version(Settings()) == card["version"]
    unversioned = tmp_path / "my-model"
    unversioned.mkdir()
    (unversioned / "model_card.json").write_text("{}")
    assert orchestration.model_version(Settings(model_dir=unversioned)) == "my-model"
    with pytest.raises(FinsentError, match="cannot read the model card"):
        orchestration.model_version(Settings(model_dir=tmp_path / "missing"))


def test_tasks_split_and_ingest_on_a_real_database(sqlite_url: str) -> None:
    feeds = sorted(FIXTURE_FEEDS.rglob("*.xml"))[:3]
    assert len(feeds) == 3
    engine = make_engine(sqlite_url)
    with Session(engine) as session, session.begin():
        for path in feeds:
            add_feed(session=session, url=path.as_uri(), allow_private=True)
    engine.dispose()
    settings = Settings(database_url=sqlite_url, allow_private_networks=True)

    plan = orchestration.feed_batches(settings=settings, batch_size=2)
    assert plan == [[1, 2], [3]]
    reports = [orchestration.ingest_batch(settings=settings, feed_ids=ids) for ids in plan]
    assert [r["feeds"] for r in reports] == [2, 1]
    assert all("details" not in r for r in reports), "no URLs or error texts in XCom"
    json.dumps(reports)  # XCom values are JSON
    stored = orchestration.ingest_total(reports)["new_articles"]
    assert stored > 0

    ranges = orchestration.score_ranges(settings=settings, range_size=max(1, stored // 2))
    assert ranges and all(low <= high for low, high in ranges)
    assert json.loads(json.dumps(ranges)) == ranges
    # Re-running the batches stores nothing twice.
    again = [orchestration.ingest_batch(settings=settings, feed_ids=ids) for ids in plan]
    assert orchestration.ingest_total(again)["new_articles"] == 0


def test_tasks_refuse_a_database_without_schema(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'none.db'}")
    with pytest.raises(FinsentError, match="finsent db upgrade"):
        orchestration.feed_batches(settings=settings, batch_size=5)
    with pytest.raises(FinsentError):
        orchestration.score_range(settings=settings, id_range=[5, 1])


def test_secret_problems_name_each_bad_secret() -> None:
    env = {"A": "changeme", "B": "", "C": "short", "D": "a" * 24, "E": " Secret "}
    assert secret_problems(["A", "B", "C", "D", "E", "F"], env) == [
        "A is a placeholder",
        "B is not set",
        "C is shorter than 12 characters",
        "E is a placeholder",
        "F is not set",
    ]


def test_deploy_main_prints_one_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy_main(["check-secrets", "X", "Y"], environ={"Y": "changeme"}) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "finsent: error: refusing to start: X is not set; Y is a placeholder "
        "(set real values in .env)\n"
    )
    assert deploy_main(["check-secrets", "X"], environ={"X": "x" * 32}) == 0
    assert capsys.readouterr().out == "1 secrets set\n"


def test_admin_password_file_is_private_and_keeps_other_users(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "passwords.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"viewer": "viewer-password-1234"}))
    write_admin_password(path=path, user="admin", password="a-long-admin-password")
    assert json.loads(path.read_text()) == {
        "viewer": "viewer-password-1234",
        "admin": "a-long-admin-password",
    }
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(FinsentError, match="placeholder"):
        write_admin_password(path=path, user="admin", password="changeme")


def test_pipeline_never_imports_airflow() -> None:
    # The DAGs import pipeline; pipeline (these modules included) must not need Airflow.
    code = (
        "import sys, pipeline.orchestration, pipeline.deploy, pipeline.cli, models; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    )
    ran = run([sys.executable, "-c", code], env=subprocess_env(), timeout=120)
    assert ran.output.strip().splitlines()[-1] == "[]"
