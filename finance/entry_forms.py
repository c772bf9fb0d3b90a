"""Forms for entering invoices and payments in the staff UI (input parsing only)."""

from decimal import Decimal

from django import forms
from django.db.models import Q
from django.utils import timezone

from finance.forms import ContactField, EntryBatchMixin, entry_batch_field
from finance.models import FinancialEntity, Invoice, PaymentMethod, PaymentMethodSet, Product


def _bootstrap(form: forms.Form) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select")
        else:
            widget.attrs.setdefault("class", "form-control")


class MethodSelect(forms.Select):
    """A method choice whose options carry the method type (the card form shows for cards)."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-method-type"] = instance.type
        return option


class PaymentEntryForm(EntryBatchMixin, forms.Form):
    payer = ContactField(label="Payer")
    entity = forms.ModelChoiceField(
        queryset=FinancialEntity.objects.all(),
        label="Financial entity",
        help_text="The payment applies to this entity's invoices and is deposited in its cash account.",
    )
    method = forms.ModelChoiceField(queryset=PaymentMethod.objects.none(), label="Payment method", widget=MethodSelect)
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    reference = forms.CharField(max_length=100, required=False, help_text="Check number or transaction id.")
    batch = entry_batch_field()
    apply_to = forms.ChoiceField(
        choices=[("auto", "Oldest open invoices first"), ("lines", "The amounts I enter beside each open line")],
        initial="auto",
        widget=forms.RadioSelect,
        label="Apply to",
    )
    # A card method: the payment method id the processor's card form made (never typed).
    card_token = forms.CharField(max_length=100, required=False, widget=forms.HiddenInput)
    save_card = forms.BooleanField(label="Save this card", required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["date"].initial = timezone.localdate()
        first_entity = FinancialEntity.objects.order_by("code").first()
        if first_entity:
            self.fields["entity"].initial = first_entity.pk
        staff = PaymentMethodSet.objects.filter(name="Staff").first()
        methods = PaymentMethod.objects.filter(is_active=True).exclude(type=PaymentMethod.Type.OPEN_CREDIT)
        if staff is not None:
            methods = methods.filter(paymentmethodsetentry__method_set=staff).order_by(
                "paymentmethodsetentry__position"
            )
        self.fields["method"].queryset = methods
        _bootstrap(self)
        self.fields["apply_to"].widget.attrs["class"] = "form-check-input"
        self.fields["save_card"].widget.attrs["class"] = "form-check-input"

    def clean(self):
        data = super().clean()
        method = data.get("method")
        if method is not None and method.type == PaymentMethod.Type.CREDIT_CARD and method.gateway_account_id:
            if not data.get("card_token"):
                self.add_error(None, "Enter the card in the card form.")
            if data.get("apply_to") == "lines":
                self.add_error("apply_to", "A card payment is applied oldest first; choose that.")
        return data


class InvoiceEntryForm(EntryBatchMixin, forms.Form):
    bill_to = ContactField(label="Bill to")
    entity = forms.ModelChoiceField(queryset=FinancialEntity.objects.all(), label="Financial entity")
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    due_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        required=False,
        help_text="Defaults to 30 days after the invoice date.",
    )
    accounting_method = forms.ChoiceField(choices=Invoice.AccountingMethod.choices)
    batch = entry_batch_field()
    description = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["date"].initial = timezone.localdate()
        entity = FinancialEntity.objects.order_by("code").first()
        if entity:
            self.fields["entity"].initial = entity.pk
        _bootstrap(self)


class InvoiceLineEntryForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), required=False)
    quantity = forms.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"), initial=1, required=False)
    unit_price = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"), required=False, help_text="Blank: the product's price."
    )
    description = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(Q(is_active=True)).select_related("entity")
        self.fields["product"].label_from_instance = lambda p: f"{p.code} – {p.name} ({p.entity.code}, {p.price})"
        _bootstrap(self)


InvoiceLineFormSet = forms.formset_factory(InvoiceLineEntryForm, extra=4, max_num=20)
