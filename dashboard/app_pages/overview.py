"""Overview: is anything wrong right now, and where?

KPIs (articles, negative share now vs the 7-day baseline, open alerts, last ingest), the
negative share per topic against its baseline band with alert markers, a topic × day
heat map and the volume by sentiment. Refreshes itself every minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from dashboard import charts
from dashboard.common import (
    DATA_TTL,
    LIVE_EVERY,
    View,
    ago,
    current_view,
    database_errors,
    empty_state,
    engine,
    percent,
    plain,
    read,
    safe_link,
    settings,
    utc,
)
from pipeline.alerts.counts import Headline, sentiment_counts_by_topic
from pipeline.queries import (
    AlertMarker,
    CountRow,
    SystemStatus,
    WindowVsBaseline,
    alert_markers,
    sentiment_by_period,
    system_status,
    window_vs_baseline,
)

MAX_FACETS = 8  # "All topics" and the seven topics most worth a look


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_status(url: str) -> SystemStatus:
    return read(lambda session: system_status(session=session))


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_counts(
    url: str, version: str, start: datetime, end: datetime, period: str
) -> list[CountRow]:
    return read(
        lambda session: sentiment_by_period(
            session=session,
            model_version=version,
            start=start,
            end=end,
            period="day" if period == "day" else "hour",
        )
    )


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_now(
    url: str, version: str, end: datetime, window_hours: float, baseline_days: float
) -> WindowVsBaseline:
    return read(
        lambda session: window_vs_baseline(
            session=session,
            model_version=version,
            end=end,
            window_hours=window_hours,
            baseline_days=baseline_days,
        )
    )


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_totals(url: str, version: str, start: datetime, end: datetime) -> dict[str, int]:
    """Articles per topic in exactly ``[start, end)`` (the chart buckets round to hours)."""

    def work(session: Session) -> dict[str, int]:
        counts = sentiment_counts_by_topic(
            session=session, model_version=version, start=start, end=end
        )
        return {topic: c.total for topic, c in counts.items()}

    return read(work)


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_markers(url: str, start: datetime, end: datetime) -> list[AlertMarker]:
    return read(lambda session: alert_markers(session=session, start=start, end=end))


def period_for(span: timedelta) -> str:
    """The SQL period to read for a range: hours up to ten days, then days."""
    return "hour" if span <= timedelta(days=10) else "day"


def _share(pairs: dict[str, tuple[int, int]], topics: tuple[str, ...]) -> tuple[int, int]:
    chosen = [v for t, v in pairs.items() if not topics or t in topics]
    return sum(n for n, _ in chosen), sum(neg for _, neg in chosen)


def _ranked_topics(now: WindowVsBaseline, markers: list[AlertMarker], view: View) -> list[str]:
    """Topics in the order worth a look: the chosen ones; else those with open alerts,
    then by their rise over the baseline now, then by volume."""
    if view.topics:
        return list(view.topics)
    alerted = [m.topic for m in markers if m.state != "resolved" and m.scope == "topic"]

    def rank(topic: str) -> tuple[float, int, str]:
        n, neg = now.window.get(topic, (0, 0))
        bn, bneg = now.baseline.get(topic, (0, 0))
        lift = neg / n - bneg / bn if n >= 5 and bn else -1.0
        return (-lift, -bn, topic)

    ranked = sorted(set(now.window) | set(now.baseline), key=rank)
    return list(dict.fromkeys([*alerted, *ranked]))


def _facets(shares: pd.DataFrame, ranked: list[str], alerted: set[str], view: View) -> list[str]:
    """The small multiples to draw: "All topics" (unless one topic is chosen), then the
    ranked topics that have a line to show (two buckets with enough articles) or an
    alert, up to ``MAX_FACETS``."""
    points = shares.dropna(subset=["share"]).groupby("topic").size()
    drawable = [t for t in ranked if points.get(t, 0) >= 2 or t in alerted]
    if view.topics and len(view.topics) == 1:
        return list(view.topics)
    return [charts.ALL_TOPICS, *drawable[: MAX_FACETS - 1]]


def kpis(status: SystemStatus, now: WindowVsBaseline, view: View, articles: int) -> None:
    cfg = settings()
    n, neg = _share(now.window, view.topics)
    bn, bneg = _share(now.baseline, view.topics)
    share = neg / n if n else None
    base = bneg / bn if bn else None
    columns = st.columns(4)
    columns[0].metric(
        "Articles",
        f"{articles:,}",
        help=f"Scored articles published in the {view.label} (UTC).",
        border=True,
    )
    delta = None
    if share is not None and base is not None:
        delta = f"{(share - base) * 100:+.0f} pts vs baseline {percent(base)}"
    columns[1].metric(
        f"Negative, last {cfg.detect_window_hours:g} h",
        percent(share),
        delta=delta,
        delta_color="inverse",
        help=(
            f"Share of negative articles in the last {cfg.detect_window_hours:g} h "
            f"of the range ({n} articles), against the "
            f"{cfg.detect_baseline_days:g} days before — what the alert rule compares."
        ),
        border=True,
    )
    columns[2].metric(
        "Open alerts",
        status.open_alerts,
        delta="needs a look" if status.open_alerts else "all quiet",
        delta_color="inverse" if status.open_alerts else "off",
        delta_arrow="off",
        border=True,
    )
    columns[3].metric(
        "Last ingest",
        ago(status.last_ingest_at),
        help=f"Latest successful fetch of any feed: {utc(status.last_ingest_at) or 'never'}.",
        border=True,
    )


def alert_banner(markers: list[AlertMarker], status: SystemStatus) -> None:
    open_markers = [m for m in markers if m.state in ("firing", "pending")]
    if not status.open_alerts:
        return
    lines = []
    for m in open_markers[-3:]:
        scope = "all articles" if m.scope == "all" else m.topic
        lines.append(
            f"**{scope}** — {percent(m.share)} negative vs {percent(m.baseline)} baseline "
            f"({m.state} since {utc(m.at)})"
        )
    text = "  \n".join(lines) if lines else f"{status.open_alerts} open alert(s)."
    st.error(f"**{status.open_alerts} open alert(s)**  \n{text}", icon=":material/warning:")
    st.page_link("app_pages/alerts.py", label="See the alerts and their articles", icon="➡️")


def headlines_table(headlines: list[Headline]) -> None:
    if not headlines:
        st.caption("No negative articles in the window.")
        return
    frame = pd.DataFrame(
        {
            "title": [h.title for h in headlines],
            "P(negative)": [h.p_negative for h in headlines],
            "topic": [h.topic for h in headlines],
            "published": [f"{h.published_at:%H:%M}" for h in headlines],
            "link": [safe_link(h.link) for h in headlines],
        }
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "P(negative)": st.column_config.ProgressColumn(format="%.2f", min_value=0, max_value=1),
            "title": st.column_config.TextColumn(width="large"),
            "published": st.column_config.TextColumn("UTC", width="small"),
            "link": st.column_config.LinkColumn(display_text="open", width="small"),
        },
    )


@st.fragment(run_every=LIVE_EVERY)
def live_overview() -> None:
    cfg = settings()
    url = cfg.database_url
    view = current_view()
    with database_errors():
        status = load_status(url)
        if status.empty or status.model_version is None:
            if status.empty:
                empty_state(status)
            else:
                st.info(
                    "Articles are in, but none is scored yet: run `finsent score` "
                    "(or `finsent run`).",
                    icon=":material/hourglass:",
                )
            return
        version = status.model_version
        period = period_for(view.span)
        query_start = view.start - timedelta(days=cfg.detect_baseline_days)
        rows = load_counts(url, version, query_start, view.end, period)
        now = load_now(url, version, view.end, cfg.detect_window_hours, cfg.detect_baseline_days)
        markers = load_markers(url, view.start, view.end)
        totals = load_totals(url, version, view.start, view.end)
    frame = charts.counts_frame(rows)
    in_range = frame[frame["period"] >= pd.Timestamp(view.start)]
    if view.topics:
        in_range = in_range[in_range["topic"].isin(view.topics)]
    scope = ", ".join(view.topics) if view.topics else "all topics"
    st.caption(
        f"{view.label.capitalize()} · {scope} · model {plain(version)} · "
        f"updated {datetime.now(UTC):%H:%M:%S} UTC"
    )
    alert_banner(markers, status)
    articles = sum(n for topic, n in totals.items() if not view.topics or topic in view.topics)
    kpis(status, now, view, articles)
    if not articles:
        newest = utc(status.newest_article_at)
        st.info(
            f"No scored articles in the {view.label}; the newest article is from {newest}. "
            "Choose a longer range in the sidebar.",
            icon=":material/date_range:",
        )
        return

    st.subheader("Negative share by topic")
    ranked = _ranked_topics(now, markers, view)
    alerted = {m.topic for m in markers if m.state != "resolved" and m.scope == "topic"}
    bucket, bucket_label = charts.choose_bucket(
        frame,
        start=view.start,
        end=view.end,
        topics=ranked[: MAX_FACETS - 1],
        finest=timedelta(hours=1) if period == "hour" else timedelta(days=1),
    )
    shares = charts.share_frame(
        frame,
        start=view.start,
        end=view.end,
        bucket=bucket,
        baseline_days=cfg.detect_baseline_days,
        prior_strength=cfg.detect_prior_strength,
        min_lift=cfg.detect_min_lift,
    )
    topics = _facets(shares, ranked, alerted, view)
    st.altair_chart(
        charts.share_chart(shares, markers, topics=topics, bucket_label=bucket_label),
        # "content": a faceted chart keeps its own cell widths (stretch would widen each).
        width="content",
    )
    st.caption(
        f"Line: share of negative articles per {bucket_label}. Band: the topic's own "
        f"{cfg.detect_baseline_days:g}-day baseline up to the alert threshold (baseline + "
        f"{cfg.detect_min_lift * 100:.0f} points). ▼ an alert fired. "
        + (
            ""
            if view.topics
            else "Shown: all topics, then those with alerts and the "
            "largest rise now; pick topics in the sidebar to see others."
        )
    )

    st.subheader(f"Most negative, last {cfg.detect_window_hours:g} h")
    headlines_table([h for h in now.headlines if not view.topics or h.topic in view.topics])

    left, right = st.columns([3, 2])
    unit = "day" if view.span > timedelta(days=2) else "hour"
    with left:
        st.subheader("Negative share, topic × " + unit)
        cells = charts.heatmap_frame(
            frame if not view.topics else frame[frame["topic"].isin(view.topics)],
            start=view.start,
            unit=unit,
        )
        st.altair_chart(charts.heatmap_chart(cells, unit=unit), width="stretch")
    with right:
        st.subheader("Volume by sentiment")
        if view.span <= timedelta(days=2):
            volume_bucket, volume_label = timedelta(hours=1), "hour"
        elif view.span <= timedelta(days=10):
            volume_bucket, volume_label = timedelta(hours=3), "3 hours"
        else:
            volume_bucket, volume_label = timedelta(days=1), "day"
        volume = charts.volume_frame(in_range, start=view.start, bucket=volume_bucket)
        st.altair_chart(charts.volume_chart(volume, bucket_label=volume_label), width="stretch")
        st.caption(f"Articles per {volume_label}.")


st.title("Overview")
engine()  # the one-line message and stop, if the database cannot serve
live_overview()
