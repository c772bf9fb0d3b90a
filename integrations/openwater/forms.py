from django import forms
from django.conf import settings

from finance.models import FinancialEntity, GLAccount
from integrations.openwater.models import Integration


def default_base_url() -> str:
    return getattr(settings, "OPENWATER_SANDBOX_BASE_URL", "http://127.0.0.1:8000/sandbox/openwater")


class IntegrationForm(forms.Form):
    name = forms.CharField(max_length=100)
    base_url = forms.URLField(label="OpenWater API base URL", max_length=300, assume_scheme="https")
    organization_code = forms.CharField(max_length=100)
    client_key = forms.CharField(
        label="Client key", widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
    )
    api_key = forms.CharField(
        label="API key", widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
    )

    def __init__(self, *args, instance: Integration | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance = instance
        if instance is not None:
            for key in ("client_key", "api_key"):
                self.fields[key].required = False
                self.fields[key].help_text = f"Stored: {getattr(instance, key + '_masked')}. Leave blank to keep it."
        else:
            self.fields["base_url"].initial = default_base_url()

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Integration.objects.filter(name__iexact=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("An integration with this name exists.")
        return name


class SmallForm(forms.Form):
    """Bootstrap classes on every widget (small controls in the side cards)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = (
                "form-select form-select-sm"
                if isinstance(field.widget, forms.Select)
                else "form-control form-control-sm"
            )
            field.widget.attrs.setdefault("class", css)


class InitializeForm(SmallForm):
    entity = forms.ModelChoiceField(queryset=FinancialEntity.objects.all(), label="Financial entity")
    method_code = forms.RegexField(
        regex=r"^[A-Za-z0-9_]+$", max_length=20, initial="OPENWATER", label="Payment method code"
    )
    default_product_name = forms.CharField(max_length=200, initial="OpenWater application fee")
    # No initial value: staff choose the date (older OpenWater invoices are skipped).
    skip_before = forms.DateField(
        label="Do not send invoices dated before",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="OpenWater invoices created before this date are not sent to Pay Central.",
    )
    discount_account = forms.ModelChoiceField(
        queryset=GLAccount.objects.filter(type=GLAccount.Type.INCOME, is_active=True).select_related("entity"),
        required=False,
        label="Discount GL account",
        help_text="Where coupons and discounts (product OW_DISCOUNT) are posted, e.g. a contra-income account. "
        "Blank: the entity's income account; finance can change it on the product later.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["discount_account"].label_from_instance = lambda a: f"{a.code} {a.name} ({a.entity.code})"

    def clean(self):
        data = super().clean()
        account, entity = data.get("discount_account"), data.get("entity")
        if account is not None and entity is not None and account.entity_id != entity.pk:
            self.add_error("discount_account", f"Account {account.code} belongs to another financial entity.")
        return data


class SkipForm(forms.Form):
    reason = forms.CharField(
        max_length=150,
        label="Reason for skipping",
        error_messages={"required": "Give the reason for skipping the invoice."},
    )


class ByHandForm(forms.Form):
    note = forms.CharField(max_length=200, required=False, label="Where it was recorded")


class OptionsForm(SmallForm):
    payment_method_name = forms.CharField(max_length=100, label="Payment method name")
    default_product_name = forms.CharField(max_length=200, label="Default product name")
    skip_before = forms.DateField(
        label="Do not send invoices dated before", widget=forms.DateInput(attrs={"type": "date"})
    )
    programs_sync_mode = forms.ChoiceField(choices=Integration.SyncMode.choices, label="Programs sync mode")
    interval_minutes = forms.IntegerField(min_value=1, max_value=24 * 60, label="Run every (minutes)")


class ProgramInitializeForm(forms.Form):
    income_account = forms.ModelChoiceField(queryset=GLAccount.objects.none(), required=False)

    def __init__(self, *args, entity=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["income_account"].queryset = GLAccount.objects.filter(
            entity=entity, type=GLAccount.Type.INCOME, is_active=True
        )
