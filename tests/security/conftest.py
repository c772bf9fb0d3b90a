"""The browser fixtures of tests/e2e, for the sign-in page tests here."""

from tests.e2e.conftest import browser_page, screenshot  # noqa: F401
