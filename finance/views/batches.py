from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import FormView, TemplateView
from django_tables2 import RequestConfig

from core.authorization import ENTER_TRANSACTIONS, MANAGE_BATCH, POST_BATCH, has_level
from finance import selectors
from finance.errors import FinanceError
from finance.filters import BatchFilter
from finance.forms import BatchControlsForm, BatchCreateForm
from finance.models import Batch
from finance.pagination import KnownCountPaginator
from finance.services.batches import (
    batch_create,
    batch_holds_anything,
    batch_set_controls,
    batch_totals,
    batch_transition,
    current_batch_set,
)
from finance.tables import (
    PER_PAGE,
    AdjustmentTable,
    BatchJournalTable,
    BatchReversalTable,
    BatchTable,
    InvoiceTable,
    PaymentTable,
    RefundTable,
)
from finance.views.base import FilteredTableView, FinanceAccessMixin


class BatchListView(FilteredTableView):
    filterset_class = BatchFilter
    table_class = BatchTable
    page_title = "Batches"
    template_name = "finance/batch_list.html"

    def get_queryset(self):
        return selectors.batch_rows()

    def get_table(self, **kwargs):
        """The figures of the shown page only (see ``batch_with_figures``)."""
        table = super().get_table(**kwargs)
        selectors.batch_with_figures(row.record for row in table.page.object_list)
        return table

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_manage"] = has_level(self.request.user, *MANAGE_BATCH)
        return context


class BatchMixin:
    def get_batch(self) -> Batch:
        try:
            return selectors.batch_get(self.kwargs["pk"])
        except Batch.DoesNotExist as exc:
            raise Http404("No such batch.") from exc


class BatchDetailView(FinanceAccessMixin, BatchMixin, TemplateView):
    """A batch: its control figures, everything it holds (by kind, with what the
    control count takes of it), and its actions."""

    template_name = "finance/batch_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        batch = self.get_batch()
        user = self.request.user
        allowed = Batch.TRANSITIONS[Batch.Status(batch.status)]
        can_manage = has_level(user, *MANAGE_BATCH)
        can_post = has_level(user, *POST_BATCH)
        contents = selectors.batch_contents(batch)
        counts = {row.key: row.count for row in contents.rows}
        # The contents counted the rows of every table but the journal's: the tables are
        # paged with those counts instead of a COUNT(*) each (an empty one runs no query).
        known = {
            "invoices": counts["invoices"] + counts["credit_invoices"],
            "payments": counts["payments"] + counts["credit_used"],
            "reversals": counts["reversals"],
            "refunds": counts["refunds"],
            "adjustments": counts["adjustments"],
        }
        tables = {
            "invoices": InvoiceTable(selectors.batch_invoices(batch), prefix="inv-", exclude=("batch",)),
            "payments": PaymentTable(selectors.batch_payments(batch), prefix="pay-", exclude=("batch",)),
            "reversals": BatchReversalTable(selectors.batch_reversed_payments(batch), prefix="rev-"),
            "refunds": RefundTable(selectors.batch_refunds(batch), prefix="ref-"),
            "adjustments": AdjustmentTable(selectors.batch_adjustments(batch), prefix="adj-"),
            "journal": BatchJournalTable(selectors.batch_journal_entries(batch), prefix="je-"),
        }
        for key, table in tables.items():
            paginate: dict = {"per_page": PER_PAGE}
            if key in known:
                paginate.update(paginator_class=KnownCountPaginator, count=known[key])
            RequestConfig(self.request, paginate=paginate).configure(table)
        current = selectors.current_batch_of(user)
        deletable = Batch.Status.DELETED in allowed
        holds_anything = deletable and batch_holds_anything(batch)
        context.update(
            batch=batch,
            totals=batch_totals(batch),
            contents=contents,
            counts=counts,
            events=selectors.batch_events(batch),
            tables=tables,
            invoice_table=tables["invoices"],
            payment_table=tables["payments"],
            can_manage=can_manage,
            can_post=can_post,
            can_set_controls=can_manage and batch.status in (Batch.Status.OPEN, Batch.Status.READY),
            can_ready=can_manage and Batch.Status.READY in allowed,
            can_reopen=can_manage and Batch.Status.OPEN in allowed,
            can_delete=can_manage and deletable and not holds_anything,
            delete_refused=can_manage and holds_anything,
            show_post=Batch.Status.POSTED in allowed,
            can_enter=batch.accepts_transactions and has_level(user, *ENTER_TRANSACTIONS),
            is_current=current is not None and current.pk == batch.pk,
            controls_form=BatchControlsForm(
                initial={"control_count": batch.control_count, "control_amount": batch.control_amount}
            ),
        )
        return context


class BatchTransitionView(FinanceAccessMixin, BatchMixin, View):
    """POST: move the batch to ``to_status`` through ``batch_transition``; a refusal
    is shown as an error message and nothing changes."""

    http_method_names = ["post"]
    to_status: str = ""
    action_level = MANAGE_BATCH
    done_message = "Batch {number} is now {status}."

    def post(self, request, *args, **kwargs):
        batch = self.get_batch()
        try:
            batch = batch_transition(batch=batch, to_status=self.to_status, user=request.user)
        except FinanceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, self.done_message.format(number=batch.number, status=batch.get_status_display()))
        return redirect("finance:batch_detail", pk=batch.pk)


class BatchControlsView(FinanceAccessMixin, BatchMixin, View):
    http_method_names = ["post"]
    action_level = MANAGE_BATCH

    def post(self, request, *args, **kwargs):
        batch = self.get_batch()
        form = BatchControlsForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label or field.replace("_", " ").capitalize()
                messages.error(request, f"{label}: {' '.join(errors)}")
            return redirect("finance:batch_detail", pk=batch.pk)
        try:
            batch_set_controls(
                batch=batch,
                control_count=form.cleaned_data["control_count"],
                control_amount=form.cleaned_data["control_amount"],
                user=request.user,
            )
        except FinanceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Controls of batch {batch.number} saved.")
        return redirect("finance:batch_detail", pk=batch.pk)


class BatchCreateView(FinanceAccessMixin, FormView):
    template_name = "finance/batch_form.html"
    form_class = BatchCreateForm
    action_level = MANAGE_BATCH

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        make_current = data.pop("make_current")
        try:
            with transaction.atomic():
                batch = batch_create(user=self.request.user, **data)
                if make_current:
                    current_batch_set(user=self.request.user, batch=batch)
        except FinanceError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc)
            return self.form_invalid(form)
        note = " It is your current batch." if make_current else ""
        messages.success(self.request, f"Batch {batch.number} is open.{note}")
        return redirect("finance:batch_detail", pk=batch.pk)


# How many open batches the header's picker offers (newest first).
CURRENT_BATCH_CHOICES = 50


class CurrentBatchChoicesView(FinanceAccessMixin, TemplateView):
    """The header's picker of a current batch (loaded when its menu opens): the open
    batches, newest first; ``next`` is the page to return to once one is chosen."""

    template_name = "includes/_current_batch_choices.html"
    action_level = ENTER_TRANSACTIONS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            choices=list(selectors.open_batches()[:CURRENT_BATCH_CHOICES]),
            current=selectors.current_batch_of(self.request.user),
            next=self.request.GET.get("next", ""),
        )
        return context


class CurrentBatchSetView(FinanceAccessMixin, View):
    """POST ``batch`` (an open batch's id): make it the user's current batch, then go
    back to ``next`` (a page of this site) or to the batch."""

    http_method_names = ["post"]
    action_level = ENTER_TRANSACTIONS

    def post(self, request, *args, **kwargs):
        value = request.POST.get("batch", "")
        batch = Batch.objects.filter(pk=int(value)).first() if value.isdigit() else None
        if batch is None:
            messages.error(request, "Choose an open batch from the list.")
        else:
            try:
                batch = current_batch_set(user=request.user, batch=batch)
            except FinanceError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(
                    request,
                    f"Batch {batch.number} is your current batch: your entries and adjustments go into it "
                    "unless you pick another.",
                )
        target = request.POST.get("next", "")
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return redirect(target)
        return redirect("finance:batch_detail", pk=batch.pk) if batch else redirect("finance:batch_list")
