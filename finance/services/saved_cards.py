"""Cards saved on contacts for later payments.

Rules kept here: a saved card holds only what the processor returned for a tokenized
card (payment method id, brand, last four digits, expiry) and the processor customer
it was charged for; one row per (gateway account, payment method id); a card is used
only for the contact it was saved on, with the gateway it was saved through.
"""

from django.db import transaction

from finance.errors import FinanceError
from finance.models import Contact, GatewayAccount, SavedCard


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
    existing = SavedCard.objects.select_for_update().filter(
        gateway_account=gateway_account, processor_id=processor_id
    ).first()
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
