"""``finsent feeds``: add, import (OPML), list, remove, disable, enable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from pipeline.cli.app import JsonOption, feeds_app, print_json
from pipeline.ingest.feeds import (
    feed_as_dict,
    list_feeds,
    remove_feed,
    set_feed_enabled,
    upsert_feed,
)
from pipeline.ingest.opml import import_opml
from pipeline.settings import get_settings
from pipeline.wiring import open_database


@contextmanager
def _transaction() -> Iterator[Session]:
    """One transaction on the configured database (whose schema must exist)."""
    engine = open_database(get_settings(), migrate=False)
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


@feeds_app.command("add")
def add(
    url: str = typer.Argument(
        ..., help="http(s) URL; file:// URLs and paths need private networks."
    ),
    name: str | None = typer.Option(None, "--name", help="A display name."),
    json_output: bool = JsonOption,
) -> None:
    """Add a feed (or rename the feed with this URL)."""
    with _transaction() as session:
        feed, added = upsert_feed(
            session=session, url=url, name=name, allow_private=get_settings().allow_private_networks
        )
        shown = feed_as_dict(feed)
    if json_output:
        print_json(shown)
    else:
        typer.echo(f"feed {shown['id']}: {shown['url']}" + ("" if added else " (already known)"))


@feeds_app.command("import")
def import_(
    path: Path = typer.Argument(..., help="An OPML file (feed list exported by a reader)."),
    json_output: bool = JsonOption,
) -> None:
    """Add every feed listed in an OPML file; outlines that are no usable feed are reported."""
    with _transaction() as session:
        result = import_opml(
            session=session, path=path, allow_private=get_settings().allow_private_networks
        )
        shown = result.as_dict()
    if json_output:
        print_json(shown)
        return
    typer.echo(
        f"imported {shown['imported']} feeds: {shown['added']} added, "
        f"{shown['already_known']} already known, {len(shown['refused'])} refused"
    )
    for refused in shown["refused"]:
        typer.echo(f"refused {refused['url']}: {refused['reason']}", err=True)


@feeds_app.command("list")
def list_(json_output: bool = JsonOption) -> None:
    """Show every feed with its health."""
    with _transaction() as session:
        shown = [feed_as_dict(feed) for feed in list_feeds(session=session)]
    if json_output:
        print_json(shown)
        return
    if not shown:
        typer.echo("no feeds yet; add one with `finsent feeds add URL` or `finsent feeds import`")
        return
    # Few, short columns: rich squeezes the folding one (the feed) on a narrow terminal,
    # and the rest stay whole. Problems are printed in full below the table.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("feed", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("fails", justify="right", no_wrap=True)
    table.add_column("last success", no_wrap=True)
    for feed in shown:
        table.add_row(
            str(feed["id"]),
            f"{feed['name']}\n{feed['url']}" if feed["name"] else feed["url"],
            "enabled" if feed["enabled"] else "disabled",
            str(feed["consecutive_failures"] or ""),
            _minute(feed["last_success_at"]) or "never",
        )
    # markup off: a feed's name or error is data, never rich markup.
    console = Console(markup=False, highlight=False)
    console.print(table)
    for feed in shown:
        if feed["last_error"] or feed["next_attempt_at"]:
            resting = _minute(feed["next_attempt_at"])
            console.print(
                f"feed {feed['id']}: "
                + (f"resting until {resting}; " if resting else "")
                + f"last error: {feed['last_error'] or 'none'}",
                soft_wrap=True,
            )


def _minute(timestamp: str | None) -> str | None:
    """An ISO timestamp to the minute, for the table (the JSON keeps it whole)."""
    return timestamp[:16].replace("T", " ") if timestamp else None


@feeds_app.command("remove")
def remove(
    ref: str = typer.Argument(..., metavar="ID_OR_URL"), json_output: bool = JsonOption
) -> None:
    """Delete a feed (its articles stay)."""
    with _transaction() as session:
        shown = feed_as_dict(remove_feed(session=session, ref=ref))
    _report_feed(shown, verb="removed", json_output=json_output)


@feeds_app.command("disable")
def disable(
    ref: str = typer.Argument(..., metavar="ID_OR_URL"), json_output: bool = JsonOption
) -> None:
    """Stop polling a feed."""
    with _transaction() as session:
        shown = feed_as_dict(set_feed_enabled(session=session, ref=ref, enabled=False))
    _report_feed(shown, verb="disabled", json_output=json_output)


@feeds_app.command("enable")
def enable(
    ref: str = typer.Argument(..., metavar="ID_OR_URL"), json_output: bool = JsonOption
) -> None:
    """Poll a feed again, from the next run (clears its back-off)."""
    with _transaction() as session:
        shown = feed_as_dict(set_feed_enabled(session=session, ref=ref, enabled=True))
    _report_feed(shown, verb="enabled", json_output=json_output)


def _report_feed(shown: dict[str, object], *, verb: str, json_output: bool) -> None:
    if json_output:
        print_json({**shown, "action": verb})
    else:
        typer.echo(f"{verb} feed {shown['id']}: {shown['url']}")
