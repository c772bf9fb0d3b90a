"""Fixtures of the simulation: member types, the invoice sync account on the sandbox
processor, and a started OpenWater integration on the sandbox OpenWater, both served
by the live server over real HTTP.

The OpenWater fixtures are defined here under their own names: ``sandbox_url`` is the
processor's (from the invoice sync fixtures), ``ow_url`` the sandbox OpenWater's.
"""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.integrations.conftest import make_processor, processor, sandbox_settings, sandbox_url, sync  # noqa: F401
from tests.membership.conftest import member_types, open_credit_method  # noqa: F401

# Programs of the sandbox's data file mapped when the integration starts; the others
# (FELLOW26, and the archived AWD25) are skipped as unmapped until mapped.
OW_MAPPED = (101, 102)


@pytest.fixture
def sim_settings(settings, sync):  # noqa: F811 - after the sync fixture sets its timeout
    """Short processor timeouts: a ``tok_timeout`` charge costs about a second."""
    settings.SANDBOX_PROCESSOR_TIMEOUT = 1.0
    settings.SANDBOX_PROCESSOR_TIMEOUT_DELAY = 1.4
    settings.INVOICE_SYNC_REQUEST_POLL_LIMIT = 40
    return settings


@pytest.fixture
def ow_data():
    """The sandbox OpenWater's data file: programs, users, invoices paid and refunded
    at minutes relative to the start."""
    from sandboxes.openwater.store import DATA_FILE

    return json.loads(DATA_FILE.read_text(), parse_float=Decimal)


@pytest.fixture
def ow_store(settings, ow_data):
    """The sandbox OpenWater's store with the data file's programs and users and no
    invoices yet (the simulation releases them as its clock passes their minutes)."""
    from sandboxes.openwater.store import use_empty_store

    settings.OPENWATER_SANDBOX_ENABLED = True
    store = use_empty_store()
    for p in ow_data["programs"]:
        store.add_program(p["id"], p["code"], p["name"], is_archived=p.get("isArchived", False))
    for u in ow_data["users"]:
        store.add_user(u["id"], u["email"], f"{u['firstName']} {u['lastName']}", u.get("thirdPartyUniqueId") or "")
    yield store
    use_empty_store()


@pytest.fixture
def ow_url(live_server, ow_store):
    return f"{live_server.url}/sandbox/openwater"


@pytest.fixture
def ow_integration(ledger, ow_url, ow_data):
    """An initialized, started integration with two programs mapped to their products."""
    from integrations.openwater.models import ProgramMapping
    from integrations.openwater.services.setup import (
        integration_create,
        integration_initialize,
        integration_start,
        program_initialize,
        programs_refresh,
    )
    from sandboxes.openwater.views import sandbox_credentials

    integration = integration_create(name="OpenWater sandbox", base_url=ow_url, **sandbox_credentials())
    integration = integration_initialize(
        integration=integration, entity=ledger.entity, skip_before=(datetime.now(UTC) - timedelta(days=10)).date()
    )
    programs_refresh(
        integration=integration,
        programs=[dict(p) for p in ow_data["programs"]],
    )
    for program_id in OW_MAPPED:
        program_initialize(program=ProgramMapping.objects.get(integration=integration, program_id=program_id))
    integration = integration_start(integration=integration)
    return integration
