"""Invoice sync: one sync record per invoice, its payment request at the processor, the
charge attempts of its saved method and their outcomes in the ledger.

One module per use case, each stating the invariants it keeps (the constraints in
``integrations.models`` keep them too):

- ``records``: creating the sync records (with their invoices) and staff's edit of
  their two fields (sync enabled, payment handling mode);
- ``payment_requests``: offering invoices at the processor;
- ``attempts``: charge attempts: start (the idempotency key committed first), send,
  finish, and the reconciliation of attempts whose answer was lost, by the reconciler
  or by staff;
- ``outcomes``: applying what the processor says (an attempt's answer, a webhook, the
  poller): paying the invoice once, scheduling the retry, Hold for dispute and Manual
  review;
- ``jobs``: one run of a sync job (what the Celery tasks call);
- ``base``: what they share (the error, the attempt codes and time limits, the
  record's row lock, the processor clients of a run).

Read queries are in ``integrations.selectors``. Rows are always locked record first,
then attempt.
"""
