"""``finsent ingest``: fetch every enabled feed once (URLs and errors come redacted)."""

from __future__ import annotations

import typer

from pipeline.cli.app import JsonOption, app, print_json
from pipeline.settings import get_settings


@app.command("ingest")
def ingest(json_output: bool = JsonOption) -> None:
    """Fetch every enabled feed once and store the new articles."""
    from pipeline.ingest import FeedStatus, ingest_feeds
    from pipeline.wiring import open_database

    settings = get_settings()
    engine = open_database(settings, migrate=False)
    try:
        report = ingest_feeds(engine=engine, settings=settings)
    finally:
        engine.dispose()
    if json_output:
        print_json(report.as_dict())
        return
    typer.echo(
        f"{report.feeds} feeds: {report.fetched} fetched, {report.not_modified} not modified, "
        f"{report.skipped} skipped, {report.errors} errors; "
        f"{report.new_articles} new articles, {report.duplicates} duplicates "
        f"in {report.seconds:.1f}s"
    )
    for outcome in report.details:
        if outcome.status is FeedStatus.ERROR:
            typer.echo(f"  feed {outcome.feed_id} {outcome.url}: {outcome.error}", err=True)
