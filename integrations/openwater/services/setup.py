"""The OpenWater integration's set-up: the integration record, Initialize, start and
stop, its discount product and open batch, and its programs' products.

Rules kept here:
- Credentials are stored encrypted (``EncryptedTextField``); pages show them masked.
- Initialize creates (or reuses) the payment method (type "other", in no payment
  method set, debiting the entity's cash account), the default product, the discount
  product ``OW_DISCOUNT`` (on the GL account staff choose, else the entity's income
  account) and sets the "do not send invoices dated before" date, which staff must
  give: there is no default. Only an initialized integration can be started.
- A program's own product is ``OW_<program code>`` with an income GL account. The
  mapping holds the product's id, so finance may edit the product freely.
"""

from datetime import date as Date

from django.db import transaction
from django.utils import timezone

from finance.models import Batch, FinancialEntity, GLAccount, PaymentMethod, Product
from finance.services.accounts import account_for_role
from finance.services.batches import batch_create
from integrations.openwater.client import OpenWaterBadResponse
from integrations.openwater.errors import PushbackError
from integrations.openwater.models import Integration, ProgramMapping

# -- the integration -------------------------------------------------------------------


@transaction.atomic
def integration_create(
    *, name: str, base_url: str, client_key: str, api_key: str, organization_code: str
) -> Integration:
    integration = Integration(
        name=name.strip(),
        base_url=base_url.strip().rstrip("/"),
        client_key=client_key.strip(),
        api_key=api_key.strip(),
        organization_code=organization_code.strip(),
    )
    integration.full_clean()
    integration.save()
    return integration


@transaction.atomic
def integration_update(*, integration: Integration, **fields) -> Integration:
    """Change the name, base URL, credentials (a blank secret keeps the stored one),
    or the advanced options (payment method name, skip date, sync mode, interval)."""
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    method_name = fields.pop("payment_method_name", None)
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise PushbackError(f"These cannot be changed here: {', '.join(sorted(unknown))}.")
    for key, value in fields.items():
        if key in ("client_key", "api_key") and not value:
            continue
        setattr(integration, key, value.strip() if isinstance(value, str) else value)
    integration.full_clean()
    integration.save()
    # Saved (not .update()) so that the payment method's and product's own audit trails
    # record the renames.
    if method_name and integration.payment_method_id:
        method = PaymentMethod.objects.select_for_update().get(pk=integration.payment_method_id)
        if method.name != method_name.strip()[:100]:
            method.name = method_name.strip()[:100]
            method.save(update_fields=["name"])
    if "default_product_name" in fields and integration.default_product_id:
        product = Product.objects.select_for_update().get(pk=integration.default_product_id)
        if product.name != integration.default_product_name:
            product.name = integration.default_product_name
            product.save(update_fields=["name"])
    return integration


UPDATABLE = {
    "name",
    "base_url",
    "client_key",
    "api_key",
    "organization_code",
    "default_product_name",
    "skip_before",
    "programs_sync_mode",
    "interval_minutes",
    "page_size",
}


def _income_account(entity: FinancialEntity) -> GLAccount:
    return account_for_role(entity, GLAccount.Role.INCOME)


@transaction.atomic
def integration_initialize(
    *,
    integration: Integration,
    entity: FinancialEntity | None = None,
    method_code: str = "OPENWATER",
    method_name: str = "OpenWater",
    default_product_name: str | None = None,
    skip_before: Date | None = None,
    discount_account: GLAccount | None = None,
) -> Integration:
    """Create the payment method, the default and discount products and set the skip
    date (see module doc). The skip date has no default: it must be given, unless the
    integration has one already."""
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    skip_before = skip_before or integration.skip_before
    if skip_before is None:
        raise PushbackError(
            "Give the date before which OpenWater invoices are not sent to Pay Central "
            "(“Do not send invoices dated before”); there is no default."
        )
    entity = entity or integration.entity or FinancialEntity.objects.order_by("pk").first()
    if entity is None:
        raise PushbackError("There is no financial entity; create one (with its chart of accounts) first.")
    if discount_account is not None and discount_account.entity_id != entity.pk:
        raise PushbackError(f"Discount account {discount_account.code} belongs to another financial entity.")
    cash = account_for_role(entity, GLAccount.Role.CASH)
    income = _income_account(entity)
    method, _ = PaymentMethod.objects.get_or_create(
        code=method_code.strip().upper(),
        defaults={"name": method_name, "type": PaymentMethod.Type.OTHER, "cash_account": cash},
    )
    if method.type == PaymentMethod.Type.OPEN_CREDIT:
        raise PushbackError(f"Payment method {method.code} is the open credit method; choose another code.")
    name = (default_product_name or integration.default_product_name).strip()
    product = integration.default_product
    if product is None:
        code = (
            "OW_DEFAULT" if not Product.objects.filter(code="OW_DEFAULT").exists() else f"OW_DEFAULT_{integration.pk}"
        )
        product = Product.objects.create(
            code=code,
            name=name,
            entity=entity,
            income_account=income,
            kind=Product.Kind.PROGRAM_FEE,
            description="OpenWater application fees of programs without their own product.",
        )
    elif product.name != name:
        Product.objects.filter(pk=product.pk).update(name=name)
    integration.entity = entity
    integration.payment_method = method
    integration.default_product = product
    integration.default_product_name = name
    integration.skip_before = skip_before
    integration.initialized_at = integration.initialized_at or timezone.now()
    integration.save()
    discount = discount_product_for(integration, account=discount_account)
    if discount_account is not None and discount.income_account_id != discount_account.pk:
        discount.income_account = discount_account  # saved: the product's audit trail records it
        discount.save(update_fields=["income_account"])
    return integration


def discount_product_for(integration: Integration, *, account: GLAccount | None = None) -> Product:
    """The integration's discount product, made when it has none: ``OW_DISCOUNT`` (or
    ``OW_DISCOUNT_<integration id>`` when that code is taken), kind Discount, on
    ``account`` or else the entity's income account. The caller holds the integration's
    row lock (Initialize, or the recording of its first discounted invoice)."""
    if integration.discount_product_id:
        return integration.discount_product
    entity = integration.entity
    code = "OW_DISCOUNT" if not Product.objects.filter(code="OW_DISCOUNT").exists() else f"OW_DISCOUNT_{integration.pk}"
    product = Product.objects.create(
        code=code,
        name="OpenWater discounts and coupons",
        category="OpenWater",
        entity=entity,
        income_account=account or _income_account(entity),
        kind=Product.Kind.DISCOUNT,
        description=(
            "Coupons, discounts and manual reductions of OpenWater invoices (their lines below zero). "
            "Its income account is where they are posted: a contra-income account."
        ),
    )
    integration.discount_product = product
    integration.save(update_fields=["discount_product"])
    return product


@transaction.atomic
def integration_start(*, integration: Integration) -> Integration:
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    if not integration.is_initialized:
        raise PushbackError(f"Integration {integration.name} is not initialized; initialize it before starting.")
    integration.is_started = True
    integration.next_run_at = timezone.now()
    integration.save(update_fields=["is_started", "next_run_at"])
    return integration


@transaction.atomic
def integration_stop(*, integration: Integration) -> Integration:
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    integration.is_started = False
    integration.next_run_at = None
    integration.save(update_fields=["is_started", "next_run_at"])
    return integration


def open_batch_for(integration: Integration) -> Batch:
    """The integration's open batch (a new one when staff moved the last one on).
    The caller holds the integration's row lock."""
    batch = integration.current_batch
    if batch is None or Batch.objects.filter(pk=batch.pk).values_list("status", flat=True)[0] != Batch.Status.OPEN:
        batch = batch_create(date=timezone.localdate(), description=f"OpenWater pushback – {integration.name}"[:200])
        Integration.objects.filter(pk=integration.pk).update(current_batch=batch)
        integration.current_batch = batch
    return batch


# -- programs --------------------------------------------------------------------------


@transaction.atomic
def programs_refresh(*, integration: Integration, programs: list[dict]) -> int:
    """Record the programs OpenWater lists (new ones as "not mapped")."""
    for p in programs:
        try:
            program_id = int(p["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise OpenWaterBadResponse(f"a program without a valid id: {p!r}") from exc
        ProgramMapping.objects.update_or_create(
            integration=integration,
            program_id=program_id,
            defaults={
                "code": str(p.get("code") or "")[:100],
                "name": str(p.get("name") or "")[:300],
                "is_archived": bool(p.get("isArchived")),
            },
        )
    return len(programs)


def _lock_program(program: ProgramMapping) -> ProgramMapping:
    return ProgramMapping.objects.select_for_update().select_related("integration").get(pk=program.pk)


@transaction.atomic
def program_initialize(*, program: ProgramMapping, income_account: GLAccount | None = None) -> ProgramMapping:
    """Map the program to its own product ``OW_<code>`` (created, or reused if it exists)."""
    program = _lock_program(program)
    integration = program.integration
    if not integration.is_initialized:
        raise PushbackError("Initialize the integration before mapping its programs.")
    if not program.code:
        raise PushbackError(f"Program {program.program_id} has no code; it cannot get an OW_<code> product.")
    entity = integration.entity
    income = income_account or _income_account(entity)
    if income.entity_id != entity.pk:
        raise PushbackError(f"Income account {income.code} belongs to another financial entity.")
    code = f"OW_{program.code}".upper()[:40]
    product = program.product if program.product_id and program.product.code == code else None
    if product is None:
        product, _ = Product.objects.get_or_create(
            code=code,
            defaults={
                "name": program.name[:200] or code,
                "entity": entity,
                "income_account": income,
                "kind": Product.Kind.PROGRAM_FEE,
                "category": "OpenWater",
            },
        )
    program.product = product
    program.status = ProgramMapping.Status.INITIALIZED
    program.save(update_fields=["product", "status", "updated_at"])
    return program


@transaction.atomic
def program_set_default(*, program: ProgramMapping) -> ProgramMapping:
    program = _lock_program(program)
    if not program.integration.is_initialized:
        raise PushbackError("Initialize the integration before mapping its programs.")
    program.status = ProgramMapping.Status.DEFAULT
    program.save(update_fields=["status", "updated_at"])
    return program


@transaction.atomic
def program_disable(*, program: ProgramMapping) -> ProgramMapping:
    program = _lock_program(program)
    program.status = ProgramMapping.Status.DISABLED
    program.save(update_fields=["status", "updated_at"])
    return program
