from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.views.generic import TemplateView

from core.authorization import has_level
from core.models import Module
from finance import selectors
from finance.adjust_forms import PaymentUnapplyForm, RefundForm
from finance.errors import FinanceError
from finance.filters import PaymentFilter
from finance.forms import PaymentReverseForm
from finance.models import Payment
from finance.services.credits import refund_modes, refundable_now, unapply_refusal
from finance.services.payments import payment_reverse, reverse_refusal
from finance.tables import PaymentTable
from finance.views.base import FilteredTableView, FinanceAccessMixin

REVERSE_PAYMENT = (Module.FINANCE, 4)


class PaymentListView(FilteredTableView):
    new_url_name = "finance:payment_new"
    new_label = "Receive payment"
    new_level = (Module.AR_CASH, 2)
    filterset_class = PaymentFilter
    table_class = PaymentTable
    page_title = "Payments"
    totals_fields = ("amount",)
    totals_noun = "payments"
    csv_name = "payments"
    csv_columns = (
        ("payment", "id"),
        ("date", "date"),
        ("party_id", "payer__party_id"),
        ("payer", "payer__name"),
        ("method", "method__code"),
        ("reference", "reference"),
        ("batch", "batch__number"),
        ("batch_status", "batch__status"),
        ("status", "status"),
        ("currency", "currency"),
        ("amount", "amount"),
        ("refunded", "refunded_amount"),
    )

    def get_queryset(self):
        return selectors.payment_list()


class PaymentDetailView(FinanceAccessMixin, TemplateView):
    template_name = "finance/payment_detail.html"

    def get_payment(self) -> Payment:
        try:
            return selectors.payment_get(self.kwargs["pk"])
        except Payment.DoesNotExist as exc:
            raise Http404("No such payment.") from exc

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        payment = kwargs.get("payment") or self.get_payment()
        can_reverse = has_level(self.request.user, *REVERSE_PAYMENT)
        context.update(
            payment=payment,
            applications=selectors.payment_applications(payment),
            journal=selectors.payment_journal(payment),
            can_reverse=can_reverse,
            reverse_level=REVERSE_PAYMENT,
        )
        context["refunds"] = selectors.payment_refunds(payment)
        context["reverse_refusal"] = reverse_refusal(payment)
        context["unapply_refusal"] = unapply_refusal(payment)
        if can_reverse and payment.status == Payment.Status.POSTED:
            user = self.request.user
            if not context["reverse_refusal"]:
                context["reverse_form"] = kwargs.get("reverse_form") or PaymentReverseForm(user=user)
            if not context["unapply_refusal"]:
                context["unapply_form"] = PaymentUnapplyForm(auto_id="unapply_%s", user=user)
            modes = refund_modes(payment)
            options = []
            for credit, _held in selectors.payment_credit_holdings(payment):
                left = refundable_now(payment, credit)
                if left > 0:
                    form = RefundForm(
                        initial={"credit_invoice": credit.pk}, auto_id=f"refund{credit.pk}_%s", user=user, modes=modes
                    )
                    options.append((credit, left, form))
            context["refund_options"] = options
        return context


class PaymentReverseView(PaymentDetailView):
    """POST: reverse the payment into the open batch picked in the form, or else into
    the user's current batch."""

    http_method_names = ["post"]
    action_level = REVERSE_PAYMENT

    def post(self, request, *args, **kwargs):
        payment = self.get_payment()
        form = PaymentReverseForm(request.POST, user=request.user)
        if not form.is_valid():
            context = self.get_context_data(payment=payment, reverse_form=form)
            return self.render_to_response(context)
        data = form.cleaned_data
        try:
            with transaction.atomic():
                batch = data["batch"]
                payment = payment_reverse(
                    payment=payment, batch=batch, date=data["date"], reason=data["reason"], user=request.user
                )
        except FinanceError as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Payment {payment.pk} is reversed in batch {batch.number}.")
        return redirect("finance:payment_detail", pk=payment.pk)
