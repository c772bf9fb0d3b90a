"""Display helpers of the staff UI: money formatting and status badges."""

import functools
from decimal import Decimal

from django import template
from django.utils.html import format_html

from core.authorization import ENTER_TRANSACTIONS, MANAGE_BATCH, has_level
from finance.models import Batch, Invoice, Payment
from finance.money import quantize
from finance.selectors import current_batch_of

register = template.Library()


@register.filter
def money(value) -> str:
    """12345.6 → "12,345.60"; blank for None. Decimal in, never float."""
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        value = Decimal(str(value))
    return f"{quantize(value):,.2f}"


BATCH_BADGES = {
    Batch.Status.OPEN: "text-bg-primary",
    Batch.Status.READY: "text-bg-warning",
    Batch.Status.POSTED: "text-bg-success",
    Batch.Status.DELETED: "text-bg-secondary",
}
BATCH_STATE_TITLES = {
    Batch.Status.OPEN: "Batch {number} is open: not posted yet",
    Batch.Status.READY: "Batch {number} is ready to post: not posted yet",
    Batch.Status.POSTED: "Batch {number} is posted",
    Batch.Status.DELETED: "Batch {number} is deleted",
}


@functools.lru_cache(maxsize=512)
def _badge(css: str, label: str, title: str = "") -> str:
    """A badge's HTML (a list shows the same few badges on every row: made once each)."""
    if title:
        return format_html('<span class="badge {}" title="{}">{}</span>', css, title, label)
    return format_html('<span class="badge {}">{}</span>', css, label)


@register.simple_tag
def batch_badge(batch: Batch) -> str:
    return _badge(BATCH_BADGES.get(batch.status, "text-bg-light"), batch.get_status_display())


@register.simple_tag
def batch_badge_class(batch: Batch) -> str:
    return BATCH_BADGES.get(batch.status, "text-bg-light")


@register.simple_tag
def batch_state_title(batch: Batch) -> str:
    return BATCH_STATE_TITLES.get(batch.status, "Batch {number}").format(number=batch.number)


@register.simple_tag
def batch_state_badge(batch: Batch) -> str:
    """The state of a transaction recorded in ``batch``: the batch's own (Open, Ready,
    Posted), with a title naming the batch. A transaction is posted when its batch is."""
    return _badge(batch_badge_class(batch), batch.get_status_display(), batch_state_title(batch))


@register.simple_tag
def payment_badge(payment: Payment) -> str:
    """A payment's state: its batch's (Open, Ready, Posted), and "Reversed" beside it
    once it is reversed (the reversal is recorded in its own batch)."""
    state = batch_state_badge(payment.batch)
    if payment.status == Payment.Status.REVERSED:
        return format_html("{} {}", state, _badge("text-bg-danger", payment.get_status_display()))
    return state


def invoice_state(invoice: Invoice) -> tuple[str, str]:
    """(label, css class) describing where an invoice stands, from its stored balance."""
    if getattr(invoice, "reversed_at", None):
        return "Reversed", "text-bg-secondary"
    if invoice.is_open_credit:
        return "Open credit", "text-bg-info"
    if invoice.is_paid:
        return "Paid", "text-bg-success"
    if invoice.balance > 0 and invoice.balance < invoice.total:
        return "Partly paid", "text-bg-warning"
    if invoice.balance > 0:
        return "Open", "text-bg-primary"
    return "Closed", "text-bg-secondary"


@register.simple_tag
def invoice_badge(invoice: Invoice) -> str:
    label, css = invoice_state(invoice)
    return _badge(css, label)


@register.simple_tag(takes_context=True)
def nav_active(context, *prefixes: str) -> str:
    """ "active" when the current URL's namespaced name ("finance:invoice_list") starts
    with one of ``prefixes`` ("finance:invoice", "cart:"): one navigation item lights
    for a page, whatever its URL name is in another app."""
    match = getattr(context.get("request"), "resolver_match", None)
    name = getattr(match, "view_name", "") or ""
    return "active" if any(name.startswith(p) for p in prefixes) else ""


@register.simple_tag
def user_has_level(user, module: str, level: int) -> bool:
    """{% user_has_level user "ar_cash" 1 as can_view %}"""
    return has_level(user, module, int(level))


@register.simple_tag(takes_context=True)
def current_batch_header(context) -> dict | None:
    """What the header shows of the signed-in user's current batch: the batch (or None),
    whether it still takes transactions and whether the user may open a new one (the
    open batches to choose from load when the menu opens). None for users who enter no
    transactions. One query."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not has_level(user, *ENTER_TRANSACTIONS):
        return None
    batch = current_batch_of(user)
    return {
        "batch": batch,
        "usable": batch is not None and batch.accepts_transactions,
        "can_open": has_level(user, *MANAGE_BATCH),
        "next": request.get_full_path(),
    }
