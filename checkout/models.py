"""The staff cart and the member checkout: an order taken on behalf of a contact, paid
on submit, and the link between a member's sign-in and their contact.

The tables keep the names they were created with (``db_table``): the models moved here
from the project's first app with their rows.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Cart(models.Model):
    """A staff order taken on behalf of a contact (the bill-to), paid on submit.

    Open → Submitted (the invoice and its payments are written) or Open → Cancelled.
    Only an open cart changes; its lines and applied credits are changed by the
    services in ``checkout.services.cart`` under the cart's row lock.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        # The remainder is being charged to a card: the cart is frozen until the
        # processor's answer is recorded (submitted) or the charge failed (open again).
        CHARGING = "charging", "Card charge in progress"
        SUBMITTED = "submitted", "Submitted"
        CANCELLED = "cancelled", "Cancelled"

    TRANSITIONS = {
        Status.OPEN: {Status.SUBMITTED, Status.CANCELLED, Status.CHARGING},
        Status.CHARGING: {Status.SUBMITTED, Status.OPEN},
        Status.SUBMITTED: set(),
        Status.CANCELLED: set(),
    }

    # The staff user taking the order.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="carts")
    # Acting on behalf of: the bill-to contact of the invoice created on submit.
    contact = models.ForeignKey("finance.Contact", on_delete=models.PROTECT, related_name="carts")
    # The payment methods offered ("Staff" for staff, "Public" for a member checkout).
    method_set = models.ForeignKey("finance.PaymentMethodSet", on_delete=models.PROTECT, related_name="carts")
    # Set by the first product: a cart's lines and credits belong to one financial entity.
    entity = models.ForeignKey("finance.FinancialEntity", on_delete=models.PROTECT, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Written on submit: the invoice, the batch it went into and the remainder payment
    # (the batch is chosen when a card charge starts, and cleared if the charge fails).
    invoice = models.OneToOneField(
        "finance.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="cart"
    )
    batch = models.ForeignKey("finance.Batch", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    payment = models.ForeignKey("finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # A prepayment entered in an empty cart (when finance settings allow it): on submit
    # it becomes an open credit of the contact in ``entity``.
    prepayment = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # The card charge of the remainder, in two phases: the idempotency key and amount are
    # committed before the processor is called; the answer is recorded after.
    charge_method = models.ForeignKey(
        "finance.PaymentMethod", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    charge_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # The processor's single-use card token (never a card number), kept until the
    # charge's outcome is known so that a retry repeats the identical request.
    charge_token = models.CharField(max_length=100, blank=True)
    charge_key = models.CharField(max_length=64, blank=True)
    # The processor customer the charge names (the bill-to's, when the card is to be
    # kept; a saved card's own), and whether the processor keeps the card for it: fixed
    # when the charge starts, so that every resend is the identical request.
    charge_customer = models.CharField(max_length=200, blank=True)
    charge_save_card = models.BooleanField(default=False)
    charge_id = models.CharField(max_length=100, blank=True)
    charge_error = models.CharField(max_length=300, blank=True)

    class Meta:
        db_table = "paycentral_cart"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "contact"], condition=Q(status="open"), name="one_open_cart_per_user_contact"
            ),
            models.CheckConstraint(
                condition=~Q(status="submitted") | Q(invoice__isnull=False, submitted_at__isnull=False),
                name="cart_submitted_has_invoice",
            ),
            models.CheckConstraint(
                condition=~Q(status="charging")
                | (Q(charge_amount__gt=0, charge_method__isnull=False) & ~Q(charge_key="")),
                name="cart_charging_has_key_and_amount",
            ),
            models.CheckConstraint(
                condition=Q(prepayment__isnull=True) | Q(prepayment__gt=0), name="cart_prepayment_positive"
            ),
            models.UniqueConstraint(fields=["charge_key"], condition=~Q(charge_key=""), name="cart_charge_key_unique"),
            models.CheckConstraint(
                condition=Q(charge_save_card=False) | ~Q(charge_customer=""), name="cart_saved_card_has_customer"
            ),
        ]

    def __str__(self):
        return f"Cart {self.pk} for {self.contact}"


class CartLine(models.Model):
    """A product in a cart. ``amount`` = quantity × unit price, rounded half up."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("finance.Product", on_delete=models.PROTECT)
    quantity = models.DecimalField(max_digits=10, decimal_places=2, default=1)
    # The product's price when it was added.
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "paycentral_cartline"
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "product"], name="cart_product_once"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="cart_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="cart_line_price_not_negative"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="cart_line_amount_not_negative"),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.product.code}"


class CartCredit(models.Model):
    """Open credit (a credit invoice) applied to a cart, used on submit in ``position`` order."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="credits")
    credit_invoice = models.ForeignKey("finance.Invoice", on_delete=models.PROTECT, related_name="cart_credits")
    # Part of the credit invoice's open credit used on this cart (> 0).
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    position = models.PositiveSmallIntegerField(default=0)
    applied_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    applied_at = models.DateTimeField(auto_now_add=True)
    # Another contact's credit (neither the bill-to's nor its company's): Orders ≥ 4 applied it.
    is_other = models.BooleanField(default=False)
    # The OPENCREDIT payment written on submit.
    payment = models.ForeignKey("finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        db_table = "paycentral_cartcredit"
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "credit_invoice"], name="cart_credit_invoice_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="cart_credit_amount_positive"),
        ]

    def __str__(self):
        return f"{self.amount} of credit {self.credit_invoice.number} on cart {self.cart_id}"


class MemberAccount(models.Model):
    """A member's sign-in to the member checkout: the user acts as this contact only.

    Member users are not staff and hold no module levels, so every staff page answers
    them 403; the member pages (``/member/``) need this link.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member_account")
    contact = models.ForeignKey("finance.Contact", on_delete=models.PROTECT, related_name="member_accounts")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "paycentral_memberaccount"
        ordering = ["contact__name"]

    def __str__(self):
        return f"{self.user} → {self.contact}"
