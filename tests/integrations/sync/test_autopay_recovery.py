"""The autopay job killed part-way through a run of several invoices: a real process
running ``run_jobs("autopay")`` against the sandbox processor (over HTTP, the live
server) is killed with SIGKILL at the third invoice, either after the processor
answered and the payment was written but before the commit, or after the attempt and
its idempotency key were committed but before the charge was sent. Then the jobs run
again (autopay, the reconciler, the retries): every invoice is charged exactly once at
the processor and paid exactly once in the ledger, for exactly its amount."""

import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from finance.ledger_check import verify_ledger
from finance.models import Payment
from integrations.models import InvoiceSyncRecord, SyncAttempt
from integrations.services.sync.base import STALE_AFTER
from integrations.services.sync.jobs import run_jobs
from sandboxes.processor.models import SandboxCharge
from tests.child_process import child_env
from tests.integrations.sync.helpers import charges_of, invoice_with_method, payments_of

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]
D = Decimal
Outcome = SyncAttempt.Outcome
AMOUNTS = ["64.00", "120.50", "88.25", "19.99", "250.00", "33.10"]
KILLED_AT = 3  # the third invoice of the run

# The worker: one autopay run that stops (sleeps) at the third invoice so that the test
# can kill it there. "answered": the processor's answer is written (attempt succeeded,
# payment posted) but not committed; "before_charge": the attempt and its key are
# committed, the charge is not sent yet.
KILLED_AUTOPAY = """
import sys, time
import django
django.setup()
from integrations.services.sync import attempts, jobs
point, marker, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = []

def stop(attempt_id):
    open(marker, "w").write(str(attempt_id))
    time.sleep(300)

if point == "answered":
    real_apply = attempts.apply_result
    def apply_result(record, attempt, *args, **kwargs):
        real_apply(record, attempt, *args, **kwargs)
        calls.append(1)
        if len(calls) == at:
            stop(attempt.pk)
    attempts.apply_result = apply_result
else:
    real_send = attempts.attempt_send
    def attempt_send(attempt, **kwargs):
        calls.append(1)
        if len(calls) == at:
            stop(attempt.pk)
        return real_send(attempt, **kwargs)
    attempts.attempt_send = attempt_send
jobs.run_jobs("autopay")
"""


def _age(attempt: SyncAttempt, by) -> None:
    """Time passes for an attempt (as the reconciler's clock would see it)."""
    SyncAttempt.objects.filter(pk=attempt.pk).update(started_at=attempt.started_at - by)


@pytest.mark.parametrize("point", ["answered", "before_charge"])
def test_autopay_killed_mid_run__run_again__each_invoice_charged_and_paid_once(sync, tmp_path, point):
    records = [invoice_with_method(sync, "tok_visa", amount) for amount in AMOUNTS]
    marker = tmp_path / "stopped"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_AUTOPAY, point, str(marker), str(KILLED_AT)],
        cwd=ROOT,
        env=child_env(processor=True),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the autopay run did not reach the third invoice"
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()

    # What the killed run left: the first two invoices paid, the third's attempt
    # STARTED (its answer lost with the transaction), the others untouched.
    cut = records[KILLED_AT - 1]
    attempt = SyncAttempt.objects.get(record=cut)
    assert int(marker.read_text()) == attempt.pk
    deadline = time.monotonic() + 20
    while SyncAttempt.objects.get(pk=attempt.pk).outcome != Outcome.STARTED:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    paid = set(InvoiceSyncRecord.objects.filter(paid_in_ledger=True).values_list("pk", flat=True))
    assert paid == {r.pk for r in records[: KILLED_AT - 1]}
    assert not SyncAttempt.objects.filter(record__in=records[KILLED_AT:]).exists()
    charged_before = 1 if point == "answered" else 0
    assert len(charges_of(cut)) == charged_before  # at the processor, or never sent
    assert payments_of(cut) == []

    # The beat runs autopay again: the invoices not reached are charged; the one with an
    # attempt in flight is not charged again.
    assert run_jobs("autopay") == {"autopay_succeeded": len(AMOUNTS) - KILLED_AT}
    assert run_jobs("autopay") == {}
    assert SyncAttempt.objects.filter(record=cut).count() == 1
    assert run_jobs("reconcile") == {}  # fresh: left to its worker

    attempt.refresh_from_db()
    if point == "answered":
        # The reconciler asks the processor by the attempt's key and records the charge made
        # before the kill, once.
        _age(attempt, STALE_AFTER * 2)
        assert run_jobs("reconcile") == {"reconcile_found succeeded": 1}
        assert SyncAttempt.objects.filter(record=cut).count() == 1
    else:
        # The processor never got it: the customer's charges show none, so the reconciler
        # sends the same request with the attempt's own key, which charges once; never a
        # new attempt with a new key.
        _age(attempt, STALE_AFTER * 2)
        assert run_jobs("reconcile") == {"reconcile_resent succeeded": 1}
        (only,) = SyncAttempt.objects.filter(record=cut)
        assert (only.pk, only.outcome, only.sends) == (attempt.pk, Outcome.SUCCEEDED, 2)
        assert charges_of(cut)[0].idempotency_key == attempt.idempotency_key

    # Every job again: nothing more.
    for kind in ("autopay", "reconcile", "autopay"):
        assert run_jobs(kind) == {}
    assert not run_jobs("requests").get("retry_succeeded")

    for record, amount in zip(records, AMOUNTS, strict=True):
        record.refresh_from_db()
        (charge,) = charges_of(record)  # charged once at the processor
        (payment,) = payments_of(record)  # paid once in the ledger
        assert charge.amount == int(D(amount) * 100) and charge.status == SandboxCharge.Status.SUCCEEDED
        assert payment.amount == D(amount) and payment.processor_charge_id == charge.public_id
        assert record.paid_in_ledger and record.payment_id == payment.pk
        assert record.processor_transaction_id == charge.public_id and not record.has_error
        assert record.invoice.balance == D("0.00")
    assert SandboxCharge.objects.count() == Payment.objects.count() == len(AMOUNTS)
    assert sum(Payment.objects.values_list("amount", flat=True)) == sum(D(a) for a in AMOUNTS)
    report = verify_ledger()
    assert report.ok, report.format()
