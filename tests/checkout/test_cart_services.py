"""The staff cart services: applying open credit, removing it, submitting the order."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from checkout.models import Cart, CartCredit
from checkout.services.cart import (
    CartError,
    CartTotalMet,
    CreditNotOffered,
    StaleCart,
    cart_add_product,
    cart_apply_other_credit,
    cart_apply_own_credit,
    cart_remove_credit,
    cart_remove_line,
    cart_start,
    cart_submit,
    cart_totals,
    credit_refusal,
)
from finance.models import (
    Batch,
    Invoice,
    JournalEntry,
    Payment,
    PaymentApplication,
    PaymentMethod,
    PaymentMethodSet,
)
from finance.services.credits import credit_apply
from finance.services.payments import ApplicationSpec
from tests.checkout.helpers import add_opencredit, applied, assert_ledger_ok, cart_with, make_credit, make_product
from tests.factories import BatchFactory, CompanyFactory, ContactFactory, LedgerSetup
from tests.finance.helpers import make_invoice

D = Decimal


# --- starting and filling a cart ------------------------------------------------------------


@pytest.mark.django_db
def test_cart_start__one_open_cart_per_user_and_contact_on_the_staff_set(ledger, staff_user):
    contact = ContactFactory()
    cart = cart_start(user=staff_user, contact=contact)
    assert cart_start(user=staff_user, contact=contact) == cart
    assert cart.method_set.name == "Staff" and cart.status == Cart.Status.OPEN
    with pytest.raises(IntegrityError), transaction.atomic():
        Cart.objects.create(user=staff_user, contact=contact, method_set=cart.method_set)


@pytest.mark.django_db
def test_cart_add_product__again_raises_the_quantity_and_keeps_one_entity(ledger, staff_user):
    cart = cart_start(user=staff_user, contact=ContactFactory())
    mug = make_product(ledger, "14.50")
    cart_add_product(cart=cart, product=mug)
    line = cart_add_product(cart=cart, product=mug, quantity="2")
    assert (line.quantity, line.amount) == (D("3"), D("43.50"))
    assert cart_totals(cart).total == D("43.50")
    other = LedgerSetup.build(code="FDN")
    with pytest.raises(CartError, match="belongs to entity FDN"):
        cart_add_product(cart=cart, product=other.dues)
    with pytest.raises(CartError, match="greater than zero"):
        cart_add_product(cart=cart, product=mug, quantity="0")


# --- own credit ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_apply_own_credit__oldest_invoice_date_first_until_the_cart_total_is_met(ledger, staff_user, opencredit):
    contact = ContactFactory()
    newer = make_credit(ledger, contact, "40", date=datetime.date(2026, 1, 20))
    older = make_credit(ledger, contact, "100", date=datetime.date(2026, 1, 5))
    newest = make_credit(ledger, contact, "50", date=datetime.date(2026, 2, 1))
    cart = cart_with(staff_user, contact, ledger, "120")
    cart_apply_own_credit(user=staff_user, cart=cart)
    assert applied(cart) == [(older.number, D("100.00")), (newer.number, D("20.00"))]
    assert newest.pk not in cart.credits.values_list("credit_invoice_id", flat=True)
    assert cart_totals(cart).balance == D("0.00")
    with pytest.raises(CartTotalMet, match="cart total is already met"):
        cart_apply_own_credit(user=staff_user, cart=cart)


@pytest.mark.django_db
def test_apply_own_credit__a_company_member_uses_the_company_credit(ledger, staff_user, opencredit):
    company = CompanyFactory()
    member = ContactFactory(company=company)
    company_credit = make_credit(ledger, company, "70", date=datetime.date(2026, 1, 3))
    own = make_credit(ledger, member, "20", date=datetime.date(2026, 1, 9))
    make_credit(ledger, ContactFactory(), "500")  # a stranger's credit is not offered
    cart = cart_with(staff_user, member, ledger, "80")
    cart_apply_own_credit(user=staff_user, cart=cart)
    assert applied(cart) == [(company_credit.number, D("70.00")), (own.number, D("10.00"))]
    assert not cart.credits.filter(is_other=True).exists()


@pytest.mark.django_db
def test_apply_own_credit__already_applied_keeps_its_amount(ledger, staff_user, opencredit):
    contact = ContactFactory()
    first = make_credit(ledger, contact, "50", date=datetime.date(2026, 1, 2))
    cart = cart_with(staff_user, contact, ledger, "30")
    cart_apply_own_credit(user=staff_user, cart=cart)
    second = make_credit(ledger, contact, "25", date=datetime.date(2026, 1, 4))
    cart_add_product(cart=cart, product=make_product(ledger, "40"))
    cart_apply_own_credit(user=staff_user, cart=cart)
    assert applied(cart) == [(first.number, D("30.00")), (second.number, D("25.00"))]


@pytest.mark.django_db
def test_apply_own_credit__none_available_is_a_clear_error(ledger, staff_user, opencredit):
    cart = cart_with(staff_user, ContactFactory(name="Ann Able"), ledger, "30")
    with pytest.raises(CartError, match="Ann Able has no open credit available"):
        cart_apply_own_credit(user=staff_user, cart=cart)


# --- where credit is offered --------------------------------------------------------------------


@pytest.mark.django_db
def test_credit__refused_while_a_recurring_item_is_in_the_cart(ledger, staff_user, opencredit):
    contact = ContactFactory()
    make_credit(ledger, contact, "50")
    cart = cart_with(staff_user, contact, ledger, "30")
    monthly = make_product(ledger, "17.50", recurring=True, name="Monthly autopay dues")
    cart_add_product(cart=cart, product=monthly)
    message = "Open credit cannot be applied while a recurring item (Monthly autopay dues) is in the cart"
    assert credit_refusal(cart).startswith(message)
    with pytest.raises(CreditNotOffered, match=r"recurring item \(Monthly autopay dues\)"):
        cart_apply_own_credit(user=staff_user, cart=cart)
    assert not cart.credits.exists()


@pytest.mark.django_db
def test_credit__a_recurring_item_cannot_join_a_cart_with_credit(ledger, staff_user, opencredit):
    contact = ContactFactory()
    make_credit(ledger, contact, "50")
    cart = cart_with(staff_user, contact, ledger, "30")
    cart_apply_own_credit(user=staff_user, cart=cart)
    with pytest.raises(CreditNotOffered, match="recurring item"):
        cart_add_product(cart=cart, product=make_product(ledger, "17.50", recurring=True))
    assert cart.lines.count() == 1


@pytest.mark.django_db
def test_credit__refused_when_opencredit_is_not_in_the_staff_set(ledger, staff_user, manager_user):
    PaymentMethod.objects.create(code="OPENCREDIT", name="Open credit", type=PaymentMethod.Type.OPEN_CREDIT)
    contact = ContactFactory()
    credit = make_credit(ledger, contact, "50")
    cart = cart_with(staff_user, contact, ledger, "30")
    with pytest.raises(CreditNotOffered, match="OPENCREDIT method is not in the Staff set"):
        cart_apply_own_credit(user=staff_user, cart=cart)
    cart2 = cart_with(manager_user, contact, ledger, "30")
    with pytest.raises(CreditNotOffered, match="not in the Staff set"):
        cart_apply_other_credit(user=manager_user, cart=cart2, credit_invoices=[credit])


@pytest.mark.django_db
def test_credit__public_set_checkout_offers_credit_only_with_opencredit_in_the_public_set(
    ledger, staff_user, opencredit
):
    PaymentMethodSet.objects.create(name="Public")
    member = ContactFactory()
    credit = make_credit(ledger, member, "50")
    cart = cart_with(staff_user, member, ledger, "30", method_set_name="Public")
    # OPENCREDIT is in the Staff set, but this checkout uses the Public set.
    with pytest.raises(CreditNotOffered, match="not in the Public set"):
        cart_apply_own_credit(user=staff_user, cart=cart)
    add_opencredit("Public")
    cart_apply_own_credit(user=staff_user, cart=cart)
    assert applied(cart) == [(credit.number, D("30.00"))]


@pytest.mark.django_db
def test_credit__an_empty_cart_takes_no_credit(ledger, staff_user, opencredit):
    contact = ContactFactory()
    make_credit(ledger, contact, "50")
    cart = cart_start(user=staff_user, contact=contact)
    with pytest.raises(CreditNotOffered, match="Add a product"):
        cart_apply_own_credit(user=staff_user, cart=cart)


# --- other contacts' credit -----------------------------------------------------------------


@pytest.mark.django_db
def test_apply_other_credit__needs_orders_4(ledger, staff_user, opencredit):
    credit = make_credit(ledger, ContactFactory(), "50")
    cart = cart_with(staff_user, ContactFactory(), ledger, "30")
    with pytest.raises(PermissionDenied, match="Orders authorization level 4"):
        cart_apply_other_credit(user=staff_user, cart=cart, credit_invoices=[credit])
    assert not cart.credits.exists()


@pytest.mark.django_db
def test_apply_other_credit__ticked_invoices_oldest_first_until_the_total_is_met(ledger, manager_user, opencredit):
    donor, other = ContactFactory(), ContactFactory()
    late = make_credit(ledger, donor, "60", date=datetime.date(2026, 3, 1))
    early = make_credit(ledger, other, "45", date=datetime.date(2026, 1, 1))
    middle = make_credit(ledger, donor, "30", date=datetime.date(2026, 2, 1))
    cart = cart_with(manager_user, ContactFactory(), ledger, "100")
    created = cart_apply_other_credit(user=manager_user, cart=cart, credit_invoices=[late, early, middle])
    assert [cc.credit_invoice_id for cc in created] == [early.pk, middle.pk, late.pk]
    assert applied(cart) == [(early.number, D("45.00")), (middle.number, D("30.00")), (late.number, D("25.00"))]
    assert all(cc.is_other and cc.applied_by == manager_user for cc in cart.credits.all())
    more = make_credit(ledger, other, "10", date=datetime.date(2025, 12, 1))
    with pytest.raises(CartTotalMet, match="no more credit can be applied"):
        cart_apply_other_credit(user=manager_user, cart=cart, credit_invoices=[more])


@pytest.mark.django_db
def test_apply_other_credit__an_invoice_already_applied_keeps_its_amount(ledger, manager_user, opencredit):
    donor = ContactFactory()
    first = make_credit(ledger, donor, "80", date=datetime.date(2026, 2, 1))
    cart = cart_with(manager_user, ContactFactory(), ledger, "50")
    cart_apply_other_credit(user=manager_user, cart=cart, credit_invoices=[first])
    cart_add_product(cart=cart, product=make_product(ledger, "40"))  # total 90, 50 applied
    older = make_credit(ledger, donor, "100", date=datetime.date(2026, 1, 1))
    cart_apply_other_credit(user=manager_user, cart=cart, credit_invoices=[first, older])
    assert applied(cart) == [(first.number, D("50.00")), (older.number, D("40.00"))]


@pytest.mark.django_db
def test_apply_other_credit__own_credit_ticked_is_not_flagged_other(ledger, manager_user, opencredit):
    contact = ContactFactory()
    credit = make_credit(ledger, contact, "20")
    cart = cart_with(manager_user, contact, ledger, "50")
    cart_apply_other_credit(user=manager_user, cart=cart, credit_invoices=[credit])
    assert cart.credits.get().is_other is False


@pytest.mark.django_db
def test_apply_other_credit__not_an_open_credit_is_refused(ledger, manager_user, opencredit):
    contact = ContactFactory()
    invoice = make_invoice(ledger, contact, BatchFactory(), "30")
    cart = cart_with(manager_user, ContactFactory(), ledger, "50")
    with pytest.raises(CartError, match=f"Invoice {invoice.number} holds no open credit"):
        cart_apply_other_credit(user=manager_user, cart=cart, credit_invoices=[invoice])


# --- removing -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_remove_credit__one_recalculates_the_rest_in_listed_order(ledger, manager_user, opencredit):
    donor = ContactFactory()
    a = make_credit(ledger, donor, "60", date=datetime.date(2026, 1, 1))
    b = make_credit(ledger, donor, "30", date=datetime.date(2026, 1, 2))
    c = make_credit(ledger, donor, "50", date=datetime.date(2026, 1, 3))
    cart = cart_with(manager_user, ContactFactory(), ledger, "100")
    cart_apply_other_credit(user=manager_user, cart=cart, credit_invoices=[a, b, c])
    assert applied(cart) == [(a.number, D("60.00")), (b.number, D("30.00")), (c.number, D("10.00"))]
    cart_remove_credit(cart=cart, credit=cart.credits.get(credit_invoice=a))
    assert applied(cart) == [(b.number, D("30.00")), (c.number, D("50.00"))]
    assert cart_totals(cart).balance == D("20.00")


@pytest.mark.django_db
def test_remove_credit__none_removes_all(ledger, staff_user, opencredit):
    contact = ContactFactory()
    make_credit(ledger, contact, "10", date=datetime.date(2026, 1, 1))
    make_credit(ledger, contact, "10", date=datetime.date(2026, 1, 2))
    cart = cart_with(staff_user, contact, ledger, "50")
    cart_apply_own_credit(user=staff_user, cart=cart)
    assert cart.credits.count() == 2
    cart_remove_credit(cart=cart)
    assert not cart.credits.exists() and cart_totals(cart).balance == D("50.00")


@pytest.mark.django_db
def test_remove_line__trims_credit_to_the_new_total_in_listed_order(ledger, staff_user, opencredit):
    contact = ContactFactory()
    a = make_credit(ledger, contact, "40", date=datetime.date(2026, 1, 1))
    b = make_credit(ledger, contact, "40", date=datetime.date(2026, 1, 2))
    cart = cart_with(staff_user, contact, ledger, "50", "30")
    cart_apply_own_credit(user=staff_user, cart=cart)
    assert applied(cart) == [(a.number, D("40.00")), (b.number, D("40.00"))]
    cart_remove_line(cart=cart, line=cart.lines.get(amount=D("50.00")))
    assert applied(cart) == [(a.number, D("30.00"))]
    cart_remove_line(cart=cart, line=cart.lines.get())
    cart.refresh_from_db()
    assert not cart.credits.exists() and cart.entity is None


@pytest.mark.django_db
def test_cart_credit__database_refuses_zero_amounts_and_the_same_invoice_twice(ledger, staff_user, opencredit):
    contact = ContactFactory()
    credit = make_credit(ledger, contact, "40")
    cart = cart_with(staff_user, contact, ledger, "50")
    with pytest.raises(IntegrityError), transaction.atomic():
        CartCredit.objects.create(cart=cart, credit_invoice=credit, amount=D("0"), applied_by=staff_user)
    CartCredit.objects.create(cart=cart, credit_invoice=credit, amount=D("1"), applied_by=staff_user)
    with pytest.raises(IntegrityError), transaction.atomic():
        CartCredit.objects.create(cart=cart, credit_invoice=credit, amount=D("2"), applied_by=staff_user)


# --- submitting ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_submit__invoice_opencredit_payments_and_remainder_in_one_batch(ledger, manager_user, opencredit):
    buyer, donor = ContactFactory(), ContactFactory()
    own = make_credit(ledger, buyer, "25", date=datetime.date(2026, 1, 1))
    other = make_credit(ledger, donor, "100", date=datetime.date(2026, 1, 2))
    cart = cart_with(manager_user, buyer, ledger, "50", "70")
    cart_apply_own_credit(user=manager_user, cart=cart)
    cart_apply_other_credit(user=manager_user, cart=cart, credit_invoices=[other])
    cart_remove_credit(cart=cart, credit=cart.credits.get(credit_invoice=other))
    cart_apply_other_credit(user=manager_user, cart=cart, credit_invoices=[other])
    cart.credits.filter(credit_invoice=other).update(amount=D("60.00"))  # leave 35 to pay by check
    cart = cart_submit(user=manager_user, cart=cart, method=ledger.check_method, reference="1042")

    assert cart.status == Cart.Status.SUBMITTED and cart.submitted_at is not None
    invoice = cart.invoice
    assert (invoice.source, invoice.bill_to, invoice.total, invoice.balance) == (
        Invoice.Source.CART,
        buyer,
        D("120.00"),
        D("0.00"),
    )
    batch = cart.batch
    assert batch.description == "Cart orders" and batch.status == Batch.Status.OPEN
    payments = Payment.objects.filter(batch=batch).order_by("pk")
    assert [(p.method.code, p.payer, p.amount) for p in payments] == [
        ("OPENCREDIT", buyer, D("25.00")),
        ("OPENCREDIT", donor, D("60.00")),
        ("CHECK", buyer, D("35.00")),
    ]
    assert cart.payment == payments.last() and cart.payment.reference == "1042"
    assert [cc.payment for cc in cart.credits.all()] == list(payments[:2])
    # Credit is used on the lines oldest line first: line 1 (50) then line 2.
    line1, line2 = invoice.lines.order_by("line_number")
    apps = PaymentApplication.objects.filter(invoice=invoice).order_by("pk")
    assert [(a.line_id, a.amount) for a in apps] == [
        (line1.pk, D("25.00")),
        (line1.pk, D("25.00")),
        (line2.pk, D("35.00")),
        (line2.pk, D("35.00")),
    ]
    own.refresh_from_db()
    other.refresh_from_db()
    assert (own.balance, other.balance) == (D("0.00"), D("-40.00"))
    assert set(JournalEntry.objects.filter(invoice=invoice).values_list("batch", flat=True)) == {batch.pk}
    assert_ledger_ok()


@pytest.mark.django_db
def test_submit__credit_covering_everything_needs_no_method(ledger, staff_user, opencredit):
    contact = ContactFactory()
    make_credit(ledger, contact, "200")
    cart = cart_with(staff_user, contact, ledger, "30")
    cart_apply_own_credit(user=staff_user, cart=cart)
    cart = cart_submit(user=staff_user, cart=cart)
    assert cart.payment is None and cart.invoice.balance == D("0.00")
    assert Payment.objects.filter(batch=cart.batch).get().method == opencredit
    assert_ledger_ok()


@pytest.mark.django_db
def test_submit__two_carts_share_the_days_cart_batch(ledger, staff_user):
    first = cart_submit(
        user=staff_user, cart=cart_with(staff_user, ContactFactory(), ledger, "10"), method=ledger.cash_method
    )
    second = cart_submit(
        user=staff_user, cart=cart_with(staff_user, ContactFactory(), ledger, "20"), method=ledger.cash_method
    )
    assert first.batch == second.batch
    assert_ledger_ok()


@pytest.mark.django_db
def test_submit__remainder_needs_a_cash_or_check_method_of_the_set(ledger, staff_user, opencredit):
    cart = cart_with(staff_user, ContactFactory(), ledger, "30")
    with pytest.raises(CartError, match="Choose how the remaining 30.00 is paid"):
        cart_submit(user=staff_user, cart=cart)
    with pytest.raises(CartError, match="cannot pay a cart here"):
        cart_submit(user=staff_user, cart=cart, method=opencredit)
    outside = PaymentMethod.objects.create(
        code="MONEYORDER", name="Money order", type=PaymentMethod.Type.CHECK, cash_account=ledger.cash
    )
    with pytest.raises(CartError, match="Money order cannot pay a cart here"):
        cart_submit(user=staff_user, cart=cart, method=outside)
    assert not Invoice.objects.filter(source=Invoice.Source.CART).exists()


@pytest.mark.django_db
def test_submit__stale_cart_refused_naming_the_credit_and_nothing_written(ledger, staff_user, opencredit):
    contact = ContactFactory()
    credit = make_credit(ledger, contact, "50")
    cart = cart_with(staff_user, contact, ledger, "40")
    cart_apply_own_credit(user=staff_user, cart=cart)
    # The credit is used elsewhere meanwhile: 20 of it pays another open invoice.
    elsewhere = make_invoice(ledger, ContactFactory(), BatchFactory(), "20")
    credit_apply(
        credit_invoice=credit,
        applications=[ApplicationSpec(elsewhere.lines.get(), D("20"))],
        batch=elsewhere.batch,
        date=elsewhere.date,
    )
    counts = (Invoice.objects.count(), Payment.objects.count(), Batch.objects.count(), JournalEntry.objects.count())
    with pytest.raises(StaleCart, match=f"Credit invoice {credit.number} of {contact.name} no longer holds the 40.00"):
        cart_submit(user=staff_user, cart=cart, method=ledger.cash_method)
    after = (Invoice.objects.count(), Payment.objects.count(), Batch.objects.count(), JournalEntry.objects.count())
    assert after == counts
    cart.refresh_from_db()
    assert cart.status == Cart.Status.OPEN and cart.invoice is None
    assert_ledger_ok()


@pytest.mark.django_db
def test_submit__a_submitted_cart_cannot_change(ledger, staff_user):
    cart = cart_with(staff_user, ContactFactory(), ledger, "10")
    cart_submit(user=staff_user, cart=cart, method=ledger.cash_method)
    with pytest.raises(CartError, match="This cart is submitted"):
        cart_submit(user=staff_user, cart=cart, method=ledger.cash_method)
    with pytest.raises(CartError, match="This cart is submitted"):
        cart_add_product(cart=cart, product=make_product(ledger, "5"))
