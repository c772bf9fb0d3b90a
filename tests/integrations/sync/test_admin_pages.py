"""The invoice sync admin pages render with the shared admin test's rows."""

import pytest

from integrations.models import InvoiceSyncRecord, SavedPaymentMethod, SyncRun, WebhookEvent
from tests.test_admin import admin_client, books, superuser, url  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def test_sync_admin_pages_render(admin_client, books):  # noqa: F811
    for model in (InvoiceSyncRecord, SavedPaymentMethod, SyncRun, WebhookEvent):
        obj = model.objects.order_by("pk").first()
        assert obj is not None, f"no {model.__name__} row"
        assert admin_client.get(url(model, "changelist")).status_code == 200
        assert admin_client.get(url(model, "change", obj.pk)).status_code == 200
    assert admin_client.get(url(InvoiceSyncRecord, "add")).status_code == 403
