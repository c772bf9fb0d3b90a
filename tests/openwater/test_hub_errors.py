"""What staff do in the Integrations Hub about an OpenWater invoice in error: find it from
the Errors figure, try it again now, skip it with a reason, or mark it as recorded by
hand. POST with CSRF, Integrations level 4, audited; the runs leave a handled invoice
alone. Over real HTTP against the sandbox OpenWater (live server), on PostgreSQL."""

import html
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from core.models import Module
from finance.ledger_check import verify_ledger
from finance.models import Invoice
from integrations.openwater.errors import PushbackError
from integrations.openwater.models import InvoiceSync
from integrations.openwater.pushback import run_pushback
from integrations.openwater.services.setup import integration_create, integration_initialize
from tests.openwater.conftest import AWARDS

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


@pytest.fixture
def manager(django_user_model, grant):
    return grant(django_user_model.objects.create_user("ow-manager", password="pw-manager-123"), Module.INTEGRATIONS, 4)


@pytest.fixture
def viewer(django_user_model, grant):
    return grant(django_user_model.objects.create_user("ow-viewer", password="pw-viewer-123"), Module.INTEGRATIONS, 2)


def run(integration, make_client):
    with make_client(integration) as client:
        return run_pushback(integration.pk, client=client)


def in_error(integration, sandbox, make_client, **invoice):
    """An OpenWater invoice left in error by a run: its detail answered with broken JSON."""
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, **invoice)
    sandbox.add_fault(f"/v2/Invoices/{ow.id}", "malformed")
    assert run(integration, make_client).errors == 1
    return ow, InvoiceSync.objects.get(ow_invoice_id=ow.id, status="error")


def action(integration, sync, name):
    return reverse("openwater:ow_sync_action", args=[integration.pk, sync.pk, name])


def page_text(response):
    return html.unescape(response.content.decode())


def staff_events(sync):
    return AuditEvent.objects.filter(content_type__model="invoicesync", object_id=str(sync.pk)).order_by("pk")


def test_hub__skipped_and_errors_figures_link_to_their_lists(client, manager, integration, sandbox, make_client):
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["40.00", "10.00"], total_billed_override="55.00")
    sandbox.add_invoice(program_id=999, user_id=2, lines=["5.00"])  # a program not mapped: skipped
    run(integration, make_client)
    run(integration, make_client)
    assert InvoiceSync.objects.get(ow_invoice_id=ow.id).status == "error"
    client.force_login(manager)

    hub = page_text(client.get(reverse("openwater:ow_hub")))
    errors_url = reverse("openwater:ow_sync_list", args=[integration.pk]) + "?status=error"
    skipped_url = reverse("openwater:ow_sync_list", args=[integration.pk]) + "?status=skipped"
    assert f'href="{errors_url}" data-testid="hub-errors"' in hub
    assert f'href="{skipped_url}" data-testid="hub-skipped"' in hub
    detail = page_text(client.get(reverse("openwater:ow_integration_detail", args=[integration.pk])))
    assert f'href="{errors_url}" data-testid="count-errors"' in detail

    errors = page_text(client.get(errors_url))
    assert "OpenWater invoices in error" in errors
    assert f"OpenWater invoice {ow.id}: the billed total in OpenWater (55.00) is not the sum of its lines" in errors
    assert "2 attempts" in errors
    assert "Try again now" in errors and 'name="reason"' in errors and "Recorded by hand" in errors
    assert "csrfmiddlewaretoken" in errors
    skipped = page_text(client.get(skipped_url))
    assert "Program 999 is not mapped yet" in skipped and "Try again now" not in skipped


def test_try_again_now__records_it_and_is_audited(client, manager, integration, sandbox, make_client):
    ow, sync = in_error(
        integration, sandbox, make_client, lines=["100.00", {"amount": "-25.00", "targetType": "Coupon"}]
    )
    client.force_login(manager)

    response = client.post(action(integration, sync, "retry"), follow=True)

    sync.refresh_from_db()
    assert sync.status == "pushed" and sync.invoice.total == D("75.00") and sync.payment.amount == D("75.00")
    assert f"OpenWater invoice {ow.id} is recorded: invoice {sync.invoice.number}." in page_text(response)
    (event,) = staff_events(sync)
    assert (event.actor_id, event.actor_name, event.action) == (manager.pk, "ow-manager", "update")
    assert event.changes["staff_action"] == ["", "retried"]
    assert (sync.staff_action, sync.staff_by) == ("retried", manager)
    assert verify_ledger().ok


def test_try_again_now__still_failing_says_why(client, manager, integration, sandbox, make_client):
    ow, sync = in_error(integration, sandbox, make_client, lines=["42.00"])
    sandbox.add_fault(f"/v2/Invoices/{ow.id}", "500", times=5)
    client.force_login(manager)

    response = client.post(action(integration, sync, "retry"), follow=True)

    sync.refresh_from_db()
    assert sync.status == "error" and sync.attempts == 2
    assert (
        sync.last_error
        == "OpenWater could not be reached or did not answer properly; it is tried again at the next run."
    )
    assert f"GET /v2/Invoices/{ow.id}: HTTP 500" in sync.last_error_detail
    assert f"OpenWater invoice {ow.id} could not be recorded: {sync.last_error}" in page_text(response)
    assert not Invoice.objects.exists()


def test_skip__needs_a_reason_then_the_runs_leave_it(client, manager, integration, sandbox, make_client):
    ow, sync = in_error(integration, sandbox, make_client, lines=["42.00"])
    client.force_login(manager)

    refused = client.post(action(integration, sync, "skip"), {"reason": "  "}, follow=True)
    sync.refresh_from_db()
    assert sync.status == "error" and not staff_events(sync).exists()
    assert f"OpenWater invoice {ow.id} was not skipped: Give the reason for skipping the invoice." in page_text(refused)

    response = client.post(
        action(integration, sync, "skip"), {"reason": "Test application, never charged", "next": "/integrations/"}
    )
    assert response.status_code == 302 and response["Location"] == "/integrations/"
    sync.refresh_from_db()
    assert (sync.status, sync.skip_code) == ("skipped", "staff")
    assert sync.skip_reason == "Skipped by ow-manager: Test application, never charged"
    (event,) = staff_events(sync)
    assert event.actor_name == "ow-manager" and event.changes["status"] == ["error", "skipped"]
    assert event.changes["staff_note"] == ["", "Test application, never charged"]

    # The invoice is fine in OpenWater now, and gets a refund: the runs record nothing of it.
    sandbox.add_refund(ow.id, "42.00")
    later = run(integration, make_client)
    sync.refresh_from_db()
    assert (later.pushed, later.refunds, later.errors) == (0, 0, 0)
    assert sync.status == "skipped" and not Invoice.objects.exists()
    assert "OpenWater shows a newer transaction on this invoice" in sync.last_error


def test_recorded_by_hand__the_runs_leave_it(client, manager, integration, sandbox, make_client):
    ow, sync = in_error(integration, sandbox, make_client, lines=["42.00"])
    client.force_login(manager)

    response = client.post(action(integration, sync, "by-hand"), {"note": "Entered as invoice 5501"}, follow=True)

    sync.refresh_from_db()
    assert sync.status == "by_hand" and sync.staff_note == "Entered as invoice 5501" and sync.staff_by == manager
    assert f"OpenWater invoice {ow.id} is marked as recorded by hand" in page_text(response)
    assert staff_events(sync).get().changes["status"] == ["error", "by_hand"]
    assert run(integration, make_client).pushed == 0 and not Invoice.objects.exists()
    listing = page_text(client.get(reverse("openwater:ow_sync_list", args=[integration.pk]) + "?status=by_hand"))
    assert "Recorded by hand" in listing and "Entered as invoice 5501" in listing
    # Only an invoice in error can be handled: a second action changes nothing.
    again = client.post(action(integration, sync, "skip"), {"reason": "twice"}, follow=True)
    assert f"OpenWater invoice {ow.id} is no longer in error (recorded by hand); nothing was changed." in page_text(
        again
    )
    sync.refresh_from_db()
    assert sync.status == "by_hand" and staff_events(sync).count() == 1


def test_actions__need_integrations_level_4_post_and_csrf(client, viewer, manager, integration, sandbox, make_client):
    _, sync = in_error(integration, sandbox, make_client, lines=["42.00"])
    url = action(integration, sync, "skip")

    assert client.post(url, {"reason": "x"}).status_code == 302  # not signed in: to the login page
    client.force_login(viewer)
    assert client.post(url, {"reason": "x"}).status_code == 403
    errors = page_text(client.get(reverse("openwater:ow_sync_list", args=[integration.pk]) + "?status=error"))
    assert "Try again now" not in errors  # viewers see the errors, not the actions
    client.force_login(manager)
    assert client.get(url).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(manager)
    assert strict.post(url, {"reason": "x"}).status_code == 403
    sync.refresh_from_db()
    assert sync.status == "error" and not staff_events(sync).exists()


def test_messages_for_staff__invoice_gone_from_openwater(integration, sandbox, make_client):
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["42.00"])
    sandbox.add_fault(f"/v2/Invoices/{ow.id}", "500", times=20)
    run(integration, make_client)
    del sandbox.invoices[ow.id]
    sandbox.faults.clear()
    services_sync = InvoiceSync.objects.get(ow_invoice_id=ow.id)
    assert services_sync.status == "error"

    run(integration, make_client)  # tried again: OpenWater answers 404 now

    services_sync.refresh_from_db()
    assert services_sync.last_error.startswith("OpenWater no longer finds this invoice")
    assert "HTTP 404" in services_sync.last_error_detail


def test_unexpected_failure__plain_words_and_the_detail_for_support(integration, sandbox, make_client, monkeypatch):
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["42.00"])

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("integrations.openwater.services.pages._write", broken)  # the page's step fails,
    monkeypatch.setattr("integrations.openwater.pushback.invoice_record", broken)  # and so does each invoice
    assert run(integration, make_client).errors == 1
    sync = InvoiceSync.objects.get(ow_invoice_id=ow.id)
    assert sync.last_error.startswith("Pay Central could not record it because of an unexpected problem")
    assert "ZeroDivisionError" not in sync.last_error
    assert sync.last_error_detail == "ZeroDivisionError: division by zero"


def test_initialize__asks_for_the_skip_date(client, manager, ledger, sandbox_url):
    from integrations.openwater.models import Integration

    integration = integration_create(
        name="New",
        base_url=sandbox_url,
        client_key="ow_client_demo",
        api_key="ow_api_demo",
        organization_code="DEMOORG",
    )
    client.force_login(manager)
    page = page_text(client.get(reverse("openwater:ow_integration_detail", args=[integration.pk])))
    assert 'name="skip_before"' in page and 'name="skip_before" value=' not in page

    url = reverse("openwater:ow_integration_action", args=[integration.pk, "initialize"])
    refused = client.post(url, {"entity": ledger.entity.pk, "method_code": "OPENWATER", "default_product_name": "Fees"})
    integration.refresh_from_db()
    assert not integration.is_initialized and integration.skip_before is None
    assert "Do not send invoices dated before: This field is required." in page_text(client.get(refused["Location"]))
    with pytest.raises(PushbackError, match="there is no default"):
        integration_initialize(integration=integration, entity=ledger.entity)

    client.post(
        url,
        {
            "entity": ledger.entity.pk, "method_code": "OPENWATER", "default_product_name": "Fees",
            "skip_before": "2026-03-01", "discount_account": ledger.event.income_account.pk,
        },
    )  # fmt: skip
    integration = Integration.objects.select_related("discount_product").get(pk=integration.pk)
    assert integration.is_initialized and str(integration.skip_before) == "2026-03-01"
    assert integration.discount_product.code == "OW_DISCOUNT"
    assert integration.discount_product.income_account == ledger.event.income_account
