"""Forms for adjusting payments and invoices (input parsing only)."""

from decimal import Decimal

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
    """``modes`` (keyword): the refund modes the payment allows
    (``finance.services.credits.refund_modes``); only those are offered and accepted."""

    credit_invoice = forms.IntegerField(widget=forms.HiddenInput)
    amount = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        help_text="Blank: all that can still be refunded.",
    )
    mode = forms.ChoiceField(choices=Refund.Mode.choices, initial=Refund.Mode.RECORD_ONLY, label="Refund")
    reason = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, modes=None, **kwargs):
        super().__init__(*args, **kwargs)
        if modes is not None:
            field = self.fields["mode"]
            field.choices = [(value, label) for value, label in Refund.Mode.choices if value in modes]
            field.initial = field.choices[0][0]
            if Refund.Mode.PROCESSOR not in modes:
                field.error_messages["invalid_choice"] = (
                    "this payment was not a card payment taken through a processor; record the refund instead."
                )


class InvoiceReverseForm(_BatchDateForm):
    reason = forms.CharField(max_length=200, help_text="E.g. registration cancelled.")
