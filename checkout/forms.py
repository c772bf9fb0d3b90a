"""Forms of the staff cart (input parsing only; the rules live in checkout.services.cart)."""

from decimal import Decimal

from django import forms

from checkout.models import Cart
from finance.forms import ContactField, current_batch_label, entry_batch_field
from finance.models import FinancialEntity, PaymentMethod, Product
from finance.selectors import current_batch_of, open_batches


def _bootstrap(form: forms.Form, size: str = "") -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", f"form-select {size}".strip())
        else:
            widget.attrs.setdefault("class", f"form-control {size}".strip())


class CartStartForm(forms.Form):
    contact = ContactField(label="Acting on behalf of")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bootstrap(self)


class AddProductForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), empty_label="Choose a product…")
    quantity = forms.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"), initial=1)

    def __init__(self, *args, cart: Cart, **kwargs):
        super().__init__(*args, **kwargs)
        products = Product.objects.filter(is_active=True).select_related("entity").order_by("category", "name")
        if cart.entity_id:
            products = products.filter(entity_id=cart.entity_id)
        self.fields["product"].queryset = products
        self.fields["product"].label_from_instance = lambda p: (
            f"{p.name} – {p.price:,.2f}{' (recurring)' if p.is_recurring else ''}"
        )
        _bootstrap(self, "form-select-sm")
        self.fields["quantity"].widget.attrs.update({"class": "form-control form-control-sm", "style": "width:5rem"})


class CreditSearchForm(forms.Form):
    q = forms.CharField(label="Contact name, party id or invoice number", required=False, max_length=100)
    date_from = forms.DateField(label="Invoice date from", required=False, widget=forms.DateInput({"type": "date"}))
    date_to = forms.DateField(label="to", required=False, widget=forms.DateInput({"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bootstrap(self, "form-control-sm")


class MethodSelect(forms.Select):
    """A method choice whose options carry the method type (the card field shows for cards)."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-method-type"] = instance.type
        return option


class CartSubmitForm(forms.Form):
    """``saved_cards``: the bill-to's cards saved through the card methods' gateway,
    offered instead of entering a card in the processor's card form."""

    method = forms.ModelChoiceField(
        queryset=PaymentMethod.objects.none(), required=False, empty_label=None, widget=MethodSelect
    )
    reference = forms.CharField(max_length=100, required=False, help_text="Check number.")
    # Filled in by the processor's card form (a payment method id, pm_…), never typed.
    card_token = forms.CharField(label="Card", max_length=100, required=False, widget=forms.HiddenInput)
    saved_card = forms.TypedChoiceField(label="Card", required=False, coerce=int, empty_value=None)
    save_card = forms.BooleanField(label="Save this card", required=False, initial=True)
    # Blank: the user's current batch when it is open, else the day's "Cart orders" batch.
    batch = entry_batch_field()

    def __init__(self, *args, entries=(), user=None, saved_cards=(), **kwargs):
        super().__init__(*args, **kwargs)
        batch = self.fields["batch"]
        batch.queryset = open_batches()
        current = current_batch_of(user) if user is not None else None
        if current is not None and current.accepts_transactions:
            batch.empty_label = current_batch_label(current)
        else:
            batch.empty_label = "Today's “Cart orders” batch"
            batch.help_text = "You have no open current batch: the order goes into today's “Cart orders” batch."
        self.fields["method"].queryset = PaymentMethod.objects.filter(pk__in=[e.method_id for e in entries])
        names = {e.method_id: str(e) for e in entries}
        self.fields["method"].label_from_instance = lambda m: names.get(m.pk, m.name)
        self.fields["saved_card"].choices = [("", "A new card")] + [(c.pk, str(c)) for c in saved_cards]
        _bootstrap(self, "form-select-sm")
        self.fields["reference"].widget.attrs.update(
            {"class": "form-control form-control-sm", "placeholder": "Check number"}
        )
        self.fields["saved_card"].widget.attrs["data-saved-card"] = ""
        self.fields["save_card"].widget.attrs["class"] = "form-check-input"

    def clean(self):
        data = super().clean()
        method = data.get("method")
        card = data.get("card_token") or data.get("saved_card")
        if method is not None and method.type == PaymentMethod.Type.CREDIT_CARD and not card:
            self.add_error("card_token", "Enter the card in the card form, or pick a saved card.")
        return data


class PrepaymentForm(forms.Form):
    amount = forms.DecimalField(label="Prepayment amount", max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    entity = forms.ModelChoiceField(queryset=FinancialEntity.objects.all(), empty_label=None, label="Entity")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bootstrap(self, "form-control-sm")
        self.fields["entity"].widget.attrs["class"] = "form-select form-select-sm"
