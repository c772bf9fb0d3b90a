"""Renewal runs: preview a batch of next-term invoices, review, delete or post.

Rules kept here:
- A run covers subscriptions whose paid-through date falls in [from, to] (optionally of
  one member type). A member is billed when the subscription is active, its member type
  is active, the contact is active, the contact holds exactly one active subscription,
  the subscription's paid-through and renewed-through are before the run's effective
  date, it is not already in another open run, and the term has something to bill.
  Everyone else in the range is listed as skipped with the reason.
- The billed term starts the day after the later of paid-through and renewed-through
  and lasts the subscription's term length; its lines are the member type's fee (the
  primary line) and billing products at their prices (see ``finance.membership.services``).
- Creating the run opens a batch and writes the preview (items and lines); nothing is
  invoiced yet. Deleting a run deletes its (empty) batch. Posting writes every invoice,
  line and term in the run's batch in one transaction, applies each member's open
  credit, sets the batch controls to what was written and posts the batch.
- The build runs in a worker. It holds the run's build lock (a session advisory lock,
  PostgreSQL) for as long as it runs and records when it began. A run left "creating"
  by a build that stopped (worker killed, connection lost; its transaction rolled back,
  nothing written) is found by ``renewal_run_recover_build`` (Celery beat, and the run's
  page): the lock is free (elsewhere: the build began, or was queued, longer ago than a
  stale-after age). It is built again, queued once; if that build stops too the run is
  marked failed with the reason, and staff delete it or build it again. A run is never
  built twice: the build and the recovery both hold the lock, and a build claims only a
  run still "creating".
- Both steps are set-based SQL (INSERT … SELECT), billing what ``term_bill`` bills one
  member at a time. Invoices created in bulk are announced with one ``invoices_created``
  signal inside the posting transaction.
"""

from finance.membership.renewals.build import (
    BUILD_FAILED_TWICE,
    BUILT_AGAIN,
    INTERRUPTED_BUILD,
    LOCK_RENEWAL_BUILD,
    renewal_run_build,
    renewal_run_delete,
    renewal_run_rebuild,
    renewal_run_recover_build,
    renewal_run_start,
    renewal_runs_recover_builds,
)
from finance.membership.renewals.posting import LOCK_RENEWAL_POST, renewal_run_post

__all__ = [
    "BUILD_FAILED_TWICE",
    "BUILT_AGAIN",
    "INTERRUPTED_BUILD",
    "LOCK_RENEWAL_BUILD",
    "LOCK_RENEWAL_POST",
    "renewal_run_build",
    "renewal_run_delete",
    "renewal_run_post",
    "renewal_run_rebuild",
    "renewal_run_recover_build",
    "renewal_run_start",
    "renewal_runs_recover_builds",
]
