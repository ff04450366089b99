"""Feed URLs from the user's side (issue 13): malformed ones are one line, OPML imports
skip bad outlines, one feed has one URL, credentials never shown, only http(s) links stored."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from ingest_helpers import FeedServer, RequestHandler, redirect_to
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from pipeline.cli import app
from pipeline.db import make_engine
from pipeline.schema import Article, Feed, FetchAttempt
from pipeline.settings import get_settings

USER, PASSWORD = "reader", "hunter22"


@pytest.fixture
def cli(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FINSENT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("FINSENT_ALLOW_PRIVATE_NETWORKS", "1")
    monkeypatch.setenv("FINSENT_FEED_MIN_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("FINSENT_FETCH_READ_TIMEOUT", "2")
    get_settings.cache_clear()
    return CliRunner()


def invoke(cli: CliRunner, *args: str) -> Result:
    result = cli.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_malformed_url_is_refused_in_one_line(cli: CliRunner) -> None:
    from pipeline.errors import FinsentError

    result = cli.invoke(app, ["feeds", "add", "http://[::1/x"])
    # The CLI entry point turns this into `finsent: error: <message>`, exit 1.
    assert isinstance(result.exception, FinsentError) and result.exception.exit_code == 1
    assert str(result.exception) == "invalid feed URL 'http://[::1/x': Invalid IPv6 URL"
    assert json.loads(invoke(cli, "feeds", "list", "--json").stdout) == []


def test_one_feed_whatever_the_host_spelling(cli: CliRunner) -> None:
    first = json.loads(invoke(cli, "feeds", "add", "https://EXAMPLE.com.:443/rss", "--json").stdout)
    again = invoke(cli, "feeds", "add", "https://example.com/rss")
    assert first["url"] == "https://example.com/rss"
    assert again.stdout == f"feed {first['id']}: https://example.com/rss (already known)\n"
    removed = json.loads(invoke(cli, "feeds", "remove", "HTTPS://Example.COM/rss", "--json").stdout)
    assert removed["id"] == first["id"]


def test_opml_import_skips_bad_outlines_and_tells_added_from_known(
    cli: CliRunner, tmp_path: Path
) -> None:
    invoke(cli, "feeds", "add", "https://known.example.com/rss")
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<opml version="2.0"><body>'
        '<outline text="Broken" xmlUrl="http://[::1/x"/>'
        '<outline text="Good" xmlUrl="https://good.example.com/rss"/>'
        f'<outline text="Secret" xmlUrl="https://{USER}:{PASSWORD}@[::1/private"/>'
        '<outline text="Known" xmlUrl="https://KNOWN.example.com./rss"/>'
        '<outline text="Good again" xmlUrl="https://good.example.com:443/rss"/>'
        "</body></opml>"
    )

    text = invoke(cli, "feeds", "import", str(opml))
    assert text.exit_code == 0
    assert text.stdout == "imported 2 feeds: 1 added, 1 already known, 2 refused\n"
    assert "refused http://[::1/x: invalid feed URL" in text.stderr
    again = json.loads(invoke(cli, "feeds", "import", str(opml), "--json").stdout)

    assert (again["imported"], again["added"], again["already_known"]) == (2, 0, 2)
    assert [(feed["url"], feed["status"]) for feed in again["feeds"]] == [
        ("https://known.example.com/rss", "already_known"),
        ("https://good.example.com/rss", "already_known"),
    ]
    assert [refused["url"] for refused in again["refused"]] == [
        "http://[::1/x",
        "https://***@[::1/private",
    ]
    assert PASSWORD not in text.output + json.dumps(again)
    listed = json.loads(invoke(cli, "feeds", "list", "--json").stdout)
    assert [(feed["url"], feed["name"]) for feed in listed] == [
        ("https://known.example.com/rss", "Known"),
        ("https://good.example.com/rss", "Good again"),
    ]


def test_feeds_list_is_a_table_of_data_not_markup(cli: CliRunner) -> None:
    assert invoke(cli, "feeds", "list").stdout.startswith("no feeds yet")
    invoke(cli, "feeds", "add", "https://a.example.com/rss", "--name", "[bold]Wire[/bold]")
    invoke(cli, "feeds", "add", "https://b.example.com/rss")
    invoke(cli, "feeds", "disable", "2")
    lines = invoke(cli, "feeds", "list").stdout.splitlines()
    header = next(line for line in lines if "feed" in line and "state" in line)
    assert header.split() == ["id", "feed", "state", "fails", "last", "success"]
    rows = [line.split() for line in lines if line.strip()[:1].isdigit()]
    assert rows == [
        ["1", "[bold]Wire[/bold]", "enabled", "never"],
        ["2", "https://b.example.com/rss", "disabled", "never"],
    ]
    wire = next(index for index, line in enumerate(lines) if "Wire" in line)
    assert lines[wire + 1].split() == ["https://a.example.com/rss"]


def _private_feed(expected_auth: str) -> Callable[[RequestHandler], None]:
    body = (
        b'<rss version="2.0"><channel><title>Private</title>'
        b"<item><title>Script link</title><link>javascript:alert(document.cookie)</link></item>"
        b"<item><title>Data link</title>"
        b"<link>data:text/html,&lt;script&gt;x()&lt;/script&gt;</link></item>"
        b"<item><title>Relative link</title><link>/story/3</link></item>"
        b"</channel></rss>"
    )

    def handle(request: RequestHandler) -> None:
        if request.headers.get("Authorization") != expected_auth:
            request.reply(401, b"who are you", content_type="text/plain")
        else:
            request.reply(200, body)

    return handle


def test_credentials_are_used_but_never_shown_and_only_http_links_stored(
    cli: CliRunner, sqlite_url: str, feed_server: FeedServer
) -> None:
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    feed_server.route("/private.xml", _private_feed(auth))
    # A redirect loop: the error names the URL, which carries the credentials.
    feed_server.route("/loop.xml", redirect_to("/loop.xml"))
    netloc = f"{USER}:{PASSWORD}@{feed_server.host}:{feed_server.port}"
    outputs = [
        invoke(cli, "feeds", "add", f"http://{netloc}/private.xml").output,
        invoke(cli, "feeds", "add", f"http://{netloc}/loop.xml", "--json").output,
    ]

    report = json.loads(invoke(cli, "ingest", "--json").stdout)
    outputs.append(invoke(cli, "feeds", "list").output)  # the loop feed backing off
    invoke(cli, "feeds", "enable", "2")  # clears its back-off: the next run tries again
    text = invoke(cli, "ingest")
    outputs += [json.dumps(report), text.output]
    outputs += [invoke(cli, "feeds", "list").output, invoke(cli, "feeds", "list", "--json").output]

    assert [detail["status"] for detail in report["details"]] == ["fetched", "error"]
    assert report["new_articles"] == 3  # the credentials reached the server
    shown = f"http://***@{feed_server.host}:{feed_server.port}"
    assert report["details"][1]["error"] == f"redirect loop back to {shown}/loop.xml"
    assert f"{shown}/loop.xml: redirect loop back to {shown}/loop.xml" in text.stderr
    for output in outputs:
        assert PASSWORD not in output and USER not in output, output
    engine = make_engine(sqlite_url)
    try:
        with Session(engine) as session:
            stored = [
                *session.scalars(select(Feed.last_error)),
                *session.scalars(select(FetchAttempt.error)),
            ]
            assert all(PASSWORD not in (error or "") for error in stored)
            links = {
                title: link for title, link in session.execute(select(Article.title, Article.link))
            }
            canonical = set(session.scalars(select(Article.canonical_url)))
    finally:
        engine.dispose()
    relative = f"http://{feed_server.host}:{feed_server.port}/story/3"
    assert links == {"Script link": None, "Data link": None, "Relative link": relative}
    assert canonical == {None, relative}
