"""Forms for adjusting payments and invoices (input parsing only)."""

from django import forms
from django.utils import timezone

from finance.forms import BootstrapFormMixin, DateInput, EntryBatchMixin, entry_batch_field
from finance.models import Refund


class _BatchDateForm(EntryBatchMixin, BootstrapFormMixin, forms.Form):
    """``user`` (keyword): whose current batch the adjustment goes into, unless
    another open batch is picked."""

    batch = entry_batch_field(help_text="The batch the adjustment is recorded in.")
    date = forms.DateField(widget=DateInput(), initial=timezone.localdate)


class PaymentUnapplyForm(_BatchDateForm):
    pass


class RefundForm(_BatchDateForm):
    credit_invoice = forms.IntegerField(widget=forms.HiddenInput)
    mode = forms.ChoiceField(choices=Refund.Mode.choices, initial=Refund.Mode.RECORD_ONLY, label="Refund")
    reason = forms.CharField(max_length=200, required=False)


class InvoiceReverseForm(_BatchDateForm):
    reason = forms.CharField(max_length=200, help_text="E.g. registration cancelled.")
