"""OpenWater invoices with coupons, discounts and manual adjustments (lines below zero),
pulled from the sandbox OpenWater over real HTTP and recorded on PostgreSQL: the invoice
total is OpenWater's billed total, the payment what was paid, the discount on the
discount product's own account; the ledger stays balanced after each scenario."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from finance.ledger_check import verify_ledger
from finance.models import GLAccount, Invoice, InvoiceAdjustment, JournalLine, Payment, Product, Refund
from integrations.openwater.models import Integration, InvoiceSync
from integrations.openwater.pushback import RunBusy, run_pushback
from integrations.openwater.services.setup import integration_create
from tests.factories import GLAccountFactory
from tests.openwater.conftest import AWARDS

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
COUPON = {"amount": "-20.00", "notes": "Coupon SPRING20", "targetType": "Coupon"}


def run(integration, make_client):
    with make_client(integration) as client:
        result = run_pushback(integration.pk, client=client)
    assert not isinstance(result, RunBusy)
    return result


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.format()


def gl(account):
    agg = JournalLine.objects.filter(account=account).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (agg["d"] or D(0)) - (agg["c"] or D(0))


def billed(ow) -> Decimal:
    return sum((li["amount"] for li in ow.lines), D("0.00"))


@pytest.fixture
def discount_account(integration):
    """Finance posts OpenWater discounts to a contra-income account of their own."""
    account = GLAccountFactory(
        entity=integration.entity, code="4950-00", name="OpenWater discounts", type=GLAccount.Type.INCOME,
        role=GLAccount.Role.OTHER,
    )  # fmt: skip
    product = integration.discount_product
    product.income_account = account
    product.save()
    return account


def test_coupon_line__invoice_total_is_the_billed_total_and_the_payment_what_was_paid(
    integration, sandbox, make_client, discount_account
):
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["100.00", COUPON])
    assert sandbox.detail(ow.id)["totalPaid"] == D("80.00")

    first = run(integration, make_client)

    assert (first.pushed, first.errors) == (1, 0)
    sync = InvoiceSync.objects.get(ow_invoice_id=ow.id)
    invoice, payment = sync.invoice, sync.payment
    assert sync.status == "pushed" and sync.total_paid == D("80.00")
    assert invoice.total == billed(ow) == D("80.00") and invoice.balance == D("0.00")
    fee, coupon = invoice.lines.order_by("line_number")
    assert (fee.product.code, fee.amount, fee.discount, fee.balance) == ("OW_AWD26", D("100.00"), D("-20.00"), D(0))
    assert (coupon.product.code, coupon.amount, coupon.balance) == ("OW_DISCOUNT", D("-20.00"), D("0.00"))
    assert coupon.description == "Coupon SPRING20" and coupon.account == discount_account
    assert payment.amount == D("80.00")
    assert [(a.line_id, a.amount) for a in payment.applications.all()] == [(fee.pk, D("80.00"))]
    # DR discounts 20, DR AR 80 / CR the program's income 100; then the payment clears AR.
    assert gl(discount_account) == D("20.00") and gl(fee.account) == D("-100.00")
    assert_ledger_ok()

    second = run(integration, make_client)
    assert (second.pushed, second.errors) == (0, 0) and Invoice.objects.filter(source="openwater").count() == 1


def test_manual_adjustment__float_amounts_to_the_cent_without_totals_as_documented(
    integration, sandbox, make_client, discount_account
):
    """OpenWater's documented invoice detail lists lines, payments and refunds (no
    totals); amounts are JSON numbers such as 10.1."""
    ow = sandbox.add_invoice(
        program_id=AWARDS,
        user_id=2,
        lines=["60.10", {"amount": "-10.1", "notes": "", "isManualAdjustment": True, "targetType": "None"}],
        payments=["20.00", "30.00"],
        with_totals=False,
    )
    detail = sandbox.detail(ow.id)
    assert "totalBilled" not in detail and "totalPaid" not in detail

    result = run(integration, make_client)

    assert (result.pushed, result.errors) == (1, 0)
    invoice = InvoiceSync.objects.get(ow_invoice_id=ow.id).invoice
    assert invoice.total == D("50.00") and invoice.balance == D("0.00")
    adjustment = invoice.lines.get(line_number=2)
    assert (adjustment.amount, adjustment.description) == (D("-10.10"), "Manual adjustment")
    assert Payment.objects.get(source="openwater").amount == D("50.00")
    assert gl(discount_account) == D("10.10")
    assert_ledger_ok()


def test_fully_discounted_invoice__recorded_with_no_payment(integration, sandbox, make_client, discount_account):
    ow = sandbox.add_invoice(
        program_id=AWARDS,
        user_id=1,
        lines=["75.00", {"amount": "-75.00", "notes": "Coupon FREE", "targetType": "Coupon"}],
    )
    assert sandbox.detail(ow.id)["payments"] == []

    result = run(integration, make_client)

    assert (result.pushed, result.skipped, result.errors) == (1, 0, 0)
    sync = InvoiceSync.objects.get(ow_invoice_id=ow.id)
    assert sync.status == "pushed" and sync.payment is None and sync.total_paid == D("0.00")
    assert (sync.invoice.total, sync.invoice.balance) == (D("0.00"), D("0.00"))
    assert not sync.invoice.lines.filter(balance__gt=0).exists()
    assert not Payment.objects.exists()
    assert gl(discount_account) == D("75.00")
    assert_ledger_ok()
    assert run(integration, make_client).pushed == 0


def test_partial_refund_of_a_discounted_invoice__recorded_as_partial_then_the_rest(
    integration, sandbox, make_client, discount_account
):
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["100.00", COUPON])
    run(integration, make_client)
    sync = InvoiceSync.objects.get(ow_invoice_id=ow.id)

    sandbox.add_refund(ow.id, "30.00", notes="Category withdrawn")
    partial = run(integration, make_client)

    assert (partial.refunds, partial.errors) == (1, 0)
    sync.refresh_from_db()
    invoice = Invoice.objects.get(pk=sync.invoice_id)
    fee = invoice.lines.get(line_number=1)
    assert sync.total_refunded == D("30.00") and invoice.reversed_at is None and invoice.balance == D("0.00")
    assert [(a.line_id, a.amount) for a in InvoiceAdjustment.objects.filter(invoice=invoice)] == [(fee.pk, D("-30.00"))]
    assert [r.amount for r in Refund.objects.filter(payment=sync.payment)] == [D("30.00")]
    assert gl(discount_account) == D("20.00")  # the discount stays as given
    assert_ledger_ok()

    sandbox.add_refund(ow.id, "50.00", notes="Entry cancelled")
    rest = run(integration, make_client)

    assert (rest.refunds, rest.errors) == (1, 0)
    sync.refresh_from_db()
    invoice.refresh_from_db()
    assert sync.total_refunded == D("80.00") and invoice.reversed_at is not None and invoice.balance == D("0.00")
    assert sorted(r.amount for r in Refund.objects.filter(payment=sync.payment)) == [D("30.00"), D("50.00")]
    assert Payment.objects.get(pk=sync.payment_id).refunded_amount == D("80.00")
    assert_ledger_ok()


def test_discounts_above_the_charges__an_error_for_staff_and_nothing_written(integration, sandbox, make_client):
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["10.00", COUPON], payments=[])
    result = run(integration, make_client)
    sync = InvoiceSync.objects.get(ow_invoice_id=ow.id)
    assert result.errors == 1 and sync.status == "error"
    assert sync.last_error == (
        f"OpenWater invoice {ow.id}: its discounts (20.00) are more than its charges (10.00); "
        "check the invoice in OpenWater"
    )
    assert not Invoice.objects.exists() and not Payment.objects.exists()


def test_invoice_in_error_before_discounts_were_recorded__pushed_at_the_next_run(
    integration, sandbox, make_client, discount_account
):
    """A discounted invoice the earlier pushback refused ("negative line amounts") and
    kept retrying is recorded by the next run."""
    ow = sandbox.add_invoice(
        program_id=AWARDS,
        user_id=2,
        lines=["100.00", COUPON],
        paid_at=datetime.now(UTC) - timedelta(hours=2),
    )
    InvoiceSync.objects.create(
        integration=integration,
        ow_invoice_id=ow.id,
        status=InvoiceSync.Status.ERROR,
        attempts=4,
        last_error=f"OpenWater invoice {ow.id}: negative line amounts, or payments/refunds not above zero",
    )
    Integration.objects.filter(pk=integration.pk).update(cursor=datetime.now(UTC) - timedelta(hours=1))

    result = run(integration, make_client)

    sync = InvoiceSync.objects.get(ow_invoice_id=ow.id)
    assert (result.pushed, result.errors) == (1, 0)
    assert sync.status == "pushed" and sync.last_error == "" and sync.attempts == 5
    assert sync.invoice.total == D("80.00") and sync.payment.amount == D("80.00")
    assert_ledger_ok()


def test_discount_product__made_for_an_integration_initialized_before_discounts(integration, sandbox, make_client):
    """An integration initialized before discounts were recorded gets OW_DISCOUNT (the
    migration makes it; failing that, the first discounted invoice does), on the
    entity's income account, which finance may then change."""
    old = integration.discount_product
    Integration.objects.filter(pk=integration.pk).update(discount_product=None)
    old.delete()
    integration.refresh_from_db()
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["100.00", COUPON])

    assert run(integration, make_client).pushed == 1

    integration.refresh_from_db()
    product = integration.discount_product
    assert (product.code, product.kind) == ("OW_DISCOUNT", Product.Kind.DISCOUNT)
    assert product.income_account.role == GLAccount.Role.INCOME and product.entity == integration.entity
    line = InvoiceSync.objects.get(ow_invoice_id=ow.id).invoice.lines.get(line_number=2)
    assert line.product == product
    assert_ledger_ok()


def test_migration__existing_initialized_integrations_get_a_discount_product(integration, ledger):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("integrations.openwater.migrations.0002_discounts_and_staff_actions")
    old = integration.discount_product
    Integration.objects.filter(pk=integration.pk).update(discount_product=None)
    old.delete()
    waiting = integration_create(
        name="Not initialized", base_url="https://api.example.org", client_key="c", api_key="a", organization_code="O"
    )

    migration.add_discount_products(apps, None)

    integration.refresh_from_db()
    waiting.refresh_from_db()
    assert integration.discount_product.code == "OW_DISCOUNT"
    assert integration.discount_product.income_account == ledger.income  # the entity's income account
    assert waiting.discount_product is None  # gets it at Initialize


def test_discount_product__edited_by_finance_keeps_the_mapping(integration, sandbox, make_client, ledger):
    product = integration.discount_product
    product.name, product.category, product.income_account = "Awards coupons", "Coupons", ledger.event.income_account
    product.save()
    sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["30.00", {"amount": "-5.00", "targetType": "Coupon"}])
    run(integration, make_client)
    line = Invoice.objects.get(source="openwater").lines.get(line_number=2)
    assert line.product_id == product.pk and line.account == ledger.event.income_account
    assert line.description == "Discount"  # OpenWater's notes of the line
    assert_ledger_ok()
