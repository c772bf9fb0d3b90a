"""Cards: the processor's card form on the pages, and cards saved on contacts.

Rules kept here: a saved card holds only what the processor returned for a tokenized
card (payment method id, brand, last four digits, expiry) and the processor customer
it was charged for; one row per (gateway account, payment method id); a card is used
only for the contact it was saved on, with the gateway it was saved through.

A card can be charged again only when the processor keeps it for a customer (Stripe: a
PaymentMethod used without a customer can never be used again). So a contact has one
processor customer per gateway account (``ProcessorCustomer``, made once by
``processor_customer_for``), and a charge whose card is to be saved names that customer
and asks the processor to keep the card (``ChargeRequest.save_payment_method``); the
saved card records that customer, and later charges with it name it.
"""

import logging
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from finance.errors import FinanceError
from finance.models import Contact, GatewayAccount, PaymentMethod, ProcessorCustomer, SavedCard
from processors import STRIPE, ProcessorError, get_processor
from processors.money import to_minor_units

log = logging.getLogger(__name__)


@transaction.atomic
def saved_card_save(
    *,
    contact: Contact,
    gateway_account: GatewayAccount,
    processor_id: str,
    brand: str,
    last4: str,
    exp_month: int,
    exp_year: int,
    customer_ref: str = "",
    user=None,
) -> SavedCard:
    """Save (or refresh) the card ``processor_id`` on ``contact``."""
    if not processor_id or not last4.isdigit() or len(last4) != 4:
        raise FinanceError("The processor did not describe the card; it was not saved.")
    existing = (
        SavedCard.objects.select_for_update().filter(gateway_account=gateway_account, processor_id=processor_id).first()
    )
    if existing is not None and existing.contact_id != contact.pk:
        raise FinanceError("That card is saved on another contact.")
    card, _ = SavedCard.objects.update_or_create(
        gateway_account=gateway_account,
        processor_id=processor_id,
        defaults={
            "contact": contact,
            "customer_ref": customer_ref[:200],
            "brand": brand[:20],
            "last4": last4,
            "exp_month": exp_month,
            "exp_year": exp_year,
        },
        create_defaults={
            "contact": contact,
            "customer_ref": customer_ref[:200],
            "brand": brand[:20],
            "last4": last4,
            "exp_month": exp_month,
            "exp_year": exp_year,
            "created_by": user,
        },
    )
    return card


def saved_card_for(*, contact: Contact, gateway_account: GatewayAccount, card_id) -> SavedCard:
    """The saved card ``card_id`` of ``contact`` through ``gateway_account``, else refused."""
    card = SavedCard.objects.filter(pk=card_id, contact=contact, gateway_account=gateway_account).first()
    if card is None:
        raise FinanceError("That saved card is not one of this contact's cards for this payment method.")
    return card


def card_customer_ref(gateway: GatewayAccount | None, payment_method_id: str) -> str:
    """The processor customer a charge with ``payment_method_id`` names: the customer
    its saved card is attached to, "" for a card that is not saved (or saved with
    none). A processor refuses a customer it does not know, so nothing else is sent."""
    if gateway is None or not payment_method_id:
        return ""
    return (
        SavedCard.objects.filter(gateway_account=gateway, processor_id=payment_method_id)
        .values_list("customer_ref", flat=True)
        .first()
        or ""
    )


def processor_customer_key(*, contact: Contact, gateway_account: GatewayAccount) -> str:
    """The idempotency key of the request that creates ``contact``'s customer at
    ``gateway_account``: the same for every try, so a retry or a race makes one."""
    return f"customer-{gateway_account.pk}-{contact.pk}-{contact.party_id}"[:255]


def processor_customer_for(*, contact: Contact, gateway_account: GatewayAccount) -> ProcessorCustomer:
    """``contact``'s customer at ``gateway_account``'s processor, made when it has none.

    Runs outside a transaction (it calls the processor): ``create_customer`` with a key
    derived from the gateway account and the contact (``processor_customer_key``), so a
    retry after a lost answer, or two requests at once, get the processor's one customer;
    then the row is inserted under its unique constraint, and when a concurrent insert
    won, that row is read back. Raises ``FinanceError`` when the processor refuses or does
    not answer (nothing is charged then)."""
    existing = ProcessorCustomer.objects.filter(contact=contact, gateway_account=gateway_account).first()
    if existing is not None:
        return existing
    if connection.in_atomic_block:
        raise RuntimeError("A processor customer cannot be created inside a database transaction.")
    processor = get_processor(gateway_account)
    try:
        customer_id = processor.create_customer(
            name=contact.name,
            email=contact.email or "",
            reference=contact.party_id,
            idempotency_key=processor_customer_key(contact=contact, gateway_account=gateway_account),
        )
    except ProcessorError as exc:
        raise FinanceError(f"The processor could not make a customer to keep the card for ({exc}).") from exc
    finally:
        processor.close()
    try:
        with transaction.atomic():
            return ProcessorCustomer.objects.create(
                contact=contact, gateway_account=gateway_account, customer_id=customer_id
            )
    except IntegrityError:
        # A concurrent request inserted it first (with the same customer: same key).
        return ProcessorCustomer.objects.get(contact=contact, gateway_account=gateway_account)


def charge_customer(
    *, contact: Contact, gateway_account: GatewayAccount | None, payment_method_id: str, save_card: bool
) -> tuple[str, bool]:
    """(the processor customer a charge names, whether it asks the processor to keep the
    card), decided once before the charge is first sent and stored with the attempt.

    A saved card is charged for the customer it is kept for, and not saved again; a card
    to be saved is charged for the contact's customer (made now when it has none: call
    outside a transaction) and kept for it; any other card names no customer."""
    if gateway_account is None:
        return "", False
    saved = card_customer_ref(gateway_account, payment_method_id)
    if saved:
        return saved, False
    if not save_card or not payment_method_id.startswith("pm_"):
        return "", False
    return processor_customer_for(contact=contact, gateway_account=gateway_account).customer_id, True


def save_card_after_charge(
    *, user, contact: Contact, method: PaymentMethod, payment_method_id: str, customer_ref: str = ""
) -> SavedCard | None:
    """Save the card a succeeded charge used on ``contact``, as the processor describes
    it (brand, last four, expiry: ``get_payment_method``), with the customer the charge
    kept it for (``customer_ref``; else the one the processor says it is attached to).
    Only payment method ids (``pm_…``) are saved; a processor that cannot describe the
    card saves nothing (the payment stands either way). Runs outside a transaction (it
    asks the processor)."""
    gateway = method.gateway_account
    if gateway is None or not payment_method_id.startswith("pm_"):
        return None
    processor = get_processor(gateway)
    try:
        details = processor.get_payment_method(payment_method_id)
    except ProcessorError as exc:
        log.warning("card %s not saved for contact %s: %s", payment_method_id, contact.pk, exc)
        return None
    finally:
        processor.close()
    return saved_card_save(
        contact=contact,
        gateway_account=gateway,
        processor_id=details.processor_id,
        brand=details.brand,
        last4=details.last4,
        exp_month=details.exp_month,
        exp_year=details.exp_year,
        customer_ref=customer_ref or details.customer_ref,
        user=user,
    )


def card_element(methods, *, amount: Decimal | None = None, currency: str = "") -> dict | None:
    """What a page needs to mount the processor's card form for the card methods among
    ``methods``, or None when there are none: the processor, its publishable key and
    the script that draws the form (the sandbox's ``elements.js``; Stripe.js, which
    Stripe serves itself), and for Stripe's Payment Element the amount in minor units
    and the currency (no amount: the element only collects the card)."""
    gateway = next(
        (
            m.gateway_account
            for m in methods
            if m.type == PaymentMethod.Type.CREDIT_CARD and m.gateway_account_id and m.gateway_account.is_active
        ),
        None,
    )
    if gateway is None:
        return None
    config = {"processor": gateway.processor, "gateway_id": gateway.pk, "amount": "", "currency": currency.lower()}
    if amount is not None and currency:
        config["amount"] = str(to_minor_units(amount, currency))
    if gateway.processor == STRIPE:
        config.update(key=gateway.publishable_key, script="https://js.stripe.com/v3/")
    else:
        key = getattr(settings, "SANDBOX_PROCESSOR_PUBLISHABLE_KEY", "") or (
            "pk_" + settings.SANDBOX_PROCESSOR_API_KEY.removeprefix("sk_")
        )
        config.update(key=key, script=settings.SANDBOX_PROCESSOR_URL.rstrip("/") + "/elements.js")
    return config
