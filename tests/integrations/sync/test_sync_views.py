"""Invoice sync pages: levels, filters, the edit and its trail, receiver and repair."""

import datetime

import pytest
from django.core.management import call_command

from core.models import Module
from finance.models import Invoice
from finance.models import PaymentHandlingMode as Mode
from finance.services.invoices import credit_invoice_create
from integrations.models import InvoiceSyncRecord, SyncRecordChange
from integrations.selectors import sync_health
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(ledger):
    from finance.models import GatewayAccount

    return GatewayAccount.objects.create(
        name="Sandbox",
        processor="sandbox",
        entity=ledger.entity,
        invoice_sync=True,
        default_handling_mode=Mode.SKIP_AUTOPAY,
    )


def _invoice(ledger, amount="50.00"):
    return make_invoice(ledger, ContactFactory(), BatchFactory(), amount)


def test_receiver__record_in_the_invoice_transaction_with_account_defaults(
    ledger, account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        invoice = _invoice(ledger)
    record = invoice.sync_record
    assert (record.gateway_account, record.handling_mode, record.entity_id) == (
        account,
        Mode.SKIP_AUTOPAY,
        ledger.entity.pk,
    )
    assert (record.currency, record.base_currency, record.sync_enabled, record.synced_to_processor) == (
        "USD",
        "USD",
        True,
        False,
    )
    assert len(callbacks) == 1  # the payment request is queued after commit


def test_receiver__no_record_for_credit_invoices_and_none_without_account(ledger):
    credit = credit_invoice_create(
        contact=ContactFactory(),
        entity=ledger.entity,
        batch=BatchFactory(),
        date=datetime.date(2026, 1, 2),
        description="Prepayment",
        source=Invoice.Source.PAYMENT,
    )
    assert not InvoiceSyncRecord.objects.filter(invoice=credit).exists()
    invoice = _invoice(ledger)
    assert invoice.sync_record.gateway_account is None


def test_repair__creates_missing_records_once(ledger, account):
    invoices = [_invoice(ledger) for _ in range(3)]
    InvoiceSyncRecord.objects.filter(invoice__in=invoices[:2]).delete()
    call_command("sync_invoices", "--repair", "--once", "--job", "reconcile")
    call_command("sync_invoices", "--repair", "--once", "--job", "reconcile")
    assert InvoiceSyncRecord.objects.filter(invoice__in=invoices).count() == 3
    assert InvoiceSyncRecord.objects.count() == Invoice.objects.exclude(type="credit").count()


def test_pages__view_needs_ar_cash_2_and_edit_4(client, ledger, account, staff_user, grant):
    record = _invoice(ledger).sync_record
    client.force_login(staff_user)
    assert client.get("/invoice-sync/").status_code == 200
    assert client.get(f"/invoice-sync/{record.pk}/").status_code == 200
    response = client.post(f"/invoice-sync/{record.pk}/edit/", {"handling_mode": Mode.MANUAL_REVIEW})
    assert response.status_code == 403
    grant(staff_user, Module.AR_CASH, 1)
    assert client.get("/invoice-sync/").status_code == 403


def test_edit__two_fields_with_trail_and_bad_mode_named(client, ledger, account, manager_user):
    record = _invoice(ledger).sync_record
    client.force_login(manager_user)
    response = client.post(
        f"/invoice-sync/{record.pk}/edit/", {"handling_mode": Mode.HOLD_FOR_DISPUTE, "note": "chargeback letter"}
    )
    assert response.status_code == 302 and response.url == f"/invoice-sync/{record.pk}/"
    record.refresh_from_db()
    assert (record.sync_enabled, record.handling_mode) == (False, Mode.HOLD_FOR_DISPUTE)
    trail = list(
        SyncRecordChange.objects.filter(record=record)
        .order_by("field")
        .values_list("field", "old_value", "new_value", "user__username", "note")
    )
    assert trail == [
        ("handling_mode", Mode.SKIP_AUTOPAY, Mode.HOLD_FOR_DISPUTE, "manager", "chargeback letter"),
        ("sync_enabled", "True", "False", "manager", "chargeback letter"),
    ]
    response = client.post(f"/invoice-sync/{record.pk}/edit/", {"handling_mode": "never"}, follow=True)
    assert f"Invoice {record.invoice.number}: not saved" in response.content.decode()
    assert SyncRecordChange.objects.filter(record=record).count() == 2
    # Off-site "next" is ignored.
    response = client.post(
        f"/invoice-sync/{record.pk}/edit/", {"handling_mode": Mode.DEFAULT, "next": "https://evil.example/"}
    )
    assert response.url == f"/invoice-sync/{record.pk}/"


def test_list__filters_and_health(client, ledger, account, manager_user):
    a, b = _invoice(ledger).sync_record, _invoice(ledger).sync_record
    InvoiceSyncRecord.objects.filter(pk=b.pk).update(
        has_error=True, error_message="Attempt 1: declined", processor_status="failed"
    )
    client.force_login(manager_user)
    body = client.get("/invoice-sync/?processor_status=failed&has_error=true").content.decode()
    assert f">{b.invoice.number}<" in body and f">{a.invoice.number}<" not in body
    body = client.get(f"/invoice-sync/?handling_mode={Mode.SKIP_AUTOPAY}&entity={ledger.entity.pk}").content.decode()
    assert f">{a.invoice.number}<" in body and f">{b.invoice.number}<" in body
    health = sync_health()
    assert health["total"] == 2 and health["in_error"] == 1
    assert health["by_status"] == {"not_synced": 1, "failed": 1}
    assert health["last_poll"] is None


def test_invoice_page__shows_the_panel(client, ledger, account, manager_user):
    invoice = _invoice(ledger)
    client.force_login(manager_user)
    body = client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert 'data-testid="invoice-sync-panel"' in body and "Save sync settings" in body


def test_admin__only_the_two_fields_change_and_leave_a_trail(client, ledger, account, django_user_model):
    record = _invoice(ledger).sync_record
    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-123")
    client.force_login(admin_user)
    url = f"/admin/integrations/invoicesyncrecord/{record.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="handling_mode"' in page and 'name="processor_status"' not in page
    response = client.post(
        url,
        {
            "sync_enabled": "on",
            "handling_mode": Mode.MANUAL_REVIEW,
            "processor_status": "succeeded",
            "attempts-TOTAL_FORMS": "0",
            "attempts-INITIAL_FORMS": "0",
            "changes-TOTAL_FORMS": "0",
            "changes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    record.refresh_from_db()
    assert (record.handling_mode, record.processor_status) == (Mode.MANUAL_REVIEW, "not_synced")
    change = SyncRecordChange.objects.get(record=record)
    assert (change.user, change.note) == (admin_user, "Changed in the admin")


def test_receiver__one_transaction_sends_its_ids_in_chunks(
    ledger, account, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from integrations import tasks
    from integrations.services.sync import records

    sent = []
    monkeypatch.setattr(tasks.create_payment_requests, "delay", lambda ids: sent.append(ids))
    monkeypatch.setattr(records, "REQUEST_CHUNK", 2)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        invoices = [_invoice(ledger) for _ in range(5)]
        try:
            with transaction.atomic():
                _invoice(ledger)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        assert sent == []  # nothing before commit
    ids = sorted(InvoiceSyncRecord.objects.filter(invoice__in=invoices).values_list("pk", flat=True))
    assert len(callbacks) == 1
    assert [len(chunk) for chunk in sent] == [2, 2, 2]
    assert set(ids) <= {pk for chunk in sent for pk in chunk}  # the rolled-back one is skipped by the task
