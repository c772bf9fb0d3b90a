"""The pushback against the sandbox OpenWater over real HTTP (live server), on PostgreSQL."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from finance.ledger_check import verify_ledger
from finance.models import Batch, Contact, Invoice, InvoiceAdjustment, Payment, Refund
from integrations.openwater.models import Integration, InvoiceSync, ProgramMapping, PushbackRun, RefundSync
from integrations.openwater.pushback import LOCK_NAMESPACE, RunBusy, run_pushback
from integrations.openwater.selectors import pushback_health
from integrations.openwater.services.setup import (
    integration_start,
    integration_update,
    program_disable,
    program_set_default,
)
from tests.db import advisory_lock_elsewhere
from tests.factories import ContactFactory
from tests.openwater.conftest import AWARDS, GRANTS

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


def run(integration, make_client, **kw):
    with make_client(integration, **kw) as client:
        result = run_pushback(integration.pk, client=client)
    assert not isinstance(result, RunBusy)
    return result


def ow_invoices():
    return Invoice.objects.filter(source=Invoice.Source.OPENWATER)


def test_run__pushes_every_paid_invoice_once_and_a_second_run_nothing(integration, sandbox, make_client):
    known = ContactFactory(email="ADA@example.org")
    paid = [
        sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=[D("75.10")]),
        sandbox.add_invoice(program_id=AWARDS, user_id=2, lines=[D("120.00"), D("25.05")]),
        sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=[D("0.10"), D("0.20")]),
    ]
    sandbox.add_invoice(program_id=AWARDS, user_id=2, lines=["10.00"], paid_at=datetime.now(UTC) + timedelta(hours=1))

    first = run(integration, make_client)

    assert (first.status, first.pushed, first.errors, first.skipped) == ("succeeded", 3, 0, 0)
    assert ow_invoices().count() == 3
    integration.refresh_from_db()
    for ow in paid:
        sync = InvoiceSync.objects.get(integration=integration, ow_invoice_id=ow.id)
        inv, pay = sync.invoice, sync.payment
        total = sum(li["amount"] for li in ow.lines)
        assert sync.status == "pushed" and sync.attempts == 1
        assert inv.total == total and inv.balance == D("0.00")
        assert [ln.amount for ln in inv.lines.order_by("line_number")] == [li["amount"] for li in ow.lines]
        assert {ln.product.code for ln in inv.lines.all()} == {"OW_AWD26"}
        assert pay.amount == total and pay.method.code == "OPENWATER" and pay.source == "openwater"
        assert inv.batch_id == pay.batch_id == integration.current_batch_id
        assert inv.batch.status == Batch.Status.OPEN
    # Linked by email (case-insensitive) to the existing contact; Grace created and flagged.
    ada_syncs = InvoiceSync.objects.filter(ow_invoice_id__in=[paid[0].id, paid[2].id])
    assert {s.contact_id for s in ada_syncs} == {known.pk} and not any(s.contact_created for s in ada_syncs)
    grace = InvoiceSync.objects.get(ow_invoice_id=paid[1].id)
    assert grace.contact_created and grace.contact.name == "Grace Hopper" and grace.contact.email == "grace@example.org"

    second = run(integration, make_client)
    assert (second.status, second.pushed, second.errors) == ("succeeded", 0, 0)
    assert ow_invoices().count() == 3 and Payment.objects.filter(source="openwater").count() == 3
    assert verify_ledger().ok


def test_run__a_refund_in_openwater_becomes_a_refund(integration, sandbox, make_client):
    full = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["80.00"])
    part = sandbox.add_invoice(program_id=AWARDS, user_id=2, lines=["120.00", "25.00"])
    run(integration, make_client)

    sandbox.add_refund(full.id, "80.00", notes="Withdrawn")
    sandbox.add_refund(part.id, "25.00", notes="Late fee waived")
    second = run(integration, make_client)

    assert (second.status, second.refunds, second.pushed, second.errors) == ("succeeded", 2, 0, 0)
    s_full = InvoiceSync.objects.get(ow_invoice_id=full.id)
    s_full.invoice.refresh_from_db()
    assert s_full.total_refunded == D("80.00") and s_full.invoice.reversed_at is not None
    (r_full,) = Refund.objects.filter(payment=s_full.payment)
    assert r_full.amount == D("80.00") and r_full.mode == "record_only" and r_full.status == "succeeded"

    s_part = InvoiceSync.objects.get(ow_invoice_id=part.id)
    s_part.invoice.refresh_from_db()
    assert s_part.invoice.reversed_at is None and s_part.invoice.balance == D("0.00")
    assert [a.amount for a in InvoiceAdjustment.objects.filter(invoice=s_part.invoice)] == [D("-25.00")]
    assert [r.amount for r in Refund.objects.filter(payment=s_part.payment)] == [D("25.00")]
    assert verify_ledger().ok

    # A second partial refund later, then nothing more on a third run.
    sandbox.add_refund(part.id, "20.00", notes="Goodwill")
    assert run(integration, make_client).refunds == 1
    assert run(integration, make_client).refunds == 0
    assert sorted(r.amount for r in Refund.objects.filter(payment=s_part.payment)) == [D("20.00"), D("25.00")]
    assert RefundSync.objects.count() == 3
    s_part.refresh_from_db()
    assert s_part.total_refunded == D("45.00")
    payment = Payment.objects.get(pk=s_part.payment_id)
    assert payment.refunded_amount == D("45.00")
    assert verify_ledger().ok


def test_run__refund_already_there_when_first_pushed(integration, sandbox, make_client):
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["60.00"])
    sandbox.add_refund(ow.id, "60.00")
    result = run(integration, make_client)
    assert (result.pushed, result.refunds) == (1, 1)
    assert Refund.objects.get().amount == D("60.00")
    assert verify_ledger().ok


def test_run__skips_then_picks_up_once_the_program_is_mapped(integration, sandbox, make_client):
    old = sandbox.add_invoice(
        program_id=AWARDS,
        user_id=1,
        lines=["10.00"],
        created_at=datetime.now(UTC) - timedelta(days=40),
        paid_at=datetime.now(UTC) - timedelta(minutes=3),
    )
    unmapped = sandbox.add_invoice(program_id=GRANTS, user_id=2, lines=["50.00"])
    new_program = sandbox.add_invoice(program_id=303, user_id=2, lines=["5.00"])
    first = run(integration, make_client)
    assert (first.pushed, first.skipped) == (0, 3)
    reasons = dict(InvoiceSync.objects.values_list("ow_invoice_id", "skip_code"))
    assert reasons == {old.id: "before_date", unmapped.id: "unmapped", new_program.id: "unmapped"}
    assert "before the skip date" in InvoiceSync.objects.get(ow_invoice_id=old.id).skip_reason
    assert not ow_invoices().exists()

    grants = ProgramMapping.objects.get(integration=integration, program_id=GRANTS)
    program_set_default(program=grants)
    second = run(integration, make_client)
    assert second.pushed == 1
    sync = InvoiceSync.objects.get(ow_invoice_id=unmapped.id)
    assert sync.status == "pushed" and sync.invoice.lines.get().product == integration.default_product

    # Mode "Default Product": programs never mapped push with the default product.
    integration_update(integration=integration, programs_sync_mode=Integration.SyncMode.DEFAULT_PRODUCT)
    third = run(integration, make_client)
    assert third.pushed == 1 and InvoiceSync.objects.get(ow_invoice_id=new_program.id).status == "pushed"
    # Disabled programs are skipped.
    program_disable(program=grants)
    later = sandbox.add_invoice(program_id=GRANTS, user_id=1, lines=["7.00"])
    run(integration, make_client)
    assert InvoiceSync.objects.get(ow_invoice_id=later.id).skip_code == "disabled"
    assert InvoiceSync.objects.get(ow_invoice_id=old.id).status == "skipped"
    assert verify_ledger().ok


def test_product_edits_keep_the_mapping(integration, sandbox, make_client, ledger):
    program = ProgramMapping.objects.get(integration=integration, program_id=AWARDS)
    product = program.product
    product.name, product.category, product.income_account = "Awards entry", "Awards", ledger.event.income_account
    product.save()
    sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["30.00"])
    run(integration, make_client)
    line = ow_invoices().get().lines.get()
    assert line.product_id == product.pk and line.account == ledger.event.income_account


def test_faults__rate_limit_500_and_timeout_are_retried(integration, sandbox, make_client, sleeps):
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["42.00"])
    sandbox.add_fault("/v2/Invoices", "429", retry_after=1)
    sandbox.add_fault(f"/v2/Invoices/{ow.id}", "500")
    sandbox.add_fault(f"/v2/Invoices/{ow.id}", "slow", seconds=1.5)
    result = run(integration, make_client, timeout=0.5)
    assert (result.status, result.pushed, result.errors) == ("succeeded", 1, 0)
    assert sleeps[0] == 1.0  # the Retry-After of the 429
    assert len(sleeps) == 3 and all(0 <= s <= 2 for s in sleeps)


def test_faults__4xx_is_not_retried_and_errors_are_readable(integration, sandbox, make_client, sleeps):
    integration_update(integration=integration, api_key="wrong-key")
    integration.refresh_from_db()
    result = run(integration, make_client)
    assert result.status == "failed" and "HTTP 401" in result.message and sleeps == []


def test_faults__malformed_json_then_recovered(integration, sandbox, make_client):
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["42.00"])
    sandbox.add_fault(f"/v2/Invoices/{ow.id}", "malformed")
    first = run(integration, make_client)
    sync = InvoiceSync.objects.get(ow_invoice_id=ow.id)
    assert first.errors == 1 and sync.status == "error"
    # Said for finance staff; the technical detail kept beside it.
    assert (
        sync.last_error == "OpenWater's answer for this invoice could not be read; it is tried again at the next run."
    )
    assert f"GET /v2/Invoices/{ow.id}: the answer is not valid JSON" in sync.last_error_detail
    assert not ow_invoices().exists()
    second = run(integration, make_client)
    sync.refresh_from_db()
    assert second.pushed == 1 and sync.status == "pushed" and sync.attempts == 2
    assert sync.last_error == sync.last_error_detail == ""


def test_faults__totals_that_do_not_add_up_write_nothing(integration, sandbox, make_client):
    ow = sandbox.add_invoice(program_id=AWARDS, user_id=2, lines=["40.00", "10.00"], total_billed_override="55.00")
    contacts = Contact.objects.count()
    result = run(integration, make_client)
    sync = InvoiceSync.objects.get(ow_invoice_id=ow.id)
    assert result.errors == 1 and sync.status == "error"
    assert sync.last_error == (
        f"OpenWater invoice {ow.id}: the billed total in OpenWater (55.00) is not the sum of its lines (50.00); "
        "check the invoice in OpenWater"
    )
    assert not ow_invoices().exists() and not Payment.objects.exists() and Contact.objects.count() == contacts


def test_list_page_that_fails_leaves_the_cursor(integration, sandbox, make_client):
    sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["42.00"])
    sandbox.add_fault("/v2/Invoices", "500", times=10)
    result = run(integration, make_client)
    integration.refresh_from_db()
    assert result.status == "failed" and "HTTP 500" in result.message and integration.cursor is None


def test_cursor_moves_page_by_page(integration, sandbox, make_client):
    start = datetime.now(UTC) - timedelta(minutes=30)
    for n in range(7):
        sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["1.00"], paid_at=start + timedelta(seconds=n))
    Integration.objects.filter(pk=integration.pk).update(page_size=3)
    integration.refresh_from_db()
    result = run(integration, make_client)
    integration.refresh_from_db()
    assert result.pushed == 7 and result.pages == 3
    assert integration.cursor == start + timedelta(seconds=6)


def test_an_invoice_the_index_lists_late_is_recorded_by_the_next_run(integration, sandbox, make_client):
    """OpenWater's search index lags: an invoice paid before the newest one listed may
    first be listed after the cursor has passed its time. The next run reads back over
    the index's lag and records it; what was recorded is not fetched again."""
    now = datetime.now(UTC)
    sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["10.00"], paid_at=now - timedelta(minutes=1))
    assert run(integration, make_client).pushed == 1
    integration.refresh_from_db()
    cursor = integration.cursor
    late = sandbox.add_invoice(program_id=AWARDS, user_id=2, lines=["20.00"], paid_at=now - timedelta(minutes=4))
    second = run(integration, make_client)
    assert (second.pushed, second.errors) == (1, 0)
    assert InvoiceSync.objects.get(integration=integration, ow_invoice_id=late.id).status == "pushed"
    integration.refresh_from_db()
    assert integration.cursor == cursor  # never moved back
    assert ow_invoices().count() == 2
    assert run(integration, make_client).pushed == 0  # read back again, recorded once


def test_one_run_at_a_time__advisory_lock(integration, make_client):
    with advisory_lock_elsewhere(LOCK_NAMESPACE, integration.pk):
        with make_client(integration) as client:
            assert isinstance(run_pushback(integration.pk, client=client), RunBusy)
        assert not PushbackRun.objects.exists()
    assert run(integration, make_client).status == "succeeded"


def test_credentials_are_stored_encrypted_and_shown_masked(integration):
    with connection.cursor() as cur:
        cur.execute("SELECT client_key, api_key FROM openwater_integration WHERE id = %s", [integration.pk])
        raw_client, raw_api = cur.fetchone()
    assert "ow_client_demo" not in raw_client and "ow_api_demo" not in raw_api
    assert integration.api_key == "ow_api_demo"
    assert integration.api_key_masked == "••••••••demo"


def test_pushback_health(integration, sandbox, make_client):
    sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["42.00"])
    sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["1.00", "2.00"], total_billed_override="9.00")
    integration_start(integration=integration)
    run(integration, make_client)
    health = pushback_health()
    last = PushbackRun.objects.get()
    assert health == {
        "integrations": 1,
        "started": 1,
        "last_run_at": last.started_at,
        "last_run_status": "succeeded",
        "pushed_24h": 1,
        "errors": 1,
    }


def test_run__a_new_open_batch_when_staff_moved_the_last_one_on(integration, sandbox, make_client):
    from finance.services.batches import batch_transition

    sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["10.00"])
    run(integration, make_client)
    integration.refresh_from_db()
    first = integration.current_batch
    batch_transition(batch=first, to_status=Batch.Status.READY)
    sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["11.00"])
    run(integration, make_client)
    integration.refresh_from_db()
    assert integration.current_batch_id != first.pk and integration.current_batch.status == Batch.Status.OPEN
    assert [i.total for i in first.invoices.all()] == [D("10.00")]
    assert [i.total for i in integration.current_batch.invoices.all()] == [D("11.00")]
    assert not Batch.objects.filter(status=Batch.Status.POSTED).exists()


def test_run__a_full_refund_of_a_payment_staff_moved_off_the_invoice_is_an_error_that_changes_nothing(
    integration, sandbox, make_client, ledger
):
    """Staff unapplied the OpenWater payment and paid the invoice's two lines with two
    checks: reversing the invoice would give both checks a credit and none to the
    OpenWater payment, so its full refund is refused with a clear message (not a
    lookup error) and nothing is written."""
    from finance.services.credits import payment_unapply
    from finance.services.payments import ApplicationSpec, payment_receive

    ow = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["50.00", "30.00"])
    run(integration, make_client)
    sync = InvoiceSync.objects.get(ow_invoice_id=ow.id)
    invoice, ow_payment = sync.invoice, sync.payment
    batch = invoice.batch
    payment_unapply(payment=ow_payment, batch=batch, date=invoice.date)
    for line in invoice.lines.order_by("line_number"):
        payment_receive(
            payer=invoice.bill_to, method=ledger.cash_method, amount=line.amount, date=invoice.date, batch=batch,
            applications=[ApplicationSpec(line, line.amount)],
        )  # fmt: skip
    credits_before = Invoice.objects.filter(type=Invoice.Type.CREDIT).count()

    sandbox.add_refund(ow.id, "80.00", notes="Withdrawn")
    result = run(integration, make_client)

    assert (result.refunds, result.errors) == (0, 1)
    sync.refresh_from_db()
    assert f"payment {ow_payment.pk} no longer holds its 80.00 on the invoice" in sync.last_error
    invoice.refresh_from_db()
    assert invoice.reversed_at is None and invoice.balance == D("0.00")
    assert not Refund.objects.exists() and sync.total_refunded == D("0.00")
    assert Invoice.objects.filter(type=Invoice.Type.CREDIT).count() == credits_before
    assert verify_ledger().ok


def test_page__recorded_as_one_step_in_a_few_statements(integration, sandbox, make_client):
    """A page of new invoices is written as one set-based step: the statements of a run
    do not grow with the invoices (a statement per table, not per invoice)."""
    from django.test.utils import CaptureQueriesContext

    start = datetime.now(UTC) - timedelta(minutes=30)
    for n in range(40):
        sandbox.add_invoice(
            program_id=AWARDS, user_id=1 + n % 2, lines=[f"{10 + n}.25"], paid_at=start + timedelta(seconds=n)
        )
    Integration.objects.filter(pk=integration.pk).update(page_size=50)
    integration.refresh_from_db()
    with CaptureQueriesContext(connection) as ctx:
        result = run(integration, make_client)
    assert (result.pushed, result.errors) == (40, 0)
    # The whole run, its set-up (sequences, the batch) included; one invoice at a time took about 34 each.
    assert len(ctx.captured_queries) < 100
    assert ow_invoices().count() == 40 and Payment.objects.filter(source="openwater").count() == 40
    assert len(set(InvoiceSync.objects.values_list("invoice_id", flat=True))) == 40
    numbers = sorted(int(n) for n in ow_invoices().values_list("number", flat=True))
    assert numbers == list(range(numbers[0], numbers[0] + 40))  # gap-free
    assert verify_ledger().ok


def test_page__an_invoice_the_ledger_refuses_is_an_error_the_others_are_pushed(
    integration, sandbox, make_client, ledger
):
    """The ledger's checks refuse the invoices of a program whose product posts to another
    entity's account: those are recorded one by one (an error for staff, nothing
    written), the rest of the page as one step."""
    from tests.factories import EntityFactory, GLAccountFactory

    other = GLAccountFactory(entity=EntityFactory(code="OTHER"), code="4000-99", type="income", role="income")
    grants = ProgramMapping.objects.get(integration=integration, program_id=GRANTS)
    program_set_default(program=grants)
    awards = ProgramMapping.objects.get(integration=integration, program_id=AWARDS)
    awards.product.income_account = other
    awards.product.save()
    refused = sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["30.00"])
    pushed = [sandbox.add_invoice(program_id=GRANTS, user_id=1 + n % 2, lines=["20.00"]) for n in range(3)]

    result = run(integration, make_client)

    assert (result.pushed, result.errors) == (3, 1)
    sync = InvoiceSync.objects.get(ow_invoice_id=refused.id)
    assert sync.status == "error" and sync.last_error.startswith("Pay Central's ledger refused it: ")
    assert "belongs to another financial entity" in sync.last_error
    assert {s.status for s in InvoiceSync.objects.filter(ow_invoice_id__in=[p.id for p in pushed])} == {"pushed"}
    assert ow_invoices().count() == 3 and Payment.objects.filter(source="openwater").count() == 3
    assert verify_ledger().ok


def test_page__a_step_that_fails_unexpectedly_leaves_nothing_and_each_invoice_is_recorded(
    integration, sandbox, make_client, monkeypatch
):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("integrations.openwater.services.pages._Rows.insert", broken)
    known = ContactFactory(email="ada@example.org")
    paid = [sandbox.add_invoice(program_id=AWARDS, user_id=1 + n % 2, lines=["12.50"]) for n in range(4)]

    result = run(integration, make_client)

    assert (result.pushed, result.errors) == (4, 0)
    syncs = InvoiceSync.objects.filter(ow_invoice_id__in=[p.id for p in paid])
    assert {s.status for s in syncs} == {"pushed"} and {s.attempts for s in syncs} == {1}
    assert Contact.objects.filter(email="grace@example.org").count() == 1  # made once, not by the failed step
    assert {s.contact_id for s in syncs if s.email == "ada@example.org"} == {known.pk}
    assert ow_invoices().count() == 4
    assert verify_ledger().ok


def test_retries__skipped_invoices_of_a_program_mapped_later_are_recorded_a_page_at_a_time(
    integration, sandbox, make_client
):
    from django.test.utils import CaptureQueriesContext

    for n in range(30):
        sandbox.add_invoice(program_id=GRANTS, user_id=1 + n % 2, lines=[f"{5 + n}.00"])
    first = run(integration, make_client)
    assert (first.pushed, first.skipped) == (0, 30)
    program_set_default(program=ProgramMapping.objects.get(integration=integration, program_id=GRANTS))

    with CaptureQueriesContext(connection) as ctx:
        second = run(integration, make_client)

    assert (second.pushed, second.skipped, second.errors) == (30, 0, 0)
    assert len(ctx.captured_queries) < 100  # one by one, about 34 each
    syncs = InvoiceSync.objects.filter(integration=integration)
    assert {s.status for s in syncs} == {"pushed"} and {s.attempts for s in syncs} == {2}
    assert {s.skip_code for s in syncs} == {""} and ow_invoices().count() == 30
    assert verify_ledger().ok
