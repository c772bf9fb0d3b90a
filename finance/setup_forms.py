"""Forms of the settings pages. They parse input; ``finance.services.setup`` and
``core.services`` decide."""

from django import forms

from core.models import Module
from finance.forms import BootstrapFormMixin
from finance.models import GatewayAccount, GLAccount, PaymentMethod, PaymentMethodSet

LEVEL_CHOICES = [(n, str(n)) for n in range(9)]


class PaymentMethodForm(BootstrapFormMixin, forms.ModelForm):
    class Meta:
        model = PaymentMethod
        fields = ("code", "name", "type", "cash_account", "gateway_account", "is_active")
        labels = {"is_active": "Active (offered where its sets are used)"}
        help_texts = {
            "code": "Capital letters, digits and _ (CASH, CHECK, VISA…); it cannot change later.",
            "cash_account": "The asset account its receipts debit (none for open credit).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cash_account"].queryset = GLAccount.objects.filter(
            type=GLAccount.Type.ASSET, is_active=True
        ).select_related("entity")
        self.fields["gateway_account"].queryset = GatewayAccount.objects.filter(is_active=True)
        if self.instance.pk:
            del self.fields["code"]

    def _post_clean(self):
        """The service validates the row (its constraints) when it saves it."""


class PaymentMethodSetForm(BootstrapFormMixin, forms.ModelForm):
    class Meta:
        model = PaymentMethodSet
        fields = ("name", "description")

    def _post_clean(self):
        """The service validates the row when it saves it."""


class SetEntryForm(BootstrapFormMixin, forms.Form):
    """One payment method's line on a set's page: offered or not, where, and its name."""

    method = forms.ModelChoiceField(queryset=PaymentMethod.objects.all(), widget=forms.HiddenInput)
    offered = forms.BooleanField(required=False)
    position = forms.IntegerField(min_value=1, max_value=999, widget=forms.NumberInput(attrs={"style": "width:5rem"}))
    display_name = forms.CharField(max_length=100, required=False)


SetEntryFormSet = forms.formset_factory(SetEntryForm, extra=0)


class GLAccountForm(BootstrapFormMixin, forms.ModelForm):
    class Meta:
        model = GLAccount
        fields = ("entity", "code", "name", "type", "role", "is_active")
        labels = {"is_active": "Active"}
        help_texts = {"code": "As in the chart of accounts (4000-10); entity and code cannot change later."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["entity"]
            del self.fields["code"]

    def _post_clean(self):
        """The service validates the row (code unique in its entity) when it saves it."""


class ModuleLevelsForm(BootstrapFormMixin, forms.Form):
    """A user's level (0–8) in each module."""

    def __init__(self, *args, levels: dict[str, int], **kwargs):
        super().__init__(*args, **kwargs)
        for module in Module:
            self.fields[module.value] = forms.TypedChoiceField(
                label=module.label,
                choices=LEVEL_CHOICES,
                coerce=int,
                initial=levels.get(module.value, 0),
                widget=forms.Select(attrs={"class": "form-select"}),
            )
