"""The demo's news: ten days of ordinary finance headlines, a negative burst, and more later.

Everything here was written for finsent, never trained on: the 352 hand-written news
headlines of ``models/data/news_headlines_eval.csv`` (every topic, every tone, many
companies), a burst of bad banking news, and a short list of later headlines that
appear on the feeds while the demo runs, so the scheduled runs have work.

Times are relative to the demo's *anchor*, the moment it was first started (kept in
``finsent-demo/anchor.txt``), so the dashboard's "last 24 h / 7 d" views are full on
any date, and a restart reuses the same stories (same GUIDs): nothing is stored twice.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

HEADLINES_CSV = Path(__file__).resolve().parents[2] / "models" / "data" / "news_headlines_eval.csv"
HISTORY = timedelta(days=10)
# The burst ends just before the anchor, inside detection's 2-hour window.
BURST_SPAN = timedelta(minutes=100)
LIVE_EVERY = timedelta(minutes=4)

BURST = (
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
)

# Headlines that appear one by one after the anchor, while the demo runs.
LIVE = (
    "Nordvik Shipping lifts full-year profit forecast on strong container rates",
    "Aurora Foods names former Unilever executive as chief financial officer",
    "Crestline Energy to buy shale producer Red Mesa for $2.1 billion",
    "Eurozone factory activity shrinks for a fifth month, PMI shows",
    "Halvorsen Pharma wins FDA approval for its migraine drug",
    "Copper climbs to a three-month high on Chinese demand hopes",
    "Tallis Motors recalls 180,000 SUVs over faulty brake sensors",
    "Bank of Canada holds rates steady, signals patience on cuts",
    "Quanta Semiconductor shares jump 12% after record data-centre orders",
    "Meridian Retail to close 90 stores and cut 1,400 jobs",
    "Yen weakens past 155 per dollar as rate gap persists",
    "Solberg Telecom raises quarterly dividend by 8%",
    "Treasury yields edge higher ahead of inflation data",
    "Brightwater Utilities fined $45 million over billing errors",
    "Kestrel Airlines reports narrower quarterly loss as fares rise",
    "Oil slips as OPEC+ output talks stall",
    "Vantage Robotics prices IPO at top of range, raising $640 million",
    "Senate panel advances bill to tighten crypto exchange rules",
    "Analysts at Barclays upgrade Ostrander Steel to overweight",
    "Gold steadies near record as investors await Fed minutes",
    "Lumen Health misses revenue estimates, shares slide 9%",
    "Grafton Insurance appoints new chief executive from within",
    "European stocks open flat as earnings season winds down",
    "Pacifica Water wins $300 million desalination contract in Chile",
    "Ridgeway Homes warns of weaker orders as mortgage rates bite",
    "Swiss franc firms as investors seek safety",
    "Helix Biotech halts trial after patient safety concerns",
    "Ashford Capital agrees to sell its asset management arm to Norland",
    "US jobless claims fall more than expected",
    "Corbel Chemicals beats profit forecasts on lower feedstock costs",
)


@dataclass(frozen=True)
class DemoItem:
    """One story on one demo feed."""

    feed: str
    guid: str
    title: str
    published: datetime

    def rss(self) -> str:
        link = f"https://demo.finsent.invalid/{self.guid}"
        return (
            "    <item>\n"
            f"      <title>{escape(self.title)}</title>\n"
            f"      <link>{escape(link)}</link>\n"
            f'      <guid isPermaLink="false">finsent-demo:{escape(self.guid)}</guid>\n'
            f"      <pubDate>{format_datetime(self.published)}</pubDate>\n"
            "    </item>\n"
        )


FEEDS = {
    "markets-wire": "Demo Markets Wire",
    "company-desk": "Demo Company Desk",
    "banking-desk": "Demo Banking Desk",
}


def _ordinary_headlines() -> list[str]:
    with HEADLINES_CSV.open(newline="", encoding="utf-8") as handle:
        headlines = [row["text"] for row in csv.DictReader(handle)]
    random.Random(7).shuffle(headlines)  # topics interleaved over the ten days
    return headlines


def demo_items(anchor: datetime) -> list[DemoItem]:
    """Every story of the scenario, published relative to ``anchor``, oldest first.

    The ordinary headlines spread evenly over the ten days before the anchor, the burst
    over the last 100 minutes before it, and the live headlines every few minutes after
    it (a feed shows only what is published by the time it is read).
    """
    ordinary = _ordinary_headlines()
    start = anchor - HISTORY
    step = (HISTORY - BURST_SPAN) / len(ordinary)
    items = [
        DemoItem(
            feed=("markets-wire", "company-desk")[index % 2],
            guid=f"ordinary-{index:04d}",
            title=title,
            published=start + step * index,
        )
        for index, title in enumerate(ordinary)
    ]
    burst_start = anchor - BURST_SPAN
    items += [
        DemoItem(
            feed="banking-desk",
            guid=f"burst-{index:03d}",
            title=title,
            published=burst_start + BURST_SPAN * (index + 0.5) / len(BURST),
        )
        for index, title in enumerate(BURST)
    ]
    items += [
        DemoItem(
            feed=("markets-wire", "company-desk")[index % 2],
            guid=f"live-{index:03d}",
            title=title,
            published=anchor + LIVE_EVERY * (index + 1),
        )
        for index, title in enumerate(LIVE)
    ]
    return sorted(items, key=lambda item: item.published)


def render_feed(feed: str, items: list[DemoItem], *, now: datetime) -> str:
    """The RSS document of ``feed`` as read at ``now``: its stories published by then."""
    shown = [item for item in items if item.feed == feed and item.published <= now]
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0">\n  <channel>\n'
        f"    <title>{escape(FEEDS[feed])}</title>\n"
        "    <link>https://demo.finsent.invalid/</link>\n"
        f"    <description>finsent demo feed: {escape(FEEDS[feed])}</description>\n"
        + "".join(item.rss() for item in reversed(shown))
        + "  </channel>\n</rss>\n"
    )
