"""The staff cart pages. Views parse input and call ``checkout.services.cart``.

Every action is a POST that answers an htmx request with the re-rendered cart panel
(``#cart-panel``) and a plain request with a redirect to the cart page.
"""

from decimal import Decimal

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from checkout.forms import AddProductForm, CartStartForm, CartSubmitForm, CreditSearchForm, PrepaymentForm
from checkout.models import Cart, CartCredit, CartLine
from checkout.services import cart as services
from checkout.services import checkout
from core.authorization import APPLY_OTHER_CREDIT, USE_CART, ModuleLevelRequiredMixin, has_level, require_level
from finance.errors import FinanceError
from finance.models import FinanceSettings, FinancialEntity, Invoice, SavedCard
from finance.money import ZERO
from finance.services.cards import card_element, saved_card_for
from finance.services.credits import credit_available

SEARCH_LIMIT = 50


class CartAccessMixin(ModuleLevelRequiredMixin):
    """The cart needs Orders ≥ 2; a user sees only their own carts (superusers all)."""

    required_level = USE_CART

    def get_cart(self) -> Cart:
        carts = Cart.objects.select_related("contact", "contact__company", "method_set", "entity", "invoice")
        if not self.request.user.is_superuser:
            carts = carts.filter(user=self.request.user)
        try:
            return carts.get(pk=self.kwargs["pk"])
        except Cart.DoesNotExist as exc:
            raise Http404("No such cart.") from exc


def _search(cart: Cart, form: CreditSearchForm):
    if not form.is_valid():
        return []
    data = form.cleaned_data
    applied = set(cart.credits.values_list("credit_invoice_id", flat=True))
    rows = services.search_credits(
        entity=cart.entity, query=data["q"], date_from=data["date_from"], date_to=data["date_to"]
    )[:SEARCH_LIMIT]
    return [(inv, credit_available(inv), inv.pk in applied) for inv in rows]


def card_context(cart: Cart, entries, amount) -> tuple[dict | None, list[SavedCard]]:
    """The card form's settings for the set's card methods, and the bill-to's cards
    saved through their gateway."""
    currency = cart.entity.currency if cart.entity_id else ""
    element = card_element([e.method for e in entries], amount=amount or None, currency=currency)
    if element is None:
        return None, []
    saved = list(SavedCard.objects.filter(contact=cart.contact, gateway_account_id=element["gateway_id"]))
    return element, saved


def card_to_charge(cart: Cart, method, data) -> tuple[str, bool]:
    """(payment method id to charge, whether to save it): a saved card of the bill-to
    picked in the form, or the one the card form made."""
    if data.get("saved_card"):
        card = saved_card_for(contact=cart.contact, gateway_account=method.gateway_account, card_id=data["saved_card"])
        return card.processor_id, False
    return data["card_token"], bool(data.get("save_card"))


def panel_context(request, cart: Cart, **extra) -> dict:
    """Everything the cart panel shows."""
    totals = services.cart_totals(cart)
    refusal = services.credit_refusal(cart) if cart.status == Cart.Status.OPEN else None
    offered = services.opencredit_in_set(cart.method_set)
    credits = list(
        CartCredit.objects.filter(cart=cart).select_related("credit_invoice", "credit_invoice__bill_to", "applied_by")
    )
    available = services.available_credit_rows(cart)
    unapplied_available = sum((amt for _, amt, used in available if not used), ZERO)
    entries = services.remainder_methods(cart.method_set)
    element, saved = card_context(cart, entries, totals.balance if totals.balance > 0 else cart.prepayment)
    context = {
        "cart": cart,
        "lines": CartLine.objects.filter(cart=cart).select_related("product"),
        "totals": totals,
        "credits": credits,
        "available": available,
        "available_totals": services.credit_totals(available),
        "credit_offered": offered,
        "credit_refusal": refusal,
        "can_apply_own": refusal is None and unapplied_available > 0 and totals.balance > 0,
        "can_apply_other": has_level(request.user, *APPLY_OTHER_CREDIT),
        "add_form": AddProductForm(cart=cart),
        "submit_form": CartSubmitForm(entries=entries, user=request.user, saved_cards=saved),
        "card_element": element,
        "saved_cards": saved,
        "has_remainder_methods": bool(entries),
        "has_card_methods": any(e.method.type in services.CARD_TYPES for e in entries),
        "is_open": cart.status == Cart.Status.OPEN,
        "is_charging": cart.status == Cart.Status.CHARGING,
        "prepayment_allowed": FinanceSettings.load().allow_prepayments,
        "prepayment_form": PrepaymentForm(
            initial={
                "amount": cart.prepayment,
                "entity": cart.entity_id or FinancialEntity.objects.order_by("pk").first(),
            }
        ),
    }
    context.update(extra)
    return context


class CartHomeView(CartAccessMixin, TemplateView):
    """The user's open carts and a form to start one for a contact."""

    template_name = "paycentral/cart/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        initial = {"contact": self.request.GET.get("contact", "")}
        form = kwargs.get("form") or CartStartForm(initial=initial)
        contact = None
        if initial["contact"] and "form" not in kwargs:
            probe = CartStartForm({"contact": initial["contact"]})
            contact = probe.cleaned_data["contact"] if probe.is_valid() else None
        carts = Cart.objects.filter(user=self.request.user).select_related("contact", "invoice")
        context.update(
            form=form,
            contact=contact,
            open_carts=carts.filter(status=Cart.Status.OPEN),
            recent_carts=carts.filter(status=Cart.Status.SUBMITTED).order_by("-submitted_at")[:10],
        )
        return context


class CartStartView(CartAccessMixin, View):
    """POST a party id: opens (or reopens) the user's cart for that contact."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        form = CartStartForm(request.POST)
        if not form.is_valid():
            view = CartHomeView(request=request, kwargs={}, args=())
            return render(request, CartHomeView.template_name, view.get_context_data(form=form))
        try:
            cart = services.cart_start(user=request.user, contact=form.cleaned_data["contact"])
        except FinanceError as exc:
            messages.error(request, str(exc))
            return redirect("cart:home")
        return redirect("cart:detail", pk=cart.pk)


class CartDetailView(CartAccessMixin, TemplateView):
    template_name = "paycentral/cart/detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        cart = self.get_cart()
        context.update(panel_context(self.request, cart))
        if context["can_apply_other"] and cart.status == Cart.Status.OPEN:
            form = CreditSearchForm(self.request.GET or None)
            context.update(search_form=form, search_results=_search(cart, form) if self.request.GET else None)
        return context


class CreditSearchView(CartAccessMixin, View):
    """Apply other credit, step one: search any contact's open credits (Orders ≥ 4).
    htmx gets the results table; a plain request the cart page with the results."""

    def get(self, request, *args, **kwargs):
        require_level(request.user, *APPLY_OTHER_CREDIT)
        cart = self.get_cart()
        if not request.htmx:
            return redirect(reverse("cart:detail", args=[cart.pk]) + "?" + request.GET.urlencode())
        form = CreditSearchForm(request.GET)
        return render(
            request,
            "paycentral/cart/_credit_results.html",
            {"cart": cart, "search_form": form, "search_results": _search(cart, form), **panel_context(request, cart)},
        )


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


class CartActionView(CartAccessMixin, View):
    """Base of the cart's POST actions: ``act`` calls one service and returns a message."""

    http_method_names = ["post"]
    action_level: tuple[str, int] | None = None

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and self.action_level is not None:
            require_level(request.user, *self.action_level)
        return super().dispatch(request, *args, **kwargs)

    def act(self, request, cart: Cart) -> str:
        raise NotImplementedError

    def done(self, request, cart: Cart, notice: str):
        """Answer after success: the panel (htmx) or a redirect to the cart page."""
        if request.htmx:
            return self.panel(request, cart, notice=notice)
        messages.success(request, notice)
        return redirect("cart:detail", pk=cart.pk)

    def panel(self, request, cart: Cart, **extra):
        cart.refresh_from_db()
        return render(request, "paycentral/cart/_panel.html", panel_context(request, cart, **extra))

    def post(self, request, *args, **kwargs):
        cart = self.get_cart()
        try:
            notice = self.act(request, cart)
        except FinanceError as exc:
            if request.htmx:
                return self.panel(request, cart, error=str(exc))
            messages.error(request, str(exc))
            return redirect("cart:detail", pk=cart.pk)
        return self.done(request, cart, notice)


class AddProductView(CartActionView):
    def act(self, request, cart):
        form = AddProductForm(request.POST, cart=cart)
        if not form.is_valid():
            errors = "; ".join(e for errs in form.errors.values() for e in errs)
            raise services.CartError(f"Could not add the product: {errors}")
        line = services.cart_add_product(
            cart=cart, product=form.cleaned_data["product"], quantity=form.cleaned_data["quantity"]
        )
        return f"Added {line.product.name}."


class RemoveLineView(CartActionView):
    def act(self, request, cart):
        line = CartLine.objects.filter(cart=cart, pk=self.kwargs["line_pk"]).select_related("product").first()
        if line is None:
            raise services.CartError("That line is no longer in the cart.")
        services.cart_remove_line(cart=cart, line=line)
        return f"Removed {line.product.name}."


def _applied_message(created) -> str:
    total = sum((cc.amount for cc in created), ZERO)
    invoices = ", ".join(f"{cc.credit_invoice.number} ({cc.credit_invoice.bill_to.name})" for cc in created)
    return f"Applied {_money(total)} of open credit from invoice{'s' if len(created) > 1 else ''} {invoices}."


class ApplyOwnCreditView(CartActionView):
    def act(self, request, cart):
        return _applied_message(services.cart_apply_own_credit(user=request.user, cart=cart))


class ApplyOtherCreditView(CartActionView):
    """Apply other credit, step two: the ticked credit invoices (Orders ≥ 4, else 403)."""

    action_level = APPLY_OTHER_CREDIT

    def act(self, request, cart):
        ids = [int(v) for v in request.POST.getlist("credit") if v.isdigit()]
        invoices = list(Invoice.objects.filter(pk__in=ids))
        created = services.cart_apply_other_credit(user=request.user, cart=cart, credit_invoices=invoices)
        if not created:
            return "The ticked credit is already applied to this cart; it keeps its amount."
        notice = _applied_message(created)
        used = {cc.credit_invoice_id for cc in CartCredit.objects.filter(cart=cart)}
        left = [inv.number for inv in invoices if inv.pk not in used]
        if left:
            notice += f" The cart total is met: invoice{'s' if len(left) > 1 else ''} {', '.join(left)} not used."
        return notice

    def done(self, request, cart, notice):
        if request.htmx:  # the search results are stale now: replace them too (out of band)
            return self.panel(request, cart, notice=notice, search_done=True)
        return super().done(request, cart, notice)


class RemoveCreditView(CartActionView):
    """Remove one applied credit (``credit`` in the form) or all of them."""

    def act(self, request, cart):
        credit_id = request.POST.get("credit", "")
        if credit_id:
            credit = CartCredit.objects.filter(cart=cart, pk=credit_id if credit_id.isdigit() else 0).first()
            if credit is None:
                raise services.CartError("That credit is no longer applied to this cart.")
            services.cart_remove_credit(cart=cart, credit=credit)
            return f"Removed the credit of invoice {credit.credit_invoice.number}; the rest was recalculated."
        services.cart_remove_credit(cart=cart)
        return "Removed all applied credit."


def _submitted_message(cart: Cart) -> str:
    invoice = cart.invoice
    if invoice.type == Invoice.Type.CREDIT:
        return (
            f"Prepayment of {_money(cart.payment.amount)} received: open credit invoice {invoice.number} "
            f"in batch {invoice.batch.number}."
        )
    paid = f" Card charge {cart.charge_id}." if cart.charge_id else ""
    return (
        f"Order submitted: invoice {invoice.number} for {_money(invoice.total)} in batch {invoice.batch.number}.{paid}"
    )


class SubmitView(CartActionView):
    def act(self, request, cart):
        entries = services.remainder_methods(cart.method_set)
        _element, saved = card_context(cart, entries, None)
        form = CartSubmitForm(request.POST, entries=entries, user=request.user, saved_cards=saved)
        if not form.is_valid():
            errors = "; ".join(e for errs in form.errors.values() for e in errs)
            raise services.CartError(errors or "Choose a payment method from the list.")
        method = form.cleaned_data["method"]
        totals = services.cart_totals(cart)
        pays_by_card = method is not None and method.type in services.CARD_TYPES
        if pays_by_card and (totals.balance > 0 or cart.prepayment):
            card_token, save_card = card_to_charge(cart, method, form.cleaned_data)
            self.submitted = checkout.cart_pay_by_card(
                user=request.user,
                cart=cart,
                method=method,
                card_token=card_token,
                batch=form.cleaned_data["batch"],
                save_card=save_card,
            )
        else:
            self.submitted = services.cart_submit(
                user=request.user,
                cart=cart,
                method=method if (totals.balance > 0 or cart.prepayment) else None,
                reference=form.cleaned_data["reference"],
                batch=form.cleaned_data["batch"],
            )
        return _submitted_message(self.submitted)

    def done(self, request, cart, notice):
        messages.success(request, notice)
        url = reverse("finance:invoice_detail", args=[self.submitted.invoice_id])
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)


class CancelView(CartActionView):
    def act(self, request, cart):
        services.cart_cancel(cart=cart)
        return "Order cancelled."

    def done(self, request, cart, notice):
        messages.info(request, notice)
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse("cart:home")
            return response
        return redirect("cart:home")


class PrepaymentView(CartActionView):
    """Enter (or, with ``clear``, remove) a prepayment in an empty cart."""

    def act(self, request, cart):
        if request.POST.get("clear"):
            services.cart_set_prepayment(cart=cart, amount=None)
            return "Prepayment removed."
        form = PrepaymentForm(request.POST)
        if not form.is_valid():
            errors = "; ".join(e for errs in form.errors.values() for e in errs)
            raise services.CartError(f"Could not enter the prepayment: {errors}")
        services.cart_set_prepayment(cart=cart, amount=form.cleaned_data["amount"], entity=form.cleaned_data["entity"])
        return f"Prepayment of {_money(form.cleaned_data['amount'])} entered; choose how it is paid and submit."


class ChargeResumeView(SubmitView):
    """Ask the processor again about a held card charge (same idempotency key)."""

    def act(self, request, cart):
        self.submitted = checkout.cart_charge_resume(user=request.user, cart=cart)
        return _submitted_message(self.submitted)
