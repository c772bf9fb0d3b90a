"""check_ledger runs in a real Celery worker (Redis broker and result backend)."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.cache import cache

from finance.models import Invoice, InvoiceLine, JournalEntry, Payment
from finance.services.payments import payment_receive
from finance.tasks import LAST_LEDGER_CHECK_KEY, check_ledger, last_ledger_check
from paycentral.celery import app as celery_app
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import D, make_invoice

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker():
    """An embedded worker of the project's Celery app on the test Redis, with Redis as
    the result backend for this test only (the app's settings are restored after)."""
    import celery.contrib.testing.tasks  # noqa: F401 - registers celery.ping for the start-up check

    app = celery_app
    saved = (app.conf.result_backend, app._backend_cache, app._local.__dict__.pop("backend", None))
    app.conf.result_backend = settings.TEST_REDIS_URL
    app._backend_cache = None  # the backend is rebuilt from the new setting
    try:
        app.control.purge()  # nothing left over from an earlier run is executed
        with start_worker(app, perform_ping_check=True, loglevel="WARNING", shutdown_timeout=30) as w:
            yield w
    finally:
        app.conf.result_backend, app._backend_cache = saved[0], saved[1]
        app._local.__dict__.pop("backend", None)
        if saved[2] is not None:
            app._local.backend = saved[2]


@pytest.fixture
def books(ledger):
    contact, batch = ContactFactory(), BatchFactory()
    invoice = make_invoice(ledger, contact, batch, "100.00", "40.00")
    payment_receive(payer=contact, method=ledger.check_method, amount="150.00", date=invoice.date, batch=batch)
    return invoice


def test_check_ledger__worker_runs_it_and_stores_the_result(books, worker):
    cache.delete(LAST_LEDGER_CHECK_KEY)
    result = check_ledger.delay().get(timeout=30)

    expected = (
        f"Checked {Invoice.objects.count()} invoices, {InvoiceLine.objects.count()} lines, "
        f"{Payment.objects.count()} payments, {JournalEntry.objects.count()} journal entries: ledger OK"
    )
    assert result["ok"] is True
    assert result["summary"] == expected
    assert result["mismatches"] == 0
    assert {c["name"] for c in result["checks"]} >= {"line_balances", "payments", "ar_balance", "journal_balanced"}
    stored = last_ledger_check()
    assert stored == result and stored["time"]


def test_check_ledger__reports_a_tampered_balance(books, worker):
    line = books.lines.get(line_number=2)
    InvoiceLine.objects.filter(pk=line.pk).update(balance=D("-5.00"))

    result = check_ledger.delay(limit=5).get(timeout=30)

    assert result["ok"] is False
    assert result["mismatches"] == 1
    assert result["summary"].endswith(": 1 mismatch in 1 check")
    (failed,) = [c for c in result["checks"] if c["count"]]
    assert failed["name"] == "line_balances"
    assert failed["mismatches"] == [
        {
            "subject": f"Invoice {books.number} line 2 (line id {line.pk})",
            "detail": "balance stored -5.00, recomputed 0.00 (amount 40.00 - applied 40.00)",
        }
    ]
    assert cache.get(LAST_LEDGER_CHECK_KEY)["ok"] is False
