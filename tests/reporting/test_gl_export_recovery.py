"""The GL export command killed part-way: a real process running ``export_gl --output``
is killed with SIGKILL (while it writes the file, or after the file is in place but
before its commit), then the command runs again. In the end the file holds every
journal entry of the posted batches exactly once and every entry is marked exported
exactly once: nothing lost, nothing twice."""

import io
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Sum

from finance.ledger_check import verify_ledger
from finance.models import JournalEntry, JournalLine
from finance.reporting.models import GLExport, GLExportedEntry
from finance.reporting.services import pending_entry_count
from finance.services.payments import payment_receive
from tests.child_process import child_env
from tests.factories import BatchFactory, ContactFactory
from tests.finance.helpers import make_invoice
from tests.reporting.helpers import post, read_csv

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
D = Decimal

# The worker: runs ``export_gl --output FILE`` and stops (sleeps) at the chosen point so
# that the test can kill it there. "writing": after two chunks of the file (small chunks,
# so the file takes many); "replaced": after the finished file is moved into place.
KILLED_EXPORT = """
import os, sys, time
import django
django.setup()
from django.core.management import call_command
import finance.reporting.gl_csv as gl_csv
import finance.reporting.management.commands.export_gl as command
point, output, marker = sys.argv[1:4]

def stop():
    open(marker, "w").write(point)
    time.sleep(300)

if point == "writing":
    gl_csv.CHUNK_ROWS = 3
    real_csv = command.export_csv
    def export_csv(export):
        for n, chunk in enumerate(real_csv(export)):
            yield chunk
            if n == 1:
                stop()
    command.export_csv = export_csv
else:
    real_replace = os.replace
    def replace(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        if os.fspath(dst) == output:
            stop()
    os.replace = replace
call_command("export_gl", "--output", output)
"""


@pytest.fixture
def books(ledger):
    """Three posted batches (four invoices and two payments each) and an open batch."""
    contacts = [ContactFactory() for _ in range(4)]
    for n in range(3):
        batch = BatchFactory(number=f"P{n}")
        for i, contact in enumerate(contacts):
            make_invoice(ledger, contact, batch, f"{100 + 10 * n + i}.25")
        for contact in contacts[:2]:
            payment_receive(payer=contact, method=ledger.check_method, amount="40.00", date=batch.date, batch=batch)
        post(batch)
    make_invoice(ledger, contacts[0], BatchFactory(number="OPEN"), "75.00")
    exportable = JournalEntry.objects.filter(batch__number__startswith="P")
    lines = JournalLine.objects.filter(entry__in=exportable)
    return {
        "entries": set(exportable.values_list("pk", flat=True)),
        "lines": lines.count(),
        "debit": lines.aggregate(s=Sum("debit"))["s"],
    }


def _entries_in(text: str) -> list[int]:
    """The journal entry ids of a detailed file, once per entry (rows are per line)."""
    _, rows, _ = read_csv(text)
    seen = []
    for row in rows:
        entry_id = int(row["reference"].split()[0].removeprefix("JE-"))
        if not seen or seen[-1] != entry_id:
            seen.append(entry_id)
    return seen


@pytest.mark.parametrize("point", ["writing", "replaced"])
def test_export_gl_killed__run_again__every_entry_in_the_file_once(books, tmp_path, point):
    output = tmp_path / "gl.csv"
    marker = tmp_path / "stopped"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_EXPORT, point, str(output), str(marker)],
        cwd=ROOT,
        env=child_env(),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the export did not reach the stopping point"
            time.sleep(0.1)
        if point == "writing":
            assert not output.exists()  # a partial file never sits where the GL picks it up
        else:
            assert len(_entries_in(output.read_text())) == len(books["entries"])
        # The marks are not committed while the file is not complete.
        assert pending_entry_count() == len(books["entries"])
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()

    # The killed run's transaction is rolled back: nothing is marked exported.
    deadline = time.monotonic() + 20
    while GLExport.objects.exists() or GLExportedEntry.objects.exists():
        assert time.monotonic() < deadline, "the killed export's marks stayed"
        time.sleep(0.2)
    assert pending_entry_count() == len(books["entries"])

    err = io.StringIO()
    call_command("export_gl", "--output", str(output), stderr=err)  # the job, run again
    export = GLExport.objects.get()
    assert f"GL export {export.pk}: {len(books['entries'])} entries, {books['lines']} lines" in err.getvalue()
    text = output.read_text()
    entries = _entries_in(text)
    assert sorted(entries) == sorted(books["entries"]) and len(entries) == len(set(entries))
    _, rows, totals = read_csv(text)
    assert len(rows) == books["lines"] == export.line_count
    assert sum(D(r["debit"]) for r in rows) == sum(D(r["credit"]) for r in rows) == books["debit"]
    assert totals[0]["reference"] == f"GLX-{export.pk}" and D(totals[0]["debit"]) == books["debit"]
    assert set(GLExportedEntry.objects.values_list("journal_entry_id", flat=True)) == books["entries"]
    assert GLExportedEntry.objects.count() == len(books["entries"])
    assert not (tmp_path / "gl.csv.partial").exists()

    # And again: nothing new, the file stays as it is.
    err = io.StringIO()
    call_command("export_gl", "--output", str(output), stderr=err)
    assert "Nothing new to export" in err.getvalue()
    assert output.read_text() == text and GLExport.objects.count() == 1
    assert verify_ledger().ok
