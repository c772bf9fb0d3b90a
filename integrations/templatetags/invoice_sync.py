"""``{% invoice_sync_panel invoice %}``: the invoice page's sync record panel."""

from django import template

from core.authorization import has_level
from integrations import selectors
from integrations.views.sync import VIEW_SYNC, sync_context

register = template.Library()


@register.inclusion_tag("integrations/sync/_panel.html", takes_context=True)
def invoice_sync_panel(context, invoice):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not has_level(user, *VIEW_SYNC):
        return {"hidden": True}
    record = selectors.sync_record_for_invoice(invoice.pk)
    return {**sync_context(record, user), "invoice": invoice, "request": request, "on_invoice_page": True}
