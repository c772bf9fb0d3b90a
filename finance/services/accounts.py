"""Looking up the GL accounts a posting rule needs."""

from finance.errors import LedgerMisconfigured
from finance.models import FinancialEntity, GLAccount


def account_for_role(entity: FinancialEntity, role: str) -> GLAccount:
    """The entity's active account with ``role`` (lowest code first)."""
    account = GLAccount.objects.filter(entity=entity, role=role, is_active=True).order_by("code").first()
    if account is None:
        raise LedgerMisconfigured(
            f"Financial entity {entity.code} has no active GL account with role '{GLAccount.Role(role).label}'."
        )
    return account


def cash_account_for(method, entity: FinancialEntity) -> GLAccount:
    """The cash account a payment method debits in ``entity``.

    The method names one cash account; in another entity the account with the same
    code is used, so one CASH method serves every entity with a matching chart.
    """
    if method.cash_account_id is None:
        raise LedgerMisconfigured(f"Payment method {method.code} has no cash account.")
    account = method.cash_account
    if account.entity_id == entity.pk:
        return account
    other = GLAccount.objects.filter(entity=entity, code=account.code, is_active=True).first()
    if other is None:
        raise LedgerMisconfigured(
            f"Payment method {method.code} debits {account.code}, which entity {entity.code} does not have."
        )
    return other
