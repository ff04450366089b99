"""The CLI's contract: one app, fast to start, one-line errors with a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", "from pipeline.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_importing_the_cli_loads_no_model_code() -> None:
    code = (
        "import sys, pipeline.cli; "
        "print(json.dumps(sorted(m for m in ('torch', 'transformers', 'peft', 'models') "
        "if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == []


def _listed_commands(help_text: str) -> list[str]:
    """The command names in the Commands panel of ``--help``, in order."""
    names = []
    in_panel = False
    for line in help_text.splitlines():
        if "Commands" in line and line.lstrip().startswith(("╭", "+")):
            in_panel = True
            continue
        if in_panel and line.lstrip().startswith(("╰", "+")):
            break
        if in_panel:
            first = line.strip("│| ").split(" ", 1)[0]
            if first and first.isidentifier():
                names.append(first)
    return names


def test_help_lists_every_command_in_data_path_order() -> None:
    result = _run("--help")
    assert result.returncode == 0
    listed = _listed_commands(result.stdout)
    data_path = ["db", "feeds", "ingest", "score", "detect", "alerts", "run", "demo"]
    model = ["train", "evaluate", "predict"]
    assert [name for name in listed if name in data_path + model] == data_path + model


def test_bad_settings_are_one_line_naming_the_variable(tmp_path) -> None:
    result = _run(
        "db",
        "upgrade",
        env={"FINSENT_DEVICE": "gpu", "FINSENT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "FINSENT_DEVICE" in lines[0]


def test_placeholder_secret_is_refused(tmp_path) -> None:
    result = _run(
        "db",
        "upgrade",
        env={
            "FINSENT_WEBHOOK_SECRET": "changeme",
            "FINSENT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        },
    )
    assert result.returncode == 2
    assert "FINSENT_WEBHOOK_SECRET" in result.stderr


def test_db_upgrade_reports_the_head_revision(tmp_path) -> None:
    env = {"FINSENT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    first = _run("db", "upgrade", "--json", env=env)
    again = _run("db", "upgrade", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == json.loads(again.stdout)
    assert json.loads(first.stdout)["revision"]
