"""The membership demo data: member types, subscriptions, a posted run and a ready one."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command

from finance.ledger_check import verify_ledger
from finance.membership.models import MemberType, RenewalRun, Subscription

pytestmark = pytest.mark.django_db


def test_seed_demo__membership_types_subscriptions_and_runs():
    out = StringIO()
    call_command("seed_demo", "--today", "2026-03-15", "--seed", "7", stdout=out)

    assert set(MemberType.objects.values_list("code", flat=True)) == {"IND", "STU", "RET"}
    assert Subscription.objects.count() == 81
    posted, ready = RenewalRun.objects.order_by("pk")
    assert posted.status == RenewalRun.Status.POSTED and posted.batch.status == "posted"
    assert posted.member_count > 0 and posted.items.filter(invoice__isnull=False).count() == posted.member_count
    assert ready.status == RenewalRun.Status.READY and ready.member_count > 0
    assert (
        ready.items.filter(reason="2 active subscriptions; expected exactly one").exists()
        or posted.items.filter(reason="2 active subscriptions; expected exactly one").exists()
    )
    paid = Subscription.objects.filter(paid_through__gt=datetime.date(2026, 3, 15) + datetime.timedelta(days=60))
    assert paid.exists()  # paying a run invoice advanced paid-through
    assert f"Membership: 3 member types, 81 subscriptions; renewal run {posted.pk} posted" in out.getvalue()
    report = verify_ledger()
    assert report.ok, report.format()
