"""Fixtures for the processor tests: a SandboxProcessor talking real HTTP to the
sandbox served by pytest-django's live server."""

import pytest

from processors.sandbox import SandboxProcessor

API_KEY = "sk_sandbox_test"
OTHER_API_KEY = "sk_sandbox_other_account"
SANDBOX_PATH = "/sandbox/processor/v1"


@pytest.fixture
def sandbox_settings(settings):
    settings.SANDBOX_PROCESSOR_ENABLED = True
    settings.SANDBOX_PROCESSOR_API_KEYS = [API_KEY, OTHER_API_KEY]
    settings.SANDBOX_PROCESSOR_SETTLE_SECONDS = 3600  # settle only when a test says so
    settings.SANDBOX_PROCESSOR_TIMEOUT_DELAY = 2.0
    return settings


@pytest.fixture
def sandbox_url(live_server, sandbox_settings):
    return live_server.url + SANDBOX_PATH


@pytest.fixture
def make_processor(sandbox_url):
    opened = []

    def _make(api_key: str = API_KEY, timeout: float = 5.0, base_url: str | None = None) -> SandboxProcessor:
        processor = SandboxProcessor(base_url=base_url or sandbox_url, api_key=api_key, timeout=timeout)
        opened.append(processor)
        return processor

    yield _make
    for processor in opened:
        processor.close()


@pytest.fixture
def processor(make_processor):
    return make_processor()


# --- invoice sync -------------------------------------------------------------------

WEBHOOK_SECRET = "whsec_sandbox_test"


@pytest.fixture
def sync(ledger, sandbox_url, settings, monkeypatch):
    """An invoice sync account (sandbox over real HTTP) for the ledger's entity, its
    VISA and ACH methods, and payment-request tasks captured instead of queued."""
    from types import SimpleNamespace

    from finance.models import GatewayAccount, PaymentMethod
    from integrations import tasks
    from tests.factories import PaymentMethodFactory

    settings.SANDBOX_PROCESSOR_URL = sandbox_url
    settings.SANDBOX_PROCESSOR_API_KEY = API_KEY
    settings.SANDBOX_PROCESSOR_TIMEOUT = 5.0
    settings.INVOICE_SYNC_RETRY_BASE_SECONDS = 0
    account = GatewayAccount.objects.create(
        name="Sandbox cards",
        processor=GatewayAccount.Processor.SANDBOX,
        entity=ledger.entity,
        invoice_sync=True,
        webhook_secret=WEBHOOK_SECRET,
    )
    card = PaymentMethodFactory(
        code="VISA", name="Visa", type=PaymentMethod.Type.CREDIT_CARD, cash_account=ledger.cash, gateway_account=account
    )
    ach = PaymentMethodFactory(
        code="ACH", name="ACH", type=PaymentMethod.Type.ACH, cash_account=ledger.cash, gateway_account=account
    )
    queued = []
    monkeypatch.setattr(tasks.create_payment_requests, "delay", lambda *args, **kw: queued.append(args))
    return SimpleNamespace(ledger=ledger, account=account, card=card, ach=ach, queued=queued)
