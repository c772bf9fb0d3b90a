"""Invoice sync jobs on a real Celery worker (Redis broker): the embedded test worker,
and a separate worker process killed while its charge is at the processor."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from integrations import tasks
from integrations.models import InvoiceSyncRecord, SyncAttempt, SyncRun
from integrations.services.sync.base import STALE_AFTER
from integrations.services.sync.jobs import run_jobs
from paycentral.celery import app as celery_app
from sandboxes.processor.models import SandboxCharge
from tests.child_process import child_env
from tests.integrations.sync.helpers import D, charges_of, invoice_with_method, payments_of

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def worker():
    import celery.contrib.testing.tasks  # noqa: F401 - registers celery.ping

    app = celery_app
    saved = (app.conf.result_backend, app._backend_cache, app._local.__dict__.pop("backend", None))
    app.conf.result_backend = settings.TEST_REDIS_URL
    app._backend_cache = None
    try:
        app.control.purge()
        with start_worker(app, perform_ping_check=True, loglevel="WARNING", shutdown_timeout=30) as w:
            yield w
    finally:
        app.conf.result_backend, app._backend_cache = saved[0], saved[1]
        app._local.__dict__.pop("backend", None)
        if saved[2] is not None:
            app._local.backend = saved[2]


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_worker__request_sent_after_commit_then_autopay_posts_once(sync, monkeypatch, worker):
    monkeypatch.undo()  # the real task.delay: sent on commit of the invoice's transaction
    record = invoice_with_method(sync, "tok_visa", "64.00")

    assert _wait(lambda: InvoiceSyncRecord.objects.get(pk=record.pk).synced_to_processor)
    counts = tasks.autopay_run.delay().get(timeout=30)
    again = tasks.autopay_run.delay().get(timeout=30)  # safe to run twice

    assert counts == {"autopay_succeeded": 1} and again == {}
    record.refresh_from_db()
    assert record.paid_in_ledger and len(payments_of(record)) == 1 and len(charges_of(record)) == 1
    assert tasks.poll_processor.delay().get(timeout=30) == {"poll_succeeded": 1}
    assert tasks.reconcile_attempts.delay().get(timeout=30) == {}
    assert set(SyncRun.objects.values_list("kind", flat=True)) == {"requests", "autopay", "poll", "reconcile"}


def test_worker_process_killed_mid_charge__reconciled_never_charged_twice(sync, settings, live_server):
    settings.SANDBOX_PROCESSOR_TIMEOUT_DELAY = 20.0  # the sandbox holds tok_timeout's answer
    record = invoice_with_method(sync, "tok_timeout", "88.00")
    env = child_env(processor=True, SANDBOX_PROCESSOR_TIMEOUT="60")
    celery_app.control.purge()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "paycentral",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=str(ROOT),
        env=env,
        start_new_session=True,
    )
    try:
        assert _wait(lambda: bool(celery_app.control.ping(timeout=0.5)), timeout=60), "worker did not start"
        tasks.autopay_run.delay()
        # The charge is recorded at the processor; its answer is held: kill the worker now.
        assert _wait(lambda: SandboxCharge.objects.filter(metadata__sync_record=str(record.pk)).exists())
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    (attempt,) = SyncAttempt.objects.filter(record=record)
    assert attempt.outcome == SyncAttempt.Outcome.STARTED  # the answer was never written
    run_jobs("autopay")
    run_jobs("requests")
    assert SyncAttempt.objects.filter(record=record).count() == 1  # no second charge while unknown

    SyncAttempt.objects.filter(pk=attempt.pk).update(started_at=attempt.started_at - STALE_AFTER * 2)
    assert run_jobs("reconcile") == {"reconcile_found succeeded": 1}
    record.refresh_from_db()
    (payment,) = payments_of(record)
    assert payment.amount == D("88.00") and record.paid_in_ledger
    (charge,) = charges_of(record)
    assert charge.idempotency_key == SyncAttempt.objects.get(record=record).idempotency_key
