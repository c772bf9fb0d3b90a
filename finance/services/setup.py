"""Settings of the ledger that finance staff keep in the staff UI: payment methods, the
payment method sets that offer them, and GL accounts.

Each function is one transaction that locks the row it changes, validates the row
(``full_clean``: the model's constraints, with friendly messages) and saves it. The
audit trail records every change (database triggers, ``audit.triggers``): who, when,
before and after. Codes are kept once a row exists: payments, journal lines and
exported files name them.
"""

from django.db import transaction
from django.db.models import Q

from finance.errors import FinanceError
from finance.models import GLAccount, PaymentMethod, PaymentMethodSet, PaymentMethodSetEntry, Product


class SettingRefused(FinanceError):
    """A change to a setting that the ledger cannot take."""


@transaction.atomic
def payment_method_save(
    *,
    method: PaymentMethod | None = None,
    code: str = "",
    name: str,
    type: str,
    cash_account: GLAccount | None,
    gateway_account=None,
    is_active: bool = True,
) -> PaymentMethod:
    """Create a payment method (``method`` None, with ``code``) or change one (its code
    stays). Every method but open credit debits a cash account (an asset account of the
    ledger); card and ACH methods may charge through a gateway account."""
    if method is None:
        method = PaymentMethod(code=code.strip().upper())
    else:
        method = PaymentMethod.objects.select_for_update().get(pk=method.pk)
    if cash_account is not None and cash_account.type != GLAccount.Type.ASSET:
        raise SettingRefused(f"The cash account of a payment method must be an asset account, not {cash_account}.")
    method.name = name
    method.type = type
    method.cash_account = None if type == PaymentMethod.Type.OPEN_CREDIT else cash_account
    method.gateway_account = gateway_account
    method.is_active = is_active
    method.full_clean()
    method.save()
    return method


@transaction.atomic
def payment_method_set_save(
    *, method_set: PaymentMethodSet, name: str, description: str, entries: list[tuple[PaymentMethod, str]]
) -> PaymentMethodSet:
    """Change a payment method set: its name and description, and the methods it offers
    in order, each with the name shown for it ("" for the method's own name). Entries of
    methods left out are removed; those kept keep their rows (and their history)."""
    method_set = PaymentMethodSet.objects.select_for_update().get(pk=method_set.pk)
    if not entries:
        raise SettingRefused(f"Payment method set {method_set.name} must offer at least one method.")
    if len({method.pk for method, _ in entries}) != len(entries):
        raise SettingRefused("A payment method can be offered once in a set.")
    method_set.name = name
    method_set.description = description
    method_set.full_clean()
    method_set.save()
    existing = {entry.method_id: entry for entry in method_set.entries.select_for_update().order_by("pk")}
    wanted = {method.pk for method, _ in entries}
    method_set.entries.exclude(method_id__in=wanted).delete()
    for position, (method, display_name) in enumerate(entries, start=1):
        entry = existing.get(method.pk)
        if entry is None:
            PaymentMethodSetEntry.objects.create(
                method_set=method_set, method=method, position=position, display_name=display_name
            )
        elif entry.position != position or entry.display_name != display_name:
            entry.position = position
            entry.display_name = display_name
            entry.save(update_fields=["position", "display_name"])
    return method_set


@transaction.atomic
def gl_account_save(
    *,
    account: GLAccount | None = None,
    entity=None,
    code: str = "",
    name: str,
    type: str,
    role: str,
    is_active: bool = True,
) -> GLAccount:
    """Create a GL account (``account`` None, in ``entity`` with ``code``) or change one
    (its entity and code stay). An account that an active payment method debits or an
    active product credits stays active."""
    if account is None:
        account = GLAccount(entity=entity, code=code.strip())
    else:
        account = GLAccount.objects.select_for_update().get(pk=account.pk)
        if not is_active and account.is_active:
            users = [
                *(str(m) for m in PaymentMethod.objects.filter(cash_account=account, is_active=True)),
                *(
                    str(product)
                    for product in Product.objects.filter(
                        Q(income_account=account) | Q(deferred_income_account=account), is_active=True
                    )
                ),
            ]
            if users:
                raise SettingRefused(
                    f"{account.code} {account.name} is in use by {', '.join(users[:5])}: it stays active."
                )
    account.name = name
    account.type = type
    account.role = role
    account.is_active = is_active
    account.full_clean()
    account.save()
    return account
