"""Synthetic finance headlines for the end-to-end tests (tests/e2e, tests/dags), plain
enough for the shipped model to label reliably: routine announcements, now and then a
routine bad one, and unmistakable losses and failures for a negative burst."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

COMPANIES = [
    "Northwind Bank",
    "Contoso Energy",
    "Fabrikam Motors",
    "Litware Pharma",
    "Adatum Airlines",
    "Tailspin Retail",
    "Woodgrove Insurance",
    "Proseware Steel",
    "Relecloud Telecom",
    "Wingtip Foods",
    "Alpine Mining",
    "Coho Shipping",
]
ORDINARY = [
    "{c} to report quarterly results on {d}",
    "{c} shares close little changed at {p} dollars",
    "{c} schedules annual shareholder meeting for {d}",
    "{c} names new chief financial officer",
    "{c} reports quarterly revenue in line with estimates",
    "{c} completes previously announced share buyback of {n} million dollars",
    "{c} opens new regional office in {city}",
    "{c} declares regular quarterly dividend of {q} cents",
]
# The ordinary stream's bad news: about one headline in eight.
ROUTINE_BAD = [
    "{c} shares fall {n} percent after profit warning",
    "{c} cuts full-year outlook as sales slump",
]
BURST = [
    "{c} shares crash {n} percent after accounting fraud revealed",
    "{c} files for bankruptcy protection as losses mount",
    "{c} plunges {n} percent after massive losses and layoffs",
    "Regulator fines {c} {n} million dollars over fraud",
    "{c} defaults on debt payments, shares collapse",
    "{c} slashes guidance and warns of heavy losses",
]
CITIES = ["Denver", "Austin", "Boston", "Dublin", "Singapore", "Toronto", "Oslo", "Zurich"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

Item = tuple[str, datetime, str]  # title, published, guid


def headline(templates: list[str], i: int) -> str:
    """The ``i``-th headline from ``templates``, with companies and figures varied by ``i``."""
    return templates[i % len(templates)].format(
        c=COMPANIES[(i * 7) % len(COMPANIES)],
        d=DAYS[i % len(DAYS)],
        p=20 + i % 80,
        n=3 + i % 40,
        q=10 + i % 50,
        city=CITIES[i % len(CITIES)],
    )


def rss(items: list[Item]) -> str:
    """An RSS 2.0 document of ``items``."""
    entries = "".join(
        f"<item><title>{escape(title)}</title><link>https://news.example/{guid}</link>"
        f"<guid>{guid}</guid><pubDate>{format_datetime(when)}</pubDate></item>"
        for title, when, guid in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Wire</title><link>https://news.example/</link>{entries}</channel></rss>"
    )
