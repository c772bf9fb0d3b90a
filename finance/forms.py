"""Forms of the staff UI. They parse input; the services in finance/services decide."""

from django import forms
from django.utils import timezone

from finance.money import DECIMAL_PLACES, MAX_DIGITS
from finance.selectors import open_batches


class BootstrapFormMixin:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            w = field.widget
            if isinstance(w, forms.CheckboxInput):
                w.attrs.setdefault("class", "form-check-input")
            elif isinstance(w, forms.Select):
                w.attrs.setdefault("class", "form-select")
            else:
                w.attrs.setdefault("class", "form-control")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def money_field(**kwargs) -> forms.DecimalField:
    kwargs.setdefault("max_digits", MAX_DIGITS)
    kwargs.setdefault("decimal_places", DECIMAL_PLACES)
    kwargs.setdefault("widget", forms.NumberInput(attrs={"step": "0.01", "class": "form-control text-end"}))
    return forms.DecimalField(**kwargs)


class BatchCreateForm(BootstrapFormMixin, forms.Form):
    date = forms.DateField(widget=DateInput(), initial=timezone.localdate)
    description = forms.CharField(max_length=200, required=False)
    number = forms.CharField(
        max_length=20, required=False, help_text="Leave blank for the next number of the day (yymmdd-n)."
    )
    control_count = forms.IntegerField(min_value=0, required=False)
    control_amount = money_field(required=False)


class BatchControlsForm(BootstrapFormMixin, forms.Form):
    control_count = forms.IntegerField(min_value=0, required=False)
    control_amount = money_field(required=False)


class BatchChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return " – ".join(part for part in (obj.number, obj.date.isoformat(), obj.description) if part)


class PaymentReverseForm(BootstrapFormMixin, forms.Form):
    batch = BatchChoiceField(
        queryset=open_batches(),
        required=False,
        empty_label="New batch (opened for this reversal)",
        help_text="An open batch to record the reversal in.",
    )
    date = forms.DateField(widget=DateInput(), initial=timezone.localdate, label="Reversal date")
    reason = forms.CharField(max_length=200, help_text="E.g. check returned NSF, chargeback.")
