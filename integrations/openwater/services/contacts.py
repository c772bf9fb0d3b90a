"""The payer of an OpenWater invoice as a Pay Central contact: matched, or created.

Rules kept here:
- The payer (``contact_for``) is, in this order: the contact whose party id, then major
  key, is the user's ``thirdPartyUniqueId`` (the person); the contact whose party id,
  then major key, is the invoice's ``thirdPartyCorporateId`` (who is billed: a company
  when the association bills the company, or the person where OpenWater keeps the
  person's id there); the contact with the email (case-insensitive, oldest first); else
  a new individual contact with the user's name and email, flagged for review, numbered
  by ``finance.services.contacts.next_party_id``. The corporate id never becomes the
  company of a new contact: one is only made when nothing matched, so that id is no
  contact Pay Central knows. The user's unique id is not stored on a new contact either
  (staff review it).
"""

from finance.models import Contact
from finance.services.contacts import next_party_id
from integrations.openwater.selectors import contact_by_email, contact_by_third_party_id
from integrations.openwater.services.mapping import Payer


def contact_for(payer: Payer) -> tuple[Contact, bool]:
    """The payer's contact (module doc): by the user's thirdPartyUniqueId (party id,
    then major key), then by the invoice's thirdPartyCorporateId (the same), then by
    email; else a new individual contact (the caller flags it for review). The caller
    holds the integration's row lock, so one payer is never created twice."""
    found = contact_by_third_party_id(payer.unique_id) or contact_by_third_party_id(payer.corporate_id)
    if found is None and payer.email:
        found = contact_by_email(payer.email)
    if found is not None:
        return found, False
    name = f"{payer.first_name} {payer.last_name}".strip() or payer.email or f"OpenWater payer {payer.invoice_id}"
    contact = Contact.objects.create(
        party_id=next_party_id(),
        name=name[:200],
        sort_name=(f"{payer.last_name}, {payer.first_name}" if payer.last_name else name)[:200],
        kind=Contact.Kind.INDIVIDUAL,
        email=payer.email[:254],
    )
    return contact, True
