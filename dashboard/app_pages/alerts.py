"""Alerts: open and recent alerts; one alert's evidence and the articles in its window;
acknowledge and silence with the same functions as ``finsent alerts ack|silence``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from dashboard.common import (
    DATA_TTL,
    LIVE_EVERY,
    database_errors,
    engine,
    percent,
    plain,
    read,
    safe_link,
    settings,
    utc,
    write,
)
from dashboard.corrections_form import correction_form
from pipeline.alerts.actions import (
    acknowledge_alert,
    add_silence,
    alert_as_dict,
    list_alerts,
    parse_duration,
)
from pipeline.alerts.evidence import Evidence
from pipeline.errors import FinsentError
from pipeline.queries import ArticleFilter, ArticleRow, article_page
from pipeline.schema import Alert

LIST_LIMIT = 200


def _evidence(data: dict[str, Any]) -> Evidence | None:
    try:
        return Evidence.from_json(data)
    except ValueError:
        return None


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_alerts(url: str) -> list[dict[str, Any]]:
    def work(session: Session) -> list[dict[str, Any]]:
        rows = []
        for alert in list_alerts(session=session, state="all", limit=LIST_LIMIT):
            rows.append(
                {
                    "id": alert.id,
                    "state": str(alert.state),
                    "scope": alert.scope,
                    "topic": alert.topic,
                    "started_at": alert.started_at,
                    "fired_at": alert.fired_at,
                    "resolved_at": alert.resolved_at,
                    "acknowledged_at": alert.acknowledged_at,
                    "evidence": dict(alert.evidence or {}),
                }
            )
        return rows

    return read(work)


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_detail(url: str, alert_id: int) -> dict[str, Any] | None:
    def work(session: Session) -> dict[str, Any] | None:
        alert = session.get(Alert, alert_id)
        return None if alert is None else alert_as_dict(session=session, alert=alert)

    return read(work)


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_window_articles(url: str, filters: ArticleFilter) -> list[ArticleRow]:
    return read(
        lambda session: (
            article_page(
                session=session, filters=filters, sort="most_negative", limit=200, count_cap=1
            ).rows
        )
    )


def scope_name(row: dict[str, Any]) -> str:
    return "all articles" if row["scope"] == "all" else str(row["topic"])


def alerts_table(rows: list[dict[str, Any]]) -> None:
    table = []
    for row in rows:
        ev = _evidence(row["evidence"])
        table.append(
            {
                "#": row["id"],
                "state": row["state"],
                "scope": scope_name(row),
                "fired (UTC)": utc(row["fired_at"] or row["started_at"]),
                "window": ""
                if ev is None
                else f"{ev.window_start:%d %b %H:%M} – {ev.window_end:%H:%M}",
                "negative share": None if ev is None else ev.share,
                "baseline": None if ev is None else ev.baseline,
                "p-value": None if ev is None else ev.p_value,
                "articles": None if ev is None else ev.n,
                "acknowledged": "yes" if row["acknowledged_at"] else "",
                "resolved (UTC)": utc(row["resolved_at"]),
            }
        )
    st.dataframe(
        pd.DataFrame(table),
        hide_index=True,
        column_config={
            "negative share": st.column_config.NumberColumn(format="percent"),
            "baseline": st.column_config.NumberColumn(format="percent"),
            "p-value": st.column_config.NumberColumn(format="%.1e"),
        },
    )


def _label(row: dict[str, Any]) -> str:
    moment = utc(row["fired_at"] or row["started_at"])
    return f"#{row['id']} · {row['state']} · {scope_name(row)} · {moment}"


def _silence(
    session: Session, scope: str, length: timedelta, reason: str | None
) -> tuple[str, datetime]:
    silence = add_silence(session=session, scope=scope, duration=length, reason=reason)
    return silence.scope, silence.until


def actions(row: dict[str, Any]) -> None:
    left, right = st.columns(2)
    with left:
        acknowledged = row["acknowledged_at"] is not None
        if st.button(
            "Acknowledged" if acknowledged else "Acknowledge",
            key=f"ack_{row['id']}",
            disabled=acknowledged,
            icon=":material/done:",
            help="Record that someone is looking at it (as `finsent alerts ack`).",
        ):
            with database_errors():
                write(lambda session: acknowledge_alert(session=session, alert_id=row["id"]).id)
            st.toast(f"Alert #{row['id']} acknowledged.")
            st.rerun()
    with right, st.form(key=f"silence_{row['id']}", border=True):
        st.markdown("**Silence notifications**")
        scope = st.text_input(
            "Scope",
            value="all" if row["scope"] == "all" else str(row["topic"]),
            help="A topic, 'all' (the all-articles alert) or '*' (every scope).",
        )
        duration = st.text_input("For", value="6h", help="e.g. 30m, 6h, 2d, 1h30m")
        reason = st.text_input("Reason", value="")
        if st.form_submit_button("Silence", icon=":material/notifications_off:"):
            try:
                length = parse_duration(duration)
                with database_errors():
                    silenced, until = write(
                        lambda session: _silence(session, scope, length, reason or None)
                    )
            except FinsentError as exc:
                st.error(plain(str(exc)))
            else:
                st.success(plain(f"Silenced {silenced} until {utc(until)}."))


def detail(row: dict[str, Any]) -> None:
    url = settings().database_url
    ev = _evidence(row["evidence"])
    st.subheader(f"#{row['id']} {scope_name(row)} — {row['state']}")
    if ev is None:
        st.warning("This alert's evidence cannot be read.")
        return
    cols = st.columns(4)
    cols[0].metric("Negative share", percent(ev.share), border=True)
    cols[1].metric(
        "Baseline",
        percent(ev.baseline),
        help=f"{ev.baseline_negatives} of {ev.baseline_n} articles over "
        f"{ev.baseline_days:g} days before the window (smoothed).",
        border=True,
    )
    cols[2].metric(
        "Negative articles", f"{ev.negatives} of {ev.n}", help="In the window.", border=True
    )
    cols[3].metric(
        "p-value", f"{ev.p_value:.1e}", help="One-sided exact binomial test.", border=True
    )
    st.caption(
        f"Window {utc(ev.window_start)} – {utc(ev.window_end)} · model {ev.model_version} · "
        f"rule: ≥ {ev.min_volume} articles, lift ≥ {ev.min_lift * 100:.0f} points, p < {ev.alpha:g}"
        + (f" · silenced until {utc(ev.silenced_until)}" if ev.silenced_until else "")
    )
    if ev.latest is not None:
        st.caption(
            f"Latest evaluation {utc(ev.latest.evaluated_at)}: {percent(ev.latest.share)} "
            f"negative of {ev.latest.n} articles."
        )
    actions(row)

    if ev.headlines:
        st.markdown("**Most negative headlines when it fired**")
        with st.container(border=True):
            for h in ev.headlines:
                st.caption(f"{utc(h.published_at)} · {h.topic} · P(negative) {h.p_negative:.2f}")
                # st.text: no Markdown, no HTML — a title shows as the characters it is.
                st.text(h.title)
    st.markdown("**Articles in the window, most negative first**")
    filters = ArticleFilter(
        model_version=ev.model_version,
        start=ev.window_start,
        end=ev.window_end + timedelta(microseconds=1),
        topics=() if row["scope"] == "all" else (str(row["topic"]),),
    )
    with database_errors():
        articles = load_window_articles(url, filters)
    article_table(articles)
    correction_form(articles, key=f"alert_{row['id']}")
    with database_errors():
        details = load_detail(url, row["id"])
    if details and details["deliveries"]:
        with st.expander(f"Notifications ({len(details['deliveries'])})"):
            st.dataframe(pd.DataFrame(details["deliveries"]), hide_index=True)


def article_table(rows: list[ArticleRow]) -> None:
    frame = pd.DataFrame(
        {
            "published": [utc(r.published_at) for r in rows],
            "title": [r.title for r in rows],
            "topic": [r.topic for r in rows],
            "sentiment": [r.sentiment for r in rows],
            "P(negative)": [r.p_negative for r in rows],
            "link": [safe_link(r.link) for r in rows],
            "corrected": [
                " / ".join(x for x in (r.corrected_topic, r.corrected_sentiment) if x) for r in rows
            ],
        }
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "title": st.column_config.TextColumn(width="large"),
            "P(negative)": st.column_config.ProgressColumn(format="%.2f", min_value=0, max_value=1),
            "link": st.column_config.LinkColumn(display_text="open", width="small"),
        },
    )


@st.fragment(run_every=LIVE_EVERY)
def live_alerts() -> None:
    url = settings().database_url
    with database_errors():
        rows = load_alerts(url)
    if not rows:
        st.success(
            "No alerts so far. finsent opens one when a topic's share of negative news "
            "rises well above its own baseline.",
            icon=":material/check_circle:",
        )
        return
    open_rows = [r for r in rows if r["state"] in ("pending", "firing")]
    if open_rows:
        st.error(f"{len(open_rows)} open alert(s)", icon=":material/warning:")
    else:
        st.success("No open alerts.", icon=":material/check_circle:")
    alerts_table(rows)
    options = [r["id"] for r in rows]
    labels = {r["id"]: _label(r) for r in rows}
    # The most specific open alert first: a topic says more than "all articles".
    ranked = sorted(open_rows, key=lambda r: (r["state"] != "firing", r["scope"] == "all"))
    default = (ranked or rows)[0]["id"]
    chosen = st.selectbox(
        "Open an alert",
        options,
        index=options.index(default),
        format_func=lambda alert_id: labels.get(alert_id, f"#{alert_id}"),
        key="alert_choice",
    )
    selected = next((r for r in rows if r["id"] == chosen), None)
    if selected is not None:
        detail(selected)


st.title("Alerts")
engine()  # the one-line message and stop, if the database cannot serve
live_alerts()
