"""A renewal run whose build (the preview) was killed part-way: a real process building
the run is killed with SIGKILL before its commit (mid-way through the members, or with
everything written). Either the build task runs again, as the broker hands it to another
worker, or (no redelivery: the filesystem broker, Redis before its visibility timeout)
the recovery finds the run "creating" with no build running and queues the build once;
a second interruption leaves the run failed, for staff to delete or build again. The
run is built once: one batch, each member once, exact totals."""

import datetime
import html
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from core.models import Module
from finance.errors import FinanceError
from finance.ledger_check import verify_ledger
from finance.membership.models import RenewalItem, RenewalLine, RenewalRun, Subscription, Term
from finance.membership.renewals import (
    BUILD_FAILED_TWICE,
    BUILT_AGAIN,
    INTERRUPTED_BUILD,
    LOCK_RENEWAL_BUILD,
    renewal_run_build,
    renewal_run_delete,
    renewal_run_post,
    renewal_run_recover_build,
    renewal_run_start,
    renewal_runs_recover_builds,
)
from finance.membership.tasks import build_renewal_run, recover_renewal_builds
from finance.models import Batch, Invoice
from tests.child_process import child_env
from tests.db import advisory_lock_elsewhere
from tests.membership.conftest import make_member

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
D = Decimal
DEC31 = datetime.date(2025, 12, 31)

# The worker: builds the run and stops (sleeps) before the commit, after both
# INSERT … SELECTs (everything written), so that the test can kill it there.
KILLED_BUILD = """
import sys, time
import django
django.setup()
import finance.membership.renewals as renewals
from finance.membership.models import RenewalItem, RenewalRun
run_id, marker = int(sys.argv[1]), sys.argv[2]

write_all = renewals.build._build_sql
def build_sql(run):
    write_all(run)
    open(marker, "w").write(str(RenewalItem.objects.filter(run=run).count()))
    time.sleep(300)
renewals.build._build_sql = build_sql
renewals.renewal_run_build(run=RenewalRun.objects.get(pk=run_id))
"""


@pytest.fixture
def run(member_types):
    """Four regular members (300.00, three lines), two students (50.00, one line) and
    a lapsed member (skipped)."""
    for n in range(4):
        make_member(member_types["REG"], DEC31, name=f"Reg {n}", sort_name=f"Reg {n}")
    for n in range(2):
        make_member(member_types["STU"], datetime.date(2025, 11, 30), name=f"Stu {n}", sort_name=f"Stu {n}")
    make_member(member_types["REG"], DEC31, status=Subscription.Status.LAPSED, name="Lee Lapsed", sort_name="Lapsed")
    return renewal_run_start(
        effective_date=datetime.date(2026, 1, 1),
        invoice_date=datetime.date(2025, 12, 1),
        paid_through_from=datetime.date(2025, 11, 1),
        paid_through_to=DEC31,
    )


def _figures(run: RenewalRun) -> tuple:
    return (run.status, run.member_count, run.skipped_count, run.line_count, run.total)


BUILT = (RenewalRun.Status.READY, 6, 1, 4 * 3 + 2 * 1, D("1300.00"))


def _assert_built_once(run: RenewalRun):
    run.refresh_from_db()
    assert _figures(run) == BUILT
    assert RenewalItem.objects.filter(run=run).count() == 7
    assert RenewalItem.objects.filter(run=run, skipped=False).values("subscription").distinct().count() == 6
    assert RenewalLine.objects.filter(item__run=run).count() == 14
    assert list(Batch.objects.values_list("pk", "status")) == [(run.batch_id, Batch.Status.OPEN)]


def _assert_nothing_written():
    assert not RenewalItem.objects.exists() and not RenewalLine.objects.exists() and not Batch.objects.exists()


@pytest.fixture
def queued(monkeypatch):
    """Build tasks sent by the recovery or the pages (after commit), by run id; none is
    delivered: the test delivers them by calling ``build_renewal_run``."""
    sent: list[int] = []
    monkeypatch.setattr(build_renewal_run, "delay", sent.append)
    return sent


def _kill_build(run: RenewalRun, tmp_path, while_running=None):
    """A real worker builds the run and is SIGKILLed before its commit; ``while_running``
    is called while it is stopped there, alive, holding the build lock."""
    marker = tmp_path / f"stopped-{time.monotonic_ns()}"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(run.pk), str(marker)],
        cwd=ROOT,
        env=child_env(),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text()):
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the build did not reach the stopping point"
            time.sleep(0.1)
        assert int(marker.read_text()) == 7
        if while_running is not None:
            # Anything that waits on the build's row locks fails rather than hangs.
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '5s'")
            try:
                while_running()
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("RESET lock_timeout")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()


def _recover_once_the_lock_is_gone(run: RenewalRun) -> RenewalRun:
    """The server frees the killed worker's lock as its connection closes, a moment after
    the kill; until then the recovery leaves the run alone."""
    deadline = time.monotonic() + 20
    while (recovered := renewal_run_recover_build(run=run)) is None:
        assert time.monotonic() < deadline, "the killed build was never taken as stopped"
        time.sleep(0.2)
    return recovered


def _page(client, run: RenewalRun) -> str:
    return html.unescape(client.get(reverse("membership:run_detail", args=[run.pk])).content.decode())


def test_build_killed_before_commit__built_again_once(run, tmp_path):
    def while_running():
        # Written, none committed (the marker held the count: 7, everything written).
        run.refresh_from_db()
        assert run.status == RenewalRun.Status.CREATING and run.batch_id is None
        assert not RenewalItem.objects.exists() and not Batch.objects.exists()

    _kill_build(run, tmp_path, while_running)

    # What the killed worker left: a run still "creating", nothing else.
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.CREATING
    assert not RenewalItem.objects.exists() and not RenewalLine.objects.exists() and not Batch.objects.exists()

    # The task again (redelivered): it waits for the killed worker's build lock to go
    # with its connection, then builds the run once.
    result = build_renewal_run(run.pk)
    assert result == {"id": run.pk, "status": RenewalRun.Status.READY, "members": 6, "skipped": 1}
    run.refresh_from_db()
    assert _figures(run) == (RenewalRun.Status.READY, 6, 1, 4 * 3 + 2 * 1, D("1300.00"))
    assert RenewalItem.objects.filter(run=run).count() == 7
    assert RenewalItem.objects.filter(run=run, skipped=False).values("subscription").distinct().count() == 6
    assert RenewalLine.objects.filter(item__run=run).count() == 14
    assert list(Batch.objects.values_list("pk", "status")) == [(run.batch_id, Batch.Status.OPEN)]

    # Once more: a built run is left as it is.
    assert build_renewal_run(run.pk)["status"] == RenewalRun.Status.READY
    run.refresh_from_db()
    assert _figures(run) == (RenewalRun.Status.READY, 6, 1, 14, D("1300.00"))
    assert RenewalItem.objects.count() == 7 and RenewalLine.objects.count() == 14 and Batch.objects.count() == 1

    # And it posts each member's invoice once.
    posted = renewal_run_post(run=run)
    assert posted.status == RenewalRun.Status.POSTED
    invoices = Invoice.objects.filter(type=Invoice.Type.MEMBERSHIP)
    assert invoices.count() == 6 and Term.objects.count() == 6
    assert sorted(invoices.values_list("total", flat=True)) == [D("50.00")] * 2 + [D("300.00")] * 4
    assert verify_ledger().ok


def test_build_killed__not_redelivered__recovery_builds_it_again_once(run, tmp_path, queued):
    def while_running():
        # The build is alive (its lock held): the recovery, periodic or from the page,
        # leaves the run alone, and it cannot be deleted under the build.
        assert renewal_run_recover_build(run=run) is None
        assert recover_renewal_builds() == {"recovered": []}
        with pytest.raises(FinanceError, match="is being built"):
            renewal_run_delete(run=run)
        assert queued == []
        run.refresh_from_db()
        assert run.status == RenewalRun.Status.CREATING and run.build_started_at is not None

    _kill_build(run, tmp_path, while_running)
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.CREATING
    _assert_nothing_written()

    # No redelivery. The recovery finds the build stopped: the build is queued once.
    recovered = _recover_once_the_lock_is_gone(run)
    assert (recovered.status, recovered.message) == (RenewalRun.Status.CREATING, INTERRUPTED_BUILD)
    assert queued == [run.pk]
    # Again, from the beat job and the page: the queued build is on its way; nothing more.
    assert renewal_run_recover_build(run=run) is None
    assert recover_renewal_builds() == {"recovered": []}
    assert renewal_runs_recover_builds() == []
    assert queued == [run.pk]
    _assert_nothing_written()

    # The queued build is delivered: built once.
    assert build_renewal_run(queued[0])["status"] == RenewalRun.Status.READY
    _assert_built_once(run)
    assert run.message == BUILT_AGAIN
    assert renewal_run_recover_build(run=run) is None and queued == [run.pk]
    assert build_renewal_run(run.pk)["status"] == RenewalRun.Status.READY  # redelivered late: nothing more
    _assert_built_once(run)

    posted = renewal_run_post(run=run)
    assert posted.status == RenewalRun.Status.POSTED
    invoices = Invoice.objects.filter(type=Invoice.Type.MEMBERSHIP)
    assert invoices.count() == 6 and Term.objects.count() == 6
    assert sorted(invoices.values_list("total", flat=True)) == [D("50.00")] * 2 + [D("300.00")] * 4
    assert verify_ledger().ok


def test_rebuild_killed_too__failed__staff_delete_it_from_the_page(
    run, tmp_path, queued, client, membership_manager, staff_user, grant
):
    _kill_build(run, tmp_path)
    assert _recover_once_the_lock_is_gone(run).message == INTERRUPTED_BUILD
    assert queued == [run.pk]
    # The queued build is killed as well (delivered, then the worker dies).
    _kill_build(run, tmp_path)
    failed = _recover_once_the_lock_is_gone(run)
    assert (failed.status, failed.message) == (RenewalRun.Status.FAILED, BUILD_FAILED_TWICE)
    assert queued == [run.pk]  # not queued a second time
    assert renewal_run_recover_build(run=run) is None and recover_renewal_builds() == {"recovered": []}
    _assert_nothing_written()

    # Membership 3 sees it, and can neither delete nor build it again.
    grant(staff_user, Module.MEMBERSHIP, 3)
    client.force_login(staff_user)
    page = _page(client, run)
    assert BUILD_FAILED_TWICE in page and "Delete run" not in page and "Build preview again" not in page
    assert client.post(reverse("membership:run_delete", args=[run.pk])).status_code == 403
    assert client.post(reverse("membership:run_rebuild", args=[run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.FAILED

    # Membership 4 deletes it.
    client.force_login(membership_manager)
    page = _page(client, run)
    assert "Delete run" in page and "Build preview again" in page and 'hx-trigger="every 1s"' not in page
    client.post(reverse("membership:run_delete", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.DELETED
    # A build task delivered late builds nothing.
    assert build_renewal_run(run.pk)["status"] == RenewalRun.Status.DELETED
    _assert_nothing_written()
    assert queued == [run.pk]


def _stopped_build(run: RenewalRun, **fields) -> RenewalRun:
    """The run as a build that began and stopped leaves it: "creating", begun, lock free."""
    RenewalRun.objects.filter(pk=run.pk).update(build_started_at=timezone.now(), **fields)
    run.refresh_from_db()
    return run


def test_failed_build__staff_build_it_again_from_the_page__built_once(run, queued, client, membership_manager):
    _stopped_build(run, message=INTERRUPTED_BUILD)  # the second build stopped too
    client.force_login(membership_manager)
    # Opening the page runs the recovery: the run is failed, with its actions.
    page = _page(client, run)
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.FAILED and BUILD_FAILED_TWICE in page and "Build preview again" in page
    assert queued == []

    client.post(reverse("membership:run_rebuild", args=[run.pk]))
    run.refresh_from_db()
    assert (run.status, run.message, run.build_started_at) == (RenewalRun.Status.CREATING, "", None)
    assert queued == [run.pk]
    # Building it again twice is refused the second time: one build queued.
    client.post(reverse("membership:run_rebuild", args=[run.pk]))
    assert queued == [run.pk]
    page = _page(client, run)
    assert 'hx-trigger="every 1s"' in page and queued == [run.pk]  # queued, on its way: left alone

    build_renewal_run(queued[0])
    _assert_built_once(run)
    assert run.message == ""


def test_progress_panel__recovers_a_stopped_build_and_refreshes_when_failed(run, queued, client, membership_manager):
    _stopped_build(run)
    client.force_login(membership_manager)
    panel = client.get(reverse("membership:run_progress", args=[run.pk]))
    assert "HX-Refresh" not in panel and queued == [run.pk]  # built again: still busy
    page = _page(client, run)
    assert INTERRUPTED_BUILD in page and "Delete run" in page  # it may be deleted instead
    _stopped_build(run)  # that build stopped too
    panel = client.get(reverse("membership:run_progress", args=[run.pk]))
    assert panel["HX-Refresh"] == "true" and queued == [run.pk]
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.FAILED


def test_a_stopped_build_queued_again_can_be_deleted_instead(run, queued, client, membership_manager):
    _stopped_build(run)
    client.force_login(membership_manager)
    page = _page(client, run)  # recovered as the page opens: queued again, with a delete button
    assert INTERRUPTED_BUILD in page and "Delete run" in page and queued == [run.pk]
    client.post(reverse("membership:run_delete", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.DELETED
    assert build_renewal_run(queued[0])["status"] == RenewalRun.Status.DELETED  # the queued build: nothing
    _assert_nothing_written()


def test_recovery_leaves_a_running_build_alone(run, queued):
    _stopped_build(run)
    with advisory_lock_elsewhere(LOCK_RENEWAL_BUILD, run.pk):  # a live build's lock
        for _ in range(2):
            assert renewal_run_recover_build(run=run, stale_after=datetime.timedelta(0)) is None
            assert renewal_runs_recover_builds(stale_after=datetime.timedelta(0)) == []
        with pytest.raises(FinanceError, match="is being built"):
            renewal_run_delete(run=run)
        # The same build redelivered meanwhile waits for the lock, then leaves the run to it.
        assert renewal_run_build(run=run, wait=0.5).status == RenewalRun.Status.CREATING
        run.refresh_from_db()
        assert (run.status, run.message) == (RenewalRun.Status.CREATING, "")
        assert queued == []
        _assert_nothing_written()
    # The other build let go of its lock without finishing: the build stopped; queued once.
    assert renewal_run_recover_build(run=run).message == INTERRUPTED_BUILD
    assert renewal_run_recover_build(run=run) is None
    assert queued == [run.pk]


def test_a_build_queued_and_not_begun_is_left_to_its_task(run, queued):
    # Just created, its task waiting for a worker: not stopped.
    assert renewal_run_recover_build(run=run) is None and queued == []
    # Queued longer ago than the stale-after age and never begun: the task was lost.
    RenewalRun.objects.filter(pk=run.pk).update(build_queued_at=timezone.now() - datetime.timedelta(hours=2))
    assert renewal_run_recover_build(run=run).message == INTERRUPTED_BUILD
    assert renewal_run_recover_build(run=run) is None
    assert queued == [run.pk]
    build_renewal_run(run.pk)
    _assert_built_once(run)


def test_concurrent_recoveries_queue_one_build(run, queued):
    RenewalRun.objects.filter(pk=run.pk).update(build_started_at=timezone.now() - datetime.timedelta(hours=2))
    n = 4
    barrier = threading.Barrier(n)
    results: list = []

    def recover():
        try:
            barrier.wait(timeout=10)
            results.append(renewal_run_recover_build(run=run, stale_after=datetime.timedelta(minutes=30)))
        finally:
            connection.close()

    threads = [threading.Thread(target=recover) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == n
    assert [r.message for r in results if r is not None] == [INTERRUPTED_BUILD]
    assert queued == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.build_started_at) == (RenewalRun.Status.CREATING, None)


def test_the_recovery_runs_from_celery_beat():
    from paycentral.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["renewal-build-recovery"]
    assert entry["task"] == recover_renewal_builds.name and entry["task"] in app.tasks
