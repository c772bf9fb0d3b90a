"""A renewal run whose build (the preview) was killed part-way: a real process building
the run is killed with SIGKILL before its commit (mid-way through the members, or with
everything written), then the build task runs again, as the broker hands it to another
worker. The run is built once: one batch, each member once, exact totals."""

import datetime
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from finance.ledger_check import verify_ledger
from finance.membership.models import RenewalItem, RenewalLine, RenewalRun, Subscription, Term
from finance.membership.renewals import renewal_run_post, renewal_run_start
from finance.membership.tasks import build_renewal_run
from finance.models import Batch, Invoice
from tests.membership.conftest import make_member

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
D = Decimal
DEC31 = datetime.date(2025, 12, 31)

# The worker: builds the run with the given engine and stops (sleeps) before the commit
# so that the test can kill it there. "sql": after both INSERT … SELECTs (everything
# written); "orm": mid-way, as the third billed member is about to be written.
KILLED_BUILD = """
import sys, time
import django
django.setup()
import finance.membership.renewals as renewals
from finance.membership.models import RenewalItem, RenewalRun
run_id, engine, marker = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def stop(what):
    open(marker, "w").write(what)
    time.sleep(300)

if engine == "sql":
    write_all = renewals._build_sql
    def build_sql(run):
        write_all(run)
        stop(str(RenewalItem.objects.filter(run=run).count()))
    renewals._build_sql = build_sql
else:
    real_term_end = renewals.term_end_for
    calls = []
    def term_end_for(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            stop(str(RenewalItem.objects.filter(run_id=run_id).count()))
        return real_term_end(*args, **kwargs)
    renewals.term_end_for = term_end_for
renewals.renewal_run_build(run=RenewalRun.objects.get(pk=run_id), engine=engine)
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


def _env() -> dict:
    s = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "paycentral.settings_test",
        "TEST_DATABASE_URL": f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
        "TEST_REDIS_URL": settings.TEST_REDIS_URL,
    }


def _figures(run: RenewalRun) -> tuple:
    return (run.status, run.member_count, run.skipped_count, run.line_count, run.total)


@pytest.mark.parametrize("engine", ["sql", "orm"])
def test_build_killed_before_commit__built_again_once(run, tmp_path, engine):
    marker = tmp_path / "stopped"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(run.pk), engine, str(marker)],
        cwd=ROOT,
        env=_env(),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the build did not reach the stopping point"
            time.sleep(0.1)
        # The worker had written items (7 when everything is written; mid-way: the
        # skipped member and two billed ones), none committed.
        written = int(marker.read_text())
        assert written == (7 if engine == "sql" else 3)
        run.refresh_from_db()
        assert run.status == RenewalRun.Status.CREATING and run.batch_id is None
        assert not RenewalItem.objects.exists() and not Batch.objects.exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()

    # What the killed worker left: a run still "creating", nothing else.
    run.refresh_from_db()
    assert run.status == RenewalRun.Status.CREATING
    assert not RenewalItem.objects.exists() and not RenewalLine.objects.exists() and not Batch.objects.exists()

    # The task again (redelivered): it waits for the killed worker's row lock to go
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
