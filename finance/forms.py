"""Forms of the staff UI. They parse input; the services in finance/services decide."""

from django import forms
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from finance.errors import NoCurrentBatch
from finance.models import Batch, Contact
from finance.money import DECIMAL_PLACES, MAX_DIGITS
from finance.search import contact_from_text, contact_search, normalize
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
