"""Sign-in and page times in a real browser (Chromium through Playwright) on the demo data.

Run it against a database filled by ``manage.py seed_demo``::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pc_demo .venv/bin/python bench/browser_timings.py

It starts the web server the way ``make run`` does (``manage.py runserver --noreload``,
the settings of the environment: DEBUG on unless ``DEBUG=False``), or gunicorn with
``--server gunicorn``, on a free loopback port, signs in through the login form as
``--user`` and opens every staff page ``--repeat`` times. Each figure is the page's own
Navigation Timing entry as the browser recorded it: from the start of the navigation
(for the sign-in: the form's POST, with its redirects to the dashboard) to the end of
the load event (HTML, CSS and scripts loaded and run), plus the time to the first byte
of the HTML (the server's share). Pages over ``--budget`` ms (sign-in: ``--login-budget``)
are marked and make the exit status 1.

The baseline, measured in the same run and browser: the health URL (no template, no
database) and a static file (the stylesheet), so the ratio shows what a page costs above
the browser, the network stack and the web server themselves.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

# The navigation's timing, read in the page once it has loaded.
NAV_TIMING = """() => {
  const e = performance.getEntriesByType('navigation')[0];
  return {total: e.loadEventEnd - e.startTime, ttfb: e.responseStart - e.startTime,
          redirects: e.redirectCount, status: e.responseStatus || 0};
}"""


def page_urls() -> list[tuple[str, str]]:
    """(label, path) of the staff pages, with objects of the demo data."""
    import django

    django.setup()
    from django.urls import reverse

    from finance.models import Batch, Contact, Invoice, Payment

    invoice = Invoice.objects.order_by("-pk").first()
    payment = Payment.objects.order_by("-pk").first()
    batch = Batch.objects.order_by("-pk").first()
    contact = invoice.bill_to if invoice else Contact.objects.order_by("pk").first()
    found = [
        ("dashboard", reverse("finance:dashboard")),
        ("contact list", reverse("finance:contact_list")),
        ("contact list, search", reverse("finance:contact_list") + "?q=an"),
        ("contact", reverse("finance:contact_detail", args=[contact.pk])),
        ("contact transactions", reverse("finance:contact_transactions", args=[contact.pk])),
        ("invoice list", reverse("finance:invoice_list")),
        ("invoice", reverse("finance:invoice_detail", args=[invoice.pk])),
        ("payment list", reverse("finance:payment_list")),
        ("payment", reverse("finance:payment_detail", args=[payment.pk])),
        ("batch list", reverse("finance:batch_list")),
        ("batch", reverse("finance:batch_detail", args=[batch.pk])),
        ("AR import history", reverse("finance:ar_import_list")),
    ]
    for label, name in (
        ("reports home", "reporting:report_home"),
        ("report: AR aging", "reporting:report_ar_aging"),
        ("report: cash receipts", "reporting:report_cash_receipts"),
        ("report: open credits", "reporting:report_open_credits"),
        ("report: batch summary", "reporting:report_batches"),
        ("GL exports", "reporting:report_gl_exports"),
        ("membership", "membership:home"),
        ("invoice sync records", "invoice_sync:sync_list"),
        ("OpenWater hub", "openwater:ow_hub"),
        ("cart", "cart:home"),
    ):
        found.append((label, reverse(name)))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kind: str, port: int) -> subprocess.Popen:
    python = sys.executable
    if kind == "gunicorn":
        subprocess.run([python, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True)
        gunicorn = str(Path(python).with_name("gunicorn"))
        cmd = [gunicorn, "paycentral.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    else:
        cmd = [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the web server did not answer /healthz")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default=None, help="default: the user name (the demo users' passwords)")
    parser.add_argument("--server", choices=("runserver", "gunicorn"), default="runserver")
    parser.add_argument("--budget", type=float, default=300.0, help="ms per page (default 300)")
    parser.add_argument("--login-budget", type=float, default=500.0, help="ms for the sign-in (default 500)")
    args = parser.parse_args()

    urls = page_urls()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"Load average before: {load_average()}")
    server = start_server(args.server, port)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    rows: list[tuple[str, list[float], list[float], int]] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # Each sign-in starts in a new browser context (no cookies, no cache), as a
            # visitor would; the pages are then opened in the last one, signed in.
            current: dict = {}
            answers: list[str] = []

            def new_page():
                if current:
                    current["context"].close()
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.set_default_timeout(30_000)
                page.on("response", lambda r: answers.append(f"{r.status} {r.request.method} {r.url}"))
                current.update(context=context, page=page)
                return page

            new_page()

            def visit(path: str) -> dict:
                page = current["page"]
                page.goto(base + path, wait_until="load")
                return page.evaluate(NAV_TIMING)

            def measure(label: str, action) -> None:
                action()  # warm up: first connection, caches of the server and the browser
                totals, ttfbs, status = [], [], 0
                for _ in range(args.repeat):
                    timing = action()
                    totals.append(timing["total"])
                    ttfbs.append(timing["ttfb"])
                    status = timing["status"]
                rows.append((label, totals, ttfbs, status))

            measure("baseline: /healthz", lambda: visit("/healthz"))
            measure("baseline: static stylesheet", lambda: visit("/static/css/app.css"))

            def sign_in() -> dict:
                page = new_page()
                answers.clear()
                page.goto(base + "/accounts/login/", wait_until="load")
                page.fill("input[name=username]", args.user)
                page.fill("input[name=password]", args.password or args.user)
                page.click("button[type=submit], input[type=submit]")
                try:
                    page.wait_for_url(lambda url: "/accounts/login/" not in url, wait_until="load")
                except PlaywrightTimeout as exc:
                    body = page.inner_text("body")[:300]
                    raise SystemExit(f"sign-in as {args.user} failed: still on {page.url} {answers} {body}") from exc
                return page.evaluate(NAV_TIMING)

            measure(f"sign-in ({args.user}, to the first page)", sign_in)
            for label, path in urls:
                measure(label, lambda path=path: visit(path))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

    baseline = statistics.median(rows[0][1])
    print(f"Server: {args.server}; {args.repeat} navigations per page after a warm-up")
    print(f"Load average after: {load_average()}")
    print(f"{'page':40} {'status':>6} {'median ms':>10} {'worst ms':>9} {'1st byte':>9} {'× /healthz':>11}")
    over = []
    for label, totals, ttfbs, status in rows:
        median = statistics.median(totals)
        budget = args.login_budget if label.startswith("sign-in") else args.budget
        flag = ""
        if not label.startswith("baseline") and (median > budget or status not in (0, 200)):
            flag = "  OVER BUDGET"
            over.append(label)
        print(
            f"{label:40} {status:>6} {median:>10.1f} {max(totals):>9.1f} {statistics.median(ttfbs):>9.1f} "
            f"{median / baseline:>10.1f}×{flag}"
        )
    print()
    if over:
        budgets = f"sign-in {args.login_budget:.0f} ms, pages {args.budget:.0f} ms"
        print(f"{len(over)} over budget ({budgets}): {', '.join(over)}")
        sys.exit(1)
    print(
        f"Sign-in under {args.login_budget:.0f} ms and every page under {args.budget:.0f} ms (median of {args.repeat})."
    )


if __name__ == "__main__":
    main()
