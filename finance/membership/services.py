"""Membership billing services: join, bill a term, apply available credit.

Rules kept here:
- A term invoice is a real invoice (standard number, type membership, source
  membership billing), cash basis by default (``MembershipSettings``): one line for the
  member type's fee product (the primary line; its amount may be given, else the
  product's price) and one per billing product at its price, each line carrying the
  term's billing begin and end. Lines credit the product's income account (its deferred
  income account when the term begins after the invoice date). Cash-basis invoices post
  nothing when created; their payments post cash / the line's account and are flagged to
  stay out of the GL export (``finance.services.payments``).
- Each term's invoice is kept when later terms are billed; each can be paid or reversed
  on its own. The subscription's paid-through and renewed-through dates follow the
  terms (database triggers, see ``finance.membership.models``).
- Available open credit of the member (earlier overpayments, reversed invoices) in the
  invoice's entity is applied when a membership invoice is created, oldest credit first,
  lines in order. Reversing the invoice (``invoice_reverse``) reverses that use, which
  returns the credit; the next invoice billed gets it again.
- A term's end is not before its begin; a member billed a term needs exactly one active
  subscription of that member type, and the member type must be active.
"""

from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db import transaction

from core.dates import format_day
from finance.errors import FinanceError
from finance.membership.models import MembershipSettings, MemberType, Subscription, Term
from finance.membership.sql import refresh_subscriptions
from finance.models import Batch, Contact, Invoice, Payment
from finance.money import ZERO, quantize
from finance.services.credits import credit_apply, credit_available, credits_of
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, lock_invoices


class MembershipError(FinanceError):
    """A membership rule refused the operation; nothing was written."""


def term_end_for(begin: Date, months: int) -> Date:
    """The last day of a term of ``months`` starting on ``begin``."""
    return begin + relativedelta(months=months) - timedelta(days=1)


def next_term(subscription: Subscription) -> tuple[Date, Date]:
    """The next unbilled term: from the day after renewed-through (or paid-through)."""
    known = [
        d
        for d in (subscription.renewed_through, subscription.paid_through, subscription.opening_paid_through)
        if d is not None
    ]
    last = max(known) if known else subscription.join_date - timedelta(days=1)
    begin = last + timedelta(days=1)
    return begin, term_end_for(begin, subscription.term_months)


def term_lines(member_type: MemberType, begin: Date, end: Date, fee_amount: Decimal | None = None) -> list[LineSpec]:
    """The invoice lines of one term: the fee (primary) line, then the billing products."""
    fee = member_type.fee_product
    lines = [
        LineSpec(
            product=fee,
            unit_price=fee.price if fee_amount is None else quantize(fee_amount),
            description=f"{fee.name} {format_day(begin)}–{format_day(end)}",
            billing_begin=begin,
            billing_end=end,
        )
    ]
    for bp in member_type.billing_products.select_related("product").order_by("position", "pk"):
        lines.append(LineSpec(product=bp.product, description=bp.product.name, billing_begin=begin, billing_end=end))
    return lines


def active_subscription(contact: Contact, member_type: MemberType | None = None) -> Subscription:
    """The contact's single active subscription; refused when there is none or more
    than one (of any member type), naming them."""
    subs = list(
        Subscription.objects.select_related("member_type", "member_type__fee_product")
        .filter(contact=contact, status=Subscription.Status.ACTIVE)
        .order_by("pk")
    )
    if len(subs) > 1:
        kinds = ", ".join(s.member_type.code for s in subs)
        raise MembershipError(
            f"Member {contact.party_id} has {len(subs)} active subscriptions ({kinds}); expected one."
        )
    if not subs:
        raise MembershipError(f"Member {contact.party_id} has no active subscription.")
    sub = subs[0]
    if member_type is not None and sub.member_type_id != member_type.pk:
        raise MembershipError(
            f"Member {contact.party_id}'s active subscription is {sub.member_type.code}, not {member_type.code}."
        )
    return sub


def apply_available_credit(
    *, invoice: Invoice, batch: Batch, date: Date, user=None, source: str = Payment.Source.STAFF
) -> Decimal:
    """Use the bill-to contact's open credit (same entity, oldest first) on ``invoice``'s
    open lines in line order. Returns the amount applied. Runs in the caller's
    transaction; ``credit_apply`` locks the credit and the invoice."""
    applied = ZERO
    for credit in credits_of([invoice.bill_to]).filter(entity_id=invoice.entity_id):
        lock_invoices([credit.pk, invoice.pk])
        credit.refresh_from_db(fields=["balance"])
        available = credit_available(credit)
        if available <= 0:
            continue
        specs = []
        for line in invoice.lines.filter(balance__gt=0).order_by("line_number"):
            if available <= 0:
                break
            part = min(line.balance, available)
            specs.append(ApplicationSpec(line, part))
            available -= part
        if not specs:
            break
        payment = credit_apply(
            credit_invoice=credit, applications=specs, batch=batch, date=date, user=user, source=source
        )
        applied += payment.amount
    return applied


@dataclass
class BilledTerm:
    term: Term
    invoice: Invoice
    credit_applied: Decimal


@transaction.atomic
def term_bill(
    *,
    subscription: Subscription,
    batch: Batch,
    invoice_date: Date,
    term_begin: Date | None = None,
    term_end: Date | None = None,
    fee_amount: Decimal | None = None,
    source: str = Term.Source.RENEWAL,
    user=None,
) -> BilledTerm:
    """Bill one term of ``subscription`` (the next unbilled one unless given): a term
    invoice in ``batch``, the term row, available credit applied (see module doc)."""
    subscription = (
        Subscription.objects.select_for_update().select_related("member_type", "contact").get(pk=subscription.pk)
    )
    member_type = subscription.member_type
    label = f"Member {subscription.contact.party_id}"
    if subscription.status != Subscription.Status.ACTIVE:
        raise MembershipError(f"{label}: the {member_type.code} subscription is {subscription.get_status_display()}.")
    if not member_type.is_active:
        raise MembershipError(f"{label}: member type {member_type.code} is inactive.")
    active_subscription(subscription.contact, member_type)
    if term_begin is None:
        term_begin, default_end = next_term(subscription)
        term_end = term_end or default_end
    elif term_end is None:
        term_end = term_end_for(term_begin, subscription.term_months)
    if term_end < term_begin:
        raise MembershipError(f"{label}: the term ends ({term_end}) before it begins ({term_begin}).")
    overlap = Term.objects.filter(
        subscription=subscription,
        invoice__reversed_at__isnull=True,
        term_begin__lte=term_end,
        term_end__gte=term_begin,
    ).first()
    if overlap is not None:
        raise MembershipError(
            f"{label}: {term_begin}–{term_end} overlaps the term {overlap.term_begin}–{overlap.term_end} "
            f"billed on invoice {overlap.invoice.number}."
        )
    if fee_amount is not None and quantize(fee_amount) < 0:
        raise MembershipError(f"{label}: the amount cannot be negative ({fee_amount}).")
    settings = MembershipSettings.load()
    fee = member_type.fee_product
    invoice = invoice_create(
        bill_to=subscription.contact,
        entity=fee.entity,
        batch=batch,
        lines=term_lines(member_type, term_begin, term_end, fee_amount),
        date=invoice_date,
        due_date=max(invoice_date + timedelta(days=settings.terms_days), invoice_date),
        accounting_method=settings.accounting_method,
        type=Invoice.Type.MEMBERSHIP,
        source=Invoice.Source.MEMBERSHIP_BILLING,
        description=f"{member_type.name} {format_day(term_begin)}–{format_day(term_end)}",
        user=user,
    )
    term = Term.objects.create(
        subscription=subscription,
        invoice=invoice,
        primary_line=invoice.lines.get(line_number=1),
        term_begin=term_begin,
        term_end=term_end,
        source=source,
    )
    refresh_subscriptions([subscription.pk])
    applied = apply_available_credit(invoice=invoice, batch=batch, date=invoice_date, user=user)
    invoice.refresh_from_db()
    return BilledTerm(term=term, invoice=invoice, credit_applied=applied)


@transaction.atomic
def membership_join(
    *,
    contact: Contact,
    member_type: MemberType,
    batch: Batch,
    join_date: Date,
    invoice_date: Date | None = None,
    term_months: int | None = None,
    fee_amount: Decimal | None = None,
    user=None,
) -> BilledTerm:
    """A new member: an active subscription and its first term invoice (from the join
    date). Refused when the contact already holds an active subscription; the contact
    row is locked first so that two joins of one contact at once make one member."""
    if not member_type.is_active:
        raise MembershipError(f"Member type {member_type.code} is inactive.")
    Contact.objects.select_for_update().filter(pk=contact.pk).first()
    existing = Subscription.objects.filter(contact=contact, status=Subscription.Status.ACTIVE).first()
    if existing is not None:
        raise MembershipError(
            f"Member {contact.party_id} already has an active {existing.member_type.code} subscription."
        )
    sub = Subscription.objects.create(
        contact=contact,
        member_type=member_type,
        term_months=term_months or member_type.term_months,
        join_date=join_date,
        opening_paid_through=join_date - timedelta(days=1),
        paid_through=join_date - timedelta(days=1),
        renewed_through=join_date - timedelta(days=1),
    )
    return term_bill(
        subscription=sub,
        batch=batch,
        invoice_date=invoice_date or join_date,
        term_begin=join_date,
        fee_amount=fee_amount,
        source=Term.Source.JOIN,
        user=user,
    )
