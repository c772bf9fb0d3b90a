"""Staff resolve a charge attempt whose outcome is unknown, the way out of Manual review
for one still unknown past the processor's idempotency window: with the charge they
found at the processor (read back, matched to the attempt, then recorded as a charge
the reconciler finds is: its payment posted once), or as not charged after checking
there, after which the invoice is charged again once staff release it. Against the
sandbox over HTTP (and a server speaking Stripe's API for a charge made at Stripe's
dashboard); the record page and the admin action through the test client."""

import datetime
import time

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from finance.ledger_check import verify_ledger
from finance.models import PaymentHandlingMode as Mode
from integrations.models import InvoiceSyncRecord, SyncAttempt, SyncRecordChange
from integrations.services.sync.attempts import CHARGED, NOT_CHARGED, RESOLVE_AFTER, attempt_resolve_unknown
from integrations.services.sync.base import STAFF_NOT_CHARGED, SyncError
from integrations.services.sync.jobs import run_jobs
from integrations.services.sync.records import sync_record_update
from processors import ChargeRequest
from tests.integrations.sync.helpers import D, charges_of, hand_to_staff, invoice_with_method, payments_of
from tests.integrations.sync.test_stripe import _record, fake, stripe_sync  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)
Outcome = SyncAttempt.Outcome
# Nothing listens there: every request is refused before it is sent.
UNREACHABLE = "http://127.0.0.1:9/sandbox/processor/v1"


@pytest.fixture
def lost(sync, settings):
    settings.SANDBOX_PROCESSOR_TIMEOUT = 0.5  # the sandbox holds tok_timeout's answer 2 s
    settings.SANDBOX_PROCESSOR_SEARCH_LAG_SECONDS = 3600
    return sync


def _charged_answer_lost(sync, amount: str, *, hand_over: bool = True):
    """Autopay charges a tok_timeout card: the sandbox makes the charge and its answer is
    lost; nothing finds it within the window, so the record is handed to staff."""
    record = invoice_with_method(sync, "tok_timeout", amount)
    assert run_jobs("autopay") == {"autopay_unknown": 1}
    (attempt,) = record.attempts.all()
    (charge,) = charges_of(record)
    if hand_over:
        hand_to_staff(attempt)
    record.refresh_from_db()
    attempt.refresh_from_db()
    assert attempt.outcome == Outcome.UNKNOWN and not record.paid_in_ledger
    return record, attempt, charge


def _never_sent(sync, settings, amount: str, *, mode: str | None = None):
    """Autopay's charge never reaches the processor (the connection is refused): its
    outcome is unknown to us, and past the window the record is handed to staff."""
    record = invoice_with_method(sync, "tok_visa", amount, mode=mode)
    reachable = settings.SANDBOX_PROCESSOR_URL
    settings.SANDBOX_PROCESSOR_URL = UNREACHABLE
    assert run_jobs("autopay") == {"autopay_unknown": 1}
    settings.SANDBOX_PROCESSOR_URL = reachable
    (attempt,) = record.attempts.all()
    hand_to_staff(attempt)
    record.refresh_from_db()
    attempt.refresh_from_db()
    assert record.handling_mode == Mode.MANUAL_REVIEW and attempt.outcome == Outcome.UNKNOWN
    assert charges_of(record) == []
    return record, attempt


def _age(attempt: SyncAttempt, by: datetime.timedelta) -> None:
    SyncAttempt.objects.filter(pk=attempt.pk).update(started_at=attempt.started_at - by)


def _state(record) -> tuple:
    """Everything a resolve writes for the record (to show that a refusal wrote nothing)."""
    record = InvoiceSyncRecord.objects.get(pk=record.pk)
    return (
        list(record.attempts.order_by("number").values_list("outcome", "processor_charge_id", "failure_code")),
        (
            record.handling_mode,
            record.processor_status,
            record.paid_in_ledger,
            record.has_error,
            record.error_message,
            record.next_attempt_at,
            record.retries,
        ),
        list(SyncRecordChange.objects.filter(record=record).values_list("pk", flat=True)),
        len(payments_of(record)),
        len(charges_of(record)),
    )


def _resolve(record, attempt, resolution: str, **kwargs):
    return attempt_resolve_unknown(record_id=record.pk, attempt_id=attempt.pk, resolution=resolution, **kwargs)


# --- charged at the processor ------------------------------------------------------------


def test_resolve_charged__the_attempts_charge_pays_the_invoice_once(lost, manager_user):
    record, attempt, charge = _charged_answer_lost(lost, "80.00")
    assert record.handling_mode == Mode.MANUAL_REVIEW

    done = _resolve(record, attempt, CHARGED, charge_id=f" {charge.public_id} ", user=manager_user)

    assert done.outcome == Outcome.SUCCEEDED and done.processor_charge_id == charge.public_id
    record.refresh_from_db()
    record.invoice.refresh_from_db()
    assert record.paid_in_ledger and record.processor_transaction_id == charge.public_id
    assert record.invoice.balance == D("0.00")
    (payment,) = payments_of(record)
    assert payment.amount == D("80.00") and payment.processor_charge_id == charge.public_id
    # The mode is staff's to change; the record says the attempt is settled.
    assert record.handling_mode == Mode.MANUAL_REVIEW and not record.has_error
    assert f"settled by charge {charge.public_id}" in record.error_message
    change = SyncRecordChange.objects.get(record=record, field="attempt 1")
    assert (change.old_value, change.new_value, change.user) == ("unknown", "succeeded", manager_user)
    assert charge.public_id in change.note

    # Resolved once: a second resolve is refused, and the jobs leave it as it is.
    with pytest.raises(SyncError, match="attempt 1 is no longer unknown: it is succeeded"):
        _resolve(record, attempt, CHARGED, charge_id=charge.public_id, user=manager_user)
    for job in ("reconcile", "autopay", "requests", "poll", "reconcile"):
        run_jobs(job)
    assert record.attempts.count() == 1
    assert [c.public_id for c in charges_of(record)] == [charge.public_id]
    assert len(payments_of(record)) == 1
    report = verify_ledger()
    assert report.ok, report.format()


def test_resolve_charged__a_charge_that_is_not_the_attempts_is_refused_and_nothing_written(
    lost, processor, manager_user
):
    record, attempt, charge = _charged_answer_lost(lost, "80.00")
    customer = record.invoice.bill_to.party_id
    # The same customer charged another amount at the dashboard.
    other_amount = processor.charge(
        ChargeRequest(
            amount=D("79.00"),
            currency="USD",
            payment_method_token="tok_visa",
            idempotency_key="dashboard-1",
            customer_ref=customer,
        )
    )
    # Another customer's invoice of the same amount, paid by its own autopay charge.
    other = invoice_with_method(lost, "tok_visa", "80.00")
    assert run_jobs("autopay") == {"autopay_succeeded": 1}
    other_charge = other.attempts.get().processor_charge_id
    before = _state(record)

    refusals = [
        (other_amount.processor_id, "is for 79.00 USD, the attempt for 80.00 USD"),
        (other_charge, "was made by another request"),
        ("ch_doesnotexist", "the processor has no charge ch_doesnotexist"),
        ("", "enter the processor's id of the charge"),
    ]
    for charge_id, reason in refusals:
        with pytest.raises(SyncError, match=reason) as refused:
            _resolve(record, attempt, CHARGED, charge_id=charge_id, user=manager_user)
        assert f"Invoice {record.invoice.number}" in str(refused.value)
        assert _state(record) == before

    # The attempt's own charge is still accepted afterwards.
    assert _resolve(record, attempt, CHARGED, charge_id=charge.public_id, user=manager_user).outcome == "succeeded"
    other.refresh_from_db()
    assert other.paid_in_ledger and len(payments_of(other)) == 1
    report = verify_ledger()
    assert report.ok, report.format()


def test_resolve_charged_at_stripe__another_customers_payment_refused_the_attempts_own_recorded(
    ledger,
    stripe_sync,  # noqa: F811
    fake,  # noqa: F811
    manager_user,
):
    record = _record(ledger, stripe_sync, "pm_card_timeout")
    assert run_jobs("autopay") == {"autopay_unknown": 1}
    (attempt,) = record.attempts.all()
    hand_to_staff(attempt)
    (intent,) = fake.intent_by_key(attempt.idempotency_key)
    # A payment of the same amount made at Stripe's dashboard for another customer.
    dashboard_id = "pi_dashboard_other"
    with fake.lock:
        fake.intents[dashboard_id] = {
            **{k: v for k, v in intent.items() if k not in ("id", "metadata", "customer")},
            "id": dashboard_id,
            "customer": "cus_other",
            "metadata": {},
            "created": int(time.time()),
        }
    before = _state(record)

    with pytest.raises(SyncError, match="is a charge of customer cus_other, not of this invoice's customer cus_abc"):
        _resolve(record, attempt, CHARGED, charge_id=dashboard_id, user=manager_user)
    assert _state(record) == before

    done = _resolve(record, attempt, CHARGED, charge_id=intent["id"], user=manager_user)
    record.refresh_from_db()
    assert done.outcome == Outcome.SUCCEEDED and record.processor_transaction_id == intent["id"]
    assert record.paid_in_ledger and record.payment.amount == D("70.00")
    assert len(fake.intents) == 2  # nothing charged by resolving
    report = verify_ledger()
    assert report.ok, report.format()


class _Meanwhile:
    """The real sandbox adapter, except that reading the charge first lets something else
    happen (the charge is read before the record's lock is taken)."""

    def __init__(self, processor, action):
        self.processor = processor
        self.action = action

    def get_charge(self, charge_id):
        self.action()
        return self.processor.get_charge(charge_id)

    def close(self):
        pass


@pytest.mark.parametrize("meanwhile", ["reconciler finds the charge", "another user resolves it"])
def test_resolve__settled_meanwhile__refused_under_the_records_lock(lost, processor, manager_user, meanwhile):
    record, attempt, charge = _charged_answer_lost(lost, "45.00", hand_over=False)
    _age(attempt, RESOLVE_AFTER + datetime.timedelta(minutes=1))  # unknown, within the window

    def settle():
        if meanwhile == "reconciler finds the charge":
            assert run_jobs("reconcile") == {"reconcile_found succeeded": 1}
        else:
            _resolve(record, attempt, NOT_CHARGED, note="Nothing found", user=manager_user)

    expected = "succeeded" if meanwhile == "reconciler finds the charge" else "failed"
    changes = SyncRecordChange.objects.filter(record=record).count()
    with pytest.raises(SyncError, match=f"attempt 1 is no longer unknown: it is {expected}"):
        _resolve(
            record,
            attempt,
            CHARGED,
            charge_id=charge.public_id,
            user=manager_user,
            processors={lost.account.pk: _Meanwhile(processor, settle)},
        )

    attempt.refresh_from_db()
    assert attempt.outcome == expected
    assert SyncRecordChange.objects.filter(record=record).count() == changes + (expected == "failed")
    assert len(payments_of(record)) == (1 if expected == "succeeded" else 0)
    report = verify_ledger()
    assert report.ok, report.format()


def test_resolve__an_attempt_whose_answer_may_still_come_is_refused(lost, manager_user):
    record, attempt, charge = _charged_answer_lost(lost, "30.00", hand_over=False)
    before = _state(record)
    with pytest.raises(SyncError, match="started less than 15 minutes ago"):
        _resolve(record, attempt, CHARGED, charge_id=charge.public_id, user=manager_user)
    assert _state(record) == before


# --- not charged ---------------------------------------------------------------------------


def test_resolve_not_charged__closed_not_counted_then_charged_once_after_staff_release_it(lost, settings, manager_user):
    # Skip after 1st failure allows one attempt: the closed one does not count.
    record, attempt = _never_sent(lost, settings, "64.50", mode=Mode.SKIP_AFTER_FIRST_FAILURE)
    before = _state(record)
    with pytest.raises(SyncError, match="a note is required"):
        _resolve(record, attempt, NOT_CHARGED, note="  ", user=manager_user)
    assert _state(record) == before

    done = _resolve(record, attempt, NOT_CHARGED, note="No charge with its key at the dashboard", user=manager_user)

    assert (done.outcome, done.failure_code) == (Outcome.FAILED, STAFF_NOT_CHARGED)
    assert "manager" in done.failure_message and "No charge with its key" in done.failure_message
    record.refresh_from_db()
    assert record.handling_mode == Mode.MANUAL_REVIEW  # not switched for staff
    assert record.retries == 0 and record.next_attempt_at is None
    assert "charged again once its handling mode leaves Manual review" in record.error_message
    change = SyncRecordChange.objects.get(record=record, field="attempt 1")
    assert (change.old_value, change.new_value, change.user, change.note) == (
        "unknown",
        "failed",
        manager_user,
        "No charge with its key at the dashboard",
    )
    with pytest.raises(SyncError, match="attempt 1 is no longer unknown: it is failed"):
        _resolve(record, attempt, NOT_CHARGED, note="again", user=manager_user)

    # Nothing is charged while it is in Manual review.
    for job in ("autopay", "requests", "reconcile"):
        run_jobs(job)
    assert record.attempts.count() == 1 and charges_of(record) == []

    sync_record_update(
        record=record, sync_enabled=True, handling_mode=Mode.SKIP_AFTER_FIRST_FAILURE, user=manager_user, note="ok"
    )
    assert run_jobs("requests")["retry_succeeded"] == 1
    for job in ("requests", "autopay", "poll", "reconcile"):
        run_jobs(job)

    record.refresh_from_db()
    assert list(record.attempts.order_by("number").values_list("outcome", flat=True)) == ["failed", "succeeded"]
    assert len(charges_of(record)) == 1  # exactly one charge at the processor
    (payment,) = payments_of(record)
    assert payment.amount == D("64.50") and record.paid_in_ledger and not record.has_error
    report = verify_ledger()
    assert report.ok, report.format()


# --- the record page and the admin action ------------------------------------------------


def test_page__manager_resolves_with_the_charge_id__clerk_403_and_csrf_required(lost, client, manager_user, staff_user):
    record, attempt, charge = _charged_answer_lost(lost, "80.00")
    url = f"/invoice-sync/{record.pk}/resolve/"
    post = {"attempt": attempt.pk, "resolution": CHARGED, "charge_id": charge.public_id}
    before = _state(record)

    client.force_login(staff_user)  # AR/Cash 2: sees the page, may not resolve
    page = client.get(f"/invoice-sync/{record.pk}/").content.decode()
    assert "Resolve unknown attempt 1" in page and 'data-testid="sync-resolve-form"' not in page
    assert client.post(url, post).status_code == 403
    assert _state(record) == before

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(manager_user)
    assert csrf_client.post(url, post).status_code == 403
    assert _state(record) == before

    client.force_login(manager_user)
    page = client.get(f"/invoice-sync/{record.pk}/").content.decode()
    assert 'data-testid="sync-resolve-form"' in page and attempt.idempotency_key in page
    invoice_page = client.get(f"/invoices/{record.invoice_id}/").content.decode()
    assert 'data-testid="sync-unknown-link"' in invoice_page and f"/invoice-sync/{record.pk}/#resolve" in invoice_page
    assert client.get(url).status_code == 405

    refused = client.post(url, {**post, "charge_id": "ch_doesnotexist"}, follow=True).content.decode()
    assert "the processor has no charge ch_doesnotexist" in refused
    assert _state(record) == before

    response = client.post(url, post)
    assert response.status_code == 302 and response.url == f"/invoice-sync/{record.pk}/"
    body = client.get(response.url).content.decode()
    assert f"attempt 1 recorded with charge {charge.public_id} (succeeded)" in body
    assert "The invoice is paid in the ledger" in body
    record.refresh_from_db()
    assert record.paid_in_ledger and len(payments_of(record)) == 1
    again = client.post(url, post, follow=True).content.decode()
    assert "attempt 1 is no longer unknown" in again
    assert len(payments_of(record)) == 1
    report = verify_ledger()
    assert report.ok, report.format()


def test_admin_action__resolve_unknown_attempt_as_not_charged(
    lost, settings, client, staff_user, django_user_model, grant
):
    record, attempt = _never_sent(lost, settings, "38.00")
    url = "/admin/integrations/invoicesyncrecord/"
    action = {"action": "resolve_unknown_attempt", "_selected_action": [record.pk]}
    before = _state(record)

    # A staff user who may change sync records in the admin, below AR/Cash 4.
    staff_user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_invoicesyncrecord", "change_invoicesyncrecord"])
    )
    client.force_login(staff_user)
    body = client.post(url, action, follow=True).content.decode()
    assert "needs AR/Cash authorization level 4" in body
    assert _state(record) == before

    grant(staff_user, "ar_cash", 4)
    page = client.post(url, action)
    assert page.status_code == 200 and "Resolve attempt 1" in page.content.decode()
    apply = {**action, "apply": "1", "attempt": attempt.pk, "resolution": NOT_CHARGED}
    missing_note = client.post(url, {**apply, "note": ""})
    assert missing_note.status_code == 200 and "a note is required" in missing_note.content.decode()
    assert _state(record) == before

    response = client.post(url, {**apply, "note": "Checked the dashboard: nothing"})
    assert response.status_code == 302
    attempt.refresh_from_db()
    assert (attempt.outcome, attempt.failure_code) == (Outcome.FAILED, STAFF_NOT_CHARGED)
    change = SyncRecordChange.objects.get(record=record, field="attempt 1")
    assert (change.user, change.note) == (staff_user, "Checked the dashboard: nothing")
    body = client.get(url).content.decode()
    assert f"Invoice {record.invoice.number}: attempt 1 closed as not charged." in body

    # Nothing unknown left: the action says so.
    body = client.post(url, action, follow=True).content.decode()
    assert "no attempt with an unknown outcome" in body
