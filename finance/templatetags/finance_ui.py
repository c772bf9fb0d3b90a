"""Display helpers of the staff UI: money formatting and status badges."""

from decimal import Decimal

from django import template
from django.utils.html import format_html

from core.authorization import has_level
from finance.models import Batch, Invoice, Payment
from finance.money import quantize

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
PAYMENT_BADGES = {Payment.Status.POSTED: "text-bg-success", Payment.Status.REVERSED: "text-bg-danger"}


def _badge(css: str, label: str) -> str:
    return format_html('<span class="badge {}">{}</span>', css, label)


@register.simple_tag
def batch_badge(batch: Batch) -> str:
    return _badge(BATCH_BADGES.get(batch.status, "text-bg-light"), batch.get_status_display())


@register.simple_tag
def payment_badge(payment: Payment) -> str:
    return _badge(PAYMENT_BADGES.get(payment.status, "text-bg-light"), payment.get_status_display())


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
    """ "active" when the current URL name starts with one of ``prefixes``."""
    match = getattr(context.get("request"), "resolver_match", None)
    name = getattr(match, "url_name", "") or ""
    return "active" if any(name.startswith(p) for p in prefixes) else ""


@register.simple_tag
def user_has_level(user, module: str, level: int) -> bool:
    """{% user_has_level user "ar_cash" 1 as can_view %}"""
    return has_level(user, module, int(level))
