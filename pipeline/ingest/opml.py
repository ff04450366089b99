"""OPML import: every feed outline of a reader's export becomes a feed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from sqlalchemy.orm import Session

from pipeline.errors import FinsentError
from pipeline.ingest.feeds import upsert_feed
from pipeline.ingest.urls import redact_text, redact_url, url_secrets
from pipeline.schema import Feed

MAX_OPML_BYTES = 10 * 1024 * 1024


@dataclass
class OpmlImport:
    """What an OPML import did: feeds added, feeds already known (their names updated),
    and outlines refused with the reason."""

    added: list[Feed] = field(default_factory=list)
    known: list[Feed] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (redacted URL, reason)

    def as_dict(self) -> dict[str, Any]:
        """The ``finsent feeds import --json`` document; URLs redacted."""
        feeds = [(feed, "added") for feed in self.added] + [
            (f, "already_known") for f in self.known
        ]
        return {
            "imported": len(feeds),
            "added": len(self.added),
            "already_known": len(self.known),
            "feeds": [
                {"id": feed.id, "url": redact_url(feed.url), "name": feed.name, "status": status}
                for feed, status in sorted(feeds, key=lambda pair: pair[0].id)
            ],
            "refused": [{"url": url, "reason": reason} for url, reason in self.refused],
        }


def read_opml(data: bytes) -> list[tuple[str, str | None]]:
    """``(xmlUrl, title)`` of every feed outline in an OPML document, nested ones included.

    Parsed with defusedxml, so entity tricks in an OPML file are refused, not expanded.
    """
    from defusedxml import ElementTree as SafeElementTree
    from defusedxml.common import DefusedXmlException

    try:
        root = SafeElementTree.fromstring(data)
    except DefusedXmlException as exc:
        raise FinsentError(f"OPML refused: {type(exc).__name__} (entity or DTD tricks)") from None
    except SafeElementTree.ParseError as exc:
        raise FinsentError(f"broken OPML: {exc}") from None
    if _local_name(root) != "opml":
        raise FinsentError(f"not an OPML document: the root element is <{_local_name(root)}>")
    outlines: list[tuple[str, str | None]] = []
    for element in root.iter():
        if _local_name(element) != "outline":
            continue
        attributes = {key.lower(): value for key, value in element.attrib.items()}
        url = (attributes.get("xmlurl") or "").strip()
        if url:
            title = (attributes.get("title") or attributes.get("text") or "").strip() or None
            outlines.append((url, title))
    return outlines


def _local_name(element: Element) -> str:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rsplit("}", 1)[-1].lower()


def import_opml(*, session: Session, path: Path, allow_private: bool) -> OpmlImport:
    """Add every feed outline of the OPML file at ``path``; refused URLs are reported, not fatal."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OPML_BYTES + 1)
    except OSError as exc:
        raise FinsentError(f"cannot read OPML file {str(path)!r}: {exc.strerror}") from None
    if len(data) > MAX_OPML_BYTES:
        raise FinsentError(f"OPML file larger than {MAX_OPML_BYTES // (1024 * 1024)} MiB")
    result = OpmlImport()
    seen: set[int] = set()
    for url, title in read_opml(data):
        try:
            feed, added = upsert_feed(
                session=session, url=url, name=title, allow_private=allow_private
            )
        except FinsentError as exc:
            result.refused.append((redact_text(url, secrets=url_secrets(url)), str(exc)))
            continue
        if feed.id not in seen:  # an outline listed twice is still one feed
            seen.add(feed.id)
            (result.added if added else result.known).append(feed)
    return result
