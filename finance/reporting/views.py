"""Staff pages of the reports and the GL export. Views parse input, call a selector
or the export service, and render; every report also downloads as CSV."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from core.authorization import ModuleLevelRequiredMixin, has_level, require_level
from core.models import Module
from finance.csv_stream import ColumnSums, csv_response
from finance.errors import FinanceError
from finance.models import Batch
from finance.money import ZERO
from finance.reporting import selectors
from finance.reporting.forms import CashReceiptsForm, DateRangeForm, GLExportForm
from finance.reporting.gl_csv import export_csv
from finance.reporting.models import GLExport
from finance.reporting.services import gl_export_create, pending_entry_count

VIEW_REPORTS = (Module.FINANCE, 2)
RUN_GL_EXPORT = (Module.FINANCE, 4)
PER_PAGE = 50
CHART_CONTACTS = 10


def _money_str(value) -> str:
    return f"{value:.2f}"


class ReportAccessMixin(ModuleLevelRequiredMixin):
    required_level = VIEW_REPORTS


class ReportView(ReportAccessMixin, TemplateView):
    """A report page; ``?format=csv`` downloads the same report as CSV."""

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "csv":
            return self.get_csv()
        return super().get(request, *args, **kwargs)

    def get_csv(self):  # pragma: no cover - each report defines it
        raise Http404

    def paginate(self, queryset):
        return Paginator(queryset, PER_PAGE).get_page(self.request.GET.get("page"))

    def query_without_page(self) -> str:
        params = self.request.GET.copy()
        params.pop("page", None)
        params.pop("format", None)
        return params.urlencode()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["query"] = self.query_without_page()
        context["can_export"] = has_level(self.request.user, *RUN_GL_EXPORT)
        return context


class ReportsHomeView(ReportView):
    template_name = "reporting/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["pending_entries"] = pending_entry_count()
        context["last_export"] = GLExport.objects.select_related("created_by").first()
        context["reports"] = [
            (
                reverse("reporting:report_ar_aging"),
                "AR aging",
                "Open receivables per contact: current, 31–60, 61–90, 91–120, over 120 days.",
            ),
            (
                reverse("reporting:report_cash_receipts"),
                "Cash receipts",
                "Money in less money out per day and payment method, posted batches only or all.",
            ),
            (reverse("reporting:report_open_credits"), "Open credits", "Who holds credit, how much and since when."),
            (
                reverse("reporting:report_batches"),
                "Batch summary",
                "Open, ready and posted batches: control against actual.",
            ),
        ]
        return context


# --- AR aging ---------------------------------------------------------------------


def _bucket_keys():
    return [key for key, *_ in selectors.AGING_BUCKETS]


class ARAgingView(ReportView):
    template_name = "reporting/ar_aging.html"

    def as_of(self):
        return timezone.localdate()

    def get_csv(self):
        as_of = self.as_of()
        keys = _bucket_keys()
        rows = (
            [r["bill_to__party_id"], r["bill_to__name"], r["currency"], r["invoice_count"], r["oldest"]]
            + [r[k] for k in keys]
            + [r["total"]]
            for r in selectors.ar_aging_by_contact(as_of).iterator(chunk_size=2000)
        )
        header = ["party_id", "contact", "currency", "open_invoices", "oldest_invoice"] + keys + ["total"]
        sums = ColumnSums(len(header), sum_at=[3, *range(5, len(header))], currency_at=2)
        return csv_response(f"ar-aging-{as_of.isoformat()}.csv", header, sums.pass_through(rows), totals=sums.lines)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        as_of = self.as_of()
        totals = selectors.ar_aging_totals(as_of)
        # One grouped query for the page: the row count comes from the totals (one row
        # per contact and currency) instead of a second aggregation.
        rows = selectors.AgingRows(as_of, sum(t["contact_count"] for t in totals))  # contacts per currency = rows
        paginator = Paginator(rows, PER_PAGE)
        page = paginator.get_page(self.request.GET.get("page"))
        keys = _bucket_keys()
        for row in page.object_list:
            row["buckets"] = [row[k] for k in keys]
        labels = [label for _, label, *_ in selectors.AGING_BUCKETS]
        for row in totals:
            row["buckets"] = [row[k] for k in keys]
            row["bucket_pairs"] = list(zip(labels, row["buckets"], strict=True))
        # The chart shows the largest balances: page 1's first rows when on page 1.
        top = list(page.object_list[:CHART_CONTACTS]) if page.number == 1 else list(rows[:CHART_CONTACTS])
        chart = {
            "labels": [r["bill_to__name"] for r in top],
            "series": [
                {"label": label, "data": [_money_str(r[key]) for r in top]}
                for key, label, *_ in selectors.AGING_BUCKETS
            ],
        }
        context.update(
            as_of=as_of,
            buckets=selectors.AGING_BUCKETS,
            page=page,
            totals=totals,
            chart_json=chart,
            chart_count=len(top),
        )
        return context


# --- Cash receipts ----------------------------------------------------------------


class CashReceiptsView(ReportView):
    template_name = "reporting/cash_receipts.html"

    def filters(self):
        """(form, first day, last day, batches: posted or all)."""
        form = CashReceiptsForm(self.request.GET or None)
        start, end = selectors.default_range(timezone.localdate())
        batches = selectors.BATCHES_ALL
        if form.is_bound and form.is_valid():
            start = form.cleaned_data["date_from"] or start
            end = form.cleaned_data["date_to"] or end
            batches = form.cleaned_data["batches"] or batches
            if end < start:
                start = end
        elif not form.is_bound:
            form = CashReceiptsForm(initial={"date_from": start, "date_to": end, "batches": batches})
        return form, start, end, batches

    def get_csv(self):
        _, start, end, batches = self.filters()
        grid = selectors.cash_receipts(start, end, batches=batches, include_empty_days=False)
        header = (
            ["date"]
            + [f"{code} {cur}" for code, _, cur in grid.methods]
            + ["total", "payments", "refunded", "refunds", "reversals"]
            + [f"credit_used {code} {cur}" for code, _, cur in grid.credit_methods]
        )
        rows = [
            [
                r["day"],
                *r["amounts"],
                r["total"],
                r["count"],
                r["refunded"],
                r["refund_count"],
                r["reversal_count"],
                *r["credits"],
            ]  # fmt: skip
            for r in grid.rows
        ]
        totals = [
            "TOTAL",
            *grid.method_totals,
            sum((r["total"] for r in grid.rows), ZERO),
            grid.payment_count,
            grid.refunded_total,
            grid.refund_count,
            grid.reversal_count,
            *grid.credit_totals,
        ]
        filename = f"cash-receipts-{batches}-{start.isoformat()}-{end.isoformat()}.csv"
        return csv_response(filename, header, rows, totals=totals)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form, start, end, batches = self.filters()
        grid = selectors.cash_receipts(start, end, batches=batches)
        context.update(
            form=form,
            date_from=start,
            date_to=end,
            batches=batches,
            batches_label=dict(selectors.BATCH_CHOICES)[batches],
            grid=grid,
            rows=[r for r in grid.rows if r["count"] or r["refund_count"] or r["reversal_count"] or any(r["credits"])],
            currency_totals=[(cur, grid.currency_total(cur)) for cur in grid.currencies],
            payment_count=grid.payment_count,
            chart_json=grid.chart(),
        )
        return context


# --- Open credits -----------------------------------------------------------------


class OpenCreditsView(ReportView):
    template_name = "reporting/open_credits.html"

    def get_csv(self):
        rows = (
            [r["bill_to__party_id"], r["bill_to__name"], r["currency"], r["held"], r["credit_count"], r["since"]]
            for r in selectors.open_credits_by_contact().iterator(chunk_size=2000)
        )
        header = ["party_id", "contact", "currency", "credit_held", "credit_invoices", "held_since"]
        sums = ColumnSums(len(header), sum_at=[3, 4], currency_at=2)
        filename = f"open-credits-{timezone.localdate().isoformat()}.csv"
        return csv_response(filename, header, sums.pass_through(rows), totals=sums.lines)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        totals = selectors.open_credit_totals()
        # One grouped query for the page, on the invoices alone (names for the page's
        # rows only); the row count comes from the totals (contacts per currency = rows).
        rows = selectors.OpenCreditRows(sum(t["contact_count"] for t in totals))
        page = Paginator(rows, PER_PAGE).get_page(self.request.GET.get("page"))
        for row in page.object_list:
            row["days_held"] = (today - row["since"]).days
        context.update(page=page, totals=totals, today=today)
        return context


# --- Batch summary ----------------------------------------------------------------


class BatchSummaryView(ReportView):
    template_name = "reporting/batch_summary.html"

    def filters(self):
        form = DateRangeForm(self.request.GET or None)
        form.max_days = 100_000
        status = self.request.GET.get("status") or None
        if status not in (None, *selectors.SUMMARY_STATUSES):
            status = None
        start = end = None
        if form.is_bound and form.is_valid():
            start, end = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
        return form, status, start, end

    def batches(self):
        _, status, start, end = self.filters()
        return selectors.batch_summary(status=status, date_from=start, date_to=end)

    def get_csv(self):
        header = [
            "batch",
            "date",
            "description",
            "status",
            "control_count",
            "actual_count",
            "count_difference",
            "control_amount",
            "actual_amount",
            "amount_difference",
            "posted_at",
        ]
        rows = (
            [
                b.number,
                b.date,
                b.description,
                b.get_status_display(),
                b.control_count,
                b.actual_count,
                b.count_difference,
                b.control_amount,
                b.cash_total,
                b.amount_difference,
                b.posted_at,
            ]
            for b in self.batches().iterator(chunk_size=2000)
        )
        # Control and actual counts and amounts added up over the batches of the file.
        sums = ColumnSums(len(header), sum_at=[4, 5, 7, 8])
        return csv_response("batch-summary.csv", header, sums.pass_through(rows), totals=sums.lines)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form, status, _, _ = self.filters()
        _, _, start, end = self.filters()
        page = self.paginate(selectors.batch_summary_ids(status=status, date_from=start, date_to=end))
        context.update(
            form=form,
            status=status,
            statuses=selectors.SUMMARY_STATUSES,
            page=page,
            batches=selectors.batch_summary_page(list(page.object_list)),
            status_totals=selectors.batch_status_totals(),
        )
        return context


# --- GL export --------------------------------------------------------------------


class GLExportListView(ReportView):
    template_name = "reporting/gl_export_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        exports = GLExport.objects.select_related("created_by", "entity")
        context.update(
            page=self.paginate(exports),
            form=kwargs.get("form") or GLExportForm(),
            pending_entries=pending_entry_count(),
            Batch=Batch,
        )
        return context

    def post(self, request, *args, **kwargs):
        """Run a new export (Finance ≥ 4)."""
        require_level(request.user, *RUN_GL_EXPORT)
        form = GLExportForm(request.POST)
        if form.is_valid():
            try:
                export = gl_export_create(
                    mode=form.cleaned_data["mode"],
                    date_from=form.cleaned_data["date_from"],
                    date_to=form.cleaned_data["date_to"],
                    entity=form.cleaned_data["entity"],
                    user=request.user,
                )
            except FinanceError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request,
                    f"GL export {export.pk}: {export.entry_count:,} entries, {export.line_count:,} lines, "
                    f"debits {export.total_debit:,.2f} = credits {export.total_credit:,.2f}.",
                )
                return redirect("reporting:report_gl_exports")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class GLExportDownloadView(ReportAccessMixin, View):
    def get(self, request, pk: int):
        try:
            export = GLExport.objects.get(pk=pk)
        except GLExport.DoesNotExist as exc:
            raise Http404("No such GL export.") from exc
        response = StreamingHttpResponse(export_csv(export), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response
