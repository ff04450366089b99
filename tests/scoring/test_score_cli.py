"""``finsent score`` as a user runs it: a subprocess with settings from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scoring_helpers import add_articles, numbered_articles, score_rows
from sqlalchemy import Engine
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import FinsentError
from pipeline.settings import get_settings

FINSENT = [sys.executable, "-c", "from pipeline.cli import main; main()"]


def run_finsent(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    return subprocess.run(
        [*FINSENT, *args], env={**base, **env}, capture_output=True, text=True, timeout=300
    )


def test_score_json_reports_what_it_did_and_a_rerun_scores_nothing(
    db_url: str,
    engine: Engine,
    tiny_model_dir: Path,
    tiny_scorer: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_articles(engine, [("", ""), *numbered_articles(4)])  # newest first: empty one last
    env = {"FINSENT_DATABASE_URL": db_url, "FINSENT_MODEL_DIR": str(tiny_model_dir)}

    first = run_finsent("score", "--json", "--limit", "2", "--batch-size", "8", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert set(report) == {
        "scored",
        "model_version",
        "seconds",
        "articles_per_second",
        "empty_text",
    }
    assert report["scored"] == 2
    assert report["model_version"] == tiny_scorer.version  # type: ignore[attr-defined]
    assert "\r" not in first.stderr  # no progress bar when not on a terminal

    # The rerun in-process (same command, same settings; saves a second torch import).
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    second = CliRunner().invoke(app, ["score", "--json", "--device", "cpu"])
    assert second.exit_code == 0, second.output
    rerun = json.loads(second.stdout)
    assert (rerun["scored"], rerun["empty_text"]) == (3, 1)
    assert len(score_rows(engine)) == 5


def test_score_without_a_model_directory_fails_with_one_line(
    tmp_path: Path, sqlite_url: str
) -> None:
    env = {
        "FINSENT_DATABASE_URL": sqlite_url,
        "FINSENT_MODEL_DIR": str(tmp_path / "missing"),
    }
    result = run_finsent("score", "--json", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("finsent: error: no model directory at")
    assert result.stdout == ""


def test_score_refuses_a_single_task_model_before_scoring_anything(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    """A topic-only teacher set as FINSENT_MODEL_DIR: one line, exit 1, no score row."""
    from models.tasks import TOPIC
    from models.testing import make_tiny_model_dir

    add_articles(engine, numbered_articles(3))
    topic_only = make_tiny_model_dir(tmp_path / "topic-only", tasks=[TOPIC])
    env = {"FINSENT_DATABASE_URL": db_url, "FINSENT_MODEL_DIR": str(topic_only)}
    result = run_finsent("score", "--json", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"finsent: error: cannot load the model from {topic_only}: ")
    assert "no sentiment head" in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert score_rows(engine) == []


def test_score_on_an_unmigrated_database_says_what_to_do(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINSENT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("FINSENT_MODEL_DIR", str(tiny_model_dir))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["score"])
    assert isinstance(result.exception, FinsentError)  # `finsent` prints it and exits 1
    assert "finsent db upgrade" in str(result.exception)
    assert not (tmp_path / "empty.db").exists()  # reported, not created on the way


def test_score_an_id_range_and_refuse_an_empty_one(
    sqlite_url: str, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.db import make_engine
    from pipeline.errors import UsageError

    engine = make_engine(sqlite_url)
    try:
        ids = add_articles(engine, numbered_articles(5))
        monkeypatch.setenv("FINSENT_DATABASE_URL", sqlite_url)
        monkeypatch.setenv("FINSENT_MODEL_DIR", str(tiny_model_dir))
        get_settings.cache_clear()
        args = ["score", "--json", "--device", "cpu", "--min-id", str(ids[1])]
        result = CliRunner().invoke(app, [*args, "--max-id", str(ids[2])])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["scored"] == 2
        assert [row.article_id for row in score_rows(engine)] == ids[1:3]
        empty = CliRunner().invoke(app, [*args, "--max-id", str(ids[0])])
        assert isinstance(empty.exception, UsageError)  # `finsent` exits 2 with one line
        assert "no article is in that range" in str(empty.exception)
    finally:
        engine.dispose()
