"""AR payment import ("lockbox"): validate a file into a preview, then post it whole.

Rules kept here:
- ``ar_import_validate`` reads the file streaming (``finance.ar_import.parser``) into a
  temporary table (COPY), checks every row there before anything is posted and writes
  each row to ``ARImportRow`` once, with its problems and plan (one INSERT … SELECT):
  the customer matches a contact by party id or ``*`` + Major Key; a row repeating an
  earlier row of the file, or a row already posted by another import (same batch,
  customer, check number and amount) is refused; the header's cash account is an
  active cash account; the header's control count and amount equal the rows'; the file
  (by content hash) was not posted before. With auto apply off the invoice number is
  required; an invoice in another entity is refused. No field holds a control character
  and no amount, nor the rows' total, is more than the ledger's columns hold
  (``MAX_AMOUNT``); a file without a payment is refused. When nothing is wrong, each
  row's plan (what it pays, the credit it leaves) is stored: that is the preview.
- The import's financial entity: the header's cash account code is looked up in the
  entity the import is for (chosen on upload or with ``import_ar --entity``); a code
  written ``ENTITY:CODE`` names its entity itself. Without a choice the code must name
  one active cash account in all the entities (as with a single entity). A code that
  is no GL account's is read as iMIS writes it (its own cash account codes: ``CASH``,
  ``CHECK``...): the payment method of that code, whose cash account is debited.
- Repeats: a row whose payer, check number and amount equal those of a payment posted
  before (any batch, any source; reversed payments and rows without a check number
  aside) is flagged with a warning naming that payment's batch (one set-based query
  joining the staged rows to the payments). Posting an import with such rows needs
  ``allow_repeats=True`` (the confirmation); the posting checks again, in its
  transaction, for payments posted since the preview.
- Applying follows ``finance.services.payments``: auto apply pays the payer's open
  positive lines in the import's entity, oldest invoice date first (then invoice id, then
  line number), each closed before the next; rows of the same payer apply in file order
  (the second sees what the first paid); the rest becomes an open credit invoice. With
  auto apply off a row pays the named invoice's positive lines in line order and an
  overpayment goes on its last positive line (its balance goes negative); an invoice
  that does not exist, or has no positive line left, leaves the whole amount as open
  credit. Lines with a zero or negative balance are never paid.
- ``ar_import_post`` posts all rows or none, in one transaction, into the batch named by
  the header (created with the header's controls, or an existing Open batch of that
  number). Each row is a payment (source "import") debiting the header's cash account
  and crediting AR for accrual lines, the line's account for cash-basis lines, and
  unapplied cash for the credit. It is set-based SQL: window functions allocate, bulk
  INSERT…SELECT writes payments, applications and credit invoices, and the journal is a
  summary of the import (an entry per payment date, a line per account, naming the
  import) rather than an entry per payment: each payment's share is its applications,
  from which ``payment_reverse`` reverses it and ``verify_ledger`` checks the summary.
- Never twice: rows are marked posted in the posting transaction under a partial unique
  constraint (batch, customer, check number, amount); the import's content hash is
  unique among imports that are posting or posted. An import already posted is a no-op.
- A worker that stops while posting (killed, lost connection) leaves the import
  "posting" with nothing posted (the posting is one transaction, which also sets
  "posted"). The posting's session holds the import's advisory lock throughout, so
  ``ar_import_recover`` can tell a live posting from a dead one and release the latter
  ("failed", postable again); the post task does so when the broker redelivers it.
- Big uploads: ``ar_import_upload`` stores the file and the worker validates it
  (``ar_import_validate_stored``), recording progress as it reads; the parser streams,
  so memory does not grow with the file.
- ``ar_import_discard`` sets aside an import that was not posted (validated, invalid or
  failed): nothing was posted, so the ledger does not change. Its record stays (file
  name, hash, counts, problems, who discarded it and when; an uploaded file stored for
  the worker is kept too) and the import list hides it; its staged rows are deleted.
"""

from finance.ar_import.services.common import (
    CHUNK,
    LOCK_POST,
    LOCK_VALIDATE,
    ARImportError,
    DuplicateImport,
    RepeatsNotConfirmed,
)
from finance.ar_import.services.posting import (
    INTERRUPTED,
    ar_import_discard,
    ar_import_post,
    ar_import_queue_post,
    ar_import_recover,
)
from finance.ar_import.services.validation import (
    ar_import_upload,
    ar_import_validate,
    ar_import_validate_stored,
    problems,
)

__all__ = [
    "CHUNK",
    "INTERRUPTED",
    "LOCK_POST",
    "LOCK_VALIDATE",
    "ARImportError",
    "DuplicateImport",
    "RepeatsNotConfirmed",
    "ar_import_discard",
    "ar_import_post",
    "ar_import_queue_post",
    "ar_import_recover",
    "ar_import_upload",
    "ar_import_validate",
    "ar_import_validate_stored",
    "problems",
]
