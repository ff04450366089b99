"""The live demo: Airflow running finsent's DAGs and the dashboard, on this machine.

As ``airflow standalone`` does, the four Airflow components (api-server, scheduler,
dag-processor, triggerer) run as ``airflow`` subprocesses with the LocalExecutor and a
SQLite metadata database, here under ``<home>/airflow``; login is disabled (every
user is an admin), so the API server is bound to 127.0.0.1 only. The dashboard is
``streamlit run dashboard/streamlit_app.py`` on the same loopback address.

Every child starts in a process group of its own and is stopped by its id — SIGTERM
to the group, SIGKILL after a grace period — on Ctrl-C, on an error, or at exit.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from pipeline.errors import FinsentError
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
DASHBOARD_APP = REPO / "dashboard" / "streamlit_app.py"
AIRFLOW_COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
DEMO_DAGS = ("finsent_ingest", "finsent_score", "finsent_alert")


def require_free_port(port: int, *, what: str) -> None:
    """A one-line error naming the port when something already listens on it."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise FinsentError(
                f"port {port} ({what}) is already in use; stop what uses it or choose another"
            ) from None


def _venv_bin() -> Path:
    return Path(sys.executable).parent


def _persistent_secret(path: Path) -> str:
    """A random secret kept in ``path`` so that restarts (and every component) agree."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def airflow_environment(*, home: Path, settings: Settings, api_port: int) -> dict[str, str]:
    """The environment of every Airflow process of the demo, finsent's settings included."""
    airflow_home = (home / "airflow").resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            # `airflow standalone` style: its parts find `airflow` on PATH.
            "PATH": f"{_venv_bin()}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            # Local use only: no login, hence bound to 127.0.0.1.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": _persistent_secret(airflow_home / "jwt-secret"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "30",
            # finsent's own settings, for the DAG tasks.
            "FINSENT_DATABASE_URL": settings.database_url,
            "FINSENT_OUTBOX_DIR": str(settings.outbox_dir),
            "FINSENT_ALLOW_PRIVATE_NETWORKS": "1",
            "FINSENT_FEED_MIN_INTERVAL_SECONDS": "0",
        }
    )
    return env


def group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs (zombies waiting to be reaped
    by init do not count: they run nothing)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@dataclass
class Child:
    """One process the demo started, in a process group of its own."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, *, grace: float = 10.0) -> None:
        """SIGTERM to the whole group, SIGKILL to whatever is left after ``grace``."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        deadline = time.monotonic() + grace
        # Grandchildren (Airflow's task runners, serve-logs) share the group: wait for them
        # too, then kill any that ignore SIGTERM.
        while group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        self.log.close()


@dataclass
class Children:
    """The demo's processes, stopped together, newest first."""

    logs: Path
    running: list[Child] = field(default_factory=list)

    def start(self, name: str, command: list[str], *, env: dict[str, str], cwd: Path) -> Child:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as one, by id
        )
        child = Child(name=name, process=process, log=log)
        self.running.append(child)
        return child

    def check(self) -> None:
        """A one-line error naming the first child that died, and where its log is."""
        for child in self.running:
            if not child.alive():
                raise FinsentError(
                    f"{child.name} stopped (exit {child.process.returncode}); "
                    f"see {self.logs / (child.name + '.log')}"
                )

    def stop_all(self) -> None:
        for child in reversed(self.running):
            child.stop()
        self.running.clear()


@contextmanager
def supervised(logs: Path) -> Iterator[Children]:
    """Children that are stopped whatever happens: Ctrl-C, SIGTERM, an error."""
    children = Children(logs=logs)

    def _terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield children
    finally:
        # A second Ctrl-C (or SIGTERM) while stopping must not leave children behind.
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            children.stop_all()
        finally:
            signal.signal(signal.SIGINT, interrupt)
            signal.signal(signal.SIGTERM, previous)


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    children: Children,
    timeout: float,
    report: Callable[[str], None],
) -> None:
    """Poll ``ready`` until it holds, saying every 15 s that we are still waiting."""
    started = time.monotonic()
    last_report = started
    while not ready():
        children.check()
        now = time.monotonic()
        if now - started > timeout:
            raise FinsentError(f"{what} did not come up within {timeout:.0f}s; see {children.logs}")
        if now - last_report >= 15:
            report(f"      still waiting for {what} ({now - started:.0f}s)")
            last_report = now
        time.sleep(1)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2.0, trust_env=False).status_code < 500
        except httpx.HTTPError:
            return False

    return check


def airflow(*args: str, env: dict[str, str], timeout: float = 600) -> str:
    """Run one ``airflow`` CLI command; a one-line error with its last line on failure."""
    result = subprocess.run(
        [str(_venv_bin() / "airflow"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise FinsentError(f"`airflow {' '.join(args)}` failed: {last}")
    return result.stdout


@dataclass(frozen=True)
class LivePorts:
    api: int = 8080
    dashboard: int = 8501


def serve_demo(
    *,
    home: Path,
    settings: Settings,
    ports: LivePorts,
    report: Callable[[str], None],
    first_step: int,
    steps: int,
) -> None:
    """Start Airflow and the dashboard on the demo's data; return when interrupted."""
    env = airflow_environment(home=home, settings=settings, api_port=ports.api)
    step = first_step
    with supervised(home / "logs") as children:
        report(f"[{step}/{steps}] Airflow: metadata database under {home / 'airflow'} ...")
        airflow("db", "migrate", env=env)
        for component in AIRFLOW_COMPONENTS:
            children.start(f"airflow-{component}", ["airflow", component], env=env, cwd=REPO)
        wait_until(
            http_ok(f"http://127.0.0.1:{ports.api}/api/v2/monitor/health"),
            what="the Airflow API server",
            children=children,
            timeout=300,
            report=report,
        )
        step += 1
        report(f"[{step}/{steps}] Airflow: scheduling {', '.join(DEMO_DAGS)} ...")
        for dag_id in DEMO_DAGS:
            wait_until(
                _dag_known(dag_id, env),
                what=f"the {dag_id} DAG to be parsed",
                children=children,
                timeout=300,
                report=report,
            )
            airflow("dags", "unpause", dag_id, env=env, timeout=120)
        # The next scheduled ingest may be up to 15 minutes away: start one now, so the
        # UI shows the whole chain (ingest → score → alert, through the assets) at once.
        airflow("dags", "trigger", "finsent_ingest", env=env, timeout=120)
        step += 1
        report(f"[{step}/{steps}] dashboard on http://127.0.0.1:{ports.dashboard} ...")
        dashboard_env = {
            **env,
            "FINSENT_DASHBOARD_HOST": "127.0.0.1",
            "FINSENT_DASHBOARD_PORT": str(ports.dashboard),
        }
        children.start(
            "dashboard", [str(_venv_bin() / "finsent"), "dashboard"], env=dashboard_env, cwd=REPO
        )
        wait_until(
            http_ok(f"http://127.0.0.1:{ports.dashboard}/_stcore/health"),
            what="the dashboard",
            children=children,
            timeout=180,
            report=report,
        )
        report(
            "\nfinsent demo is running:\n"
            f"  dashboard   http://127.0.0.1:{ports.dashboard}\n"
            f"  Airflow UI  http://127.0.0.1:{ports.api}  (no login: local use only)\n"
            f"  outbox      {settings.outbox_dir}/  (the alert's email and webhook body)\n"
            f"  logs        {home / 'logs'}/\n"
            "  stop        Ctrl-C (stops everything the demo started)\n"
        )
        try:
            while True:
                children.check()
                time.sleep(2)
        except KeyboardInterrupt:
            report("\nstopping the demo ...")


def _dag_known(dag_id: str, env: dict[str, str]) -> Callable[[], bool]:
    def check() -> bool:
        try:
            airflow("dags", "details", dag_id, env=env, timeout=120)
        except FinsentError:
            return False
        return True

    return check
