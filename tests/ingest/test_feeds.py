"""Feeds: URL validation, add as an upsert, OPML import, list/remove/disable/enable; the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.db import make_engine
from pipeline.errors import FinsentError
from pipeline.ingest.feeds import (
    add_feed,
    find_feed,
    list_feeds,
    normalise_feed_url,
    remove_feed,
    set_feed_enabled,
)
from pipeline.ingest.opml import import_opml, read_opml
from pipeline.settings import get_settings

NESTED_OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My feeds</title></head>
  <body>
    <outline text="Markets">
      <outline text="Markets Wire" title="Markets Wire" type="rss" xmlUrl="https://markets-wire.example.com/rss"/>
      <outline text="Deep">
        <outline text="Central Bank Watch" type="rss" xmlURL="https://cbwatch.example.com/atom.xml"/>
      </outline>
    </outline>
    <outline text="No feed here" htmlUrl="https://example.com/"/>
    <outline text="Gopher" xmlUrl="gopher://old.example.com/feed"/>
  </body>
</opml>"""


def test_url_validation() -> None:
    assert normalise_feed_url(" HTTPS://x.example.com/rss ", allow_private=False) == (
        "https://x.example.com/rss"
    )
    for bad in ["ftp://x.com/rss", "javascript:alert(1)", "feed://x.com/rss", "http:///nohost", ""]:
        with pytest.raises(FinsentError):
            normalise_feed_url(bad, allow_private=True)
    for local in ["file:///tmp/feed.xml", "/tmp/feed.xml", "./feed.xml"]:
        with pytest.raises(FinsentError, match="FINSENT_ALLOW_PRIVATE_NETWORKS"):
            normalise_feed_url(local, allow_private=False)
    assert normalise_feed_url("/tmp/feed.xml", allow_private=True) == "file:///tmp/feed.xml"


def test_feed_data_access(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    opml = tmp_path / "feeds.opml"
    opml.write_bytes(NESTED_OPML)
    try:
        with Session(engine) as session, session.begin():
            first = add_feed(session=session, url="https://a.example.com/rss", allow_private=False)
            again = add_feed(
                session=session, url="https://a.example.com/rss", name="A", allow_private=False
            )
            unnamed = add_feed(
                session=session, url="https://a.example.com/rss", allow_private=False
            )
            assert first.id == again.id == unnamed.id and unnamed.name == "A"
            first_id = first.id
            result = import_opml(session=session, path=opml, allow_private=False)
            assert [feed.name for feed in result.added] == ["Markets Wire", "Central Bank Watch"]
            assert result.known == []
            assert [url for url, _ in result.refused] == ["gopher://old.example.com/feed"]
            # Importing again is an upsert: no duplicates, and it says so.
            again_result = import_opml(session=session, path=opml, allow_private=False)
            assert again_result.added == []
            assert [feed.name for feed in again_result.known] == [
                "Markets Wire",
                "Central Bank Watch",
            ]
            assert len(list_feeds(session=session)) == 3
        with Session(engine) as session, session.begin():
            cb = find_feed(session=session, ref="https://cbwatch.example.com/atom.xml")
            assert find_feed(session=session, ref=str(cb.id)) is cb
            cb.consecutive_failures = 4
            set_feed_enabled(session=session, ref=str(cb.id), enabled=False)
            assert not cb.enabled
            set_feed_enabled(session=session, ref=cb.url, enabled=True)
            assert cb.enabled and cb.consecutive_failures == 0
            remove_feed(session=session, ref=str(first_id))
        with Session(engine) as session:
            assert [feed.url for feed in list_feeds(session=session)] == [
                "https://markets-wire.example.com/rss",
                "https://cbwatch.example.com/atom.xml",
            ]
            with pytest.raises(FinsentError, match="no feed"):
                find_feed(session=session, ref="999")
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<opml><body><outline", "broken OPML"),
        (b"", "broken OPML"),
        (b"<rss version='2.0'/>", "not an OPML document"),
        (
            b'<!DOCTYPE opml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><opml><body>'
            b'<outline xmlUrl="https://x.com/&b;"/></body></opml>',
            "OPML refused",
        ),
        (
            b'<!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]><opml><body>'
            b'<outline xmlUrl="https://x.com/&x;"/></body></opml>',
            "OPML refused",
        ),
    ],
)
def test_bad_opml_is_refused(document: bytes, message: str) -> None:
    with pytest.raises(FinsentError, match=message):
        read_opml(document)


def finsent(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real console entry point, as a user runs it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")} | env
    return subprocess.run(
        [sys.executable, "-c", "from pipeline.cli import main; main()", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_errors_are_one_line(sqlite_url: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.opml"
    broken.write_text("<opml><body><outline")
    env = {"FINSENT_DATABASE_URL": sqlite_url}
    for args, message in [
        (["feeds", "import", str(broken)], "broken OPML"),
        (["feeds", "add", "gopher://x.example.com/feed"], "unsupported URL scheme 'gopher'"),
        (["feeds", "add", str(tmp_path / "feed.xml")], "FINSENT_ALLOW_PRIVATE_NETWORKS"),
        (["feeds", "add", "http://[::1/x"], "invalid feed URL 'http://[::1/x': Invalid IPv6 URL"),
    ]:
        result = finsent(*args, env=env)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("finsent: error: ") and message in lines[0]
    missing = finsent("feeds", "list", env={"FINSENT_DATABASE_URL": f"sqlite:///{tmp_path}/new.db"})
    assert missing.returncode != 0 and "finsent db upgrade" in missing.stderr


def test_cli_feeds_and_ingest(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINSENT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("FINSENT_ALLOW_PRIVATE_NETWORKS", "1")
    get_settings.cache_clear()
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>Local</title>'
        "<item><title>Local story one</title><link>https://local.example.com/1</link></item>"
        "<item><title>Local story two</title><link>https://local.example.com/2</link></item>"
        "</channel></rss>"
    )
    opml = tmp_path / "feeds.opml"
    opml.write_bytes(NESTED_OPML)
    runner = CliRunner()

    added = runner.invoke(app, ["feeds", "add", str(feed), "--name", "Local", "--json"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["url"] == feed.as_uri()
    imported = runner.invoke(app, ["feeds", "import", str(opml), "--json"])
    assert json.loads(imported.stdout)["imported"] == 2
    assert runner.invoke(app, ["feeds", "disable", "2"]).exit_code == 0
    assert (
        runner.invoke(app, ["feeds", "disable", "https://cbwatch.example.com/atom.xml"]).exit_code
        == 0
    )

    ingested = runner.invoke(app, ["ingest", "--json"])
    assert ingested.exit_code == 0, ingested.output
    report = json.loads(ingested.stdout)
    for key in (
        "feeds",
        "fetched",
        "not_modified",
        "skipped",
        "new_articles",
        "duplicates",
        "errors",
    ):
        assert isinstance(report[key], int)
    assert (report["feeds"], report["fetched"], report["new_articles"]) == (1, 1, 2)
    again = runner.invoke(app, ["ingest"])
    assert again.exit_code == 0 and "0 new articles" in again.stdout

    listed = json.loads(runner.invoke(app, ["feeds", "list", "--json"]).stdout)
    assert [item["enabled"] for item in listed] == [True, False, False]
    assert set(listed[0]) == {
        "id",
        "url",
        "name",
        "enabled",
        "last_success_at",
        "consecutive_failures",
        "next_attempt_at",
        "last_error",
    }
    assert listed[0]["last_success_at"] is not None
    assert runner.invoke(app, ["feeds", "enable", "2"]).exit_code == 0
    assert runner.invoke(app, ["feeds", "remove", "3"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["feeds", "list", "--json"]).stdout)
    assert [(item["id"], item["enabled"]) for item in listed] == [(1, True), (2, True)]
