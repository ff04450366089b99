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
        help="Run the scenario once through ingest → score → detect into a fresh database.",
    ),
    serve: bool = typer.Option(
        True,
        "--serve/--no-serve",
        help="After the first cycle, keep Airflow (running the DAGs on schedule) and the "
        "dashboard running until Ctrl-C. --once implies --no-serve.",
    ),
    feed_port: int = typer.Option(
        8599, "--feed-port", min=1, max=65535, help="Loopback port of the demo's feeds."
    ),
    airflow_port: int = typer.Option(
        8080, "--airflow-port", min=1, max=65535, help="Loopback port of the Airflow UI."
    ),
    json_output: bool = JsonOption,
) -> None:
    """finsent on news written for it, live: ten days of headlines and a burst of bad
    banking news served on loopback, ingested, scored by the shipped model and alerted
    on; then Airflow keeps running the DAGs on schedule and the dashboard shows it all.

    Everything it writes stays under --home (default ./finsent-demo). Alert messages go
    to <home>/outbox (or are sent, where email or a webhook is configured). Run it again
    and it reuses what is there.
    """
    from pipeline.demo import (
        demo_settings,
        has_scored_articles,
        reset_demo,
        run_first_cycle,
        start_feed_server,
    )
    from pipeline.demo.live import LivePorts, require_free_port, serve_demo

    settings = demo_settings(get_settings(), home=home)
    live = serve and not once
    ports = LivePorts(api=airflow_port, dashboard=settings.dashboard_port)
    if live:
        require_free_port(ports.api, what="the Airflow UI")
        require_free_port(ports.dashboard, what="the dashboard")
    if once:
        reset_demo(home)
    steps = 5 if live else 2

    def report(line: str) -> None:
        if not json_output:
            typer.echo(line, err=True)

    with start_feed_server(home, port=feed_port) as server:
        report(f"[1/{steps}] demo feeds on http://127.0.0.1:{server.port}/")
        if live and has_scored_articles(settings):
            report(f"[2/{steps}] reusing {home / 'finsent.db'} (Airflow keeps it current)")
            summary = None
        else:
            report(f"[2/{steps}] first cycle: ingest → score → detect (about a minute) ...")
            summary = run_first_cycle(
                settings=settings, server=server, progress=not json_output and sys.stderr.isatty()
            )
            text = summary.pop("text")
            if json_output:
                print_json(summary)
            else:
                typer.echo(text)
        if live:
            serve_demo(
                home=home, settings=settings, ports=ports, report=report, first_step=3, steps=steps
            )
