"""Schemathesis over the OpenAPI schema of /api/v1/: every operation, generated inputs
(valid and invalid), a valid bearer token, real PostgreSQL rows behind it. Its checks:
no 5xx, documented status codes and content types, bodies that match their schemas.

The number of examples per operation is kept small for CI (API_SCHEMA_EXAMPLES, default
15); set it higher for a longer run on demand.
"""

import datetime
import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from api.models import ApiToken
from core.models import Module
from finance.services.batches import batch_create
from finance.services.payments import payment_receive
from paycentral.wsgi import application
from tests.factories import CompanyFactory, ContactFactory
from tests.finance.helpers import make_invoice

EXAMPLES = int(os.environ.get("API_SCHEMA_EXAMPLES", "15"))

# The API ignores query parameters it does not declare (as most APIs do), so requests
# with made-up extra parameters are not sent. A request that fits the schema may still
# break a documented business rule (the subscription API's 400: an item repeated in one
# package), so 400 is an accepted answer to schema-valid data.
CONFIG = SchemathesisConfig.from_dict(
    {
        # Text with NUL (0x00) is refused with 422 (PostgreSQL cannot store it): tested
        # on its own below rather than drawn as "valid" data here.
        "generation": {"allow-extra-parameters": False, "allow-x00": False},
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]}
        },
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG)
PLACEHOLDER = "pc_placeholder"


@schema.auth()
class BearerToken:
    """Every generated request carries a bearer token (schemathesis still sends some
    without it, to check they are refused). Cases are drawn before the test's token
    exists, so the test puts the real key in place of this one just before the call."""

    def get(self, case, ctx):
        return PLACEHOLDER

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


pytestmark = pytest.mark.django_db


@pytest.fixture
def keep_connection():
    """Requests go through the WSGI app in this thread, inside the test's transaction:
    keep Django from closing the connection at each request's end (as its test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(ledger, django_user_model, grant, keep_connection):
    """A token of a user who may read finance data, and rows for it to read."""
    user = django_user_model.objects.create_user("schema-api", password="pw-schema-api-1")
    grant(user, Module.AR_CASH, 1)
    grant(user, Module.MEMBERSHIP, 4)  # the subscription operations
    acme = CompanyFactory(party_id="20001", name="Acme Widgets")
    alice = ContactFactory(party_id="10001", name="Alice Archer", major_key="AA1")
    batch = batch_create(date=datetime.date(2026, 1, 10), number="JAN-1", description="January")
    make_invoice(ledger, alice, batch, "125.50", date=datetime.date(2026, 1, 10))
    make_invoice(ledger, acme, batch, "40.00", "0.01", date=datetime.date(2026, 1, 11))
    payment_receive(
        payer=acme, method=ledger.check_method, amount="100.00", date=datetime.date(2026, 1, 12), batch=batch
    )
    _, key = ApiToken.issue(user=user, name="Schemathesis")
    return key


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api__conforms_to_its_schema(case, bearer):
    if (case.headers or {}).get("Authorization") == f"Bearer {PLACEHOLDER}":
        case.headers["Authorization"] = f"Bearer {bearer}"
    case.call_and_validate()


def test_api__schema_lists_every_operation():
    """The walk above covers what the schema declares; the read endpoints are all there."""
    paths = set(schema.raw_schema["paths"])
    assert {
        "/api/v1/contacts",
        "/api/v1/invoices/{number}",
        "/api/v1/payments/{payment_id}",
        "/api/v1/batches",
    } <= paths


def test_api__text_with_nul_is_refused_with_422(bearer, client):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"}

    listed = client.get("/api/v1/contacts", {"q": "Ali\x00ce"}, **headers)
    submitted = client.post(
        "/api/v1/subscriptions/packages",
        {
            "key": "nul-1",
            "invoice_date": "2026-01-10",
            "items": [
                {"party_id": "100\x0001", "member_type": "REG", "term_begin": "2026-01-01", "term_end": "2026-12-31"}
            ],
        },
        content_type="application/json",
        **headers,
    )

    for response in (listed, submitted):
        assert response.status_code == 422, response.content
        assert response.json()["detail"][0]["type"] == "string_nul"
