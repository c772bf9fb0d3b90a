"""Adjusting a payment (unapply, refund) and cancelling an invoice.

Views parse input and call the services, each in one transaction, so a refused
adjustment leaves nothing behind. Adjustments go into the batch picked in the form, or
else into the user's current batch (``finance.forms.EntryBatchMixin``).
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.views import View

from core.models import Module
from finance.adjust_forms import InvoiceReverseForm, PaymentUnapplyForm, RefundForm
from finance.errors import FinanceError
from finance.models import Invoice, Payment, Refund
from finance.services import processor_refunds
from finance.services.adjustments import invoice_reverse
from finance.services.credits import payment_unapply, refund_record
from finance.views.base import FinanceAccessMixin

ADJUST = (Module.FINANCE, 4)


def _form_errors(form) -> str:
    return " ".join(
        f"{form.fields[k].label or k}: {' '.join(v)}" if k != "__all__" else " ".join(v) for k, v in form.errors.items()
    )


class _AdjustView(FinanceAccessMixin, View):
    http_method_names = ["post"]
    action_level = ADJUST
    form_class = None

    def post(self, request, pk):
        form = self.form_class(request.POST, user=request.user)
        if not form.is_valid():
            messages.error(request, _form_errors(form))
            return self.done(pk)
        try:
            with transaction.atomic():
                message = self.act(pk, form.cleaned_data)
        except FinanceError as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, message)
        return self.done(pk)


class PaymentUnapplyView(_AdjustView):
    form_class = PaymentUnapplyForm

    def act(self, pk, data):
        payment = get_object_or_404(Payment, pk=pk)
        batch = data["batch"]
        credit = payment_unapply(payment=payment, batch=batch, date=data["date"], user=self.request.user)
        return (
            f"Payment {payment.pk} is unapplied in batch {batch.number}: "
            f"{-credit.balance} is open credit on invoice {credit.number}."
        )

    def done(self, pk):
        return redirect("finance:payment_detail", pk=pk)


class PaymentRefundView(_AdjustView):
    """Record-only refunds post at once; processor refunds are saved and committed
    before the processor is called (never inside a transaction), then recorded."""

    form_class = RefundForm

    def post(self, request, pk):
        form = self.form_class(request.POST, user=request.user)
        if form.is_valid() and form.cleaned_data["mode"] == Refund.Mode.PROCESSOR:
            return self.refund_through_processor(request, pk, form.cleaned_data)
        return super().post(request, pk)

    def refund_through_processor(self, request, pk, data):
        payment = get_object_or_404(Payment.objects.select_related("method__gateway_account"), pk=pk)
        credit = get_object_or_404(Invoice, pk=data["credit_invoice"], type=Invoice.Type.CREDIT)
        try:
            refund = processor_refunds.refund_through_processor(
                payment=payment,
                credit_invoice=credit,
                batch=data["batch"],
                date=data["date"],
                reason=data["reason"],
                user=request.user,
            )
        except FinanceError as exc:
            messages.error(request, str(exc))
            return self.done(pk)
        if refund.status == Refund.Status.SUCCEEDED:
            messages.success(
                request, f"Refund of {refund.amount} issued through the processor ({refund.processor_refund_id})."
            )
        elif refund.status == Refund.Status.FAILED:
            messages.error(request, f"The processor refused the refund: {refund.failure_message}")
        else:
            messages.warning(request, "The processor has not confirmed the refund yet; it stays pending.")
        return self.done(pk)

    def act(self, pk, data):
        payment = get_object_or_404(Payment, pk=pk)
        try:
            credit = Invoice.objects.get(pk=data["credit_invoice"], type=Invoice.Type.CREDIT)
        except Invoice.DoesNotExist as exc:
            raise Http404("No such credit invoice.") from exc
        refund = refund_record(
            payment=payment,
            credit_invoice=credit,
            batch=data["batch"],
            date=data["date"],
            reason=data["reason"],
            user=self.request.user,
        )
        return (
            f"Refund of {refund.amount} recorded in batch {refund.batch.number}; "
            f"credit invoice {credit.number} holds nothing from this payment."
        )

    def done(self, pk):
        return redirect("finance:payment_detail", pk=pk)


class InvoiceReverseView(_AdjustView):
    form_class = InvoiceReverseForm

    def act(self, pk, data):
        invoice = get_object_or_404(Invoice, pk=pk)
        batch = data["batch"]
        invoice = invoice_reverse(
            invoice=invoice, batch=batch, date=data["date"], reason=data["reason"], user=self.request.user
        )
        return f"Invoice {invoice.number} is reversed in batch {batch.number}; what was paid on it is now open credit."

    def done(self, pk):
        return redirect("finance:invoice_detail", pk=pk)
