"""Fixtures of the OpenWater tests: the sandbox OpenWater served by the live server,
and an initialized integration pointed at it over real HTTP."""

from datetime import UTC, datetime, timedelta

import pytest

from integrations.openwater.client import OpenWaterClient, RetryPolicy
from integrations.openwater.models import ProgramMapping
from integrations.openwater.services.setup import (
    integration_create,
    integration_initialize,
    program_initialize,
    programs_refresh,
)
from sandboxes.openwater.store import use_empty_store
from sandboxes.openwater.views import sandbox_credentials

AWARDS, GRANTS = 101, 102


@pytest.fixture
def sandbox(settings):
    settings.OPENWATER_SANDBOX_ENABLED = True
    store = use_empty_store()
    store.add_program(AWARDS, "AWD26", "Excellence Awards 2026")
    store.add_program(GRANTS, "GRANT26", "Research Grants 2026")
    store.add_user(1, "ada@example.org", "Ada Lovelace")
    store.add_user(2, "grace@example.org", "Grace Hopper")
    yield store
    use_empty_store()


@pytest.fixture
def sandbox_url(live_server, sandbox):
    return f"{live_server.url}/sandbox/openwater"


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def make_client(sandbox_url, sleeps):
    def _client(integration, timeout=5.0, attempts=4):
        return OpenWaterClient.for_integration(
            integration,
            timeout=timeout,
            retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=2, sleep=sleeps),
        )

    return _client


@pytest.fixture
def integration(ledger, sandbox_url):
    creds = sandbox_credentials()
    integration = integration_create(name="OW test", base_url=sandbox_url, **creds)
    integration = integration_initialize(
        integration=integration, entity=ledger.entity, skip_before=(datetime.now(UTC) - timedelta(days=10)).date()
    )
    programs_refresh(
        integration=integration,
        programs=[
            {"id": AWARDS, "code": "AWD26", "name": "Awards"},
            {"id": GRANTS, "code": "GRANT26", "name": "Grants"},
        ],
    )
    program_initialize(program=ProgramMapping.objects.get(integration=integration, program_id=AWARDS))
    integration.refresh_from_db()
    return integration
