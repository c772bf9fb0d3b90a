"""Forms of the membership pages (input parsing only; rules live in the services)."""

from django import forms

from finance.forms import EntryBatchMixin, entry_batch_field
from finance.membership.models import MemberType


def _style(form):
    for field in form.fields.values():
        css = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
        field.widget.attrs.setdefault("class", css)


class DateInput(forms.DateInput):
    input_type = "date"


class RenewalRunForm(forms.Form):
    paid_through_from = forms.DateField(widget=DateInput, label="Paid through from")
    paid_through_to = forms.DateField(widget=DateInput, label="Paid through to")
    effective_date = forms.DateField(
        widget=DateInput, help_text="Members paid or renewed through this date or later are skipped."
    )
    invoice_date = forms.DateField(widget=DateInput, required=False, help_text="Default: the effective date.")
    member_type = forms.ModelChoiceField(
        queryset=MemberType.objects.all(), required=False, empty_label="All member types"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _style(self)

    def clean(self):
        data = super().clean()
        start, end = data.get("paid_through_from"), data.get("paid_through_to")
        if start and end and end < start:
            self.add_error("paid_through_to", "Paid through to is before paid through from.")
        return data


class BillTermForm(EntryBatchMixin, forms.Form):
    """``user`` (keyword): the term's invoice goes into their current batch unless
    another open batch is picked."""

    batch = entry_batch_field(label="Open batch", help_text="")
    invoice_date = forms.DateField(widget=DateInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _style(self)


class DuesUploadForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with a header row: party_id, member_type, term_begin, term_end, amount, "
        "payment_method, payment_reference (dates YYYY-MM-DD; the payment columns may be empty)."
    )
    invoice_date = forms.DateField(widget=DateInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _style(self)
