"""Every staff page, at 1400 and 1024 pixels wide, signed in as a superuser on the demo
data: nothing sticks out to the right, nothing needs a horizontal scroll bar, every
button is whole on the screen, and the navigation lights one item at most.

The pages are found from the resolver (``tests/security/urlwalk.py``), so a page added
tomorrow is walked tomorrow: every GET page of the staff UI (not the Django admin, the
API, the sandboxes, the member checkout, nor views that change state). A URL that names
an object gets one of the demo's. Each page is saved as a PNG under
``var/screenshots/layout/<LAYOUT_SHOTS or "current">/<width>/`` to be looked at.
"""

import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from core.middleware import PUBLIC_PREFIXES
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.security.test_url_walk import _changes_state
from tests.security.urlwalk import UnknownKwarg, World, url_patterns

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (1400, 1024)
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "layout"
# Not pages of the staff UI: the member's own pages, sign-in and -out, the start redirect.
SKIP_PREFIXES = ("member:", "admin:", "api-v1:")
SKIP_NAMES = {"login", "logout", "start", "healthz", "password_change", "password_change_done"}

NAV_LIT = "nav.navbar .navbar-nav > .nav-item > .nav-link.active"
# Run in the page: what sticks out or is cut off inside <main> and the header.
FIND_OVERFLOW = """
() => {
  const vw = document.documentElement.clientWidth;
  const problems = [];
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    if (el.dataset && el.dataset.testid) s += '[data-testid=' + el.dataset.testid + ']';
    else if (el.className && typeof el.className === 'string') {
      s += '.' + el.className.trim().split(/\\s+/).slice(0, 3).join('.');
    }
    const text = (el.innerText || el.value || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    return text ? s + ' "' + text + '"' : s;
  };
  if (document.documentElement.scrollWidth > vw + 1) {
    problems.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + 'px wide in ' + vw + 'px');
  }
  const visible = (el) => {
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.visibility === 'hidden') return false;
    if (el.closest('.dropdown-menu:not(.show), .collapse:not(.show), .modal:not(.show), [hidden]')) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  // Boxes that cut their text short on purpose (with an ellipsis) or hide it for
  // screen readers only.
  const MEANT_TO_CLIP = '.text-truncate, .user-name, .batch-number, .visually-hidden, input, select, textarea';
  const roots = Array.from(document.querySelectorAll('main, nav.navbar'));
  for (const root of roots) {
    for (const el of root.querySelectorAll('*')) {
      if (!visible(el)) continue;
      const st = getComputedStyle(el);
      // A box that scrolls or clips sideways and holds more than it shows.
      const clips = st.overflowX === 'auto' || st.overflowX === 'scroll' || st.overflowX === 'hidden';
      if (clips && el.scrollWidth > el.clientWidth + 1 && !el.matches(MEANT_TO_CLIP)) {
        problems.push('cut off (' + el.scrollWidth + 'px in ' + el.clientWidth + 'px): ' + describe(el));
      }
      // The outermost box beyond the right edge (not each of its children).
      const r = el.getBoundingClientRect();
      const parentRight = el.parentElement ? el.parentElement.getBoundingClientRect().right : 0;
      if (r.right > vw + 1 && parentRight <= vw + 1) {
        problems.push('beyond the right edge (' + Math.round(r.right) + 'px): ' + describe(el));
      }
    }
    // Buttons and form controls: whole inside their card and every clipping box.
    for (const el of root.querySelectorAll('.btn, button, input:not([type=hidden]), select, a.page-link')) {
      if (!visible(el)) continue;
      const r = el.getBoundingClientRect();
      let box = el.parentElement;
      while (box && box !== document.body) {
        const st = getComputedStyle(box);
        const clips = st.overflowX !== 'visible';
        if (clips || box.classList.contains('card')) {
          const b = box.getBoundingClientRect();
          if (r.right > b.right + 1 || r.left < b.left - 1) {
            problems.push('not whole inside ' + describe(box).slice(0, 60) + ': ' + describe(el));
            break;
          }
        }
        box = box.parentElement;
      }
    }
  }
  return Array.from(new Set(problems)).slice(0, 12);
}
"""


def _staff_routes():
    for route in url_patterns():
        if route.is_admin or route.name.startswith(SKIP_PREFIXES) or route.name in SKIP_NAMES:
            continue
        if ("/" + route.route).startswith(PUBLIC_PREFIXES) or "<unnamed" in route.name:
            continue
        if _changes_state(route):
            continue
        yield route


class DemoWorld(World):
    """URL kwargs filled with rows of the demo data (the newest of each model, which the
    demo gives the most to show), built only when the demo has none."""

    def build(self, model, **parent):
        existing = model.objects.filter(**parent).order_by("-pk").first()
        return existing if existing is not None else super().build(model, **parent)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@pytest.fixture
def demo(transactional_db, django_user_model):
    call_command("seed_demo", verbosity=0)
    return django_user_model.objects.get(username="admin")


def test_every_staff_page_fits_at_1400_and_1024_wide(demo, live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    world = DemoWorld(make_ledger=lambda: None, user=demo)
    client = Client()
    client.force_login(demo)
    pages = []
    for route in _staff_routes():
        try:
            path = reverse(route.name, kwargs=world.kwargs_for(route) or None)
        except UnknownKwarg as exc:
            pytest.fail(f"Cannot walk {route}: {exc}")
        response = client.get(path)
        html = response.get("Content-Type", "").startswith("text/html")
        if response.status_code == 200 and html and b"<main" in response.content:
            pages.append((route.name, path))
    assert len(pages) > 30, pages

    phase = os.environ.get("LAYOUT_SHOTS", "current")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    problems: list[str] = []
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    try:
        for width in WIDTHS:
            folder = SHOTS / phase / str(width)
            folder.mkdir(parents=True, exist_ok=True)
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{live_server.url}/accounts/login/")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill("admin")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{live_server.url}/")
            for name, path in pages:
                page.goto(f"{live_server.url}{path}")
                page.wait_for_load_state("networkidle")
                found = page.evaluate(FIND_OVERFLOW)
                lit = page.eval_on_selector_all(
                    "nav.navbar .navbar-nav > .nav-item > .nav-link.active", "e => e.length"
                )
                if lit > 1:
                    found.append(f"{lit} navigation items lit")
                problems.extend(f"{width}px {name} ({path}): {p}" for p in found)
                page.screenshot(path=str(folder / f"{_slug(name)}.png"), full_page=True)
            context.close()
    finally:
        browser.close()
        playwright.stop()
    (SHOTS / phase / "problems.txt").write_text("\n".join(problems) + "\n")
    assert not problems, f"{len(problems)} layout problems:\n" + "\n".join(problems)
