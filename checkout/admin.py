"""Django admin of the carts (read-only) and the member accounts."""

from django.contrib import admin

from checkout.models import Cart, CartCredit, CartLine, MemberAccount


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
class MemberAccountAdmin(admin.ModelAdmin):
    """Links a member's sign-in to their contact for the member checkout."""

    list_display = ("user", "contact", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("user__username", "=contact__party_id", "contact__name")
    list_select_related = ("user", "contact")
    autocomplete_fields = ("user", "contact")
