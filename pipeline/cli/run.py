"""``finsent run``: ingest → score → detect once; ``finsent demo``: the same on bundled feeds."""

from __future__ import annotations

import sys
from pathlib import Path

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


@app.command("demo")
def demo(
    home: Path = typer.Option(
        Path("finsent-demo"), "--home", help="The demo's folder: database, outbox, logs."
    ),
    once: bool = typer.Option(
        False,
        "--once",
        help="Run the scenario once through ingest → score → detect into a fresh database, "
        "then exit.",
    ),
    serve: bool = typer.Option(
        True,
        "--serve/--no-serve",
        help="After the first cycle, keep the scheduler and the dashboard running "
        "(--no-serve: stop after the first cycle).",
    ),
    feed_port: int = typer.Option(
        8599, "--feed-port", min=1, max=65535, help="Loopback port of the demo's feeds."
    ),
    json_output: bool = JsonOption,
) -> None:
    """finsent on news written for it: ten days of headlines and a burst of bad banking
    news, served on loopback, ingested, scored by the shipped model, with an alert.

    Everything it writes stays under --home. Alert messages go to <home>/outbox (or are
    sent, where email or a webhook is configured).
    """
    from pipeline.demo import demo_settings, reset_demo, run_first_cycle, start_feed_server

    settings = demo_settings(get_settings(), home=home)
    if once:
        reset_demo(home)
    show_progress = not json_output and sys.stderr.isatty()
    with start_feed_server(home, port=feed_port) as server:
        if not json_output:
            typer.echo(f"[1/2] demo feeds on http://127.0.0.1:{server.port}/", err=True)
            typer.echo("[2/2] first cycle: ingest → score → detect ...", err=True)
        summary = run_first_cycle(settings=settings, server=server, progress=show_progress)
    text = summary.pop("text")
    if json_output:
        print_json(summary)
        return
    typer.echo(text)
