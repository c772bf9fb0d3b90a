"""Entering invoices and payments through the staff UI."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from finance.models import Batch, Invoice, Payment
from finance.services.batches import current_batch_set
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db
DAY = datetime.date(2026, 1, 10)


def _payment_post(ledger, payer, batch, amount, **extra):
    data = {
        "payer": payer.party_id,
        "entity": ledger.entity.pk,
        "method": ledger.check_method.pk,
        "amount": amount,
        "date": DAY.isoformat(),
        "reference": "1234",
        "batch": str(batch.pk),
        "apply_to": "auto",
    }
    data.update(extra)
    return data


def test_receive_payment__auto_apply_leaves_rest_as_credit(client, staff_user, ledger):
    client.force_login(staff_user)
    payer, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, payer, batch, "100")
    page = client.get(reverse("finance:payment_new") + f"?contact={payer.party_id}")
    assert page.status_code == 200
    assert inv.number in page.content.decode()
    resp = client.post(reverse("finance:payment_new"), _payment_post(ledger, payer, batch, "130.00"), follow=True)
    payment = Payment.objects.get()
    assert resp.redirect_chain[-1][0] == reverse("finance:payment_detail", args=[payment.pk])
    assert "30.00 was left as open credit" in resp.content.decode()
    inv.refresh_from_db()
    assert inv.balance == Decimal("0.00")


def test_receive_payment__to_entered_lines(client, staff_user, ledger):
    client.force_login(staff_user)
    payer, batch = ContactFactory(), BatchFactory()
    older = make_invoice(ledger, payer, batch, "100", date=DAY - datetime.timedelta(days=5))
    chosen = make_invoice(ledger, payer, batch, "80")
    line = chosen.lines.get()
    data = _payment_post(ledger, payer, batch, "50.00", apply_to="lines", **{f"apply_{line.pk}": "50.00"})
    resp = client.post(reverse("finance:payment_new"), data)
    assert resp.status_code == 302
    older.refresh_from_db()
    chosen.refresh_from_db()
    assert (older.balance, chosen.balance) == (Decimal("100.00"), Decimal("30.00"))


def test_receive_payment__over_line_balance_shows_error_and_writes_nothing(client, staff_user, ledger):
    client.force_login(staff_user)
    payer, batch = ContactFactory(), BatchFactory()
    inv = make_invoice(ledger, payer, batch, "80")
    line = inv.lines.get()
    data = _payment_post(ledger, payer, batch, "100.00", apply_to="lines", **{f"apply_{line.pk}": "90.00"})
    resp = client.post(reverse("finance:payment_new"), data)
    assert resp.status_code == 200
    assert f"Invoice {inv.number} line 1: 90.00 is more than its open balance 80.00" in resp.content.decode()
    assert not Payment.objects.exists()


def test_receive_payment__zero_amount_refused(client, staff_user, ledger):
    client.force_login(staff_user)
    payer, batch = ContactFactory(), BatchFactory()
    resp = client.post(reverse("finance:payment_new"), _payment_post(ledger, payer, batch, "0"))
    assert resp.status_code == 200
    assert "Ensure this value is greater than or equal to 0.01" in resp.content.decode()
    assert not Payment.objects.exists()


def test_receive_payment__needs_ar_cash_level_2(client, django_user_model, grant, ledger):
    viewer = django_user_model.objects.create_user("viewer", password="x")
    grant(viewer, "ar_cash", 1)
    client.force_login(viewer)
    assert client.get(reverse("finance:payment_new")).status_code == 403
    assert client.get(reverse("finance:invoice_new")).status_code == 403


def test_new_invoice__creates_numbered_posted_invoice_in_the_current_batch(client, staff_user, ledger):
    client.force_login(staff_user)
    contact = ContactFactory()
    current = BatchFactory(number="CUR-1")
    current_batch_set(user=staff_user, batch=current)
    before = Batch.objects.count()
    page = client.get(reverse("finance:invoice_new")).content.decode()
    assert "My current batch: CUR-1" in page
    data = {
        "bill_to": contact.party_id,
        "entity": ledger.entity.pk,
        "date": DAY.isoformat(),
        "due_date": "",
        "accounting_method": "accrual",
        "batch": "",
        "description": "Spring order",
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "20",
        "lines-0-product": ledger.dues.pk,
        "lines-0-quantity": "1",
        "lines-0-unit_price": "",
        "lines-0-description": "",
        "lines-1-product": ledger.event.pk,
        "lines-1-quantity": "2",
        "lines-1-unit_price": "150.00",
        "lines-1-description": "Two seats",
    }
    resp = client.post(reverse("finance:invoice_new"), data)
    invoice = Invoice.objects.get()
    assert resp.status_code == 302 and resp["Location"] == reverse("finance:invoice_detail", args=[invoice.pk])
    assert invoice.total == Decimal("550.00") and invoice.description == "Spring order"
    assert invoice.batch == current and Batch.objects.count() == before
    assert list(invoice.lines.values_list("description", "amount")) == [
        ("Annual dues", Decimal("250.00")),
        ("Two seats", Decimal("300.00")),
    ]


def test_new_invoice__without_lines_refused_and_ready_batches_not_offered(client, staff_user, ledger):
    client.force_login(staff_user)
    contact = ContactFactory()
    batch = BatchFactory(status=Batch.Status.READY)
    data = {
        "bill_to": contact.party_id,
        "entity": ledger.entity.pk,
        "date": DAY.isoformat(),
        "accounting_method": "accrual",
        "batch": "",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "20",
        "lines-0-product": "",
        "lines-0-quantity": "1",
        "lines-0-unit_price": "",
        "lines-0-description": "",
    }
    resp = client.post(reverse("finance:invoice_new"), data)
    # No batch picked and no current batch: refused, no batch opened for it.
    assert "you have no current batch" in resp.content.decode()
    assert Batch.objects.count() == 1
    current_batch_set(user=staff_user, batch=BatchFactory())
    resp = client.post(reverse("finance:invoice_new"), data)
    assert "Add at least one line with a product." in resp.content.decode()
    # A batch that is not open is not offered at all.
    assert f'value="{batch.pk}"' not in resp.content.decode()
    assert not Invoice.objects.exists()


def test_entry_buttons__shown_only_to_users_who_may_enter(client, staff_user, django_user_model, grant, ledger):
    contact = ContactFactory()
    pay_link = reverse("finance:payment_new") + f"?contact={contact.party_id}"
    client.force_login(staff_user)
    html = client.get(reverse("finance:contact_detail", args=[contact.pk])).content.decode()
    assert pay_link in html
    assert reverse("finance:invoice_new") in client.get(reverse("finance:invoice_list")).content.decode()
    viewer = grant(django_user_model.objects.create_user("viewer", password="x"), "ar_cash", 1)
    client.force_login(viewer)
    html = client.get(reverse("finance:contact_detail", args=[contact.pk])).content.decode()
    assert pay_link not in html
    assert reverse("finance:invoice_new") not in client.get(reverse("finance:invoice_list")).content.decode()
