"""Demo data of the GL export: two exports of the posted demo batches (the older half
summarised per month, the next part detailed), leaving the latest posted entries
waiting so the staff page has something to export."""

from django.db.models import Max, Min

from finance.models import Batch, JournalEntry
from finance.reporting.models import GLExport
from finance.reporting.services import NothingToExport, gl_export_create


def seed(builder) -> str:
    span = JournalEntry.objects.filter(
        batch__status=Batch.Status.POSTED, exclude_from_gl_export=False, gl_export_mark__isnull=True
    ).aggregate(first=Min("date"), last=Max("date"))
    if span["first"] is None:
        return "GL export: no posted entries to export"
    days = (span["last"] - span["first"]).days
    half = span["first"] + (span["last"] - span["first"]) / 2
    most = span["first"] + (span["last"] - span["first"]) * 4 / 5
    made = []
    for mode, date_to in ((GLExport.Mode.SUMMARY_MONTH, half), (GLExport.Mode.DETAILED, most)):
        if days < 2:
            break
        try:
            made.append(gl_export_create(mode=mode, date_to=date_to, user=builder.manager))
        except NothingToExport:
            continue
    lines = sum(e.line_count for e in made)
    return f"GL export: {len(made)} exports, {lines:,} journal lines; the latest posted entries left to export"
