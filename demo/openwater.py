"""Demo data of the OpenWater pushback: an integration pointed at the embedded sandbox
OpenWater (``OPENWATER_SANDBOX_BASE_URL``), initialized, its programs known (from the
sandbox's data file), one program mapped to its own product, started. The first beat
tick after ``make run`` pulls the invoices the sandbox has paid so far; more are paid
and some refunded while the demo runs."""

import json
from datetime import timedelta

from django.conf import settings

from integrations.openwater.models import Integration, ProgramMapping
from integrations.openwater.services.setup import (
    integration_create,
    integration_initialize,
    integration_start,
    program_initialize,
    programs_refresh,
)
from sandboxes.openwater.store import DATA_FILE
from sandboxes.openwater.views import sandbox_credentials

DEMO_NAME = "OpenWater awards"


def seed(builder) -> str:
    if Integration.objects.filter(name=DEMO_NAME).exists():
        return "OpenWater: the demo integration exists already"
    creds = sandbox_credentials()
    integration = integration_create(
        name=DEMO_NAME,
        base_url=getattr(settings, "OPENWATER_SANDBOX_BASE_URL", "http://127.0.0.1:8000/sandbox/openwater"),
        client_key=creds["client_key"],
        api_key=creds["api_key"],
        organization_code=creds["organization_code"],
    )
    integration = integration_initialize(
        integration=integration,
        entity=builder.entities["ASSN"],
        skip_before=builder.today - timedelta(days=30),
    )
    path = getattr(settings, "OPENWATER_SANDBOX_DATA", "") or DATA_FILE
    programs = json.loads(open(path).read())["programs"]
    programs_refresh(integration=integration, programs=programs)
    mapped = ProgramMapping.objects.filter(integration=integration, is_archived=False).order_by("program_id").first()
    program_initialize(program=mapped)
    integration_start(integration=integration)
    return (
        f"OpenWater: integration {DEMO_NAME!r} started against the sandbox, program {mapped.code} mapped to "
        f"OW_{mapped.code}, {len(programs) - 1} others waiting"
    )
