"""The Integrations Hub pages, their access rules, the sandbox server's protocol and
the run_pushback command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.models import Module
from finance.models import Invoice, PaymentMethodSetEntry, Product
from integrations.openwater.models import Integration, ProgramMapping
from tests.openwater.conftest import AWARDS

HEADERS = {"X-ClientKey": "ow_client_demo", "X-ApiKey": "ow_api_demo", "X-OrganizationCode": "DEMOORG"}


@pytest.fixture
def viewer(db, django_user_model, grant):
    return grant(django_user_model.objects.create_user("viewer", password="pw-viewer-123"), Module.INTEGRATIONS, 2)


@pytest.fixture
def admin_user(db, django_user_model, grant):
    return grant(django_user_model.objects.create_user("ow-admin", password="pw-admin-123"), Module.INTEGRATIONS, 4)


@pytest.mark.django_db
def test_sandbox__checks_credentials_and_pages(client, sandbox):
    for _n in range(12):
        sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["12.30"])
    url = "/sandbox/openwater/v2/Invoices"
    assert client.get(url, {"isPaid": "true"}).status_code == 401
    assert client.get(url, {"isPaid": "true"}, headers={**HEADERS, "X-ApiKey": "nope"}).status_code == 401
    page = client.get(url, {"isPaid": "true", "pageIndex": 1}, headers=HEADERS).json()
    assert page["pagingInfo"] == {
        "pageIndex": 1,
        "pageSize": 10,
        "totalCount": 12,
        "numberOfPages": 2,
        "hasPreviousPage": True,
        "hasNextPage": False,
    }
    detail = client.get(f"{url}/{page['items'][0]['id']}", headers=HEADERS).content.decode()
    assert '"totalPaid": 12.3' in detail  # a JSON number, as OpenWater sends it


@pytest.mark.django_db
def test_sandbox__not_served_when_disabled(client, sandbox, settings):
    settings.OPENWATER_SANDBOX_ENABLED = False
    assert client.get("/sandbox/openwater/v2/Programs", headers=HEADERS).status_code == 404


@pytest.mark.django_db
def test_hub__view_needs_level_2_and_manage_level_4(client, django_user_model, grant, viewer):
    low = grant(django_user_model.objects.create_user("low", password="pw-low-12345"), Module.INTEGRATIONS, 1)
    client.force_login(low)
    assert client.get(reverse("openwater:ow_hub")).status_code == 403
    client.force_login(viewer)
    assert client.get(reverse("openwater:ow_hub")).status_code == 200
    data = {
        "name": "X",
        "base_url": "https://api.example.org",
        "organization_code": "O",
        "client_key": "c",
        "api_key": "a",
    }
    assert client.post(reverse("openwater:ow_integration_add"), data).status_code == 403
    assert not Integration.objects.exists()


@pytest.mark.django_db
def test_hub__add_initialize_map_start(client, admin_user, ledger, sandbox):
    client.force_login(admin_user)
    response = client.post(
        reverse("openwater:ow_integration_add"),
        {
            "name": "Awards",
            "base_url": "http://127.0.0.1:9/sandbox/openwater",
            "organization_code": "DEMOORG",
            "client_key": "client-secret-123456",
            "api_key": "api-secret-abcdef",
        },
    )
    integration = Integration.objects.get()
    assert response.status_code == 302
    page = client.get(reverse("openwater:ow_integration_detail", args=[integration.pk])).content.decode()
    assert "api-secret-abcdef" not in page and "••••••••cdef" in page

    action = lambda name: reverse("openwater:ow_integration_action", args=[integration.pk, name])  # noqa: E731
    client.post(action("start"))
    integration.refresh_from_db()
    assert not integration.is_started  # not initialized yet: refused with a message

    client.post(
        action("initialize"),
        {
            "entity": ledger.entity.pk,
            "method_code": "openwater",
            "default_product_name": "OW fees",
            "skip_before": "2026-01-01",
        },
    )
    integration.refresh_from_db()
    assert integration.is_initialized and integration.payment_method.code == "OPENWATER"
    assert not PaymentMethodSetEntry.objects.filter(method=integration.payment_method).exists()
    assert integration.default_product.name == "OW fees" and str(integration.skip_before) == "2026-01-01"

    program = ProgramMapping.objects.create(integration=integration, program_id=AWARDS, code="AWD26", name="Awards")
    # An income account that is not one of the entity's is refused, and nothing changes.
    page = client.post(
        reverse("openwater:ow_program_action", args=[integration.pk, program.pk, "initialize"]),
        {"income_account": "999999"},
        follow=True,
    )
    assert "Program AWD26 was not initialized" in page.content.decode()
    program.refresh_from_db()
    assert program.status != "initialized" and not Product.objects.filter(code="OW_AWD26").exists()
    client.post(reverse("openwater:ow_program_action", args=[integration.pk, program.pk, "initialize"]))
    program.refresh_from_db()
    assert program.status == "initialized" and program.product == Product.objects.get(code="OW_AWD26")

    client.post(action("start"))
    integration.refresh_from_db()
    assert integration.is_started and integration.next_run_at is not None
    hub = client.get(reverse("openwater:ow_hub")).content.decode()
    assert "Awards" in hub and "Started" in hub

    client.post(
        action("options"),
        {
            "payment_method_name": "OpenWater online",
            "default_product_name": "Application fees",
            "skip_before": "2026-02-01",
            "programs_sync_mode": "default_product",
            "interval_minutes": "15",
        },
    )
    integration.refresh_from_db()
    assert integration.payment_method.name == "OpenWater online"
    assert integration.default_product.name == "Application fees" and str(integration.skip_before) == "2026-02-01"
    assert (integration.programs_sync_mode, integration.interval_minutes) == ("default_product", 15)
    response = client.post(action("options"), {"interval_minutes": "0"}, follow=True)
    assert "Run every (minutes): Ensure this value is greater than or equal to 1." in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_command_run_pushback(integration, sandbox):
    sandbox.add_invoice(program_id=AWARDS, user_id=1, lines=["19.99"])
    out = StringIO()
    call_command("run_pushback", "--integration", integration.name, "--once", stdout=out)
    assert "1 pushed, 0 skipped, 0 refunds, 0 errors" in out.getvalue()
    assert str(Invoice.objects.filter(source="openwater").get().total) == "19.99"
    with pytest.raises(CommandError, match="No OpenWater integration is named 'nope'"):
        call_command("run_pushback", "--integration", "nope", "--once")


@pytest.mark.django_db
def test_demo_seed__integration_started_against_the_sandbox(ledger, settings):
    from datetime import date
    from types import SimpleNamespace

    from demo import openwater as demo

    settings.OPENWATER_SANDBOX_BASE_URL = "http://127.0.0.1:8000/sandbox/openwater"
    builder = SimpleNamespace(entities={"ASSN": ledger.entity}, today=date(2026, 11, 22))
    summary = demo.seed(builder)
    integration = Integration.objects.get()
    assert integration.is_started and integration.is_initialized
    assert integration.base_url == "http://127.0.0.1:8000/sandbox/openwater"
    assert integration.api_key == "ow_api_demo" and str(integration.skip_before) == "2026-10-23"
    mapped = ProgramMapping.objects.filter(integration=integration, status="initialized")
    assert [p.product.code for p in mapped] == ["OW_AWD26"]
    assert summary.startswith("OpenWater: integration 'OpenWater awards' started") and "OW_AWD26" in summary
    assert demo.seed(builder) == "OpenWater: the demo integration exists already"


def test_sandbox_data_file__paid_and_refunded_over_time():
    from datetime import UTC, datetime, timedelta

    from sandboxes.openwater.store import DATA_FILE, SandboxStore

    store = SandboxStore()
    epoch = datetime.now(UTC) - timedelta(minutes=1)
    store.reset(path=DATA_FILE, epoch=epoch)
    now_paid = store.paid_invoices(since=None, program_id=None)
    assert len(store.programs) == 4 and 0 < len(now_paid) < len(store.invoices)
    # Two hours later every invoice is paid and the refunds are visible.
    store.reset(path=DATA_FILE, epoch=epoch - timedelta(hours=3))
    assert len(store.paid_invoices(since=None, program_id=None)) == len(store.invoices)
    refunded = [store.detail(i)["totalRefunded"] for i in store.invoices]
    assert sum(1 for r in refunded if r > 0) == 3
