"""Demo data of the Pay Central app: a member sign-in for the member checkout."""

from django.contrib.auth import get_user_model

from checkout.models import MemberAccount
from finance.models import Invoice

MEMBER_USERNAME = "member"
MEMBER_PASSWORD = "member"


def seed(builder) -> str:
    """A member user for a person who belongs to a company, preferring one with open credit."""
    people = sorted(builder.people, key=lambda c: c.party_id)
    with_credit = set(Invoice.objects.filter(bill_to__in=people, balance__lt=0).values_list("bill_to_id", flat=True))
    contact = next((p for p in people if p.pk in with_credit and p.company_id), None) or next(
        (p for p in people if p.company_id), people[0]
    )
    User = get_user_model()  # noqa: N806
    user = User.objects.filter(username=MEMBER_USERNAME).first()
    if user is None:
        user = User(username=MEMBER_USERNAME, first_name=contact.name.split()[0], email=contact.email or "")
        user.set_password(MEMBER_PASSWORD)
        user.save()
    MemberAccount.objects.get_or_create(user=user, defaults={"contact": contact})
    return f"member checkout: {MEMBER_USERNAME} / {MEMBER_PASSWORD} signs in as {contact.name} ({contact.party_id})"
