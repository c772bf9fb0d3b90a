"""Django admin for Pay Central: payment methods and sets, gateway accounts, module
authorizations (also inline on the user admin) and API tokens.

API tokens are issued through ``ApiToken.issue``: the add form asks for a user and a
name, and the clear key is shown once, in a message, right after it is created. Only
its SHA-256 hash is stored, and the hash is never displayed.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.html import format_html

from paycentral.audit.admin_mixins import AuditTrailAdminMixin
from paycentral.models import (
    ApiToken,
    Cart,
    CartCredit,
    CartLine,
    GatewayAccount,
    MemberAccount,
    ModuleAuthorization,
    PaymentMethod,
    PaymentMethodSet,
    PaymentMethodSetEntry,
)

User = get_user_model()


@admin.register(GatewayAccount)
class GatewayAccountAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    list_display = ("name", "processor", "entity", "is_active", "invoice_sync", "default_handling_mode")
    list_filter = ("processor", "entity", "is_active", "invoice_sync")
    search_fields = ("name",)
    list_select_related = ("entity",)
    # Secrets are never shown in full: only their masked ends (set them from the shell).
    exclude = ("secret_key", "webhook_secret")
    readonly_fields = ("secret_key_masked", "webhook_secret_masked")

    @admin.display(description="Secret key")
    def secret_key_masked(self, obj):
        from paycentral.crypto import mask_secret

        return mask_secret(obj.secret_key) or "—"

    @admin.display(description="Webhook secret")
    def webhook_secret_masked(self, obj):
        from paycentral.crypto import mask_secret

        return mask_secret(obj.webhook_secret) or "—"


@admin.register(PaymentMethod)
class PaymentMethodAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "type", "cash_account", "gateway_account", "is_active")
    list_filter = ("type", "is_active")
    search_fields = ("code", "name")
    list_select_related = ("cash_account__entity", "gateway_account")
    autocomplete_fields = ("cash_account",)


class PaymentMethodSetEntryInline(admin.TabularInline):
    model = PaymentMethodSetEntry
    fields = ("position", "method", "display_name")
    extra = 0
    ordering = ("position", "pk")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("method")


@admin.register(PaymentMethodSet)
class PaymentMethodSetAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    list_display = ("name", "description", "method_codes")
    search_fields = ("name",)
    inlines = (PaymentMethodSetEntryInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("entries__method")

    @admin.display(description="Methods (in order)")
    def method_codes(self, obj):
        entries = sorted(obj.entries.all(), key=lambda e: (e.position, e.pk))
        return ", ".join(e.method.code for e in entries)


@admin.register(ModuleAuthorization)
class ModuleAuthorizationAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    list_display = ("user", "module", "level")
    list_filter = ("module", "level")
    search_fields = ("user__username", "user__first_name", "user__last_name", "user__email")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)


class ModuleAuthorizationInline(admin.TabularInline):
    model = ModuleAuthorization
    fields = ("module", "level")
    extra = 0
    max_num = len(ModuleAuthorization._meta.get_field("module").choices)
    verbose_name = "module authorization level (0–8)"
    verbose_name_plural = "module authorization levels (0–8; superusers hold 8 everywhere)"


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(AuditTrailAdminMixin, DjangoUserAdmin):
    inlines = (*DjangoUserAdmin.inlines, ModuleAuthorizationInline)

    def audit_objects(self, obj):
        """The user's own changes and those of their module authorization levels."""
        return [obj, *ModuleAuthorization.objects.filter(user=obj)]


@admin.register(ApiToken)
class ApiTokenAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    """Tokens are issued by ``ApiToken.issue``; the key is shown once and never stored."""

    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked")
    list_filter = ("revoked",)
    search_fields = ("name", "=prefix", "user__username")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    exclude = ("key_hash",)
    actions = ("revoke",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name")
        return ("name", "user", "prefix", "created_at", "last_used_at", "revoked")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = ["user", "prefix", "created_at", "last_used_at", "audit_trail"]
        if obj.revoked:
            readonly.append("revoked")  # revoking is one-way
        return readonly

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = ApiToken.issue(user=form.cleaned_data["user"], name=form.cleaned_data["name"])
        obj.pk = token.pk
        obj.refresh_from_db()
        obj._state.adding = False
        messages.warning(
            request,
            format_html(
                "API key for “{}”: <code>{}</code> — copy it now; it is not stored and will not be shown again.",
                token.name,
                key,
            ),
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        n = queryset.filter(revoked=False).update(revoked=True)
        self.message_user(request, f"{n} token(s) revoked.", level=messages.SUCCESS)


class CartLineInline(admin.TabularInline):
    model = CartLine
    extra = 0
    fields = ("position", "product", "quantity", "unit_price", "amount")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class CartCreditInline(admin.TabularInline):
    model = CartCredit
    extra = 0
    fields = ("position", "credit_invoice", "amount", "is_other", "applied_by", "applied_at", "payment")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    """Carts are read-only here: they change only through the cart services (the staff
    cart and the member checkout), which lock the cart and write the ledger."""

    list_display = ("pk", "contact", "user", "method_set", "status", "created_at", "submitted_at", "invoice")
    list_filter = ("status", "method_set")
    search_fields = ("=contact__party_id", "contact__name", "user__username", "=invoice__number", "=charge_id")
    list_select_related = ("contact", "user", "method_set", "invoice")
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = (CartLineInline, CartCreditInline)
    exclude = ("charge_token",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Cart._meta.fields if f.name != "charge_token"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MemberAccount)
class MemberAccountAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    """Links a member's sign-in to their contact for the member checkout."""

    list_display = ("user", "contact", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("user__username", "=contact__party_id", "contact__name")
    list_select_related = ("user", "contact")
    autocomplete_fields = ("user", "contact")
