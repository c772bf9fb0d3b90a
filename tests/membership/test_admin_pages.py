"""The membership admin pages render for a superuser (changelist, change, add)."""

import datetime

import pytest
from django.contrib import admin
from django.urls import reverse

from finance.membership.models import (
    DuesImport,
    MembershipSettings,
    MemberType,
    RenewalRun,
    Subscription,
    SubscriptionPackage,
)
from finance.membership.renewals import renewal_run_build, renewal_run_start
from tests.membership.conftest import make_member

pytestmark = pytest.mark.django_db


def test_membership_admin_pages_render(admin_client, member_types):
    MembershipSettings.load()
    make_member(member_types["REG"], datetime.date(2025, 12, 31))
    renewal_run_build(
        run=renewal_run_start(
            effective_date=datetime.date(2026, 1, 1),
            paid_through_from=datetime.date(2025, 1, 1),
            paid_through_to=datetime.date(2025, 12, 31),
        )
    )
    SubscriptionPackage.objects.create(key="k1", payload_sha256="0" * 64, invoice_date=datetime.date(2026, 1, 1))
    DuesImport.objects.create(
        file_name="d.csv", sha256="0" * 64, status="invalid", invoice_date=datetime.date(2026, 1, 1)
    )
    models = [MembershipSettings, MemberType, Subscription, RenewalRun, SubscriptionPackage, DuesImport]
    for model in models:
        opts = model._meta
        obj = model.objects.order_by("pk").first()
        changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert changelist.status_code == 200, model.__name__
        change = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        assert change.status_code == 200, model.__name__
        if admin.site._registry[model].has_add_permission(change.wsgi_request):
            add = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
            assert add.status_code == 200, model.__name__
    sub_page = admin_client.get(
        reverse("admin:membership_subscription_change", args=[Subscription.objects.first().pk])
    ).content.decode()
    assert 'name="paid_through"' not in sub_page  # derived: read-only
