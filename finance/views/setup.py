"""The settings pages of the staff UI (Finance ≥ 4): payment methods, payment method
sets, GL accounts and the staff users' module authorization levels. Each change goes
through a service (``finance.services.setup``, ``core.services``) and into the audit
trail."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView
from django_tables2 import SingleTableView

from core.authorization import MANAGE_SETTINGS, ModuleLevelRequiredMixin, require_level
from core.models import Module, ModuleAuthorization
from core.services import LevelRefused, module_levels_set
from finance.errors import FinanceError
from finance.models import GLAccount, PaymentMethod, PaymentMethodSet, PaymentMethodSetEntry
from finance.services.setup import gl_account_save, payment_method_save, payment_method_set_save
from finance.setup_forms import (
    GLAccountForm,
    ModuleLevelsForm,
    PaymentMethodForm,
    PaymentMethodSetForm,
    SetEntryFormSet,
)
from finance.setup_tables import GLAccountTable, PaymentMethodSetTable, PaymentMethodTable, UserLevelsTable

User = get_user_model()


def _add_errors(form, exc: Exception) -> None:
    """A service's refusal (or a row's validation errors) on the form."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))


class SettingsMixin(ModuleLevelRequiredMixin):
    """Finance ≥ 4; the page's object is loaded once the level is checked (a user
    without it gets 403 for any address under /settings/, never a 404)."""

    required_level = MANAGE_SETTINGS
    section = ""
    page_title = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        require_level(request.user, *self.required_level)
        self.load(**kwargs)
        return super().dispatch(request, *args, **kwargs)

    def load(self, **kwargs) -> None:
        """Load the page's object from the URL's arguments."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(section=self.section, page_title=self.page_title)
        return context


class SettingsListView(SettingsMixin, SingleTableView):
    template_name = "settings/list.html"
    table_pagination = False
    new_url_name = ""
    new_label = ""
    intro = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(new_url=reverse(self.new_url_name) if self.new_url_name else "", new_label=self.new_label)
        context["intro"] = self.intro
        return context


class PaymentMethodListView(SettingsListView):
    section = "methods"
    page_title = "Payment methods"
    table_class = PaymentMethodTable
    new_url_name = "settings:method_new"
    new_label = "New payment method"
    intro = "How money arrives, and the cash account each method's receipts debit."

    def get_queryset(self):
        return PaymentMethod.objects.select_related("cash_account", "gateway_account").order_by("code")


class PaymentMethodSetListView(SettingsListView):
    section = "sets"
    page_title = "Payment method sets"
    table_class = PaymentMethodSetTable
    intro = "The methods offered, in order: Staff in payment entry and the staff cart, Public in the member checkout."

    def get_queryset(self):
        entries = PaymentMethodSetEntry.objects.select_related("method").order_by("position", "pk")
        return PaymentMethodSet.objects.prefetch_related(Prefetch("entries", queryset=entries)).order_by("name")


class GLAccountListView(SettingsListView):
    section = "accounts"
    page_title = "GL accounts"
    table_class = GLAccountTable
    new_url_name = "settings:account_new"
    new_label = "New GL account"
    intro = "The chart of accounts of each financial entity."

    def get_queryset(self):
        return GLAccount.objects.select_related("entity").order_by("entity__code", "code")


class UserLevelsListView(SettingsListView):
    section = "users"
    page_title = "Users and authorization levels"
    table_class = UserLevelsTable
    intro = "Each staff user's level (0–8) per module; superusers hold 8 everywhere."

    def get_queryset(self):
        users = list(User.objects.filter(is_staff=True).order_by("username"))
        levels: dict[int, dict[str, int]] = {}
        for user_id, module, level in ModuleAuthorization.objects.filter(user__in=users).values_list(
            "user_id", "module", "level"
        ):
            levels.setdefault(user_id, {})[module] = level
        for user in users:
            for module in Module:
                value = 8 if user.is_superuser else levels.get(user.pk, {}).get(module.value, 0)
                setattr(user, f"level_{module.value}", value)
        return users


class SettingsFormView(SettingsMixin, FormView):
    template_name = "settings/form.html"
    object = None
    list_url_name = ""
    list_label = ""
    submit_label = "Save"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            object=self.object,
            list_url=reverse(self.list_url_name),
            list_label=self.list_label,
            submit_label=self.submit_label,
            audited=self.audited_objects(),
        )
        return context

    def audited_objects(self) -> list:
        return [self.object] if self.object is not None else []


class PaymentMethodEditView(SettingsFormView):
    form_class = PaymentMethodForm
    section = "methods"
    list_url_name = "settings:method_list"
    list_label = "Payment methods"

    def load(self, **kwargs) -> None:
        if "pk" in kwargs:
            self.object = get_object_or_404(PaymentMethod, pk=kwargs["pk"])
        self.page_title = f"Payment method {self.object.code}" if self.object else "New payment method"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": self.object}

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            method = payment_method_save(
                method=self.object,
                code=data.get("code", ""),
                name=data["name"],
                type=data["type"],
                cash_account=data["cash_account"],
                gateway_account=data["gateway_account"],
                is_active=data["is_active"],
            )
        except (FinanceError, ValidationError) as exc:
            _add_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Payment method {method.code} saved.")
        return redirect("settings:method_list")


class PaymentMethodSetEditView(SettingsMixin, TemplateView):
    """A set's name and description, and every payment method with whether the set
    offers it, in which position and under which name."""

    template_name = "settings/method_set_form.html"
    section = "sets"

    def load(self, **kwargs) -> None:
        self.object = get_object_or_404(PaymentMethodSet, pk=kwargs["pk"])
        self.page_title = f"Payment method set {self.object.name}"

    def initial_entries(self) -> list[dict]:
        entries = {entry.method_id: entry for entry in self.object.ordered_entries()}
        methods = sorted(
            PaymentMethod.objects.all(),
            key=lambda m: (m.pk not in entries, entries[m.pk].position if m.pk in entries else 0, m.code),
        )
        return [
            {
                "method": method.pk,
                "offered": method.pk in entries,
                "position": index,
                "display_name": entries[method.pk].display_name if method.pk in entries else "",
            }
            for index, method in enumerate(methods, start=1)
        ]

    def forms(self, data=None):
        form = PaymentMethodSetForm(data, instance=self.object, prefix="set")
        formset = SetEntryFormSet(data, initial=None if data else self.initial_entries(), prefix="entries")
        return form, formset

    def get(self, request, *args, **kwargs):
        form, formset = self.forms()
        return self.render_to_response(self.get_context_data(form=form, formset=formset))

    def post(self, request, *args, **kwargs):
        form, formset = self.forms(request.POST)
        if form.is_valid() and formset.is_valid():
            chosen = sorted(
                (f.cleaned_data for f in formset if f.cleaned_data.get("offered")),
                key=lambda row: row["position"],
            )
            try:
                payment_method_set_save(
                    method_set=self.object,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    entries=[(row["method"], row["display_name"].strip()) for row in chosen],
                )
            except (FinanceError, ValidationError) as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Payment method set {form.cleaned_data['name']} saved.")
                return redirect("settings:method_set_list")
        return self.render_to_response(self.get_context_data(form=form, formset=formset))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        methods = {m.pk: m for m in PaymentMethod.objects.all()}
        formset = context["formset"]
        context["rows"] = [(f, methods.get(_method_id(f))) for f in formset]
        context["object"] = self.object
        context["audited"] = [self.object, *self.object.entries.all()]
        return context


def _method_id(form) -> int | None:
    value = form["method"].value()
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class GLAccountEditView(SettingsFormView):
    form_class = GLAccountForm
    section = "accounts"
    list_url_name = "settings:account_list"
    list_label = "GL accounts"

    def load(self, **kwargs) -> None:
        if "pk" in kwargs:
            self.object = get_object_or_404(GLAccount.objects.select_related("entity"), pk=kwargs["pk"])
        self.page_title = f"GL account {self.object}" if self.object else "New GL account"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": self.object}

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            account = gl_account_save(
                account=self.object,
                entity=data.get("entity"),
                code=data.get("code", ""),
                name=data["name"],
                type=data["type"],
                role=data["role"],
                is_active=data["is_active"],
            )
        except (FinanceError, ValidationError) as exc:
            _add_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"GL account {account.code} {account.name} saved.")
        return redirect("settings:account_list")


class UserLevelsEditView(SettingsFormView):
    form_class = ModuleLevelsForm
    section = "users"
    list_url_name = "settings:user_list"
    list_label = "Users"
    template_name = "settings/user_levels_form.html"

    def load(self, **kwargs) -> None:
        self.object = get_object_or_404(User, pk=kwargs["pk"], is_staff=True)
        self.page_title = f"Authorization levels of {self.object.get_full_name() or self.object.get_username()}"

    def current_levels(self) -> dict[str, int]:
        return dict(ModuleAuthorization.objects.filter(user=self.object).values_list("module", "level"))

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "levels": self.current_levels()}

    def audited_objects(self) -> list:
        return list(ModuleAuthorization.objects.filter(user=self.object))

    def form_valid(self, form):
        try:
            changed = module_levels_set(user=self.object, levels=form.cleaned_data, by=self.request.user)
        except LevelRefused as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        who = self.object.get_username()
        if changed:
            summary = ", ".join(f"{Module(m).label} {level}" for m, level in changed.items())
            messages.success(self.request, f"Levels of {who} saved: {summary}.")
        else:
            messages.info(self.request, f"The levels of {who} are unchanged.")
        return redirect("settings:user_list")
