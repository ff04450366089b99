"""Regenerate the bundled demo feeds (``replay-*.xml``) from hand-written headlines.

Run once by a developer (``python -m pipeline.demo.make_demo_feeds``); the output is
committed. A week of ordinary news — the hand-written headlines in
``models/data/news_headlines_eval.csv`` — spread over two feeds, then a third
feed carrying a two-hour burst of bad banking news at the end. ``finsent demo``
replays them as of the last story, so the burst opens an alert.
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
HEADLINES = HERE.parent.parent / "models" / "data" / "news_headlines_eval.csv"
BURST_START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
WEEK_START = BURST_START - timedelta(days=7)

BURST = [
    "Regional lender Harbor Bancorp shares plunge 40% as deposit outflows accelerate",
    "Harbor Bancorp suspends dividend after record quarterly loss",
    "Moody's downgrades Harbor Bancorp to junk, citing liquidity strain",
    "Bank stocks tumble as fears of contagion spread across regional lenders",
    "Westbridge Financial warns of steep loan losses, shares crash",
    "Depositors pull billions from Westbridge Financial in run on the bank",
    "Regulators seize failed lender Harbor Bancorp",
    "Westbridge Financial cuts full-year outlook and halts buybacks",
    "KBW bank index slumps to lowest level since 2020",
    "Credit default swaps on regional banks surge to record highs",
    "Westbridge Financial CEO resigns amid mounting losses",
    "S&P cuts ratings on five regional banks, outlook negative",
    "Bank shares sink for a third day as losses on bond portfolios mount",
    "Pinecrest Bank posts surprise loss and slashes guidance",
    "Pinecrest Bank to cut 2,000 jobs as commercial property loans sour",
    "Investors dump regional bank bonds, spreads blow out",
    "Harbor Bancorp bondholders face heavy losses in failed sale",
    "Westbridge Financial shares halted after 60% collapse",
    "Fitch places Pinecrest Bank on negative watch over deposit flight",
    "Bank rout deepens as Pinecrest Bank misses earnings estimates badly",
    "Commercial real estate defaults hit lenders, bank stocks plunge",
    "Westbridge Financial faces fraud lawsuit from shareholders",
]


def _item(title: str, link: str, published: datetime) -> str:
    return (
        "    <item>\n"
        f"      <title>{escape(title)}</title>\n"
        f"      <link>{escape(link)}</link>\n"
        f'      <guid isPermaLink="true">{escape(link)}</guid>\n'
        f"      <pubDate>{format_datetime(published)}</pubDate>\n"
        "    </item>\n"
    )


def _feed(title: str, items: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0">\n  <channel>\n'
        f"    <title>{escape(title)}</title>\n"
        "    <link>https://demo.finsent.invalid/</link>\n"
        f"    <description>finsent demo feed: {escape(title)}</description>\n"
        + "".join(items)
        + "  </channel>\n</rss>\n"
    )


def main() -> None:
    with HEADLINES.open(newline="", encoding="utf-8") as handle:
        headlines = [row["text"] for row in csv.DictReader(handle)]
    rng = random.Random(7)
    rng.shuffle(headlines)
    span = (BURST_START - WEEK_START).total_seconds()
    feeds: dict[str, list[str]] = {"replay-markets-wire.xml": [], "replay-company-desk.xml": []}
    names = list(feeds)
    for index, title in enumerate(headlines):
        published = WEEK_START + timedelta(seconds=span * index / len(headlines))
        slug = f"ordinary-{index:04d}"
        feeds[names[index % 2]].append(
            _item(title, f"https://demo.finsent.invalid/news/{slug}", published)
        )
    burst = []
    for index, title in enumerate(BURST):
        published = BURST_START + timedelta(minutes=5 + 110 * index / len(BURST))
        burst.append(_item(title, f"https://demo.finsent.invalid/banks/{index:03d}", published))
    titles = {
        "replay-markets-wire.xml": "Demo Markets Wire",
        "replay-company-desk.xml": "Demo Company Desk",
    }
    for name, items in feeds.items():
        (HERE / name).write_text(_feed(titles[name], items), encoding="utf-8")
    (HERE / "replay-banking-desk.xml").write_text(
        _feed("Demo Banking Desk", burst), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
