from django import forms

from finance.models import PaymentHandlingMode
from integrations.services.sync.attempts import RESOLUTIONS


class SyncRecordForm(forms.Form):
    """The two fields staff may change on a sync record."""

    sync_enabled = forms.BooleanField(label="Invoice sync to payment provider", required=False)
    handling_mode = forms.ChoiceField(label="Payment handling mode", choices=PaymentHandlingMode.choices)
    note = forms.CharField(label="Reason", max_length=200, required=False)


class ResolveUnknownAttemptForm(forms.Form):
    """What staff found at the processor for a charge attempt whose outcome is unknown
    (the service, ``attempt_resolve_unknown``, says which fields each answer needs)."""

    attempt = forms.IntegerField(widget=forms.HiddenInput)
    resolution = forms.ChoiceField(
        label="What the processor shows", choices=list(RESOLUTIONS.items()), widget=forms.RadioSelect
    )
    charge_id = forms.CharField(
        label="Processor charge id",
        max_length=100,
        required=False,
        help_text="The charge's id at the processor (Stripe: the payment's pi_… id).",
    )
    note = forms.CharField(label="Note (what was checked; required when not charged)", max_length=200, required=False)
