"""``finsent feeds``: add, import (OPML), list, remove, disable, enable."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipeline.cli.app import JsonOption, feeds_app, print_json
from pipeline.db import make_engine
from pipeline.feeds import (
    add_feed,
    feed_as_dict,
    import_opml,
    list_feeds,
    remove_feed,
    require_schema,
    set_feed_enabled,
)
from pipeline.settings import get_settings


def open_engine() -> Engine:
    """The engine for ``FINSENT_DATABASE_URL``; a one-line error if the schema is missing."""
    engine = make_engine(get_settings().database_url)
    require_schema(engine)
    return engine


@feeds_app.command("add")
def add(
    url: str = typer.Argument(
        ..., help="http(s) URL; file:// URLs and paths need private networks."
    ),
    name: str | None = typer.Option(None, "--name", help="A display name."),
    json_output: bool = JsonOption,
) -> None:
    """Add a feed (or rename the feed with this URL)."""
    engine = open_engine()
    with Session(engine) as session, session.begin():
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
    engine = open_engine()
    with Session(engine) as session, session.begin():
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
    engine = open_engine()
    with Session(engine) as session:
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
def remove(ref: str = typer.Argument(..., metavar="ID_OR_URL")) -> None:
    """Delete a feed (its articles stay)."""
    engine = open_engine()
    with Session(engine) as session, session.begin():
        feed = remove_feed(session=session, ref=ref)
        typer.echo(f"removed feed {feed.id}: {feed.url}")


@feeds_app.command("disable")
def disable(ref: str = typer.Argument(..., metavar="ID_OR_URL")) -> None:
    """Stop polling a feed."""
    engine = open_engine()
    with Session(engine) as session, session.begin():
        feed = set_feed_enabled(session=session, ref=ref, enabled=False)
        typer.echo(f"disabled feed {feed.id}: {feed.url}")


@feeds_app.command("enable")
def enable(ref: str = typer.Argument(..., metavar="ID_OR_URL")) -> None:
    """Poll a feed again, from the next run (clears its back-off)."""
    engine = open_engine()
    with Session(engine) as session, session.begin():
        feed = set_feed_enabled(session=session, ref=ref, enabled=True)
        typer.echo(f"enabled feed {feed.id}: {feed.url}")
