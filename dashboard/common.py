"""What every page shares: the engine, the shared filters, cached reads, safe display.

Data comes only from ``pipeline`` read-side functions (:mod:`pipeline.queries`,
:mod:`pipeline.alerts.counts`), through ``st.cache_resource`` (the engine, the model)
and ``st.cache_data`` (frames, for ``DATA_TTL`` seconds). Any database problem reaches
the analyst as one line (``st.error``), never as a traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from pipeline.errors import FinsentError
from pipeline.settings import Settings, get_settings

T = TypeVar("T")

DATA_TTL = 30  # seconds a cached frame is reused; the live fragments refresh each minute
LIVE_EVERY = "60s"

RANGES = {"24 h": timedelta(hours=24), "7 d": timedelta(days=7), "30 d": timedelta(days=30)}
CUSTOM = "Custom"
DEFAULT_RANGE = "7 d"

SENTIMENT_COLORS = {"negative": "#d62728", "neutral": "#9e9e9e", "positive": "#2ca02c"}


@dataclass(frozen=True)
class View:
    """The shared selection every page reads: time range and topics."""

    start: datetime
    end: datetime
    label: str  # "last 7 d", or the custom dates
    topics: tuple[str, ...]  # empty: every topic

    @property
    def span(self) -> timedelta:
        return self.end - self.start


def settings() -> Settings:
    return get_settings()


@st.cache_resource(show_spinner=False)
def database_engine(url: str) -> Engine:
    from pipeline.wiring import open_database

    # open_database raises FinsentError (one line); cache_resource keeps no failed result,
    # so the next rerun tries again (a database that comes back is picked up).
    return open_database(get_settings(), migrate=False)


def engine() -> Engine:
    """The engine for FINSENT_DATABASE_URL, or stop the page with the one-line reason."""
    url = settings().database_url
    try:
        bound = database_engine(url)
    except FinsentError as exc:
        show_stop(str(exc))
    problem = _schema_problem(url)
    if problem:
        show_stop(problem)
    return bound


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def _schema_problem(url: str) -> str | None:
    from pipeline.queries import schema_problem

    with Session(database_engine(url)) as session:
        return schema_problem(session)


def show_stop(message: str) -> Any:
    """Show ``message`` as the page's one error line and stop this run."""
    st.error(plain(message), icon=":material/error:")
    st.stop()


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&])")


def plain(text: str) -> str:
    """``text`` escaped for Streamlit's Markdown (alerts, captions): every punctuation
    character that could start Markdown, a link, HTML or LaTeX is shown as itself.
    For messages that quote what someone typed or a feed sent."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn a database failure under a page into one line (server gone, locked, ...)."""
    from pipeline.wiring import describe_database_error

    try:
        yield
    except SQLAlchemyError as exc:
        show_stop(describe_database_error(exc, url=settings().database_url))


def read(work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` on a fresh read session."""
    with Session(engine()) as session:
        return work(session)


def write(work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one transaction, then drop every cached frame (so the
    change shows at once)."""
    with Session(engine()) as session, session.begin():
        result = work(session)
    st.cache_data.clear()
    return result


def now_minute() -> datetime:
    """Now, rounded up to the next whole minute: cache keys stay the same for a minute
    and an article published seconds ago is still inside the range."""
    current = datetime.now(UTC).replace(second=0, microsecond=0)
    return current + timedelta(minutes=1)


def current_view() -> View:
    """The shared filters as the sidebar's widgets hold them, with a fresh "now": a live
    fragment reruns without the entrypoint, and its range must still end now."""
    state = st.session_state
    view = view_from_widgets(
        str(state.get("range_choice", DEFAULT_RANGE)),
        state.get("range_custom"),
        list(state.get("topic_filter") or []),
    )
    state["_finsent_view"] = view
    return view


def view_from_widgets(choice: str, custom: Any, topics: list[str]) -> View:
    """The :class:`View` for the sidebar's widget values."""
    end = now_minute()
    if choice == CUSTOM and isinstance(custom, tuple | list) and len(custom) == 2:
        first, last = custom
        if isinstance(first, date) and isinstance(last, date):
            start = datetime.combine(first, time(0), UTC)
            stop = datetime.combine(last, time(0), UTC) + timedelta(days=1)
            return View(start, min(stop, end), f"{first:%d %b %Y} – {last:%d %b %Y}", tuple(topics))
    span = RANGES.get(choice, RANGES[DEFAULT_RANGE])
    label = choice if choice in RANGES else DEFAULT_RANGE
    return View(end - span, end, f"last {label}", tuple(topics))


def ago(moment: datetime | None, *, now: datetime | None = None) -> str:
    """``"4 min ago"``, ``"3 h ago"``, ``"2 d ago"`` or ``"never"``."""
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 0:
        return "in " + ago(now or datetime.now(UTC), now=moment).removesuffix(" ago")
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{round(seconds / 60)} min ago"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} d ago"


def utc(moment: datetime | None) -> str:
    """A timestamp for tables: ``2026-03-02 15:04 UTC``."""
    return "" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def percent(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.0%}"


def safe_link(url: str | None) -> str | None:
    """``url`` only if it is an http(s) link: a ``javascript:`` link is never rendered as
    a link (the alerts stage's rule, so notifications and the dashboard agree)."""
    from pipeline.alerts.evidence import safe_link as _safe_link

    return _safe_link(url)


def empty_state(status: Any) -> None:
    """The start page for a database with no articles yet."""
    st.info("No news yet: finsent has not ingested any article.", icon=":material/inbox:")
    st.markdown(
        "**Get started**\n\n"
        "1. Add a feed on the **Feeds** page (or `finsent feeds add https://…/rss`; "
        "`finsent feeds import examples/financial-news.opml` adds a starter set).\n"
        "2. Run the pipeline once: `finsent run` (ingest → score → detect), or let "
        "Airflow run it every 15 minutes.\n"
        "3. Come back here: charts, alerts and articles appear as soon as articles are "
        "scored.\n\n"
        "Just looking? `make demo` runs finsent on bundled news with an alert to explore."
    )
    if status is not None and status.feeds:
        st.caption(
            f"{status.feeds} feed(s) registered, {status.enabled_feeds} enabled; last "
            f"successful fetch {ago(status.last_ingest_at)}."
        )
