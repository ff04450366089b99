"""Frames and Altair charts for the pages: pure functions of query results, no Streamlit.

Tooltips show numbers and topic names only. Vega's tooltip handler escapes what it
shows, but no feed text (titles, summaries) is put into a chart at all: headlines live
in tables, which render text as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import altair as alt
import pandas as pd

from pipeline.queries import AlertMarker, CountRow

ALL_TOPICS = "All topics"
SENTIMENT_ORDER = ["negative", "neutral", "positive"]
SENTIMENT_COLORS = ["#d62728", "#b0b0b0", "#2ca02c"]
# A share computed from fewer articles than this is noise; the line leaves a gap there.
MIN_ARTICLES_FOR_SHARE = 5
# Chart buckets to choose from, finest first; the finest that gives a typical topic about
# this many articles per bucket is used, so a line is a trend rather than 0 %/100 % noise.
BUCKETS = (
    (timedelta(hours=1), "hour"),
    (timedelta(hours=3), "3 hours"),
    (timedelta(hours=6), "6 hours"),
    (timedelta(hours=12), "12 hours"),
    (timedelta(days=1), "day"),
)
TARGET_PER_BUCKET = 8


def choose_bucket(
    frame: pd.DataFrame, *, start: datetime, end: datetime, topics: Sequence[str], finest: timedelta
) -> tuple[timedelta, str]:
    """The finest bucket (not finer than ``finest``) in which the median charted topic has
    about ``TARGET_PER_BUCKET`` articles, and what one bucket is called."""
    shown = frame[frame["period"] >= pd.Timestamp(start)]
    per_topic = shown.groupby("topic")["n"].sum()
    chosen = [t for t in topics if t in per_topic.index]
    typical = float(per_topic[chosen].median()) if chosen else float(per_topic.median() or 0)
    hours = max((end - start).total_seconds() / 3600, 1.0)
    per_hour = typical / hours
    for size, label in BUCKETS:
        if size < finest:
            continue
        if per_hour * size.total_seconds() / 3600 >= TARGET_PER_BUCKET:
            return size, label
    return BUCKETS[-1]


def counts_frame(rows: Sequence[CountRow]) -> pd.DataFrame:
    """Query rows as a frame: period (UTC), topic, sentiment, n."""
    frame = pd.DataFrame(
        [(r.period, r.topic, r.sentiment, r.n) for r in rows],
        columns=["period", "topic", "sentiment", "n"],
    )
    frame["period"] = pd.to_datetime(frame["period"], utc=True)
    return frame


def _bucket_index(start: datetime, end: datetime, bucket: timedelta) -> pd.DatetimeIndex:
    first = pd.Timestamp(start).floor(pd.Timedelta(bucket))
    return pd.date_range(first, pd.Timestamp(end), freq=pd.Timedelta(bucket), inclusive="left")


def share_frame(
    frame: pd.DataFrame,
    *,
    start: datetime,
    end: datetime,
    bucket: timedelta,
    baseline_days: float,
    prior_strength: float,
    min_lift: float,
) -> pd.DataFrame:
    """Negative share per (topic, bucket) in ``[start, end)`` with each topic's trailing
    baseline, smoothed towards the overall rate as the detector does, and the alert
    threshold (baseline + ``min_lift``). ``frame`` must reach back ``baseline_days``
    before ``start``. Adds an ``All topics`` series."""
    columns = ["topic", "bucket", "n", "negatives", "share", "baseline", "threshold"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    query_start = frame["period"].min().to_pydatetime()
    index = _bucket_index(min(query_start, start), end, bucket)
    data = frame.assign(
        bucket=frame["period"].dt.floor(pd.Timedelta(bucket)),
        negatives=frame["n"].where(frame["sentiment"] == "negative", 0),
    )
    n = data.pivot_table(index="bucket", columns="topic", values="n", aggfunc="sum")
    neg = data.pivot_table(index="bucket", columns="topic", values="negatives", aggfunc="sum")
    n = n.reindex(index, fill_value=0).fillna(0)
    neg = neg.reindex(index, fill_value=0).fillna(0)
    n[ALL_TOPICS] = n.sum(axis=1)
    neg[ALL_TOPICS] = neg.sum(axis=1)
    window = max(1, round(timedelta(days=baseline_days) / bucket))
    # The baseline of a bucket is the period just before it (shift 1): as the detector
    # compares a window with the days before it, never with itself.
    n_before = n.rolling(window, min_periods=1).sum().shift(1)
    neg_before = neg.rolling(window, min_periods=1).sum().shift(1)
    overall = (neg_before[ALL_TOPICS] / n_before[ALL_TOPICS]).where(n_before[ALL_TOPICS] > 0)
    baseline = neg_before.add(prior_strength * overall, axis=0).div(n_before + prior_strength)
    share = (neg / n).where(n >= MIN_ARTICLES_FOR_SHARE)
    shown = index >= pd.Timestamp(start)
    long = pd.DataFrame(
        {
            "n": n[shown].stack(),
            "negatives": neg[shown].stack(),
            "share": share[shown].stack(future_stack=True),
            "baseline": baseline[shown].stack(future_stack=True),
        }
    ).reset_index(names=["bucket", "topic"])
    long["threshold"] = (long["baseline"] + min_lift).clip(upper=1.0)
    long["n"] = long["n"].astype(int)
    long["negatives"] = long["negatives"].astype(int)
    return long[columns]


def share_chart(
    shares: pd.DataFrame,
    markers: Sequence[AlertMarker],
    *,
    topics: Sequence[str],
    bucket_label: str,
    columns: int = 4,
) -> alt.FacetChart:
    """Small multiples, one per topic: negative share (line), the band from the baseline
    to the alert threshold, and a red marker where an alert fired."""
    series = shares[shares["topic"].isin(topics)].assign(kind="series")
    marks = pd.DataFrame(
        [
            {
                "topic": ALL_TOPICS if m.scope == "all" else m.topic,
                "bucket": pd.Timestamp(m.at),
                "alert_share": m.share,
                "alert": f"#{m.id} {m.state}",
                "alert_baseline": m.baseline,
                "kind": "alert",
            }
            for m in markers
        ],
        columns=["topic", "bucket", "alert_share", "alert", "alert_baseline", "kind"],
    )
    marks = marks[marks["topic"].isin(topics)]
    data = pd.concat([series, marks], ignore_index=True)
    x = alt.X("bucket:T", title=None, axis=alt.Axis(format="%d %b %H:%M", labelAngle=0))
    base = alt.Chart(data)
    band = (
        base.transform_filter(alt.datum.kind == "series")
        .mark_area(opacity=0.18, color="#1f77b4")
        .encode(
            x=x,
            y=alt.Y("baseline:Q", title="negative share", axis=alt.Axis(format="%")),
            y2="threshold:Q",
        )
    )
    line = (
        base.transform_filter(alt.datum.kind == "series")
        .mark_line(point=alt.OverlayMarkDef(size=12), color="#1f1f1f", strokeWidth=1.5)
        .encode(
            x=x,
            y=alt.Y("share:Q", scale=alt.Scale(domain=[0, 1])),
            tooltip=[
                alt.Tooltip("topic:N"),
                alt.Tooltip("bucket:T", title=bucket_label, format="%d %b %Y %H:%M"),
                alt.Tooltip("share:Q", title="negative share", format=".0%"),
                alt.Tooltip("negatives:Q", title="negative articles"),
                alt.Tooltip("n:Q", title="articles"),
                alt.Tooltip("baseline:Q", title="baseline", format=".0%"),
                alt.Tooltip("threshold:Q", title="alert threshold", format=".0%"),
            ],
        )
    )
    alerts = (
        base.transform_filter(alt.datum.kind == "alert")
        .mark_point(shape="triangle-down", size=160, filled=True, color="#d62728")
        .encode(
            x=x,
            y=alt.Y("alert_share:Q"),
            tooltip=[
                alt.Tooltip("alert:N", title="alert"),
                alt.Tooltip("topic:N"),
                alt.Tooltip("bucket:T", title="fired", format="%d %b %Y %H:%M"),
                alt.Tooltip("alert_share:Q", title="negative share (window)", format=".0%"),
                alt.Tooltip("alert_baseline:Q", title="baseline", format=".0%"),
            ],
        )
    )
    order = list(topics)
    return (
        alt.layer(band, line, alerts, data=data)
        .properties(width=190, height=130)
        .facet(facet=alt.Facet("topic:N", sort=order, title=None), columns=columns)
        .resolve_scale(x="shared", y="shared")
    )


def heatmap_frame(frame: pd.DataFrame, *, start: datetime, unit: str) -> pd.DataFrame:
    """Negative share per (topic, day) — or per hour, for ``unit="hour"`` — from ``start``."""
    columns = ["topic", "cell", "n", "negatives", "share"]
    shown = frame[frame["period"] >= pd.Timestamp(start)]
    if shown.empty:
        return pd.DataFrame(columns=columns)
    cells = shown.assign(
        cell=shown["period"].dt.floor("1D" if unit == "day" else "1h"),
        negatives=shown["n"].where(shown["sentiment"] == "negative", 0),
    )
    grouped = cells.groupby(["topic", "cell"], as_index=False)[["n", "negatives"]].sum()
    grouped["share"] = grouped["negatives"] / grouped["n"]
    return grouped[columns]


def heatmap_chart(cells: pd.DataFrame, *, unit: str) -> alt.Chart:
    """Topic × day (or hour) heat map of the negative share; darker is more negative."""
    order = (
        cells.groupby("topic")["share"].mean().sort_values(ascending=False).index.tolist()
        if not cells.empty
        else []
    )
    time_format = "%d %b" if unit == "day" else "%H:%M"
    return (
        alt.Chart(cells)
        .mark_rect()
        .encode(
            x=alt.X(
                "cell:O",
                timeUnit="yearmonthdate" if unit == "day" else "yearmonthdatehours",
                title=None,
                axis=alt.Axis(format=time_format, labelAngle=-45),
            ),
            y=alt.Y(
                "topic:N", sort=order, title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)
            ),
            color=alt.Color(
                "share:Q",
                title="negative share",
                scale=alt.Scale(scheme="reds", domain=[0, 0.6], clamp=True),
                legend=alt.Legend(format="%"),
            ),
            tooltip=[
                alt.Tooltip("topic:N"),
                alt.Tooltip(
                    "cell:T", title=unit, format="%d %b %Y" if unit == "day" else "%d %b %H:%M"
                ),
                alt.Tooltip("share:Q", title="negative share", format=".0%"),
                alt.Tooltip("negatives:Q", title="negative articles"),
                alt.Tooltip("n:Q", title="articles"),
            ],
        )
        .properties(height=22 * max(1, cells["topic"].nunique()))
    )


def volume_frame(frame: pd.DataFrame, *, start: datetime, bucket: timedelta) -> pd.DataFrame:
    """Articles per (bucket, sentiment) from ``start``."""
    shown = frame[frame["period"] >= pd.Timestamp(start)]
    columns = ["bucket", "sentiment", "n"]
    if shown.empty:
        return pd.DataFrame(columns=columns)
    data = shown.assign(bucket=shown["period"].dt.floor(pd.Timedelta(bucket)))
    return data.groupby(["bucket", "sentiment"], as_index=False)["n"].sum()[columns]


def volume_chart(volume: pd.DataFrame, *, bucket_label: str) -> alt.Chart:
    """Articles over time, stacked by sentiment (negative at the bottom, in red)."""
    return (
        alt.Chart(volume)
        .mark_bar()
        .encode(
            x=alt.X("bucket:T", title=None, axis=alt.Axis(format="%d %b %H:%M", labelAngle=0)),
            y=alt.Y("sum(n):Q", title="articles"),
            color=alt.Color(
                "sentiment:N",
                scale=alt.Scale(domain=SENTIMENT_ORDER, range=SENTIMENT_COLORS),
                legend=alt.Legend(orient="top", title=None),
            ),
            order=alt.Order("sentiment_rank:Q"),
            tooltip=[
                alt.Tooltip("bucket:T", title=bucket_label, format="%d %b %Y %H:%M"),
                alt.Tooltip("sentiment:N"),
                alt.Tooltip("sum(n):Q", title="articles"),
            ],
        )
        .transform_calculate(
            sentiment_rank="indexof(['negative', 'neutral', 'positive'], datum.sentiment)"
        )
        .properties(height=220)
    )


def confusion_frame(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> pd.DataFrame:
    """Long form of a confusion matrix with each row's share (recall per true label)."""
    rows: list[dict[str, Any]] = []
    for i, true in enumerate(labels):
        total = sum(matrix[i]) or 1
        for j, predicted in enumerate(labels):
            count = int(matrix[i][j])
            rows.append(
                {"true": true, "predicted": predicted, "count": count, "share": count / total}
            )
    return pd.DataFrame(rows, columns=["true", "predicted", "count", "share"])


def confusion_chart(cells: pd.DataFrame, *, labels: Sequence[str], size: int) -> alt.LayerChart:
    """A confusion matrix heat map: rows are the true label, columns the model's;
    colour is the share of the row, numbers are counts."""
    order = list(labels)
    base = alt.Chart(cells).encode(
        x=alt.X(
            "predicted:N",
            sort=order,
            title="model says",
            axis=alt.Axis(labelAngle=-45, labelLimit=200, labelOverlap=False),
        ),
        y=alt.Y(
            "true:N",
            sort=order,
            title="true label",
            axis=alt.Axis(labelLimit=200, labelOverlap=False),
        ),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), legend=None),
        tooltip=[
            alt.Tooltip("true:N", title="true label"),
            alt.Tooltip("predicted:N", title="model says"),
            alt.Tooltip("count:Q", title="examples"),
            alt.Tooltip("share:Q", title="share of the true label", format=".0%"),
        ],
    )
    numbers = base.mark_text(fontSize=10 if len(order) > 5 else 14).encode(
        text=alt.Text("count:Q"),
        color=alt.condition(alt.datum.share > 0.5, alt.value("white"), alt.value("#333")),
    )
    return alt.layer(rect, numbers).properties(width=size, height=size)


def probabilities_chart(probabilities: dict[str, float]) -> alt.Chart:
    """The model's sentiment probabilities for one text, as bars."""
    frame = pd.DataFrame(
        [(name, probabilities.get(name, 0.0)) for name in SENTIMENT_ORDER],
        columns=["sentiment", "probability"],
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            y=alt.Y("sentiment:N", sort=SENTIMENT_ORDER, title=None),
            color=alt.Color(
                "sentiment:N",
                scale=alt.Scale(domain=SENTIMENT_ORDER, range=SENTIMENT_COLORS),
                legend=None,
            ),
            tooltip=[alt.Tooltip("sentiment:N"), alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(height=110)
    )
