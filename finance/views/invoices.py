from django.http import Http404
from django.views.generic import TemplateView

from core.authorization import has_level
from core.models import Module
from finance import selectors
from finance.adjust_forms import InvoiceReverseForm
from finance.filters import InvoiceFilter
from finance.models import Invoice
from finance.tables import InvoiceTable
from finance.views.base import FilteredTableView, FinanceAccessMixin


class InvoiceListView(FilteredTableView):
    new_url_name = "finance:invoice_new"
    new_label = "New invoice"
    new_level = (Module.AR_CASH, 2)
    filterset_class = InvoiceFilter
    table_class = InvoiceTable
    page_title = "Invoices"
    totals_fields = ("total", "balance")
    totals_noun = "invoices"
    csv_name = "invoices"
    csv_columns = (
        ("invoice", "number"),
        ("date", "date"),
        ("due_date", "due_date"),
        ("party_id", "bill_to__party_id"),
        ("bill_to", "bill_to__name"),
        ("type", "type"),
        ("batch", "batch__number"),
        ("batch_status", "batch__status"),
        ("currency", "currency"),
        ("total", "total"),
        ("balance", "balance"),
        ("reversed_at", "reversed_at"),
    )

    def get_queryset(self):
        return selectors.invoice_list()


class InvoiceDetailView(FinanceAccessMixin, TemplateView):
    template_name = "finance/invoice_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            invoice = selectors.invoice_get(self.kwargs["pk"])
        except Invoice.DoesNotExist as exc:
            raise Http404("No such invoice.") from exc
        context.update(
            invoice=invoice,
            lines=selectors.invoice_lines(invoice),
            applications=selectors.invoice_applications(invoice),
            journal=selectors.invoice_journal(invoice),
            reversal_credits=list(selectors.invoice_reversal_credits(invoice)),
        )
        if (
            invoice.type != Invoice.Type.CREDIT
            and invoice.reversed_at is None
            and has_level(self.request.user, Module.FINANCE, 4)
        ):
            context["reverse_form"] = InvoiceReverseForm(user=self.request.user)
        return context
