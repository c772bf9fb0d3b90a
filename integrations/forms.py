from django import forms

from paycentral.models import PaymentHandlingMode


class SyncRecordForm(forms.Form):
    """The two fields staff may change on a sync record."""

    sync_enabled = forms.BooleanField(label="Invoice sync to payment provider", required=False)
    handling_mode = forms.ChoiceField(label="Payment handling mode", choices=PaymentHandlingMode.choices)
    note = forms.CharField(label="Reason", max_length=200, required=False)
