"""Discount lines (a coupon, a discount, a manual reduction): a negative line handed to
the invoice's charge lines when the invoice is created, never paid, its account debited."""

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum

from finance.errors import FinanceError, InvalidAmount, OverApplication
from finance.ledger_check import verify_ledger
from finance.models import GLAccount, Invoice, InvoiceAdjustment, InvoiceLine, JournalEntry, JournalLine, Product
from finance.services.adjustments import invoice_lines_write_down, invoice_reverse
from finance.services.credits import refund_record
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive, payment_reverse
from tests.factories import BatchFactory, ContactFactory, GLAccountFactory, ProductFactory
from tests.finance.helpers import D

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 1, 10)


@pytest.fixture
def coupon(ledger):
    """A discount product on a contra-income account of its own."""
    account = GLAccountFactory(
        entity=ledger.entity, code="4900-00", name="Discounts given", type=GLAccount.Type.INCOME,
        role=GLAccount.Role.OTHER,
    )  # fmt: skip
    return ProductFactory(code="COUPON", entity=ledger.entity, income_account=account, kind=Product.Kind.DISCOUNT)


def gl(account):
    agg = JournalLine.objects.filter(account=account).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (agg["d"] or D(0)) - (agg["c"] or D(0))


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


def discounted(ledger, coupon, contact, batch, charges, discounts, **kwargs):
    lines = [LineSpec(product=ledger.event, unit_price=D(a)) for a in charges]
    lines += [LineSpec(product=coupon, unit_price=D(a), discount=True, description="Coupon SPRING") for a in discounts]
    return invoice_create(bill_to=contact, entity=ledger.entity, batch=batch, lines=lines, date=DAY, **kwargs)


def test_discount_line__total_is_net_and_the_entry_debits_the_discount_account(ledger, coupon):
    contact, batch = ContactFactory(), BatchFactory()
    inv = discounted(ledger, coupon, contact, batch, ["100.00"], ["-20.00"])

    assert (inv.total, inv.balance) == (D("80.00"), D("80.00"))
    fee, disc = inv.lines.order_by("line_number")
    assert (fee.amount, fee.discount, fee.balance) == (D("100.00"), D("-20.00"), D("80.00"))
    assert (disc.amount, disc.discount, disc.balance) == (D("-20.00"), D("20.00"), D("0.00"))
    assert disc.account == coupon.income_account and disc.product == coupon
    entry = JournalEntry.objects.get(invoice=inv, kind=JournalEntry.Kind.INVOICE)
    legs = {(jl.account.code, jl.debit, jl.credit) for jl in entry.lines.select_related("account")}
    assert legs == {
        ("1200-00", D("80.00"), D("0.00")),  # AR: what is owed
        ("4900-00", D("20.00"), D("0.00")),  # the discount
        ("4100-10", D("0.00"), D("100.00")),  # the full fee
    }
    assert_ledger_ok()

    # Auto apply pays the charge line (net of its discount), never the discount line.
    payment = payment_receive(payer=contact, method=ledger.cash_method, amount="80.00", date=DAY, batch=batch)
    inv.refresh_from_db()
    assert inv.balance == D("0.00")
    assert [(a.line_id, a.amount) for a in payment.applications.all()] == [(fee.pk, D("80.00"))]
    assert not Invoice.objects.filter(type=Invoice.Type.CREDIT).exists()
    assert gl(ledger.ar) == D("0.00") and gl(coupon.income_account) == D("20.00")
    assert_ledger_ok()


def test_discount_line__shared_by_the_charge_lines_to_the_cent(ledger, coupon):
    inv = discounted(ledger, coupon, ContactFactory(), BatchFactory(), ["100.00", "50.00", "0.00"], ["-5.00", "-5.00"])
    lines = list(inv.lines.order_by("line_number"))
    assert [ln.discount for ln in lines] == [D("-6.67"), D("-3.33"), D("0.00"), D("5.00"), D("5.00")]
    assert [ln.balance for ln in lines] == [D("93.33"), D("46.67"), D("0.00"), D("0.00"), D("0.00")]
    assert inv.total == inv.balance == D("140.00")
    assert_ledger_ok()


def test_discount_line__fully_discounted_invoice_has_nothing_open_and_no_receivable(ledger, coupon):
    contact, batch = ContactFactory(), BatchFactory()
    inv = discounted(ledger, coupon, contact, batch, ["60.00", "15.00"], ["-75.00"])
    assert (inv.total, inv.balance) == (D("0.00"), D("0.00"))
    assert not InvoiceLine.objects.filter(invoice=inv, balance__gt=0).exists()
    entry = JournalEntry.objects.get(invoice=inv, kind=JournalEntry.Kind.INVOICE)
    assert not entry.lines.filter(account=ledger.ar).exists()
    assert gl(coupon.income_account) == D("75.00") and gl(ledger.event.income_account) == D("-75.00")
    # A payment of the contact finds nothing to pay here: it becomes open credit.
    payment_receive(payer=contact, method=ledger.cash_method, amount="5.00", date=DAY, batch=batch)
    assert Invoice.objects.get(type=Invoice.Type.CREDIT).balance == D("-5.00")
    assert_ledger_ok()


@pytest.mark.parametrize(
    "charges, discounts, message",
    [
        (["50.00"], ["-50.01"], r"The discount lines \(50.01\) are more than the charges \(50.00\)"),
        ([], ["-10.00"], "An invoice's total must be greater than zero"),
        (["50.00"], ["10.00"], "Line 2: a discount line's unit price must be below zero"),
    ],
)
def test_discount_line__refused_and_nothing_written(ledger, coupon, charges, discounts, message):
    with pytest.raises(InvalidAmount, match=message):
        discounted(ledger, coupon, ContactFactory(), BatchFactory(), charges, discounts)
    assert not Invoice.objects.exists() and not JournalEntry.objects.exists()


def test_discount_line__a_negative_price_is_refused_unless_it_is_a_discount_line(ledger, coupon):
    with pytest.raises(InvalidAmount, match="Line 2: unit price cannot be negative"):
        invoice_create(
            bill_to=ContactFactory(), entity=ledger.entity, batch=BatchFactory(), date=DAY,
            lines=[LineSpec(product=ledger.event, unit_price=D("50")), LineSpec(product=coupon, unit_price=D("-5"))],
        )  # fmt: skip
    with pytest.raises(FinanceError, match="a credit invoice takes no discount lines"):
        invoice_create(
            bill_to=ContactFactory(), entity=ledger.entity, batch=BatchFactory(), date=DAY, type=Invoice.Type.CREDIT,
            lines=[LineSpec(product=coupon, unit_price=D("-5"), discount=True)],
        )  # fmt: skip


def test_discount_line__database_keeps_the_shape(ledger, coupon):
    inv = discounted(ledger, coupon, ContactFactory(), BatchFactory(), ["100.00"], ["-20.00"])
    fee, disc = inv.lines.order_by("line_number")
    for line, change in [
        (disc, {"discount": D("0.00"), "balance": D("-20.00")}),  # a negative line must hand its amount on
        (fee, {"discount": D("-100.01")}),  # more discount than the charge
        (fee, {"discount": D("1.00")}),  # a charge line carries no "negative discount"
        (fee, {"balance": D("80.01")}),  # balance above the charge (amount + discount)
    ]:
        with pytest.raises(IntegrityError), transaction.atomic():
            InvoiceLine.objects.filter(pk=line.pk).update(**change)


def test_verify_ledger__a_discount_that_does_not_add_up_is_reported(ledger, coupon):
    inv = discounted(ledger, coupon, ContactFactory(), BatchFactory(), ["100.00", "50.00"], ["-30.00"])
    first, second, _ = inv.lines.order_by("line_number")
    # The discount moved between the charge lines with the balances: lines agree, nothing is reported.
    InvoiceLine.objects.filter(pk=first.pk).update(discount=D("-25.00"), balance=D("75.00"))
    InvoiceLine.objects.filter(pk=second.pk).update(discount=D("-5.00"), balance=D("45.00"))
    assert_ledger_ok()
    # Five more of discount on one line than the discount lines give: the invoice is out.
    InvoiceLine.objects.filter(pk=second.pk).update(discount=D("-10.00"), balance=D("40.00"))
    report = verify_ledger()
    failed = {c.name: c for c in report.checks if not c.ok}
    assert set(failed) == {"invoice_totals", "ar_balance"}
    assert failed["invoice_totals"].mismatches[0].detail == "balance stored 120.00, recomputed 115.00"
    # A line balance not matching its discount names the line and shows the discount.
    InvoiceLine.objects.filter(pk=second.pk).update(discount=D("-5.00"))
    mismatch = {c.name: c for c in verify_ledger().checks if not c.ok}["line_balances"].mismatches[0]
    assert mismatch.detail == "balance stored 40.00, recomputed 45.00 (amount 50.00 + discount -5.00 - applied 0.00)"


def test_discount_line__reversal_gives_back_what_was_paid_and_keeps_the_discount(ledger, coupon):
    contact, batch = ContactFactory(), BatchFactory()
    inv = discounted(ledger, coupon, contact, batch, ["100.00"], ["-20.00"])
    payment = payment_receive(payer=contact, method=ledger.check_method, amount="80.00", date=DAY, batch=batch)
    invoice_reverse(invoice=inv, batch=batch, date=DAY, reason="Withdrawn")
    inv.refresh_from_db()
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    assert inv.balance == D("0.00") and credit.balance == D("-80.00")
    fee, disc = inv.lines.order_by("line_number")
    assert [(a.line_id, a.amount) for a in InvoiceAdjustment.objects.filter(invoice=inv)] == [(fee.pk, D("-80.00"))]
    assert (fee.balance, disc.balance) == (D("0.00"), D("0.00"))
    # Income: 100 billed less 80 reversed; the 20 of discount stays against it: nets to nothing.
    assert gl(ledger.event.income_account) + gl(coupon.income_account) == D("0.00") and gl(ledger.ar) == D("0.00")
    assert refund_record(payment=payment, credit_invoice=credit, batch=batch, date=DAY).amount == D("80.00")
    assert_ledger_ok()


def test_discount_line__payment_reversal_reopens_the_charge_net_of_its_discount(ledger, coupon):
    contact, batch = ContactFactory(), BatchFactory()
    inv = discounted(ledger, coupon, contact, batch, ["100.00"], ["-20.00"])
    fee = inv.lines.get(line_number=1)
    payment = payment_receive(
        payer=contact, method=ledger.check_method, amount="80.00", date=DAY, batch=batch,
        applications=[ApplicationSpec(fee, D("80.00"))],
    )  # fmt: skip
    payment_reverse(payment=payment, batch=batch, date=DAY, reason="NSF")
    fee.refresh_from_db()
    inv.refresh_from_db()
    assert fee.balance == D("80.00") and inv.balance == D("80.00")
    assert_ledger_ok()


def test_write_down__one_rule_for_partial_write_downs(ledger, coupon):
    contact, batch = ContactFactory(), BatchFactory()
    inv = discounted(ledger, coupon, contact, batch, ["100.00"], ["-20.00"])
    fee, disc = inv.lines.order_by("line_number")
    with pytest.raises(FinanceError, match="line 2 is a discount line"):
        invoice_lines_write_down(invoice=inv, amounts={disc.pk: D("1.00")}, batch=batch, date=DAY)
    with pytest.raises(OverApplication, match=r"80.01 is more than its open balance 80.00"):
        invoice_lines_write_down(invoice=inv, amounts={fee.pk: D("80.01")}, batch=batch, date=DAY)
    invoice_lines_write_down(invoice=inv, amounts={fee.pk: D("30.00")}, batch=batch, date=DAY, reason="Late fee waived")
    inv.refresh_from_db()
    assert inv.balance == D("50.00")
    entry = JournalEntry.objects.get(invoice=inv, kind=JournalEntry.Kind.ADJUSTMENT)
    assert entry.description == f"Invoice {inv.number}: Late fee waived"
    assert {(jl.account.code, jl.debit, jl.credit) for jl in entry.lines.select_related("account")} == {
        ("4100-10", D("30.00"), D("0.00")),
        ("1200-00", D("0.00"), D("30.00")),
    }
    assert_ledger_ok()


def test_discount_line__cash_basis_posts_nothing_at_invoicing_and_income_net_when_paid(ledger, coupon):
    contact, batch = ContactFactory(), BatchFactory()
    inv = discounted(
        ledger, coupon, contact, batch, ["100.00"], ["-20.00"], accounting_method=Invoice.AccountingMethod.CASH
    )
    assert not JournalEntry.objects.filter(invoice=inv).exists()
    payment_receive(payer=contact, method=ledger.cash_method, amount="80.00", date=DAY, batch=batch)
    assert gl(ledger.event.income_account) == D("-80.00") and gl(coupon.income_account) == D("0.00")
    assert_ledger_ok()
