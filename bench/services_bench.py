"""The everyday services path on PostgreSQL: ``invoice_create`` + ``payment_receive``,
one process, straight through the services (the path of every UI entry, the pushback
and the invoice sync).

    createdb -h 127.0.0.1 -U postgres pc_bench_services
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pc_bench_services .venv/bin/python bench/services_bench.py
    dropdb -h 127.0.0.1 -U postgres pc_bench_services

It migrates the scratch database, builds a chart of accounts, a product, a CHECK
method, 200 payers and an Open batch (not timed), warms up, and then times in the same
run:

- **baseline**: the same rows written by plain parametrized SQL, one transaction per
  pair: an invoice, its line, the invoice entry with its two lines, a payment, its
  application, the line and invoice balance updates and the payment entry with its two
  lines (13 statements, no checks, no locks, no triggers of ours skipped: the database
  floor for those rows through this driver);
- **services**: ``--pairs`` pairs (default 2,000): ``invoice_create`` of a one-line
  accrual invoice, then ``payment_receive`` paying that line, each its own transaction
  (as a clerk, the pushback's fallback and the sync's payments make them).

It prints pairs/second of both, the ratio, the queries per pair (every statement sent,
counted on a sample of pairs), the process's CPU time per pair (``time.process_time``:
Python and the driver, not the server) and the load average before and after.
``--profile FILE`` writes a cProfile of the timed services loop; ``--show-queries``
prints the statements of one pair. When the server runs on this machine it prints the
server process's CPU time per pair; when the database has ``pg_stat_statements`` (and
``pg_stat_statements.track = 'all'``, ``track_planning = on`` for the whole picture),
the server's planning and execution time per pair, and with ``--server-top N`` the N
statements, trigger statements included, that took most of it.
"""

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")
os.environ["DEBUG"] = "false"  # no query log kept in memory


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of the server process ``pid`` when it runs on this
    machine and its /proc entry is readable, else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_statements(cursor):
    """pg_stat_statements of this database (None when the extension is not there):
    the rows, as (toplevel, calls, total ms, query)."""
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
    if cursor.fetchone() is None:
        return None
    cursor.execute(
        "SELECT toplevel, calls, total_exec_time + total_plan_time, query FROM pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return cursor.fetchall()


def main():  # noqa: C901 (a script read top to bottom)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--baseline", type=int, default=2000)
    parser.add_argument("--profile", default="")
    parser.add_argument("--show-queries", action="store_true")
    parser.add_argument(
        "--server-top",
        type=int,
        default=0,
        help="print the N statements (nested trigger statements included) with the most server time per pair",
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is migrated and filled).")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from finance.models import Contact, FinancialEntity, GLAccount, Invoice, PaymentMethod, Product
    from finance.services.batches import batch_create
    from finance.services.invoices import LineSpec, invoice_create
    from finance.services.payments import ApplicationSpec, payment_receive

    call_command("migrate", verbosity=0)
    if Invoice.objects.exists():
        sys.exit("The database is not empty; use a fresh scratch database.")

    entity = FinancialEntity.objects.create(code="BENCH", name="Bench", currency="USD")
    accounts = {}
    for code, name, type_, role in [
        ("1000-00", "Cash", "asset", "cash"),
        ("1200-00", "AR", "asset", "ar"),
        ("2100-00", "Unapplied cash", "liability", "unapplied_cash"),
        ("4000-10", "Dues income", "income", "income"),
    ]:
        accounts[role] = GLAccount.objects.create(entity=entity, code=code, name=name, type=type_, role=role)
    product = Product.objects.create(
        code="DUES", name="Annual dues", entity=entity, income_account=accounts["income"], price=Decimal("75.25")
    )
    method = PaymentMethod.objects.create(
        code="CHECK", name="Check", type=PaymentMethod.Type.CHECK, cash_account=accounts["cash"]
    )
    payers = [
        Contact.objects.create(party_id=str(800000 + n), name=f"Bench payer {n}", email=f"p{n}@example.org")
        for n in range(200)
    ]
    batch = batch_create(date=timezone.localdate(), description="Services bench")
    today = timezone.localdate()

    def pair(n: int):
        payer = payers[n % len(payers)]
        inv = invoice_create(bill_to=payer, entity=entity, batch=batch, lines=[LineSpec(product=product)], date=today)
        line = inv.lines.all()[0]
        payment_receive(
            payer=payer,
            method=method,
            amount=line.balance,
            date=today,
            batch=batch,
            applications=[ApplicationSpec(line=line, amount=line.balance)],
            reference=f"chk {n}",
        )

    # The floor: the same rows by plain SQL, one transaction per pair.
    def plain_pair(n: int, cursor):
        payer = payers[n % len(payers)]
        amt = Decimal("75.25")
        cursor.execute(
            "INSERT INTO finance_invoice (number, entity_id, bill_to_id, sold_to_id, date, due_date,"
            " accounting_method, type, source, currency, batch_id, description, total, balance, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'accrual', 'regular', 'staff', 'USD', %s, '', %s, %s, now())"
            " RETURNING id",
            [f"P{n}", entity.pk, payer.pk, payer.pk, today, today, batch.pk, amt, amt],
        )
        inv_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO finance_invoiceline (invoice_id, line_number, product_id, description, quantity,"
            " unit_price, amount, discount, account_id, balance) VALUES (%s, 1, %s, 'Annual dues', 1, %s, %s, 0,"
            " %s, %s) RETURNING id",
            [inv_id, product.pk, amt, amt, accounts["income"].pk, amt],
        )
        line_id = cursor.fetchone()[0]
        for kind, debit_acct, credit_acct, link in (
            ("invoice", accounts["ar"], accounts["income"], "invoice_id"),
            ("payment", accounts["cash"], accounts["ar"], "payment_id"),
        ):
            if kind == "payment":
                cursor.execute(
                    "INSERT INTO finance_payment (payer_id, method_id, entity_id, cash_account_id, amount,"
                    " amount_applied, refunded_amount, currency, date, reference, batch_id, status, source,"
                    " processor_charge_id, reversal_reason, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, 0, 'USD', %s, %s, %s, 'posted', 'staff', '', '', now())"
                    " RETURNING id",
                    [payer.pk, method.pk, entity.pk, accounts["cash"].pk, amt, amt, today, f"chk {n}", batch.pk],
                )
                ref = cursor.fetchone()[0]
                cursor.execute(
                    "INSERT INTO finance_paymentapplication (payment_id, line_id, invoice_id, amount, kind,"
                    " is_reversal, created_at) VALUES (%s, %s, %s, %s, 'apply', false, now())",
                    [ref, line_id, inv_id, amt],
                )
                cursor.execute("UPDATE finance_invoiceline SET balance = balance - %s WHERE id = %s", [amt, line_id])
                cursor.execute("UPDATE finance_invoice SET balance = balance - %s WHERE id = %s", [amt, inv_id])
            else:
                ref = inv_id
            cursor.execute(
                f"INSERT INTO finance_journalentry (batch_id, date, kind, description, {link},"
                " is_posted, exclude_from_gl_export, created_at) VALUES (%s, %s, %s, '', %s, true, false, now())"
                " RETURNING id",
                [batch.pk, today, kind, ref],
            )
            entry_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO finance_journalline (entry_id, account_id, debit, credit, currency, contact_id,"
                " description) VALUES (%s, %s, %s, 0, 'USD', %s, ''), (%s, %s, 0, %s, 'USD', %s, '')",
                [entry_id, debit_acct.pk, amt, payer.pk, entry_id, credit_acct.pk, amt, payer.pk],
            )

    for n in range(50):  # warm-up: connection, caches, plans
        pair(n)

    if args.show_queries:
        with CaptureQueriesContext(connection) as ctx:
            pair(10_000_000)
        for q in ctx.captured_queries:
            print(q["sql"][:300])

    load_before = load()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    base_server0 = backend_cpu(backend)
    t0, c0 = time.perf_counter(), time.process_time()
    with connection.cursor() as cursor:
        for n in range(args.baseline):
            with transaction.atomic():
                plain_pair(n, cursor)
    base_s, base_cpu = time.perf_counter() - t0, time.process_time() - c0
    base_server1 = backend_cpu(backend)
    base_rate = args.baseline / base_s

    with CaptureQueriesContext(connection) as ctx:
        for n in range(20):
            pair(20_000_000 + n)
    queries = len(ctx.captured_queries) / 20

    with connection.cursor() as cursor:
        stats = server_statements(cursor)
        if stats is not None:
            cursor.execute(
                "SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database WHERE datname = current_database()"
            )
    server0 = backend_cpu(backend)

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0, c0, times0 = time.perf_counter(), time.process_time(), os.times()
    for n in range(args.pairs):
        pair(30_000_000 + n)
    svc_s, svc_cpu, times1 = time.perf_counter() - t0, time.process_time() - c0, os.times()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    rate = args.pairs / svc_s
    user, system = times1.user - times0.user, times1.system - times0.system
    server1 = backend_cpu(backend)
    with connection.cursor() as cursor:
        stats = server_statements(cursor) if stats is not None else None

    print(f"load average before: {load_before}; after: {load()}")
    print(
        f"baseline (plain SQL, same rows, a transaction per pair): {args.baseline:,} pairs in {base_s:.2f} s = "
        f"{base_rate:,.0f} pairs/s; {base_cpu / args.baseline * 1000:.2f} ms CPU per pair"
    )
    print(
        f"services (invoice_create + payment_receive): {args.pairs:,} pairs in {svc_s:.2f} s = {rate:,.1f} pairs/s "
        f"({rate / base_rate:.2f} × the baseline); {queries:.1f} queries per pair; "
        f"{svc_cpu / args.pairs * 1000:.2f} ms CPU per pair (user {user / args.pairs * 1000:.2f}, "
        f"system {system / args.pairs * 1000:.2f})"
    )
    if server0 is not None and server1 is not None and base_server0 is not None and base_server1 is not None:
        print(
            f"server process CPU per pair: baseline {(base_server1 - base_server0) / args.baseline * 1000:.2f} ms, "
            f"services {(server1 - server0) / args.pairs * 1000:.2f} ms"
        )
    if stats is not None:
        top = sum(t for level, _, t, _ in stats if level)
        print(
            f"server planning + execution time per pair (pg_stat_statements: the statements sent, with the "
            f"trigger statements they ran, and the checks deferred to commit): {top / args.pairs:.3f} ms"
        )
        for level, calls, t, query in sorted(stats, key=lambda r: -r[2])[: args.server_top]:
            print(
                f"  {t / args.pairs:7.3f} ms/pair {calls / args.pairs:5.2f} calls/pair "
                f"{'top   ' if level else 'nested'} {' '.join(query.split())[:150]}"
            )


if __name__ == "__main__":
    main()
