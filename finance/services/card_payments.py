"""Receiving a payment by card on the Receive payment page: save, commit, call, record.

- ``card_payment_start`` (one transaction) checks the payment as ``payment_receive``
  would need it (a card method with a gateway account, an amount above zero, an open
  batch) and commits the attempt with a fresh idempotency key, the card's payment
  method id, the processor customer the charge names and whether the processor keeps
  the card for it (``charge_customer``: decided once, so every resend is identical).
- The processor is called with that key, outside any transaction.
- ``card_payment_finish`` (one transaction) records the succeeded charge as the
  ledger's payment (``payment_receive``, auto-applied oldest first, the rest open
  credit) with the processor's charge id, once: a second call changes nothing.

A decline marks the attempt failed: nothing was charged. No answer (timeout, outage)
or a charge still processing leaves it CHARGING; ``card_payment_resume`` sends the
identical request again with the same key, so the card is never charged twice.
"""

import uuid

from django.db import connection, transaction

from finance.errors import FinanceError
from finance.models import Batch, CardPayment, Contact, FinancialEntity, PaymentMethod
from finance.money import quantize
from finance.services.batches import lock_batch_for_writing
from finance.services.cards import card_customer_ref, charge_customer, save_card_after_charge
from finance.services.payments import payment_receive
from processors import (
    ChargeRequest,
    ChargeStatus,
    ProcessorDeclined,
    ProcessorError,
    ProcessorTimeout,
    ProcessorUnavailable,
    get_processor,
)


class CardPaymentPending(FinanceError):
    """The processor's answer is not known yet; the attempt is asked about again later."""


@transaction.atomic
def card_payment_start(
    *,
    payer: Contact,
    method: PaymentMethod,
    amount,
    date,
    batch: Batch,
    card_token: str,
    entity: FinancialEntity | None = None,
    save_card: bool = False,
    customer_ref: str = "",
    user=None,
) -> CardPayment:
    """Phase one: check and commit the attempt (see module doc). ``customer_ref`` and
    ``save_card`` are what ``charge_customer`` decided: a card is kept only for a
    customer."""
    if method.type != PaymentMethod.Type.CREDIT_CARD or method.gateway_account_id is None:
        raise FinanceError(f"{method.name} is not a card method with a processor; record the payment instead.")
    card_token = (card_token or "").strip()
    if not card_token or len(card_token) > 100 or not card_token.replace("_", "").isalnum():
        raise FinanceError("Enter the card in the card form.")
    amount = quantize(amount)
    if amount <= 0:
        raise FinanceError(f"A payment amount must be greater than zero (got {amount:,.2f}).")
    if save_card and not customer_ref:
        raise FinanceError("A card is saved only for the payer's customer at the processor.")
    if not customer_ref:
        customer_ref = card_customer_ref(method.gateway_account, card_token)
    batch = lock_batch_for_writing(batch)
    if entity is None:
        if method.cash_account is None:
            raise FinanceError(f"Payment method {method.code} has no cash account.")
        entity = method.cash_account.entity
    return CardPayment.objects.create(
        payer=payer,
        method=method,
        entity=entity,
        amount=amount,
        currency=entity.currency,
        date=date,
        batch=batch,
        card_token=card_token,
        save_card=save_card,
        customer_ref=customer_ref,
        idempotency_key=f"cardpay-{uuid.uuid4().hex}",
        created_by=user,
    )


@transaction.atomic
def card_payment_finish(*, attempt: CardPayment, charge_id: str) -> CardPayment:
    """Phase two for a succeeded charge: record the payment once (see module doc)."""
    attempt = CardPayment.objects.select_for_update().select_related("payer", "method", "batch").get(pk=attempt.pk)
    if attempt.status == CardPayment.Status.SUCCEEDED:
        return attempt
    payment = payment_receive(
        payer=attempt.payer,
        method=attempt.method,
        amount=attempt.amount,
        date=attempt.date,
        batch=attempt.batch,
        entity=attempt.entity,
        reference=charge_id,
        processor_charge_id=charge_id,
        user=attempt.created_by,
    )
    attempt.status = CardPayment.Status.SUCCEEDED
    attempt.charge_id = charge_id[:100]
    attempt.payment = payment
    attempt.save(update_fields=["status", "charge_id", "payment"])
    return attempt


def _fail(attempt: CardPayment, message: str) -> None:
    CardPayment.objects.filter(pk=attempt.pk, status=CardPayment.Status.CHARGING).update(
        status=CardPayment.Status.FAILED, failure_message=message[:300]
    )


def card_payment_resume(attempt: CardPayment) -> CardPayment:
    """Send the attempt's charge (again, with the same key) and record the answer.
    Must run outside a transaction."""
    if connection.in_atomic_block:
        raise RuntimeError("A card charge cannot run inside a database transaction.")
    attempt = CardPayment.objects.select_related("payer", "method__gateway_account").get(pk=attempt.pk)
    if attempt.status != CardPayment.Status.CHARGING:
        return attempt
    request = ChargeRequest(
        amount=attempt.amount,
        currency=attempt.currency,
        payment_method_token=attempt.card_token,
        idempotency_key=attempt.idempotency_key,
        customer_ref=attempt.customer_ref,
        save_payment_method=attempt.save_card,
        description=f"Payment from {attempt.payer.name}"[:200],
        metadata={"card_payment": str(attempt.pk), "party_id": attempt.payer.party_id},
    )
    processor = get_processor(attempt.method.gateway_account)
    try:
        result = processor.charge(request)
    except ProcessorDeclined as exc:
        _fail(attempt, f"Declined: {exc}")
        raise FinanceError(f"The card was declined ({str(exc).rstrip('.')}). Nothing was charged.") from exc
    except (ProcessorTimeout, ProcessorUnavailable) as exc:
        raise CardPaymentPending(
            f"The processor did not answer ({exc}); the charge is asked about again, never made twice."
        ) from exc
    except ProcessorError as exc:
        _fail(attempt, f"Refused: {exc}")
        raise FinanceError(f"The processor refused the charge ({exc}). Nothing was charged.") from exc
    finally:
        processor.close()
    if result.status == ChargeStatus.FAILED:
        reason = result.failure_message or result.failure_code or "failed"
        _fail(attempt, f"Failed: {reason}")
        raise FinanceError(f"The card charge failed ({reason}). Nothing was charged.")
    if result.status != ChargeStatus.SUCCEEDED:
        raise CardPaymentPending(f"The card charge {result.processor_id} is {result.status}; it is recorded when paid.")
    if result.amount != attempt.amount:
        raise FinanceError(f"The processor charged {result.amount:,.2f}, not {attempt.amount:,.2f}; held for review.")
    return card_payment_finish(attempt=attempt, charge_id=result.processor_id)


def payment_receive_by_card(
    *, payer: Contact, method: PaymentMethod, card_token: str, save_card: bool = False, user=None, **kwargs
) -> CardPayment:
    """Receive a payment by card: decide the charge's customer (with ``save_card``, the
    payer's customer at the processor, made when it has none), start, charge, record;
    then save the card on the payer when the processor kept it. Returns the succeeded
    attempt (its ``payment``); raises FinanceError when declined and
    ``CardPaymentPending`` when the answer is not known yet."""
    if method.type != PaymentMethod.Type.CREDIT_CARD or method.gateway_account_id is None:
        raise FinanceError(f"{method.name} is not a card method with a processor; record the payment instead.")
    customer_ref, keep = charge_customer(
        contact=payer,
        gateway_account=method.gateway_account,
        payment_method_id=(card_token or "").strip(),
        save_card=save_card,
    )
    attempt = card_payment_start(
        payer=payer,
        method=method,
        card_token=card_token,
        save_card=keep,
        customer_ref=customer_ref,
        user=user,
        **kwargs,
    )
    attempt = card_payment_resume(attempt)
    if attempt.save_card:
        save_card_after_charge(
            user=user,
            contact=attempt.payer,
            method=attempt.method,
            payment_method_id=attempt.card_token,
            customer_ref=attempt.customer_ref,
        )
    return attempt
