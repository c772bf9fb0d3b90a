"""Fixtures for the processor tests: a SandboxProcessor talking real HTTP to the
sandbox served by pytest-django's live server."""

import pytest

from integrations.processors.sandbox import SandboxProcessor

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
