"""The files the README points a new user at are usable as they are."""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest.opml import read_opml
from pipeline.ingest.urls import normalise_feed_url

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_sample_opml_lists_public_https_feeds_finsent_accepts() -> None:
    outlines = read_opml((EXAMPLES / "financial-news.opml").read_bytes())
    assert len(outlines) >= 10
    urls = [normalise_feed_url(url, allow_private=False) for url, _title in outlines]
    assert all(url.startswith("https://") for url in urls)
    assert len(set(urls)) == len(urls)
    assert all(title for _url, title in outlines)
