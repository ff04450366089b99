"""Fixtures for the DAG tests: a fresh Airflow home with a SQLite metadata database.

``airflow db migrate`` runs once per test session (about 8 s here); every Airflow
subprocess of the session gets the environment from :func:`airflow_env`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# pytest puts a test folder on sys.path only when it collects it; tests/deploy imports these too.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from dag_helpers import AIRFLOW, run, subprocess_env  # noqa: E402


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow home whose SQLite metadata database is migrated (once per session)."""
    home = tmp_path_factory.mktemp("airflow-home")
    ran = run([AIRFLOW, "db", "migrate"], env=subprocess_env(AIRFLOW_HOME=str(home)), timeout=300)
    print(f"airflow db migrate (SQLite): {ran.seconds:.1f} s")
    return home


@pytest.fixture
def airflow_env(airflow_home: Path) -> Callable[..., dict[str, str]]:
    """Builds the environment of an Airflow subprocess on the session's Airflow home."""

    def build(**overrides: str) -> dict[str, str]:
        return subprocess_env(AIRFLOW_HOME=str(airflow_home), **overrides)

    return build
