import csv
import io
from decimal import Decimal

from finance.models import Batch, FinanceSettings
from finance.services.batches import batch_transition

D = Decimal


def post(batch: Batch) -> Batch:
    """Move an open batch to Posted (controls not required)."""
    FinanceSettings.objects.update_or_create(pk=1, defaults={"require_balanced_batches": False})
    batch_transition(batch=batch, to_status=Batch.Status.READY)
    return batch_transition(batch=batch, to_status=Batch.Status.POSTED)


def read_csv(text: str) -> tuple[list[str], list[dict], list[dict]]:
    """(header, data rows, totals rows) of a GL export file."""
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    return header, [r for r in body if r["gl_account"] != "TOTAL"], [r for r in body if r["gl_account"] == "TOTAL"]
