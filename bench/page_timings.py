"""Server time and query count of the staff pages on a large data set.

Run it against a database filled by ``manage.py generate_scale_data`` (PostgreSQL)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pc_scale .venv/bin/python bench/page_timings.py

Every page is requested in-process through Django's test client as a superuser (the
whole request: middleware, views, queries, template rendering; no network), once to
warm up and then ``--repeat`` times; it prints the median and worst server time and
the number of queries of each page, and the ratio of the median to the login page's
(a page with no data queries, measured in the same run). Pages over ``--budget`` ms
are marked; the exit status is 1 when any page is over budget.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=float, default=300.0, help="milliseconds (default 300)")
    args = parser.parse_args()

    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username="bench-superuser", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    counts = {m.__name__: m.objects.count() for m in (Contact, Invoice, Payment, Batch)}
    print("Data set: " + ", ".join(f"{n:,} {name.lower()}s" for name, n in counts.items()))

    def measure(url: str, anonymous: bool = False) -> tuple[list[float], int, int]:
        c = Client() if anonymous else client
        c.get(url)  # warm up
        times = []
        queries = 0
        status = 0
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = c.get(url)
                times.append((time.perf_counter() - started) * 1000)
            queries = len(captured.captured_queries)
            status = response.status_code
        return times, queries, status

    base_times, _, _ = measure(reverse("login"), anonymous=True)
    baseline = statistics.median(base_times)
    print(f"Baseline (login page, no data queries): median {baseline:.1f} ms\n")
    print(f"{'page':32} {'status':>6} {'median ms':>10} {'worst ms':>9} {'queries':>8} {'× baseline':>11}")
    over = []
    for label, url in pages():
        times, queries, status = measure(url)
        median = statistics.median(times)
        flag = "  OVER BUDGET" if median > args.budget or status != 200 else ""
        if flag:
            over.append(label)
        print(
            f"{label:32} {status:>6} {median:>10.1f} {max(times):>9.1f} {queries:>8} {median / baseline:>10.1f}×{flag}"
        )
    print()
    if over:
        print(f"{len(over)} page(s) over the {args.budget:.0f} ms budget or not 200: {', '.join(over)}")
        sys.exit(1)
    print(f"Every page answered 200 under {args.budget:.0f} ms (median of {args.repeat}).")


if __name__ == "__main__":
    main()
