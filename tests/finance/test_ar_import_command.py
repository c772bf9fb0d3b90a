"""import_ar command, concurrent posts on PostgreSQL and the Celery task."""

import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from finance.ar_import.services import ARImportError, ar_import_post
from finance.ar_import.tasks import post_ar_import
from finance.ledger_check import verify_ledger
from finance.models import Payment
from finance.models_ar_import import ARImport, ARImportRow
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.finance.test_ar_import import imis, pay, validate
from tests.finance.test_tasks import worker  # noqa: F401 - the embedded Celery worker fixture


@pytest.fixture
def payer(ledger):
    contact = ContactFactory(party_id="105", name="Ann Payer")
    make_invoice(ledger, contact, BatchFactory(), "100.00")
    return contact


def write(tmp_path, data: bytes, name="lockbox.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.django_db
def test_command__dry_run_prints_plan_and_posts_nothing(payer, tmp_path):
    out = io.StringIO()
    call_command("import_ar", write(tmp_path, imis(pay(105, "130.00", check="55"))), "--dry-run", stdout=out)
    text = out.getvalue()
    assert "Rows: 1, total 130.00 (control count 1, control amount 130.00)" in text
    assert "Will apply 100.00 to invoices and leave 30.00 as open credit (1 credit invoice(s))" in text
    assert "line 2: Ann Payer (105) 130.00 check 55 → pays " in text and "; credit 30.00" in text
    assert "Dry run: nothing was posted." in text
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_command__posts_and_prints_summary(payer, tmp_path):
    out = io.StringIO()
    call_command("import_ar", write(tmp_path, imis(pay(105, "40.00"))), stdout=out)
    assert "Posted 1 payments (40.00) into batch LB0115: 40.00 applied, 0.00 left as open credit (0)." in out.getvalue()
    assert Payment.objects.get().amount == 40
    assert verify_ledger().ok


@pytest.mark.django_db
def test_command__no_auto_apply_requires_invoice_numbers(payer, tmp_path):
    err = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("import_ar", write(tmp_path, imis(pay(105, "40.00"))), "--no-auto-apply", stderr=err)
    assert exc.value.returncode == 1
    assert "Line 2, invoice number: is required when auto apply is off" in err.getvalue()
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_command__invalid_file_lists_row_errors_and_exits_1(payer, tmp_path):
    err = io.StringIO()
    data = imis(pay(999, "10.00", check="1"), pay(105, "12.345", check="2"), amount="10.00")
    with pytest.raises(CommandError, match="is invalid: 2 error"):
        call_command("import_ar", write(tmp_path, data), stderr=err, stdout=io.StringIO())
    assert "Line 2, customer: no contact has party id 999" in err.getvalue()
    assert "Line 3, amount: '12.345' has more than two decimal places" in err.getvalue()
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_command__missing_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_ar", str(tmp_path / "nope.txt"))


@pytest.mark.django_db
def test_task__posts_and_is_safe_to_run_twice(payer):
    imp = validate(imis(pay(105, "40.00")))
    first = post_ar_import(imp.pk)
    second = post_ar_import(imp.pk)
    assert first["status"] == second["status"] == ARImport.Status.POSTED
    assert Payment.objects.count() == 1
    imp.refresh_from_db()
    assert imp.progress == 100


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


def _race(imports):
    barrier = threading.Barrier(len(imports))
    results = []

    def run(imp):
        try:
            barrier.wait(timeout=10)
            ar_import_post(ar_import=imp)
            results.append("posted")
        except ARImportError as exc:
            results.append(str(exc))
        except Exception as exc:  # reported by the assertions
            results.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(imp,)) for imp in imports]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_the_same_rows__posted_once(payer):
    a = validate(imis(pay(105, "40.00", check="7"), pay(105, "5.00", check="8")))
    b = validate(imis(pay(105, "40.00", check="7"), pay(105, "6.00", check="9")))  # another file, one shared row
    assert a.status == b.status == ARImport.Status.VALIDATED
    results = _race([a, b])
    assert sorted(r == "posted" for r in results) == [False, True], results
    assert any("was posted by another import" in r for r in results), results
    assert Payment.objects.filter(reference="7").count() == 1
    assert ARImportRow.objects.filter(posted=True).count() == 2
    assert verify_ledger().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_the_same_file__posted_once(payer):
    data = imis(pay(105, "40.00", check="7"))
    a, b = validate(data), validate(data)
    results = _race([a, b])
    assert sorted(r == "posted" for r in results) == [False, True], results
    assert Payment.objects.count() == 1
    assert verify_ledger().ok


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_task__real_worker_posts_and_records_progress(payer, worker):  # noqa: F811
    imp = validate(imis(pay(105, "130.00", check="1"), pay(105, "20.00", check="2")))
    result = post_ar_import.delay(imp.pk).get(timeout=60)
    assert result["status"] == ARImport.Status.POSTED
    imp.refresh_from_db()
    assert (imp.status, imp.progress, imp.batch.number) == (ARImport.Status.POSTED, 100, "LB0115")
    assert Payment.objects.count() == 2
    assert post_ar_import.delay(imp.pk).get(timeout=60)["status"] == ARImport.Status.POSTED  # run twice: no-op
    assert Payment.objects.count() == 2
    assert verify_ledger().ok
