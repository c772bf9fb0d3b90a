"""Django admin for the ledger core.

Financial records (invoices and their lines, payments and their applications, journal
entries and lines) are written only by the services in ``finance.services``; here they
are view-only: no add, no change, no delete. Batches are opened, re-controlled and moved
through their statuses by the batch services (the admin actions call
``batch_transition``), and a posted batch is read-only.

Big tables (contacts, invoices, payments, applications, journal entries and lines) do
not count their rows twice (``show_full_result_count = False``) and, on PostgreSQL,
use the planner's row estimate instead of ``COUNT(*)`` for an unfiltered changelist.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html

from core.authorization import MANAGE_BATCH, POST_BATCH, has_level
from core.crypto import mask_secret
from core.models import Module
from finance.errors import FinanceError
from finance.models import (
    Batch,
    BatchEvent,
    Contact,
    FinanceSettings,
    FinancialEntity,
    GatewayAccount,
    GLAccount,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    NumberSequence,
    Payment,
    PaymentApplication,
    PaymentMethod,
    PaymentMethodSet,
    PaymentMethodSetEntry,
    Product,
    Refund,
)
from finance.pagination import EstimatedCountPaginator
from finance.services.batches import batch_create, batch_set_controls, batch_totals, batch_transition

# A search term that names rows of a related table (a contact's name, a batch number)
# is resolved to at most this many of their ids first.
SEARCH_RELATED_LIMIT = 1000


def indexed_search(model, search_fields, queryset, term: str):
    """The admin's search, planned for tables of millions of rows.

    Django's search ORs ``UPPER(col) = UPPER(term)`` over joins, which no index serves.
    Here each search field becomes a lookup an index can answer: a field of the table
    itself is matched exactly (as typed and upper case; numbers only when the term is
    one), ``^`` is a prefix match (any case); a field of a related table (``bill_to__name``) is
    first resolved to the related rows' ids (a small table, or its own index), and the
    big table is filtered on its foreign key. The ORed lookups become one bitmap scan.
    """
    term = term.strip()
    if len(term) >= 2 and term[0] == term[-1] and term[0] in "\"'":
        term = term[1:-1].strip()  # a quoted phrase is one term
    if not term:
        return queryset
    where = Q()
    for spec in search_fields:
        mode = spec[0] if spec[0] in "=^@" else ""
        path = spec.lstrip("=^@")
        fk, _, rest = path.partition("__")
        target = model._meta.get_field(fk)
        if rest:
            related = target.related_model
            last = related._meta.get_field(rest.split("__")[-1]) if "__" not in rest else None
            if last is not None and last.get_internal_type() in ("AutoField", "BigAutoField", "IntegerField"):
                if not term.isdigit():
                    continue
                where |= Q(**{f"{fk}_id" if rest == "id" else f"{fk}__{rest}": int(term)})
                continue
            if mode == "=":
                match = Q(**{rest: term}) | Q(**{rest: term.upper()})
            else:
                match = Q(**{f"{rest}__{'istartswith' if mode == '^' else 'icontains'}": term})
            ids = list(
                related._default_manager.filter(match).order_by().values_list("pk", flat=True)[:SEARCH_RELATED_LIMIT]
            )
            if ids:
                where |= Q(**{f"{fk}__in": ids})
        elif target.get_internal_type() in ("AutoField", "BigAutoField", "IntegerField", "BigIntegerField"):
            if term.isdigit():
                where |= Q(**{fk: int(term)})
        elif mode == "=":
            where |= Q(**{fk: term}) | Q(**{fk: term.upper()})
        elif mode == "^":
            where |= Q(**{f"{fk}__istartswith": term})
        else:
            where |= Q(**{f"{fk}__icontains": term})
    if not where:
        return queryset.none()
    return queryset.filter(where)


class CurrencyListFilter(admin.SimpleListFilter):
    """Currency choices from the financial entities (a few rows), not a DISTINCT over
    the whole table."""

    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        codes = sorted(set(FinancialEntity.objects.values_list("currency", flat=True)))
        return [(c, c) for c in codes]

    def queryset(self, request, queryset):
        return queryset.filter(currency=self.value()) if self.value() else queryset


class BigTableAdmin(admin.ModelAdmin):
    """Changelist settings for tables that grow to millions of rows: the planner's row
    estimate instead of COUNT(*), no full count beside a filtered one, searches an index
    can answer, and a date list filter (Today, Past 7 days, This month, This year)
    instead of the date hierarchy, whose year links need a DISTINCT over every row."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50

    def get_search_results(self, request, queryset, search_term):
        return indexed_search(self.model, self.get_search_fields(request), queryset, search_term), False


class ReadOnlyAdminMixin:
    """View-only: records come from the services and are never edited here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyBigTableAdmin(ReadOnlyAdminMixin, BigTableAdmin):
    pass


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


# --- Settings and reference data ------------------------------------------------------


@admin.register(FinanceSettings)
class FinanceSettingsAdmin(admin.ModelAdmin):
    """The single settings row (pk=1): it can be changed, never added twice or deleted."""

    list_display = ("__str__", "require_balanced_batches", "auto_apply_cash", "allow_prepayments")

    def has_add_permission(self, request):
        return not FinanceSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            obj.pk = 1
        super().save_model(request, obj, form, change)


@admin.register(Contact)
class ContactAdmin(BigTableAdmin):
    list_display = ("party_id", "name", "kind", "company", "email", "status", "major_key")
    list_filter = ("kind", "status")
    search_fields = ("=party_id", "=major_key", "^name", "^sort_name", "^email")
    list_select_related = ("company",)
    autocomplete_fields = ("company",)
    readonly_fields = ("created_at",)
    ordering = ("sort_name", "name", "pk")


@admin.register(FinancialEntity)
class FinancialEntityAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "currency")
    search_fields = ("code", "name")


@admin.register(GLAccount)
class GLAccountAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "entity", "type", "role", "is_active")
    list_filter = ("entity", "type", "role", "is_active")
    search_fields = ("code", "name")
    list_select_related = ("entity",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "category",
        "entity",
        "income_account",
        "price",
        "is_recurring",
        "is_active",
    )
    list_filter = ("kind", "entity", "is_recurring", "is_active")
    search_fields = ("code", "name", "category")
    list_select_related = ("entity", "income_account__entity")
    autocomplete_fields = ("income_account", "deferred_income_account")


@admin.register(GatewayAccount)
class GatewayAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "processor", "entity", "is_active", "invoice_sync", "default_handling_mode")
    list_filter = ("processor", "entity", "is_active", "invoice_sync")
    search_fields = ("name",)
    list_select_related = ("entity",)
    # Secrets are never shown in full: only their masked ends (set them from the shell).
    exclude = ("secret_key", "webhook_secret")
    readonly_fields = ("secret_key_masked", "webhook_secret_masked")

    @admin.display(description="Secret key")
    def secret_key_masked(self, obj):
        return mask_secret(obj.secret_key) or "—"

    @admin.display(description="Webhook secret")
    def webhook_secret_masked(self, obj):
        return mask_secret(obj.webhook_secret) or "—"


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
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
class PaymentMethodSetAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "method_codes")
    search_fields = ("name",)
    inlines = (PaymentMethodSetEntryInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("entries__method")

    @admin.display(description="Methods (in order)")
    def method_codes(self, obj):
        entries = sorted(obj.entries.all(), key=lambda e: (e.position, e.pk))
        return ", ".join(e.method.code for e in entries)


@admin.register(NumberSequence)
class NumberSequenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Gap-free counters are taken by the services under a row lock; view only."""

    list_display = ("name", "next_value")


# --- Batches --------------------------------------------------------------------------


class BatchEventInline(ReadOnlyTabularInline):
    model = BatchEvent
    fields = ("at", "from_status", "to_status", "user", "note")
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class BatchAdminForm(forms.ModelForm):
    class Meta:
        model = Batch
        fields = ("number", "date", "description", "control_count", "control_amount")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "number" in self.fields:
            self.fields["number"].required = False
            self.fields["number"].help_text = "Leave empty for the next yymmdd-n number of the batch date."

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and self.instance.status in (Batch.Status.POSTED, Batch.Status.DELETED):
            raise forms.ValidationError(f"Batch {self.instance.number} is {self.instance.get_status_display()}.")
        return cleaned


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    """Batches open through ``batch_create``; controls change through
    ``batch_set_controls``; statuses move only through ``batch_transition``."""

    form = BatchAdminForm
    list_display = (
        "number",
        "date",
        "description",
        "status",
        "control_count",
        "control_amount",
        "created_by",
        "posted_at",
    )
    list_filter = ("status",)
    search_fields = ("=number", "description")
    date_hierarchy = "date"
    list_select_related = ("created_by",)
    inlines = (BatchEventInline,)
    actions = ("mark_ready", "reopen", "post", "mark_deleted")
    ADD_FIELDS = ("number", "date", "description", "control_count", "control_amount")
    CHANGE_FIELDS = (
        "number",
        "date",
        "status",
        "description",
        "control_count",
        "control_amount",
        "actual_figures",
        "created_by",
        "created_at",
        "posted_by",
        "posted_at",
    )
    ALWAYS_READONLY = (
        "number",
        "date",
        "status",
        "actual_figures",
        "created_by",
        "created_at",
        "posted_by",
        "posted_at",
    )

    def get_fields(self, request, obj=None):
        return self.ADD_FIELDS if obj is None else self.CHANGE_FIELDS

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if self._is_closed(obj):
            return self.CHANGE_FIELDS
        return self.ALWAYS_READONLY

    @staticmethod
    def _is_closed(obj) -> bool:
        return obj is not None and obj.status in (Batch.Status.POSTED, Batch.Status.DELETED)

    def has_change_permission(self, request, obj=None):
        if self._is_closed(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        """Only an empty batch that was never posted may be removed from the database;
        a posted batch never. (Statuses, including Deleted, move by the actions.)"""
        if obj is not None:
            if obj.status == Batch.Status.POSTED:
                return False
            if obj.invoices.exists() or obj.payments.exists() or obj.journal_entries.exists():
                return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Bulk delete would bypass the per-batch checks above.
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="Actual count / amount")
    def actual_figures(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        totals = batch_totals(obj)
        return format_html(
            "{} transactions ({} invoices, {} payments); cash {}; charges {}",
            totals.count,
            totals.invoice_count,
            totals.payment_count,
            totals.amount,
            totals.charges,
        )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            batch = batch_create(
                date=data["date"],
                description=data.get("description", ""),
                number=data.get("number") or None,
                control_count=data.get("control_count"),
                control_amount=data.get("control_amount"),
                user=request.user,
            )
            obj.pk = batch.pk
            obj.refresh_from_db()
            obj._state.adding = False
            return
        try:
            if {"control_count", "control_amount"} & set(form.changed_data):
                batch_set_controls(
                    batch=obj,
                    control_count=data.get("control_count"),
                    control_amount=data.get("control_amount"),
                    user=request.user,
                )
            if "description" in form.changed_data:
                Batch.objects.filter(pk=obj.pk).exclude(status__in=(Batch.Status.POSTED, Batch.Status.DELETED)).update(
                    description=data.get("description", "")
                )
        except FinanceError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)

    def _transition(self, request, queryset, to_status, required_level):
        module, level = required_level
        if not has_level(request.user, module, level):
            self.message_user(
                request,
                f"Moving batches to {Batch.Status(to_status).label} needs {Module(module).label} "
                f"authorization level {level} or higher.",
                level=messages.ERROR,
            )
            return
        done = []
        for batch in queryset.order_by("pk"):
            try:
                batch_transition(batch=batch, to_status=to_status, user=request.user, note="admin action")
            except FinanceError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
            else:
                done.append(batch.number)
        if done:
            self.message_user(
                request,
                f"{Batch.Status(to_status).label}: {', '.join(done)}.",
                level=messages.SUCCESS,
            )

    @admin.action(description="Mark selected batches ready", permissions=["change"])
    def mark_ready(self, request, queryset):
        self._transition(request, queryset, Batch.Status.READY, MANAGE_BATCH)

    @admin.action(description="Reopen selected batches", permissions=["change"])
    def reopen(self, request, queryset):
        self._transition(request, queryset, Batch.Status.OPEN, MANAGE_BATCH)

    @admin.action(description="Post selected batches", permissions=["change"])
    def post(self, request, queryset):
        self._transition(request, queryset, Batch.Status.POSTED, POST_BATCH)

    @admin.action(description="Mark selected (empty) batches deleted", permissions=["change"])
    def mark_deleted(self, request, queryset):
        self._transition(request, queryset, Batch.Status.DELETED, MANAGE_BATCH)


@admin.register(BatchEvent)
class BatchEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("batch", "from_status", "to_status", "user", "at", "note")
    list_filter = ("to_status",)
    search_fields = ("=batch__number",)
    list_select_related = ("batch", "user")
    date_hierarchy = "at"


# --- Invoices -------------------------------------------------------------------------


class InvoiceLineInline(ReadOnlyTabularInline):
    model = InvoiceLine
    fields = (
        "line_number",
        "product",
        "description",
        "quantity",
        "unit_price",
        "amount",
        "balance",
        "account",
        "billing_begin",
        "billing_end",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice", "product", "account__entity")


class InvoiceApplicationInline(ReadOnlyTabularInline):
    model = PaymentApplication
    fk_name = "invoice"
    verbose_name = "payment application"
    fields = ("payment", "line", "amount", "kind", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment", "line__invoice", "invoice")


class BalanceFilter(admin.SimpleListFilter):
    title = "balance"
    parameter_name = "balance"
    LOOKUPS = {
        "owing": ("Owing (balance > 0)", {"balance__gt": 0}),
        "settled": ("Settled (balance = 0)", {"balance": 0}),
        "credit": ("Open credit (balance < 0)", {"balance__lt": 0}),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.LOOKUPS.items()]

    def queryset(self, request, queryset):
        if self.value() in self.LOOKUPS:
            return queryset.filter(**self.LOOKUPS[self.value()][1])
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyBigTableAdmin):
    list_display = (
        "number",
        "date",
        "due_date",
        "bill_to",
        "type",
        "source",
        "total",
        "balance",
        "currency",
        "batch",
    )
    list_filter = (BalanceFilter, ("date", admin.DateFieldListFilter), "type", "source", "accounting_method", "entity")
    search_fields = ("=number", "=bill_to__party_id", "^bill_to__name", "=batch__number")
    list_select_related = ("bill_to", "batch")
    inlines = (InvoiceLineInline, InvoiceApplicationInline)


@admin.register(InvoiceLine)
class InvoiceLineAdmin(ReadOnlyBigTableAdmin):
    list_display = ("__str__", "invoice", "product", "quantity", "unit_price", "amount", "balance", "account")
    search_fields = ("=invoice__number",)
    list_select_related = ("invoice", "product", "account__entity")


# --- Payments -------------------------------------------------------------------------


class PaymentApplicationInline(ReadOnlyTabularInline):
    model = PaymentApplication
    fk_name = "payment"
    fields = ("invoice", "line", "amount", "kind", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice", "line__invoice", "payment")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyBigTableAdmin):
    list_display = (
        "id",
        "date",
        "payer",
        "method",
        "amount",
        "amount_applied",
        "currency",
        "status",
        "reference",
        "batch",
    )
    list_filter = ("status", ("date", admin.DateFieldListFilter), "source", "method")
    search_fields = ("=id", "=reference", "=payer__party_id", "^payer__name", "=batch__number")
    list_select_related = ("payer", "method", "batch")
    inlines = (PaymentApplicationInline,)


@admin.register(PaymentApplication)
class PaymentApplicationAdmin(ReadOnlyBigTableAdmin):
    list_display = ("id", "payment", "invoice", "line", "amount", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("=payment__id", "=invoice__number")
    list_select_related = ("payment", "invoice", "line__invoice")


# --- Journal --------------------------------------------------------------------------


class JournalLineInline(ReadOnlyTabularInline):
    model = JournalLine
    fields = ("account", "debit", "credit", "currency", "contact", "description")
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account__entity", "contact")


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyBigTableAdmin):
    list_display = (
        "id",
        "date",
        "kind",
        "description",
        "batch",
        "invoice",
        "payment",
        "is_posted",
        "exclude_from_gl_export",
    )
    list_filter = ("kind", ("date", admin.DateFieldListFilter), "is_posted", "exclude_from_gl_export")
    search_fields = ("=id", "=batch__number", "=invoice__number", "=payment__id")
    list_select_related = ("batch", "invoice", "payment")
    inlines = (JournalLineInline,)


@admin.register(JournalLine)
class JournalLineAdmin(ReadOnlyBigTableAdmin):
    list_display = ("id", "entry", "account", "debit", "credit", "currency", "contact")
    list_filter = (CurrencyListFilter,)
    search_fields = ("=entry__id", "=account__code", "=contact__party_id")
    list_select_related = ("entry", "account__entity", "contact")


@admin.register(Refund)
class RefundAdmin(ReadOnlyBigTableAdmin):
    list_display = ("id", "payment", "credit_invoice", "amount", "currency", "mode", "status", "date", "batch")
    list_filter = ("mode", "status")
    search_fields = ("=payment__id", "=credit_invoice__number", "processor_refund_id")
    list_select_related = ("payment", "credit_invoice", "batch")
    date_hierarchy = "date"
