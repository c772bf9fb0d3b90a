"""Read queries that find contacts, invoices and payments from what a user typed.

They feed the contact finder of the entry forms and the cart, and the search box of
the header. Every lookup is an index lookup with a limit, so a keystroke costs the
same on a ledger of a million invoices as on the demo:

- contacts by party id: equal, or starting with the digits typed, on the unique index
  of ``party_id`` (a range of digit strings, which every collation orders alike);
- contacts by major key: equal, on its unique index;
- contacts by the start of a name, sort name ("Fischer, Kenneth") or email, any case:
  on the ``UPPER(...) text_pattern_ops`` indexes of migration 0026 (btree, no extension);
- the members of a company whose name starts so: the companies by that index, then
  their members by the ``company`` foreign key index;
- invoices by number: equal, on its unique index;
- payments by id (the primary key) or by reference (check number, transaction id):
  equal, on the partial index of non-blank references (migration 0026).

Matching is on the start of a word a user types first (the first name, the last name,
the company, the email); the other words typed narrow the matches down (each must
appear in the name or the company's name). Substring matching anywhere in a name would
need a trigram index (pg_trgm), which the embedded PostgreSQL server does not ship.
"""

import re
from dataclasses import dataclass, field

from django.db.models import Q
from django.db.models.functions import Upper

from finance.models import Contact, Invoice, Payment

CONTACT_LIMIT = 10
# Shorter text (one letter) matches too many names to be worth a list.
MIN_TEXT = 2
# Companies whose members a search by company name brings along.
COMPANY_LIMIT = 20
PAYMENT_LIMIT = 25
MAX_QUERY = 100
# "Kenneth Fischer (27158)": the label the finder puts in its box once a contact is picked.
LABELLED_PARTY_ID = re.compile(r"\((\d{1,20})\)\s*$")


def normalize(query: str | None) -> str:
    """The query with its whitespace collapsed, at most ``MAX_QUERY`` characters."""
    return " ".join((query or "").split())[:MAX_QUERY]


def _after_prefix(digits: str) -> str | None:
    """The smallest digit string above every string that starts with ``digits``
    ("239" → "24"), or None when there is none ("99")."""
    kept = digits.rstrip("9")
    if not kept:
        return None
    return kept[:-1] + str(int(kept[-1]) + 1)


def _party_id_prefix(digits: str) -> Q:
    q = Q(party_id__gte=digits, party_id__startswith=digits)
    upper = _after_prefix(digits)
    if upper is not None:
        q &= Q(party_id__lt=upper)
    return q


def contact_search(query: str, *, limit: int = CONTACT_LIMIT) -> list[Contact]:
    """Contacts matching ``query``, at most ``limit``. Digits are a party id: the contacts
    whose party id starts with them, in party id order (the exact one first). Other text:
    an exact major key first, then the matches of the start of a word (see the module
    docstring) by sort name; a single letter finds nothing more than a major key.

    The order is taken after matching (a sort of the matches, ``UPPER(sort_name)``,
    which no index provides): walking the sort name index in order until ``limit``
    matches turn up would read most of it for a rare name."""
    text = normalize(query)
    labelled = LABELLED_PARTY_ID.search(text)
    if labelled:  # the finder's own label of a picked contact
        text = labelled.group(1)
    if not text or limit <= 0:
        return []
    contacts = Contact.objects.select_related("company")
    if text.isdigit():
        return list(contacts.filter(_party_id_prefix(text)).order_by("party_id")[:limit])

    found = {c.pk: c for c in contacts.filter(Q(major_key=text) | Q(major_key=text.upper()))[:limit]}
    first, *rest = text.split(" ")
    if len(text) < MIN_TEXT or len(found) >= limit:
        return list(found.values())
    starts = Q(name__istartswith=text) | Q(sort_name__istartswith=first) | Q(email__istartswith=first)
    if first != text:
        starts |= Q(name__istartswith=first)
    companies = list(
        Contact.objects.filter(kind=Contact.Kind.ORGANIZATION, name__istartswith=first)
        .order_by()
        .values_list("pk", flat=True)[:COMPANY_LIMIT]
    )
    if companies:
        starts |= Q(company_id__in=companies)
    matches = contacts.filter(starts).exclude(pk__in=list(found))
    for word in rest:
        matches = matches.filter(Q(name__icontains=word) | Q(company__name__icontains=word))
    ordered = matches.order_by(Upper("sort_name"), Upper("name"), "pk")[: limit - len(found)]
    return [*found.values(), *ordered]


def contact_from_text(text: str) -> Contact | None:
    """The one contact ``text`` names: a party id, or a finder label ending in "(party id)"."""
    text = normalize(text)
    match = LABELLED_PARTY_ID.search(text)
    party_id = match.group(1) if match else text
    if not party_id.isdigit():
        return None
    return Contact.objects.select_related("company").filter(party_id=party_id).first()


def invoices_by_number(query: str) -> list[Invoice]:
    """The invoice numbered ``query`` ("1234"; a leading "#" is ignored), as a list."""
    number = normalize(query).removeprefix("#").strip()
    if not number or " " in number:
        return []
    return list(Invoice.objects.select_related("bill_to", "entity").filter(number=number)[:1])


def payments_by_id_or_reference(query: str, *, limit: int = PAYMENT_LIMIT) -> list[Payment]:
    """Payments whose id is ``query`` (digits; a leading "#" is ignored) or whose
    reference is ``query``, newest first, at most ``limit``."""
    text = normalize(query)
    if not text:
        return []
    match = Q(reference=text)
    ident = text.removeprefix("#").strip()
    if ident.isdigit() and len(ident) < 19:
        match |= Q(pk=int(ident))
    return list(Payment.objects.select_related("payer", "method").filter(match).order_by("-date", "-pk")[:limit])


@dataclass
class SearchResults:
    query: str
    contacts: list[Contact] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    contact_limit: int = CONTACT_LIMIT

    @property
    def count(self) -> int:
        return len(self.contacts) + len(self.invoices) + len(self.payments)

    @property
    def more_contacts(self) -> bool:
        """True when the contacts shown may not be all that match."""
        return len(self.contacts) >= self.contact_limit


def search_everything(query: str, *, contact_limit: int = CONTACT_LIMIT) -> SearchResults:
    """Contacts, invoices (by number) and payments (by id or reference) matching ``query``."""
    text = normalize(query)
    results = SearchResults(query=text, contact_limit=contact_limit)
    if not text:
        return results
    results.contacts = contact_search(text, limit=contact_limit)
    results.invoices = invoices_by_number(text)
    results.payments = payments_by_id_or_reference(text)
    return results
