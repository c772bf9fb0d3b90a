"""A Subscription API package whose worker (``process_subscription_package``) was killed
part-way, in the middle of an item's transaction: the items billed before it are kept,
the one being billed leaves nothing, and the task run again (a redelivery) bills the
rest, so that each item's invoice, term and payment exist exactly once and the ledger
checks clean."""

import datetime
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from finance.ledger_check import verify_ledger
from finance.membership.models import Subscription, SubscriptionPackage, SubscriptionPackageItem, Term
from finance.membership.packages import package_submit
from finance.membership.tasks import process_subscription_package
from finance.models import Batch, Invoice, Payment
from tests.child_process import child_env
from tests.db import advisory_lock_elsewhere
from tests.membership.conftest import make_member

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
D = Decimal
DEC31 = datetime.date(2025, 12, 31)
KILLED_ITEM = 1  # the second item of the package
Item = SubscriptionPackageItem.Status

# The worker: runs the task and stops (sleeps) inside the second item's transaction,
# once its term is billed ("billed") or once its payment is written too ("paid"), so
# that the test can kill it there.
KILLED_WORKER = """
import sys, time
import django
django.setup()
import finance.membership.packages as packages
from finance.membership.tasks import process_subscription_package
package_id, point, marker = int(sys.argv[1]), sys.argv[2], sys.argv[3]
name = {"billed": "term_bill", "paid": "pay_invoice"}[point]
real = getattr(packages, name)
calls = []
def stop_at_the_second(*args, **kwargs):
    result = real(*args, **kwargs)
    calls.append(1)
    if len(calls) == 2:
        open(marker, "w").write("written")
        time.sleep(300)
    return result
setattr(packages, name, stop_at_the_second)
process_subscription_package(package_id)
"""

# (party id, member type, pays by check): REG is 300.00, STU 50.00.
ITEMS = [("50001", "REG", True), ("50002", "REG", True), ("50003", "STU", False), ("50004", "REG", True)]


@pytest.fixture
def members(member_types):
    return {
        party: make_member(member_types[code], DEC31, party_id=party, name=f"Member {party}")[1]
        for party, code, _pays in ITEMS
    }


@pytest.fixture
def package(members, monkeypatch):
    """Submitted; its processing (queued on commit) is left to the worker killed below."""
    monkeypatch.setattr(process_subscription_package, "delay", lambda *args, **kwargs: None)
    items = [
        {
            "party_id": party,
            "member_type": code,
            "term_begin": datetime.date(2026, 1, 1),
            "term_end": datetime.date(2026, 12, 31),
            "amount": None,
            "payment": {"method": "CHECK", "reference": f"chk-{party}"} if pays else None,
        }
        for party, code, pays in ITEMS
    ]
    package, created = package_submit(key="portal-kill-1", invoice_date=datetime.date(2026, 1, 5), items=items)
    assert created
    return package


def _membership_invoices(party: str):
    return Invoice.objects.filter(bill_to__party_id=party, type=Invoice.Type.MEMBERSHIP)


def _item_statuses(package) -> list[str]:
    return list(package.items.order_by("position").values_list("status", flat=True))


def _kill_in_the_second_item(package, tmp_path, point):
    marker = tmp_path / "written"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, str(package.pk), point, str(marker)],
        cwd=ROOT,
        env=child_env(),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker did not reach the second item"
            time.sleep(0.1)
        package.refresh_from_db()
        assert package.status == SubscriptionPackage.Status.PROCESSING
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()

    # What the killed worker left: the first item billed and paid (committed), the
    # second's invoice, term and payment gone with its transaction, the rest untouched;
    # the package still "processing".
    assert _item_statuses(package) == [Item.CREATED, Item.PENDING, Item.PENDING, Item.PENDING]
    package.refresh_from_db()
    assert package.status == SubscriptionPackage.Status.PROCESSING and package.batch_id
    assert _membership_invoices("50001").count() == 1 and Term.objects.count() == 1
    assert not _membership_invoices("50002").exists() and not Payment.objects.filter(payer__party_id="50002").exists()


@pytest.mark.parametrize("point", ["billed", "paid"])
def test_package_task_killed_mid_item__run_again__each_item_billed_and_paid_once(package, members, tmp_path, point):
    _kill_in_the_second_item(package, tmp_path, point)

    # The broker hands the task to a worker again (acks_late): the rest is billed once.
    result = process_subscription_package(package.pk)
    assert result == {"id": package.pk, "status": SubscriptionPackage.Status.DONE, "created": 4, "errors": 0}
    again = process_subscription_package(package.pk)  # and again: nothing more
    assert again["status"] == SubscriptionPackage.Status.DONE and again["created"] == 4
    assert _item_statuses(package) == [Item.CREATED] * len(ITEMS)
    _assert_each_item_billed_once(package, members)


def _assert_each_item_billed_once(package, members):
    package.refresh_from_db()
    batch = Batch.objects.get(pk=package.batch_id)
    for party, code, pays in ITEMS:
        sub = members[party]
        (invoice,) = _membership_invoices(party)  # one invoice per item
        (term,) = Term.objects.filter(subscription=sub)  # one term
        assert term.invoice_id == invoice.pk and term.term_end == datetime.date(2026, 12, 31)
        assert invoice.batch_id == batch.pk and invoice.total == (D("300.00") if code == "REG" else D("50.00"))
        assert Subscription.objects.filter(contact__party_id=party).count() == 1
        item = package.items.get(party_id=party)
        assert item.invoice_numbers == invoice.number
        payments = list(Payment.objects.filter(payer__party_id=party))
        if pays:
            (payment,) = payments  # paid once
            assert payment.amount == invoice.total and payment.reference == f"chk-{party}"
            assert payment.batch_id == batch.pk and invoice.balance == D("0.00")
        else:
            assert payments == [] and invoice.balance == invoice.total
    assert Invoice.objects.filter(type=Invoice.Type.MEMBERSHIP).count() == Term.objects.count() == len(ITEMS)
    assert Payment.objects.count() == 3
    assert Batch.objects.filter(description__startswith="Subscription API package").count() == 1
    report = verify_ledger()
    assert report.ok, report.format()


def test_package_task_killed__never_redelivered__sending_the_package_again_finishes_it(
    package, members, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    """No redelivery (the message is gone with the worker): the client sends the same
    package (key and content) again, as an API client retries; that queues its
    processing once more and the rest is billed once."""
    _kill_in_the_second_item(package, tmp_path, "paid")
    queued = []
    monkeypatch.setattr(process_subscription_package, "delay", lambda package_id: queued.append(package_id))
    items = [
        {
            "party_id": party,
            "member_type": code,
            "term_begin": datetime.date(2026, 1, 1),
            "term_end": datetime.date(2026, 12, 31),
            "amount": None,
            "payment": {"method": "CHECK", "reference": f"chk-{party}"} if pays else None,
        }
        for party, code, pays in ITEMS
    ]
    with django_capture_on_commit_callbacks(execute=True):
        again, created = package_submit(key="portal-kill-1", invoice_date=datetime.date(2026, 1, 5), items=items)
    assert (again.pk, created, queued) == (package.pk, False, [package.pk])
    process_subscription_package(package.pk)  # what the worker does with the queued message
    assert _item_statuses(package) == [Item.CREATED] * len(ITEMS)
    _assert_each_item_billed_once(package, members)

    # Once done, sending it again queues nothing.
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        package_submit(key="portal-kill-1", invoice_date=datetime.date(2026, 1, 5), items=items)
    assert queued == []


def test_package_task_killed__never_sent_again__the_recovery_queues_it_once(package, members, tmp_path, monkeypatch):
    """Neither a redelivery nor a client retry: the beat's recovery finds the package
    not done, old enough and with no run holding its lock, and queues it again."""
    from finance.membership.packages import STALE_AFTER, packages_recover
    from finance.membership.tasks import recover_subscription_packages

    _kill_in_the_second_item(package, tmp_path, "billed")
    queued = []
    monkeypatch.setattr(process_subscription_package, "delay", lambda package_id: queued.append(package_id))
    assert packages_recover() == [] and queued == []  # submitted just now: maybe still in the queue
    later = package.created_at + STALE_AFTER + datetime.timedelta(minutes=1)
    assert packages_recover(now=later) == [package.pk] and queued == [package.pk]
    process_subscription_package(package.pk)  # the worker takes the queued message
    _assert_each_item_billed_once(package, members)
    queued.clear()
    assert packages_recover(now=later) == [] and queued == []  # done: nothing more
    assert recover_subscription_packages() == {"queued": []}


def test_package_recovery__leaves_a_package_whose_run_holds_the_lock(package, members, monkeypatch):
    """A run still processing (its session holds the package's lock) is not queued
    again, and a second run meanwhile leaves the package to it."""
    from finance.membership.packages import LOCK_PACKAGE, STALE_AFTER, package_process, packages_recover

    queued = []
    monkeypatch.setattr(process_subscription_package, "delay", lambda package_id: queued.append(package_id))
    later = package.created_at + STALE_AFTER + datetime.timedelta(minutes=1)
    with advisory_lock_elsewhere(LOCK_PACKAGE, package.pk):
        assert packages_recover(now=later) == [] and queued == []
        assert package_process(package_id=package.pk, wait=0.3).status == SubscriptionPackage.Status.QUEUED
        assert _item_statuses(package) == [Item.PENDING] * len(ITEMS)
    # The run released its lock: now it is queued again.
    assert packages_recover(now=later) == [package.pk] and queued == [package.pk]


def test_package_recovery__runs_from_beat():
    schedule = settings.CELERY_BEAT_SCHEDULE["subscription-package-recovery"]
    assert schedule["task"] == "membership.recover_subscription_packages"
    from paycentral.celery import app

    assert "membership.recover_subscription_packages" in app.tasks
