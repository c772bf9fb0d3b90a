"""The trail is written by the database's triggers: a change is recorded whoever writes
it (a service's save, ``.update()``, raw or set-based SQL, a command), with who, when,
before and after; balance-only updates and the rows a bulk posting writes are not."""

import datetime
import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.context import Actor, acting_as, current_actor
from audit.models import AuditEvent
from finance.ar_import.services import ar_import_post
from finance.models import Batch, GatewayAccount, Invoice, InvoiceAdjustment, Payment, PaymentMethod
from finance.models_ar_import import ARImport
from finance.services.batches import batch_create
from finance.services.payments import payment_receive
from tests.child_process import child_env
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import imis, pay, validate

DAY = datetime.date(2026, 3, 2)


def events_of(obj) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            content_type=ContentType.objects.get_for_model(type(obj)), object_id=str(obj.pk)
        ).order_by("at", "pk")
    )


def events_of_model(model) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(content_type=ContentType.objects.get_for_model(model)).order_by("pk"))


def admin_form_data(response) -> dict:
    """The POST data of an admin change page as it was rendered: the form's initial
    values and each inline formset's management form."""
    data = {k: v for k, v in response.context["adminform"].form.initial.items() if v is not None}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data |= {f"{management.prefix}-{name}": value for name, value in management.initial.items()}
    return data


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-123")


@pytest.mark.django_db
def test_reversing_an_invoice_from_its_page__records_who_when_before_and_after(client, manager_user, ledger):
    payer, batch = ContactFactory(), BatchFactory()
    invoice = make_invoice(ledger, payer, batch, "400.00")
    payment_receive(payer=payer, method=ledger.check_method, amount="400.00", date=DAY, batch=batch)
    client.force_login(manager_user)
    started = timezone.now()

    response = client.post(
        reverse("finance:invoice_reverse", args=[invoice.pk]),
        {"date": DAY.isoformat(), "batch": str(batch.pk), "reason": "Cancelled"},
        REMOTE_ADDR="10.2.3.4",
        follow=True,
    )

    assert f"Invoice {invoice.number} is reversed" in response.content.decode()
    invoice.refresh_from_db()
    created, reversed_ = events_of(invoice)  # nothing for the balance paid down, then written off
    assert created.action == "create" and created.changes["total"] == "400.00"
    assert reversed_.action == "update" and reversed_.object_repr == f"Invoice {invoice.number}"
    assert (reversed_.actor_id, reversed_.actor_name, reversed_.ip) == (manager_user.pk, "manager", "10.2.3.4")
    assert started <= reversed_.at <= timezone.now()
    assert list(reversed_.changes) == ["reversed_at"]
    before, after = reversed_.changes["reversed_at"]
    assert before is None and datetime.datetime.fromisoformat(after) == invoice.reversed_at
    # The adjustments that wrote the charges off are recorded; the open credit the
    # payment became is part of the reversal, not an event of its own.
    adjustments = events_of_model(InvoiceAdjustment)
    assert [(e.action, e.actor_name, e.changes["amount"]) for e in adjustments] == [("create", "manager", "-400.00")]
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    assert events_of(credit) == []

    page = client.get(reverse("finance:invoice_detail", args=[invoice.pk])).content.decode()
    trail = page[page.index('data-testid="audit-trail"') :]
    assert "reversed_at" in trail and "manager" in trail and "10.2.3.4" in trail


@pytest.mark.django_db
def test_editing_a_batch_description_in_the_admin__is_recorded(client, admin_user, ledger):
    batch = batch_create(date=DAY, description="March receipts")
    client.force_login(admin_user)
    url = reverse("admin:finance_batch_change", args=[batch.pk])
    data = admin_form_data(client.get(url))
    data["description"] = "March lockbox receipts"

    response = client.post(url, data, REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 302, response.content[:500]
    batch.refresh_from_db()
    assert batch.description == "March lockbox receipts"  # written with .update() by the admin
    event = events_of(batch)[-1]
    assert (event.action, event.actor_id, event.actor_name, event.ip) == ("update", admin_user.pk, "root", "10.1.2.3")
    assert event.changes == {"description": ["March receipts", "March lockbox receipts"]}
    assert event.object_repr == batch.number

    page = client.get(reverse("finance:batch_detail", args=[batch.pk])).content.decode()
    assert "March lockbox receipts" in page[page.index('data-testid="audit-trail"') :]
    listing = client.get(reverse("admin:audit_auditevent_changelist"), {"q": batch.number}).content.decode()
    assert "root" in listing and batch.number in listing


@pytest.fixture
def payers(ledger):
    """Ann (105) owes 100.00 and 50.00; Bob (106) owes 80.00."""
    batch = BatchFactory()
    ann = ContactFactory(party_id="105", name="Ann Payer")
    bob = ContactFactory(party_id="106", name="Bob Payer")
    invoices = [
        make_invoice(ledger, ann, batch, "100.00", date=datetime.date(2026, 1, 5)),
        make_invoice(ledger, ann, batch, "50.00", date=datetime.date(2026, 1, 9)),
        make_invoice(ledger, bob, batch, "80.00", date=datetime.date(2026, 1, 7)),
    ]
    return ann, bob, invoices


LOCKBOX = imis(pay(105, "130.00", check="501"), pay(106, "100.00", check="502"))


@pytest.mark.django_db
def test_posting_an_ar_import__one_event_on_the_import_none_per_payment_or_balance(payers, manager_user, client):
    imp = validate(LOCKBOX)
    assert imp.status == ARImport.Status.VALIDATED
    last = AuditEvent.objects.order_by("pk").last().pk

    with acting_as(Actor(manager_user.pk, "manager", "10.9.8.7")):
        ar_import_post(ar_import=imp, user=manager_user)

    imp.refresh_from_db()
    assert imp.status == ARImport.Status.POSTED and Payment.objects.filter(source="import").count() == 2
    claimed, posted = [e for e in events_of(imp) if e.changes.get("status", [None])[0] != "uploaded"]
    assert claimed.changes == {"status": ["validated", "posting"]}  # claimed with .update()
    assert posted.changes == {"status": ["posting", "posted"], "batch": [None, f"#{imp.batch_id}"]}
    assert (posted.actor_id, posted.actor_name, posted.ip) == (manager_user.pk, "manager", "10.9.8.7")
    assert posted.object_repr == f"AR import {imp.pk} (lockbox.txt)"
    # The rest is the import's batch, opened for it; nothing per payment, application,
    # credit invoice (Bob's 20.00 residual) or invoice balance the posting wrote.
    new = AuditEvent.objects.filter(pk__gt=last)
    assert sorted((e.content_type.model, e.action) for e in new) == [
        ("arimport", "update"),
        ("arimport", "update"),
        ("batch", "create"),
    ]
    assert Invoice.objects.filter(type=Invoice.Type.CREDIT, balance=Decimal("-20.00")).exists()

    client.force_login(manager_user)
    page = client.get(reverse("finance:ar_import_detail", args=[imp.pk])).content.decode()
    trail = page[page.index('data-testid="audit-trail"') :]
    assert "posting" in trail and "posted" in trail and "manager" in trail


@pytest.mark.django_db(transaction=True)
def test_import_ar_command__the_command_is_the_actor(payers, tmp_path):
    path = tmp_path / "lockbox.txt"
    path.write_bytes(LOCKBOX)

    done = subprocess.run(
        [sys.executable, "manage.py", "import_ar", str(path)],
        cwd=settings.BASE_DIR,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    imp = ARImport.objects.get()
    assert imp.status == ARImport.Status.POSTED
    posted = events_of(imp)[-1]
    assert posted.changes["status"] == ["posting", "posted"]
    assert (posted.actor_id, posted.actor_name, posted.ip) == (None, "command import_ar", None)
    assert events_of(Batch.objects.get(pk=imp.batch_id))[0].actor_name == "command import_ar"
    assert not events_of_model(Payment)


@pytest.mark.django_db
def test_update_and_raw_sql_are_recorded_and_nested_actors_restore(ledger):
    method = ledger.check_method
    batch = BatchFactory()
    with acting_as(Actor(None, "ops")):
        PaymentMethod.objects.filter(pk=method.pk).update(name="Cheque")
        with acting_as(Actor(None, "night job")):
            assert current_actor().name == "night job"
            with connection.cursor() as cursor:
                cursor.execute("UPDATE finance_batch SET description = %s WHERE id = %s", ["Raw", batch.pk])
        PaymentMethod.objects.filter(pk=method.pk).update(is_active=False)
    PaymentMethod.objects.filter(pk=method.pk).update(name="Check")  # no actor set

    assert [(e.actor_name, e.changes) for e in events_of(method) if e.action == "update"] == [
        ("ops", {"name": ["Check", "Cheque"]}),
        ("ops", {"is_active": [True, False]}),
        ("system", {"name": ["Cheque", "Check"]}),
    ]
    assert [(e.actor_name, e.changes) for e in events_of(batch) if e.action == "update"] == [
        ("night job", {"description": [batch.description, "Raw"]})
    ]


@pytest.mark.django_db
def test_balance_updates_and_unchanged_saves_record_nothing(ledger):
    payer, batch = ContactFactory(), BatchFactory()
    invoice = make_invoice(ledger, payer, batch, "90.00")
    payment = payment_receive(payer=payer, method=ledger.check_method, amount="40.00", date=DAY, batch=batch)
    count = AuditEvent.objects.count()

    Invoice.objects.filter(pk=invoice.pk).update(balance=Decimal("45.00"))
    Payment.objects.filter(pk=payment.pk).update(amount_applied=Decimal("35.00"))
    Invoice.objects.get(pk=invoice.pk).save()  # every column written, none changed
    with connection.cursor() as cursor:
        cursor.execute("UPDATE finance_invoiceline SET balance = balance WHERE invoice_id = %s", [invoice.pk])

    assert AuditEvent.objects.count() == count
    assert [e.action for e in events_of(invoice)] == ["create"]
    assert [e.action for e in events_of(payment)] == ["create"]


@pytest.mark.django_db
def test_a_secret_changed_with_update_is_masked(ledger):
    account = GatewayAccount.objects.create(
        name="Stripe", processor=GatewayAccount.Processor.STRIPE, entity=ledger.entity, secret_key="sk_live_first123"
    )
    GatewayAccount.objects.filter(pk=account.pk).update(secret_key="sk_live_second456")
    account = GatewayAccount.objects.get(pk=account.pk)
    account.name = "Stripe live"
    account.save()  # the secret saved again unchanged: not a change

    created, changed, renamed = events_of(account)
    assert created.changes["secret_key"] == "••••••" and created.changes["webhook_secret"] == ""
    assert changed.changes == {"secret_key": ["••••••", "•••••• (changed)"]}
    assert renamed.changes == {"name": ["Stripe", "Stripe live"]}
    assert "first123" not in str(created.changes) + str(changed.changes)
    assert "second456" not in str(changed.changes)
