"""Server time and query count of the staff pages on a large data set.

Run it against a database filled by ``manage.py generate_scale_data`` (PostgreSQL)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pc_scale .venv/bin/python bench/page_timings.py

Every page is requested in-process through Django's test client as a superuser (the
whole request: middleware, views, queries, template rendering; no network), once to
warm up and then ``--repeat`` times; it prints the median, 95th percentile and worst
server time of each page, the CPU time of this process (Python: views, ORM, templates)
and the time its queries took (the database and the round trips) in the median request,
the number of queries, and the ratio of the median to the login page's (a page with no
data queries, measured in the same run, beside the time of a minimal query,
``SELECT 1``). Pages whose 95th percentile is over ``--budget`` ms are marked; the exit
status is 1 when any page is over budget. ``--slowest N`` prints the N slowest queries
of each page's last request (where the time goes, statement by statement).

Before timing, the process settles as the web server's does (``core.warm``: the URL
patterns loaded, what is alive frozen out of the garbage collector's full collections).
The machine's load average is printed before and after: the times grow with it when
other jobs share the cores; the CPU column moves much less.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from core.warm import settle_long_lived_objects  # noqa: E402
from finance.models import Batch, Contact, Invoice, Payment  # noqa: E402


def pages() -> list[tuple[str, str]]:
    """(label, url) of the pages to time, with the biggest objects of the data set."""
    busiest_contact = (
        Invoice.objects.values("bill_to_id").order_by().annotate(n=django.db.models.Count("pk")).order_by("-n")[:1]
    )
    contact_id = busiest_contact[0]["bill_to_id"] if busiest_contact else Contact.objects.order_by("pk").first().pk
    invoice = Invoice.objects.order_by("-pk").first()
    payment = Payment.objects.order_by("-pk").first()
    batch = Batch.objects.order_by("-pk").filter(status=Batch.Status.POSTED).first()
    company = Contact.objects.filter(kind=Contact.Kind.ORGANIZATION).order_by("pk").first()
    found = [
        ("dashboard", reverse("finance:dashboard")),
        ("contact list", reverse("finance:contact_list")),
        ("contact list, search", reverse("finance:contact_list") + "?q=Garcia"),
        ("contact (busiest)", reverse("finance:contact_detail", args=[contact_id])),
        ("contact transactions", reverse("finance:contact_transactions", args=[contact_id])),
        ("company", reverse("finance:contact_detail", args=[company.pk])),
        ("invoice list", reverse("finance:invoice_list")),
        ("invoice list, open only", reverse("finance:invoice_list") + "?status=open"),
        ("invoice list, last page", reverse("finance:invoice_list") + "?page=last"),
        ("invoice", reverse("finance:invoice_detail", args=[invoice.pk])),
        ("payment list", reverse("finance:payment_list")),
        ("payment", reverse("finance:payment_detail", args=[payment.pk])),
        ("batch list", reverse("finance:batch_list")),
        ("batch (posted)", reverse("finance:batch_detail", args=[batch.pk])),
        ("AR import history", reverse("finance:ar_import_list")),
        ("admin: contacts", "/admin/finance/contact/"),
        ("admin: invoices", "/admin/finance/invoice/"),
        ("admin: invoice lines", "/admin/finance/invoiceline/"),
        ("admin: payments", "/admin/finance/payment/"),
        ("admin: applications", "/admin/finance/paymentapplication/"),
        ("admin: journal entries", "/admin/finance/journalentry/"),
        ("admin: journal lines", "/admin/finance/journalline/"),
        ("admin: invoice search", "/admin/finance/invoice/?q=" + invoice.number),
    ]
    found.append(("admin: invoice search, name", "/admin/finance/invoice/?q=Garcia"))
    for label, name in (
        ("report: AR aging", "reporting:report_ar_aging"),
        ("report: cash receipts", "reporting:report_cash_receipts"),
        ("report: open credits", "reporting:report_open_credits"),
        ("report: batch summary", "reporting:report_batches"),
        ("reports home", "reporting:report_home"),
        ("GL exports", "reporting:report_gl_exports"),
        ("membership", "membership:home"),
        ("invoice sync records", "invoice_sync:sync_list"),
        ("OpenWater hub", "openwater:ow_hub"),
    ):
        found.append((label, reverse(name)))  # a renamed page fails here, loudly
    return found


def percentile95(values: list[float]) -> float:
    """The 95th percentile (linear between the closest ranks; the worst of fewer than 20)."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--budget", type=float, default=100.0, help="milliseconds, 95th percentile (default 100)")
    parser.add_argument("--slowest", type=int, default=0, help="print each page's N slowest queries")
    parser.add_argument("--only", default="", help="time only the pages whose label contains this")
    args = parser.parse_args()

    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username="bench-superuser", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    counts = {m.__name__: m.objects.count() for m in (Contact, Invoice, Payment, Batch)}
    print("Data set: " + ", ".join(f"{n:,} {name.lower()}s" for name, n in counts.items()))
    # As the web server's entry point does (paycentral/wsgi.py): what every request needs
    # is loaded, then kept out of the collector's full collections.
    settle_long_lived_objects()

    def measure(url: str, anonymous: bool = False) -> dict:
        c = Client() if anonymous else client
        c.get(url)  # warm up
        times, cpus, dbs = [], [], []
        status = 0
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as captured:
                started, cpu = time.perf_counter(), time.process_time()
                response = c.get(url)
                times.append((time.perf_counter() - started) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
            dbs.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
            status = response.status_code
        return {
            "times": times,
            "p95": percentile95(times),
            "cpu": statistics.median(cpus),
            "db": statistics.median(dbs),
            "queries": captured.captured_queries,
            "status": status,
        }

    def select_one() -> float:
        runs = []
        with connection.cursor() as cursor:
            for _ in range(50):
                started = time.perf_counter()
                cursor.execute("SELECT 1")
                cursor.fetchone()
                runs.append((time.perf_counter() - started) * 1000)
        return statistics.median(runs)

    print(f"Load average before: {load_average()}")
    base = measure(reverse("login"), anonymous=True)
    baseline = statistics.median(base["times"])
    print(
        f"Baseline: login page (no data queries) median {baseline:.1f} ms, p95 {base['p95']:.1f} ms; "
        f"a minimal query (SELECT 1) {select_one():.2f} ms\n"
    )
    print(
        f"{'page':32} {'status':>6} {'median ms':>10} {'p95 ms':>7} {'worst ms':>9} {'cpu ms':>7} {'db ms':>6} "
        f"{'queries':>8} {'× baseline':>11}"
    )
    over = []
    for label, url in pages():
        if args.only and args.only not in label:
            continue
        m = measure(url)
        median = statistics.median(m["times"])
        flag = "  OVER BUDGET" if m["p95"] > args.budget or m["status"] != 200 else ""
        if flag:
            over.append(label)
        print(
            f"{label:32} {m['status']:>6} {median:>10.1f} {m['p95']:>7.1f} {max(m['times']):>9.1f} {m['cpu']:>7.1f} "
            f"{m['db']:>6.1f} {len(m['queries']):>8} {median / baseline:>10.1f}×{flag}"
        )
        for q in sorted(m["queries"], key=lambda q: -float(q["time"]))[: args.slowest]:
            print(f"    {float(q['time']) * 1000:8.1f} ms  {q['sql'][:300]}")
    print(f"\nLoad average after: {load_average()}")
    if over:
        print(
            f"{len(over)} page(s) over the {args.budget:.0f} ms budget (p95 of {args.repeat}) or not 200: "
            + ", ".join(over)
        )
        sys.exit(1)
    print(f"Every page answered 200 under {args.budget:.0f} ms (p95 of {args.repeat}).")


if __name__ == "__main__":
    main()
