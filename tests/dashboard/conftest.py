"""Dashboard fixtures: seeded and empty databases, an AppTest of the real entrypoint."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The dashboard is not an installed package: tests import it from the repository.
REPOSITORY = Path(__file__).resolve().parents[2]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from dashboard_helpers import APP  # noqa: E402  (after the path set-up)


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches() -> Iterator[None]:
    """Each test sees its own database: no engine or frame cached by an earlier test."""
    import streamlit as st

    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Point the dashboard (FINSENT_DATABASE_URL) at a database."""
    from pipeline.settings import get_settings

    def use(url: str) -> None:
        monkeypatch.setenv("FINSENT_DATABASE_URL", url)
        get_settings.cache_clear()

    return use


@pytest.fixture
def seeded_sqlite(sqlite_url: str, use_database: Callable[[str], None]) -> dict[str, int]:
    from dashboard_helpers import seed_database

    ids = seed_database(sqlite_url)
    use_database(sqlite_url)
    return {**ids, "url": sqlite_url}  # type: ignore[dict-item]


@pytest.fixture
def app():  # type: ignore[no-untyped-def]
    """A function that gives a fresh AppTest of the dashboard, already run once."""
    from streamlit.testing.v1 import AppTest

    def make(**secrets: object) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=120)
        for key, value in secrets.items():
            at.secrets[key] = value
        return at.run()

    return make
