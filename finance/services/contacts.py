"""Contacts (parties): numbering new ones.

Rules kept here:
- A party id is numeric text (the ``contact_party_id_numeric`` constraint) and unique.
  New contacts take the next free number from the ``party_id`` number sequence, read
  and advanced under its row lock in the caller's transaction: two transactions never
  get the same number, and a rolled-back one gives its number back. The sequence
  starts after the highest numeric party id already stored (10001 when there is none),
  and a number already taken (a contact made with its own id) is stepped over. Many
  may be taken at once (``reserve_party_ids``), in order, by the same rule.
"""

from django.db.models import BigIntegerField, Max
from django.db.models.functions import Cast, Length

from finance.models import Contact, NumberSequence


def next_party_id() -> str:
    """The next free numeric party id, from a row-locked sequence (gap-free in a transaction).

    Call it inside the transaction that creates the contact (it takes a row lock)."""
    return reserve_party_ids(1)[0]


def reserve_party_ids(n: int) -> list[str]:
    """The next ``n`` free numeric party ids, in order (module doc): the one numbering
    rule of new contacts, one at a time or many. Call it inside the transaction that
    creates the contacts (it takes the sequence's row lock)."""
    if n <= 0:
        return []
    seq = NumberSequence.objects.filter(name="party_id").first()
    if seq is None:
        top = (
            Contact.objects.annotate(n=Length("party_id"))
            .filter(n__lte=18)
            .aggregate(m=Max(Cast("party_id", output_field=BigIntegerField())))["m"]
        )
        seq, _ = NumberSequence.objects.get_or_create(name="party_id", defaults={"next_value": (top or 10000) + 1})
    seq = NumberSequence.objects.select_for_update().get(pk=seq.pk)
    value = seq.next_value
    ids: list[str] = []
    while len(ids) < n:
        window = [str(v) for v in range(value, value + n - len(ids) + 100)]
        taken = set(Contact.objects.filter(party_id__in=window).values_list("party_id", flat=True))
        ids += [v for v in window if v not in taken][: n - len(ids)]
        value = int(window[-1]) + 1
    seq.next_value = int(ids[-1]) + 1
    seq.save(update_fields=["next_value"])
    return ids
