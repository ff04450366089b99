"""Scale-out for real: Airflow's api-server, scheduler, dag-processor and two Celery workers
(``w1`` and ``w2``), started natively against a fresh PostgreSQL metadata database and
the local Redis, run ``finsent_ingest`` over 52 feeds on loopback and then the
``finsent_score`` run its ``articles`` asset starts. The task-instance records show both
workers at work, and the counts each task reported add up to exactly the rows in the
database: no article and no score was written twice.

Every process is started in a process group of its own and stopped through it, by its
own id, when the test ends, whether it passed or not. The log names both workers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import redis
from cryptography.fernet import Fernet
from dag_helpers import AIRFLOW, excerpt, feed_server, ordinary_items, rss, run, subprocess_env
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from pipeline.db import make_engine
from pipeline.deploy import main as deploy_main
from pipeline.ingest.feeds import add_feed
from pipeline.schema import Article, Score

pytestmark = [pytest.mark.airflow, pytest.mark.integration]

# The same servers as tests/conftest.py; Redis gets a database number of its own.
PG_ADMIN_DSN = os.environ.get(
    "FINSENT_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
PG_URL_BASE = os.environ.get(
    "FINSENT_TEST_PG_URL_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
REDIS_URL = os.environ.get("FINSENT_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
HERE = Path(__file__).resolve().parent

WORKERS = ("w1", "w2")
FEEDS = 52
ITEMS_PER_FEED = 4
BATCH_SIZE = 5  # 11 mapped ingest tasks
RANGE_SIZE = 60  # 4 mapped scoring tasks
ADMIN_PASSWORD = secrets.token_hex(16)

T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Stack:
    """The Airflow processes of one test, each logging to a file of its own."""

    root: Path
    env: dict[str, str]
    api_url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def start(self, name: str, args: list[str], **extra_env: str) -> None:
        with self.log(name).open("wb") as log:
            # A session of its own: the process and everything it forks share one
            # process group, which stop() signals by this process's id.
            self.processes[name] = subprocess.Popen(
                args,
                env={**self.env, **extra_env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def assert_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(
                    f"{name} exited with {process.returncode}:\n{self.tail(name, 60)}"
                )

    def tail(self, name: str, lines: int = 25) -> str:
        text = self.log(name).read_text(errors="replace") if self.log(name).exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def report(self) -> str:
        """The end of every process's log and the first failed task's traceback."""
        parts = [f"--- {name} ---\n{self.tail(name)}" for name in self.processes]
        for path in sorted((self.root / "home" / "logs").rglob("*.log")):
            text = path.read_text(errors="replace")
            if "Traceback" in text:
                parts.append(f"--- task log {path.name} ---\n{excerpt(text)}")
                break
        return "\n".join(parts)

    def stop(self) -> None:
        """SIGTERM to every group (workers first, the API server last), then SIGKILL to
        what is left of each group once its leader has exited or 30 s have passed."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        for process in reversed(list(self.processes.values())):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=30)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)  # the group whose id is this process's own


def wait_for(what: str, check: Callable[[], T | None], *, stack: Stack, timeout: float) -> T:
    """Poll ``check`` every 2 s until it returns something truthy, failing with the logs
    if a process dies or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        stack.assert_alive()
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout:.0f} s\n{stack.report()}")
        time.sleep(2)


class Api:
    """Airflow's REST API as the admin (simple auth manager, the password from the
    passwords file that ``python -m pipeline.deploy airflow-admin`` wrote)."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)

    def login(self) -> None:
        response = self.client.post(
            "/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(f"/api/v2{path}", params=params)
        response.raise_for_status()
        return response.json()

    def send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        response = self.client.request(method, f"/api/v2{path}", json=body)
        assert response.status_code < 300, (path, response.status_code, response.text)
        return response.json()

    def healthy(self) -> bool:
        try:
            health = self.client.get("/api/v2/monitor/health").json()
        except (httpx.HTTPError, ValueError):
            return False
        return all(
            (health.get(part) or {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "dag_processor")
        )

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return self.get(path, limit=1000)["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.get(path)["value"]


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    """A fresh metadata database, then api-server, scheduler, dag-processor and two
    workers; everything stopped and dropped afterwards."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:  # an environment failure, never a skip
        pytest.fail(f"Redis is required at {REDIS_URL} (the Celery broker): {exc}")
    metadata_db = f"finsent_airflow_{uuid.uuid4().hex[:12]}"
    queue = f"finsent-test-{uuid.uuid4().hex[:8]}"
    home = tmp_path / "home"
    home.mkdir()
    port = _free_port()
    admin_url = make_url(PG_URL_BASE)
    airflow_db = admin_url.set(drivername="postgresql+psycopg2", database=metadata_db)
    env = subprocess_env(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=airflow_db.render_as_string(hide_password=False),
        AIRFLOW__CELERY__BROKER_URL=REDIS_URL,
        AIRFLOW__CELERY__RESULT_BACKEND="db+"
        + airflow_db.set(drivername="postgresql").render_as_string(hide_password=False),
        AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER="1",
        # A queue of this test's own: nothing else on this Redis can take its tasks.
        AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
        AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode(),
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
        AIRFLOW__API__SECRET_KEY=secrets.token_hex(32),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        # Short intervals: the DAG files are found at once and parsed once a minute.
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="60",
        AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        FINSENT_DATABASE_URL=pg_url,
        FINSENT_ALLOW_PRIVATE_NETWORKS="1",
        FINSENT_DEVICE="cpu",
        FINSENT_INGEST_BATCH_SIZE=str(BATCH_SIZE),
        FINSENT_SCORE_RANGE_SIZE=str(RANGE_SIZE),
        FINSENT_OUTBOX_DIR=str(tmp_path / "outbox"),
    )
    stack = Stack(root=tmp_path, env=env, api_url=f"http://127.0.0.1:{port}")
    # The init job's steps, as docker-compose.yml runs them.
    create = ["create-database", metadata_db, "--url", f"{PG_URL_BASE}/postgres"]
    assert deploy_main(create) == 0
    try:
        migrated = run([AIRFLOW, "db", "migrate"], env=env, timeout=300)
        print(f"airflow db migrate (PostgreSQL): {migrated.seconds:.1f} s")
        admin = ["airflow-admin", "--file", str(home / "passwords.json")]
        assert deploy_main(admin, environ={"AIRFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD}) == 0

        stack.start("api-server", [AIRFLOW, "api-server"])
        stack.start("scheduler", [AIRFLOW, "scheduler"])
        stack.start("dag-processor", [AIRFLOW, "dag-processor"])
        for name in WORKERS:
            stack.start(
                name,
                [
                    AIRFLOW,
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"{name}@%h",
                    "--queues",
                    queue,
                    "--concurrency",
                    "2",
                    # Both write task logs into the one AIRFLOW_HOME the API server reads.
                    "--skip-serve-logs",
                ],
                FINSENT_TEST_WORKER_NAME=name,
                AIRFLOW__CORE__HOSTNAME_CALLABLE="worker_identity.hostname",
                PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
            )
        yield stack
    finally:
        stack.stop()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{metadata_db}" WITH (FORCE)')
        broker = redis.Redis.from_url(REDIS_URL)
        for key in broker.scan_iter(match=f"*{queue}*"):
            broker.delete(key)
        broker.close()


def _terminal(runs: list[dict[str, Any]]) -> bool:
    return bool(runs) and all(r["state"] in ("success", "failed") for r in runs)


@pytest.mark.timeout(600)
def test_two_celery_workers_share_ingest_and_scoring(
    stack: Stack, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    bodies = {
        f"/feed-{i}.xml": rss(ordinary_items(now, ITEMS_PER_FEED, prefix=f"f{i}"))
        for i in range(FEEDS)
    }
    engine = make_engine(pg_url)
    with feed_server(bodies) as server:
        with Session(engine) as session, session.begin():
            for path in bodies:
                add_feed(session=session, url=server.url(path), allow_private=True)

        api = Api(stack.api_url)
        wait_for("healthy scheduler and dag-processor", api.healthy, stack=stack, timeout=240)
        api.login()

        def parsed() -> dict[str, Any] | None:
            dags = {d["dag_id"]: d for d in api.get("/dags", limit=100)["dags"]}
            return dags.get("finsent_ingest") if "finsent_score" in dags else None

        ingest_dag = wait_for("parsed DAGs", parsed, stack=stack, timeout=180)
        for name in WORKERS:
            # Celery's own line once the worker consumes: "w1@<host> ready."
            wait_for(
                f"worker {name}",
                lambda name=name: f"{name}@" in (log := stack.tail(name, 400)) and " ready." in log,
                stack=stack,
                timeout=180,
            )
        ready = time.monotonic() - started

        # Triggered for the logical date the scheduler would take next, so unpausing
        # does not add a scheduled run beside this one (a later 15-minute tick may).
        run_id = "scale-out-ingest"
        api.send(
            "POST",
            "/dags/finsent_ingest/dagRuns",
            {"dag_run_id": run_id, "logical_date": ingest_dag["next_dagrun_logical_date"]},
        )
        for dag_id in ("finsent_score", "finsent_ingest"):
            api.send("PATCH", f"/dags/{dag_id}", {"is_paused": False})

        def ingest_finished() -> dict[str, Any] | None:
            dag_run = api.get(f"/dags/finsent_ingest/dagRuns/{run_id}")
            return dag_run if dag_run["state"] in ("success", "failed") else None

        ingest_run = wait_for("finished ingest run", ingest_finished, stack=stack, timeout=300)
        assert ingest_run["state"] == "success", stack.report()
        ingested = time.monotonic() - started

        def all_scored() -> bool:
            with Session(engine) as session:
                articles = session.scalar(select(func.count()).select_from(Article))
                scores = session.scalar(select(func.count()).select_from(Score))
            return (
                articles == scores
                and _terminal(api.runs("finsent_score"))
                and _terminal(api.runs("finsent_ingest"))
            )

        wait_for("scored articles", all_scored, stack=stack, timeout=360)
        scored = time.monotonic() - started

    ingest_runs = api.runs("finsent_ingest")
    score_runs = api.runs("finsent_score")
    assert {r["state"] for r in ingest_runs + score_runs} == {"success"}, stack.report()
    assert any(r["run_type"] == "asset_triggered" for r in score_runs), score_runs

    with Session(engine) as session:
        articles = session.scalar(select(func.count()).select_from(Article))
        scores = session.scalar(select(func.count()).select_from(Score))
        scored_articles = session.scalar(select(func.count(func.distinct(Score.article_id))))
    engine.dispose()
    assert articles == FEEDS * ITEMS_PER_FEED
    assert scores == scored_articles == articles

    # What the tasks say they wrote adds up to the rows there are: nothing twice.
    rows: list[tuple[str, str, int, str]] = []
    written = {"new_articles": 0, "scored": 0}
    for dag_id, runs, total_task, count in (
        ("finsent_ingest", ingest_runs, "articles_stored", "new_articles"),
        ("finsent_score", score_runs, "scores_stored", "scored"),
    ):
        for dag_run in runs:
            instances = api.task_instances(dag_id, dag_run["dag_run_id"])
            rows += [
                (dag_id, ti["task_id"], ti["map_index"], ti["hostname"] or "")
                for ti in instances
                if ti["state"] == "success"
            ]
            total = next(ti for ti in instances if ti["task_id"] == total_task)
            if total["state"] == "success":  # skipped: the run wrote nothing
                written[count] += int(api.xcom(dag_id, dag_run["dag_run_id"], total_task)[count])
    assert written == {"new_articles": articles, "scored": scores}

    mapped_ingest = {host for dag, task, _, host in rows if task == "ingest_batch"}
    mapped_score = {host for dag, task, _, host in rows if task == "score_range"}
    assert len([r for r in rows if r[1] == "ingest_batch"]) >= -(-FEEDS // BATCH_SIZE)
    assert mapped_ingest == set(WORKERS), rows
    assert mapped_ingest | mapped_score == set(WORKERS)
    with capsys.disabled():
        print(
            f"\nscale-out: workers {', '.join(WORKERS)}; {articles} articles, {scores} scores; "
            f"ready {ready:.0f} s, ingested {ingested:.0f} s, scored {scored:.0f} s"
        )
        for worker in WORKERS:
            ran = sorted(f"{task}[{index}]" for _, task, index, host in rows if host == worker)
            print(f"  {worker} ran {len(ran)} task instances: {' '.join(ran)}")
