"""Refunds through the payment processor: save, commit, call, record.

``refund_through_processor`` must run outside any open transaction: phase one
(``finance.services.credits.refund_start``) commits a PENDING refund with its
idempotency key; only then is the processor called, with that key; phase two
(``refund_finish``) records the answer and posts the ledger once. A timeout leaves
the refund PENDING: ``reconcile_refund`` asks again with the same key (the processor
answers the same refund; nothing is refunded twice).
"""

from django.db import connection

from finance.errors import FinanceError
from finance.models import Refund
from finance.services.credits import refund_finish, refund_start
from processors import (
    ProcessorDeclined,
    ProcessorError,
    ProcessorInvalidRequest,
    ProcessorTimeout,
    ProcessorUnavailable,
    RefundRequest,
    RefundStatus,
    get_processor,
)


def _call(refund: Refund) -> Refund:
    payment = refund.payment
    gateway = payment.method.gateway_account
    if gateway is None:
        raise FinanceError(f"Payment method {payment.method.code} has no gateway account to refund through.")
    request = RefundRequest(
        charge_id=payment.processor_charge_id,
        amount=refund.amount,
        currency=refund.currency,
        idempotency_key=refund.idempotency_key,
        metadata={"refund": str(refund.pk), "payment": str(payment.pk)},
    )
    processor = get_processor(gateway)
    try:
        result = processor.refund(request)
    except (ProcessorTimeout, ProcessorUnavailable) as exc:
        # Outcome unknown or not sent: stays PENDING, to be reconciled with the same key.
        raise FinanceError(
            f"The processor did not answer ({exc}); the refund stays pending and will be checked again."
        ) from exc
    except (ProcessorDeclined, ProcessorInvalidRequest) as exc:
        return refund_finish(refund=refund, succeeded=False, failure=str(exc))
    except ProcessorError as exc:
        return refund_finish(refund=refund, succeeded=False, failure=str(exc))
    finally:
        processor.close()
    if result.status == RefundStatus.SUCCEEDED:
        return refund_finish(refund=refund, succeeded=True, processor_refund_id=result.processor_id)
    if result.status == RefundStatus.FAILED:
        return refund_finish(
            refund=refund, succeeded=False, processor_refund_id=result.processor_id, failure=result.failure_message
        )
    return refund  # pending at the processor: reconciled later


def refund_through_processor(
    *, payment, credit_invoice, batch, date, amount=None, reason: str = "", user=None
) -> Refund:
    """Refund ``amount`` (None: all that is refundable) of the credit ``payment`` holds
    on ``credit_invoice`` through its processor, as a partial refund of its charge."""
    if connection.in_atomic_block:
        raise RuntimeError("refund_through_processor must not run inside a transaction")
    refund = refund_start(
        payment=payment, credit_invoice=credit_invoice, batch=batch, date=date, amount=amount, reason=reason, user=user
    )
    return _call(Refund.objects.select_related("payment__method__gateway_account").get(pk=refund.pk))


def reconcile_refund(refund: Refund) -> Refund:
    """Ask again for a PENDING refund (same idempotency key); safe to run any number of times."""
    refund = Refund.objects.select_related("payment__method__gateway_account").get(pk=refund.pk)
    if refund.status != Refund.Status.PENDING:
        return refund
    return _call(refund)
