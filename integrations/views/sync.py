"""Staff pages of invoice sync: the records list, a record, the edit of its two
editable fields. Viewing needs AR/Cash ≥ 2, editing AR/Cash ≥ 4."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView

from finance.views.base import FilteredTableView
from integrations import selectors
from integrations.filters import SyncRecordFilter
from integrations.forms import SyncRecordForm
from integrations.models import InvoiceSyncRecord
from integrations.services.sync import SyncError, sync_record_update
from integrations.tables import SyncRecordTable
from paycentral.authorization import ModuleLevelRequiredMixin, has_level
from paycentral.models import Module

VIEW_SYNC = (Module.AR_CASH, 2)
EDIT_SYNC = (Module.AR_CASH, 4)


def sync_context(record: InvoiceSyncRecord | None, user) -> dict:
    """What the record panel shows (the detail page and the invoice page)."""
    if record is None:
        return {"record": None}
    can_edit = has_level(user, *EDIT_SYNC)
    return {
        "record": record,
        "attempts": selectors.record_attempts(record),
        "changes": selectors.record_changes(record)[:20],
        "can_edit": can_edit,
        "form": SyncRecordForm(initial={"sync_enabled": record.sync_enabled, "handling_mode": record.handling_mode})
        if can_edit
        else None,
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
