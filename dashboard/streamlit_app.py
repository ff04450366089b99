"""finsent's dashboard: ``streamlit run dashboard/streamlit_app.py`` (or ``finsent dashboard``).

The entrypoint is the frame around every page: login, the shared time range and topic
filter in the sidebar, then ``st.navigation`` runs the chosen page from ``app_pages/``.
"""

import sys
from pathlib import Path

# `streamlit run` puts this folder on sys.path, not the repository: the pages import
# `dashboard.*` and `pipeline.*` from there.
_REPOSITORY = str(Path(__file__).resolve().parents[1])
if _REPOSITORY not in sys.path:
    sys.path.insert(0, _REPOSITORY)

import streamlit as st  # noqa: E402

from dashboard.auth import require_login  # noqa: E402
from dashboard.common import CUSTOM, DEFAULT_RANGE, RANGES, view_from_widgets  # noqa: E402

st.set_page_config(page_title="finsent", page_icon=":material/monitoring:", layout="wide")

st.session_state["_finsent_user"] = require_login()

PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    st.Page("app_pages/alerts.py", title="Alerts", icon=":material/notifications_active:"),
    st.Page("app_pages/articles.py", title="Articles", icon=":material/article:"),
    st.Page("app_pages/feeds.py", title="Feeds", icon=":material/rss_feed:"),
    st.Page("app_pages/model.py", title="Model", icon=":material/psychology:"),
]
page = st.navigation(PAGES, position="sidebar")


def _topic_options() -> list[str]:
    from models import TOPIC_LABELS

    return sorted(TOPIC_LABELS)


with st.sidebar:
    st.markdown("### finsent")
    choice = st.radio(
        "Time range",
        [*RANGES, CUSTOM],
        index=[*RANGES].index(DEFAULT_RANGE),
        horizontal=True,
        key="range_choice",
    )
    custom = None
    if choice == CUSTOM:
        from datetime import UTC, datetime, timedelta

        today = datetime.now(UTC).date()
        custom = st.date_input(
            "From – to (UTC)", value=(today - timedelta(days=7), today), key="range_custom"
        )
    topics = st.multiselect(
        "Topics", _topic_options(), key="topic_filter", placeholder="All topics"
    )
    st.session_state["_finsent_view"] = view_from_widgets(choice, custom, topics)

page.run()
