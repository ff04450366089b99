"""The "the model got this wrong" form, under the Articles table and an alert's articles."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from dashboard.common import database_errors, plain, write
from pipeline.corrections import label_names, record_correction
from pipeline.errors import FinsentError
from pipeline.queries import ArticleRow

KEEP = "(the model is right)"


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def correction_form(rows: Sequence[ArticleRow], *, key: str) -> None:
    """Pick an article shown above, give the right topic and/or sentiment, save."""
    if not rows:
        return
    by_id = {row.id: row for row in rows}
    with st.expander("Correct the model", icon=":material/edit:"):
        st.caption(
            "Mark a label as wrong and give the right one. Corrections are kept apart "
            "from the model's scores and become training data "
            "(`finsent corrections export --out corrections.csv`)."
        )
        with st.form(key=f"correct_{key}", clear_on_submit=False):
            # Option labels are plain text (never Markdown): a title shows as typed.
            article_id = st.selectbox(
                "Article",
                list(by_id),
                format_func=lambda i: f"#{i} · {_short(by_id[i].title) or '(no title)'}",
                key=f"correct_article_{key}",
            )
            current = by_id[article_id] if article_id in by_id else rows[0]
            left, right = st.columns(2)
            topic = left.selectbox(
                "Right topic", [KEEP, *label_names("topic")], key=f"correct_topic_{key}"
            )
            sentiment = right.selectbox(
                "Right sentiment", [KEEP, *label_names("sentiment")], key=f"correct_sent_{key}"
            )
            note = st.text_input("Note (optional)", key=f"correct_note_{key}")
            saved = st.form_submit_button("Save correction", icon=":material/save:")
        if not saved:
            return
        chosen = {
            field: label
            for field, label in (("topic", topic), ("sentiment", sentiment))
            if label != KEEP
        }
        if not chosen:
            st.warning("Choose the right topic or sentiment first.")
            return
        author = st.session_state.get("_finsent_user")
        try:
            with database_errors():
                write(
                    lambda session: [
                        record_correction(
                            session=session,
                            article_id=article_id,
                            field=field,
                            label=label,
                            author=author,
                            note=note or None,
                        )
                        for field, label in chosen.items()
                    ]
                )
        except FinsentError as exc:
            st.error(plain(str(exc)))
            return
        model_said = {"topic": current.topic, "sentiment": current.sentiment}
        changes = ", ".join(f"{f} {model_said[f]} → {label}" for f, label in chosen.items())
        st.success(plain(f"Saved for article #{article_id}: {changes}."))
