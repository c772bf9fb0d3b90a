"""Forms of the staff UI. They parse input; the services in finance/services decide."""

from django import forms
from django.utils import timezone

from finance.errors import NoCurrentBatch
from finance.models import Batch
from finance.money import DECIMAL_PLACES, MAX_DIGITS
from finance.selectors import current_batch_of, open_batches
from finance.services.batches import entry_batch


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
    make_current = forms.BooleanField(
        label="Make it my current batch",
        required=False,
        initial=True,
        help_text="Your entries and adjustments go into your current batch unless you pick another.",
    )


class BatchControlsForm(BootstrapFormMixin, forms.Form):
    control_count = forms.IntegerField(min_value=0, required=False)
    control_amount = money_field(required=False)


class BatchChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return " – ".join(part for part in (obj.number, obj.date.isoformat(), obj.description) if part)


def current_batch_label(batch: Batch) -> str:
    """The blank choice of a batch field when it stands for the user's current batch."""
    return " – ".join(part for part in (f"My current batch: {batch.number}", batch.description) if part)


class EntryBatchField(BatchChoiceField):
    """An open batch, or blank for the user's current batch (see ``EntryBatchMixin``):
    blank is not "nothing", so the field is not shown as optional."""

    blank_means_current = True


def entry_batch_field(**kwargs) -> EntryBatchField:
    kwargs.setdefault("label", "Batch")
    kwargs.setdefault("help_text", "Your current batch, unless you pick another open batch.")
    return EntryBatchField(queryset=Batch.objects.none(), required=False, **kwargs)


class EntryBatchMixin:
    """Forms with a ``batch`` field (``entry_batch_field``) for the batch a transaction
    goes into: the open batches, the blank choice standing for the user's current
    batch. Pass ``user`` (whose current batch it is) and, to preselect another open
    batch, ``batch``. Once valid, ``cleaned_data["batch"]`` is the batch to use; with
    nothing picked and no open current batch the field says why."""

    def __init__(self, *args, user=None, batch=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        field = self.fields["batch"]
        field.queryset = open_batches()
        current = current_batch_of(user) if user is not None else None
        if current is not None and current.accepts_transactions:
            field.empty_label = current_batch_label(current)
        else:
            field.empty_label = "— choose an open batch —"
            field.help_text = (
                f"Your current batch {current.number} is {current.get_status_display().lower()}: pick an open "
                "batch, or choose another current batch in the header."
                if current is not None
                else "You have no current batch: pick an open batch, or choose a current batch in the header."
            )
        if batch is not None and batch.accepts_transactions:
            self.initial["batch"] = batch.pk

    def clean(self):
        data = super().clean()
        if "batch" in data:
            try:
                data["batch"] = entry_batch(user=self.user, batch=data["batch"])
            except NoCurrentBatch as exc:
                self.add_error("batch", str(exc))
        return data


class PaymentReverseForm(EntryBatchMixin, BootstrapFormMixin, forms.Form):
    batch = entry_batch_field(help_text="The batch the reversal is recorded in.")
    date = forms.DateField(widget=DateInput(), initial=timezone.localdate, label="Reversal date")
    reason = forms.CharField(max_length=200, help_text="E.g. check returned NSF, chargeback.")
