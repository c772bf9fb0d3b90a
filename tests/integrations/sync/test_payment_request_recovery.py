"""The payment-request job (``create_payment_requests``) killed between the processor's
answer and the local record: a real process runs the task against the sandbox processor
(over HTTP, the live server) and is killed with SIGKILL once the processor has made the
second payment request of the run, before the record says so (with the requests sent
one at a time, and side by side). Then the task runs again
(a redelivery, or the beat's next run) and the poller after it: each invoice has exactly
one payment request at the processor, recorded once on its sync record."""

import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from integrations import tasks
from integrations.models import InvoiceSyncRecord, ProcessorStatus
from integrations.services.sync.jobs import run_jobs
from sandboxes.processor.models import SandboxPaymentRequest
from tests.child_process import child_env
from tests.integrations.sync.helpers import invoice_with_method

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]
D = Decimal
AMOUNTS = ["64.00", "120.50", "88.25", "19.99"]
KILLED_AT = 2  # the second invoice of the run

# The worker: one run of the task that stops (sleeps) once the processor has answered
# the second payment request, before the record is updated, so that the test can kill
# it there.
KILLED_WORKER = """
import json, sys, threading, time
import django
django.setup()
from django.conf import settings
from integrations import tasks
from processors.sandbox import SandboxProcessor
ids, marker, at = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
settings.INVOICE_SYNC_REQUEST_CONCURRENCY = int(sys.argv[4])
real = SandboxProcessor.create_payment_request
calls = []
lock = threading.Lock()
def create_then_stop(self, spec):
    result = real(self, spec)
    with lock:
        calls.append(1)
        n = len(calls)
    if n == at:
        open(marker, "w").write(result.processor_id)
        time.sleep(300)
    return result
SandboxProcessor.create_payment_request = create_then_stop
tasks.create_payment_requests(ids)
"""


def _requests_of(record) -> list[SandboxPaymentRequest]:
    return list(SandboxPaymentRequest.objects.filter(metadata__sync_record=str(record.pk)))


@pytest.mark.parametrize(("again", "concurrency"), [("redelivered", 1), ("beat", 1), ("redelivered", 4), ("beat", 4)])
def test_payment_requests_killed_after_the_processor_answered__one_request_per_invoice(
    sync, tmp_path, again, concurrency
):
    records = [invoice_with_method(sync, None, amount) for amount in AMOUNTS]
    ids = [r.pk for r in records]
    assert sync.queued  # the task the invoices' commit queued, delivered to the worker below
    marker = tmp_path / "answered"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, f"{ids}", str(marker), str(KILLED_AT), str(concurrency)],
        cwd=ROOT,
        env=child_env(processor=True),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker did not reach the second invoice"
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()

    # What the killed run left: every record keyed (the keys are committed before any
    # call); the request whose answer stopped the run made at the processor but not
    # recorded. One at a time: the first invoice's request made and recorded, the
    # others not sent. Side by side: every other request made at most once, and
    # recorded only with the processor's own id.
    for record in records:
        record.refresh_from_db()
        assert record.request_key.startswith(f"pr-{record.pk}-")
    (cut,) = [r for r in records if any(q.public_id == marker.read_text() for q in _requests_of(r))]
    (made,) = _requests_of(cut)
    assert made.idempotency_key == cut.request_key
    assert not cut.synced_to_processor and cut.payment_request_id == ""
    if concurrency == 1:
        assert cut == records[KILLED_AT - 1]
        first = records[0]
        assert first.synced_to_processor and first.payment_request_id == _requests_of(first)[0].public_id
        assert all(_requests_of(r) == [] and not r.synced_to_processor for r in records[KILLED_AT:])
    for record in records:
        made_for = _requests_of(record)
        assert len(made_for) <= 1
        assert not record.synced_to_processor or record.payment_request_id == made_for[0].public_id
    recorded_before = sum(r.synced_to_processor for r in records)
    keys = {r.pk: r.request_key for r in records}

    # Run again: the second invoice's request is asked for with the same key and the
    # processor answers with the request it made; the others are sent.
    if again == "redelivered":
        counts = tasks.create_payment_requests(ids)
    else:
        counts = tasks.create_payment_requests()
    assert counts == {"request_sent": len(AMOUNTS) - recorded_before}
    assert tasks.create_payment_requests(ids) == {}  # and again: nothing more
    assert tasks.create_payment_requests() == {}
    # The poller asks about each request once recorded: all open, none paid.
    assert run_jobs("poll") == {"poll_request_open": len(AMOUNTS)}

    for record, amount in zip(records, AMOUNTS, strict=True):
        record.refresh_from_db()
        (request,) = _requests_of(record)  # one request at the processor
        assert record.synced_to_processor and not record.has_error
        assert record.payment_request_id == request.public_id  # recorded, the processor's own
        assert record.request_key == keys[record.pk] == request.idempotency_key  # never replaced
        assert request.amount == int(D(amount) * 100) and request.status == "requires_payment_method"
        assert record.processor_status == ProcessorStatus.REQUIRES_PAYMENT_METHOD
        assert not record.paid_in_ledger
    assert made.public_id == InvoiceSyncRecord.objects.get(pk=cut.pk).payment_request_id
    assert SandboxPaymentRequest.objects.count() == len(AMOUNTS)
