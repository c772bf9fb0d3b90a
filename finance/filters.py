"""django-filter filter sets of the staff UI lists."""

import django_filters as filters
from django import forms
from django.db.models import Q

from finance.models import Batch, Contact, Invoice, Payment, PaymentMethod

DATE_RANGE = filters.widgets.DateRangeWidget(attrs={"type": "date", "class": "form-control form-control-sm"})


def _contact_q(prefix: str, value: str) -> Q:
    """Match a contact by party id (exact), major key (exact) or name (contains)."""
    value = value.strip()
    q = Q(**{f"{prefix}name__icontains": value}) | Q(**{f"{prefix}major_key__iexact": value})
    if value.isdigit():
        q |= Q(**{f"{prefix}party_id": value})
    return q


class ContactFilter(filters.FilterSet):
    q = filters.CharFilter(label="Search", method="filter_q", help_text="Name, party ID, major key or email")
    kind = filters.ChoiceFilter(choices=Contact.Kind.choices, empty_label="Any kind")
    status = filters.ChoiceFilter(choices=Contact.Status.choices, empty_label="Any status")
    company = filters.CharFilter(label="Company party ID", field_name="company__party_id")

    class Meta:
        model = Contact
        fields = ["q", "kind", "status", "company"]

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(_contact_q("", value) | Q(email__icontains=value))


class InvoiceFilter(filters.FilterSet):
    STATE_CHOICES = (("open", "Open (balance due)"), ("paid", "Paid"), ("credit", "Open credit"))

    number = filters.CharFilter(label="Invoice number", field_name="number", lookup_expr="iexact")
    contact = filters.CharFilter(label="Contact", method="filter_contact", help_text="Bill-to name or party ID")
    date = filters.DateFromToRangeFilter(label="Invoice date", widget=DATE_RANGE)
    type = filters.ChoiceFilter(choices=Invoice.Type.choices, empty_label="Any type")
    state = filters.ChoiceFilter(label="Status", choices=STATE_CHOICES, method="filter_state", empty_label="Any")
    batch = filters.CharFilter(label="Batch", field_name="batch__number", lookup_expr="iexact")

    class Meta:
        model = Invoice
        fields = ["number", "contact", "date", "type", "state", "batch"]

    def filter_contact(self, queryset, name, value):
        return queryset.filter(_contact_q("bill_to__", value)) if value.strip() else queryset

    def filter_state(self, queryset, name, value):
        # Same meaning as Invoice.is_paid / Invoice.is_open_credit.
        if value == "open":
            return queryset.filter(balance__gt=0)
        if value == "paid":
            return queryset.filter(balance=0, total__gt=0)
        if value == "credit":
            return queryset.filter(balance__lt=0)
        return queryset


class PaymentFilter(filters.FilterSet):
    payer = filters.CharFilter(label="Payer", method="filter_payer", help_text="Name or party ID")
    method = filters.ModelChoiceFilter(queryset=PaymentMethod.objects.order_by("code"), empty_label="Any method")
    date = filters.DateFromToRangeFilter(label="Payment date", widget=DATE_RANGE)
    # The state shown for a payment: its batch's (Open, Ready, Posted) while it stands,
    # or Reversed.
    STATE_CHOICES = (
        (Batch.Status.OPEN.value, "Open (batch not posted)"),
        (Batch.Status.READY.value, "Ready (batch not posted)"),
        (Batch.Status.POSTED.value, "Posted"),
        (Payment.Status.REVERSED.value, "Reversed"),
    )

    status = filters.ChoiceFilter(
        label="Status", choices=STATE_CHOICES, method="filter_status", empty_label="Any status"
    )
    batch = filters.CharFilter(label="Batch", field_name="batch__number", lookup_expr="iexact")
    reference = filters.CharFilter(label="Reference", lookup_expr="icontains")

    class Meta:
        model = Payment
        fields = ["payer", "method", "date", "status", "batch", "reference"]

    def filter_payer(self, queryset, name, value):
        return queryset.filter(_contact_q("payer__", value)) if value.strip() else queryset

    def filter_status(self, queryset, name, value):
        if value == Payment.Status.REVERSED:
            return queryset.filter(status=Payment.Status.REVERSED)
        return queryset.filter(status=Payment.Status.POSTED, batch__status=value) if value else queryset


class BatchFilter(filters.FilterSet):
    number = filters.CharFilter(label="Number", lookup_expr="icontains")
    status = filters.ChoiceFilter(choices=Batch.Status.choices, empty_label="Any status")
    date = filters.DateFromToRangeFilter(label="Batch date", widget=DATE_RANGE)

    class Meta:
        model = Batch
        fields = ["number", "status", "date"]


def style_filter_form(form: forms.Form) -> forms.Form:
    """Give every widget Bootstrap's small form-control/form-select class."""
    for bound in form:
        widget = bound.field.widget
        subwidgets = getattr(widget, "widgets", [widget])
        for w in subwidgets:
            css = "form-select form-select-sm" if isinstance(w, forms.Select) else "form-control form-control-sm"
            w.attrs.setdefault("class", css)
            if bound.help_text and isinstance(w, forms.TextInput):
                w.attrs.setdefault("placeholder", bound.help_text)
    return form
