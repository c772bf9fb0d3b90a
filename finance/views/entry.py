"""Entering invoices and payments. The views parse input and call the services."""

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import TemplateView

from core.authorization import ENTER_TRANSACTIONS
from finance.entry_forms import InvoiceEntryForm, InvoiceLineFormSet, PaymentEntryForm
from finance.errors import FinanceError
from finance.models import Batch, Contact, Invoice, PaymentMethod
from finance.money import quantize
from finance.search import contact_from_text
from finance.services.card_payments import payment_receive_by_card
from finance.services.cards import card_element
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, open_lines_oldest_first, payment_receive
from finance.views.base import FinanceAccessMixin

OPEN_LINES = "open-lines"  # the element of the payment page that lists the payer's open lines


def _batch_from_query(request) -> Batch | None:
    """The open batch named by ``?batch=<id>`` (the batch page's "Add" links), if any."""
    value = request.GET.get("batch", "")
    if not value.isdigit():
        return None
    return Batch.objects.filter(pk=int(value), status=Batch.Status.OPEN).first()


def _contact_from_query(request) -> Contact | None:
    """The contact a link (``?contact=<party id>``) or the payer finder (``?payer=``) names."""
    return contact_from_text(request.GET.get("contact") or request.GET.get("payer") or "")


class PaymentEntryView(FinanceAccessMixin, TemplateView):
    """Receive a payment: auto-applied oldest first, or to the lines the user fills in.
    Whatever is not applied becomes an open credit for the payer."""

    template_name = "finance/entry/payment_new.html"
    action_level = ENTER_TRANSACTIONS

    def get_template_names(self):
        if self.request.htmx and self.request.htmx.target == OPEN_LINES:
            return ["finance/entry/_open_lines.html"]  # the payer was picked or cleared
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        contact = kwargs["contact"] if "contact" in kwargs else _contact_from_query(self.request)
        form = kwargs.get("form")
        if form is None:
            form = PaymentEntryForm(
                initial={"payer": contact} if contact else None,
                user=self.request.user,
                batch=_batch_from_query(self.request),
            )
        lines = []
        if contact is not None:
            entered = kwargs.get("entered", {})
            for line in open_lines_oldest_first(contact, None)[:200]:
                lines.append((line, entered.get(line.pk, "")))
        methods = list(form.fields["method"].queryset.select_related("gateway_account"))
        context.update(
            form=form,
            contact=contact,
            open_lines=lines,
            error=kwargs.get("error"),
            card_element=card_element(methods),
        )
        return context

    def post(self, request, *args, **kwargs):
        form = PaymentEntryForm(request.POST, user=request.user)
        valid = form.is_valid()
        contact = form.cleaned_data.get("payer")
        entered = {}
        for key, value in request.POST.items():
            if key.startswith("apply_") and value.strip():
                try:
                    entered[int(key.removeprefix("apply_"))] = value.strip()
                except ValueError:
                    continue
        if not valid:
            return self.render_to_response(self.get_context_data(form=form, contact=contact, entered=entered))
        data = form.cleaned_data
        method = data["method"]
        if method.type == PaymentMethod.Type.CREDIT_CARD and method.gateway_account_id:
            return self.receive_by_card(form, contact, entered)
        try:
            with transaction.atomic():
                applications = None
                if data["apply_to"] == "lines":
                    lines = {ln.pk: ln for ln in open_lines_oldest_first(data["payer"], None).filter(pk__in=entered)}
                    applications = []
                    for line_id, raw in entered.items():
                        if line_id not in lines:
                            raise FinanceError("A line you entered is no longer open; reload the page.")
                        try:
                            amount = quantize(Decimal(raw))
                        except (InvalidOperation, ValueError):
                            raise FinanceError(
                                f"Invoice {lines[line_id].invoice.number} line {lines[line_id].line_number}: "
                                f"{raw!r} is not an amount."
                            ) from None
                        applications.append(ApplicationSpec(lines[line_id], amount))
                    if not applications:
                        raise FinanceError("Enter an amount on at least one line, or choose oldest-first.")
                payment = payment_receive(
                    payer=data["payer"],
                    method=data["method"],
                    amount=data["amount"],
                    date=data["date"],
                    batch=data["batch"],
                    reference=data["reference"],
                    applications=applications,
                    entity=data["entity"],
                    auto_apply=applications is None,
                    user=request.user,
                )
        except FinanceError as exc:
            return self.render_to_response(
                self.get_context_data(form=form, contact=contact, entered=entered, error=str(exc))
            )
        return self.recorded(payment)

    def recorded(self, payment, note: str = ""):
        credit = payment.applications.filter(invoice__type=Invoice.Type.CREDIT).first()
        if credit:
            note += f" {credit.amount:,.2f} was left as open credit on invoice {credit.invoice.number}."
        messages.success(
            self.request,
            f"Payment of {payment.amount:,.2f} from {payment.payer.name} recorded in batch "
            f"{payment.batch.number}.{note}",
        )
        return redirect(reverse("finance:payment_detail", args=[payment.pk]))

    def receive_by_card(self, form, contact, entered):
        """Charge the card through the method's processor, then record the payment
        (``finance.services.card_payments``; outside any transaction)."""
        data = form.cleaned_data
        try:
            attempt = payment_receive_by_card(
                payer=data["payer"],
                method=data["method"],
                amount=data["amount"],
                date=data["date"],
                batch=data["batch"],
                entity=data["entity"],
                card_token=data["card_token"],
                save_card=data["save_card"],
                user=self.request.user,
            )
        except FinanceError as exc:
            return self.render_to_response(
                self.get_context_data(form=form, contact=contact, entered=entered, error=str(exc))
            )
        return self.recorded(attempt.payment, note=f" Card charge {attempt.charge_id}.")


class InvoiceEntryView(FinanceAccessMixin, TemplateView):
    """Enter an invoice with its lines; it is numbered and posted when saved."""

    template_name = "finance/entry/invoice_new.html"
    action_level = ENTER_TRANSACTIONS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        contact = _contact_from_query(self.request)
        context["form"] = kwargs.get("form") or InvoiceEntryForm(
            initial={"bill_to": contact} if contact else None,
            user=self.request.user,
            batch=_batch_from_query(self.request),
        )
        context["formset"] = kwargs.get("formset") or InvoiceLineFormSet(prefix="lines")
        context["contact"] = contact
        context["error"] = kwargs.get("error")
        return context

    def post(self, request, *args, **kwargs):
        form = InvoiceEntryForm(request.POST, user=request.user)
        formset = InvoiceLineFormSet(request.POST, prefix="lines")
        if not (form.is_valid() and formset.is_valid()):
            return self.render_to_response(self.get_context_data(form=form, formset=formset))
        data = form.cleaned_data
        specs = []
        for row in formset.cleaned_data:
            if not row or not (row.get("product") or row.get("unit_price") is not None):
                continue
            specs.append(
                LineSpec(
                    product=row.get("product"),
                    quantity=row.get("quantity") or Decimal("1"),
                    unit_price=row.get("unit_price"),
                    description=row.get("description") or "",
                )
            )
        try:
            if not specs:
                raise FinanceError("Add at least one line with a product.")
            with transaction.atomic():
                invoice = invoice_create(
                    bill_to=data["bill_to"],
                    entity=data["entity"],
                    batch=data["batch"],
                    lines=specs,
                    date=data["date"],
                    due_date=data["due_date"],
                    accounting_method=data["accounting_method"],
                    description=data["description"],
                    user=request.user,
                )
        except FinanceError as exc:
            return self.render_to_response(self.get_context_data(form=form, formset=formset, error=str(exc)))
        messages.success(
            request, f"Invoice {invoice.number} for {invoice.total} created in batch {invoice.batch.number}."
        )
        return redirect(reverse("finance:invoice_detail", args=[invoice.pk]))
