"""Payment requests: invoices offered at the processor for the customer to pay.

Invariants kept here:

- Every processor call is two-phase: the record's ``request_key`` is committed first
  (a key, once set, is never replaced), then the processor is called outside any
  transaction, then the answer is written with a conditional update. A second run, or
  a retry after a lost answer, sends the same key and the processor answers with the
  same request.
- A run sends its records' requests side by side, at most ``request_concurrency()`` at
  once, over the run's one keep-alive client per processor account; the keys are all
  committed before the first request leaves, and every answer is recorded as it
  arrives, even when another request of the run failed unexpectedly.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Func, Value
from django.db.models.functions import MD5, Cast, Concat, Left
from django.utils import timezone

from integrations.models import InvoiceSyncRecord, ProcessorStatus
from integrations.selectors import records_needing_request
from integrations.services.sync.base import processor_for
from processors import PaymentRequestResult, PaymentRequestSpec, ProcessorError

# Payment requests in flight at once per run (INVOICE_SYNC_REQUEST_CONCURRENCY overrides
# it); 1 sends them one after another.
REQUEST_CONCURRENCY = 8


def request_concurrency() -> int:
    return max(1, int(getattr(settings, "INVOICE_SYNC_REQUEST_CONCURRENCY", REQUEST_CONCURRENCY)))


def payment_request_send(record_id: int, *, processors: dict | None = None) -> str:
    """Offer one invoice at the processor (see ``payment_requests_send``)."""
    return payment_requests_send([record_id], processors=processors).get(record_id, "skipped")


def _commit_request_keys(record_ids: list[int]) -> None:
    """Phase 1: a request key for each record that needs a request and has none, in one
    conditional UPDATE (a key, once set, is never replaced, so concurrent runs agree on
    it): ``pr-<record id>-<16 random hex digits>``."""
    random_hex = Left(MD5(Cast(Func(function="gen_random_uuid"), CharField())), 16)
    with transaction.atomic():
        records_needing_request().filter(pk__in=record_ids, request_key="").update(
            request_key=Concat(Value("pr-"), Cast("pk", CharField()), Value("-"), random_hex, output_field=CharField()),
            updated_at=timezone.now(),
        )


def _spec(record: InvoiceSyncRecord) -> PaymentRequestSpec:
    invoice = record.invoice
    return PaymentRequestSpec(
        amount=invoice.balance,
        currency=record.currency,
        idempotency_key=record.request_key,
        customer_ref=record.provider_customer_id,  # the processor's customer, if the contact has one
        description=f"Invoice {invoice.number}",
        metadata={"invoice": invoice.number, "sync_record": str(record.pk)},
    )


def _send_all(calls: list[Callable[[], PaymentRequestResult]], record: Callable[[dict], None]) -> None:
    """Phase 2: make the calls, at most ``request_concurrency()`` at once, and hand the
    answers to ``record`` (``{index: result or the exception raised}``) as they arrive:
    every answer that has arrived by then in one call, so that a run stopped midway has
    recorded all but the answers in flight."""

    def call(send):
        try:
            return send()
        except Exception as exc:  # recorded (ProcessorError) or re-raised after recording
            return exc

    workers = min(request_concurrency(), len(calls))
    if workers <= 1:
        for n, send in enumerate(calls):
            record({n: call(send)})
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="payment-request") as pool:
        pending = {pool.submit(call, send): n for n, send in enumerate(calls)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            record({pending.pop(future): future.result() for future in done})


_RECORD_SENT_SQL = """
UPDATE {table} r
   SET synced_to_processor = true,
       payment_request_id = v.request_id,
       processor_status = CASE WHEN r.processor_status = %s THEN %s ELSE r.processor_status END,
       has_error = false,
       error_message = '',
       updated_at = %s
  FROM unnest(%s::bigint[], %s::text[]) AS v(id, request_id)
 WHERE r.id = v.id AND NOT r.synced_to_processor
RETURNING r.id
"""


def _record_sent(sent: dict[int, str]) -> set[int]:
    """Phase 3 for the requests the processor made: one conditional UPDATE (only records
    not yet synced); returns the records it updated."""
    if not sent:
        return set()
    ids = list(sent)
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SENT_SQL.format(table=InvoiceSyncRecord._meta.db_table),
            [
                ProcessorStatus.NOT_SYNCED.value,
                ProcessorStatus.REQUIRES_PAYMENT_METHOD.value,
                timezone.now(),
                ids,
                [sent[pk][:100] for pk in ids],
            ],
        )
        return {row[0] for row in cursor.fetchall()}


def payment_requests_send(record_ids: list[int], *, processors: dict | None = None) -> dict[int, str]:
    """Offer invoices at the processor once each; returns what happened per record
    ("sent", "already" when another run recorded it first, "error").

    Phase 1 commits each record's request key (``_commit_request_keys``). Phase 2 calls
    the processor with those keys outside any transaction, up to
    ``request_concurrency()`` requests at once over one client per processor account.
    Phase 3 records the requests made as their answers arrive, those that arrived
    together with one conditional update (only while not yet synced), and each refusal
    on its record. A second run, or a retry after a lost answer, sends the same keys
    and the processor answers with the same requests.
    An unexpected error of a call is raised once the answers received are recorded.
    """
    outcome: dict[int, str] = {}
    unexpected: list[BaseException] = []
    _commit_request_keys(record_ids)
    records = list(
        records_needing_request()
        .filter(pk__in=record_ids)
        .exclude(request_key="")
        .select_related("invoice__bill_to", "gateway_account")
        .order_by("pk")
    )

    def record(answers: dict) -> None:
        """Phase 3 for the answers that have arrived (``{index in records: answer}``)."""
        done = [(records[n], answer) for n, answer in sorted(answers.items())]
        updated = _record_sent({r.pk: a.processor_id for r, a in done if isinstance(a, PaymentRequestResult)})
        for r, answer in done:
            if isinstance(answer, PaymentRequestResult):
                outcome[r.pk] = "sent" if r.pk in updated else "already"
            elif isinstance(answer, ProcessorError):
                InvoiceSyncRecord.objects.filter(pk=r.pk, synced_to_processor=False).update(
                    has_error=True, error_message=f"Payment request: {answer.message}"[:500], updated_at=timezone.now()
                )
                outcome[r.pk] = "error"
            else:
                unexpected.append(answer)

    own = {} if processors is None else None
    clients = processors if processors is not None else own
    try:
        # The clients are made here, before the threads share them.
        calls = [partial(processor_for(r.gateway_account, clients).create_payment_request, _spec(r)) for r in records]
        _send_all(calls, record)
    finally:
        for processor in (own or {}).values():
            processor.close()
    if unexpected:
        raise unexpected[0]
    return outcome
