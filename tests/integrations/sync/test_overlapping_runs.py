"""Two runs of a charge job at once never make two attempts for one invoice.

A job reads its list of due invoices before it locks any of them, so a run can reach an
invoice that another run has charged since. Under the record's lock ``attempt_start``
checks again everything that made the invoice due: autopay charges an invoice never
charged, a retry is made only while ``next_attempt_at`` is due.

The process tests start two real processes running the same job against the sandbox
over HTTP. Each reads its list, says so in a file and waits on a PostgreSQL advisory
lock the test holds; the test releases it once both have their lists, so both work from
lists read before either charged anything. The second run walks its list from the other
end, so it reaches invoices the first has finished with, not only ones still in flight.
"""

import json
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from finance.ledger_check import verify_ledger
from finance.models import PaymentHandlingMode as Mode
from integrations.models import InvoiceSyncRecord, SyncAttempt
from integrations.services.sync.attempts import charge_invoice
from integrations.services.sync.jobs import run_jobs
from tests.child_process import child_env
from tests.integrations.sync.helpers import charges_of, invoice_with_method, payments_of

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]
Outcome = SyncAttempt.Outcome
INVOICES = 8

# One run of a job whose list of due invoices is read, written to a file, and then held
# until the test releases the advisory lock. "reversed": walk the list from the end.
OVERLAPPING_RUN = """
import json, os, sys
import django
django.setup()
from django.db import connection
from integrations.services.sync import jobs
job, ready, lock_key, order = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
name = "records_for_autopay" if job == "autopay" else "records_due_for_retry"
read_list = getattr(jobs, name)

def listed_then_held(*args, **kwargs):
    ids = list(read_list(*args, **kwargs))
    with open(ready + ".tmp", "w") as out:
        json.dump(ids, out)
    os.replace(ready + ".tmp", ready)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock_shared(%s)", [lock_key])
        cursor.execute("SELECT pg_advisory_unlock_shared(%s)", [lock_key])
    return ids[::-1] if order == "reversed" else ids

setattr(jobs, name, listed_then_held)
print(json.dumps(jobs.run_jobs(job)))
"""


def _run_twice_at_once(job: str, tmp_path) -> tuple[list[list[int]], list[dict]]:
    """Run ``job`` in two processes that start charging at the same moment; returns the
    list each read and the counts each reported."""
    lock_key = random.randint(1, 2**31 - 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [lock_key])
    runs = []
    try:
        for n, order in enumerate(("listed", "reversed")):
            ready, out, err = (tmp_path / f"{job}-{n}.{ext}" for ext in ("ready", "out", "err"))
            with out.open("w") as stdout, err.open("w") as stderr:
                child = subprocess.Popen(
                    [sys.executable, "-c", OVERLAPPING_RUN, job, str(ready), str(lock_key), order],
                    cwd=ROOT,
                    env=child_env(processor=True, LOG_LEVEL="WARNING"),
                    stdout=stdout,
                    stderr=stderr,
                )
            runs.append((child, ready, out, err))
        deadline = time.monotonic() + 120
        while not all(ready.exists() for _child, ready, _out, _err in runs):
            for child, _ready, _out, err in runs:
                assert child.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the runs did not read their lists"
            time.sleep(0.05)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key])
        for child, *_ in runs:
            try:
                child.wait(timeout=120)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    for child, _ready, _out, err in runs:
        assert child.returncode == 0, err.read_text()
    lists = [json.loads(ready.read_text()) for _child, ready, _out, _err in runs]
    counts = [json.loads(out.read_text().strip().splitlines()[-1]) for _child, _ready, out, _err in runs]
    return lists, counts


def _declining_invoices(sync, mode=Mode.DEFAULT) -> list[InvoiceSyncRecord]:
    records = [invoice_with_method(sync, "tok_visa_declined", f"{40 + n}.00", mode=mode) for n in range(INVOICES)]
    run_jobs("requests")  # their payment requests, so that the runs below only charge
    return records


def _attempts(record) -> list[SyncAttempt]:
    return list(SyncAttempt.objects.filter(record=record).order_by("number"))


def test_two_autopay_runs_at_once__one_attempt_per_invoice(sync, tmp_path):
    records = _declining_invoices(sync)

    lists, counts = _run_twice_at_once("autopay", tmp_path)

    assert [sorted(ids) for ids in lists] == [sorted(r.pk for r in records)] * 2  # both saw every invoice
    assert sum(c.get("autopay_failed", 0) for c in counts) == INVOICES
    for record in records:
        record.refresh_from_db()
        (attempt,) = _attempts(record)
        assert (attempt.outcome, attempt.trigger) == (Outcome.FAILED, "autopay")
        assert len(charges_of(record)) == 1 and record.retries == 1
        assert record.next_attempt_at is not None  # its retries follow their schedule
    report = verify_ledger()
    assert report.ok, report.format()


@pytest.mark.parametrize("mode", [Mode.DEFAULT, Mode.OVERRIDE_RETRY_LIMIT])
def test_two_retry_runs_at_once__one_new_attempt_per_invoice(sync, settings, tmp_path, mode):
    settings.INVOICE_SYNC_RETRY_BASE_SECONDS = 3600  # as in the runs: a retry is due an hour on
    records = _declining_invoices(sync, mode=mode)
    assert run_jobs("autopay") == {"autopay_failed": INVOICES}
    InvoiceSyncRecord.objects.filter(pk__in=[r.pk for r in records]).update(
        next_attempt_at=timezone.now() - timedelta(minutes=1)
    )

    lists, counts = _run_twice_at_once("requests", tmp_path)

    assert [sorted(ids) for ids in lists] == [sorted(r.pk for r in records)] * 2
    assert sum(c.get("retry_failed", 0) for c in counts) == INVOICES
    for record in records:
        record.refresh_from_db()
        attempts = _attempts(record)
        assert [(a.number, a.trigger, a.outcome) for a in attempts] == [
            (1, "autopay", Outcome.FAILED),
            (2, "retry", Outcome.FAILED),
        ]
        assert len(charges_of(record)) == 2 and record.retries == 2
        assert record.next_attempt_at > timezone.now()  # the next one is scheduled, not made
    report = verify_ledger()
    assert report.ok, report.format()


def test_autopay_reaching_an_invoice_another_run_charged__not_charged_again(sync, processor):
    """A run whose list is stale: the invoice was charged (and declined) since it was read."""
    record = invoice_with_method(sync, "tok_visa_declined", "30.00")

    assert charge_invoice(record.pk, trigger="autopay") == Outcome.FAILED
    assert charge_invoice(record.pk, trigger="autopay") == "skipped"

    assert len(_attempts(record)) == 1 and len(charges_of(record)) == 1
    assert payments_of(record) == []


def test_retry_reaching_an_invoice_no_longer_due__not_charged(sync, processor):
    """A retry run whose list is stale: the invoice's next attempt was rescheduled (or
    its mode changed) since it was read."""
    record = invoice_with_method(sync, "tok_visa_declined", "30.00")
    assert charge_invoice(record.pk, trigger="autopay") == Outcome.FAILED

    InvoiceSyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    assert charge_invoice(record.pk, trigger="retry") == "skipped"
    InvoiceSyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=None)
    assert charge_invoice(record.pk, trigger="retry") == "skipped"

    InvoiceSyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())
    assert charge_invoice(record.pk, trigger="retry") == Outcome.FAILED
    assert len(_attempts(record)) == 2 and len(charges_of(record)) == 2
