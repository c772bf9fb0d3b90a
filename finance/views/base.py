"""Shared pieces of the staff UI views: the access guard and the filtered list view."""

from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone
from django_filters.views import FilterView
from django_tables2.views import SingleTableMixin

from core.authorization import VIEW_FINANCE, ModuleLevelRequiredMixin, has_level, require_level
from finance.csv_stream import ColumnSums, csv_response
from finance.filters import style_filter_form
from finance.pagination import EstimatedCountPaginator, is_big_unfiltered
from finance.tables import PER_PAGE
from finance.templatetags.finance_ui import money


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

    # A totals row of these money columns (per currency) under the table, and a CSV
    # download of the filtered rows: (header, field lookup) per column, the currency's
    # and the money columns' headers.
    totals_fields: tuple[str, ...] = ()
    totals_noun = "records"
    csv_columns: tuple[tuple[str, str], ...] = ()
    csv_name = ""

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "csv" and self.csv_columns:
            filterset = self.get_filterset(self.get_filterset_class())
            if not filterset.is_bound or filterset.is_valid() or not self.get_strict():
                return self.csv_download(filterset.qs)
            return self.csv_download(filterset.queryset.none())
        return super().get(request, *args, **kwargs)

    def get_filterset(self, filterset_class):
        filterset = super().get_filterset(filterset_class)
        style_filter_form(filterset.form)
        return filterset

    # --- totals -----------------------------------------------------------------------

    def list_totals(self) -> list[dict] | None:
        """The totals of the rows the filters select, per currency, in one aggregate
        query over the same queryset as the table (count and sums of
        ``totals_fields``); None for a big list shown unfiltered (its count is an
        estimate: adding it up would read the whole table)."""
        queryset = self.object_list
        if is_big_unfiltered(queryset):
            return None
        sums = {name: Sum(name) for name in self.totals_fields}
        return list(queryset.order_by().values("currency").annotate(row_count=Count("pk"), **sums).order_by("currency"))

    def get_table_pagination(self, table):
        paginate = super().get_table_pagination(table)
        self.totals = self.list_totals() if self.totals_fields else None
        if paginate is not False and self.totals is not None:
            # The totals' query counted the rows: the paginator does not count again.
            paginate["known_count"] = sum(t["row_count"] for t in self.totals)
        return paginate

    def totals_rows(self, table) -> list[list[dict]]:
        """The table's footer: one row per currency, each a list of cells (css class,
        text, colspan) lined up under the table's columns."""
        columns = list(table.columns)
        names = [c.name for c in columns]
        first = min((names.index(f) for f in self.totals_fields if f in names), default=len(names))
        if self.totals is None:
            return [[{"css": "text-body-secondary fw-normal", "colspan": len(columns),
                      "text": "Filter the list to add it up (it is too long to total unfiltered)."}]]  # fmt: skip
        rows = []
        for total in self.totals or [{"currency": "", "row_count": 0, **dict.fromkeys(self.totals_fields)}]:
            n = total["row_count"]
            noun = self.totals_noun if n != 1 else self.totals_noun[:-1]
            label = f"Total {total['currency']}".strip() + f" · {n:,} {noun}"
            cells = [{"css": "text-nowrap", "colspan": max(first, 1), "text": label}]
            for column in columns[max(first, 1) :]:
                if column.name in self.totals_fields:
                    cells.append({"css": "money", "colspan": 1, "text": money(total[column.name] or 0)})
                else:
                    cells.append({"css": "", "colspan": 1, "text": ""})
            rows.append(cells)
        return rows

    def get_table(self, **kwargs):
        table = super().get_table(**kwargs)
        if self.totals_fields:
            table.totals_rows = self.totals_rows(table)
        return table

    # --- CSV --------------------------------------------------------------------------

    def csv_download(self, queryset):
        """The filtered rows as CSV, streamed in chunks (memory stays flat whatever the
        count), with a totals line per currency added up from the rows written."""
        header = [h for h, _ in self.csv_columns]
        lookups = [lookup for _, lookup in self.csv_columns]
        money_at = [lookups.index(f) for f in self.totals_fields]
        sums = ColumnSums(len(header), sum_at=money_at, currency_at=lookups.index("currency"))
        rows = queryset.order_by(*queryset.query.order_by or queryset.model._meta.ordering).values_list(*lookups)
        filename = f"{self.csv_name}-{timezone.localdate().isoformat()}.csv"
        return csv_response(filename, header, sums.pass_through(rows.iterator(chunk_size=2000)), totals=sums.lines)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.csv_columns:
            params = self.request.GET.copy()
            for key in ("page", "format"):
                params.pop(key, None)
            context["csv_query"] = params.urlencode()
        context["page_title"] = self.page_title
        if self.new_url_name and (self.new_level is None or has_level(self.request.user, *self.new_level)):
            context["new_url"] = reverse(self.new_url_name)
            context["new_label"] = self.new_label
        context["is_filtered"] = any(v for k, v in self.request.GET.items() if k not in ("page", "sort"))
        return context
