"""A renewal run whose posting worker was killed: nothing was written, and the run is
posted again, once."""

import datetime
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finance.errors import FinanceError
from finance.ledger_check import verify_ledger
from finance.membership.models import RenewalRun, Term
from finance.membership.renewals import (
    LOCK_RENEWAL_POST,
    renewal_run_build,
    renewal_run_post,
    renewal_run_start,
)
from finance.models import Batch, Invoice
from tests.child_process import child_env
from tests.db import advisory_lock_elsewhere
from tests.membership.conftest import make_member

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
DEC31 = datetime.date(2025, 12, 31)

# The worker: posts the run and stops (sleeps) after everything is written, before the
# commit, so that the test can kill it there.
KILLED_WORKER = """
import sys, time
import django
django.setup()
import finance.membership.renewals as renewals
from finance.membership.models import RenewalRun
write_all = renewals.posting._post_sql
def stop_before_commit(*args, **kwargs):
    credit = write_all(*args, **kwargs)
    open(sys.argv[2], "w").write("written")
    time.sleep(300)
    return credit
renewals.posting._post_sql = stop_before_commit
renewals.renewal_run_post(run=RenewalRun.objects.get(pk=int(sys.argv[1])))
"""


@pytest.fixture
def run(member_types):
    for n in range(3):
        make_member(member_types["REG"], DEC31, name=f"Member {n}", sort_name=f"Member {n}")
    started = renewal_run_start(
        effective_date=datetime.date(2026, 1, 1),
        invoice_date=datetime.date(2025, 12, 1),
        paid_through_from=datetime.date(2025, 11, 1),
        paid_through_to=DEC31,
    )
    return renewal_run_build(run=started)


def test_worker_killed_while_posting__nothing_written__posted_again_once(run, tmp_path):
    marker = tmp_path / "written"
    env = child_env()
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, str(run.pk), str(marker)], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker did not reach the commit"
            time.sleep(0.1)
        # Written, not committed, the worker alive: "posting", and a second post refused.
        run.refresh_from_db()
        assert run.status == RenewalRun.Status.POSTING
        with pytest.raises(FinanceError, match="is posting; it cannot be posted"):
            renewal_run_post(run=run)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()
    # The server rolls the worker's transaction back and frees its lock as the connection
    # closes (a moment after the kill); until then a post is refused.
    assert not Invoice.objects.filter(type=Invoice.Type.MEMBERSHIP).exists() and not Term.objects.exists()
    deadline = time.monotonic() + 20
    while True:
        try:
            posted = renewal_run_post(run=run)
            break
        except FinanceError as exc:
            assert "is posting" in str(exc)
            assert time.monotonic() < deadline, "the killed worker's posting was never released"
            time.sleep(0.2)
    assert posted.status == RenewalRun.Status.POSTED and "interrupted" in posted.message
    assert Invoice.objects.filter(type=Invoice.Type.MEMBERSHIP).count() == 3 and Term.objects.count() == 3
    assert Batch.objects.get(pk=posted.batch_id).status == Batch.Status.POSTED
    assert renewal_run_post(run=posted).status == RenewalRun.Status.POSTED  # again: nothing more
    assert Invoice.objects.filter(type=Invoice.Type.MEMBERSHIP).count() == 3
    assert verify_ledger().ok


def test_a_live_posting_elsewhere_is_left_alone(run):
    RenewalRun.objects.filter(pk=run.pk).update(status=RenewalRun.Status.POSTING)
    with advisory_lock_elsewhere(LOCK_RENEWAL_POST, run.pk):  # a live posting's lock
        with pytest.raises(FinanceError, match="is posting; it cannot be posted"):
            renewal_run_post(run=run)
        run.refresh_from_db()
        assert run.status == RenewalRun.Status.POSTING
    assert not Invoice.objects.filter(type=Invoice.Type.MEMBERSHIP).exists()
    # The other posting let go of its lock: the run is taken over and posted once.
    assert renewal_run_post(run=run).status == RenewalRun.Status.POSTED
    assert Invoice.objects.filter(type=Invoice.Type.MEMBERSHIP).count() == 3
