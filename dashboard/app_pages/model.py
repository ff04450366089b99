"""Model: what is scoring — version, training data and metrics from the model card, the
development split's confusion matrices — and a box to try it on any text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dashboard import charts
from dashboard.common import DATA_TTL, database_engine, plain, settings
from pipeline.alerts.counts import latest_model_version
from pipeline.errors import FinsentError

MAX_TRY_CHARS = 5000


def model_dir() -> Path:
    from models import SHIPPED_MODEL_DIR

    return Path(settings().model_dir or SHIPPED_MODEL_DIR)


@st.cache_data(ttl=300, show_spinner=False)
def load_card(directory: str) -> dict[str, Any]:
    # Read the card itself (no torch import): the page shows it without loading the model.
    path = Path(directory) / "model_card.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FinsentError(f"cannot read the model card {path}: {exc}") from None


@st.cache_data(ttl=DATA_TTL, show_spinner=False)
def load_scoring_version(url: str) -> str | None:
    """The version the database was last scored with; None without a usable database
    (the Model page works without one)."""
    try:
        with Session(database_engine(url)) as session:
            return latest_model_version(session=session)
    except (FinsentError, SQLAlchemyError):
        return None


@st.cache_resource(show_spinner="Loading the model…")
def load_model(directory: str) -> Any:
    from pipeline.wiring import load_scorer

    return load_scorer(settings(), model_dir=directory)


def metrics_table(card: dict[str, Any]) -> None:
    rows = []
    for task, metrics in (card.get("dev_metrics") or {}).items():
        rows.append(
            {
                "task": task,
                "accuracy": metrics.get("accuracy"),
                "macro F1": metrics.get("macro_f1"),
                "weighted F1": metrics.get("weighted_f1"),
                "examples": (card.get("dev_reports") or {}).get(task, {}).get("n"),
            }
        )
    if rows:
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            column_config={
                c: st.column_config.NumberColumn(format="%.3f")
                for c in ("accuracy", "macro F1", "weighted F1")
            },
        )


def data_table(card: dict[str, Any]) -> None:
    rows = []
    sources = card.get("data") or {}
    for task, data in sources.items():
        if not isinstance(data, dict):  # e.g. "teachers": a list, shown below the table
            continue
        rows.append(
            {
                "task": task,
                "file": Path(str(data.get("file", ""))).as_posix(),
                "rows (deduplicated)": data.get("rows_after_dedupe"),
                "train": data.get("train"),
                "of which augmented": data.get("train_augmented"),
                "dev": data.get("dev"),
            }
        )
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    teachers = sources.get("teachers")
    if isinstance(teachers, list) and teachers:
        versions = ", ".join(str(t.get("version", "?")) for t in teachers if isinstance(t, dict))
        st.caption(plain(f"Distilled from the average of: {versions}"))


def per_class(report: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"label": label, **{k: v for k, v in values.items()}}
        for label, values in (report.get("per_class") or {}).items()
    ]
    return pd.DataFrame(rows)


def confusion(task: str, report: dict[str, Any]) -> None:
    data = report.get("confusion") or {}
    labels, matrix = data.get("labels"), data.get("matrix")
    if not labels or not matrix:
        st.caption(f"The model card has no confusion matrix for {task}.")
        return
    cells = charts.confusion_frame(labels, matrix)
    size = 600 if len(labels) > 5 else 240
    st.altair_chart(charts.confusion_chart(cells, labels=labels, size=size), width="content")


def try_it(directory: str) -> None:
    st.subheader("Try the model")
    with st.form("try_model"):
        text = st.text_area(
            "Any headline or paragraph",
            value="Regional lender shares plunge after it discloses a large loan loss",
            max_chars=MAX_TRY_CHARS,
        )
        submitted = st.form_submit_button("Score it", icon=":material/play_arrow:")
    if not submitted:
        return
    if not text.strip():
        st.warning("Type some text first.")
        return
    try:
        scorer = load_model(directory)
        prediction = scorer.predict([text])[0]
    except FinsentError as exc:
        st.error(plain(str(exc)))
        return
    left, right = st.columns(2)
    left.metric(
        "Topic",
        prediction.topic,
        f"{prediction.topic_probability:.0%} sure",
        delta_color="off",
        delta_arrow="off",
    )
    right.metric(
        "Sentiment",
        prediction.sentiment,
        f"score {prediction.sentiment_score:+.2f}",
        delta_color="off",
        delta_arrow="off",
        help="P(positive) − P(negative), in [−1, 1].",
    )
    right.altair_chart(
        charts.probabilities_chart(prediction.sentiment_probabilities), width="stretch"
    )
    top = sorted(
        (getattr(prediction, "topic_probabilities", None) or {}).items(),
        key=lambda item: item[1],
        reverse=True,
    )[:5]
    if top:
        left.dataframe(
            pd.DataFrame(top, columns=["topic", "probability"]),
            hide_index=True,
            column_config={
                "probability": st.column_config.ProgressColumn(
                    format="%.2f", min_value=0.0, max_value=1.0
                )
            },
        )


def main() -> None:
    directory = model_dir()
    try:
        card = load_card(str(directory))
    except FinsentError as exc:
        st.error(plain(str(exc)))
        return
    version = str(card.get("version", directory.name))
    scoring = load_scoring_version(settings().database_url)
    st.subheader(plain(version))
    st.caption(
        plain(
            f"{card.get('description', '')} · encoder {card.get('base_encoder', '?')}, "
            f"{card.get('method', '?')} fine-tuning · {directory}"
        )
    )
    metrics = card.get("dev_metrics") or {}
    cols = st.columns(4)
    for col, task in zip(cols, ("topic", "sentiment"), strict=False):
        value = (metrics.get(task) or {}).get("macro_f1")
        col.metric(
            f"{task.capitalize()} macro-F1",
            "?" if value is None else f"{value:.3f}",
            help="On the development split held out from training.",
            border=True,
        )
    params = (card.get("parameters") or {}).get("total")
    cols[2].metric("Parameters", f"{params / 1e6:.1f} M" if params else "?", border=True)
    seconds = card.get("training_seconds")
    cols[3].metric("Training time", f"{seconds / 60:.0f} min" if seconds else "?", border=True)
    if scoring and scoring != version:
        st.warning(
            plain(
                f"The database's latest scores come from {scoring}, not from this model "
                f"({version}): scoring has not run with it yet, or FINSENT_MODEL_DIR differs."
            )
        )

    st.subheader("Development-split metrics")
    metrics_table(card)
    st.subheader("Training data")
    data_table(card)
    reports = card.get("dev_reports") or {}
    if reports:
        st.subheader("Confusion matrices (development split)")
        st.caption("Rows: the true label; columns: what the model says. Colour: share of the row.")
        sentiment_col, calibration_col = st.columns([1, 1])
        with sentiment_col:
            st.markdown("**Sentiment**")
            confusion("sentiment", reports.get("sentiment", {}))
        with calibration_col:
            calibration = card.get("calibration") or {}
            if calibration:
                st.markdown("**Calibration** (temperature scaling on the development split)")
                st.dataframe(pd.DataFrame(calibration).T, width="content")
        st.markdown("**Topic**")
        confusion("topic", reports.get("topic", {}))
        for task, report in reports.items():
            with st.expander(f"Per-class report: {task}"):
                st.dataframe(per_class(report), hide_index=True)
    try_it(str(directory))


st.title("Model")
main()
