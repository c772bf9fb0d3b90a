"""Browser tests: Playwright's sync API drives Debian's chromium against live_server.

Playwright's sync API runs an event loop in the test thread, which makes Django refuse
database calls from that thread unless DJANGO_ALLOW_ASYNC_UNSAFE is set. It is set for
the browser tests only and removed afterwards: left in os.environ it would leak into
the rest of the run (``check --deploy`` in a subprocess reports it as an error).
"""

from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def browser_page(monkeypatch, transactional_db, live_server):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
        browser.close()
        playwright.stop()


@pytest.fixture
def screenshot(browser_page):
    """screenshot(name) saves a full-page PNG under var/screenshots/ and returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shot(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        browser_page.screenshot(path=str(path), full_page=True)
        return path

    return _shot
