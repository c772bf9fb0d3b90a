"""The sandbox processor and its adapter, over real HTTP against the live server.

Every test talks to the sandbox's JSON API through ``SandboxProcessor`` (httpx) or raw
httpx; the sandbox's tables are checked to see what the provider really holds.
"""

import threading
import time
import uuid
from decimal import Decimal

import httpx
import pytest

from processors import (
    ChargeRequest,
    ChargeStatus,
    ProcessorAuthenticationError,
    ProcessorDeclined,
    ProcessorIdempotencyConflict,
    ProcessorInvalidRequest,
    ProcessorNotFound,
    ProcessorTimeout,
    ProcessorUnavailable,
    RefundRequest,
    RefundStatus,
)
from sandboxes.processor.models import SandboxCharge, SandboxIdempotencyRecord, SandboxRefund
from tests.integrations.conftest import API_KEY, OTHER_API_KEY

pytestmark = pytest.mark.django_db(transaction=True)


def key() -> str:
    return f"test-{uuid.uuid4()}"


def charge_request(token="tok_visa", amount="19.99", **kwargs) -> ChargeRequest:
    kwargs.setdefault("idempotency_key", key())
    return ChargeRequest(
        amount=Decimal(amount),
        currency=kwargs.pop("currency", "USD"),
        payment_method_token=token,
        customer_ref=kwargs.pop("customer_ref", "23456"),
        description=kwargs.pop("description", "Invoice 1001"),
        metadata=kwargs.pop("metadata", {"invoice": "1001"}),
        **kwargs,
    )


def refund_request(charge_id, amount=None, **kwargs) -> RefundRequest:
    kwargs.setdefault("idempotency_key", key())
    return RefundRequest(
        charge_id=charge_id,
        amount=None if amount is None else Decimal(amount),
        currency=kwargs.pop("currency", "USD"),
        **kwargs,
    )


# --- test tokens -------------------------------------------------------------------


def test_charge__tok_visa_succeeds_with_exact_minor_units(processor):
    request = charge_request("tok_visa", "19.99")
    result = processor.charge(request)

    assert result.status == ChargeStatus.SUCCEEDED
    assert result.processor_id.startswith("ch_")
    assert result.amount == Decimal("19.99") and isinstance(result.amount, Decimal)
    assert result.currency == "USD"
    assert result.idempotency_key == request.idempotency_key
    assert result.raw["amount"] == 1999  # integer minor units on the wire
    stored = SandboxCharge.objects.get()
    assert (stored.public_id, stored.amount, stored.currency, stored.status) == (
        result.processor_id,
        1999,
        "USD",
        "succeeded",
    )
    assert (stored.customer, stored.description, stored.metadata) == ("23456", "Invoice 1001", {"invoice": "1001"})
    assert processor.get_charge(result.processor_id) == result


@pytest.mark.parametrize(("amount", "currency", "units"), [("0.01", "USD", 1), ("1234.50", "EUR", 123450)])
def test_charge__amounts_cross_the_wire_exactly(processor, amount, currency, units):
    result = processor.charge(charge_request(amount=amount, currency=currency))
    assert result.raw["amount"] == units
    assert result.amount == Decimal(amount)
    assert SandboxCharge.objects.get().amount == units


def test_charge__float_or_sub_cent_amount_refused_before_sending(processor):
    with pytest.raises(TypeError):
        processor.charge(
            ChargeRequest(amount=19.99, currency="USD", payment_method_token="tok_visa", idempotency_key=key())
        )
    with pytest.raises(ValueError):
        processor.charge(charge_request(amount="19.999"))
    assert not SandboxCharge.objects.exists()


def test_charge__server_refuses_non_integer_wire_amount(sandbox_url):
    response = httpx.post(
        sandbox_url + "/charges",
        json={"amount": 19.99, "currency": "USD", "source": "tok_visa"},
        headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": key()},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_amount"
    assert not SandboxCharge.objects.exists()


def test_charge__tok_visa_declined_raises_declined_with_the_failed_charge(processor):
    with pytest.raises(ProcessorDeclined) as caught:
        processor.charge(charge_request("tok_visa_declined"))

    exc = caught.value
    assert exc.retryable is False
    assert exc.http_status == 402
    assert exc.code == "card_declined"
    assert exc.result.status == ChargeStatus.FAILED
    assert exc.result.failure_code == "card_declined"
    assert exc.processor_id == exc.result.processor_id
    assert processor.get_charge(exc.processor_id).status == ChargeStatus.FAILED
    assert SandboxCharge.objects.get().status == "failed"


def test_charge__tok_processing_succeeds_when_polled_after_the_settle_delay(processor, sandbox_settings):
    sandbox_settings.SANDBOX_PROCESSOR_SETTLE_SECONDS = 0.3
    result = processor.charge(charge_request("tok_processing"))
    assert result.status == ChargeStatus.PROCESSING
    assert not result.is_final

    assert processor.get_charge(result.processor_id).status == ChargeStatus.PROCESSING
    time.sleep(0.5)
    assert processor.get_charge(result.processor_id).status == ChargeStatus.SUCCEEDED


def test_charge__tok_processing_succeeds_on_advance(processor):
    result = processor.charge(charge_request("tok_processing"))
    assert processor.get_charge(result.processor_id).status == ChargeStatus.PROCESSING

    assert processor.advance(result.processor_id).status == ChargeStatus.SUCCEEDED
    assert processor.get_charge(result.processor_id).status == ChargeStatus.SUCCEEDED


def test_charge__tok_fail_later_is_processing_then_fails(processor):
    result = processor.charge(charge_request("tok_fail_later"))
    assert result.status == ChargeStatus.PROCESSING

    processor.advance(result.processor_id)
    later = processor.get_charge(result.processor_id)
    assert later.status == ChargeStatus.FAILED
    assert later.failure_code == "processing_error"
    assert later.failure_message


def test_charge__tok_dispute_succeeds_then_is_disputed_and_cannot_be_refunded(processor):
    result = processor.charge(charge_request("tok_dispute"))
    assert (result.status, result.disputed) == (ChargeStatus.SUCCEEDED, False)

    processor.advance(result.processor_id)
    later = processor.get_charge(result.processor_id)
    assert (later.status, later.disputed) == (ChargeStatus.SUCCEEDED, True)
    with pytest.raises(ProcessorInvalidRequest) as caught:
        processor.refund(refund_request(result.processor_id))
    assert caught.value.code == "charge_disputed"


def test_charge__tok_requires_action_succeeds_only_once_authenticated(processor, sandbox_settings):
    sandbox_settings.SANDBOX_PROCESSOR_SETTLE_SECONDS = 0
    result = processor.charge(charge_request("tok_requires_action"))
    assert result.status == ChargeStatus.REQUIRES_ACTION
    assert processor.get_charge(result.processor_id).status == ChargeStatus.REQUIRES_ACTION
    assert processor.advance(result.processor_id).status == ChargeStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("token", "final", "failure_code"),
    [("btok_ach_success", ChargeStatus.SUCCEEDED, ""), ("btok_ach_fail", ChargeStatus.FAILED, "insufficient_funds")],
)
def test_charge__ach_debits_are_processing_then_settle(processor, token, final, failure_code):
    result = processor.charge(charge_request(token, "250.00"))
    assert result.status == ChargeStatus.PROCESSING
    assert result.raw["payment_method_type"] == "us_bank_account"

    settled = processor.advance(result.processor_id)
    assert (settled.status, settled.failure_code) == (final, failure_code)


def test_charge__unknown_token_is_an_invalid_request(processor):
    with pytest.raises(ProcessorInvalidRequest) as caught:
        processor.charge(charge_request("tok_nonsense"))
    assert caught.value.code == "no_such_token"
    assert caught.value.http_status == 400
    assert not SandboxCharge.objects.exists()


# --- idempotency -------------------------------------------------------------------


def test_idempotency__same_key_same_request_replays_the_same_charge(processor):
    request = charge_request("tok_visa")
    first = processor.charge(request)
    second = processor.charge(request)

    assert second == first
    assert SandboxCharge.objects.count() == 1
    assert SandboxIdempotencyRecord.objects.count() == 1


def test_idempotency__replayed_decline_is_the_same_decline(processor):
    request = charge_request("tok_visa_declined")
    with pytest.raises(ProcessorDeclined) as first:
        processor.charge(request)
    with pytest.raises(ProcessorDeclined) as second:
        processor.charge(request)
    assert first.value.processor_id == second.value.processor_id
    assert SandboxCharge.objects.count() == 1


def test_idempotency__same_key_different_body_is_a_conflict(processor):
    request = charge_request("tok_visa", "19.99")
    first = processor.charge(request)

    other = charge_request("tok_visa", "20.00", idempotency_key=request.idempotency_key)
    with pytest.raises(ProcessorIdempotencyConflict) as caught:
        processor.charge(other)

    assert caught.value.http_status == 409
    assert caught.value.retryable is False
    assert SandboxCharge.objects.count() == 1
    assert processor.get_charge(first.processor_id).amount == Decimal("19.99")


def test_idempotency__key_reused_for_another_endpoint_is_a_conflict(processor):
    charge = processor.charge(charge_request())
    with pytest.raises(ProcessorIdempotencyConflict):
        processor.refund(refund_request(charge.processor_id, idempotency_key=charge.idempotency_key))
    assert not SandboxRefund.objects.exists()


def test_idempotency__post_without_key_refused(sandbox_url):
    response = httpx.post(
        sandbox_url + "/charges",
        json={"amount": 100, "currency": "USD", "source": "tok_visa"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"


def test_idempotency__concurrent_requests_with_one_key_make_one_charge(make_processor):
    request = charge_request("tok_visa")
    results, errors = [], []

    def send():
        try:
            with make_processor() as processor:
                results.append(processor.charge(request).processor_id)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Each request either replays the one charge or is told the key is in use (409).
    assert all(isinstance(exc, ProcessorIdempotencyConflict) for exc in errors), errors
    assert results and len(set(results)) == 1
    assert SandboxCharge.objects.count() == 1


# --- refunds ---------------------------------------------------------------------------


def test_refund__full_by_default(processor):
    charge = processor.charge(charge_request(amount="50.00"))
    refund = processor.refund(refund_request(charge.processor_id))

    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.processor_id.startswith("re_")
    assert (refund.charge_id, refund.amount, refund.currency) == (charge.processor_id, Decimal("50.00"), "USD")
    after = processor.get_charge(charge.processor_id)
    assert after.amount_refunded == Decimal("50.00")
    assert processor.get_refund(refund.processor_id) == refund
    with pytest.raises(ProcessorInvalidRequest) as caught:
        processor.refund(refund_request(charge.processor_id, "0.01"))
    assert caught.value.code == "charge_already_refunded"


def test_refund__partials_add_up_and_an_over_refund_is_refused_clearly(processor):
    charge = processor.charge(charge_request(amount="50.00"))
    processor.refund(refund_request(charge.processor_id, "20.00"))
    processor.refund(refund_request(charge.processor_id, "10.01"))

    with pytest.raises(ProcessorInvalidRequest) as caught:
        processor.refund(refund_request(charge.processor_id, "20.00"))

    exc = caught.value
    assert exc.http_status == 400
    assert exc.code == "amount_too_large"
    assert "20.00 USD" in exc.message and "19.99 USD" in exc.message and "50.00 USD" in exc.message
    assert SandboxRefund.objects.count() == 2
    assert processor.get_charge(charge.processor_id).amount_refunded == Decimal("30.01")
    # What is left can still be refunded, to the cent.
    last = processor.refund(refund_request(charge.processor_id))
    assert last.amount == Decimal("19.99")
    assert SandboxCharge.objects.get().amount_refunded == 5000


def test_refund__same_key_replays_one_refund(processor):
    charge = processor.charge(charge_request(amount="50.00"))
    request = refund_request(charge.processor_id, "10.00")
    assert processor.refund(request) == processor.refund(request)
    assert SandboxRefund.objects.count() == 1
    assert processor.get_charge(charge.processor_id).amount_refunded == Decimal("10.00")


def test_refund__refused_for_a_charge_not_succeeded_or_in_another_currency(processor):
    processing = processor.charge(charge_request("tok_processing"))
    with pytest.raises(ProcessorInvalidRequest) as caught:
        processor.refund(refund_request(processing.processor_id))
    assert caught.value.code == "charge_not_refundable"

    charge = processor.charge(charge_request())
    with pytest.raises(ProcessorInvalidRequest) as caught:
        processor.refund(refund_request(charge.processor_id, "1.00", currency="EUR"))
    assert caught.value.code == "currency_mismatch"
    assert not SandboxRefund.objects.exists()


def test_refund__unknown_charge_is_not_found(processor):
    with pytest.raises(ProcessorNotFound):
        processor.refund(refund_request("ch_doesnotexist"))


# --- authentication ------------------------------------------------------------------


def test_auth__missing_key_refused(sandbox_url):
    response = httpx.get(sandbox_url + "/charges/ch_x")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_auth__wrong_key_refused(make_processor):
    processor = make_processor(api_key="sk_sandbox_wrong")
    with pytest.raises(ProcessorAuthenticationError) as caught:
        processor.charge(charge_request())
    assert caught.value.http_status == 401
    assert caught.value.retryable is False
    assert not SandboxCharge.objects.exists()


def test_auth__each_key_is_its_own_account(make_processor):
    charge = make_processor().charge(charge_request())
    other = make_processor(api_key=OTHER_API_KEY)
    with pytest.raises(ProcessorNotFound):
        other.get_charge(charge.processor_id)
    assert other.find_charge_by_idempotency_key(charge.idempotency_key) is None


def test_sandbox__disabled_answers_not_found(processor, sandbox_settings):
    sandbox_settings.SANDBOX_PROCESSOR_ENABLED = False
    with pytest.raises(ProcessorNotFound):
        processor.charge(charge_request())
    assert not SandboxCharge.objects.exists()


# --- unknown outcomes and failures -------------------------------------------------------


def test_timeout__charge_recorded_but_answer_lost_then_reconciled_once(make_processor):
    processor = make_processor(timeout=0.5)
    request = charge_request("tok_timeout", "75.00")

    with pytest.raises(ProcessorTimeout) as caught:
        processor.charge(request)
    assert getattr(caught.value, "outcome_unknown", False)
    assert caught.value.retryable is False

    found = processor.find_charge_by_idempotency_key(request.idempotency_key)
    assert found is not None
    assert (found.status, found.amount, found.idempotency_key) == (
        ChargeStatus.SUCCEEDED,
        Decimal("75.00"),
        request.idempotency_key,
    )
    assert processor.get_charge(found.processor_id) == found
    # Retrying with the same key answers at once with the same charge; never a second one.
    assert processor.charge(request).processor_id == found.processor_id
    assert SandboxCharge.objects.count() == 1


def test_find_charge_by_idempotency_key__none_when_never_charged(processor):
    assert processor.find_charge_by_idempotency_key(key()) is None


def test_server_error__500_is_unavailable_and_records_nothing(processor):
    request = charge_request("tok_server_error")
    with pytest.raises(ProcessorUnavailable) as caught:
        processor.charge(request)
    assert caught.value.http_status == 500
    assert caught.value.retryable is True
    assert not SandboxCharge.objects.exists()
    assert processor.find_charge_by_idempotency_key(request.idempotency_key) is None


def test_connection_refused__is_unavailable(make_processor):
    processor = make_processor(base_url="http://127.0.0.1:9/sandbox/processor/v1", timeout=2)
    with pytest.raises(ProcessorUnavailable) as caught:
        processor.charge(charge_request())
    assert caught.value.code == "connection_error"


def test_get_charge__unknown_id_is_not_found(processor):
    with pytest.raises(ProcessorNotFound) as caught:
        processor.get_charge("ch_nope")
    assert caught.value.http_status == 404


# --- reading charges back: the list (consistent) and the search (lagging) -------------------


def test_list_charges__the_customers_charges_since_a_time_newest_first_every_page(processor):
    import datetime

    from django.utils import timezone

    from sandboxes.processor.services import account_for_key

    account = account_for_key(API_KEY)
    since = timezone.now().replace(microsecond=0) - datetime.timedelta(hours=2)

    def made(customer, at, n):
        return SandboxCharge(
            public_id=f"ch_list{n:04d}",
            account=account,
            amount=100 + n,
            currency="USD",
            status="succeeded",
            source="tok_visa",
            payment_method_type="card",
            customer=customer,
            idempotency_key=f"list-{n}",
            created_at=at,
        )

    rows = [made("23456", since + datetime.timedelta(seconds=n), n) for n in range(105)]
    rows += [made("23456", since - datetime.timedelta(seconds=1), 900), made("99999", since, 901)]
    times = {row.public_id: row.created_at for row in rows}
    SandboxCharge.objects.bulk_create(rows)
    for public_id, at in times.items():  # created_at is set on insert; put each charge at its time
        SandboxCharge.objects.filter(public_id=public_id).update(created_at=at)

    listed = list(processor.list_charges(customer_ref="23456", created_since=since))

    assert [c.processor_id for c in listed] == [f"ch_list{n:04d}" for n in reversed(range(105))]
    assert listed[0].amount == Decimal("2.04")


def test_list_charges__a_new_charge_is_listed_at_once_while_search_lags(processor, sandbox_settings):
    import datetime

    from django.utils import timezone

    sandbox_settings.SANDBOX_PROCESSOR_SEARCH_LAG_SECONDS = 3600
    before = timezone.now() - datetime.timedelta(minutes=1)
    the_key = key()
    request = charge_request(idempotency_key=the_key, metadata={"invoice": "1001", "idempotency_key": the_key})
    made = processor.charge(request)
    processor.charge(charge_request(metadata={"invoice": "1002"}))  # another charge of the customer

    assert processor.find_charge_by_idempotency_key(request.idempotency_key) is None
    found = processor.find_charge(request, created_since=before)
    assert found is not None and found.processor_id == made.processor_id
    assert found.metadata == {"invoice": "1001", "idempotency_key": the_key}

    sandbox_settings.SANDBOX_PROCESSOR_SEARCH_LAG_SECONDS = 0
    assert processor.find_charge_by_idempotency_key(request.idempotency_key).processor_id == made.processor_id


def test_list_charges__unknown_filter_refused(sandbox_url):
    response = httpx.get(
        sandbox_url + "/charges",
        params={"idempotency_key": "k"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_unknown"
