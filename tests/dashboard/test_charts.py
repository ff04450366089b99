"""The Overview's frames: share, trailing baseline (smoothed as the detector does) and
threshold per bucket; bucket choice; heat map and volume cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard import charts
from pipeline.queries import CountRow

START = datetime(2026, 3, 1, tzinfo=UTC)


def _rows(hours: int, topic: str, per_hour: int, negatives: int) -> list[CountRow]:
    rows = []
    for h in range(hours):
        period = START + timedelta(hours=h)
        rows.append(CountRow(period, topic, "negative", negatives))
        rows.append(CountRow(period, topic, "neutral", per_hour - negatives))
    return rows


def test_a_steady_topic_sits_on_its_baseline() -> None:
    frame = charts.counts_frame(_rows(24 * 9, "Macro", 10, 2))
    shown_from = START + timedelta(days=8)
    shares = charts.share_frame(
        frame,
        start=shown_from,
        end=START + timedelta(days=9),
        bucket=timedelta(hours=1),
        baseline_days=7,
        prior_strength=50,
        min_lift=0.15,
    )
    macro = shares[shares["topic"] == "Macro"]
    assert len(macro) == 24 and (macro["bucket"] >= pd.Timestamp(shown_from)).all()
    assert macro["share"].round(6).eq(0.2).all()
    assert macro["baseline"].round(6).eq(0.2).all()
    assert macro["threshold"].round(6).eq(0.35).all()
    assert set(shares["topic"]) == {"Macro", charts.ALL_TOPICS}


def test_a_burst_rises_above_the_band_and_thin_buckets_leave_gaps() -> None:
    rows = _rows(24 * 8, "Financials", 10, 1)
    burst_hour = START + timedelta(days=8)
    rows += [
        CountRow(burst_hour, "Financials", "negative", 9),
        CountRow(burst_hour, "Financials", "neutral", 1),
    ]
    rows += [CountRow(burst_hour, "IPO", "negative", 1)]  # one article: no share drawn
    frame = charts.counts_frame(rows)
    shares = charts.share_frame(
        frame,
        start=burst_hour,
        end=burst_hour + timedelta(hours=1),
        bucket=timedelta(hours=1),
        baseline_days=7,
        prior_strength=50,
        min_lift=0.15,
    )
    fin = shares[shares["topic"] == "Financials"].iloc[0]
    assert fin["share"] == 0.9 and fin["share"] > fin["threshold"]
    ipo = shares[shares["topic"] == "IPO"].iloc[0]
    assert pd.isna(ipo["share"]) and ipo["n"] == 1


def test_bucket_is_the_finest_with_enough_articles() -> None:
    busy = charts.counts_frame(_rows(24, "Macro", 10, 2))
    end = START + timedelta(hours=24)
    assert (
        charts.choose_bucket(
            busy, start=START, end=end, topics=["Macro"], finest=timedelta(hours=1)
        )[1]
        == "hour"
    )
    quiet = charts.counts_frame(_rows(24, "Macro", 1, 0))
    assert (
        charts.choose_bucket(
            quiet, start=START, end=end, topics=["Macro"], finest=timedelta(hours=1)
        )[1]
        == "12 hours"
    )


def test_heatmap_and_volume_cells() -> None:
    frame = charts.counts_frame(_rows(48, "Macro", 4, 1))
    cells = charts.heatmap_frame(frame, start=START, unit="day")
    assert list(cells["n"]) == [96, 96] and list(cells["share"]) == [0.25, 0.25]
    volume = charts.volume_frame(frame, start=START, bucket=timedelta(days=1))
    assert volume.groupby("sentiment")["n"].sum().to_dict() == {"negative": 48, "neutral": 144}
    # Altair builds a spec from each without error (what st.altair_chart sends).
    assert charts.heatmap_chart(cells, unit="day").to_dict()
    assert charts.volume_chart(volume, bucket_label="day").to_dict()


def test_plain_shows_markdown_as_itself() -> None:
    from dashboard.common import plain

    hostile = "[click](javascript:alert(1)) **bold** <b>x</b> $x^2$ `code` # head"
    escaped = plain(hostile)
    # Every Markdown, HTML and LaTeX opener is escaped; the text itself is all there.
    for char in "[]()*<>$`#:":
        assert f"\\{char}" in escaped
    assert escaped.replace("\\", "") == hostile
