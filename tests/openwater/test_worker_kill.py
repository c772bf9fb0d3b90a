"""A real Celery worker (its own process, Redis broker) killed with SIGKILL in the middle
of a pushback run; a new worker and the next beat tick finish it: every paid OpenWater
invoice is in Pay Central exactly once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finance.ledger_check import verify_ledger
from finance.models import Invoice, Payment
from integrations.openwater.models import InvoiceSync, PushbackRun
from integrations.openwater.services.setup import integration_start
from integrations.openwater.tasks import pushback_due, pushback_run
from paycentral.celery import app as celery_app
from tests.child_process import child_env
from tests.openwater.conftest import AWARDS

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
COUNT = 120


def start_worker(tmp_path, name):
    env = child_env()
    log = open(tmp_path / f"{name}.log", "wb")
    cmd = [sys.executable, "-m", "celery", "-A", "paycentral", "worker", "--pool=solo", "-l", "WARNING", "-n", name]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_worker_killed_mid_run__restarted__every_invoice_pushed_once(integration, sandbox, tmp_path):
    for n in range(COUNT):
        sandbox.add_invoice(program_id=AWARDS, user_id=1 + n % 2, lines=[f"{10 + n}.25"])
    sandbox.delay = 0.05  # each invoice fetch takes a moment: the run lasts several seconds
    integration_start(integration=integration)
    celery_app.control.purge()

    worker, log = start_worker(tmp_path, "ow-first@%h")
    try:
        pushback_run.delay(integration.pk)
        wait_for(lambda: InvoiceSync.objects.filter(status="pushed").count() >= 20, 90, "the first pushes")
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        log.close()
    cut_at = InvoiceSync.objects.count()
    assert 20 <= cut_at < COUNT, f"the worker was not killed mid-run ({cut_at} of {COUNT})"
    assert PushbackRun.objects.get().status == "running"  # what the killed worker left

    sandbox.delay = 0.0
    worker, log = start_worker(tmp_path, "ow-second@%h")
    try:
        # The next beat tick: the integration is due; the run resumes from the cursor.
        wait_for(lambda: pushback_due() == [integration.pk], 5, "the integration to be due")
        wait_for(lambda: PushbackRun.objects.filter(status="succeeded").exists(), 120, "the second run to finish")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()

    statuses = dict(PushbackRun.objects.values_list("status", "pushed"))
    assert set(statuses) == {"interrupted", "succeeded"}
    assert InvoiceSync.objects.filter(status="pushed").count() == COUNT
    assert Invoice.objects.filter(source="openwater").count() == COUNT
    assert Payment.objects.filter(source="openwater").count() == COUNT
    assert set(InvoiceSync.objects.values_list("ow_invoice_id", flat=True)) == set(sandbox.invoices)
    assert len(set(InvoiceSync.objects.values_list("invoice_id", flat=True))) == COUNT
    assert verify_ledger().ok
