"""Demo data of invoice sync: the Sandbox gateway account syncs ASSN's invoices; a few
members saved cards or bank accounts (sandbox test tokens) for autopay; and some
invoices show attempts in each state a finance user meets. Written directly (the demo
runs in one transaction with no processor reachable); the jobs continue from there once
the web server, worker and beat run (unknown attempts are reconciled, due retries made).
"""

import datetime
import uuid

from django.utils import timezone

from finance.models import GatewayAccount, Invoice
from finance.models import PaymentHandlingMode as Mode
from integrations.models import InvoiceSyncRecord, ProcessorStatus, SavedPaymentMethod, SyncAttempt, SyncRecordChange
from integrations.services.sync.outcomes import record_success
from integrations.services.sync.records import sync_account_enable

# (token, method, attempts as (outcome, failure code, message), final mode, status)
SCENARIOS = [
    ("tok_visa", "card", [("succeeded", "", "")], Mode.DEFAULT, ProcessorStatus.SUCCEEDED),
    ("tok_visa_declined", "card", [("failed", "card_declined", "Your card was declined.")], Mode.DEFAULT, "failed"),
    (
        "tok_insufficient_funds",
        "card",
        [("failed", "insufficient_funds", "Your card has insufficient funds.")] * 2,
        Mode.ONE_TIME_RETRY,
        "failed",
    ),
    (
        "tok_timeout",
        "card",
        [("unknown", "timeout", "No answer from the sandbox processor in time.")],
        Mode.DEFAULT,
        None,
    ),
    ("tok_dispute", "card", [("succeeded", "", "")], Mode.HOLD_FOR_DISPUTE, ProcessorStatus.DISPUTED),
    (
        "btok_ach_fail",
        "ach",
        [("failed", "insufficient_funds", "The bank returned the debit (R01).")],
        Mode.MANUAL_REVIEW,
        "failed",
    ),
    ("tok_visa", "card", [], Mode.SKIP_AUTOPAY, None),
    ("btok_ach_success", "ach", [], Mode.DEFAULT, None),
]


def seed(builder) -> str:
    account = GatewayAccount.objects.filter(name="Sandbox").first()
    if account is None:
        return ""
    attached = sync_account_enable(account)
    GatewayAccount.objects.filter(pk=account.pk).update(webhook_secret="whsec_sandbox_demo")
    account.refresh_from_db()
    open_invoices = list(
        Invoice.objects.filter(
            entity=account.entity, balance__gt=0, type=Invoice.Type.REGULAR, sync_record__isnull=False
        )
        .select_related("bill_to")
        .order_by("date", "pk")
    )
    used_contacts: set[int] = set()
    picked = []
    for inv in open_invoices:
        if inv.bill_to_id not in used_contacts:
            used_contacts.add(inv.bill_to_id)
            picked.append(inv)
        if len(picked) == len(SCENARIOS):
            break
    now = timezone.now()
    attempts_made = 0
    for inv, (token, method, attempts, mode, status) in zip(picked, SCENARIOS, strict=False):
        SavedPaymentMethod.objects.create(
            contact=inv.bill_to,
            gateway_account=account,
            token=token,
            method=method,
            label=f"{'Card' if method == 'card' else 'Bank account'} ({token})",
        )
        record = InvoiceSyncRecord.objects.select_for_update().get(invoice=inv)
        record.synced_to_processor = True
        record.request_key = f"pr-demo-{uuid.uuid4().hex[:12]}"
        record.payment_request_id = f"pr_demo{uuid.uuid4().hex[:16]}"
        record.processor_status = ProcessorStatus.REQUIRES_PAYMENT_METHOD
        for n, (outcome, code, message) in enumerate(attempts, start=1):
            started = now - datetime.timedelta(days=len(attempts) - n + 1, minutes=30)
            attempt = SyncAttempt.objects.create(
                record=record,
                number=n,
                trigger="autopay" if n == 1 else "retry",
                method=method,
                amount=inv.balance,
                currency=inv.currency,
                payment_method_token=token,
                idempotency_key=f"inv-demo-{record.pk}-{n}-{uuid.uuid4().hex[:8]}",
                outcome=outcome,
                processor_charge_id="" if outcome == "unknown" else f"ch_demo{uuid.uuid4().hex[:16]}",
                failure_code=code,
                failure_message=message,
                sends=1,
                finished_at=None if outcome == "unknown" else started + datetime.timedelta(seconds=2),
            )
            SyncAttempt.objects.filter(pk=attempt.pk).update(started_at=started)
            attempts_made += 1
            if outcome == "failed":
                record.retries += 1
                record.has_error = True
                record.error_message = f"Attempt {n}: {message}"
            elif outcome == "unknown":
                record.has_error = True
                record.error_message = f"Attempt {n}: no answer from the processor; reconciling."
        record.save()
        if attempts and attempts[-1][0] == "succeeded":
            record = (
                InvoiceSyncRecord.objects.select_for_update(of=("self",))
                .select_related("invoice", "gateway_account")
                .get(pk=record.pk)
            )
            record_success(
                record,
                charge_id=record.attempts.get(number=len(attempts)).processor_charge_id,
                amount=inv.balance,
                method=method,
            )
        if status:
            InvoiceSyncRecord.objects.filter(pk=record.pk).update(processor_status=status)
        if mode != Mode.DEFAULT:
            InvoiceSyncRecord.objects.filter(pk=record.pk).update(handling_mode=mode)
            SyncRecordChange.objects.create(
                record=record,
                user=None if mode == Mode.HOLD_FOR_DISPUTE else builder.manager,
                field="handling_mode",
                old_value=Mode.DEFAULT,
                new_value=mode,
                note="Dispute opened at the processor" if mode == Mode.HOLD_FOR_DISPUTE else "Set by finance",
            )
        if mode == Mode.ONE_TIME_RETRY or (mode == Mode.DEFAULT and status == "failed"):
            InvoiceSyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=now + datetime.timedelta(hours=6))
    return (
        f"invoice sync: {attached} records on the Sandbox account, {len(picked)} members with saved methods, "
        f"{attempts_made} charge attempts"
    )
