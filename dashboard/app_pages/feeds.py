"""Feeds: health per feed (last success, last error, back-off, articles per day) and
adding a feed with the CLI's validation and the SSRF guard."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from dashboard.common import (
    DATA_TTL,
    ago,
    database_errors,
    engine,
    plain,
    read,
    settings,
    utc,
    write,
)
from pipeline.errors import FinsentError
from pipeline.ingest.feeds import add_feed, feed_as_dict
from pipeline.queries import FeedHealth, feed_health

HEALTH_DAYS = 7


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_health(url: str, now: datetime) -> list[FeedHealth]:
    return read(lambda session: feed_health(session=session, now=now, days=HEALTH_DAYS))


def guard_host(url: str, *, allow_private: bool) -> str | None:
    """Refuse a feed whose host is not public, as every fetch would (the SSRF guard,
    asked now so the analyst hears it at once). Returns a warning for a host that does
    not resolve (it may later), raises FinsentError for a refused one."""
    from pipeline.ingest.netguard import AddressGuard, RefusedAddress, UnresolvableHost

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None  # a local file (allowed with private networks): nothing to resolve
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        AddressGuard(allow_private=allow_private).addresses(parts.hostname, port)
    except RefusedAddress as exc:
        raise FinsentError(f"feed refused: {exc}") from None
    except UnresolvableHost as exc:
        return f"{exc}; added anyway: it is fetched once the name resolves."
    return None


def add_form() -> None:
    cfg = settings()
    with st.form("add_feed", clear_on_submit=True):
        st.markdown("**Add a feed**")
        left, right = st.columns([3, 2])
        url = left.text_input("Feed URL", placeholder="https://example.com/markets.rss")
        name = right.text_input("Name (optional)")
        submitted = st.form_submit_button("Add feed", icon=":material/add:")
    if not submitted:
        return
    warnings: list[str] = []

    def work(session: Session) -> dict[str, object]:
        # The CLI's own add (scheme, host, length; local files only with private
        # networks), then the address check every fetch makes; a refusal raises here
        # and the transaction rolls back, so the feed is never stored.
        feed = add_feed(
            session=session,
            url=url,
            name=name.strip() or None,
            allow_private=cfg.allow_private_networks,
        )
        warning = guard_host(feed.url, allow_private=cfg.allow_private_networks)
        if warning:
            warnings.append(warning)
        return feed_as_dict(feed)

    try:
        with database_errors():
            shown = write(work)
    except FinsentError as exc:
        st.error(plain(str(exc)))
        return
    for warning in warnings:
        st.warning(plain(warning))
    st.success(plain(f"Feed {shown['id']} added: {shown['url']}. The next ingest run fetches it."))


def health_table(rows: list[FeedHealth], now: datetime) -> None:
    frame = pd.DataFrame(
        {
            "status": [r.status for r in rows],
            "name": [r.name or "" for r in rows],
            "URL": [r.url for r in rows],
            "last success": [ago(r.last_success_at, now=now) for r in rows],
            "articles / day": [r.articles_per_day for r in rows],
            "fetches (24 h)": [r.fetches for r in rows],
            "errors (24 h)": [r.errors for r in rows],
            "failures in a row": [r.consecutive_failures for r in rows],
            "next try": [
                utc(r.next_attempt_at) if r.next_attempt_at and r.next_attempt_at > now else ""
                for r in rows
            ],
            "last error": [r.last_error or "" for r in rows],
            "id": [r.id for r in rows],
        }
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            # The URL is shown as text, not as a link: it is the feed's address, as listed.
            "URL": st.column_config.TextColumn(width="medium"),
            "last error": st.column_config.TextColumn(width="large"),
            "id": st.column_config.NumberColumn(format="%d", width="small"),
        },
    )


def main() -> None:
    url = settings().database_url
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with database_errors():
        rows = load_health(url, now)
    if not rows:
        st.info(
            "No feeds yet. Add one below, or from the command line: `finsent feeds add URL` "
            "or `finsent feeds import examples/financial-news.opml`.",
            icon=":material/rss_feed:",
        )
    else:
        troubled = [r for r in rows if r.status in ("failing", "backing off")]
        cols = st.columns(4)
        cols[0].metric("Feeds", len(rows), border=True)
        cols[1].metric("Enabled", sum(r.enabled for r in rows), border=True)
        cols[2].metric(
            "Failing or backing off",
            len(troubled),
            delta="check them" if troubled else "all healthy",
            delta_color="inverse" if troubled else "off",
            delta_arrow="off",
            border=True,
        )
        cols[3].metric(
            f"Articles / day ({HEALTH_DAYS} d)",
            f"{sum(r.articles_per_day for r in rows):,.0f}",
            border=True,
        )
        health_table(rows, now)
        st.caption(
            "Status: ok · failing (the last fetch failed) · backing off (failures in a row: "
            "not fetched again before 'next try') · disabled · never fetched. Times UTC."
        )
    add_form()


st.title("Feeds")
engine()  # the one-line message and stop, if the database cannot serve
main()
