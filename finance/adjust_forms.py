"""Forms for adjusting payments and invoices (input parsing only)."""

from django import forms
from django.utils import timezone

from finance.forms import BatchChoiceField, BootstrapFormMixin, DateInput
from finance.models import Refund
from finance.selectors import open_batches


class _BatchDateForm(BootstrapFormMixin, forms.Form):
    batch = BatchChoiceField(
        queryset=open_batches(),
        required=False,
        empty_label="New batch (opened for this adjustment)",
        help_text="An open batch to record the adjustment in.",
    )
    date = forms.DateField(widget=DateInput(), initial=timezone.localdate)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["batch"].queryset = open_batches()


class PaymentUnapplyForm(_BatchDateForm):
    pass


class RefundForm(_BatchDateForm):
    credit_invoice = forms.IntegerField(widget=forms.HiddenInput)
    mode = forms.ChoiceField(choices=Refund.Mode.choices, initial=Refund.Mode.RECORD_ONLY, label="Refund")
    reason = forms.CharField(max_length=200, required=False)


class InvoiceReverseForm(_BatchDateForm):
    reason = forms.CharField(max_length=200, help_text="E.g. registration cancelled.")
