"""AR payment import in the staff UI: upload → preview → post (in the Celery worker) →
history. The views parse input and call ``finance.ar_import.services``."""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import ListView, TemplateView

from core.authorization import has_level
from core.models import Module
from finance.ar_import.parser import MAX_FILE_BYTES
from finance.ar_import.services import (
    LOCK_VALIDATE,
    ar_import_discard,
    ar_import_queue_post,
    ar_import_recover,
    ar_import_upload,
    ar_import_validate,
)
from finance.ar_import.tasks import validate_ar_import
from finance.errors import FinanceError
from finance.models import FinanceSettings, FinancialEntity
from finance.models_ar_import import ARImport, ARImportRow
from finance.views.base import FinanceAccessMixin

IMPORT_PAYMENTS = (Module.AR_CASH, 2)
ROWS_PER_PAGE = 100
# Files bigger than this are checked in the worker (with a progress bar), not in the request.
CHECK_IN_REQUEST_MAX_BYTES = 1024 * 1024


class UploadForm(forms.Form):
    AUTO_CHOICES = [("", "Finance setting"), ("on", "On: oldest open lines first"), ("off", "Off: the invoice named")]

    file = forms.FileField(
        help_text=f"iMIS AR Importer file (BH + PAY lines, comma or tab delimited) or a CSV with a header row; "
        f"at most {MAX_FILE_BYTES // (1024 * 1024)} MB."
    )
    entity = forms.ModelChoiceField(
        queryset=FinancialEntity.objects.order_by("code"),
        empty_label=None,
        label="Financial entity",
        help_text="The entity the payments are for: the file's cash account code is looked up in it "
        "(a code written ENTITY:CODE names its entity itself).",
    )
    auto_apply = forms.ChoiceField(choices=AUTO_CHOICES, required=False, label="Cash application auto apply")
    batch_number = forms.CharField(
        max_length=10, required=False, label="Batch number", help_text="Plain CSV only (default: yymmdd-n)."
    )
    cash_account = forms.CharField(
        max_length=20,
        required=False,
        label="Cash account code",
        help_text="Plain CSV only (default: the Check method's).",
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        entities = list(FinancialEntity.objects.order_by("code").values_list("pk", flat=True)[:2])
        if len(entities) < 2:
            # One entity (or none yet): nothing to choose; the code is looked up in all.
            del self.fields["entity"]
        else:
            # Users have no default entity: the one of their last import, else the first.
            last = (
                ARImport.objects.filter(created_by=user, entity__isnull=False)
                .order_by("-created_at", "-pk")
                .values_list("entity_id", flat=True)
                .first()
                if user is not None and user.is_authenticated
                else None
            )
            self.fields["entity"].initial = last or entities[0]
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"


class ARImportListView(FinanceAccessMixin, ListView):
    """The import history: status, who, when, totals and the batch."""

    template_name = "finance/ar_import/list.html"
    paginate_by = 25
    context_object_name = "imports"

    def show_discarded(self) -> bool:
        return self.request.GET.get("show") == "discarded"

    def get_queryset(self):
        imports = ARImport.objects.select_related("created_by", "posted_by", "batch").order_by("-created_at", "-pk")
        if not self.show_discarded():
            imports = imports.exclude(status=ARImport.Status.DISCARDED)
        return imports

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_import"] = has_level(self.request.user, *IMPORT_PAYMENTS)
        context["show"] = "discarded" if self.show_discarded() else ""
        context["discarded_count"] = ARImport.objects.filter(status=ARImport.Status.DISCARDED).count()
        return context


class ARImportUploadView(FinanceAccessMixin, TemplateView):
    template_name = "finance/ar_import/upload.html"
    action_level = IMPORT_PAYMENTS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = kwargs.get("form") or UploadForm(user=self.request.user)
        context["auto_apply_setting"] = FinanceSettings.load().auto_apply_cash
        return context

    def post(self, request, *args, **kwargs):
        form = UploadForm(request.POST, request.FILES, user=request.user)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        data = form.cleaned_data
        upload = data["file"]
        options = dict(
            fileobj=upload,
            file_name=upload.name,
            user=request.user,
            auto_apply={"on": True, "off": False}.get(data["auto_apply"]),
            batch_number=data["batch_number"],
            cash_account_code=data["cash_account"],
            entity=data.get("entity"),
        )
        if upload.size > CHECK_IN_REQUEST_MAX_BYTES and upload.size <= MAX_FILE_BYTES:
            imp = ar_import_upload(**options)
            messages.info(request, f"{imp.file_name}: checking {upload.size / (1024 * 1024):.1f} MB in the background.")
            return redirect(reverse("finance:ar_import_detail", args=[imp.pk]))
        imp = ar_import_validate(**options)
        if imp.status == ARImport.Status.VALIDATED:
            messages.success(request, f"{imp.file_name}: {imp.row_count} rows checked. Review the preview, then post.")
        else:
            messages.error(request, f"{imp.file_name} has {imp.error_count} error(s); nothing can be posted.")
        return redirect(reverse("finance:ar_import_detail", args=[imp.pk]))


class ARImportDetailView(FinanceAccessMixin, TemplateView):
    """The preview (before posting) and the record (after): per-row plan, problems, totals."""

    template_name = "finance/ar_import/detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        imp = get_object_or_404(
            ARImport.objects.select_related(
                "created_by", "posted_by", "discarded_by", "batch", "cash_account", "entity"
            ),
            pk=kwargs["pk"],
        )
        rows = ARImportRow.objects.filter(ar_import=imp).select_related("contact", "payment").order_by("line_number")
        only_problems = self.request.GET.get("show") == "problems"
        if only_problems:
            rows = rows.exclude(errors="", warnings="")
        page = Paginator(rows, ROWS_PER_PAGE).get_page(self.request.GET.get("page"))
        # Problems of the file and its header (those of rows show in the rows table).
        file_problems = [p for p in imp.errors if not p.get("row")]
        context.update(
            imp=imp,
            page=page,
            only_problems=only_problems,
            file_problems=file_problems,
            can_post=imp.is_postable and has_level(self.request.user, *IMPORT_PAYMENTS),
            can_discard=imp.is_discardable and has_level(self.request.user, *IMPORT_PAYMENTS),
            can_recover=has_level(self.request.user, *IMPORT_PAYMENTS),
            count_ok=imp.control_count is None or imp.control_count == imp.row_count,
            amount_ok=imp.control_amount is None or imp.control_amount == imp.total_amount,
            queued=self.request.GET.get("queued") == "1",
            checking=imp.status == ARImport.Status.UPLOADED,
        )
        return context


class ARImportPostView(FinanceAccessMixin, TemplateView):
    """Queue the posting (all rows or none) in the worker."""

    action_level = IMPORT_PAYMENTS
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        imp = get_object_or_404(ARImport, pk=kwargs["pk"])
        try:
            ar_import_queue_post(
                ar_import=imp, user=request.user, allow_repeats=request.POST.get("confirm_repeats") == "1"
            )
        except FinanceError as exc:
            messages.error(request, str(exc))
            return redirect(reverse("finance:ar_import_detail", args=[imp.pk]))
        messages.info(request, f"Posting {imp.file_name}: all {imp.row_count} rows or none.")
        return redirect(reverse("finance:ar_import_detail", args=[imp.pk]) + "?queued=1")


class ARImportDiscardView(FinanceAccessMixin, TemplateView):
    """Discard an import that was not posted (see ``ar_import_discard``)."""

    action_level = IMPORT_PAYMENTS
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        imp = get_object_or_404(ARImport, pk=kwargs["pk"])
        try:
            ar_import_discard(ar_import=imp, user=request.user)
        except FinanceError as exc:
            messages.error(request, str(exc))
            return redirect(reverse("finance:ar_import_detail", args=[imp.pk]))
        messages.success(
            request,
            f"AR import {imp.pk} ({imp.file_name}) discarded; nothing was posted. Its record is kept under "
            "“Show discarded imports”.",
        )
        return redirect(reverse("finance:ar_import_list"))


def _check_running(imp: ARImport) -> bool:
    """Whether a worker is checking ``imp`` now: its check holds the import's validation
    lock for its whole transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_VALIDATE, imp.pk])
        return not cursor.fetchone()[0]


class ARImportRecoverView(FinanceAccessMixin, TemplateView):
    """An import left "posting" by a worker that stopped: release it and post it again.
    An uploaded file whose check stopped (or was never run): queue the check again.
    Both are safe while the worker is still at it: a second check finds the first done,
    and a live posting is not released."""

    action_level = IMPORT_PAYMENTS
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        imp = get_object_or_404(ARImport, pk=kwargs["pk"])
        detail = reverse("finance:ar_import_detail", args=[imp.pk])
        if imp.status == ARImport.Status.UPLOADED:
            return self._check_again(request, imp, detail)
        if not ar_import_recover(ar_import=imp):
            imp.refresh_from_db()
            if imp.status == ARImport.Status.POSTING:
                messages.info(request, "The posting is still running in the worker; wait for it to finish.")
            return redirect(detail)
        imp.refresh_from_db()
        try:
            ar_import_queue_post(ar_import=imp, user=request.user)
        except FinanceError as exc:
            messages.error(request, str(exc))
            return redirect(detail)
        messages.warning(request, "The posting had stopped before it finished; nothing had been posted. Posting again.")
        return redirect(detail + "?queued=1")

    def _check_again(self, request, imp: ARImport, detail: str):
        if _check_running(imp):
            messages.info(request, "The worker is checking the file now; wait for it to finish.")
            return redirect(detail)
        ARImport.objects.filter(pk=imp.pk, status=ARImport.Status.UPLOADED).update(progress=0)
        validate_ar_import.delay(imp.pk)
        messages.warning(
            request, "The check of the file had stopped before it finished; nothing was kept. Checking again."
        )
        return redirect(detail)


class ARImportProgressView(FinanceAccessMixin, TemplateView):
    """The progress bar (polled by htmx) of a posting, or of a check in the worker
    (?phase=check); tells the page to reload once that work ends."""

    template_name = "finance/ar_import/_progress.html"

    def get(self, request, *args, **kwargs):
        imp = get_object_or_404(ARImport, pk=kwargs["pk"])
        checking = request.GET.get("phase") == "check"
        if checking:
            done = imp.status != ARImport.Status.UPLOADED
        else:  # a released posting queued again is not done: it waits for the worker
            done = imp.status == ARImport.Status.POSTED or (
                imp.status == ARImport.Status.FAILED and not imp.was_interrupted
            )
        if done:
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return self.render_to_response({"imp": imp, "checking": checking})
