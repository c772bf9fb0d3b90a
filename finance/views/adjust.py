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
from finance.services.credits import payment_unapply, refund_modes, refund_record, refundable_now
from finance.views.base import FinanceAccessMixin

ADJUST = (Module.FINANCE, 4)


def _money(value) -> str:
    """An amount in a message: thousands separated, always two decimals."""
    return f"{value:,.2f}"


def _form_errors(form) -> str:
    return " ".join(
        f"{form.fields[k].label or k}: {' '.join(v)}" if k != "__all__" else " ".join(v) for k, v in form.errors.items()
    )


class _AdjustView(FinanceAccessMixin, View):
    http_method_names = ["post"]
    action_level = ADJUST
    form_class = None

    def make_form(self, request, pk):
        return self.form_class(request.POST, user=request.user)

    def post(self, request, pk):
        form = self.make_form(request, pk)
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
            f"{_money(-credit.balance)} is open credit on invoice {credit.number}."
        )

    def done(self, pk):
        return redirect("finance:payment_detail", pk=pk)


class PaymentRefundView(_AdjustView):
    """Record-only refunds post at once; processor refunds are saved and committed
    before the processor is called (never inside a transaction), then recorded."""

    form_class = RefundForm

    def make_form(self, request, pk):
        payment = get_object_or_404(Payment.objects.select_related("method"), pk=pk)
        return self.form_class(request.POST, user=request.user, modes=refund_modes(payment))

    def post(self, request, pk):
        form = self.make_form(request, pk)
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
                amount=data["amount"],
                reason=data["reason"],
                user=request.user,
            )
        except FinanceError as exc:
            messages.error(request, str(exc))
            return self.done(pk)
        if refund.status == Refund.Status.SUCCEEDED:
            messages.success(
                request,
                f"Refund of {_money(refund.amount)} issued through the processor ({refund.processor_refund_id}).",
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
            amount=data["amount"],
            reason=data["reason"],
            user=self.request.user,
        )
        left = refundable_now(payment, credit)
        rest = (
            f"{_money(left)} of it can still be refunded."
            if left > 0
            else "nothing of this payment's credit is left to refund."
        )
        return (
            f"Refund of {_money(refund.amount)} recorded in batch {refund.batch.number} "
            f"(credit invoice {credit.number}); {rest}"
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
        credits = ", ".join(c.number for c in invoice.reversal_credits.order_by("pk"))
        if credits:
            return (
                f"Invoice {invoice.number} is reversed in batch {batch.number}; what was paid on it is now open "
                f"credit on invoice{'s' if ',' in credits else ''} {credits}."
            )
        return f"Invoice {invoice.number} is reversed in batch {batch.number}."

    def done(self, pk):
        return redirect("finance:invoice_detail", pk=pk)
