"""docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine.

``docker-compose config`` (Debian's docker-compose, which ``make test`` installs) parses
and validates the file and resolves anchors, profiles and ``.env`` substitution; the
checks then read its output, i.e. the deployment exactly as Compose would run it.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dag_helpers import FINSENT, REPO, run, subprocess_env

from pipeline.deploy import main as deploy_main

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
SERVICES = {
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "gpu-worker",
    "dashboard",
}
AIRFLOW_SERVICES = {name for name in SERVICES if name.startswith("airflow-")} | {"gpu-worker"}
# What every Airflow component needs to find the others and to trust them.
AIRFLOW_ENV = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "FINSENT_DATABASE_URL",
)


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


SECRETS = sorted(env_example())
REQUIRED_SECRETS = sorted(set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text())))


def compose_config(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``docker-compose config`` in a project folder holding the file and this ``.env``."""
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return subprocess.run(
        ["docker-compose", *args, "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def tokens() -> dict[str, str]:
    """A distinct random value per secret, to trace where each one ends up."""
    return {name: f"{name.lower()}-{secrets.token_hex(8)}" for name in SECRETS}


@pytest.fixture
def config(tmp_path: Path, tokens: dict[str, str]) -> dict[str, Any]:
    done = compose_config(tmp_path, tokens, "--profile", "gpu")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


# These run Debian's docker-compose (`make test` installs it).
needs_docker_compose = pytest.mark.integration


@needs_docker_compose
def test_compose_file_validates_with_the_example_env(tmp_path: Path) -> None:
    done = compose_config(tmp_path, env_example())
    assert done.returncode == 0, done.stderr
    assert set(yaml.safe_load(done.stdout)["services"]) == SERVICES


@needs_docker_compose
def test_every_service_has_image_command_and_long_runners_health_and_restart(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("image") or service.get("build"), name
        assert service.get("command"), name
        if name == "airflow-init":
            assert service.get("restart") == "no"
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", name


@needs_docker_compose
def test_airflow_services_share_one_configuration_and_wait_for_init(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        missing = [key for key in AIRFLOW_ENV if not env.get(key)]
        assert not missing, (name, missing)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
            "http://airflow-apiserver:8080/"
        )
        if name != "airflow-init":
            assert services[name]["depends_on"]["airflow-init"] == {
                "condition": "service_completed_successfully"
            }
    # Every component must agree on these, or tasks cannot authenticate to the API server.
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
        assert len({services[name]["environment"][key] for name in AIRFLOW_SERVICES}) == 1
    assert services["dashboard"]["environment"]["FINSENT_DASHBOARD_PASSWORD"]
    assert services["dashboard"]["environment"]["FINSENT_DATABASE_URL"].startswith(
        "postgresql+psycopg://"
    )


@needs_docker_compose
def test_secrets_come_only_from_env(config: dict[str, Any], tokens: dict[str, str]) -> None:
    lines = COMPOSE_FILE.read_text().splitlines()
    assert not [line for line in lines if "changeme" in line and not line.lstrip().startswith("#")]
    env = config["services"]["airflow-scheduler"]["environment"]
    password = tokens["POSTGRES_PASSWORD"]
    for key in (
        "FINSENT_DATABASE_URL",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
    ):
        assert f":{password}@postgres:5432/" in env[key], key
    assert f":{tokens['REDIS_PASSWORD']}@redis:6379/" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW__CORE__FERNET_KEY"] == tokens["AIRFLOW_FERNET_KEY"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == tokens["AIRFLOW_JWT_SECRET"]
    assert env["AIRFLOW__API__SECRET_KEY"] == tokens["AIRFLOW_API_SECRET_KEY"]
    postgres = config["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_PASSWORD"] == password
    assert config["services"]["redis"]["environment"]["REDIS_PASSWORD"] == tokens["REDIS_PASSWORD"]
    # The finsent secrets reach finsent's processes through env_file: .env.
    for name in ("FINSENT_DASHBOARD_PASSWORD", "FINSENT_SMTP_PASSWORD", "FINSENT_WEBHOOK_SECRET"):
        assert config["services"]["airflow-worker"]["environment"][name] == tokens[name]


@needs_docker_compose
def test_a_missing_secret_stops_compose_naming_it(tmp_path: Path, tokens: dict[str, str]) -> None:
    assert set(REQUIRED_SECRETS) <= set(SECRETS), "every required secret is in .env.example"
    del tokens["AIRFLOW_JWT_SECRET"]
    done = compose_config(tmp_path, tokens)
    assert done.returncode != 0 and "set AIRFLOW_JWT_SECRET in .env" in done.stderr


@needs_docker_compose
def test_init_migrates_both_databases_and_refuses_placeholders(config: dict[str, Any]) -> None:
    script = "\n".join(config["services"]["airflow-init"]["command"])
    assert "finsent db upgrade" in script and "airflow db migrate" in script
    assert "create-database airflow" in script and "airflow-admin" in script
    checked = re.search(r"check-secrets ([A-Z_ ]+)", script)
    assert checked is not None
    # The secrets compose requires, and the dashboard's; finsent's other two are optional
    # and refused by finsent's settings when left as placeholders (next test).
    assert sorted(checked.group(1).split()) == sorted(
        [*REQUIRED_SECRETS, "AIRFLOW_ADMIN_PASSWORD", "FINSENT_DASHBOARD_PASSWORD"]
    )


@needs_docker_compose
def test_workers_scale_and_the_gpu_worker_takes_the_gpu_queue(config: dict[str, Any]) -> None:
    services = config["services"]
    worker = services["airflow-worker"]
    # --scale needs replicas that differ only by container: no fixed name, no host port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"][:3] == ["airflow", "celery", "worker"]
    gpu = services["gpu-worker"]
    assert gpu["profiles"] == ["gpu"]
    assert "container_name" not in gpu and "ports" not in gpu
    command = gpu["command"]
    assert command[command.index("--queues") + 1] == "gpu"
    assert gpu["environment"]["FINSENT_DEVICE"] == "cuda"
    assert "/whl/cu" in gpu["build"]["args"]["TORCH_INDEX_URL"]
    assert "/whl/cpu" in worker["build"]["args"]["TORCH_INDEX_URL"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert device["count"] == 1


@needs_docker_compose
def test_dashboard_service_runs_the_streamlit_app(config: dict[str, Any]) -> None:
    command = config["services"]["dashboard"]["command"]
    assert command[:3] == ["streamlit", "run", "dashboard/streamlit_app.py"]
    assert (REPO / "dashboard" / "streamlit_app.py").is_file()


def test_dockerfile_is_multi_stage_cpu_by_default_and_copies_what_exists() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", text, flags=re.MULTILINE)
    assert stages == ["build", "runtime"]
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    assert 'pip install --index-url "$TORCH_INDEX_URL" "torch==2.13.0"' in text
    assert "pip check" in text and "USER finsent" in text
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE):
        for path in source.split():
            assert (REPO / path).exists(), f"COPY {path}: no such file in the repository"
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".venv" in ignored and ".git" in ignored


def test_env_example_placeholders_are_refused() -> None:
    placeholders = env_example()
    assert set(placeholders.values()) == {"changeme"}, "every line is a secret placeholder"
    # The init job's own check: each required secret named.
    names = [name for name in SECRETS if not name.startswith("FINSENT_")]
    assert deploy_main(["check-secrets", *names], environ=placeholders) == 1
    # finsent itself refuses its secrets' placeholders, in one line naming each.
    finsent_env = {k: v for k, v in placeholders.items() if k.startswith("FINSENT_")}
    done = run(
        [FINSENT, "db", "upgrade"],
        env=subprocess_env(FINSENT_DATABASE_URL="sqlite:///:memory:", **finsent_env),
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    (line,) = done.output.strip().splitlines()
    assert line.startswith("finsent: error: invalid settings:")
    for name in finsent_env:
        assert f"{name}: is a placeholder" in line
