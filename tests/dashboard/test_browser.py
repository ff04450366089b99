"""The dashboard in a real browser: `streamlit run` on a free port over a seeded database,
driven by Debian's Chromium through Playwright (never a downloaded browser).

Every page loads with no exception box, the open alert and its evidence are visible,
hostile titles show as the characters they are and run nothing (no dialog opens), and a
``javascript:`` link is never a link. Screenshots of every page go to a temporary folder
(printed); the test never writes into the checkout. ``docs/dashboard.png``, which the
README shows, is taken from a running ``finsent demo``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import pytest
from dashboard_helpers import XSS_IMG, XSS_SCRIPT, seed_database

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"streamlit exited with {process.returncode}")
        try:
            with urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.25)  # polling a server that is starting, not waiting for a result
    raise AssertionError(f"the dashboard did not answer at {url} within {timeout} s")


@pytest.fixture
def dashboard_url(tmp_path: Path) -> Iterator[str]:
    from pipeline.db import upgrade_database

    database = f"sqlite:///{tmp_path / 'finsent.db'}"
    upgrade_database(database)
    seed_database(database)
    port = _free_port()
    env = {
        **os.environ,
        "FINSENT_DATABASE_URL": database,
        "FINSENT_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    from pipeline.cli.dashboard import streamlit_command
    from pipeline.settings import Settings

    command = streamlit_command(Settings(), host="127.0.0.1", port=port)
    log = (tmp_path / "streamlit.log").open("wb")
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, timeout=120)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        log.close()


# What each page draws once it has finished: (path, charts, visible tables).
PAGES = {
    "overview": ("", 3, 1),
    "alerts": ("alerts", 0, 2),
    "articles": ("articles", 0, 1),
    "feeds": ("feeds", 0, 1),
    "model": ("model", 2, 3),
}
_DRAWN = """([charts, frames]) => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
    if (document.querySelector('[data-testid="stSkeleton"]')) return false;
    const drawn = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
        .filter(c => c.querySelector('svg.marks, canvas'));
    const grids = [...document.querySelectorAll('[data-testid="stDataFrame"]')]
        .filter(f => f.querySelector('canvas'));
    return drawn.length >= charts && grids.length >= frames;
}"""


def _settle(page, title: str, charts: int, frames: int) -> None:  # type: ignore[no-untyped-def]
    """Wait until the page's script has finished and its charts and tables are drawn,
    then make the viewport as tall as the page (Streamlit scrolls inside its main block,
    so a full-page screenshot would otherwise stop at the window)."""
    page.wait_for_selector(f'h1:has-text("{title}")', timeout=90_000)
    page.wait_for_function(_DRAWN, arg=[charts, frames], timeout=90_000, polling=250)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1440, "height": min(int(height) + 40, 8000)})
    # Vega redraws for the new width; wait for the charts to be there again.
    page.wait_for_function(_DRAWN, arg=[charts, frames], timeout=30_000, polling=250)


def _has_text(page, text: str, *, exact: bool = False) -> None:  # type: ignore[no-untyped-def]
    """``text`` is in the page as text. A table's accessible copy of its cells can lag its
    canvas on a loaded machine, so wait for it (up to 30 s) instead of counting at once."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text(text, exact=exact).first.wait_for(state="attached", timeout=30_000)
    except PlaywrightTimeout:
        raise AssertionError(f"{text!r} is not in the page as text") from None


def test_every_page_renders_safely_in_chromium(dashboard_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            for name, (path, charts, frames) in PAGES.items():
                page.set_viewport_size({"width": 1440, "height": 1000})
                page.goto(f"{dashboard_url}/{path}")
                _settle(page, name.capitalize(), charts, frames)
                assert page.locator('[data-testid="stException"]').count() == 0, name
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                # A javascript: link is never rendered as a link, and no feed text became
                # markup, anywhere.
                assert page.locator('a[href^="javascript:" i]').count() == 0, name
                assert page.locator('img[src="x"]').count() == 0, name
                assert page.locator('script:has-text("alert(1)")').count() == 0, name
                if name == "overview":
                    _has_text(page, "open alert(s)")
                    # Tables keep an accessible copy of their cells in the page: text.
                    _has_text(page, XSS_SCRIPT, exact=True)
                if name == "alerts":
                    # The open alert with its evidence; hostile titles as plain text.
                    _has_text(page, "Negative share")
                    _has_text(page, XSS_SCRIPT, exact=True)
                    _has_text(page, XSS_IMG, exact=True)
            assert dialogs == []
        finally:
            browser.close()
    print(f"screenshots in {shots}", file=sys.stderr)
