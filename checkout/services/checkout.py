"""Paying a cart's remainder by card through the processor: save, commit, call, record.

A card charge cannot share the ledger's transaction, so it runs in three steps:

1. ``cart_charge_start`` (one transaction): checks everything a submit needs, freezes
   the cart (status "charging": nothing on it can change) and commits the amount, the
   card token, a fresh idempotency key, the processor customer the charge names and
   whether the processor keeps the card for it (so every resend is identical).
2. The processor is called with that key, outside any transaction.
3. ``cart_charge_finish`` (one transaction): writes the order exactly as a cash submit
   does, with the processor's charge id on the card payment.

A decline opens the cart again with the processor's reason. When the processor does
not answer (timeout, outage) or the charge is still processing, the cart stays frozen
and ``cart_charge_resume`` sends the identical request again with the same key: the
processor answers with the first charge, never a second one. When the order cannot be
written after a successful charge (a credit applied to the cart was used elsewhere
meanwhile), the charge is refunded in full and the cart opens again with the reason.
"""

import logging
import uuid
from decimal import Decimal

from django.db import connection, transaction

from checkout.models import Cart
from checkout.services.cart import CARD_TYPES, CartError, _plan_submit, _write_order, order_batch
from finance.errors import BatchClosed, FinanceError
from finance.models import Batch, PaymentMethod
from finance.services.batches import lock_batch_for_writing
from finance.services.cards import card_customer_ref, charge_customer, save_card_after_charge
from processors import (
    ChargeRequest,
    ChargeStatus,
    ProcessorDeclined,
    ProcessorError,
    ProcessorTimeout,
    ProcessorUnavailable,
    RefundRequest,
    RefundStatus,
    get_processor,
)

log = logging.getLogger(__name__)


class CardDeclined(CartError):
    """The processor refused the card; nothing was charged and the cart is open again."""


class ChargePending(CartError):
    """The charge's outcome is not known yet; the cart stays frozen until it is."""


def _lock(cart: Cart, status: str) -> Cart:
    cart = (
        Cart.objects.select_for_update(of=("self",))
        .select_related("contact", "method_set", "entity", "charge_method__gateway_account")
        .get(pk=cart.pk)
    )
    if cart.status != status:
        if cart.status == Cart.Status.CHARGING:
            raise ChargePending("A card charge for this cart is in progress; check its outcome first.")
        raise CartError(f"This cart is {cart.get_status_display().lower()}; it cannot change.")
    return cart


@transaction.atomic
def cart_charge_start(
    *,
    user,
    cart: Cart,
    method: PaymentMethod,
    card_token: str,
    date=None,
    batch: Batch | None = None,
    customer_ref: str = "",
    save_card: bool = False,
) -> Cart:
    """Check the order, freeze the cart and commit the charge's key, amount and token,
    the customer it names and whether the card is kept for it (``charge_customer``
    decides them; a saved card's customer when none is given), and the batch the order
    is to go into (``cart_submit`` chooses it the same way)."""
    cart = _lock(cart, Cart.Status.OPEN)
    batch = order_batch(user, batch)
    if batch is not None and not batch.accepts_transactions:
        raise CartError(f"Batch {batch.number} is {batch.get_status_display().lower()}; choose an open batch.")
    if method.type not in CARD_TYPES:
        raise CartError(f"{method.name} is not a card method.")
    card_token = (card_token or "").strip()
    if not card_token:
        raise CartError("Enter the card (a card token from the processor's card form).")
    if len(card_token) > 100 or not card_token.replace("_", "").isalnum():
        raise CartError("The card token is not valid; enter the card again.")
    if save_card and not customer_ref:
        raise CartError("A card is saved only for the bill-to's customer at the processor.")
    if not customer_ref:
        customer_ref = card_customer_ref(method.gateway_account, card_token)
    plan = _plan_submit(cart, method, date)
    if plan.remainder <= 0:
        raise CartError("Nothing is left to pay by card: the credit applied covers the order. Submit it without one.")
    cart.status = Cart.Status.CHARGING
    cart.charge_method = method
    cart.charge_amount = plan.remainder
    cart.charge_token = card_token
    cart.charge_key = f"cart-{cart.pk}-{uuid.uuid4().hex}"
    cart.charge_customer = customer_ref
    cart.charge_save_card = save_card
    cart.charge_id = ""
    cart.charge_error = ""
    cart.batch = batch
    cart.save(
        update_fields=[
            "batch",
            "status",
            "charge_method",
            "charge_amount",
            "charge_token",
            "charge_key",
            "charge_customer",
            "charge_save_card",
            "charge_id",
            "charge_error",
        ]
    )
    return cart


@transaction.atomic
def cart_charge_finish(*, user, cart: Cart, charge_id: str, date=None) -> Cart:
    """Write the order of a charged cart (one transaction, like a cash submit), into the
    batch chosen when the charge started; when that batch was closed meanwhile (the
    money is taken), into the day's "Cart orders" batch."""
    cart = _lock(cart, Cart.Status.CHARGING)
    plan = _plan_submit(cart, cart.charge_method, date)
    if plan.remainder != cart.charge_amount:
        raise CartError(
            f"The order now leaves {plan.remainder} to pay but {cart.charge_amount} was charged; nothing was written."
        )
    cart.charge_id = charge_id
    cart.save(update_fields=["charge_id"])
    batch = None
    if cart.batch_id:
        try:
            batch = lock_batch_for_writing(cart.batch)
        except BatchClosed:
            batch = None
    return _write_order(
        plan,
        user=user,
        method=cart.charge_method,
        reference=charge_id[:100],
        processor_charge_id=charge_id,
        batch=batch,
    )


@transaction.atomic
def _reopen(cart: Cart, reason: str) -> Cart:
    cart = _lock(cart, Cart.Status.CHARGING)
    cart.status = Cart.Status.OPEN
    cart.charge_error = reason[:300]
    cart.charge_token = ""
    cart.charge_key = ""
    cart.charge_customer = ""
    cart.charge_save_card = False
    cart.batch = None
    cart.save(
        update_fields=[
            "status",
            "charge_error",
            "charge_token",
            "charge_key",
            "charge_customer",
            "charge_save_card",
            "batch",
        ]
    )
    return cart


def _note(cart: Cart, message: str) -> None:
    Cart.objects.filter(pk=cart.pk, status=Cart.Status.CHARGING).update(charge_error=message[:300])


def cart_pay_by_card(
    *,
    user,
    cart: Cart,
    method: PaymentMethod,
    card_token: str,
    date=None,
    batch: Batch | None = None,
    save_card: bool = False,
) -> Cart:
    """Submit a cart whose remainder is paid by card. Must run outside a transaction.

    ``card_token`` is the payment method id the processor's card form made (or that of
    a saved card, charged for the customer it is kept for). With ``save_card``, a card
    entered in the form is charged for the bill-to's customer at the processor (made
    first when there is none), the processor keeps it for that customer, and it is saved
    on the bill-to once the charge succeeded (``save_card_after_charge``).

    Returns the submitted cart; raises ``CardDeclined`` (cart open again),
    ``ChargePending`` (cart frozen until ``cart_charge_resume`` learns the outcome) or
    ``CartError`` (nothing charged, or the charge refunded).
    """
    if connection.in_atomic_block:
        raise RuntimeError("A card charge cannot run inside a database transaction.")
    if method.type not in CARD_TYPES:
        raise CartError(f"{method.name} is not a card method.")
    try:
        customer_ref, keep = charge_customer(
            contact=cart.contact,
            gateway_account=method.gateway_account,
            payment_method_id=(card_token or "").strip(),
            save_card=save_card,
        )
    except FinanceError as exc:
        raise CartError(f"{exc} Nothing was charged.") from exc
    cart = cart_charge_start(
        user=user,
        cart=cart,
        method=method,
        card_token=card_token,
        date=date,
        batch=batch,
        customer_ref=customer_ref,
        save_card=keep,
    )
    submitted = cart_charge_resume(user=user, cart=cart, date=date)
    if keep:
        save_card_after_charge(
            user=user,
            contact=submitted.contact,
            method=method,
            payment_method_id=card_token.strip(),
            customer_ref=customer_ref,
        )
    return submitted


def cart_charge_resume(*, user, cart: Cart, date=None) -> Cart:
    """Send the cart's charge (again, with the same key) and record the answer."""
    if connection.in_atomic_block:
        raise RuntimeError("A card charge cannot run inside a database transaction.")
    cart = Cart.objects.select_related("contact", "entity", "charge_method__gateway_account").get(pk=cart.pk)
    if cart.status == Cart.Status.SUBMITTED:
        return cart
    if cart.status != Cart.Status.CHARGING:
        raise CartError(f"This cart is {cart.get_status_display().lower()}; there is no card charge to check.")
    gateway = cart.charge_method.gateway_account
    request = ChargeRequest(
        amount=cart.charge_amount,
        currency=cart.entity.currency,
        payment_method_token=cart.charge_token,
        idempotency_key=cart.charge_key,
        customer_ref=cart.charge_customer,
        save_payment_method=cart.charge_save_card,
        description=f"Cart {cart.pk} – {cart.contact.name}"[:200],
        metadata={"cart": str(cart.pk), "party_id": cart.contact.party_id},
    )
    processor = get_processor(gateway)
    try:
        try:
            result = processor.charge(request)
        except ProcessorDeclined as exc:
            _reopen(cart, f"Declined: {exc}")
            reason = str(exc).rstrip(".")
            raise CardDeclined(
                f"The card was declined ({reason}). Nothing was charged; the order is open again."
            ) from exc
        except (ProcessorTimeout, ProcessorUnavailable) as exc:
            _note(cart, f"No answer from the processor: {exc}")
            raise ChargePending(
                f"The processor did not answer ({exc}). The order is held until the charge's outcome is known: "
                "check it again (it will not be charged twice)."
            ) from exc
        except ProcessorError as exc:
            _reopen(cart, f"Refused: {exc}")
            raise CartError(f"The processor refused the charge ({exc}). Nothing was charged.") from exc

        if result.status == ChargeStatus.FAILED:
            reason = result.failure_message or result.failure_code or "failed"
            _reopen(cart, f"Failed: {reason}")
            raise CardDeclined(f"The card charge failed ({reason}). Nothing was charged; the order is open again.")
        if result.status != ChargeStatus.SUCCEEDED:
            _note(cart, f"Charge {result.processor_id} is {result.status}.")
            raise ChargePending(
                f"The card charge {result.processor_id} is {result.status}; the order is held until it completes."
            )
        if result.amount != cart.charge_amount:
            _note(cart, f"Charge {result.processor_id} is for {result.amount}, not {cart.charge_amount}.")
            raise CartError(
                f"The processor charged {result.amount}, not {cart.charge_amount}; the order is held for review."
            )
        try:
            return cart_charge_finish(user=user, cart=cart, charge_id=result.processor_id, date=date)
        except CartError as exc:
            return _refund_and_reopen(processor, cart, result.processor_id, exc)
    finally:
        processor.close()


def _refund_and_reopen(processor, cart: Cart, charge_id: str, cause: CartError):
    """The card was charged but the order cannot be written: give the money back."""
    try:
        refund = processor.refund(
            RefundRequest(
                charge_id=charge_id,
                amount=Decimal(cart.charge_amount),
                currency=cart.entity.currency,
                idempotency_key=f"{cart.charge_key}-refund",
                metadata={"cart": str(cart.pk)},
            )
        )
    except ProcessorError as exc:
        _note(cart, f"Charge {charge_id} succeeded but the order failed ({cause}); the refund failed too: {exc}")
        log.error("cart %s: charge %s not refunded after a failed order: %s", cart.pk, charge_id, exc)
        raise CartError(
            f"{cause} The card charge {charge_id} could not be refunded automatically ({exc}): the order is held; "
            "ask finance to refund it."
        ) from exc
    if refund.status == RefundStatus.FAILED:
        _note(cart, f"Charge {charge_id}: refund {refund.processor_id} failed: {refund.failure_message}")
        raise CartError(f"{cause} The refund of card charge {charge_id} failed; the order is held for finance.")
    _reopen(cart, f"Refunded charge {charge_id} ({refund.processor_id}): {cause}")
    raise CartError(f"{cause} The card charge {charge_id} was refunded in full; the order is open again.")
