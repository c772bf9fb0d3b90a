"""Staff pages of invoice sync: the records list, a record, the edit of its two
editable fields, resolving a charge attempt whose outcome is unknown. Viewing needs
AR/Cash ≥ 2, editing and resolving AR/Cash ≥ 4."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView

from core.authorization import ModuleLevelRequiredMixin, has_level
from core.models import Module
from finance.views.base import FilteredTableView
from integrations import selectors
from integrations.filters import SyncRecordFilter
from integrations.forms import ResolveUnknownAttemptForm, SyncRecordForm
from integrations.models import InvoiceSyncRecord, SyncAttempt
from integrations.services.sync.attempts import CHARGED, RESOLVE_AFTER, attempt_resolve_unknown
from integrations.services.sync.base import SyncError
from integrations.services.sync.records import sync_record_update
from integrations.tables import SyncRecordTable

VIEW_SYNC = (Module.AR_CASH, 2)
EDIT_SYNC = (Module.AR_CASH, 4)


def sync_context(record: InvoiceSyncRecord | None, user) -> dict:
    """What the record panel shows (the detail page and the invoice page)."""
    if record is None:
        return {"record": None}
    can_edit = has_level(user, *EDIT_SYNC)
    unknown = selectors.open_unknown_attempt(record)
    resolvable_from = unknown.started_at + RESOLVE_AFTER if unknown else None
    return {
        "record": record,
        "attempts": selectors.record_attempts(record),
        "changes": selectors.record_changes(record)[:20],
        "can_edit": can_edit,
        "form": SyncRecordForm(initial={"sync_enabled": record.sync_enabled, "handling_mode": record.handling_mode})
        if can_edit
        else None,
        "unknown_attempt": unknown,
        "resolvable": unknown is not None and resolvable_from <= timezone.now(),
        "resolvable_from": resolvable_from,
        "resolve_form": ResolveUnknownAttemptForm(initial={"attempt": unknown.pk}) if unknown and can_edit else None,
    }


class SyncRecordListView(FilteredTableView):
    required_level = VIEW_SYNC
    filterset_class = SyncRecordFilter
    table_class = SyncRecordTable
    page_title = "Invoice sync"

    def get_queryset(self):
        return selectors.sync_record_list().order_by("-pk")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["health"] = selectors.sync_health()
        return context

    def get_template_names(self):
        return ["integrations/sync/record_list.html"]


class SyncRecordDetailView(ModuleLevelRequiredMixin, TemplateView):
    model = InvoiceSyncRecord
    required_level = VIEW_SYNC
    template_name = "integrations/sync/record_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        record = selectors.sync_record_list().filter(pk=self.kwargs["pk"]).first()
        if record is None:
            raise Http404("No such sync record.")
        context.update(sync_context(record, self.request.user), invoice=record.invoice)
        return context


class SyncRecordEditView(ModuleLevelRequiredMixin, View):
    model = InvoiceSyncRecord
    required_level = EDIT_SYNC

    def post(self, request, pk):
        record = get_object_or_404(InvoiceSyncRecord.objects.select_related("invoice"), pk=pk)
        form = SyncRecordForm(request.POST)
        if form.is_valid():
            try:
                sync_record_update(
                    record=record,
                    sync_enabled=form.cleaned_data["sync_enabled"],
                    handling_mode=form.cleaned_data["handling_mode"],
                    user=request.user,
                    note=form.cleaned_data["note"],
                )
                messages.success(request, f"Invoice {record.invoice.number}: sync settings saved.")
            except SyncError as exc:
                messages.error(request, str(exc))
        else:
            errors = "; ".join(f"{form.fields[f].label}: {' '.join(e)}" for f, e in form.errors.items())
            messages.error(request, f"Invoice {record.invoice.number}: not saved — {errors}")
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            target = reverse("invoice_sync:sync_detail", args=[record.pk])
        return redirect(target)


def resolved_message(record: InvoiceSyncRecord, attempt: SyncAttempt, resolution: str) -> str:
    """What staff are told once an unknown attempt is resolved (the page and the admin)."""
    invoice = record.invoice.number
    if resolution == CHARGED:
        text = (
            f"Invoice {invoice}: attempt {attempt.number} recorded with charge {attempt.processor_charge_id} "
            f"({attempt.get_outcome_display().lower()})."
        )
        if record.paid_in_ledger:
            text += f" The invoice is paid in the ledger (payment {record.payment_id})."
        return text
    text = f"Invoice {invoice}: attempt {attempt.number} closed as not charged."
    if record.is_stopped and not record.paid_in_ledger:
        text += f" It is charged again once its handling mode leaves {record.get_handling_mode_display()}."
    return text


class SyncAttemptResolveView(ModuleLevelRequiredMixin, View):
    """POST: staff record what they found at the processor for an attempt whose outcome
    is unknown (``attempt_resolve_unknown``); same level as editing the record."""

    model = InvoiceSyncRecord
    required_level = EDIT_SYNC

    def post(self, request, pk):
        record = get_object_or_404(InvoiceSyncRecord.objects.select_related("invoice"), pk=pk)
        form = ResolveUnknownAttemptForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                attempt = attempt_resolve_unknown(
                    record_id=record.pk,
                    attempt_id=data["attempt"],
                    resolution=data["resolution"],
                    charge_id=data["charge_id"],
                    note=data["note"],
                    user=request.user,
                )
            except SyncError as exc:
                messages.error(request, str(exc))
            else:
                record.refresh_from_db()
                messages.success(request, resolved_message(record, attempt, data["resolution"]))
        else:
            errors = "; ".join(
                f"{form.fields[f].label if f in form.fields else 'Form'}: {' '.join(e)}" for f, e in form.errors.items()
            )
            messages.error(request, f"Invoice {record.invoice.number}: attempt not resolved — {errors}")
        return redirect(reverse("invoice_sync:sync_detail", args=[record.pk]))
