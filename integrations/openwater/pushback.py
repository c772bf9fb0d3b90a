"""One pushback run of an integration: pull paid OpenWater invoices and record them.

- Only one run per integration at a time: a session advisory lock
  (``pg_try_advisory_lock(NAMESPACE, integration id)``) is taken for the whole run;
  a second beat, a slow run or a second worker finds it taken and leaves. A worker
  killed mid-run loses its connection, and with it the lock.
- First the records left as errors (fewer than ``MAX_ATTEMPTS`` tries) and those
  skipped because their program was not mapped or disabled (once it is mapped) are
  tried again, each fetched anew (a page's worth at a time, concurrently) and recorded
  as a page is, in one transaction each. Staff may also try one again at once from the
  Hub (``record_invoice``, the same recording), or take it out of the runs' hands (skip it
  with a reason, or mark it recorded by hand): a run then never records it, and only
  notes an OpenWater transaction newer than what staff saw.
- Then the incremental pull: ``GET /v2/Invoices?isPaid=true&mostRecentTransactionSinceUtc=
  <cursor>``, a page at a time; a run's first pages ask from ``INDEX_LAG`` before the
  saved cursor, since OpenWater's search index may list an invoice later than one paid
  after it. Every page is asked for from the saved cursor (keyset
  paging: an invoice that gets a new transaction during the run moves forward in the
  order and is met again, never missed). An invoice listed twice (OpenWater replays,
  or lists it again after a new transaction) is recorded once, with its latest
  listing; one already pushed whose most recent transaction is not newer than what was
  recorded is not fetched again (one query per page). The page's invoice details (and
  the users they need) are fetched concurrently (``FETCHERS`` at a time, keep-alive
  connections) before anything is written; then the whole page is recorded in one
  transaction and the cursor moves in that same transaction: a worker killed mid-page
  leaves nothing of the page, and the next run records it again from the cursor. In
  that transaction the page's invoices are recorded as one set-based step
  (``services.pages.page_record``: a query per thing the page needs, a multi-row
  statement per table); what that step does not take on (an error of OpenWater's data,
  a refund, an invoice pushed already or taken in hand by staff, a user not at hand, an
  invoice the ledger refuses) is recorded one by one under its own savepoint
  (``invoice_record``, or its error recorded), as before.
- The payer of an invoice is its OpenWater user (``GET /v2/Users/{userId}``), needed
  when the invoice has no email of its own (``UserNeeded``) and only for an invoice that
  is recorded now (not one skipped, pushed already or taken in hand by staff:
  ``outcome_for``). The users a page needs are fetched with its details, before its
  transaction, once per distinct user per run (``UserCache``, safe to share between
  threads); one whose fetch failed there is asked again when its invoice is recorded.
  A user OpenWater does not find (404) leaves the invoice in error, tried again at the
  next run; it does not count towards the failures that end a run (OpenWater answered).
- What went wrong is recorded for finance staff in plain words (``last_error``), the
  technical detail beside it (``last_error_detail``); a run that stops says why the
  same way.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from finance.errors import FinanceError
from finance.jobs import Job
from integrations.openwater.client import (
    OpenWaterBadResponse,
    OpenWaterClient,
    OpenWaterError,
    OpenWaterHTTPError,
    OpenWaterUserNotFound,
    UserCache,
    parse_time,
)
from integrations.openwater.errors import InvoiceDataError, PushbackError, UserNeeded
from integrations.openwater.models import Integration, InvoiceSync, ProgramMapping, PushbackRun, RefundSync
from integrations.openwater.services.mapping import parse_invoice
from integrations.openwater.services.pages import page_record
from integrations.openwater.services.recording import (
    SKIP_DISABLED,
    SKIP_UNMAPPED,
    STAFF_HANDLED,
    invoice_error,
    invoice_record,
    outcome_for,
)
from integrations.openwater.services.setup import programs_refresh
from integrations.openwater.services.staff import staff_handled_seen_again

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x4F57  # "OW"
# One run per integration (see ``finance.jobs``); a run still marked running when the
# lock is taken was cut short, and is recorded as interrupted.
PUSHBACK = Job("OpenWater pushback", LOCK_NAMESPACE, Integration, progress_field=None)
MAX_ATTEMPTS = 10
# Consecutive fetch failures (after the client's own retries) that end a run.
MAX_CONSECUTIVE_FAILURES = 5
# Invoice details (and users) fetched at a time, on the client's keep-alive connections.
FETCHERS = 8
# OpenWater lists invoices from a search index that lags behind its writes: an invoice
# paid a little before the newest one listed may be listed only later, with a time
# before the cursor. Each run asks again from this long before the saved cursor (the
# invoices recorded and unchanged since are not fetched again: one query per page).
INDEX_LAG = timedelta(minutes=10)


@dataclass
class RunBusy:
    integration_id: int
    message: str = "another run of this integration is in progress"


def run_pushback(integration_id: int, *, client: OpenWaterClient | None = None) -> PushbackRun | RunBusy:
    """Run the pushback of one integration once (see module doc)."""
    if connection.in_atomic_block:
        raise RuntimeError("run_pushback commits page by page; call it outside a transaction")
    with PUSHBACK.lock(integration_id) as held:
        if not held:
            return RunBusy(integration_id)
        return _run_holding_lock(integration_id, client)


def _run_holding_lock(integration_id: int, client: OpenWaterClient | None) -> PushbackRun:
    own_client = client is None
    try:
        integration = Integration.objects.get(pk=integration_id)
        # Holding the lock: a run still marked running was cut short (a killed worker).
        PushbackRun.objects.filter(integration=integration, status=PushbackRun.Status.RUNNING).update(
            status=PushbackRun.Status.INTERRUPTED, finished_at=timezone.now(), message="The worker stopped mid-run."
        )
        run = PushbackRun.objects.create(integration=integration)
        client = client or OpenWaterClient.for_integration(integration)
        pushback = _Run(integration, client, run)
        try:
            pushback.execute()
        except Exception as exc:  # the run is recorded as failed, with its reason
            logger.exception("OpenWater pushback of %s failed", integration.name)
            run.status = PushbackRun.Status.FAILED
            run.message = run_failure_message(exc)[:2000]
        else:
            run.status = PushbackRun.Status.SUCCEEDED
        finally:
            pushback.close()
        run.finished_at = timezone.now()
        run.save()
        interval = Integration.objects.filter(pk=integration.pk).values_list("interval_minutes", flat=True)[0]
        Integration.objects.filter(pk=integration.pk, is_started=True).update(
            next_run_at=run.finished_at + timedelta(minutes=interval)
        )
        return run
    finally:
        if own_client and client is not None:
            client.close()


class _Run:
    def __init__(self, integration: Integration, client: OpenWaterClient, run: PushbackRun):
        self.integration = integration
        self.client = client
        self.run = run
        self.failures = 0
        self.last_failure = ""
        self.users = UserCache(client)  # this run's OpenWater users
        self._pool: ThreadPoolExecutor | None = None
        # The saved cursor the pull started from: what is listed at or before it is
        # listed again only because the pull reads back over the index's lag.
        self.read_back_until = integration.cursor

    def execute(self):
        programs_refresh(integration=self.integration, programs=self.client.programs())
        self.retry_earlier()
        self.pull()

    def save_counts(self):
        PushbackRun.objects.filter(pk=self.run.pk).update(
            pages=self.run.pages,
            seen=self.run.seen,
            pushed=self.run.pushed,
            skipped=self.run.skipped,
            refunds=self.run.refunds,
            errors=self.run.errors,
        )

    def retry_earlier(self):
        pushable = ProgramMapping.objects.filter(integration=self.integration).exclude(
            status__in=[ProgramMapping.Status.NEW, ProgramMapping.Status.DISABLED]
        )
        skipped = Q(status=InvoiceSync.Status.SKIPPED, skip_code=SKIP_DISABLED) | Q(
            status=InvoiceSync.Status.SKIPPED, skip_code=SKIP_UNMAPPED
        )
        if self.integration.programs_sync_mode == Integration.SyncMode.NONE:
            skipped &= Q(program_id__in=pushable.values("program_id"))
        else:
            skipped &= ~Q(
                program_id__in=ProgramMapping.objects.filter(
                    integration=self.integration, status=ProgramMapping.Status.DISABLED
                ).values("program_id")
            )
        errors = Q(status=InvoiceSync.Status.ERROR, attempts__lt=MAX_ATTEMPTS)
        ids = (
            InvoiceSync.objects.filter(integration=self.integration)
            .filter(skipped | errors)
            .order_by("pk")
            .values_list("ow_invoice_id", flat=True)
        )
        ids = list(ids)
        size = self.integration.page_size
        for start in range(0, len(ids), size):  # a page's worth at a time, as the pull records a page
            chunk = ids[start : start + size]
            fetched = self.fetch_details(chunk)
            with transaction.atomic():
                self.record_fetched([(ow_id, None, None) for ow_id in chunk], fetched)
            if self.failures >= MAX_CONSECUTIVE_FAILURES:
                self.save_counts()
                raise OpenWaterError(
                    f"{self.failures} invoices in a row could not be fetched; last: {self.last_failure}"
                )
        self.save_counts()

    def pull(self):
        integration = self.integration
        cursor = integration.cursor
        # The run's first pages read back over ``INDEX_LAG`` before the cursor; the saved
        # cursor itself never moves back.
        since = cursor - INDEX_LAG if cursor is not None else None
        page_index = 0
        while True:
            page = self.client.paid_invoices_page(since=since, page_index=page_index, page_size=integration.page_size)
            self.run.pages += 1
            listed = []
            for item in page["items"]:
                self.run.seen += 1
                ow_id, recent = self.item_fields(item)
                if ow_id is not None:
                    listed.append((ow_id, recent, item.get("programId")))
            newest = self.record_page(listed, cursor)
            self.save_counts()
            if self.failures >= MAX_CONSECUTIVE_FAILURES:
                raise OpenWaterError(
                    f"{self.failures} invoices in a row could not be fetched; last: {self.last_failure}"
                )
            if not page["pagingInfo"].get("hasNextPage"):
                return
            if newest is not None and newest != cursor:
                cursor, page_index = newest, 0
                since = cursor
            else:  # a whole page at or before the cursor's instant: move on by index
                page_index += 1

    def record_page(self, listed, cursor):
        """Record one listed page in one transaction, the cursor moved with it; returns
        the cursor after the page.

        OpenWater may list an invoice twice (a replay, or a new transaction while the
        run pages): each is recorded once, with its latest listing. Invoices already
        recorded and not changed since are found in one query and not fetched; the
        others' details (and users) are fetched before the transaction, ``FETCHERS`` at
        a time on the client's keep-alive connections. A run that meets
        ``MAX_CONSECUTIVE_FAILURES`` fetch failures in a row records the page up to
        there, leaves the cursor and stops."""
        latest: dict[int, tuple] = {}
        for ow_id, recent, program_id in listed:
            seen = latest.get(ow_id)
            if seen is None or (recent is not None and (seen[0] is None or recent > seen[0])):
                latest[ow_id] = (recent, program_id)
        done = self.up_to_date_ids(latest)
        todo = [(ow_id, recent, program_id) for ow_id, (recent, program_id) in latest.items() if ow_id not in done]
        fetched = self.fetch_details([ow_id for ow_id, _, _ in todo])
        newest = cursor
        with transaction.atomic():
            if not self.record_fetched(todo, fetched):
                return cursor  # what was recorded stays; the cursor does not move
            for recent, _ in latest.values():
                if recent is not None and (newest is None or recent > newest):
                    newest = recent
            # The page is fully recorded: the cursor moves in the same transaction.
            if newest != cursor:
                Integration.objects.filter(pk=self.integration.pk).update(cursor=newest)
        return newest

    def record_fetched(self, todo, fetched) -> bool:
        """Record invoices whose details were fetched (``todo``: OpenWater id, most recent
        transaction as listed, program id), in the caller's transaction: those staff took
        in hand only noted, those fetched as one set-based step (``page_record``), the
        others one by one (``record_invoice``). Returns False when ``MAX_CONSECUTIVE_FAILURES``
        fetch failures in a row stopped it: what was recorded stays, the rest waits."""
        handled = set(
            InvoiceSync.objects.filter(
                STAFF_HANDLED, integration=self.integration, ow_invoice_id__in=[ow_id for ow_id, _, _ in todo]
            ).values_list("ow_invoice_id", flat=True)
        )
        together = []
        for ow_id, recent, program_id in todo:
            if ow_id in handled:
                staff_handled_seen_again(integration=self.integration, ow_invoice_id=ow_id, recent=recent)
                continue
            detail = fetched[ow_id]
            if isinstance(detail, dict):
                together.append((ow_id, program_id, detail))
                self.failures = 0  # fetched: the failures in a row end here
                continue
            self.record(ow_id, program_id=program_id, fetched=detail)
            if self.failures >= MAX_CONSECUTIVE_FAILURES:
                return False
        recorded = page_record(
            integration=self.integration, invoices=[(ow_id, d) for ow_id, _, d in together], users=self.users
        )
        for ow_id, program_id, detail in together:
            sync = recorded.get(ow_id)
            if sync is not None:
                self.count(Recorded(sync))
                continue
            self.record(ow_id, program_id=program_id, fetched=detail)
            if self.failures >= MAX_CONSECUTIVE_FAILURES:
                return False
        return True

    def up_to_date_ids(self, latest: dict[int, tuple]) -> set[int]:
        """Of the listed invoices, those not to record again (one query): those already
        pushed (or skipped for their date) whose most recent transaction is not newer
        than what was recorded; and, among those listed only because the run reads back
        over the index's lag (at or before the run's starting cursor), the ones in error
        or skipped: trying them again is the retries' (``retry_earlier``), under their
        limit, not every run's while the cursor stands still."""
        ids = [ow_id for ow_id, (recent, _) in latest.items() if recent is not None]
        if not ids:
            return set()
        rows = InvoiceSync.objects.filter(integration=self.integration, ow_invoice_id__in=ids).values_list(
            "ow_invoice_id", "status", "skip_code", "ow_most_recent_transaction_at"
        )
        read_back_until = self.read_back_until
        done = set()
        for ow_id, status, skip_code, at in rows:
            recent = latest[ow_id][0]
            recorded = status == InvoiceSync.Status.PUSHED or (
                status == InvoiceSync.Status.SKIPPED and skip_code == "before_date"
            )
            if recorded and at is not None and at >= recent:
                done.add(ow_id)
            elif not recorded and read_back_until is not None and recent <= read_back_until:
                done.add(ow_id)
        return done

    def fetch_details(self, ow_ids: list[int]) -> dict:
        """Each invoice's detail (or the OpenWaterError it met), fetched concurrently; then,
        concurrently too, the users of those that will be recorded now and need their user
        (``outcome_for``: not one skipped, nor one pushed already or taken in hand by
        staff), into the run's cache. No database writes."""

        def detail(ow_id):
            try:
                return ow_id, self.client.invoice(ow_id)
            except OpenWaterError as exc:
                return ow_id, exc

        def user(user_id):
            try:
                self.users.get(user_id)
            except OpenWaterError:
                pass  # met again, and recorded, when the invoice is recorded

        if len(ow_ids) <= 1:
            fetched = dict(detail(ow_id) for ow_id in ow_ids)
        else:
            fetched = dict(self.pool().map(detail, ow_ids))
        user_ids = self.users_to_fetch([d for d in fetched.values() if isinstance(d, dict)])
        if len(user_ids) == 1:
            user(user_ids[0])
        elif user_ids:
            list(self.pool().map(user, user_ids))
        return fetched

    def users_to_fetch(self, details: list[dict]) -> list[int]:
        """The users the invoices of ``details`` that are to be recorded now need (two queries)."""
        parsed = []
        for data in details:
            try:
                p = parse_invoice(data)
            except InvoiceDataError:
                continue
            if p.needs_user:
                parsed.append(p)
        if not parsed:
            return []
        settled = set(
            InvoiceSync.objects.filter(integration=self.integration, ow_invoice_id__in=[p.id for p in parsed])
            .filter(Q(status=InvoiceSync.Status.PUSHED) | STAFF_HANDLED)
            .values_list("ow_invoice_id", flat=True)
        )
        programs = ProgramMapping.objects.filter(
            integration=self.integration, program_id__in={p.program_id for p in parsed if p.program_id is not None}
        ).select_related("product")
        mapping = {m.program_id: m for m in programs}
        wanted = []
        for p in parsed:
            if p.id in settled or p.user_id in wanted:
                continue
            if not outcome_for(self.integration, p, mapping.get(p.program_id))[1]:
                wanted.append(p.user_id)
        return wanted

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=FETCHERS, thread_name_prefix="openwater-fetch")
        return self._pool

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def item_fields(self, item):
        try:
            ow_id = int(item["id"])
        except (KeyError, TypeError, ValueError):
            self.run.errors += 1
            self.run.message = f"OpenWater listed an invoice without an id; it was left out: {str(item)[:200]}"
            return None, None
        try:
            recent = parse_time(item.get("mostRecentTransactionDateUtc"))
        except (ValueError, OpenWaterError):
            recent = None
        return ow_id, recent

    def record(self, ow_id: int, *, program_id, fetched=None):
        self.count(
            record_invoice(
                self.integration, self.client, ow_id, program_id=program_id, users=self.users, fetched=fetched
            )
        )

    def count(self, done: "Recorded"):
        sync = done.sync
        if done.fetch_failed:
            self.run.errors += 1
            self.failures += 1
            self.last_failure = sync.last_error_detail
            return
        self.failures = 0
        if done.error:
            self.run.errors += 1
        elif sync.status == InvoiceSync.Status.PUSHED:
            if sync.pushed_at >= self.run.started_at:
                self.run.pushed += 1
            self.run.refunds += done.refunds
        elif sync.status == InvoiceSync.Status.SKIPPED:
            self.run.skipped += 1


@dataclass
class Recorded:
    """What became of one OpenWater invoice: its sync record, the refunds recorded now,
    and whether it ended in an error (``fetch_failed``: OpenWater did not give it)."""

    sync: InvoiceSync
    refunds: int = 0
    error: bool = False
    fetch_failed: bool = False


def record_invoice(
    integration: Integration,
    client: OpenWaterClient,
    ow_id: int,
    *,
    program_id=None,
    users: UserCache | None = None,
    fetched=None,
) -> Recorded:
    """Fetch one OpenWater invoice and record it (``invoice_record``), or record why it
    could not be (``invoice_error``). The invoice's user is fetched through ``users``
    (the run's cache; a new one when not given) when the payer needs it. Used by the
    runs and by "Try again now". ``fetched``: the detail already fetched (or the
    OpenWaterError that fetching it met)."""
    try:
        if isinstance(fetched, OpenWaterError):
            raise fetched
        data = fetched if fetched is not None else client.invoice(ow_id)
    except OpenWaterError as exc:
        sync = invoice_error(
            integration=integration,
            ow_invoice_id=ow_id,
            message=fetch_failure_message(exc),
            detail=str(exc),
            program_id=program_id,
        )
        return Recorded(sync, error=True, fetch_failed=True)
    refunds_before = RefundSync.objects.filter(sync__integration=integration, sync__ow_invoice_id=ow_id).count()
    detail = ""
    try:
        try:
            # A user fetched ahead with the page is given at once (no second attempt).
            ahead = _user_ahead(data, users)
            sync = invoice_record(integration=integration, data=data, user=ahead)
        except UserNeeded as need:  # nothing was written: fetch the user, then record again
            try:
                user = (users or UserCache(client)).get(need.user_id)
            except OpenWaterError as exc:
                sync = invoice_error(
                    integration=integration,
                    ow_invoice_id=ow_id,
                    message=user_failure_message(exc, need.user_id),
                    detail=str(exc),
                    program_id=program_id,
                )
                return Recorded(sync, error=True, fetch_failed=not isinstance(exc, OpenWaterUserNotFound))
            sync = invoice_record(integration=integration, data=data, user=user)
    except InvoiceDataError as exc:  # OpenWater's invoice as it is cannot be recorded
        message = str(exc)
    except (FinanceError, PushbackError) as exc:  # a ledger rule refused it
        message = f"Pay Central's ledger refused it: {exc}"
        detail = f"{exc.__class__.__name__}: {exc}"
    except Exception as exc:  # recorded, and the run goes on
        logger.exception("OpenWater invoice %s not recorded", ow_id)
        message = (
            "Pay Central could not record it because of an unexpected problem; it is tried again at the next run. "
            "If it keeps failing, give the technical detail to your administrator."
        )
        detail = f"{exc.__class__.__name__}: {exc}"
    else:
        refunds = RefundSync.objects.filter(sync=sync).count() - refunds_before
        return Recorded(sync, refunds=refunds)
    sync = invoice_error(
        integration=integration, ow_invoice_id=ow_id, message=message, detail=detail, program_id=program_id
    )
    return Recorded(sync, error=True)


def _user_ahead(data, users: UserCache | None) -> dict | None:
    """The invoice's user when it needs one (a user id, no email of its own) and the run
    has fetched it already; otherwise None."""
    if users is None or not isinstance(data, dict) or str(data.get("email") or "").strip():
        return None
    user_id = data.get("userId")
    try:
        return users.peek(int(user_id)) if user_id not in (None, "") else None
    except (TypeError, ValueError):
        return None


def fetch_failure_message(exc: OpenWaterError) -> str:
    """Why OpenWater did not give an invoice, for finance staff."""
    status = getattr(exc, "status", None) if isinstance(exc, OpenWaterHTTPError) else None
    if status == 404:
        return (
            "OpenWater no longer finds this invoice (it may have been deleted there). Check it in OpenWater; "
            "skip it here if it is gone, or mark it recorded by hand."
        )
    if status in (401, 403):
        return (
            "OpenWater refused the integration's credentials; check the client key, API key and organization "
            "code (Edit). It is tried again at the next run."
        )
    if isinstance(exc, OpenWaterBadResponse):
        return "OpenWater's answer for this invoice could not be read; it is tried again at the next run."
    return "OpenWater could not be reached or did not answer properly; it is tried again at the next run."


def user_failure_message(exc: OpenWaterError, user_id: int) -> str:
    """Why OpenWater did not give the user billed on an invoice, for finance staff."""
    if isinstance(exc, OpenWaterUserNotFound):
        return (
            f"OpenWater user {user_id} not found: OpenWater no longer finds the applicant billed on this invoice, "
            "so the payer cannot be linked to a contact. It is tried again at the next run; if the user was "
            "deleted in OpenWater, skip the invoice here or mark it recorded by hand."
        )
    status = getattr(exc, "status", None) if isinstance(exc, OpenWaterHTTPError) else None
    if status in (401, 403):
        return (
            f"OpenWater refused to give user {user_id}, the applicant billed on this invoice: check the "
            "integration's client key, API key and organization code (Edit). It is tried again at the next run."
        )
    if isinstance(exc, OpenWaterBadResponse):
        return (
            f"OpenWater's answer for user {user_id}, the applicant billed on this invoice, could not be read; "
            "it is tried again at the next run."
        )
    return (
        f"OpenWater could not be reached or did not answer properly when asked for user {user_id}, the applicant "
        "billed on this invoice; it is tried again at the next run."
    )


def run_failure_message(exc: Exception) -> str:
    """Why a run stopped, for finance staff, with the technical detail in brackets."""
    if isinstance(exc, OpenWaterHTTPError) and exc.status in (401, 403):
        what = "OpenWater refused the integration's credentials; check them (Edit)."
    elif isinstance(exc, OpenWaterError):
        what = "OpenWater could not be reached or did not answer properly; the next run starts where this one stopped."
    else:
        what = "The run stopped because of an unexpected problem; the next run starts where this one stopped."
    return f"{what} ({str(exc) or exc.__class__.__name__})"


def integrations_due(now=None):
    now = now or timezone.now()
    return Integration.objects.filter(is_started=True).filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
