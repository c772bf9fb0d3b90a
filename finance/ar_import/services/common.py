"""What the AR import's steps share: limits, lock keys, the posting's job and the errors."""

from finance.errors import FinanceError
from finance.jobs import Job
from finance.models_ar_import import ARImport

CHUNK = 5000
# Advisory lock namespaces (first key; the second is the import's id): a posting holds
# LOCK_POST on its session from before it claims the import until it has finished, so
# "posting" without the lock held means the worker stopped; validation in the worker
# holds LOCK_VALIDATE for its transaction.
LOCK_POST = 0x4152
LOCK_VALIDATE = 0x4153
# An import's posting (see ``finance.jobs``): its lock is held for as long as it runs.
POSTING = Job("AR import", LOCK_POST, ARImport, ARImport.Status.POSTING)
PLAN_TEXT_MAX = 500
WARNINGS_KEPT = 100  # on the import, for the command's output (the page shows each row's)
ROW_FIELDS = [
    "line_number",
    "batch_number",
    "customer_ref",
    "date",
    "invoice_number",
    "amount",
    "check_number",
    "payer_name",
    "description",
    "errors",
    "warnings",
]


class ARImportError(FinanceError):
    """The import cannot be posted (invalid, already posted, a row posted elsewhere)."""


class DuplicateImport(ARImportError):
    pass


class RepeatsNotConfirmed(ARImportError):
    """Rows repeat payments posted before; posting them needs the confirmation."""

    def __init__(self, message: str, count: int):
        super().__init__(message)
        self.count = count


def _progress_writer(imp_id: int, status: str = ARImport.Status.POSTING):
    """A function that records the progress of a posting (or of a validation in the
    worker) on the import row from another connection, so it shows while the work's
    transaction is open; it writes only while the import has ``status``."""
    return POSTING.progress(imp_id, status)


def pluralize(n: int) -> str:
    return "" if n == 1 else "s"
