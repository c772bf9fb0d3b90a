"""Membership billing in the Django admin: member types and settings are edited here;
subscriptions' derived dates, runs and API packages are read-only records."""

from django.contrib import admin

from finance.membership.models import (
    DuesImport,
    MembershipSettings,
    MemberType,
    MemberTypeProduct,
    RenewalRun,
    Subscription,
    SubscriptionPackage,
    Term,
)


@admin.register(MembershipSettings)
class MembershipSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "accounting_method", "terms_days"]

    def has_add_permission(self, request):
        return not MembershipSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class MemberTypeProductInline(admin.TabularInline):
    model = MemberTypeProduct
    extra = 1
    autocomplete_fields = ["product"]


@admin.register(MemberType)
class MemberTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "fee_product", "term_months", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["fee_product"]
    inlines = [MemberTypeProductInline]


class TermInline(admin.TabularInline):
    model = Term
    extra = 0
    can_delete = False
    fields = ["term_begin", "term_end", "invoice", "source"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["contact", "member_type", "status", "paid_through", "renewed_through", "term_months"]
    list_filter = ["status", "member_type"]
    search_fields = ["contact__name", "contact__party_id"]
    autocomplete_fields = ["contact"]
    readonly_fields = ["paid_through", "renewed_through", "created_at"]
    inlines = [TermInline]


@admin.register(RenewalRun)
class RenewalRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "status", "paid_through_from", "paid_through_to", "member_count", "total", "batch"]
    list_filter = ["status"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SubscriptionPackage)
class SubscriptionPackageAdmin(RenewalRunAdmin):
    list_display = ["key", "status", "item_count", "created_count", "error_count", "batch", "created_at"]


@admin.register(DuesImport)
class DuesImportAdmin(RenewalRunAdmin):
    list_display = ["file_name", "status", "row_count", "error_count", "batch", "created_at"]
