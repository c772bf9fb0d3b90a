"""The audit trail: who changed what and when, before and after; never editable."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, transaction
from django.urls import reverse

from api.models import ApiToken
from audit.context import Actor, acting_as
from audit.models import AuditEvent
from core.models import Module, ModuleAuthorization
from finance.errors import FinanceError
from finance.models import Batch, Payment, PaymentMethod
from finance.services.batches import batch_create, batch_set_controls, batch_transition
from finance.services.payments import payment_receive, payment_reverse
from tests.factories import ContactFactory
from tests.finance.helpers import make_invoice

pytestmark = pytest.mark.django_db
DAY = datetime.date(2026, 3, 2)


def events_of(obj):
    return list(
        AuditEvent.objects.filter(
            content_type=ContentType.objects.get_for_model(type(obj)), object_id=str(obj.pk)
        ).order_by("at", "pk")
    )


def test_admin_change_of_a_payment_method_records_who_before_and_after(client, ledger, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-123")
    client.force_login(admin_user)
    method = ledger.check_method
    url = reverse("admin:finance_paymentmethod_change", args=[method.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(name="Paper check", code=method.code, type=method.type, cash_account=method.cash_account_id)
    data.pop("gateway_account", None)
    response = client.post(url, data, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 302, response.content[:500]

    event = events_of(method)[-1]
    assert event.action == "update" and event.actor_name == "root" and event.actor_id == admin_user.pk
    assert event.ip == "10.1.2.3"
    assert event.changes == {"name": ["Check", "Paper check"]}


def test_authorization_changes_are_recorded_create_update_delete(staff_user):
    with acting_as(Actor(None, "security officer")):
        auth = ModuleAuthorization.objects.create(user=staff_user, module=Module.FINANCE, level=2)
        auth.level = 6
        auth.save()
        auth_pk = auth.pk
        auth.delete()
    events = AuditEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(ModuleAuthorization), object_id=str(auth_pk)
    ).order_by("pk")
    assert [e.action for e in events] == ["create", "update", "delete"]
    assert events[1].changes == {"level": [2, 6]}
    assert {e.actor_name for e in events} == {"security officer"}


def test_secrets_never_enter_the_trail(staff_user):
    token, key = ApiToken.issue(user=staff_user, name="Bank feed")
    event = events_of(token)[0]
    assert event.action == "create"
    assert key not in str(event.changes) and token.key_hash not in str(event.changes)
    assert event.changes["key_hash"] == "••••••"


def test_financial_actions_are_recorded_with_their_state_changes(ledger, manager_user):
    contact = ContactFactory()
    with acting_as(Actor(manager_user.pk, "manager")):
        batch = batch_create(date=DAY, description="March receipts")
        invoice = make_invoice(ledger, contact, batch, "120.00", date=DAY)
        payment = payment_receive(payer=contact, method=ledger.check_method, amount="120.00", date=DAY, batch=batch)
        payment_reverse(payment=payment, batch=batch, date=DAY, reason="Bounced")
        batch_set_controls(batch=batch, control_count=2, control_amount=Decimal("120.00"))
        batch_transition(batch=batch, to_status=Batch.Status.READY)
        batch_transition(batch=batch, to_status=Batch.Status.POSTED)

    created = events_of(invoice)[0]
    assert created.action == "create" and created.actor_name == "manager"
    assert created.changes["total"] == "120.00" and created.changes["number"] == invoice.number
    pay_events = events_of(payment)
    assert [e.action for e in pay_events] == ["create", "update"]
    assert pay_events[1].changes["status"] == ["posted", "reversed"]
    statuses = [e.changes.get("status") for e in events_of(batch) if e.action == "update" and "status" in e.changes]
    assert statuses == [["open", "ready"], ["ready", "posted"]]


def test_a_refused_action_leaves_no_event(ledger):
    contact = ContactFactory()
    batch = batch_create(date=DAY)
    before = AuditEvent.objects.count()
    with pytest.raises(FinanceError):
        payment_receive(payer=contact, method=ledger.check_method, amount="-5", date=DAY, batch=batch)
    assert AuditEvent.objects.count() == before
    assert not Payment.objects.exists()


def test_the_trail_cannot_be_edited_or_deleted(ledger):
    PaymentMethod.objects.filter(pk=ledger.cash_method.pk).get().save()  # no change: no event
    method = ledger.cash_method
    method.name = "Cash drawer"
    method.save()
    event = events_of(method)[-1]
    with pytest.raises(DatabaseError, match="audit trail cannot be changed"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_name="someone else")
    with pytest.raises(DatabaseError, match="audit trail cannot be changed"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).actor_name == event.actor_name


def test_the_invoice_page_shows_its_history(client, ledger, staff_user):
    client.force_login(staff_user)
    contact = ContactFactory()
    batch = batch_create(date=DAY)
    invoice = make_invoice(ledger, contact, batch, "75.00", date=DAY)
    page = client.get(reverse("finance:invoice_detail", args=[invoice.pk])).content.decode()
    assert 'data-testid="audit-trail"' in page and "History" in page
    assert "Created" in page and "75.00" in page


def test_integration_settings_and_program_mappings_are_audited_and_shown(client, ledger, django_user_model):
    from integrations.openwater.models import ProgramMapping
    from integrations.openwater.services.setup import integration_create, integration_update

    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-123")
    with acting_as(Actor(admin_user.pk, "root")):
        integration = integration_create(
            name="Awards",
            base_url="https://api.example.org",
            client_key="ck-secret-1",
            api_key="ak-secret-1",
            organization_code="ORG",
        )
        integration_update(integration=integration, api_key="ak-secret-2", interval_minutes=15)
        program = ProgramMapping.objects.create(integration=integration, program_id=7, code="AWD", name="Awards")
    created, updated = events_of(integration)
    assert created.action == "create" and created.actor_name == "root"
    assert created.changes["api_key"] == "••••••" and "ak-secret-1" not in str(created.changes)
    assert updated.changes == {"api_key": ["••••••", "•••••• (changed)"], "interval_minutes": [5, 15]}
    assert [e.action for e in events_of(program)] == ["create"]
    # Run bookkeeping is not audited.
    integration.cursor = datetime.datetime(2026, 3, 2, tzinfo=datetime.UTC)
    integration.save(update_fields=["cursor"])
    assert len(events_of(integration)) == 2

    client.force_login(admin_user)
    page = client.get(reverse("openwater:ow_integration_detail", args=[integration.pk])).content.decode()
    assert "History" in page and "interval_minutes" in page and "ak-secret" not in page


def test_member_types_and_sync_record_edits_are_audited(ledger, django_user_model):
    from finance.membership.models import MemberType
    from finance.models import GatewayAccount
    from integrations.models import InvoiceSyncRecord
    from integrations.services.sync.records import sync_record_update

    user = django_user_model.objects.create_user("fm", password="pw-fm-12345")
    with acting_as(Actor(user.pk, "fm")):
        member_type = MemberType.objects.create(code="REG", name="Regular", fee_product=ledger.dues)
        member_type.name = "Regular member"
        member_type.save()
    assert [e.changes.get("name") for e in events_of(member_type)] == ["Regular", ["Regular", "Regular member"]]

    GatewayAccount.objects.create(
        name="Sandbox", processor=GatewayAccount.Processor.SANDBOX, entity=ledger.entity, invoice_sync=True
    )
    invoice = make_invoice(ledger, ContactFactory(), batch_create(date=DAY, description="Sync"), "40.00")
    record = InvoiceSyncRecord.objects.get(invoice=invoice)
    with acting_as(Actor(user.pk, "fm")):
        sync_record_update(record=record, sync_enabled=True, handling_mode="skip_autopay", user=user)
    (event,) = events_of(record)
    assert event.actor_name == "fm" and event.changes == {"handling_mode": ["default", "skip_autopay"]}


def test_gateway_credentials_are_encrypted_at_rest_and_masked_in_the_admin(client, ledger, django_user_model):
    from django.db import connection

    from finance.models import GatewayAccount

    account = GatewayAccount.objects.create(
        name="Stripe live",
        processor=GatewayAccount.Processor.STRIPE,
        entity=ledger.entity,
        secret_key="sk_live_0123456789abcdefWXYZ",
        webhook_secret="whsec_0123456789abcdefQRST",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_key, webhook_secret FROM paycentral_gatewayaccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()
    assert all(value and "0123456789abcdef" not in value for value in stored)
    assert GatewayAccount.objects.get(pk=account.pk).secret_key == "sk_live_0123456789abcdefWXYZ"

    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-123")
    client.force_login(admin_user)
    page = client.get(reverse("admin:finance_gatewayaccount_change", args=[account.pk])).content.decode()
    assert "WXYZ" in page and "QRST" in page  # the masked ends
    assert "0123456789abcdef" not in page
    (event,) = events_of(account)
    assert "0123456789abcdef" not in str(event.changes)


def test_admin_change_pages_show_the_history_of_settings_methods_and_authorizations(client, ledger, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-123")
    clerk = django_user_model.objects.create_user("clerk2", password="pw-clerk-123", is_staff=True)
    with acting_as(Actor(admin_user.pk, "root")):
        method = ledger.check_method
        method.name = "Paper check"
        method.save()
        ModuleAuthorization.objects.create(user=clerk, module=Module.ORDERS, level=4)
    client.force_login(admin_user)

    page = client.get(reverse("admin:finance_paymentmethod_change", args=[method.pk])).content.decode()
    assert 'data-testid="audit-trail"' in page and "Paper check" in page and "root" in page

    page = client.get(reverse("admin:auth_user_change", args=[clerk.pk])).content.decode()
    trail = page[page.index('data-testid="audit-trail"') :]
    assert "level" in trail and "4" in trail  # the authorization given to the clerk, on the clerk's page

    for name in ("finance_product", "finance_glaccount", "finance_gatewayaccount"):
        model_url = reverse(f"admin:{name}_changelist")
        assert client.get(model_url).status_code == 200
    product_page = client.get(reverse("admin:finance_product_change", args=[ledger.dues.pk])).content.decode()
    assert 'data-testid="audit-trail"' in product_page
