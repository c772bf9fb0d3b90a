from django.http import Http404
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from core.authorization import has_level
from core.models import Module
from finance import selectors
from finance.filters import ContactFilter
from finance.models import Contact
from finance.tables import PER_PAGE, ContactInvoiceTable, ContactPaymentTable, ContactTable
from finance.views.base import FilteredTableView, FinanceAccessMixin

MEMBERS_SHOWN = 25
REFUNDS_SHOWN = 50


class ContactListView(FilteredTableView):
    filterset_class = ContactFilter
    table_class = ContactTable
    page_title = "Contacts"

    def get_queryset(self):
        return selectors.contact_list()


class ContactDetailView(FinanceAccessMixin, TemplateView):
    """The contact page; ``tab`` is "summary" or "transactions". An htmx request for a
    tab gets the tab's content only."""

    template_name = "finance/contact_detail.html"
    tab = "summary"

    def get_template_names(self):
        if self.request.htmx:
            return [f"finance/_contact_{self.tab}.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            contact = selectors.contact_get(self.kwargs["pk"])
        except Contact.DoesNotExist as exc:
            raise Http404("No such contact.") from exc
        context.update(
            contact=contact,
            tab=self.tab,
            balances=selectors.contact_balances(contact),
            can_enter_transactions=has_level(self.request.user, Module.AR_CASH, 2),
        )
        if self.tab == "summary":
            members = selectors.contact_members(contact)
            context.update(
                members=members[:MEMBERS_SHOWN],
                member_count=members.count(),
                members_shown=MEMBERS_SHOWN,
                saved_cards=selectors.contact_saved_cards(contact),
            )
        else:
            paginate = {"per_page": PER_PAGE}
            config = RequestConfig(self.request, paginate=paginate)
            invoices = ContactInvoiceTable(
                selectors.contact_invoices(contact), prefix="inv-", empty_text="No invoices billed to this contact."
            )
            payments = ContactPaymentTable(
                selectors.contact_payments(contact), prefix="pay-", empty_text="No payments from this contact."
            )
            credits = ContactInvoiceTable(
                selectors.contact_open_credits(contact), prefix="cr-", empty_text="No open credits."
            )
            for table in (invoices, payments, credits):
                config.configure(table)
            context.update(
                invoice_table=invoices,
                payment_table=payments,
                credit_table=credits,
                refunds=selectors.contact_refunds(contact)[:REFUNDS_SHOWN],
            )
        return context
