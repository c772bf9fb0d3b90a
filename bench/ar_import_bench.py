"""AR import benchmark on PostgreSQL: 100,000 PAY rows against 100,000 contacts with
300,000 open invoice lines.

    createdb -h 127.0.0.1 -U postgres pc_bench_import
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pc_bench_import .venv/bin/python bench/ar_import_bench.py
    dropdb -h 127.0.0.1 -U postgres pc_bench_import

It migrates the (scratch) database, generates the books with set-based SQL (not timed),
writes a PAY file, then times in one run:
- a plain COPY of the same rows into an unlogged table of text columns (the floor);
- validate (parse, stage, match, check, preview), and post (allocate, write payments,
  applications, credit invoices, journal; commit, including the deferred balance trigger);
and prints rows/second, the ratio to the plain COPY, the process's peak RSS before
and after (the parser streams: memory does not grow with the file), the WAL written and
the CPU time of the server backend (a figure that other jobs on the machine do not
inflate). The seeded books are vacuumed and checkpointed first, as a running database's
are, so that the import does not pay for the seeding.
Options: --rows N (default 100000), --contacts N (100000), --lines N (300000),
--no-auto-apply, --verify (run verify_ledger after, timed separately).
"""

import argparse
import datetime
import os
import random
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of a PostgreSQL backend on this machine, or None when the
    server runs elsewhere. Unlike the wall time it does not grow when other work shares
    the CPUs, so runs on a busy machine can still be compared."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _trace_slow_statements(threshold: float) -> None:
    """Print each statement slower than ``threshold`` seconds with the WAL it wrote."""
    import psycopg
    from django.db import connection

    # WAL position from a second connection, so the measuring adds no statements to the import's.
    wal_probe = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)

    def wal_lsn():
        return wal_probe.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]

    def timer(execute, sql, params, many, context):
        start, lsn = time.perf_counter(), wal_lsn()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - start
            if took >= threshold:
                wal = wal_probe.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [lsn])
                wal_mb = float(wal.fetchone()[0]) / (1024 * 1024)
                print(f"  {took:6.2f} s {wal_mb:7.1f} MB WAL  {' '.join(sql.split())[:140]}")

    connection.execute_wrappers.append(timer)


def _explain_slow_statements(threshold: float) -> None:
    """Have the server print the plan (with trigger times and WAL) of each statement
    slower than ``threshold`` seconds (auto_explain; needs a superuser connection)."""
    from django.db import connection

    connection.ensure_connection()
    connection.connection.add_notice_handler(lambda diag: print(diag.message_primary, flush=True))
    with connection.cursor() as cur:
        cur.execute("LOAD 'auto_explain'")
        for name, value in [
            ("log_min_duration", f"{int(threshold * 1000)}ms"),
            ("log_analyze", "on"),
            ("log_triggers", "on"),
            ("log_wal", "on"),
            ("log_buffers", "on"),
            ("log_nested_statements", "on"),
            ("log_level", "notice"),
        ]:
            cur.execute(f"SET auto_explain.{name} = '{value}'")
        cur.execute("SET client_min_messages = notice")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--no-auto-apply", action="store_true")
    parser.add_argument("--verify", action="store_true")
    parser.add_argument("--slow", type=float, default=0, help="print statements slower than this many seconds")
    parser.add_argument(
        "--explain",
        type=float,
        default=0,
        help="print the server's plan, with trigger (foreign key check) times and WAL, of statements slower than"
        " this many seconds (auto_explain; needs a superuser connection)",
    )
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ or not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is migrated and filled).")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from finance.ar_import.services import ar_import_post, ar_import_validate, problems
    from finance.models import Batch, FinancialEntity, GLAccount, PaymentMethod, Product
    from finance.models_ar_import import ARImport
    from finance.triggers import kept_invoice_figures_from_invoices, kept_receipts_from_payments

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
    acct("2100-00", "Unapplied cash", "liability", "unapplied_cash")
    income = acct("4000-10", "Dues", "income", "income")
    product = Product.objects.create(code="DUES", name="Dues", entity=entity, income_account=income, price=100)
    PaymentMethod.objects.create(code="CHECK", name="Check", type="check", cash_account=cash)
    batch = Batch.objects.create(number="SEED", date=datetime.date(2025, 1, 1), description="seed")
    n_contacts, n_lines = args.contacts, args.lines
    with connection.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # seeding only: skip triggers
        cur.execute(
            """
            INSERT INTO finance_contact (party_id, name, sort_name, kind, email, status, created_at)
            SELECT (100000 + g)::text, 'Member ' || g, 'Member ' || g, 'individual', '', 'active', now()
              FROM generate_series(1, %s) g
            """,
            [n_contacts],
        )
        # One line per invoice; invoice g belongs to contact g mod N, dated over two years.
        cur.execute(
            """
            INSERT INTO finance_invoice (number, entity_id, bill_to_id, sold_to_id, date, due_date, accounting_method,
                                         type, source, currency, batch_id, description, total, balance, created_at)
            SELECT (10000000 + g)::text, %s, c.id, c.id, DATE '2024-01-01' + (g %% 700),
                   DATE '2024-01-01' + (g %% 700) + 30, 'accrual', 'regular', 'import', 'USD', %s, '',
                   amt, amt, now()
              FROM (SELECT g, (20 + (g * 37) %% 400)::numeric(14, 2) AS amt FROM generate_series(1, %s) g) s
              JOIN finance_contact c ON c.party_id = (100000 + 1 + (g %% %s))::text
            """,
            [entity.pk, batch.pk, n_lines, n_contacts],
        )
        cur.execute(
            """
            INSERT INTO finance_invoiceline (invoice_id, line_number, product_id, description, quantity, unit_price,
                                             amount, account_id, balance)
            SELECT id, 1, %s, 'Dues', 1, total, total, %s, total FROM finance_invoice
            """,
            [product.pk, income.pk],
        )
        cur.execute(
            """
            INSERT INTO finance_journalentry (batch_id, date, kind, description, invoice_id, is_posted,
                                              exclude_from_gl_export, created_at)
            SELECT batch_id, date, 'invoice', 'Invoice ' || number, id, true, false, now() FROM finance_invoice
            """
        )
        cur.execute(
            """
            INSERT INTO finance_journalline (entry_id, account_id, debit, credit, currency, contact_id, description)
            SELECT e.id, %s, i.total, 0, 'USD', i.bill_to_id, '' FROM finance_journalentry e
              JOIN finance_invoice i ON i.id = e.invoice_id
            UNION ALL
            SELECT e.id, %s, 0, i.total, 'USD', i.bill_to_id, '' FROM finance_journalentry e
              JOIN finance_invoice i ON i.id = e.invoice_id
            """,
            [ar.pk, income.pk],
        )
        # The kept open balances the skipped invoice triggers would have written.
        kept = """COALESCE(SUM(balance) FILTER (WHERE balance > 0), 0), COUNT(*) FILTER (WHERE balance > 0),
                  COALESCE(SUM(balance) FILTER (WHERE balance < 0), 0), COUNT(*) FILTER (WHERE balance < 0)"""
        figures = "receivable, receivable_count, credit, credit_count"
        cur.execute(
            f"INSERT INTO reporting_contactbalance (contact_id, currency, {figures})"
            f" SELECT bill_to_id, currency, {kept} FROM finance_invoice WHERE balance <> 0"
            " GROUP BY bill_to_id, currency"
        )
        cur.execute(
            f"INSERT INTO reporting_openbalancebydate (currency, date, slot, {figures})"
            f" SELECT currency, date, 0, {kept} FROM finance_invoice WHERE balance <> 0 GROUP BY currency, date"
        )
        # And the batch figures the invoice and payment triggers keep (the database is
        # fresh: these are all its invoices and payments).
        cur.execute(kept_invoice_figures_from_invoices())
        cur.execute(kept_receipts_from_payments())
        cur.execute("SET session_replication_role = DEFAULT")
        cur.execute("INSERT INTO finance_numbersequence (name, next_value) VALUES ('invoice', 1000)")
    # Settle the seeded books as a running database's are: hint bits and the visibility map
    # set, statistics current, the seeding's WAL checkpointed. Otherwise the import would
    # pay for the seeding (first reads dirtying every page, a checkpoint mid-way).
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE)")
        cur.execute("CHECKPOINT")
    seed_seconds = time.perf_counter() - t0

    # The PAY file: random payers, amounts around an invoice's size (some overpay → credits).
    rng = random.Random(42)
    path = Path(tempfile.mkdtemp()) / "lockbox_bench.txt"
    total = Decimal("0.00")
    with path.open("w", encoding="utf-8") as fh:
        rows = []
        for n in range(args.rows):
            amount = Decimal(rng.randint(500, 60000)) / 100
            total += amount
            party = 100001 + rng.randrange(n_contacts)
            invoice = "" if not args.no_auto_apply else str(10000000 + 1 + rng.randrange(n_lines))
            rows.append(f"PAY,,AR,{party},01/20/26,{invoice},{amount},{200000 + n},Member {party},Lockbox\n")
        fh.write(f"BH,BENCH1,01/20/26,Lockbox benchmark,{args.rows},{total},1000-00\n")
        fh.writelines(rows)
        del rows
    size_mb = path.stat().st_size / (1024 * 1024)
    rss_start = peak_rss_mb()

    # The floor: a plain COPY of the same rows into a table of text columns.
    with connection.cursor() as cur:
        cur.execute(
            "CREATE UNLOGGED TABLE bench_copy (kind text, batch text, ar text, customer text, date text, "
            "invoice text, amount text, check_no text, name text, description text)"
        )
        t = time.perf_counter()
        with path.open("rb") as fh, cur.copy("COPY bench_copy FROM STDIN (FORMAT csv)") as copy:
            fh.readline()  # the BH line
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        copy_seconds = time.perf_counter() - t
        cur.execute("DROP TABLE bench_copy")

    if args.slow:
        _trace_slow_statements(args.slow)
    if args.explain:
        _explain_slow_statements(args.explain)

    load_before = os.getloadavg()[0]
    with connection.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn(), pg_backend_pid()")
        wal_start, backend_pid = cur.fetchone()
    cpu_start = (backend_cpu_seconds(backend_pid), time.process_time())
    print(f"server backend pid {backend_pid} (for profilers)", flush=True)
    t = time.perf_counter()
    with path.open("rb") as fh:
        imp = ar_import_validate(fileobj=fh, file_name=path.name, auto_apply=not args.no_auto_apply)
    validate_seconds = time.perf_counter() - t
    cpu_validated = (backend_cpu_seconds(backend_pid), time.process_time())
    if imp.status != ARImport.Status.VALIDATED:
        sys.exit("Validation failed:\n" + "\n".join(problems(imp)[:20]))
    # Where the post's time goes: the service reports its progress after each step.
    from finance.ar_import.services import posting as ar_import_posting

    marks: list[tuple[int, float]] = []
    real_progress_writer = ar_import_posting._progress_writer

    def timed_progress_writer(imp_id, status=ARImport.Status.POSTING):
        write, pool = real_progress_writer(imp_id, status)

        def mark(percent):
            marks.append((percent, time.perf_counter()))
            write(percent)

        return mark, pool

    ar_import_posting._progress_writer = timed_progress_writer
    t = time.perf_counter()
    imp = ar_import_post(ar_import=imp)
    post_end = time.perf_counter()
    post_seconds = post_end - t
    cpu_end = (backend_cpu_seconds(backend_pid), time.process_time())
    total_seconds = validate_seconds + post_seconds
    rss_end = peak_rss_mb()

    with connection.cursor() as cur:
        cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [wal_start])
        wal_mb = float(cur.fetchone()[0]) / (1024 * 1024)
        cur.execute("SELECT COUNT(*) FROM finance_payment")
        payments = cur.fetchone()[0]
        cur.execute("SELECT COUNT(*) FROM finance_paymentapplication")
        applications = cur.fetchone()[0]
        cur.execute("SELECT COUNT(*) FROM finance_journalline")
        journal_lines = cur.fetchone()[0]

    print(f"seeded {n_contacts:,} contacts, {n_lines:,} open invoice lines in {seed_seconds:.1f} s (not timed)")
    print(f"file: {args.rows:,} PAY rows, {size_mb:.1f} MB, auto apply {'off' if args.no_auto_apply else 'on'}")
    print(f"plain COPY of the rows:  {copy_seconds:7.2f} s  ({args.rows / copy_seconds:,.0f} rows/s)")
    print(f"validate + preview:      {validate_seconds:7.2f} s")
    print(f"post (apply + write):    {post_seconds:7.2f} s")
    steps = {
        5: "claim, batch, checks set immediate",
        30: "lock invoices, allocate",
        40: "payment ids, credit invoice numbers",
        50: "payments, rows marked posted",
        60: "credit invoices and lines",
        70: "applications, line and invoice balances",
        90: "journal entries and lines",
    }
    previous = t
    for percent, at in marks:
        print(f"  {steps.get(percent, percent):<42} {at - previous:6.2f} s")
        previous = at
    print(f"  {'commit (deferred checks), totals':<42} {post_end - previous:6.2f} s")
    print(f"validate + apply + post: {total_seconds:7.2f} s  ({args.rows / total_seconds:,.0f} rows/s)")
    print(f"ratio to plain COPY:     {total_seconds / copy_seconds:7.1f} x")
    print(
        f"posted {payments:,} payments, {applications:,} applications, {imp.credit_count:,} credit invoices, "
        f"{journal_lines:,} journal lines in all; applied {imp.applied_amount}, open credit {imp.credit_amount}"
    )
    print(f"WAL written by validate + post: {wal_mb:,.0f} MB")
    if cpu_start[0] is not None and cpu_end[0] is not None:
        print(
            f"CPU time: validate server {cpu_validated[0] - cpu_start[0]:.2f} s + this process "
            f"{cpu_validated[1] - cpu_start[1]:.2f} s; post server {cpu_end[0] - cpu_validated[0]:.2f} s + this "
            f"process {cpu_end[1] - cpu_validated[1]:.2f} s (the progress writer has a backend of its own)"
        )
    print(f"peak RSS: {rss_start:.0f} MB before the import, {rss_end:.0f} MB after")
    print(
        f"load average (1 min): {load_before:.2f} before the import, {os.getloadavg()[0]:.2f} after "
        f"({os.cpu_count()} CPUs shared with whatever else runs)"
    )
    print(f"target <= 15 s: {'met' if total_seconds <= 15 else 'NOT met'}")
    if args.verify:
        from finance.ledger_check import verify_ledger

        t = time.perf_counter()
        report = verify_ledger()
        print(f"verify_ledger: {report.summary()} in {time.perf_counter() - t:.1f} s")
    path.unlink()


if __name__ == "__main__":
    main()
