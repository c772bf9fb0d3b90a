"""The processor's card form, server side: the sandbox tokenizes test cards into payment
methods (keeping no number) that charges and the adapter read back; the Stripe adapter
reads a Payment Element's PaymentMethod and refunds a charge in parts, against the
local stand-in for Stripe's API."""

import json
from decimal import Decimal

import httpx
import pytest
from django.forms.models import model_to_dict

from processors import ChargeRequest, ChargeStatus, ProcessorDeclined, ProcessorInvalidRequest, RefundRequest
from processors.stripe import StripeProcessor
from sandboxes.processor.models import SandboxPaymentMethod
from tests.integrations.conftest import API_KEY
from tests.integrations.fake_stripe import API_KEY as STRIPE_KEY
from tests.integrations.fake_stripe import FakeStripe

PUBLISHABLE_KEY = "pk_" + API_KEY.removeprefix("sk_")


def tokenize(sandbox_url, number="4242 4242 4242 4242", key=PUBLISHABLE_KEY, exp=("12", "34"), cvc="123"):
    body = {"key": key, "card": {"number": number, "exp_month": exp[0], "exp_year": exp[1], "cvc": cvc}}
    return httpx.post(
        sandbox_url + "/payment_methods", content=json.dumps(body), headers={"Content-Type": "text/plain"}
    )


@pytest.mark.django_db(transaction=True)
def test_card_form__script_served_and_cards_tokenized_without_their_number(sandbox_url):
    script = httpx.get(sandbox_url + "/elements.js")
    assert script.status_code == 200 and "SandboxElements" in script.text
    assert script.headers["content-type"].startswith("text/javascript")
    answer = tokenize(sandbox_url, "5555 5555 5555 4444")
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"
    body = answer.json()
    assert body["id"].startswith("pm_")
    assert body["card"] == {"brand": "mastercard", "last4": "4444", "exp_month": 12, "exp_year": 2034}
    stored = model_to_dict(SandboxPaymentMethod.objects.get(public_id=body["id"]))
    assert "5555555555554444" not in json.dumps(stored, default=str)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"key": "pk_sandbox_unknown"}, 401, "api_key_invalid"),
        ({"key": API_KEY}, 401, "api_key_invalid"),  # a secret key does not belong in a page
        ({"number": "4242 4242 4242 4241"}, 402, "incorrect_number"),
        ({"number": "4111 1111 1111 1111"}, 402, "card_not_supported"),
        ({"exp": ("13", "34")}, 402, "invalid_expiry"),
        ({"exp": ("01", "20")}, 402, "invalid_expiry"),
        ({"cvc": "1"}, 402, "incorrect_cvc"),
    ],
)
def test_card_form__refuses_bad_keys_and_cards(sandbox_url, kwargs, status, code):
    answer = tokenize(sandbox_url, **kwargs)
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert not SandboxPaymentMethod.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_payment_method__charges_as_its_test_card_and_is_read_back(sandbox_url, processor, make_processor):
    visa = tokenize(sandbox_url).json()["id"]
    declined = tokenize(sandbox_url, "4000 0000 0000 0002").json()["id"]
    charge = processor.charge(
        ChargeRequest(amount=Decimal("19.99"), currency="USD", payment_method_token=visa, idempotency_key="pm-1")
    )
    assert charge.status == ChargeStatus.SUCCEEDED and charge.amount == Decimal("19.99")
    with pytest.raises(ProcessorDeclined):
        processor.charge(
            ChargeRequest(amount=Decimal("5.00"), currency="USD", payment_method_token=declined, idempotency_key="pm-2")
        )
    details = processor.get_payment_method(visa)
    assert (details.processor_id, details.brand, details.last4, details.exp_month, details.exp_year) == (
        visa,
        "visa",
        "4242",
        12,
        2034,
    )
    # Another account's key sees neither the method nor may it charge with it.
    other = make_processor(api_key="sk_sandbox_other_account")
    with pytest.raises(ProcessorInvalidRequest, match="No such payment method"):
        other.charge(
            ChargeRequest(amount=Decimal("1.00"), currency="USD", payment_method_token=visa, idempotency_key="pm-3")
        )


def test_stripe__payment_element_method_read_and_charge_refunded_in_parts():
    with FakeStripe() as fake, StripeProcessor(api_key=STRIPE_KEY, api_base=fake.url, timeout=5) as stripe:
        details = stripe.get_payment_method("pm_card_visa")
        assert (details.brand, details.last4, details.exp_month, details.exp_year) == ("visa", "4242", 12, 2034)
        charge = stripe.charge(
            ChargeRequest(
                amount=Decimal("125.00"), currency="USD", payment_method_token="pm_card_visa", idempotency_key="k-1"
            )
        )
        assert charge.status == ChargeStatus.SUCCEEDED
        first = stripe.refund(
            RefundRequest(
                charge_id=charge.processor_id, amount=Decimal("100.00"), currency="USD", idempotency_key="r-1"
            )
        )
        rest = stripe.refund(
            RefundRequest(charge_id=charge.processor_id, amount=Decimal("25.00"), currency="USD", idempotency_key="r-2")
        )
        assert (first.amount, rest.amount) == (Decimal("100.00"), Decimal("25.00"))
        posted = [params for method, path, params, _key in fake.requests if path == "/v1/refunds"]
        assert [p["amount"] for p in posted] == ["10000", "2500"]
        assert all(p["payment_intent"] == charge.processor_id for p in posted)
        with pytest.raises(ProcessorInvalidRequest):
            stripe.refund(
                RefundRequest(
                    charge_id=charge.processor_id, amount=Decimal("0.01"), currency="USD", idempotency_key="r-3"
                )
            )
