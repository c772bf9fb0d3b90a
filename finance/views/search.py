"""Finding things: the contact finder's matches and the header search.

- ``ContactFindView`` answers the finder's box (htmx) with the matching contacts as
  options of a listbox. Entry forms (AR/Cash ≥ 1) and the cart (Orders ≥ 2) use it.
- ``SearchSuggestView`` answers the header's box as the user types: contacts, the
  invoice of that number and payments of that id or reference, as links.
- ``SearchView`` is the page the header's box submits to: it goes straight to the one
  thing found, or lists everything found.
"""

from django.shortcuts import redirect
from django.views.generic import TemplateView

from core.authorization import FIND_CONTACT, require_any_level
from finance.search import contact_search, normalize, search_everything
from finance.views.base import FinanceAccessMixin

FINDER_LIMIT = 10
SUGGEST_CONTACTS = 6
RESULT_CONTACTS = 50


class ContactFindView(TemplateView):
    """The finder's options for ``q`` (a fragment; empty for an empty query)."""

    template_name = "finance/search/_contact_options.html"

    def dispatch(self, request, *args, **kwargs):
        require_any_level(request.user, FIND_CONTACT)  # anonymous users went to the login page
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = normalize(self.request.GET.get("q"))
        context.update(query=query, contacts=contact_search(query, limit=FINDER_LIMIT) if query else [])
        return context


class SearchSuggestView(FinanceAccessMixin, TemplateView):
    """The header search's drop-down for ``q`` (a fragment)."""

    template_name = "finance/search/_suggest.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["results"] = search_everything(self.request.GET.get("q"), contact_limit=SUGGEST_CONTACTS)
        return context


class SearchView(FinanceAccessMixin, TemplateView):
    """Contacts (name, email, party id, company), invoices (number) and payments (id,
    reference) matching ``q``; the one found when there is exactly one."""

    template_name = "finance/search/results.html"

    def get(self, request, *args, **kwargs):
        results = search_everything(request.GET.get("q"), contact_limit=RESULT_CONTACTS)
        if results.count == 1:
            if results.contacts:
                return redirect("finance:contact_detail", results.contacts[0].pk)
            if results.invoices:
                return redirect("finance:invoice_detail", results.invoices[0].pk)
            return redirect("finance:payment_detail", results.payments[0].pk)
        return self.render_to_response(self.get_context_data(results=results))
