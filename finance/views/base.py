"""Shared pieces of the staff UI views: the access guard and the filtered list view."""

from django.urls import reverse
from django_filters.views import FilterView
from django_tables2.views import SingleTableMixin

from core.authorization import VIEW_FINANCE, ModuleLevelRequiredMixin, has_level, require_level
from finance.filters import style_filter_form
from finance.pagination import EstimatedCountPaginator
from finance.tables import PER_PAGE


class FinanceAccessMixin(ModuleLevelRequiredMixin):
    """Every finance page needs AR/Cash ≥ 1; an action may need one more level
    (``action_level``). Anonymous users go to the login page, others get 403."""

    required_level = VIEW_FINANCE
    action_level: tuple[str, int] | None = None

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and self.action_level is not None:
            require_level(request.user, *self.action_level)
        return super().dispatch(request, *args, **kwargs)


class FilteredTableView(FinanceAccessMixin, SingleTableMixin, FilterView):
    """A sortable, filterable list of 25 rows a page."""

    template_name = "finance/object_list.html"
    # Unfiltered lists of big tables show the planner's estimate instead of COUNT(*).
    table_pagination = {"per_page": PER_PAGE, "paginator_class": EstimatedCountPaginator}
    page_title = ""
    filterset_class = None
    # A "new" button above the list, shown to users who may use it.
    new_url_name: str | None = None
    new_label = ""
    new_level: tuple[str, int] | None = None

    def get_filterset(self, filterset_class):
        filterset = super().get_filterset(filterset_class)
        style_filter_form(filterset.form)
        return filterset

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["page_title"] = self.page_title
        if self.new_url_name and (self.new_level is None or has_level(self.request.user, *self.new_level)):
            context["new_url"] = reverse(self.new_url_name)
            context["new_label"] = self.new_label
        context["is_filtered"] = any(v for k, v in self.request.GET.items() if k not in ("page", "sort"))
        return context
