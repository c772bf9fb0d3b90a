"""Membership staff pages: member types, a contact's subscriptions and term invoices,
the renewal run wizard (choose → preview → batch) with progress, the dues importer.
Views parse input and call the services; Membership level 2 to view, 4 to act."""

from functools import partial

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from core.authorization import ModuleLevelRequiredMixin, has_level, require_level
from core.dates import format_day
from core.models import Module
from finance.errors import FinanceError
from finance.membership.dues_import import dues_import_create, dues_import_validate
from finance.membership.forms import BillTermForm, DuesUploadForm, RenewalRunForm
from finance.membership.models import (
    DuesImport,
    MembershipSettings,
    MemberType,
    RenewalItem,
    RenewalLine,
    RenewalRun,
    Subscription,
    Term,
)
from finance.membership.renewals import (
    INTERRUPTED_BUILD,
    renewal_run_delete,
    renewal_run_rebuild,
    renewal_run_recover_build,
    renewal_run_start,
)
from finance.membership.services import next_term, term_bill
from finance.membership.tasks import build_renewal_run, post_renewal_run
from finance.models import Contact

VIEW_MEMBERSHIP = (Module.MEMBERSHIP, 2)
RUN_RENEWALS = (Module.MEMBERSHIP, 4)
ITEMS_PER_PAGE = 50


class MembershipMixin(ModuleLevelRequiredMixin):
    required_level = VIEW_MEMBERSHIP
    action_level: tuple[str, int] | None = None

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and self.action_level is not None:
            require_level(request.user, *self.action_level)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_run"] = has_level(self.request.user, *RUN_RENEWALS)
        return context


class HomeView(MembershipMixin, TemplateView):
    """Member types (fee, billing products, members) and the latest renewal runs."""

    template_name = "membership/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        types = (
            MemberType.objects.select_related("fee_product")
            .prefetch_related("billing_products__product")
            .annotate(active=Count("subscriptions", filter=Q(subscriptions__status="active")))
            .order_by("code")
        )
        rows = []
        for mt in types:
            extras = [bp.product for bp in mt.billing_products.all()]
            rows.append({"type": mt, "extras": extras, "total": mt.fee_product.price + sum(p.price for p in extras)})
        context.update(
            types=rows,
            runs=RenewalRun.objects.select_related("batch", "member_type", "created_by")[:10],
            imports=DuesImport.objects.select_related("batch")[:5],
            settings=MembershipSettings.load(),
        )
        return context


class ContactMembershipView(MembershipMixin, TemplateView):
    """A contact's subscriptions and each term's invoice; bill the next term."""

    template_name = "membership/contact.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        contact = get_object_or_404(Contact, pk=kwargs["pk"])
        subs = list(
            Subscription.objects.filter(contact=contact)
            .select_related("member_type")
            .prefetch_related("terms__invoice")
            .order_by("-status", "pk")
        )
        for sub in subs:
            sub.term_rows = list(sub.terms.select_related("invoice").order_by("-term_begin", "-pk"))
            sub.next_begin, sub.next_end = next_term(sub)
        context.update(
            contact=contact,
            subscriptions=subs,
            form=kwargs.get("form")
            or BillTermForm(initial={"invoice_date": timezone.localdate()}, user=self.request.user),
        )
        return context


class BillNextTermView(MembershipMixin, TemplateView):
    template_name = "membership/contact.html"
    action_level = RUN_RENEWALS
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        sub = get_object_or_404(Subscription, pk=kwargs["pk"])
        form = BillTermForm(request.POST, user=request.user)
        if not form.is_valid():
            view = ContactMembershipView(request=request, kwargs={"pk": sub.contact_id})
            return self.render_to_response(view.get_context_data(pk=sub.contact_id, form=form))
        try:
            billed = term_bill(
                subscription=sub,
                batch=form.cleaned_data["batch"],
                invoice_date=form.cleaned_data["invoice_date"],
                source=Term.Source.RENEWAL,
                user=request.user,
            )
        except FinanceError as exc:
            messages.error(request, str(exc))
        else:
            note = f"; {billed.credit_applied} of open credit applied" if billed.credit_applied else ""
            messages.success(
                request,
                f"Invoice {billed.invoice.number} for {format_day(billed.term.term_begin)}–"
                f"{format_day(billed.term.term_end)}{note}.",
            )
        return redirect(reverse("membership:member_detail", args=[sub.contact_id]))


class RunListView(MembershipMixin, TemplateView):
    template_name = "membership/run_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        runs = RenewalRun.objects.select_related("batch", "member_type", "created_by")
        context["page"] = Paginator(runs, 25).get_page(self.request.GET.get("page"))
        return context


class RunCreateView(MembershipMixin, TemplateView):
    """Step 1 of the wizard: choose the range, effective date and member type."""

    template_name = "membership/run_new.html"
    action_level = RUN_RENEWALS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = kwargs.get("form") or RenewalRunForm()
        return context

    def post(self, request, *args, **kwargs):
        form = RenewalRunForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        data = form.cleaned_data
        try:
            with transaction.atomic():
                run = renewal_run_start(
                    effective_date=data["effective_date"],
                    invoice_date=data["invoice_date"],
                    paid_through_from=data["paid_through_from"],
                    paid_through_to=data["paid_through_to"],
                    member_type=data["member_type"],
                    user=request.user,
                )
                transaction.on_commit(partial(build_renewal_run.delay, run.pk))
        except FinanceError as exc:
            form.add_error(None, str(exc))
            return self.render_to_response(self.get_context_data(form=form))
        return redirect(reverse("membership:run_detail", args=[run.pk]))


def _recovered(run: RenewalRun) -> RenewalRun:
    """A run "creating" whose build stopped is brought back as the page is opened (one
    advisory-lock try on PostgreSQL), not only by the periodic recovery."""
    if run.status == RenewalRun.Status.CREATING and renewal_run_recover_build(run=run) is not None:
        run.refresh_from_db()
    return run


def _run_context(run: RenewalRun, queued: bool = False) -> dict:
    """``busy`` while the worker builds or posts the run (or a post was just queued);
    ``build_interrupted`` while a build that stopped is being built again (it may be
    deleted instead)."""
    waiting = queued and run.status == RenewalRun.Status.READY and not run.message
    return {
        "run": run,
        "queued": queued,
        "busy": waiting or run.status in (RenewalRun.Status.CREATING, RenewalRun.Status.POSTING),
        "build_interrupted": run.status == RenewalRun.Status.CREATING and run.message == INTERRUPTED_BUILD,
    }


class RunDetailView(MembershipMixin, TemplateView):
    """Steps 2 and 3: the preview (members, lines, totals, skipped with reasons), then
    the batch. Delete or post while ready; build again or delete a run whose build
    failed; delete a run whose stopped build is being built again."""

    template_name = "membership/run_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = _recovered(get_object_or_404(RenewalRun.objects.select_related("batch", "member_type"), pk=kwargs["pk"]))
        show = self.request.GET.get("show", "billed")
        items = (
            RenewalItem.objects.filter(run=run, skipped=(show == "skipped"))
            .select_related("contact", "member_type", "invoice")
            .order_by("pk")
        )
        page = Paginator(items, ITEMS_PER_PAGE).get_page(self.request.GET.get("page"))
        lines = {}
        for line in RenewalLine.objects.filter(item__in=[i.pk for i in page]).select_related("product", "account"):
            lines.setdefault(line.item_id, []).append(line)
        for item in page:
            item.preview_lines = sorted(lines.get(item.pk, []), key=lambda ln: ln.line_number)
        by_type = (
            RenewalItem.objects.filter(run=run, skipped=False)
            .values("member_type__code", "member_type__name")
            .annotate(n=Count("pk"), total=Sum("amount"))
            .order_by("member_type__code")
        )
        by_product = (
            RenewalLine.objects.filter(item__run=run)
            .values("product__code", "product__name", "account__code")
            .annotate(n=Count("pk"), total=Sum("amount"))
            .order_by("product__code")
        )
        reasons = (
            RenewalItem.objects.filter(run=run, skipped=True).values("reason").annotate(n=Count("pk")).order_by("-n")
        )
        context.update(
            _run_context(run, self.request.GET.get("queued") == "1"),
            page=page,
            show=show,
            by_type=by_type,
            by_product=by_product,
            reasons=reasons,
        )
        return context


class RunProgressView(MembershipMixin, TemplateView):
    """The htmx progress panel; when the run is done it asks the page to reload."""

    template_name = "membership/_run_progress.html"

    def get(self, request, *args, **kwargs):
        run = _recovered(get_object_or_404(RenewalRun, pk=kwargs["pk"]))
        context = _run_context(run, request.GET.get("queued") == "1")
        response = self.render_to_response(context)
        if not context["busy"]:
            response["HX-Refresh"] = "true"
        return response


class RunPostView(MembershipMixin, TemplateView):
    action_level = RUN_RENEWALS
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        run = get_object_or_404(RenewalRun, pk=kwargs["pk"])
        if run.status != RenewalRun.Status.READY:
            messages.error(request, f"Renewal run {run.pk} is {run.get_status_display().lower()}; it cannot be posted.")
        else:
            transaction.on_commit(partial(post_renewal_run.delay, run.pk, request.user.pk))
            messages.info(request, f"Posting renewal run {run.pk}: {run.member_count} invoices, all or none.")
            return redirect(reverse("membership:run_detail", args=[run.pk]) + "?queued=1")
        return redirect(reverse("membership:run_detail", args=[run.pk]))


class RunDeleteView(MembershipMixin, TemplateView):
    action_level = RUN_RENEWALS
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        run = get_object_or_404(RenewalRun, pk=kwargs["pk"])
        try:
            renewal_run_delete(run=run, user=request.user)
        except FinanceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Renewal run {run.pk} is deleted; nothing was invoiced.")
        return redirect(reverse("membership:run_detail", args=[run.pk]))


class RunRebuildView(MembershipMixin, TemplateView):
    """A run whose build failed (or stopped twice): build its preview again."""

    action_level = RUN_RENEWALS
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        run = get_object_or_404(RenewalRun, pk=kwargs["pk"])
        try:
            renewal_run_rebuild(run=run, user=request.user)
        except FinanceError as exc:
            messages.error(request, str(exc))
        else:
            messages.info(request, f"Building the preview of renewal run {run.pk} again; nothing is invoiced.")
        return redirect(reverse("membership:run_detail", args=[run.pk]))


class DuesUploadView(MembershipMixin, TemplateView):
    template_name = "membership/dues_upload.html"
    action_level = RUN_RENEWALS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = kwargs.get("form") or DuesUploadForm(initial={"invoice_date": timezone.localdate()})
        return context

    def post(self, request, *args, **kwargs):
        form = DuesUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        upload = form.cleaned_data["file"]
        imp = dues_import_validate(
            fileobj=upload, file_name=upload.name, invoice_date=form.cleaned_data["invoice_date"], user=request.user
        )
        if imp.status == DuesImport.Status.VALIDATED:
            messages.success(request, f"{imp.file_name}: {imp.row_count} rows checked. Review them, then create.")
        else:
            messages.error(request, f"{imp.file_name} has {imp.error_count} problem(s); nothing can be created.")
        return redirect(reverse("membership:dues_detail", args=[imp.pk]))


class DuesDetailView(MembershipMixin, TemplateView):
    template_name = "membership/dues_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        imp = get_object_or_404(DuesImport.objects.select_related("batch"), pk=kwargs["pk"])
        rows = imp.rows.select_related("invoice", "payment").order_by("line_number")
        context.update(imp=imp, page=Paginator(rows, 100).get_page(self.request.GET.get("page")))
        return context


class DuesCreateView(MembershipMixin, TemplateView):
    action_level = RUN_RENEWALS
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        imp = get_object_or_404(DuesImport, pk=kwargs["pk"])
        try:
            imp = dues_import_create(dues_import=imp, user=request.user)
        except FinanceError as exc:
            messages.error(request, f"Nothing was created: {exc}")
        else:
            messages.success(
                request, f"Created {imp.row_count} invoice(s) in batch {imp.batch.number}; review and post it."
            )
        return redirect(reverse("membership:dues_detail", args=[imp.pk]))
