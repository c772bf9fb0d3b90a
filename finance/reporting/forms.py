from django import forms

from finance.models import FinancialEntity
from finance.reporting.models import GLExport
from finance.reporting.selectors import BATCH_CHOICES

DATE_INPUT = forms.DateInput(attrs={"type": "date", "class": "form-control form-control-sm"}, format="%Y-%m-%d")


class GLExportForm(forms.Form):
    mode = forms.ChoiceField(
        choices=GLExport.Mode.choices,
        initial=GLExport.Mode.DETAILED,
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    date_from = forms.DateField(required=False, label="Entries dated from", widget=DATE_INPUT)
    date_to = forms.DateField(required=False, label="to", widget=DATE_INPUT)
    entity = forms.ModelChoiceField(
        queryset=FinancialEntity.objects.order_by("code"),
        required=False,
        empty_label="Every entity",
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class DateRangeForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=DATE_INPUT)
    date_to = forms.DateField(required=False, label="To", widget=DATE_INPUT)

    max_days = 366

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if end < start:
                self.add_error("date_to", "The end date is before the start date.")
            elif (end - start).days >= self.max_days:
                self.add_error("date_to", f"Choose a range of at most {self.max_days} days.")
        return data


class CashReceiptsForm(DateRangeForm):
    batches = forms.ChoiceField(
        choices=BATCH_CHOICES,
        required=False,
        label="Batches",
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
