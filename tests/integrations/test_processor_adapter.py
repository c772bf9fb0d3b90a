"""How the sandbox adapter maps HTTP outcomes it cannot provoke from the live sandbox
(429, non-JSON 5xx, timeouts on reads), and the processor factory."""

import uuid
from decimal import Decimal

import httpx
import pytest

from finance.models import GatewayAccount
from processors import (
    ChargeRequest,
    ProcessorAuthenticationError,
    ProcessorError,
    ProcessorTimeout,
    ProcessorUnavailable,
    get_processor,
)
from processors.sandbox import SandboxProcessor


def _processor(handler) -> SandboxProcessor:
    transport = httpx.MockTransport(handler)
    return SandboxProcessor("http://sandbox.invalid/v1", "sk_sandbox_x", timeout=1, transport=transport)


def _request() -> ChargeRequest:
    return ChargeRequest(
        amount=Decimal("10.00"), currency="USD", payment_method_token="tok_visa", idempotency_key=str(uuid.uuid4())
    )


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_adapter__429_and_5xx_are_unavailable_even_without_json(status):
    with _processor(lambda request: httpx.Response(status, text="<html>Bad gateway</html>")) as processor:
        with pytest.raises(ProcessorUnavailable) as caught:
            processor.charge(_request())
    assert caught.value.http_status == status
    assert caught.value.retryable


def test_adapter__sends_key_auth_and_minor_units():
    seen = {}

    def handler(request):
        seen["auth"] = request.headers["Authorization"]
        seen["key"] = request.headers["Idempotency-Key"]
        seen["body"] = request.content
        return httpx.Response(
            200, json={"id": "ch_1", "status": "succeeded", "amount": 1000, "currency": "USD", "amount_refunded": 0}
        )

    request = _request()
    with _processor(handler) as processor:
        result = processor.charge(request)
    assert seen["auth"] == "Bearer sk_sandbox_x"
    assert seen["key"] == request.idempotency_key
    assert b'"amount":1000' in seen["body"].replace(b" ", b"")
    assert result.amount == Decimal("10.00")


def test_adapter__read_timeout_on_a_charge_is_unknown_outcome():
    def handler(request):
        raise httpx.ReadTimeout("timed out", request=request)

    with _processor(handler) as processor:
        with pytest.raises(ProcessorTimeout):
            processor.charge(_request())
        # A read that times out changed nothing: plain unavailable.
        with pytest.raises(ProcessorUnavailable):
            processor.get_charge("ch_1")


def test_adapter__connection_lost_after_sending_a_charge_is_unknown_outcome():
    def handler(request):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    with _processor(handler) as processor, pytest.raises(ProcessorTimeout):
        processor.charge(_request())


def test_adapter__malformed_success_body_is_a_processor_error():
    with _processor(lambda request: httpx.Response(200, json={"id": "ch_1"})) as processor:
        with pytest.raises(ProcessorError):
            processor.get_charge("ch_1")


def test_adapter__ids_cannot_escape_the_path():
    with _processor(lambda request: httpx.Response(200, json={})) as processor, pytest.raises(ValueError):
        processor.get_charge("../refunds/re_1")


def test_get_processor__sandbox_account_uses_the_settings(settings):
    settings.SANDBOX_PROCESSOR_URL = "http://sandbox.example/v1/"
    settings.SANDBOX_PROCESSOR_API_KEY = "sk_sandbox_from_settings"
    settings.SANDBOX_PROCESSOR_TIMEOUT = 3.5
    account = GatewayAccount(name="Sandbox", processor=GatewayAccount.Processor.SANDBOX)
    with get_processor(account) as processor:
        assert isinstance(processor, SandboxProcessor)
        assert processor.base_url == "http://sandbox.example/v1"
        assert processor.timeout == 3.5
        assert processor._client.headers["Authorization"] == "Bearer sk_sandbox_from_settings"


def test_get_processor__stripe_needs_a_secret_key():
    account = GatewayAccount(name="Card payments", processor=GatewayAccount.Processor.STRIPE)
    with pytest.raises(ProcessorAuthenticationError, match="no Stripe secret key"):
        get_processor(account)


def test_get_processor__stripe_adapter_with_the_accounts_key_and_base():
    from processors.stripe import StripeProcessor

    account = GatewayAccount(
        name="Card payments",
        processor=GatewayAccount.Processor.STRIPE,
        secret_key="sk_test_123",
        api_base="http://127.0.0.1:9/",
    )
    with get_processor(account) as processor:
        assert isinstance(processor, StripeProcessor)
        assert processor._client._requestor.base_addresses["api"] == "http://127.0.0.1:9"
