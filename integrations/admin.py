"""Admin of invoice sync: records are read-only except the two staff-editable fields,
whose changes go through the service (with a change row), and the "Resolve unknown
attempt" action (the service the record page uses, at the same level); attempts,
changes, webhook events and job runs are read-only."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from core.authorization import has_level
from core.models import Module
from integrations import selectors
from integrations.forms import ResolveUnknownAttemptForm
from integrations.models import (
    InvoiceSyncRecord,
    SavedPaymentMethod,
    SyncAttempt,
    SyncRecordChange,
    SyncRun,
    WebhookEvent,
)
from integrations.services.sync.attempts import RESOLVE_AFTER, attempt_resolve_unknown
from integrations.services.sync.base import SyncError
from integrations.services.sync.records import sync_record_update
from integrations.views.sync import EDIT_SYNC, resolved_message


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AttemptInline(ReadOnlyInline):
    model = SyncAttempt
    fields = (
        "number",
        "trigger",
        "method",
        "amount",
        "currency",
        "outcome",
        "processor_charge_id",
        "idempotency_key",
        "failure_code",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields


class ChangeInline(ReadOnlyInline):
    model = SyncRecordChange
    fields = ("changed_at", "user", "field", "old_value", "new_value", "note")
    readonly_fields = fields


@admin.register(InvoiceSyncRecord)
class InvoiceSyncRecordAdmin(admin.ModelAdmin):
    list_display = (
        "invoice",
        "entity",
        "processor_status",
        "handling_mode",
        "sync_enabled",
        "paid_in_ledger",
        "has_error",
        "retries",
    )
    list_filter = ("processor_status", "handling_mode", "has_error", "sync_enabled", "paid_in_ledger", "entity")
    search_fields = ("invoice__number", "processor_transaction_id", "payment_request_id")
    list_select_related = ("invoice", "entity")
    fields = (
        "invoice",
        "entity",
        "gateway_account",
        "currency",
        "base_currency",
        "sync_enabled",
        "handling_mode",
        "synced_to_processor",
        "payment_request_id",
        "processor_status",
        "paid_in_ledger",
        "payment",
        "processor_transaction_id",
        "has_error",
        "error_message",
        "retries",
        "provider_customer_id",
        "next_attempt_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = tuple(f for f in fields if f not in ("sync_enabled", "handling_mode"))
    inlines = (AttemptInline, ChangeInline)
    actions = ("resolve_unknown_attempt",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        sync_record_update(
            record=InvoiceSyncRecord.objects.get(pk=obj.pk),
            sync_enabled=obj.sync_enabled,
            handling_mode=obj.handling_mode,
            user=request.user,
            note="Changed in the admin",
        )

    @admin.action(description="Resolve unknown attempt", permissions=["change"])
    def resolve_unknown_attempt(self, request, queryset):
        """One record at a time: a page asks what the processor shows for its attempt
        whose outcome is unknown, then ``attempt_resolve_unknown`` records it."""
        module, level = EDIT_SYNC
        if not has_level(request.user, module, level):
            self.message_user(
                request,
                f"Resolving an unknown attempt needs {Module(module).label} authorization level {level} or higher.",
                level=messages.ERROR,
            )
            return None
        records = list(queryset.select_related("invoice", "gateway_account").order_by("pk")[:2])
        if len(records) != 1:
            self.message_user(request, "Select one sync record to resolve its unknown attempt.", messages.ERROR)
            return None
        record = records[0]
        attempt = selectors.open_unknown_attempt(record)
        if attempt is None:
            self.message_user(
                request, f"Invoice {record.invoice.number}: no attempt with an unknown outcome.", messages.ERROR
            )
            return None
        if "apply" in request.POST:
            form = ResolveUnknownAttemptForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    resolved = attempt_resolve_unknown(
                        record_id=record.pk,
                        attempt_id=data["attempt"],
                        resolution=data["resolution"],
                        charge_id=data["charge_id"],
                        note=data["note"],
                        user=request.user,
                    )
                except SyncError as exc:
                    form.add_error(None, str(exc))
                else:
                    record.refresh_from_db()
                    self.message_user(request, resolved_message(record, resolved, data["resolution"]), messages.SUCCESS)
                    return None
        else:
            form = ResolveUnknownAttemptForm(initial={"attempt": attempt.pk})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Resolve unknown attempt {attempt.number} of invoice {record.invoice.number}",
            "opts": self.model._meta,
            "record": record,
            "attempt": attempt,
            "resolvable_from": attempt.started_at + RESOLVE_AFTER,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action_name": "resolve_unknown_attempt",
        }
        return TemplateResponse(request, "integrations/sync/admin_resolve.html", context)


@admin.register(SavedPaymentMethod)
class SavedPaymentMethodAdmin(admin.ModelAdmin):
    list_display = ("contact", "gateway_account", "method", "label", "autopay", "is_active")
    list_filter = ("method", "autopay", "is_active")
    search_fields = ("contact__name", "contact__party_id", "label")
    raw_id_fields = ("contact",)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "type", "gateway_account", "received_at", "processed_at", "result")
    list_filter = ("type", "gateway_account")
    search_fields = ("event_id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("kind", "started_at", "finished_at", "counts")
    list_filter = ("kind",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
