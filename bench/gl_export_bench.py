"""GL export and report benchmark on PostgreSQL: about 1,050,000 journal lines.

    createdb -h 127.0.0.1 -U postgres pc_bench_gl
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pc_bench_gl .venv/bin/python bench/gl_export_bench.py
    dropdb -h 127.0.0.1 -U postgres pc_bench_gl

It migrates the (scratch) database and generates the books with set-based SQL (not
timed): 50,000 contacts, 400 batches (90 % posted), 250,000 accrual invoices of two
lines each (AR debit + two income credits in the journal), 150,000 payments (cash /
AR), 10,000 open credit invoices; 5 % of the entries are flagged as cash membership
transactions to leave out. Then it times, in one run:

- the plain COPY of the same journal lines with the same joins (COPY … TO STDOUT,
  CSV), the floor for moving them out of PostgreSQL;
- marking the export (``gl_export_create``: INSERT … SELECT … ON CONFLICT under the
  unique journal entry);
- writing the detailed file (one COPY with the cells formatted and escaped in SQL), with
  rows/second, the ratio of its rate to the plain COPY's and the process's peak RSS
  before and after (the file streams: memory stays flat); then the same file written
  row by row by the csv module (the previous writer, the rule the COPY keeps), and a
  check that both give the same bytes; then the per-day and per-month summaries;
- each report page rendered through the Django test client (AR aging, cash receipts
  over 30 and 365 days, open credits, batch summary, the dashboard), against a plain
  ``SELECT sum(balance) FROM finance_invoice`` scan as the baseline.

Options: --invoices N (250000), --payments N (150000), --contacts N (50000),
--skip-python (do not time the csv module's writer), --skip-pages.
"""

import argparse
import hashlib
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")
os.environ.setdefault("DEBUG", "0")  # no query log growing with the export


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat=1):
    runs = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), result


def seed(cursor, args, ids):
    cursor.execute("SET session_replication_role = replica")  # seeding only: skip triggers
    cursor.execute(
        """
        INSERT INTO finance_contact (party_id, name, sort_name, kind, email, status, created_at)
        SELECT (100000 + g)::text, 'Member ' || g, 'Member ' || g, 'individual', '', 'active', now()
          FROM generate_series(1, %s) g
        """,
        [args.contacts],
    )
    cursor.execute(
        """
        INSERT INTO finance_batch (number, description, date, status, control_count, control_amount, created_at,
                                   posted_at)
        SELECT 'GB' || g, 'Bench batch ' || g, CURRENT_DATE - (400 - g),
               CASE WHEN g <= 360 THEN 'posted' WHEN g %% 2 = 0 THEN 'ready' ELSE 'open' END,
               CASE WHEN g %% 3 = 0 THEN 100 END, CASE WHEN g %% 3 = 0 THEN 12345.67 END, now(),
               CASE WHEN g <= 360 THEN now() END
          FROM generate_series(1, 400) g
        """,
        [],
    )
    # Invoice g: contact g mod N, batch g mod 400 (dated with its batch), two lines.
    cursor.execute(
        """
        INSERT INTO finance_invoice (number, entity_id, bill_to_id, sold_to_id, date, due_date, accounting_method,
                                     type, source, currency, batch_id, description, total, balance, created_at)
        SELECT (10000000 + g)::text, %(entity)s, c.id, c.id, b.date, b.date + 30, 'accrual', 'regular', 'import',
               'USD', b.id, '', s.amt,
               CASE WHEN g %% 10 < 5 THEN 0 WHEN g %% 10 < 8 THEN s.amt ELSE round(s.amt / 2, 2) END, now()
          FROM (SELECT g, (20 + (g * 37) %% 400)::numeric(14, 2) * 2 AS amt FROM generate_series(1, %(n)s) g) s
          JOIN finance_contact c ON c.party_id = (100000 + 1 + (g %% %(contacts)s))::text
          JOIN finance_batch b ON b.number = 'GB' || (1 + g %% 400)
        """,
        {**ids, "n": args.invoices, "contacts": args.contacts},
    )
    cursor.execute(
        """
        INSERT INTO finance_invoiceline (invoice_id, line_number, product_id, description, quantity, unit_price,
                                         amount, account_id, balance)
        SELECT id, n, %(product)s, 'Dues', 1, total / 2, total / 2, %(income)s, balance / 2
          FROM finance_invoice, generate_series(1, 2) n
        """,
        ids,
    )
    # Open credits: 10,000 credit invoices with a negative balance.
    cursor.execute(
        """
        INSERT INTO finance_invoice (number, entity_id, bill_to_id, sold_to_id, date, due_date, accounting_method,
                                     type, source, currency, batch_id, description, total, balance, created_at)
        SELECT (20000000 + g)::text, %(entity)s, c.id, c.id, CURRENT_DATE - (g %% 300), CURRENT_DATE - (g %% 300),
               'accrual', 'credit', 'payment', 'USD', %(batch)s, 'Open credit', 0, -(5 + g %% 200), now()
          FROM generate_series(1, 10000) g
          JOIN finance_contact c ON c.party_id = (100000 + 1 + ((g * 7) %% %(contacts)s))::text
        """,
        {**ids, "contacts": args.contacts},
    )
    cursor.execute(
        """
        INSERT INTO finance_payment (payer_id, method_id, entity_id, cash_account_id, amount, currency, date,
                                     reference, batch_id, status, source, amount_applied, refunded_amount,
                                     processor_charge_id, reversal_reason, created_at)
        SELECT c.id, CASE WHEN g %% 3 = 0 THEN %(check)s WHEN g %% 3 = 1 THEN %(visa)s ELSE %(cash_method)s END,
               %(entity)s, %(cash)s, (10 + (g * 13) %% 500)::numeric(14, 2), 'USD', b.date, 'CHK' || g, b.id,
               'posted', 'import', (10 + (g * 13) %% 500)::numeric(14, 2), 0, '', '', now()
          FROM generate_series(1, %(n)s) g
          JOIN finance_contact c ON c.party_id = (100000 + 1 + ((g * 11) %% %(contacts)s))::text
          JOIN finance_batch b ON b.number = 'GB' || (1 + g %% 400)
        """,
        {**ids, "n": args.payments, "contacts": args.contacts},
    )
    cursor.execute(
        """
        INSERT INTO finance_journalentry (batch_id, date, kind, description, invoice_id, is_posted,
                                          exclude_from_gl_export, created_at)
        SELECT batch_id, date, 'invoice', 'Invoice ' || number, id, true, id %% 20 = 0, now()
          FROM finance_invoice WHERE type = 'regular'
        """,
        [],
    )
    cursor.execute(
        """
        INSERT INTO finance_journalentry (batch_id, date, kind, description, payment_id, is_posted,
                                          exclude_from_gl_export, created_at)
        SELECT batch_id, date, 'payment', 'Payment ' || reference, id, true, false, now() FROM finance_payment
        """
    )
    cursor.execute(
        """
        INSERT INTO finance_journalline (entry_id, account_id, debit, credit, currency, contact_id, description)
        SELECT e.id, %(ar)s, i.total, 0, 'USD', i.bill_to_id, 'Invoice ' || i.number
          FROM finance_journalentry e JOIN finance_invoice i ON i.id = e.invoice_id
        UNION ALL
        SELECT e.id, %(income)s, 0, l.amount, 'USD', i.bill_to_id, l.description
          FROM finance_journalentry e JOIN finance_invoice i ON i.id = e.invoice_id
          JOIN finance_invoiceline l ON l.invoice_id = i.id
        UNION ALL
        SELECT e.id, p.cash_account_id, p.amount, 0, 'USD', p.payer_id, '=cmd ' || p.reference
          FROM finance_journalentry e JOIN finance_payment p ON p.id = e.payment_id
        UNION ALL
        SELECT e.id, %(ar)s, 0, p.amount, 'USD', p.payer_id, '' FROM finance_journalentry e
          JOIN finance_payment p ON p.id = e.payment_id
        """,
        ids,
    )
    # The batch figures the skipped invoice and payment triggers keep (a fresh database:
    # these are all its invoices and payments).
    from finance.triggers import kept_invoice_figures_from_invoices, kept_receipts_from_payments

    cursor.execute(kept_invoice_figures_from_invoices())
    cursor.execute(kept_receipts_from_payments())
    cursor.execute("SET session_replication_role = DEFAULT")
    cursor.execute("ANALYZE")


BASELINE_COPY = """
COPY (
  SELECT e.date, b.number, en.code, a.code, COALESCE(NULLIF(l.description, ''), e.description), l.debit, l.credit,
         l.currency, 'JE-' || e.id
    FROM finance_journalline l
    JOIN finance_journalentry e ON e.id = l.entry_id
    JOIN finance_batch b ON b.id = e.batch_id
    JOIN finance_glaccount a ON a.id = l.account_id
    JOIN finance_financialentity en ON en.id = a.entity_id
   WHERE b.status = 'posted' AND NOT e.exclude_from_gl_export
   ORDER BY e.date, e.id, l.id
) TO STDOUT WITH (FORMAT csv)
"""


EXPORT_COPY = """
COPY (
  SELECT e.date, b.number, en.code, a.code, l.description, e.description, l.debit, l.credit, l.currency, e.id,
         i.number, e.payment_id, e.ar_import_id
    FROM reporting_glexportedentry x
    JOIN finance_journalentry e ON e.id = x.journal_entry_id
    JOIN finance_journalline l ON l.entry_id = e.id
    JOIN finance_batch b ON b.id = e.batch_id
    JOIN finance_glaccount a ON a.id = l.account_id
    JOIN finance_financialentity en ON en.id = a.entity_id
    LEFT JOIN finance_invoice i ON i.id = e.invoice_id
   WHERE x.export_id = %d
   ORDER BY e.date, e.id, l.id
) TO STDOUT WITH (FORMAT csv)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=250_000)
    parser.add_argument("--payments", type=int, default=150_000)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--skip-python", action="store_true", help="do not time the csv module's writer")
    parser.add_argument("--skip-pages", action="store_true", help="do not time the report pages")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is migrated and filled).")

    import django

    django.setup()
    from django.conf import settings

    # Pages render from the source static files (no collectstatic manifest needed).
    settings.STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    from django.core.management import call_command
    from django.db import connection

    from finance.models import Batch, FinancialEntity, GLAccount, JournalLine, PaymentMethod, Product
    from finance.reporting.gl_csv import detailed_csv_python, export_csv
    from finance.reporting.models import GLExport
    from finance.reporting.services import gl_export_create

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM finance_contact")
        if cur.fetchone()[0]:
            sys.exit("The database is not empty; use a fresh scratch database.")

    t0 = time.perf_counter()
    entity = FinancialEntity.objects.create(code="BENCH", name="Bench", currency="USD")

    def acct(code, name, type_, role):
        return GLAccount.objects.create(entity=entity, code=code, name=name, type=type_, role=role)

    cash = acct("1000-00", "Cash", "asset", "cash")
    ar = acct("1200-00", "AR", "asset", "ar")
    income = acct("4000-10", "Dues", "income", "income")
    product = Product.objects.create(code="DUES", name="Dues", entity=entity, income_account=income, price=100)
    methods = {
        code: PaymentMethod.objects.create(code=code, name=name, type=type_, cash_account=cash)
        for code, name, type_ in (
            ("CASH", "Cash", "cash"),
            ("CHECK", "Check", "check"),
            ("VISA", "Visa", "credit_card"),
        )
    }
    credit_batch = Batch.objects.create(number="CREDITS", date=datetime_today(), description="credits")
    ids = {
        "entity": entity.pk,
        "cash": cash.pk,
        "ar": ar.pk,
        "income": income.pk,
        "product": product.pk,
        "batch": credit_batch.pk,
        "cash_method": methods["CASH"].pk,
        "check": methods["CHECK"].pk,
        "visa": methods["VISA"].pk,
    }
    with connection.cursor() as cur:
        seed(cur, args, ids)
        cur.execute("SELECT count(*) FROM finance_journalline")
        n_lines = cur.fetchone()[0]
    print(f"seeded {n_lines:,} journal lines in {time.perf_counter() - t0:.1f} s (not timed)")

    # --- the floor: COPY the same rows out --------------------------------------------
    def plain_copy(sql=BASELINE_COPY):
        size = rows = 0
        with connection.cursor() as cur:
            with cur.cursor.copy(sql) as copy:
                for block in copy:
                    size += len(block)
                    rows += bytes(block).count(b"\n")
        return rows, size

    copy_s, (copy_rows, copy_bytes) = timed(plain_copy)
    print(
        f"plain COPY of the lines:     {copy_s:7.2f} s  {copy_rows / copy_s:12,.0f} rows/s  ({copy_bytes / 1e6:.0f} MB)"
    )

    # --- mark the export ---------------------------------------------------------------
    rss_before = peak_rss_mb()
    mark_s, export = timed(lambda: gl_export_create(mode=GLExport.Mode.DETAILED))
    print(
        f"mark export (INSERT…SELECT): {mark_s:7.2f} s  {export.entry_count:,} entries, {export.line_count:,} lines,"
        f" debits {export.total_debit:,} = credits {export.total_credit:,}"
    )

    def write(mode, writer=export_csv):
        export.mode = mode
        size = 0
        rows = 0
        digest = hashlib.sha256()
        for chunk in writer(export):
            size += len(chunk)
            rows += chunk.count("\r\n")
            digest.update(chunk.encode())
        return rows, size, digest.hexdigest()

    # The same lines as the file (the export's marks, the same joins and order), raw
    # columns, no formatting: the floor for the file's own statement.
    export_copy_s, (export_copy_rows, _) = timed(lambda: plain_copy(EXPORT_COPY % export.pk))
    print(
        f"plain COPY of the export's lines (same joins, raw columns): {export_copy_s:.2f} s  "
        f"{export_copy_rows / export_copy_s:,.0f} rows/s"
    )
    detail_s, (detail_rows, detail_bytes, detail_sha) = timed(lambda: write(GLExport.Mode.DETAILED))
    rss_after = peak_rss_mb()
    print(
        f"detailed file (COPY):        {detail_s:7.2f} s  {detail_rows / detail_s:12,.0f} rows/s  "
        f"({detail_bytes / 1e6:.0f} MB; {copy_s / detail_s:.2f} × the plain COPY's rate, "
        f"{export_copy_s / detail_s:.2f} × the export's plain COPY's)"
    )
    print(f"peak RSS:                    {rss_before:7.0f} MB before the export, {rss_after:.0f} MB after")
    if not args.skip_python:
        py_s, (py_rows, py_bytes, py_sha) = timed(lambda: write(GLExport.Mode.DETAILED, detailed_csv_python))
        print(
            f"detailed file (csv module):  {py_s:7.2f} s  {py_rows / py_s:12,.0f} rows/s  "
            f"({py_bytes / 1e6:.0f} MB; {copy_s / py_s:.2f} × the plain COPY's rate; the previous writer)"
        )
        print(f"same bytes both ways:        {detail_sha == py_sha} (sha256 {detail_sha[:16]}…)")
        if detail_sha != py_sha:
            sys.exit("FAILED: the COPY file differs from the csv module's file.")
    print(f"load average (1 min):        {os.getloadavg()[0]:.2f} (2 CPUs shared with whatever else runs)")
    for mode in (GLExport.Mode.SUMMARY_DAY, GLExport.Mode.SUMMARY_MONTH):
        s, (rows, _, _) = timed(lambda mode=mode: write(mode))
        print(f"{mode + ' file:':29}{s:7.2f} s  {rows:,} rows")
    assert JournalLine.objects.filter(entry__gl_export_mark__export=export).count() == export.line_count

    if not args.skip_pages:
        time_pages()


def time_pages():
    """Each report page through the Django test client against a plain scan."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    # --- reports -----------------------------------------------------------------------
    user = get_user_model().objects.create_superuser("bench", "bench@example.org", "bench-pw-123")
    client = Client()
    client.force_login(user)

    def scan():
        with connection.cursor() as cur:
            cur.execute("SELECT sum(balance) FROM finance_invoice")
            return cur.fetchone()

    base_s, _ = timed(scan, repeat=3)
    print(f"baseline: SELECT sum(balance) FROM finance_invoice (seq scan) {base_s * 1000:7.1f} ms")
    today = datetime_today()
    pages = [
        ("dashboard", reverse("finance:dashboard"), {}),
        ("AR aging", reverse("reporting:report_ar_aging"), {}),
        ("AR aging CSV", reverse("reporting:report_ar_aging"), {"format": "csv"}),
        ("cash receipts 30 days", reverse("reporting:report_cash_receipts"), {}),
        (
            "cash receipts 365 days",
            reverse("reporting:report_cash_receipts"),
            {"date_from": (today.replace(year=today.year - 1)).isoformat(), "date_to": today.isoformat()},
        ),
        ("open credits", reverse("reporting:report_open_credits"), {}),
        ("batch summary", reverse("reporting:report_batches"), {}),
        ("GL export history", reverse("reporting:report_gl_exports"), {}),
    ]

    def fetch(url, params):
        response = client.get(url, params)
        assert response.status_code == 200, (url, response.status_code)
        if response.streaming:
            return sum(len(c) for c in response.streaming_content)
        return len(response.content)

    for name, url, params in pages:
        fetch(url, params)  # warm
        s, _ = timed(lambda url=url, params=params: fetch(url, params), repeat=3)
        print(f"{name + ' page:':34}{s * 1000:8.1f} ms  ({s / base_s:5.1f} × the baseline scan)")


def datetime_today():
    import datetime

    return datetime.date.today()


if __name__ == "__main__":
    main()
