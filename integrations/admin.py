"""Admin of invoice sync: records are read-only except the two staff-editable fields,
whose changes go through the service (with a change row); attempts, changes, webhook
events and job runs are read-only."""

from django.contrib import admin

from integrations.models import (
    InvoiceSyncRecord,
    SavedPaymentMethod,
    SyncAttempt,
    SyncRecordChange,
    SyncRun,
    WebhookEvent,
)
from integrations.services.sync import sync_record_update


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
