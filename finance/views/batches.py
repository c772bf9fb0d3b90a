from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.views import View
from django.views.generic import FormView, TemplateView
from django_tables2 import RequestConfig

from core.authorization import MANAGE_BATCH, POST_BATCH, has_level
from finance import selectors
from finance.errors import FinanceError
from finance.filters import BatchFilter
from finance.forms import BatchControlsForm, BatchCreateForm
from finance.models import Batch
from finance.services.batches import batch_create, batch_set_controls, batch_totals, batch_transition
from finance.tables import PER_PAGE, BatchTable, InvoiceTable, PaymentTable
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
    template_name = "finance/batch_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        batch = self.get_batch()
        user = self.request.user
        allowed = Batch.TRANSITIONS[Batch.Status(batch.status)]
        can_manage = has_level(user, *MANAGE_BATCH)
        can_post = has_level(user, *POST_BATCH)
        config = RequestConfig(self.request, paginate={"per_page": PER_PAGE})
        invoices = InvoiceTable(selectors.batch_invoices(batch), prefix="inv-", exclude=("batch",))
        payments = PaymentTable(selectors.batch_payments(batch), prefix="pay-", exclude=("batch",))
        config.configure(invoices)
        config.configure(payments)
        context.update(
            batch=batch,
            totals=batch_totals(batch),
            events=selectors.batch_events(batch),
            invoice_table=invoices,
            payment_table=payments,
            can_manage=can_manage,
            can_post=can_post,
            can_set_controls=can_manage and batch.status in (Batch.Status.OPEN, Batch.Status.READY),
            can_ready=can_manage and Batch.Status.READY in allowed,
            can_reopen=can_manage and Batch.Status.OPEN in allowed,
            can_delete=can_manage and Batch.Status.DELETED in allowed,
            show_post=Batch.Status.POSTED in allowed,
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
        try:
            batch = batch_create(user=self.request.user, **form.cleaned_data)
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
        messages.success(self.request, f"Batch {batch.number} is open.")
        return redirect("finance:batch_detail", pk=batch.pk)
