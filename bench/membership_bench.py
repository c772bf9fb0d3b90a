"""Membership renewal run benchmark on PostgreSQL: 50,000 members.

    createdb -h 127.0.0.1 -U postgres pc_bench_membership
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pc_bench_membership \
        .venv/bin/python bench/membership_bench.py --verify
    dropdb -h 127.0.0.1 -U postgres pc_bench_membership

It migrates the (scratch) database and seeds, with set-based SQL (not timed), N contacts
each with one active subscription (80% of a Regular type: dues + chapter dues + journal,
20% Student: dues only) paid through a date of 2025, some skipped on purpose (a lapsed
subscription, a second active subscription, already renewed), and gives some members
open credit (overpayments through ``payment_receive``, not timed). Then it times, in
one run:
- the baseline: a plain ``CREATE UNLOGGED TABLE … AS SELECT`` of the members joined to
  their member types and products (one row per future invoice line), the floor for
  writing that many rows;
- create: ``renewal_run_build`` (batch, items with skip reasons, preview lines);
- post: ``renewal_run_post`` (invoice numbers, invoices, lines, terms, paid-through /
  renewed-through, the invoices_created signal, credit auto-apply, batch posted, commit).
It prints seconds, members/second and the ratio to the baseline for each step.
Options: --members N (default 50000), --credits N (default 200), --verify (run
verify_ledger afterwards, timed separately).
"""

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--credits", type=int, default=200)
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is migrated and filled).")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from finance.membership.models import MemberType, MemberTypeProduct, RenewalRun
    from finance.membership.renewals import renewal_run_build, renewal_run_post, renewal_run_start
    from finance.models import Batch, FinancialEntity, GLAccount, Invoice, PaymentMethod, Product
    from finance.services.payments import payment_receive

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
    acct("1200-00", "AR", "asset", "ar")
    acct("2100-00", "Unapplied cash", "liability", "unapplied_cash")
    deferred = acct("2400-00", "Deferred dues", "liability", "deferred_income")
    income = acct("4000-10", "Dues", "income", "income")

    def product(code, name, price, deferred_account=None):
        return Product.objects.create(
            code=code,
            name=name,
            entity=entity,
            income_account=income,
            deferred_income_account=deferred_account,
            price=price,
            kind="dues",
        )

    reg = MemberType.objects.create(code="REG", name="Regular", fee_product=product("DUES", "Dues", 250, deferred))
    MemberTypeProduct.objects.create(member_type=reg, product=product("CHAPTER", "Chapter dues", 30), position=1)
    MemberTypeProduct.objects.create(member_type=reg, product=product("JOURNAL", "Journal", 20), position=2)
    stu = MemberType.objects.create(code="STU", name="Student", fee_product=product("STU", "Student dues", 50))
    check = PaymentMethod.objects.create(code="CHECK", name="Check", type="check", cash_account=cash)
    PaymentMethod.objects.create(code="OPENCREDIT", name="Open credit", type="open_credit")
    n = args.members
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO finance_contact (party_id, name, sort_name, kind, email, status, created_at)
               SELECT (100000 + g)::text, 'Member ' || g, 'Member ' || lpad(g::text, 7, '0'), 'individual', '',
                      'active', now() FROM generate_series(1, %s) g""",
            [n],
        )
        # Paid through a day of 2025; every 500th lapsed, every 700th already renewed.
        cur.execute(
            """INSERT INTO membership_subscription (contact_id, member_type_id, status, term_months, join_date,
                                                    opening_paid_through, paid_through, renewed_through, created_at)
               SELECT c.id, CASE WHEN c.id %% 5 = 0 THEN %s ELSE %s END,
                      CASE WHEN c.id %% 500 = 0 THEN 'lapsed' ELSE 'active' END, 12, DATE '2015-01-01',
                      DATE '2025-01-01' + (c.id %% 365)::int, DATE '2025-01-01' + (c.id %% 365)::int,
                      CASE WHEN c.id %% 700 = 0 THEN DATE '2026-12-31' ELSE DATE '2025-01-01' + (c.id %% 365)::int END,
                      now()
                 FROM finance_contact c""",
            [stu.pk, reg.pk],
        )
        # Every 900th member also holds a second active subscription.
        cur.execute(
            """INSERT INTO membership_subscription (contact_id, member_type_id, status, term_months, join_date,
                                                    opening_paid_through, paid_through, renewed_through, created_at)
               SELECT s.contact_id, CASE WHEN s.member_type_id = %s THEN %s ELSE %s END, 'active', 12,
                      DATE '2015-01-01', s.paid_through, s.paid_through, s.paid_through, now()
                 FROM membership_subscription s WHERE s.contact_id %% 900 = 0 AND s.status = 'active'""",
            [reg.pk, stu.pk, reg.pk],
        )
        cur.execute("ANALYZE")
    seed_batch = Batch.objects.create(number="SEED", date=datetime.date(2025, 1, 1), description="seed")
    from finance.models import Contact

    for contact in Contact.objects.order_by("pk")[: args.credits]:
        payment_receive(payer=contact, method=check, amount="75.00", date=datetime.date(2025, 1, 1), batch=seed_batch)
    print(f"seeded {n:,} members, {args.credits} with open credit, in {time.perf_counter() - t0:.1f} s")

    # Baseline: write one row per future invoice line with a plain CREATE TABLE AS.
    t = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            """CREATE UNLOGGED TABLE bench_floor AS
               SELECT s.id, s.contact_id, p.id AS product_id, p.price, s.paid_through + 1 AS term_begin
                 FROM membership_subscription s JOIN membership_membertype mt ON mt.id = s.member_type_id
                 JOIN finance_product p ON p.id = mt.fee_product_id
               UNION ALL
               SELECT s.id, s.contact_id, p.id, p.price, s.paid_through + 1
                 FROM membership_subscription s JOIN membership_membertypeproduct bp
                   ON bp.member_type_id = s.member_type_id JOIN finance_product p ON p.id = bp.product_id"""
        )
        cur.execute("SELECT COUNT(*) FROM bench_floor")
        floor_rows = cur.fetchone()[0]
        cur.execute("DROP TABLE bench_floor")
    baseline = time.perf_counter() - t

    t = time.perf_counter()
    run = renewal_run_start(
        effective_date=datetime.date(2026, 1, 1),
        paid_through_from=datetime.date(2025, 1, 1),
        paid_through_to=datetime.date(2025, 12, 31),
        invoice_date=datetime.date(2025, 12, 1),
    )
    run = renewal_run_build(run=run)
    create = time.perf_counter() - t

    t = time.perf_counter()
    run = renewal_run_post(run=run)
    post = time.perf_counter() - t
    assert run.status == RenewalRun.Status.POSTED
    invoices = Invoice.objects.filter(batch=run.batch, type="membership").count()

    considered = run.member_count + run.skipped_count
    print(
        f"run {run.pk}: {run.member_count:,} billed, {run.skipped_count:,} skipped, {run.line_count:,} lines, "
        f"total {run.total}, credit applied {run.credit_applied}, {invoices:,} invoices in batch {run.batch.number}"
    )
    print(f"baseline (CREATE TABLE AS, {floor_rows:,} rows): {baseline:6.2f} s")
    print(
        f"create (preview):  {create:6.2f} s  {considered / create:8,.0f} members/s  "
        f"{create / baseline:5.1f} x baseline"
    )
    print(
        f"post:              {post:6.2f} s  {run.member_count / post:8,.0f} members/s  "
        f"{post / baseline:5.1f} x baseline"
    )
    print(
        f"targets: create < 60 s {'MET' if create < 60 else 'NOT MET'}; post < 60 s {'MET' if post < 60 else 'NOT MET'}"
    )
    if args.verify:
        from finance.ledger_check import verify_ledger

        t = time.perf_counter()
        report = verify_ledger()
        print(f"verify_ledger: {report.summary()} ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()
