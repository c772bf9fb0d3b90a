"""The staff cart: acting on behalf of a contact, applying open credit, submitting.

Rules kept here (DESIGN §5.1):

- A cart belongs to the staff user taking the order and the contact it acts on behalf
  of (the bill-to); one open cart per user and contact. It offers the payment methods
  of one method set: "Staff" for staff, "Public" for a member checkout.
- A cart's products belong to one financial entity (set by the first product); open
  credit is used only within that entity. Before the first product the cart shows the
  contact's open credit in every entity (it can be applied once a product is added).
- Credit is offered only when the OPENCREDIT method (type "open credit") is active and
  in the cart's method set, the cart has products, and no product is recurring. A
  recurring product cannot be added while credit is applied.
- Apply (own credit): the open credits of the bill-to contact and, for a company
  member, of the company, oldest invoice date first, each up to what it holds, until
  the cart total is met. A credit invoice already applied to the cart keeps its amount.
- Apply other credit (Orders ≥ 4): the ticked credit invoices of any contact, oldest
  invoice date first, until the cart total is met; one already applied keeps its
  amount; once the total is met nothing more can be applied.
- Remove one credit: the rest are recalculated in the listed order (each up to what it
  holds) until the cart total is met. Remove with no credit given removes them all.
  Removing a product trims the credits in the listed order to the new total.
- The credit applied never exceeds the cart total nor any credit's available amount.
- Submit, in one transaction and one batch (the batch picked on submit; else the
  user's current batch when it is open; else the day's open "Cart orders" batch,
  opened when there is none): the invoice (source cart), one OPENCREDIT payment per
  applied credit invoice paying the invoice's lines oldest line first, and the rest
  paid by another method of the cart's set (cash or check) applied to the remaining
  line balances. A credit used elsewhere since it was applied (a stale cart) refuses
  the submit, naming the credit invoice; nothing is written.
- Every service locks the cart row first, so concurrent requests on one cart queue.
"""

import zlib
from dataclasses import dataclass
from datetime import date as Date
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q, Sum
from django.utils import timezone

from checkout.models import Cart, CartCredit, CartLine
from core.authorization import APPLY_OTHER_CREDIT, require_level
from finance.errors import FinanceError
from finance.models import (
    Batch,
    Contact,
    CurrentBatch,
    FinanceSettings,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentMethod,
    PaymentMethodSet,
    Product,
)
from finance.money import ZERO, quantize
from finance.services.batches import batch_create
from finance.services.credits import InsufficientCredit, credit_apply, credit_available, credit_holders_for
from finance.services.invoices import LineSpec, invoice_create
from finance.services.payments import ApplicationSpec, payment_receive

STAFF_SET = "Staff"
PUBLIC_SET = "Public"
CART_BATCH_DESCRIPTION = "Cart orders"
# Methods the remainder can be paid with on submit; cards are charged through the
# method's gateway account (checkout.services.checkout).
CARD_TYPES = (PaymentMethod.Type.CREDIT_CARD,)
REMAINDER_TYPES = (PaymentMethod.Type.CASH, PaymentMethod.Type.CHECK, *CARD_TYPES)


class CartError(FinanceError):
    """A cart rule refused the operation; nothing was changed."""


class CreditNotOffered(CartError):
    """Open credit cannot be used on this cart (no OPENCREDIT in the set, recurring item…)."""


class CartTotalMet(CartError):
    """The credit applied already covers the cart total."""


class StaleCart(CartError):
    """A credit applied to the cart has been used elsewhere since."""


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CartTotals:
    total: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        return self.total - self.credit


def cart_totals(cart: Cart) -> CartTotals:
    total = CartLine.objects.filter(cart=cart).aggregate(s=Sum("amount"))["s"] or ZERO
    credit = CartCredit.objects.filter(cart=cart).aggregate(s=Sum("amount"))["s"] or ZERO
    return CartTotals(quantize(total), quantize(credit))


def opencredit_in_set(method_set: PaymentMethodSet) -> bool:
    return method_set.entries.filter(method__type=PaymentMethod.Type.OPEN_CREDIT, method__is_active=True).exists()


def credit_refusal(cart: Cart) -> str | None:
    """Why open credit cannot be applied to ``cart`` now, or None when it can."""
    if cart.status not in (Cart.Status.OPEN, Cart.Status.CHARGING):  # charging: checked again on finish
        return f"This cart is {cart.get_status_display().lower()}; it cannot change."
    if not opencredit_in_set(cart.method_set):
        return f"Open credit is not offered here: the OPENCREDIT method is not in the {cart.method_set.name} set."
    recurring = CartLine.objects.filter(cart=cart, product__is_recurring=True).select_related("product").first()
    if recurring is not None:
        return (
            f"Open credit cannot be applied while a recurring item ({recurring.product.name}) is in the cart; "
            "remove it first."
        )
    if not CartLine.objects.filter(cart=cart).exists():
        return "Add a product before applying open credit."
    return None


def own_credit_holders(cart: Cart) -> list[Contact]:
    """The bill-to contact and, for a company member, the company."""
    return credit_holders_for(cart.contact)


def available_credits(cart: Cart):
    """Open credits of the bill-to contact (and its company) in the cart's entity, oldest
    first; in every entity while the cart has none (no product yet)."""
    qs = Invoice.objects.filter(bill_to__in=own_credit_holders(cart), balance__lt=0)
    if cart.entity_id:
        qs = qs.filter(entity_id=cart.entity_id)
    return qs.select_related("bill_to", "entity").order_by("date", "pk")


def available_credit_rows(cart: Cart) -> list[tuple[Invoice, Decimal, bool]]:
    """What the cart shows of the own credit: (credit invoice, amount it holds, applied to
    this cart) for each of ``available_credits``. Shown from the start: an empty cart
    lists the contact's credit in every entity, a cart with products that of its entity."""
    applied = set(CartCredit.objects.filter(cart=cart).values_list("credit_invoice_id", flat=True))
    return [(inv, credit_available(inv), inv.pk in applied) for inv in available_credits(cart)]


def credit_totals(rows) -> list[tuple[str, Decimal]]:
    """The amounts of ``available_credit_rows`` added up per currency, by currency code."""
    totals: dict[str, Decimal] = {}
    for inv, amount, _ in rows:
        totals[inv.currency] = totals.get(inv.currency, ZERO) + amount
    return sorted(totals.items())


def search_credits(*, entity=None, query: str = "", date_from: Date | None = None, date_to: Date | None = None):
    """Open credit invoices of any contact: by name or party id, invoice date range."""
    qs = Invoice.objects.filter(balance__lt=0).select_related("bill_to", "entity")
    if entity is not None:
        qs = qs.filter(entity=entity)
    query = (query or "").strip()
    if query:
        qs = qs.filter(Q(bill_to__party_id=query) | Q(bill_to__name__icontains=query) | Q(number=query))
    if date_from:
        qs = qs.filter(date__gte=date_from)
    if date_to:
        qs = qs.filter(date__lte=date_to)
    return qs.order_by("date", "pk")


# --- helpers ----------------------------------------------------------------------------


def _lock(cart: Cart) -> Cart:
    """Lock and re-read the cart; refuse unless open."""
    cart = (
        Cart.objects.select_for_update(of=("self",)).select_related("contact", "method_set", "entity").get(pk=cart.pk)
    )
    if cart.status != Cart.Status.OPEN:
        raise CartError(f"This cart is {cart.get_status_display().lower()}; it cannot change.")
    return cart


def _ensure_credit_offered(cart: Cart) -> None:
    reason = credit_refusal(cart)
    if reason:
        raise CreditNotOffered(reason)


def _next_credit_position(cart: Cart) -> int:
    return (CartCredit.objects.filter(cart=cart).aggregate(m=Max("position"))["m"] or 0) + 1


def _reallocate(cart: Cart, *, from_available: bool) -> None:
    """Walk the credits in the listed order until the cart total is met.

    ``from_available``: each takes up to what its invoice holds now (recalculation after
    a removal); otherwise each keeps at most its current amount (trim to a smaller total).
    Credits left with nothing are removed.
    """
    remaining = cart_totals(cart).total
    for cc in CartCredit.objects.filter(cart=cart).select_related("credit_invoice").order_by("position", "pk"):
        limit = credit_available(cc.credit_invoice) if from_available else cc.amount
        amount = min(limit, remaining)
        if amount <= 0:
            cc.delete()
            continue
        if amount != cc.amount:
            cc.amount = amount
            cc.save(update_fields=["amount"])
        remaining -= amount


def _apply_credits(cart: Cart, user, invoices: list[Invoice], *, is_other) -> list[CartCredit]:
    """Apply ``invoices`` oldest invoice date first until the cart total is met."""
    totals = cart_totals(cart)
    remaining = totals.balance
    applied_ids = set(CartCredit.objects.filter(cart=cart).values_list("credit_invoice_id", flat=True))
    position = _next_credit_position(cart)
    created = []
    for inv in sorted(invoices, key=lambda i: (i.date, i.pk)):
        if inv.pk in applied_ids:
            continue  # keeps its amount
        if remaining <= 0:
            break
        available = credit_available(inv)
        if available <= 0:
            continue
        amount = min(available, remaining)
        created.append(
            CartCredit.objects.create(
                cart=cart,
                credit_invoice=inv,
                amount=amount,
                position=position,
                applied_by=user,
                is_other=is_other(inv),
            )
        )
        position += 1
        remaining -= amount
    return created


# --- services ---------------------------------------------------------------------------


@transaction.atomic
def cart_start(*, user, contact: Contact, method_set_name: str = STAFF_SET) -> Cart:
    """Open a cart acting on behalf of ``contact``, or return the user's open one for it."""
    try:
        method_set = PaymentMethodSet.objects.get(name=method_set_name)
    except PaymentMethodSet.DoesNotExist:
        raise CartError(f"There is no payment method set named {method_set_name!r}.") from None
    cart = Cart.objects.filter(user=user, contact=contact, status=Cart.Status.OPEN).first()
    if cart is not None:
        return cart
    try:
        with transaction.atomic():
            return Cart.objects.create(user=user, contact=contact, method_set=method_set)
    except IntegrityError:  # the same user opened it a moment ago
        return Cart.objects.get(user=user, contact=contact, status=Cart.Status.OPEN)


@transaction.atomic
def cart_add_product(*, cart: Cart, product: Product, quantity=Decimal("1")) -> CartLine:
    """Add a product at its current price (adding it again raises the quantity).

    Refused: an inactive product, another financial entity than the cart's, a quantity
    not above zero, a recurring product while credit is applied.
    """
    cart = _lock(cart)
    try:
        quantity = Decimal(quantity)
    except (ArithmeticError, TypeError, ValueError):
        raise CartError(f"{quantity!r} is not a quantity.") from None
    if not quantity.is_finite() or quantity <= 0 or quantity != quantity.quantize(Decimal("0.01")):
        raise CartError("The quantity must be greater than zero (two decimal places at most).")
    if not product.is_active:
        raise CartError(f"Product {product.code} is not active.")
    if cart.entity_id and product.entity_id != cart.entity_id:
        raise CartError(
            f"Product {product.code} belongs to entity {product.entity.code}; this cart's products belong to "
            f"{cart.entity.code}. Take a separate order for it."
        )
    if product.is_recurring and CartCredit.objects.filter(cart=cart).exists():
        raise CreditNotOffered(
            f"{product.name} is a recurring item: no open credit can be applied with it. Remove the applied "
            "credit before adding it."
        )
    if not cart.entity_id:
        cart.entity = product.entity
        cart.save(update_fields=["entity"])
    line = CartLine.objects.filter(cart=cart, product=product).first()
    if line is None:
        position = (CartLine.objects.filter(cart=cart).aggregate(m=Max("position"))["m"] or 0) + 1
        line = CartLine(cart=cart, product=product, quantity=quantity, unit_price=product.price, position=position)
    else:
        line.quantity += quantity
    line.amount = quantize(line.quantity * line.unit_price)
    line.save()
    return line


@transaction.atomic
def cart_remove_line(*, cart: Cart, line: CartLine) -> Cart:
    """Remove a product line; the credits are trimmed in the listed order to the new
    total (all go when the cart is empty, and the cart forgets its entity)."""
    cart = _lock(cart)
    deleted, _ = CartLine.objects.filter(cart=cart, pk=line.pk).delete()
    if not deleted:
        raise CartError("That line is no longer in the cart.")
    if not CartLine.objects.filter(cart=cart).exists():
        CartCredit.objects.filter(cart=cart).delete()
        cart.entity = None
        cart.save(update_fields=["entity"])
    else:
        _reallocate(cart, from_available=False)
    return cart


@transaction.atomic
def cart_apply_own_credit(*, user, cart: Cart) -> list[CartCredit]:
    """Apply the bill-to contact's (and, for a company member, the company's) open
    credits oldest invoice date first until the cart total is met. Returns the new rows."""
    cart = _lock(cart)
    _ensure_credit_offered(cart)
    if cart_totals(cart).balance <= 0:
        raise CartTotalMet("The cart total is already met by the credit applied; no more credit can be applied.")
    credits = list(available_credits(cart))
    if not credits:
        holders = " or ".join(c.name for c in own_credit_holders(cart))
        raise CartError(f"{holders} has no open credit available in entity {cart.entity.code}.")
    created = _apply_credits(cart, user, credits, is_other=lambda inv: False)
    if not created:
        raise CartError("All available credit is already applied to this cart.")
    return created


@transaction.atomic
def cart_apply_other_credit(*, user, cart: Cart, credit_invoices) -> list[CartCredit]:
    """Apply ticked credit invoices of any contact (needs Orders ≥ 4, else PermissionDenied).

    Used oldest invoice date first until the cart total is met; one already applied to
    this cart keeps its amount; once the total is met nothing more can be applied.
    Returns the new rows.
    """
    require_level(user, *APPLY_OTHER_CREDIT)
    cart = _lock(cart)
    _ensure_credit_offered(cart)
    invoices = list(Invoice.objects.filter(pk__in=[i.pk for i in credit_invoices]).select_related("bill_to"))
    if not invoices:
        raise CartError("Tick at least one credit invoice to apply.")
    for inv in invoices:
        if inv.balance >= 0:
            raise CartError(f"Invoice {inv.number} holds no open credit.")
        if inv.entity_id != cart.entity_id:
            raise CartError(f"Credit invoice {inv.number} belongs to another financial entity than this cart.")
    applied = set(CartCredit.objects.filter(cart=cart).values_list("credit_invoice_id", flat=True))
    if cart_totals(cart).balance <= 0 and any(inv.pk not in applied for inv in invoices):
        raise CartTotalMet("The cart total is already met by the credit applied; no more credit can be applied.")
    own = {c.pk for c in own_credit_holders(cart)}
    return _apply_credits(cart, user, invoices, is_other=lambda inv: inv.bill_to_id not in own)


@transaction.atomic
def cart_remove_credit(*, cart: Cart, credit: CartCredit | None = None) -> Cart:
    """Remove one applied credit (the rest are recalculated in the listed order until
    the cart total is met), or all of them when ``credit`` is None."""
    cart = _lock(cart)
    if credit is None:
        CartCredit.objects.filter(cart=cart).delete()
        return cart
    deleted, _ = CartCredit.objects.filter(cart=cart, pk=credit.pk).delete()
    if not deleted:
        raise CartError("That credit is no longer applied to this cart.")
    _reallocate(cart, from_available=True)
    return cart


@transaction.atomic
def cart_cancel(*, cart: Cart) -> Cart:
    """Cancel an open cart (nothing was written to the ledger)."""
    cart = _lock(cart)
    cart.status = Cart.Status.CANCELLED
    cart.cancelled_at = timezone.now()
    cart.save(update_fields=["status", "cancelled_at"])
    return cart


def remainder_methods(method_set: PaymentMethodSet):
    """The set's methods that can pay the rest of a cart on submit, in the set's order."""
    return [
        e
        for e in method_set.ordered_entries()
        if e.method.is_active
        and e.method.type in REMAINDER_TYPES
        and e.method.cash_account_id
        and (e.method.type not in CARD_TYPES or e.method.gateway_account_id)
    ]


def order_batch(user, batch: Batch | None = None) -> Batch | None:
    """The batch a cart of ``user`` goes into when it is submitted: ``batch`` when one
    was picked, else the user's current batch when it is open; None leaves it to the
    day's "Cart orders" batch (``_cart_batch``)."""
    if batch is not None:
        return batch
    current = CurrentBatch.objects.select_related("batch").filter(user_id=getattr(user, "pk", None)).first()
    if current is not None and current.batch.accepts_transactions:
        return current.batch
    return None


def _cart_batch(date: Date, user) -> Batch:
    """The day's open "Cart orders" batch, opened when there is none.

    A transaction-scoped advisory lock makes concurrent submits share one batch instead
    of each opening its own.
    """
    key = zlib.crc32(f"cart-batch-{date.isoformat()}".encode()) & 0x7FFFFFFF
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
    batch = (
        Batch.objects.filter(status=Batch.Status.OPEN, date=date, description=CART_BATCH_DESCRIPTION)
        .order_by("pk")
        .first()
    )
    if batch is not None:
        return batch
    for attempt in range(5):
        try:
            with transaction.atomic():
                return batch_create(date=date, description=CART_BATCH_DESCRIPTION, user=user)
        except IntegrityError:  # another batch took the number meanwhile
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


@dataclass
class _SubmitPlan:
    cart: Cart
    date: Date
    lines: list[CartLine]
    credits: list[CartCredit]
    remainder: Decimal


def _plan_submit(cart: Cart, method: PaymentMethod | None, date) -> _SubmitPlan:
    """Check everything a submit needs (the cart is locked); raise before anything is written."""
    date = date or timezone.localdate()
    cart_lines = list(CartLine.objects.filter(cart=cart).select_related("product").order_by("position", "pk"))
    if not cart_lines:
        if cart.prepayment:
            return _plan_prepayment(cart, method, date)
        raise CartError("The cart is empty; add a product (or enter a prepayment) before submitting.")
    credits = list(CartCredit.objects.filter(cart=cart).select_related("credit_invoice").order_by("position", "pk"))
    if credits:
        _ensure_credit_offered(cart)
    totals = cart_totals(cart)
    if totals.credit > totals.total:
        raise CartError("More credit is applied than the cart total; remove a credit and apply again.")
    for cc in credits:
        available = credit_available(cc.credit_invoice)
        if available < cc.amount:
            raise _stale(cc, available)
    remainder = totals.balance
    if remainder > 0:
        _check_remainder_method(cart, method, remainder)
    return _SubmitPlan(cart, date, cart_lines, credits, remainder)


def _plan_prepayment(cart: Cart, method: PaymentMethod | None, date) -> _SubmitPlan:
    if not FinanceSettings.load().allow_prepayments:
        raise CartError("Prepayments are not allowed (finance settings); add a product instead.")
    if cart.entity_id is None:
        raise CartError("Choose the financial entity the prepayment is for.")
    _check_remainder_method(cart, method, cart.prepayment)
    return _SubmitPlan(cart, date, [], [], cart.prepayment)


def _check_remainder_method(cart: Cart, method: PaymentMethod | None, amount: Decimal) -> None:
    if method is None:
        raise CartError(f"Choose how the remaining {amount} is paid.")
    allowed = {e.method_id for e in remainder_methods(cart.method_set)}
    if method.pk not in allowed:
        raise CartError(f"{method.name} cannot pay a cart here: choose a method of the {cart.method_set.name} set.")
    if cart.entity_id and method.cash_account.entity_id != cart.entity_id:
        raise CartError(f"{method.name} deposits to another financial entity than this order's.")


def _stale(cc: CartCredit, available: Decimal) -> StaleCart:
    return StaleCart(
        f"Credit invoice {cc.credit_invoice.number} of {cc.credit_invoice.bill_to.name} no longer holds the "
        f"{cc.amount} applied to this cart (it holds {available} now): it has been used elsewhere. Remove it or "
        "apply again, then submit. Nothing was written."
    )


def _write_order(
    plan: _SubmitPlan,
    *,
    user,
    method: PaymentMethod | None,
    reference: str,
    processor_charge_id: str = "",
    batch: Batch | None = None,
) -> Cart:
    """Write the planned order in the current transaction: invoice, OPENCREDIT payments,
    remainder (or prepayment) payment, all in ``batch`` (None: the day's cart batch)."""
    cart, date = plan.cart, plan.date
    batch = batch or _cart_batch(date, user)
    if not plan.lines:  # a prepayment: the whole payment becomes the contact's open credit
        cart.payment = payment_receive(
            payer=cart.contact,
            method=method,
            amount=plan.remainder,
            date=date,
            batch=batch,
            applications=[],
            auto_apply=False,
            reference=reference,
            entity=cart.entity,
            source=Payment.Source.CART,
            credit_description=f"Prepayment (cart {cart.pk})",
            processor_charge_id=processor_charge_id,
            user=user,
        )
        return _mark_submitted(cart, _credit_invoice_of(cart.payment), batch)

    invoice = invoice_create(
        bill_to=cart.contact,
        entity=cart.entity,
        batch=batch,
        lines=[LineSpec(product=ln.product, quantity=ln.quantity, unit_price=ln.unit_price) for ln in plan.lines],
        date=date,
        source=Invoice.Source.CART,
        description=f"Cart {cart.pk}",
        user=user,
    )
    open_lines = {ln.pk: ln.balance for ln in InvoiceLine.objects.filter(invoice=invoice).order_by("line_number")}
    line_objs = {ln.pk: ln for ln in InvoiceLine.objects.filter(invoice=invoice)}

    def take(amount: Decimal) -> list[ApplicationSpec]:
        """Spread ``amount`` over the invoice's lines oldest line first."""
        specs = []
        for line_id, balance in open_lines.items():
            if amount <= 0:
                break
            part = min(balance, amount)
            if part > 0:
                specs.append(ApplicationSpec(line_objs[line_id], part))
                open_lines[line_id] = balance - part
                amount -= part
        return specs

    for cc in plan.credits:
        try:
            cc.payment = credit_apply(
                credit_invoice=cc.credit_invoice,
                applications=take(cc.amount),
                batch=batch,
                date=date,
                user=user,
                source=Payment.Source.CART,
            )
        except InsufficientCredit:
            cc.credit_invoice.refresh_from_db(fields=["balance"])
            raise _stale(cc, credit_available(cc.credit_invoice)) from None
        cc.save(update_fields=["payment"])
    if plan.remainder > 0:
        cart.payment = payment_receive(
            payer=cart.contact,
            method=method,
            amount=plan.remainder,
            date=date,
            batch=batch,
            applications=take(plan.remainder),
            auto_apply=False,
            reference=reference,
            entity=cart.entity,
            source=Payment.Source.CART,
            processor_charge_id=processor_charge_id,
            user=user,
        )
    invoice.refresh_from_db()
    return _mark_submitted(cart, invoice, batch)


def _credit_invoice_of(payment: Payment) -> Invoice:
    """The credit invoice holding a prepayment (the line the payment was applied to)."""
    line = InvoiceLine.objects.filter(applications__payment=payment).select_related("invoice").first()
    if line is None:
        raise CartError("The prepayment left no open credit; nothing was written.")
    return line.invoice


def _mark_submitted(cart: Cart, invoice: Invoice, batch: Batch) -> Cart:
    cart.status = Cart.Status.SUBMITTED
    cart.submitted_at = timezone.now()
    cart.invoice = invoice
    cart.batch = batch
    cart.charge_token = ""
    cart.save(update_fields=["status", "submitted_at", "invoice", "batch", "payment", "charge_token"])
    return cart


@transaction.atomic
def cart_set_prepayment(*, cart: Cart, amount, entity=None) -> Cart:
    """Enter (or clear, with ``amount`` None) a prepayment in an empty cart.

    Allowed only when the finance setting "allow staff to enter prepayments and
    overpayments" is on; on submit it becomes an open credit of the contact.
    """
    cart = _lock(cart)
    if amount is None:
        cart.prepayment = None
        cart.save(update_fields=["prepayment"])
        return cart
    if not FinanceSettings.load().allow_prepayments:
        raise CartError("Prepayments are not allowed (finance settings).")
    if CartLine.objects.filter(cart=cart).exists():
        raise CartError("A prepayment is entered in an empty cart; this cart has products.")
    try:
        amount = quantize(amount)
    except (ArithmeticError, TypeError, ValueError):
        raise CartError(f"{amount!r} is not an amount.") from None
    if amount <= 0:
        raise CartError("A prepayment must be greater than zero.")
    if entity is None and cart.entity_id is None:
        raise CartError("Choose the financial entity the prepayment is for.")
    cart.prepayment = amount
    if entity is not None:
        cart.entity = entity
    cart.save(update_fields=["prepayment", "entity"])
    return cart


@transaction.atomic
def cart_submit(
    *,
    user,
    cart: Cart,
    method: PaymentMethod | None = None,
    reference: str = "",
    date=None,
    batch: Batch | None = None,
) -> Cart:
    """Write the order: invoice, OPENCREDIT payments, remainder payment, in one batch
    (``batch`` when picked, else as ``order_batch`` finds it). A batch that is not open
    refuses the submit.

    Refused with nothing written: an empty or closed cart; credit applied where it is
    not offered (see ``credit_refusal``); a remainder without a method of the cart's
    set; a credit used elsewhere since it was applied (``StaleCart``). A remainder paid
    by card goes through ``checkout.services.checkout.cart_pay_by_card`` instead.
    """
    cart = _lock(cart)
    if method is not None and method.type in CARD_TYPES:
        raise CartError(f"{method.name} is charged through the processor: pay by card with a card token.")
    plan = _plan_submit(cart, method, date)
    return _write_order(plan, user=user, method=method, reference=reference, batch=order_batch(user, batch))
