"""A posted AR import's journal is a summary (an entry per payment date and GL-export
flag, a line per account, naming the import); each payment's share is its
applications: reversing one imported payment posts exactly that share back, and
``verify_ledger`` checks the summary against the applications."""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum

from finance.ar_import.services import ar_import_post
from finance.ledger_check import verify_ledger
from finance.models import GLAccount, Invoice, JournalEntry, JournalLine, Payment
from finance.models_ar_import import ARImport
from finance.reporting.gl_csv import export_csv
from finance.reporting.services import gl_export_create
from finance.selectors import payment_journal
from finance.services.credits import payment_unapply
from finance.services.payments import payment_reverse
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import imis, pay, validate
from tests.reporting.helpers import post as post_batch
from tests.reporting.helpers import read_csv

pytestmark = pytest.mark.django_db
D = Decimal
DAY = datetime.date(2026, 1, 10)
LATER = datetime.date(2026, 2, 1)


@pytest.fixture
def books(ledger):
    batch = BatchFactory()
    ann = ContactFactory(party_id="105", name="Ann Payer")
    bob = ContactFactory(party_id="106", name="Bob Payer")
    cat = ContactFactory(party_id="107", name="Cat Member")
    ann_inv = make_invoice(ledger, ann, batch, "100.00", "50.00")
    bob_inv = make_invoice(ledger, bob, batch, "200.00")
    dues = make_invoice(
        ledger, cat, batch, "90.00", accounting_method=Invoice.AccountingMethod.CASH, type=Invoice.Type.MEMBERSHIP
    )
    return {"ann": ann, "bob": bob, "cat": cat, "ann_inv": ann_inv, "bob_inv": bob_inv, "dues": dues}


def post(*rows) -> ARImport:
    imp = validate(imis(*rows))
    assert imp.status == ARImport.Status.VALIDATED
    return ar_import_post(ar_import=imp)


def nets(entries) -> dict[tuple[str, bool], Decimal]:
    """Net debit per (account code, GL-export flag) over ``entries``."""
    rows = (
        JournalLine.objects.filter(entry__in=entries)
        .values_list("account__code", "entry__exclude_from_gl_export")
        .annotate(net=Sum(F("debit") - F("credit")))
    )
    return {(code, excluded): net for code, excluded, net in rows if net}


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


def test_the_import_posts_one_summary_entry_per_flag_with_a_line_per_account(ledger, books):
    imp = post(pay(105, "150.00", check="1"), pay(106, "250.00", check="2"), pay(107, "90.00", check="3"))
    entries = JournalEntry.objects.filter(ar_import=imp)
    assert sorted(entries.values_list("exclude_from_gl_export", flat=True)) == [False, True]
    assert not JournalEntry.objects.filter(payment__source=Payment.Source.IMPORT).exists()
    cash, ar, unapplied = ledger.cash.code, ledger.ar.code, ledger.unapplied.code
    income = books["dues"].lines.get().account.code
    assert nets(entries) == {
        (cash, False): D("400.00"),  # Ann's 150 and Bob's 250
        (ar, False): D("-350.00"),  # Ann's invoice, Bob's invoice
        (unapplied, False): D("-50.00"),  # Bob's overpayment, held as credit
        (cash, True): D("90.00"),  # Cat's cash-basis dues: recorded, not exported
        (income, True): D("-90.00"),
    }
    assert JournalLine.objects.filter(entry__in=entries).count() == 5
    assert all(e.description.startswith(f"AR import {imp.pk}: 3 payments") for e in entries)
    # The payment page shows the summary the payment was posted in.
    bob_payment = Payment.objects.get(payer=books["bob"])
    assert set(payment_journal(bob_payment)) == set(entries)
    assert_ledger_ok()


def test_reversing_an_imported_payment_takes_back_exactly_its_share(ledger, books):
    post(pay(105, "150.00", check="1"), pay(106, "250.00", check="2"), pay(107, "90.00", check="3"))
    bob_payment = Payment.objects.get(payer=books["bob"])
    cat_payment = Payment.objects.get(payer=books["cat"])
    reversals = BatchFactory()
    for payment in (bob_payment, cat_payment):
        payment_reverse(payment=payment, batch=reversals, date=LATER, reason="Returned check")
    entries = JournalEntry.objects.filter(batch=reversals)
    assert set(entries.values_list("kind", flat=True)) == {JournalEntry.Kind.PAYMENT_REVERSAL}
    income = books["dues"].lines.get().account.code
    assert nets(entries.filter(payment=bob_payment)) == {
        (ledger.cash.code, False): D("-250.00"),
        (ledger.ar.code, False): D("200.00"),
        (ledger.unapplied.code, False): D("50.00"),
    }
    assert nets(entries.filter(payment=cat_payment)) == {
        (ledger.cash.code, True): D("-90.00"),
        (income, True): D("90.00"),
    }
    for inv in (books["bob_inv"], books["dues"]):
        inv.refresh_from_db()
    assert (books["bob_inv"].balance, books["dues"].balance) == (D("200.00"), D("90.00"))
    assert_ledger_ok()


def test_an_imported_payment_unapplied_then_reversed_reverses_both_postings(ledger, books):
    post(pay(105, "150.00", check="1"))
    payment = Payment.objects.get(payer=books["ann"])
    later = BatchFactory()
    credit = payment_unapply(payment=payment, batch=later, date=LATER)
    assert credit.balance == D("-150.00")
    payment_reverse(payment=payment, batch=later, date=LATER, reason="Stopped")
    # The unapply's entry reversed as posted, the import's share from the applications:
    # nothing is left on any account for this payment.
    own = JournalEntry.objects.filter(payment=payment)
    share = {(ledger.cash.code, False): D("150.00"), (ledger.ar.code, False): D("-150.00")}
    total = nets(own)
    for key, value in share.items():
        total[key] = total.get(key, D(0)) + value
    assert {k: v for k, v in total.items() if v} == {}
    books["ann_inv"].refresh_from_db()
    credit.refresh_from_db()
    assert (books["ann_inv"].balance, credit.balance) == (D("150.00"), D("0.00"))
    assert_ledger_ok()


def test_verify_ledger_finds_a_summary_that_does_not_match_the_applications(ledger, books):
    imp = post(pay(105, "150.00", check="1"))
    assert_ledger_ok()
    with connection.cursor() as cur:
        # Entries cannot be changed once written: a balanced one naming the import, as a
        # faulty writer would add it, moves 10.00 between cash and unapplied cash.
        cur.execute(
            "INSERT INTO finance_journalentry (batch_id, date, kind, description, is_posted, "
            "exclude_from_gl_export, created_at, ar_import_id) VALUES (%s, %s, 'payment', 'x', true, false, now(), %s) "
            "RETURNING id",
            [imp.batch_id, DAY, imp.pk],
        )
        entry_id = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO finance_journalline (entry_id, account_id, debit, credit, currency, description) "
            "VALUES (%s, %s, 10, 0, 'USD', ''), (%s, %s, 0, 10, 'USD', '')",
            [entry_id, ledger.cash.pk, entry_id, ledger.unapplied.pk],
        )
    report = verify_ledger()
    failed = {c.name: c for c in report.failed_checks}
    assert "import_postings" in failed
    assert f"AR import {imp.pk}, account {ledger.cash.code}" in failed["import_postings"].mismatches[0].subject


def test_a_payment_whose_cash_account_is_in_another_entity_is_refused_by_the_database(ledger, books):
    other = ledger.entity.__class__.objects.create(code="FDN", name="Foundation")
    other_cash = GLAccount.objects.create(
        entity=other, code="1000-00", name="Cash", type=GLAccount.Type.ASSET, role=GLAccount.Role.CASH
    )
    with pytest.raises(IntegrityError, match="payment_cash_account_of_entity"):
        with transaction.atomic():
            Payment.objects.create(
                payer=books["ann"],
                method=ledger.cash_method,
                entity=ledger.entity,
                cash_account=other_cash,
                amount=D("10.00"),
                currency="USD",
                date=DAY,
                batch=BatchFactory(),
            )
            with connection.cursor() as cur:
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_the_gl_file_names_the_import_on_its_summary_lines(ledger, books):
    imp = post(pay(105, "150.00", check="1"), pay(107, "90.00", check="3"))
    post_batch(imp.batch)
    export = gl_export_create()
    _, rows, _ = read_csv("".join(export_csv(export)))
    summary = [r for r in rows if f"ARI-{imp.pk}" in r["reference"]]
    # The exported summary entry: cash debited, AR credited (the cash-basis dues entry
    # is left out of the file).
    assert sorted((r["gl_account"], r["debit"], r["credit"]) for r in summary) == [
        (ledger.cash.code, "150.00", "0.00"),
        (ledger.ar.code, "0.00", "150.00"),
    ]
