"""The Stripe adapter over real HTTP against a local server speaking Stripe's API
(``stripe`` library, api_base pointed at it), and invoice sync through it."""

import dataclasses
import json
import time
import uuid
from decimal import Decimal

import pytest

from finance.ledger_check import verify_ledger
from finance.models import GatewayAccount, PaymentMethod
from finance.models import PaymentHandlingMode as Mode
from integrations.models import InvoiceSyncRecord, SavedPaymentMethod, SyncAttempt
from integrations.services.sync.jobs import run_jobs
from processors import (
    ChargeRequest,
    ChargeStatus,
    PaymentRequestSpec,
    ProcessorAuthenticationError,
    ProcessorDeclined,
    ProcessorIdempotencyConflict,
    ProcessorTimeout,
    RefundRequest,
    RefundStatus,
    WebhookSignatureError,
    signatures,
)
from processors.stripe import StripeProcessor
from tests.factories import BatchFactory, ContactFactory, PaymentMethodFactory
from tests.finance.helpers import make_invoice
from tests.integrations.fake_stripe import API_KEY, FakeStripe

WHSEC = "whsec_fake_stripe"


@pytest.fixture
def fake():
    with FakeStripe(hold_seconds=2.0) as server:
        yield server


@pytest.fixture
def stripe_processor(fake):
    processor = StripeProcessor(api_key=API_KEY, api_base=fake.url, timeout=0.8)
    yield processor
    processor.close()


def _charge(token="pm_card_visa", key=None, amount="25.00"):
    return ChargeRequest(
        amount=Decimal(amount),
        currency="USD",
        payment_method_token=token,
        idempotency_key=key or str(uuid.uuid4()),
        customer_ref="cus_123",
        metadata={"invoice": "1001"},
    )


def test_stripe_charge__payment_intent_confirmed_off_session_with_key_and_minor_units(fake, stripe_processor):
    request = _charge(amount="19.99")
    result = stripe_processor.charge(request)

    assert result.status == ChargeStatus.SUCCEEDED
    assert result.amount == Decimal("19.99") and result.currency == "USD"
    assert result.idempotency_key == request.idempotency_key
    method, path, params, key = fake.requests[-1]
    assert (method, path, key) == ("POST", "/v1/payment_intents", request.idempotency_key)
    assert params["amount"] == "1999" and params["currency"] == "usd"
    assert params["confirm"] == "true" and params["off_session"] == "true"
    assert params["payment_method"] == "pm_card_visa" and params["customer"] == "cus_123"
    assert params["metadata"] == {"invoice": "1001", "idempotency_key": request.idempotency_key}
    assert stripe_processor.get_charge(result.processor_id).status == ChargeStatus.SUCCEEDED


def test_stripe_decline__declined_with_the_failed_intent(stripe_processor):
    with pytest.raises(ProcessorDeclined) as caught:
        stripe_processor.charge(_charge("pm_card_chargeDeclined"))
    assert caught.value.result.status == ChargeStatus.FAILED
    assert caught.value.result.failure_code == "generic_decline"
    assert caught.value.http_status == 402


def test_stripe_timeout__unknown_then_found_by_key_and_replayed_not_recharged(fake, stripe_processor):
    request = _charge("pm_card_timeout")
    with pytest.raises(ProcessorTimeout):
        stripe_processor.charge(request)

    found = stripe_processor.find_charge_by_idempotency_key(request.idempotency_key)
    assert found is not None and found.status == ChargeStatus.SUCCEEDED
    again = stripe_processor.charge(request)  # same key: the stored answer, no new intent
    assert again.processor_id == found.processor_id
    assert len(fake.intent_by_key(request.idempotency_key)) == 1
    with pytest.raises(ProcessorIdempotencyConflict):
        stripe_processor.charge(_charge("pm_card_visa", key=request.idempotency_key, amount="26.00"))


def test_stripe_payment_request_refund_customer_and_auth(fake, stripe_processor):
    pr = stripe_processor.create_payment_request(
        PaymentRequestSpec(amount=Decimal("40.00"), currency="USD", idempotency_key="pr-1", metadata={"invoice": "7"})
    )
    assert pr.status == "requires_payment_method" and pr.processor_id.startswith("pi_")

    paid = stripe_processor.charge(_charge(amount="40.00"))
    refund = stripe_processor.refund(
        RefundRequest(charge_id=paid.processor_id, amount=Decimal("15.00"), currency="USD", idempotency_key="rf-1")
    )
    assert (refund.status, refund.amount, refund.charge_id) == (
        RefundStatus.SUCCEEDED,
        Decimal("15.00"),
        paid.processor_id,
    )
    assert stripe_processor.get_refund(refund.processor_id).amount == Decimal("15.00")

    customer = stripe_processor.create_customer(
        name="Ada", email="ada@example.org", reference="23456", idempotency_key="c1"
    )
    attached = stripe_processor.attach_payment_method(payment_method="pm_card_visa", customer=customer)
    assert customer.startswith("cus_") and attached["customer"] == customer

    with (
        StripeProcessor(api_key="sk_test_wrong", api_base=fake.url) as wrong,
        pytest.raises(ProcessorAuthenticationError),
    ):
        wrong.get_charge(paid.processor_id)


def _stripe_event(event_id, type_, obj) -> bytes:
    return json.dumps(
        {"id": event_id, "object": "event", "type": type_, "created": int(time.time()), "data": {"object": obj}}
    ).encode()


def test_stripe_webhook__signature_checked_by_the_library(fake, stripe_processor):
    paid = stripe_processor.charge(_charge())
    body = _stripe_event("evt_1", "payment_intent.succeeded", paid.raw)

    event = stripe_processor.parse_webhook(body, {"Stripe-Signature": signatures.sign(body, WHSEC)}, WHSEC)
    assert (event.id, event.charge_id, event.charge.status) == ("evt_1", paid.processor_id, ChargeStatus.SUCCEEDED)
    with pytest.raises(WebhookSignatureError):
        stripe_processor.parse_webhook(body, {"Stripe-Signature": signatures.sign(body, "whsec_other")}, WHSEC)
    with pytest.raises(WebhookSignatureError):
        stripe_processor.parse_webhook(body, {}, WHSEC)


# --- invoice sync through Stripe ---------------------------------------------------


@pytest.fixture
def stripe_sync(ledger, fake, settings, monkeypatch):
    from integrations import tasks

    settings.INVOICE_SYNC_RETRY_BASE_SECONDS = 0
    settings.STRIPE_TIMEOUT = 0.8
    account = GatewayAccount.objects.create(
        name="Stripe cards",
        processor=GatewayAccount.Processor.STRIPE,
        entity=ledger.entity,
        invoice_sync=True,
        secret_key=API_KEY,
        webhook_secret=WHSEC,
        api_base=fake.url,
    )
    PaymentMethodFactory(
        code="STRIPE",
        name="Card",
        type=PaymentMethod.Type.CREDIT_CARD,
        cash_account=ledger.cash,
        gateway_account=account,
    )
    monkeypatch.setattr(tasks.create_payment_requests, "delay", lambda *a, **k: None)
    return account


def _record(ledger, account, pm):
    contact = ContactFactory()
    SavedPaymentMethod.objects.create(
        contact=contact, gateway_account=account, token=pm, method="card", provider_customer_id="cus_abc"
    )
    invoice = make_invoice(ledger, contact, BatchFactory(), "70.00")
    return InvoiceSyncRecord.objects.get(invoice=invoice)


@pytest.mark.django_db(transaction=True)
def test_stripe_sync__request_autopay_timeout_reconcile_dispute_webhook(ledger, stripe_sync, fake, client):
    ok = _record(ledger, stripe_sync, "pm_card_visa")
    lost = _record(ledger, stripe_sync, "pm_card_timeout")
    disputed = _record(ledger, stripe_sync, "pm_card_dispute")

    run_jobs("requests")
    run_jobs("autopay")
    run_jobs("reconcile")

    for record in (ok, lost, disputed):
        record.refresh_from_db()
        assert record.synced_to_processor and record.payment_request_id.startswith("pi_")
        assert record.provider_customer_id == "cus_abc"
        assert record.paid_in_ledger and record.processor_status == "succeeded"
        assert record.payment.amount == Decimal("70.00")
    (lost_attempt,) = lost.attempts.all()
    assert lost_attempt.outcome == SyncAttempt.Outcome.SUCCEEDED
    assert len(fake.intent_by_key(lost_attempt.idempotency_key)) == 1
    sends = [r for r in fake.requests if r[0] == "POST" and r[3] == lost_attempt.idempotency_key]
    assert len(sends) == 1  # the reconciler found it in the customer's intents; no resend needed

    pi_id = disputed.attempts.get().processor_charge_id
    fake.advance(pi_id)
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": pi_id, "status": "needs_response"}
    body = _stripe_event("evt_dp_1", "charge.dispute.created", dispute)
    for _ in range(2):
        response = client.post(
            f"/webhooks/stripe/{stripe_sync.pk}/",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signatures.sign(body, WHSEC),
        )
        assert response.status_code == 200
    disputed.refresh_from_db()
    assert (disputed.processor_status, disputed.handling_mode) == ("disputed", Mode.HOLD_FOR_DISPUTE)
    assert disputed.changes.count() == 1
    assert verify_ledger().ok


def _customer_pays(fake, intent_id: str) -> None:
    """The customer pays the payment request (the intent) on Stripe's own page."""
    with fake.lock:
        fake.intents[intent_id].update(status="succeeded", payment_method="pm_card_visa", _charged=True)


def test_stripe_get_payment_request__open_then_paid_with_the_intent_as_its_charge(fake, stripe_processor):
    pr = stripe_processor.create_payment_request(
        PaymentRequestSpec(amount=Decimal("40.10"), currency="USD", idempotency_key="pr-2", metadata={"invoice": "8"})
    )
    open_ = stripe_processor.get_payment_request(pr.processor_id)
    assert (open_.status, open_.charge_id, open_.amount, open_.currency) == (
        "requires_payment_method",
        "",
        Decimal("40.10"),
        "USD",
    )

    _customer_pays(fake, pr.processor_id)
    paid = stripe_processor.get_payment_request(pr.processor_id)
    assert (paid.status, paid.charge_id) == ("succeeded", pr.processor_id)
    charge = stripe_processor.get_charge(paid.charge_id)
    assert (charge.status, charge.amount) == (ChargeStatus.SUCCEEDED, Decimal("40.10"))


@pytest.mark.django_db(transaction=True)
def test_stripe_sync__customer_pays_the_request_poll_posts_once(ledger, stripe_sync, fake):
    invoice = make_invoice(ledger, ContactFactory(), BatchFactory(), "70.00")
    record = InvoiceSyncRecord.objects.get(invoice=invoice)
    run_jobs("requests")
    assert run_jobs("poll") == {"poll_request_open": 1}
    record.refresh_from_db()
    # A contact with no Stripe customer: the intent names none (never our party id,
    # which Stripe would refuse); the invoice and sync record travel in its metadata.
    (sent,) = [p for m, path, p, _ in fake.requests if (m, path) == ("POST", "/v1/payment_intents")]
    assert "customer" not in sent and sent["metadata"]["invoice"] == invoice.number

    _customer_pays(fake, record.payment_request_id)
    assert run_jobs("poll") == {"poll_request_succeeded": 1}
    assert run_jobs("poll") == {}

    record.refresh_from_db()
    assert record.paid_in_ledger and record.processor_transaction_id == record.payment_request_id
    assert record.payment.amount == Decimal("70.00") and record.payment.method.code == "STRIPE"
    assert record.payment.batch.number.startswith(f"PS{stripe_sync.pk}-")
    assert verify_ledger().ok


# --- lost answers: the customer's PaymentIntents, the same key again, search last ----------


def _intent(fake, customer: str, created: int, key: str = "") -> str:
    pi_id = f"pi_{created}_{len(fake.intents):04d}"
    with fake.lock:
        fake.intents[pi_id] = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": 1000,
            "currency": "usd",
            "customer": customer,
            "description": None,
            "metadata": {"idempotency_key": key} if key else {},
            "payment_method": "pm_card_visa",
            "status": "succeeded",
            "last_payment_error": None,
            "created": created,
            "_made_at": time.time(),
        }
    return pi_id


def test_stripe_list_charges__the_customers_intents_since_a_time_newest_first_every_page(fake, stripe_processor):
    import datetime

    since = 1_800_000_000
    mine = [_intent(fake, "cus_a", since + n) for n in range(105)]
    _intent(fake, "cus_a", since - 1)  # before the time asked
    _intent(fake, "cus_b", since + 50)  # another customer

    listed = list(
        stripe_processor.list_charges(
            customer_ref="cus_a", created_since=datetime.datetime.fromtimestamp(since, tz=datetime.UTC)
        )
    )

    assert [c.processor_id for c in listed] == mine[::-1]
    pages = [r for r in fake.requests if r[:2] == ("GET", "/v1/payment_intents")]
    assert len(pages) == 2
    assert pages[0][2]["customer"] == "cus_a" and pages[0][2]["created"] == {"gte": str(since)}
    assert pages[0][2]["limit"] == "100" and "starting_after" not in pages[0][2]
    assert pages[1][2]["starting_after"] == listed[99].processor_id


def test_stripe_find_charge__matched_on_the_metadata_while_search_shows_nothing(fake, stripe_processor):
    import datetime

    fake.search_lag = 3600
    request = dataclasses.replace(_charge(), customer_ref="cus_a")
    before = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(minutes=1)
    made = stripe_processor.charge(request)
    stripe_processor.charge(dataclasses.replace(request, idempotency_key=str(uuid.uuid4())))  # another charge

    assert stripe_processor.find_charge_by_idempotency_key(request.idempotency_key) is None
    found = stripe_processor.find_charge(request, created_since=before)
    assert found is not None and found.processor_id == made.processor_id
    assert found.metadata["idempotency_key"] == request.idempotency_key
    assert (
        stripe_processor.find_charge(dataclasses.replace(request, idempotency_key="other"), created_since=before)
        is None
    )


@pytest.mark.django_db(transaction=True)
def test_stripe_sync__answer_lost_and_search_lagging__reconcile_pays_from_the_customers_intents(
    ledger, stripe_sync, fake
):
    fake.search_lag = 3600
    record = _record(ledger, stripe_sync, "pm_card_timeout")
    assert run_jobs("autopay") == {"autopay_unknown": 1}

    assert run_jobs("reconcile") == {"reconcile_found succeeded": 1}

    record.refresh_from_db()
    (attempt,) = record.attempts.all()
    (intent,) = fake.intent_by_key(attempt.idempotency_key)
    assert attempt.outcome == SyncAttempt.Outcome.SUCCEEDED and attempt.processor_charge_id == intent["id"]
    assert record.paid_in_ledger and record.payment.amount == Decimal("70.00")
    assert len(fake.intents) == 1
    listed = [r for r in fake.requests if r[:2] == ("GET", "/v1/payment_intents")]
    assert listed and listed[0][2]["customer"] == "cus_abc"
    assert not [r for r in fake.requests if r[1] == "/v1/payment_intents/search"]
    assert run_jobs("reconcile") == {} and run_jobs("autopay") == {}
    assert len(fake.intents) == 1
    assert verify_ledger().ok


@pytest.mark.django_db(transaction=True)
def test_stripe_sync__charge_never_sent__reconciler_sends_the_same_key_once(ledger, stripe_sync, fake):
    from integrations.services.sync.attempts import attempt_start
    from integrations.services.sync.base import STALE_AFTER

    fake.search_lag = 3600
    record = _record(ledger, stripe_sync, "pm_card_visa")
    attempt = attempt_start(record.pk)  # the worker stops before sending it
    SyncAttempt.objects.filter(pk=attempt.pk).update(started_at=attempt.started_at - STALE_AFTER * 2)

    assert run_jobs("reconcile") == {"reconcile_resent succeeded": 1}
    assert run_jobs("reconcile") == {}

    record.refresh_from_db()
    sends = [r for r in fake.requests if r[0] == "POST" and r[1] == "/v1/payment_intents"]
    assert [r[3] for r in sends] == [attempt.idempotency_key]
    assert sends[0][2]["metadata"]["sync_record"] == str(record.pk)
    (intent,) = fake.intents.values()
    assert record.paid_in_ledger and record.processor_transaction_id == intent["id"]
    assert record.attempts.count() == 1
    assert verify_ledger().ok
