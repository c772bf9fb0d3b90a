"""The Integrations Hub: OpenWater push-back integrations (view ≥ 2, manage ≥ 4)."""

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from core.authorization import ModuleLevelRequiredMixin, has_level
from core.models import Module
from finance.errors import FinanceError
from finance.models import FinancialEntity
from integrations.openwater.client import OpenWaterClient, OpenWaterError, RetryPolicy
from integrations.openwater.errors import PushbackError
from integrations.openwater.forms import (
    ByHandForm,
    InitializeForm,
    IntegrationForm,
    OptionsForm,
    ProgramInitializeForm,
    SkipForm,
)
from integrations.openwater.models import Integration, InvoiceSync, ProgramMapping
from integrations.openwater.pushback import record_invoice
from integrations.openwater.selectors import integration_counts, last_run
from integrations.openwater.services.setup import (
    integration_create,
    integration_initialize,
    integration_start,
    integration_stop,
    integration_update,
    program_disable,
    program_initialize,
    program_set_default,
    programs_refresh,
)
from integrations.openwater.services.staff import sync_record_by_hand, sync_retry_requested, sync_skip
from integrations.openwater.tasks import pushback_run

VIEW = (Module.INTEGRATIONS, 2)
MANAGE = (Module.INTEGRATIONS, 4)


class HubView(ModuleLevelRequiredMixin, TemplateView):
    required_level = VIEW
    template_name = "openwater/hub.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        rows = []
        for integration in Integration.objects.select_related("payment_method").order_by("name"):
            rows.append(
                {"integration": integration, "counts": integration_counts(integration), "run": last_run(integration)}
            )
        ctx["rows"] = rows
        ctx["can_manage"] = has_level(self.request.user, *MANAGE)
        return ctx


class IntegrationAddView(ModuleLevelRequiredMixin, FormView):
    required_level = MANAGE
    template_name = "openwater/integration_form.html"
    form_class = IntegrationForm

    def form_valid(self, form):
        integration = integration_create(**form.cleaned_data)
        messages.success(self.request, f"Integration {integration.name} saved. Initialize it next.")
        return redirect("openwater:ow_integration_detail", integration.pk)


class IntegrationEditView(ModuleLevelRequiredMixin, FormView):
    required_level = MANAGE
    template_name = "openwater/integration_form.html"
    form_class = IntegrationForm

    def dispatch(self, request, *args, **kwargs):
        self.integration = get_object_or_404(Integration, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = self.integration
        return kwargs

    def get_initial(self):
        i = self.integration
        return {"name": i.name, "base_url": i.base_url, "organization_code": i.organization_code}

    def get_context_data(self, **kwargs):
        return super().get_context_data(integration=self.integration, **kwargs)

    def form_valid(self, form):
        integration_update(integration=self.integration, **form.cleaned_data)
        messages.success(self.request, "Integration saved.")
        return redirect("openwater:ow_integration_detail", self.integration.pk)


class IntegrationDetailView(ModuleLevelRequiredMixin, TemplateView):
    required_level = VIEW
    template_name = "openwater/integration_detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        integration = get_object_or_404(
            Integration.objects.select_related(
                "payment_method", "default_product", "discount_product", "current_batch", "entity"
            ),
            pk=self.kwargs["pk"],
        )
        ctx.update(
            integration=integration,
            counts=integration_counts(integration),
            run=last_run(integration),
            runs=integration.runs.order_by("-started_at", "-pk")[:10],
            programs=integration.programs.select_related("product", "product__income_account").order_by(
                "is_archived", "name"
            ),
            problems=integration.syncs.filter(status=InvoiceSync.Status.ERROR).order_by("-updated_at")[:20],
            here=self.request.get_full_path(),
            review=integration.syncs.filter(contact_created=True).select_related("contact").order_by("-pk")[:10],
            can_manage=has_level(self.request.user, *MANAGE),
        )
        if integration.is_initialized:
            ctx["options_form"] = OptionsForm(
                initial={
                    "payment_method_name": integration.payment_method.name if integration.payment_method else "",
                    "default_product_name": integration.default_product_name,
                    "skip_before": integration.skip_before,
                    "programs_sync_mode": integration.programs_sync_mode,
                    "interval_minutes": integration.interval_minutes,
                }
            )
        else:
            # No skip date filled in: staff choose it (Initialize asks for it).
            ctx["init_form"] = InitializeForm(
                initial={
                    "entity": FinancialEntity.objects.order_by("pk").first(),
                    "default_product_name": integration.default_product_name,
                }
            )
        return ctx


class IntegrationActionView(ModuleLevelRequiredMixin, View):
    """POST-only actions on an integration; each calls one service."""

    required_level = MANAGE
    http_method_names = ["post"]

    def post(self, request, pk, action):
        integration = get_object_or_404(Integration, pk=pk)
        back = redirect("openwater:ow_integration_detail", integration.pk)
        try:
            if action == "initialize":
                form = InitializeForm(request.POST)
                if not form.is_valid():
                    return self.form_errors(form, back)
                integration_initialize(integration=integration, **form.cleaned_data)
                messages.success(
                    request, "Initialized: payment method, default and discount products and skip date are set."
                )
                self.refresh_programs(integration, quiet=True)
            elif action == "options":
                form = OptionsForm(request.POST)
                if not form.is_valid():
                    return self.form_errors(form, back)
                integration_update(integration=integration, **form.cleaned_data)
                messages.success(request, "Options saved.")
            elif action == "start":
                integration_start(integration=integration)
                messages.success(request, f"Started: the pushback runs every {integration.interval_minutes} minutes.")
            elif action == "stop":
                integration_stop(integration=integration)
                messages.success(request, "Stopped.")
            elif action == "run":
                if not integration.is_initialized:
                    raise PushbackError("Initialize the integration before running it.")
                transaction.on_commit(lambda: pushback_run.delay(integration.pk))
                messages.info(request, "A run was queued; refresh this page to see it.")
            elif action == "refresh":
                self.refresh_programs(integration)
            else:
                messages.error(request, f"Unknown action {action!r}.")
        except (PushbackError, FinanceError) as exc:
            messages.error(request, str(exc))
        return back

    def refresh_programs(self, integration, quiet=False):
        try:
            # A person is waiting: two tries, short waits.
            policy = RetryPolicy(attempts=2, base_delay=0.2, max_delay=2.0)
            with OpenWaterClient.for_integration(integration, timeout=10.0, retry=policy) as client:
                n = programs_refresh(integration=integration, programs=client.programs())
        except OpenWaterError as exc:
            messages.error(self.request, f"The programs could not be read from OpenWater: {exc}")
            return
        if not quiet:
            messages.success(self.request, f"{n} programs read from OpenWater.")

    def form_errors(self, form, back):
        for field, errors in form.errors.items():
            label = form.fields[field].label or field if field in form.fields else "Form"
            messages.error(self.request, f"{label}: {' '.join(errors)}")
        return back


class ProgramActionView(ModuleLevelRequiredMixin, View):
    required_level = MANAGE
    http_method_names = ["post"]

    def post(self, request, pk, program_pk, action):
        program = get_object_or_404(ProgramMapping, pk=program_pk, integration_id=pk)
        try:
            if action == "initialize":
                form = ProgramInitializeForm(request.POST, entity=program.integration.entity)
                if not form.is_valid():
                    problems = "; ".join(f"{form.fields[f].label or f}: {' '.join(e)}" for f, e in form.errors.items())
                    messages.error(request, f"Program {program.code} was not initialized. {problems}")
                    return redirect(reverse("openwater:ow_integration_detail", args=[pk]) + "#programs")
                program = program_initialize(program=program, income_account=form.cleaned_data.get("income_account"))
                messages.success(request, f"Program {program.code} pushes with product {program.product.code}.")
            elif action == "default":
                program_set_default(program=program)
                messages.success(request, f"Program {program.code} pushes with the default product.")
            elif action == "disable":
                program_disable(program=program)
                messages.success(request, f"Program {program.code} is disabled: its invoices are skipped.")
            else:
                messages.error(request, f"Unknown action {action!r}.")
        except (PushbackError, FinanceError) as exc:
            messages.error(request, str(exc))
        return redirect(reverse("openwater:ow_integration_detail", args=[pk]) + "#programs")


class SyncListView(ModuleLevelRequiredMixin, ListView):
    required_level = VIEW
    template_name = "openwater/sync_list.html"
    paginate_by = 50

    def get_queryset(self):
        self.integration = get_object_or_404(Integration, pk=self.kwargs["pk"])
        qs = self.integration.syncs.select_related("invoice", "payment", "contact", "staff_by").order_by(
            "-updated_at", "-pk"
        )
        self.status = self.request.GET.get("status", "")
        if self.status in InvoiceSync.Status.values:
            qs = qs.filter(status=self.status)
        if self.request.GET.get("review"):
            qs = qs.filter(contact_created=True)
        return qs

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            integration=self.integration,
            status=self.status,
            statuses=InvoiceSync.Status.choices,
            can_manage=has_level(self.request.user, *MANAGE),
            here=self.request.get_full_path(),
            **kwargs,
        )


class SyncActionView(ModuleLevelRequiredMixin, View):
    """POST-only actions on an OpenWater invoice in error: try again now, skip with a
    reason, or mark as recorded by hand. Each calls a service, which records who did
    it (audited). Back to the page staff came from."""

    required_level = MANAGE
    http_method_names = ["post"]

    def post(self, request, pk, sync_pk, action):
        sync = get_object_or_404(InvoiceSync.objects.select_related("integration"), pk=sync_pk, integration_id=pk)
        label = f"OpenWater invoice {sync.ow_invoice_id}"
        try:
            if action == "retry":
                self.retry(sync, label)
            elif action == "skip":
                form = SkipForm(request.POST)
                if not form.is_valid():
                    messages.error(request, f"{label} was not skipped: {' '.join(form.errors.get('reason', []))}")
                else:
                    sync_skip(sync=sync, reason=form.cleaned_data["reason"], user=request.user)
                    messages.success(request, f"{label} is skipped; the pushback will not record it.")
            elif action == "by-hand":
                form = ByHandForm(request.POST)
                if not form.is_valid():
                    messages.error(request, f"{label}: {' '.join(form.errors.get('note', []))}")
                else:
                    sync_record_by_hand(sync=sync, note=form.cleaned_data["note"], user=request.user)
                    messages.success(request, f"{label} is marked as recorded by hand; the pushback will leave it.")
            else:
                messages.error(request, f"Unknown action {action!r}.")
        except (PushbackError, FinanceError) as exc:
            messages.error(request, str(exc))
        return self.back(sync)

    def retry(self, sync, label):
        sync_retry_requested(sync=sync, user=self.request.user)
        # A person is waiting: two tries, short waits.
        policy = RetryPolicy(attempts=2, base_delay=0.2, max_delay=2.0)
        with OpenWaterClient.for_integration(sync.integration, timeout=10.0, retry=policy) as client:
            done = record_invoice(sync.integration, client, sync.ow_invoice_id, program_id=sync.program_id)
        result = done.sync
        if done.error:
            messages.error(self.request, f"{label} could not be recorded: {result.last_error}")
        elif result.status == InvoiceSync.Status.PUSHED:
            messages.success(self.request, f"{label} is recorded: invoice {result.invoice.number}.")
        else:
            messages.info(self.request, f"{label} is {result.get_status_display().lower()}: {result.skip_reason}")

    def back(self, sync):
        target = self.request.POST.get("next", "")
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        ):
            return redirect(target)
        return redirect(reverse("openwater:ow_sync_list", args=[sync.integration_id]) + "?status=error")
