"""``finsent run``: ingest → score → detect once; ``finsent demo``: the same on bundled feeds."""

from __future__ import annotations

import sys

import typer

from pipeline.cli.app import JsonOption, app, print_json
from pipeline.run import run_pipeline
from pipeline.settings import get_settings


@app.command("run")
def run(json_output: bool = JsonOption) -> None:
    """Ingest every enabled feed, score new articles, evaluate alert rules — once."""
    reports = run_pipeline(
        settings=get_settings(), progress=not json_output and sys.stderr.isatty()
    )
    if json_output:
        print_json(reports)
        return
    for stage, report in reports.items():
        fields = ", ".join(
            f"{key} {value}" for key, value in report.items() if not isinstance(value, list | dict)
        )
        typer.echo(f"{stage}: {fields}")


DEMO_DATABASE_URL = "sqlite:///finsent-demo.db"


@app.command("demo")
def demo(
    database_url: str = typer.Option(
        DEMO_DATABASE_URL, "--database-url", help="Where the demo writes (its own SQLite file)."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Replay the bundled demo feeds through ingest → score → detect on the shipped model.

    A week of ordinary finance news, then a two-hour burst of bad banking news: the
    detector opens an alert, written to the outbox folder (or sent, where email or a
    webhook is configured). Detection runs as of the last bundled story, so the demo
    shows the same thing whatever today's date is. Running it again adds nothing.
    """
    from pipeline.demo import replay_demo

    # The bundled feeds are local files: the demo, and only the demo, may read them.
    settings = get_settings().model_copy(
        update={
            "database_url": database_url,
            "allow_private_networks": True,
            "feed_min_interval_seconds": 0,
        }
    )
    summary = replay_demo(settings=settings, progress=not json_output and sys.stderr.isatty())
    text = summary.pop("text")
    if json_output:
        print_json(summary)
        return
    typer.echo(text)
