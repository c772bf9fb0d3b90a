"""Forms of the staff UI. They parse input; the services in finance/services decide."""

from django import forms
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from finance.models import Contact
from finance.money import DECIMAL_PLACES, MAX_DIGITS
from finance.search import contact_from_text, contact_search, normalize
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


# --- The contact finder -------------------------------------------------------------


def contact_label(contact: Contact) -> str:
    """What the finder's box shows once a contact is picked: "Kenneth Fischer (27158)"."""
    return f"{contact.name} ({contact.party_id})"


class ContactFinderWidget(forms.Widget):
    """A search box that finds a contact as the user types, and the picked contact's
    party id in a hidden input named after the field.

    The box (``<name>_search``) asks ``finance:contact_find`` for matches (htmx,
    debounced); static/js/finder.js lets the arrows and Enter pick one, which fills the
    hidden input. Without a pick (or without JavaScript) what was typed in the box is
    posted and the field resolves it: a party id, or the finder's label of a contact.
    """

    template_name = "finance/widgets/contact_finder.html"

    def __init__(self, attrs=None, placeholder: str = "Name, email, party id or company"):
        super().__init__(attrs)
        self.placeholder = placeholder

    @staticmethod
    def search_name(name: str) -> str:
        return f"{name}_search"

    def value_from_datadict(self, data, files, name):
        picked = (data.get(name) or "").strip()
        return picked or normalize(data.get(self.search_name(name)))

    def value_omitted_from_data(self, data, files, name):
        return name not in data and self.search_name(name) not in data

    def format_value(self, value):
        if isinstance(value, Contact):
            return value
        value = normalize(str(value)) if value is not None else ""
        return (contact_from_text(value) or value) if value else ""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        value = context["widget"]["value"]
        contact = value if isinstance(value, Contact) else None
        widget_id = context["widget"]["attrs"].get("id") or f"id_{name}"
        context["widget"].update(
            id=widget_id,
            search_name=self.search_name(name),
            contact=contact,
            party_id=contact.party_id if contact else "",
            text=contact_label(contact) if contact else value,
            placeholder=self.placeholder,
            invalid=str(context["widget"]["attrs"].get("aria-invalid", "")).lower() == "true",
            find_url=reverse("finance:contact_find"),
        )
        return context

    def render(self, name, value, attrs=None, renderer=None):
        # The project's templates (not the form renderer's): the widget lives beside the pages.
        return render_to_string(self.template_name, self.get_context(name, value, attrs))


class ContactField(forms.Field):
    """A contact chosen with the finder; cleans to a ``Contact``. The form is still
    validated here: whatever the browser sent must name exactly one contact."""

    widget = ContactFinderWidget
    default_error_messages = {
        "required": "Choose a contact: type part of a name, email, party id or company and pick one.",
        "unknown": "No contact with party id %(value)s.",
        "pick": "Pick the contact from the list of matches for “%(value)s”.",
        "none": "No contact matches “%(value)s”.",
    }

    def to_python(self, value):
        if isinstance(value, Contact):
            return value
        if value in self.empty_values:
            return None
        text = normalize(str(value))
        contact = contact_from_text(text)
        if contact is not None:
            return contact
        if text.isdigit():
            raise forms.ValidationError(self.error_messages["unknown"], code="unknown", params={"value": text})
        code = "pick" if contact_search(text, limit=1) else "none"
        raise forms.ValidationError(self.error_messages[code], code=code, params={"value": text})
