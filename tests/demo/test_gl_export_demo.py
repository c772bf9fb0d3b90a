"""The demo association comes with GL exports of its posted batches and the latest
posted entries still waiting."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Max, Min

from finance.reporting.gl_csv import export_csv
from finance.reporting.models import GLExport
from finance.reporting.services import pending_entry_count
from tests.reporting.helpers import read_csv

TODAY = datetime.date(2026, 3, 15)


@pytest.mark.django_db
def test_seed_demo__gl_exports_balanced_and_recent_entries_waiting():
    out = StringIO()
    call_command("seed_demo", "--today", TODAY.isoformat(), "--seed", "7", stdout=out)
    assert "GL export:" in out.getvalue()
    exports = list(GLExport.objects.order_by("pk"))
    assert [e.mode for e in exports] == [GLExport.Mode.SUMMARY_MONTH, GLExport.Mode.DETAILED]
    for export in exports:
        assert export.total_debit == export.total_credit > 0
        _, rows, totals = read_csv("".join(export_csv(export)))
        assert {t["currency"] for t in totals} and all(t["debit"] == t["credit"] for t in totals)
    assert pending_entry_count() > 0
    assert (
        exports[0].entries.aggregate(last=Max("journal_entry__date"))["last"]
        < exports[1].entries.aggregate(first=Min("journal_entry__date"))["first"]
    )
