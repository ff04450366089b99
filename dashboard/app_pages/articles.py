"""Articles: every scored article in the range, searchable and filterable, with the
model's probabilities; CSV export of the filtered set; corrections."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from dashboard.common import (
    DATA_TTL,
    current_view,
    database_errors,
    empty_state,
    engine,
    read,
    safe_link,
    settings,
    utc,
)
from dashboard.corrections_form import correction_form
from pipeline.queries import (
    ARTICLE_SORTS,
    ArticleFilter,
    ArticlePage,
    article_page,
    feed_names,
    system_status,
    write_articles_csv,
)

SHOWN = 500
EXPORT_LIMIT = 200_000
SENTIMENTS = ["negative", "neutral", "positive"]


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_page(url: str, filters: ArticleFilter, sort: str) -> ArticlePage:
    return read(
        lambda session: article_page(session=session, filters=filters, sort=sort, limit=SHOWN)
    )


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_feeds(url: str) -> dict[int, str]:
    return read(lambda session: feed_names(session=session))


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_version(url: str) -> tuple[bool, str | None]:
    status = read(lambda session: system_status(session=session))
    return status.has_articles, status.model_version


def export_csv(filters: ArticleFilter, sort: str) -> bytes:
    """The filtered set as CSV (runs when the analyst clicks the download button)."""
    buffer = io.StringIO()
    read(
        lambda session: write_articles_csv(
            session=session, filters=filters, out=buffer, sort=sort, limit=EXPORT_LIMIT
        )
    )
    return buffer.getvalue().encode("utf-8")


def table(page: ArticlePage, feeds: dict[int, str]) -> None:
    rows = page.rows
    frame = pd.DataFrame(
        {
            "published": [utc(r.published_at) for r in rows],
            "title": [r.title for r in rows],
            "topic": [r.topic for r in rows],
            "P(topic)": [r.topic_probability for r in rows],
            "sentiment": [r.sentiment for r in rows],
            "P(negative)": [r.p_negative for r in rows],
            "P(neutral)": [r.p_neutral for r in rows],
            "P(positive)": [r.p_positive for r in rows],
            "feed": [feeds.get(r.feed_id or -1, "") for r in rows],
            "link": [safe_link(r.link) for r in rows],
            "corrected topic": [r.corrected_topic or "" for r in rows],
            "corrected sentiment": [r.corrected_sentiment or "" for r in rows],
            "id": [r.id for r in rows],
        }
    )
    probability = {"format": "%.2f", "min_value": 0.0, "max_value": 1.0}
    st.dataframe(
        frame,
        hide_index=True,
        height=520,
        column_config={
            "title": st.column_config.TextColumn(width="large"),
            "P(topic)": st.column_config.ProgressColumn(**probability),
            "P(negative)": st.column_config.ProgressColumn(**probability),
            "P(neutral)": st.column_config.ProgressColumn(**probability),
            "P(positive)": st.column_config.ProgressColumn(**probability),
            "link": st.column_config.LinkColumn(display_text="open", width="small"),
            "id": st.column_config.NumberColumn(format="%d", width="small"),
        },
    )


def main() -> None:
    url = settings().database_url
    view = current_view()
    with database_errors():
        has_articles, version = load_version(url)
        feeds = load_feeds(url)
    if not has_articles or version is None:
        empty_state(None)
        return
    filters_row = st.columns([3, 2, 2, 2])
    text = filters_row[0].text_input(
        "Search titles and summaries", key="articles_text", placeholder="e.g. guidance cut"
    )
    sentiments = filters_row[1].multiselect(
        "Sentiment", SENTIMENTS, key="articles_sentiments", placeholder="All"
    )
    feed_ids = filters_row[2].multiselect(
        "Feed",
        list(feeds),
        format_func=lambda i: feeds.get(i, f"feed {i}"),
        key="articles_feeds",
        placeholder="All",
    )
    sort = filters_row[3].selectbox(
        "Sort", list(ARTICLE_SORTS), format_func=ARTICLE_SORTS.get, key="articles_sort"
    )
    corrected_only = st.toggle("Corrected only", key="articles_corrected")
    filters = ArticleFilter(
        model_version=version,
        start=view.start,
        end=view.end,
        topics=view.topics,
        sentiments=tuple(sentiments),
        feed_ids=tuple(feed_ids),
        text=text.strip(),
        corrected_only=corrected_only,
    )
    with database_errors():
        page = load_page(url, filters, sort)
    count = f"{page.matching:,}{'+' if page.capped else ''}"
    shown = len(page.rows)
    st.caption(
        f"{count} articles match in the {view.label}"
        + (
            f"; showing the first {shown} ({ARTICLE_SORTS[sort]})."
            if page.matching > shown
            else "."
        )
        + " Click a column header to sort what is shown."
    )
    if not page.rows:
        st.info("No article matches these filters.", icon=":material/filter_alt_off:")
        return
    table(page, feeds)
    st.download_button(
        "Download CSV of the filtered set",
        data=lambda: export_csv(filters, sort),
        file_name="finsent-articles.csv",
        mime="text/csv",
        icon=":material/download:",
        help=f"Every matching article (up to {EXPORT_LIMIT:,}), not only those shown.",
        on_click="ignore",
    )
    correction_form(page.rows, key="articles")


st.title("Articles")
engine()  # the one-line message and stop, if the database cannot serve
main()
