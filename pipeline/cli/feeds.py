"""``finsent feeds``: add, import (OPML), list, remove, disable, enable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from pipeline.cli.app import JsonOption, feeds_app, print_json
from pipeline.ingest.feeds import (
    add_feed,
    feed_as_dict,
    list_feeds,
    remove_feed,
    set_feed_enabled,
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
        feed = add_feed(
            session=session, url=url, name=name, allow_private=get_settings().allow_private_networks
        )
        shown = feed_as_dict(feed)
    if json_output:
        print_json(shown)
    else:
        typer.echo(f"feed {shown['id']}: {shown['url']}")


@feeds_app.command("import")
def import_(
    path: Path = typer.Argument(..., help="An OPML file (feed list exported by a reader)."),
    json_output: bool = JsonOption,
) -> None:
    """Add every feed listed in an OPML file."""
    with _transaction() as session:
        result = import_opml(
            session=session, path=path, allow_private=get_settings().allow_private_networks
        )
        shown = result.as_dict()
    if json_output:
        print_json(shown)
        return
    typer.echo(f"imported {shown['imported']} feeds")
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
    for feed in shown:
        state = "enabled" if feed["enabled"] else "disabled"
        if feed["consecutive_failures"]:
            state += f", {feed['consecutive_failures']} failures: {feed['last_error']}"
        typer.echo(f"{feed['id']:>4}  {feed['url']}  ({state})")


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
