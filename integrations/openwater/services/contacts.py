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
- The match is one query whatever the number of payers (``contacts_matching``: a page
  of invoices asks once); the new contact's details are ``new_contact``'s.
"""

from django.db import connection

from finance.models import Contact
from finance.services.contacts import next_party_id
from integrations.openwater.services.mapping import Payer


def contacts_matching(payers: list[Payer]) -> list[tuple[Contact | None, str]]:
    """For each payer, the contact the rule (module doc) matches in the database (None
    when none does) and the payer's email as the database compares it (upper-cased,
    "" when none): one query."""
    if not payers:
        return []
    columns = [f.column for f in Contact._meta.concrete_fields]
    select = ", ".join(f"c.{connection.ops.quote_name(c)}" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT v.n, UPPER(v.email), {select}
                  FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[]) AS v(n, uid, corp, email)
                  LEFT JOIN LATERAL (
                       SELECT m.id FROM (
                              SELECT c.id, 1 AS rank FROM finance_contact c WHERE v.uid <> '' AND c.party_id = v.uid
                              UNION ALL
                              SELECT c.id, 2 FROM finance_contact c WHERE v.uid <> '' AND c.major_key = v.uid
                              UNION ALL
                              SELECT c.id, 3 FROM finance_contact c WHERE v.corp <> '' AND c.party_id = v.corp
                              UNION ALL
                              SELECT c.id, 4 FROM finance_contact c WHERE v.corp <> '' AND c.major_key = v.corp
                              UNION ALL
                              (SELECT c.id, 5 FROM finance_contact c
                                WHERE v.email <> '' AND UPPER(c.email::text) = UPPER(v.email)
                                ORDER BY c.id LIMIT 1)) m
                        ORDER BY m.rank LIMIT 1) found ON true
                  LEFT JOIN finance_contact c ON c.id = found.id
                 ORDER BY v.n""",
            [
                list(range(len(payers))),
                [p.unique_id for p in payers],
                [p.corporate_id for p in payers],
                [p.email for p in payers],
            ],
        )
        rows = cursor.fetchall()
    attnames = [f.attname for f in Contact._meta.concrete_fields]
    return [
        (Contact.from_db(connection.alias, attnames, row[2:]) if row[2] is not None else None, row[1] or "")
        for row in rows
    ]


def new_contact(payer: Payer) -> Contact:
    """The new individual contact of a payer nothing matched (module doc), not saved and
    not numbered yet."""
    name = f"{payer.first_name} {payer.last_name}".strip() or payer.email or f"OpenWater payer {payer.invoice_id}"
    return Contact(
        name=name[:200],
        sort_name=(f"{payer.last_name}, {payer.first_name}" if payer.last_name else name)[:200],
        kind=Contact.Kind.INDIVIDUAL,
        email=payer.email[:254],
    )


def contact_for(payer: Payer) -> tuple[Contact, bool]:
    """The payer's contact (module doc): by the user's thirdPartyUniqueId (party id,
    then major key), then by the invoice's thirdPartyCorporateId (the same), then by
    email; else a new individual contact (the caller flags it for review). The caller
    holds the integration's row lock, so one payer is never created twice."""
    ((found, _),) = contacts_matching([payer])
    if found is not None:
        return found, False
    contact = new_contact(payer)
    contact.party_id = next_party_id()
    contact.save(force_insert=True)
    return contact, True
