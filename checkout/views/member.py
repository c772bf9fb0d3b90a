"""The member checkout: a member signs in and orders for themselves with the Public set.

The same cart services as the staff cart, with the rules of a public checkout: the
cart acts on behalf of the member's own contact only, it offers the "Public" payment
method set, open credit (the member's own and, for a company member, the company's)
can be applied only when OPENCREDIT is in the Public set, and the balance is paid by
card. There is no "apply other credit" and no prepayment here.
"""

from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from checkout.forms import AddProductForm, CartSubmitForm
from checkout.models import Cart, CartCredit, CartLine, MemberAccount
from checkout.services import cart as services
from checkout.services import checkout
from checkout.views.cart import card_context, card_to_charge
from core.authorization import user_level
from core.models import Module
from finance.errors import FinanceError
from finance.models import Invoice
from finance.money import ZERO


def member_account_of(user) -> MemberAccount | None:
    if not user.is_authenticated:
        return None
    return MemberAccount.objects.filter(user=user, is_active=True).select_related("contact__company").first()


def landing_url(user) -> str:
    """Where a signed-in user starts: a member (with no staff level) at their checkout,
    staff at the dashboard."""
    if member_account_of(user) is not None and not any(user_level(user, m) for m in Module.values):
        return reverse("member:home")
    return reverse("finance:dashboard")


def start(request):
    """The start page (the 404 page's way back, older bookmarks): to ``landing_url``."""
    return redirect(landing_url(request.user))


class SignInView(LoginView):
    """Django's sign-in, landing straight on the user's start page (one redirect, not
    two); a ``next`` that is safe still wins."""

    def get_default_redirect_url(self):
        return landing_url(self.request.user)


class MemberMixin:
    """The signed-in user's active member account, else 403."""

    def dispatch(self, request, *args, **kwargs):
        self.member = member_account_of(request.user)
        if self.member is None:
            raise PermissionDenied("The member checkout needs a member sign-in.")
        return super().dispatch(request, *args, **kwargs)

    def member_cart(self) -> Cart:
        return services.cart_start(
            user=self.request.user, contact=self.member.contact, method_set_name=services.PUBLIC_SET
        )

    def get_cart(self) -> Cart:
        cart = (
            Cart.objects.filter(pk=self.kwargs["pk"], user=self.request.user, contact=self.member.contact)
            .select_related("contact", "contact__company", "method_set", "entity", "invoice")
            .first()
        )
        if cart is None:
            raise Http404("No such order.")
        return cart


def member_panel_context(cart: Cart, **extra) -> dict:
    totals = services.cart_totals(cart)
    offered = services.opencredit_in_set(cart.method_set)
    refusal = services.credit_refusal(cart) if cart.status == Cart.Status.OPEN else None
    credits = list(CartCredit.objects.filter(cart=cart).select_related("credit_invoice", "credit_invoice__bill_to"))
    available = services.available_credit_rows(cart) if offered else []
    unapplied = sum((amt for _, amt, used in available if not used), ZERO)
    entries = services.remainder_methods(cart.method_set)
    element, saved = card_context(cart, entries, totals.balance if totals.balance > 0 else None)
    context = {
        "cart": cart,
        "lines": CartLine.objects.filter(cart=cart).select_related("product"),
        "totals": totals,
        "credits": credits,
        "available": available,
        "available_totals": services.credit_totals(available),
        "credit_offered": offered,
        "can_apply": offered and refusal is None and unapplied > 0 and totals.balance > 0,
        "credit_refusal": refusal if offered else None,
        "add_form": AddProductForm(cart=cart),
        "submit_form": CartSubmitForm(entries=entries, saved_cards=saved),
        "card_element": element,
        "saved_cards": saved,
        "has_card_methods": any(e.method.type in services.CARD_TYPES for e in entries),
        "is_open": cart.status == Cart.Status.OPEN,
        "is_charging": cart.status == Cart.Status.CHARGING,
    }
    context.update(extra)
    return context


class MemberHomeView(MemberMixin, TemplateView):
    """The member's checkout: their order, their open invoices, recent orders."""

    template_name = "paycentral/member/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        cart = self.member_cart()
        contact = self.member.contact
        context.update(member_panel_context(cart))
        context.update(
            member=self.member,
            open_invoices=Invoice.objects.filter(bill_to=contact, balance__gt=0).order_by("date")[:20],
            recent_orders=Cart.objects.filter(user=self.request.user, status=Cart.Status.SUBMITTED)
            .select_related("invoice")
            .order_by("-submitted_at")[:5],
        )
        return context


class MemberActionView(MemberMixin, View):
    http_method_names = ["post"]

    def act(self, request, cart: Cart) -> str:
        raise NotImplementedError

    def post(self, request, *args, **kwargs):
        cart = self.get_cart()
        try:
            notice = self.act(request, cart)
        except FinanceError as exc:
            return self.answer(request, cart, error=str(exc))
        return self.answer(request, cart, notice=notice)

    def answer(self, request, cart: Cart, **extra):
        cart.refresh_from_db()
        if cart.status == Cart.Status.SUBMITTED:
            messages.success(request, extra.get("notice", "Order placed."))
            url = reverse("member:receipt", args=[cart.pk])
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = url
                return response
            return redirect(url)
        if request.htmx:
            return render(request, "paycentral/member/_panel.html", member_panel_context(cart, **extra))
        if "error" in extra:
            messages.error(request, extra["error"])
        elif extra.get("notice"):
            messages.success(request, extra["notice"])
        return redirect("member:home")


class MemberAddProductView(MemberActionView):
    def act(self, request, cart):
        form = AddProductForm(request.POST, cart=cart)
        if not form.is_valid():
            raise services.CartError("Choose a product and a quantity.")
        line = services.cart_add_product(
            cart=cart, product=form.cleaned_data["product"], quantity=form.cleaned_data["quantity"]
        )
        return f"Added {line.product.name}."


class MemberRemoveLineView(MemberActionView):
    def act(self, request, cart):
        line = CartLine.objects.filter(cart=cart, pk=self.kwargs["line_pk"]).select_related("product").first()
        if line is None:
            raise services.CartError("That item is no longer in your order.")
        services.cart_remove_line(cart=cart, line=line)
        return f"Removed {line.product.name}."


class MemberApplyCreditView(MemberActionView):
    def act(self, request, cart):
        created = services.cart_apply_own_credit(user=request.user, cart=cart)
        total = sum((cc.amount for cc in created), ZERO)
        return f"Applied {total:,.2f} of your open credit."


class MemberRemoveCreditView(MemberActionView):
    def act(self, request, cart):
        services.cart_remove_credit(cart=cart)
        return "Removed the applied credit."


class MemberPayView(MemberActionView):
    """Pay the balance by card (or place the order when credit covers it)."""

    def act(self, request, cart):
        totals = services.cart_totals(cart)
        if totals.balance <= 0:
            submitted = services.cart_submit(user=request.user, cart=cart)
        else:
            entries = services.remainder_methods(cart.method_set)
            _element, saved = card_context(cart, entries, None)
            form = CartSubmitForm(request.POST, entries=entries, saved_cards=saved)
            if not form.is_valid():
                errors = "; ".join(e for errs in form.errors.values() for e in errs)
                raise services.CartError(errors or "Choose how to pay.")
            method = form.cleaned_data["method"]
            if method is None or method.type not in services.CARD_TYPES:
                raise services.CartError("Pay by card.")
            card_token, save_card = card_to_charge(cart, method, form.cleaned_data)
            submitted = checkout.cart_pay_by_card(
                user=request.user, cart=cart, method=method, card_token=card_token, save_card=save_card
            )
        return f"Thank you: order {submitted.invoice.number} is paid."


class MemberChargeResumeView(MemberActionView):
    def act(self, request, cart):
        submitted = checkout.cart_charge_resume(user=request.user, cart=cart)
        return f"Thank you: order {submitted.invoice.number} is paid."


class MemberReceiptView(MemberMixin, TemplateView):
    template_name = "paycentral/member/receipt.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        cart = self.get_cart()
        if cart.status != Cart.Status.SUBMITTED:
            raise Http404("This order is not placed yet.")
        context.update(
            cart=cart,
            invoice=cart.invoice,
            lines=cart.invoice.lines.select_related("product").order_by("line_number"),
            credits=CartCredit.objects.filter(cart=cart).select_related("credit_invoice"),
        )
        return context
