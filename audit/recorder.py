"""Which models are audited, and the signal handlers that write the trail.

Settings-like models (finance settings, entities, GL accounts, products, payment
methods and sets, gateway accounts, authorizations, tokens, member accounts, staff
users) are audited on every create, change and delete. Financial records (batches,
invoices, payments, refunds, adjustments, AR imports, submitted carts) are audited
when created and when their state changes (posted, reversed, refunded…); their
balances move through the services' set-based updates and are recomputable from the
ledger, so they are not repeated here. Each event is written in the same transaction
as the change: a rolled-back change leaves no event, a committed one always has it.

Secrets (encrypted fields, token hashes, passwords) never enter the trail: only the
fact that they changed, masked.

Other apps add their models with the ``AUDITED_MODELS`` setting:
``{"app_label.Model": ["field", ...] or None (all fields)}``.
"""

import datetime
import sys
from dataclasses import dataclass, field
from decimal import Decimal

from celery.signals import task_postrun, task_prerun
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

from audit.context import SYSTEM, Actor, acting_as, current_actor
from audit.models import AuditEvent
from core.crypto import EncryptedTextField

SECRET_NAMES = {"password", "key_hash", "secret", "api_key", "client_key", "webhook_secret"}
MASK = "••••••"


@dataclass(frozen=True)
class Spec:
    fields: tuple[str, ...] | None = None  # None: every concrete field
    exclude: frozenset[str] = frozenset()
    on_create: bool = True
    on_delete: bool = True
    # Only changes of these fields make an UPDATE event (None: any tracked field).
    update_fields: tuple[str, ...] | None = None


@dataclass
class Registry:
    specs: dict[type, Spec] = field(default_factory=dict)


CONFIG = Spec(exclude=frozenset({"created_at", "updated_at", "last_used_at", "last_login", "date_joined"}))

DEFAULT_AUDITED: dict[str, Spec] = {
    "finance.FinanceSettings": CONFIG,
    "finance.FinancialEntity": CONFIG,
    "finance.GLAccount": CONFIG,
    "finance.Product": CONFIG,
    "finance.PaymentMethod": CONFIG,
    "finance.PaymentMethodSet": CONFIG,
    "finance.PaymentMethodSetEntry": CONFIG,
    "finance.GatewayAccount": CONFIG,
    "paycentral.ModuleAuthorization": CONFIG,
    "api.ApiToken": CONFIG,
    "checkout.MemberAccount": CONFIG,
    "auth.User": Spec(fields=("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")),
    "finance.Batch": Spec(
        fields=("number", "date", "description", "status", "control_count", "control_amount"),
        on_delete=False,
    ),
    "finance.Invoice": Spec(
        fields=("number", "type", "accounting_method", "bill_to", "entity", "date", "total", "batch", "reversed_at"),
        update_fields=("reversed_at",),
        on_delete=False,
    ),
    "finance.Payment": Spec(
        fields=("payer", "method", "entity", "amount", "date", "reference", "batch", "status", "reversal_reason"),
        update_fields=("status", "reversal_reason"),
        on_delete=False,
    ),
    "finance.Refund": Spec(
        fields=("payment", "credit_invoice", "amount", "mode", "status", "date", "batch", "reason"),
        update_fields=("status",),
        on_delete=False,
    ),
    "finance.InvoiceAdjustment": Spec(fields=("invoice", "line", "amount", "date", "batch", "reason"), on_delete=False),
    "finance.ARImport": Spec(
        fields=("file_name", "status", "batch_number", "row_count", "error_count", "auto_apply"),
        update_fields=("status",),
        on_create=False,
        on_delete=False,
    ),
    # Membership billing settings and member types; renewal runs when posted or deleted.
    "membership.MembershipSettings": CONFIG,
    "membership.MemberType": CONFIG,
    "membership.MemberTypeProduct": CONFIG,
    "membership.RenewalRun": Spec(
        fields=("effective_date", "invoice_date", "paid_through_from", "paid_through_to", "member_type", "status"),
        update_fields=("status",),
        on_delete=False,
    ),
    # Integrations: the OpenWater integration's settings (not its run bookkeeping: cursor,
    # next run, lease, current batch) and its program mappings; the two fields of a
    # processor sync record that staff edit.
    "openwater.Integration": Spec(
        fields=(
            "name",
            "kind",
            "base_url",
            "client_key",
            "api_key",
            "organization_code",
            "initialized_at",
            "entity",
            "payment_method",
            "default_product_name",
            "default_product",
            "discount_product",
            "skip_before",
            "programs_sync_mode",
            "is_started",
            "interval_minutes",
            "page_size",
        ),
    ),
    "openwater.ProgramMapping": CONFIG,
    # What staff did about an OpenWater invoice in error (try again, skip, recorded by
    # hand); the runs' own bookkeeping of the record is not repeated here.
    "openwater.InvoiceSync": Spec(
        fields=("ow_invoice_id", "status", "skip_reason", "staff_action", "staff_note", "staff_by", "staff_at"),
        update_fields=("staff_at",),
        on_create=False,
        on_delete=False,
    ),
    "integrations.InvoiceSyncRecord": Spec(
        fields=("invoice", "sync_enabled", "handling_mode"),
        update_fields=("sync_enabled", "handling_mode"),
        on_create=False,
        on_delete=False,
    ),
    "checkout.Cart": Spec(
        fields=("contact", "status", "invoice", "charge_amount", "charge_id"),
        update_fields=("status",),
        on_create=False,
        on_delete=False,
    ),
}

registry = Registry()


def _default_actor() -> Actor:
    actor = current_actor()
    if actor is SYSTEM and len(sys.argv) > 1 and sys.argv[0].endswith("manage.py"):
        return Actor(None, f"command {sys.argv[1]}"[:150])
    return actor


def _tracked(model, spec: Spec) -> list[models.Field]:
    concrete = [f for f in model._meta.concrete_fields if not f.primary_key]
    if spec.fields is not None:
        by_name = {f.name: f for f in concrete}
        concrete = [by_name[n] for n in spec.fields if n in by_name]
    return [f for f in concrete if f.name not in spec.exclude and not getattr(f, "auto_now", False)]


def _is_secret(f: models.Field) -> bool:
    return isinstance(f, EncryptedTextField) or f.name in SECRET_NAMES


def _plain(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value)


def _value(instance, f: models.Field):
    """A JSON-ready value: related objects as "name (#id)" when loaded, else "#id"."""
    if _is_secret(f):
        return MASK if getattr(instance, f.attname) else ""
    if f.is_relation:
        raw = getattr(instance, f.attname)
        if raw is None:
            return None
        if f.is_cached(instance):
            return f"{getattr(instance, f.name)} (#{raw})"[:200]
        return f"#{raw}"
    return _plain(getattr(instance, f.attname))


def _raw(instance, f: models.Field):
    return getattr(instance, f.attname)


def _write(instance, action: str, changes: dict) -> None:
    actor = _default_actor()
    AuditEvent.objects.create(
        actor_id=actor.user_id,
        actor_name=actor.name[:150],
        ip=actor.ip,
        action=action,
        content_type=ContentType.objects.get_for_model(type(instance), for_concrete_model=False),
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        changes=changes,
    )


def _saved_fields(sender, spec: Spec, update_fields) -> list[models.Field]:
    """The tracked fields a save writes: all of them, or those in ``update_fields``
    (a field the save does not write has not changed, whatever the instance holds)."""
    fields = _tracked(sender, spec)
    if update_fields is not None:
        names = set(update_fields)
        fields = [f for f in fields if f.name in names or f.attname in names]
    return fields


def _pre_save(sender, instance, raw=False, update_fields=None, **kwargs):
    spec = registry.specs.get(sender)
    if spec is None or raw or instance._state.adding or instance.pk is None:
        return
    fields = _saved_fields(sender, spec, update_fields)
    if not fields:
        instance._audit_before = None
        return
    before = sender._base_manager.filter(pk=instance.pk).values(*[f.attname for f in fields]).first()
    instance._audit_before = before


def _post_save(sender, instance, created, raw=False, update_fields=None, **kwargs):
    spec = registry.specs.get(sender)
    if spec is None or raw:
        return
    fields = _tracked(sender, spec) if created else _saved_fields(sender, spec, update_fields)
    if created:
        if spec.on_create:
            _write(instance, "create", {f.name: _value(instance, f) for f in fields})
        return
    before = getattr(instance, "_audit_before", None)
    instance._audit_before = None
    if before is None:
        return
    changes = {}
    for f in fields:
        old, new = before.get(f.attname), _raw(instance, f)
        if old != new:
            if _is_secret(f):
                changes[f.name] = [MASK if old else "", MASK + " (changed)" if new else ""]
            elif f.is_relation:
                changes[f.name] = [None if old is None else f"#{old}", _value(instance, f)]
            else:
                changes[f.name] = [_plain(old), _plain(new)]
    if not changes:
        return
    if spec.update_fields is not None and not set(changes) & set(spec.update_fields):
        return
    _write(instance, "update", changes)


def _post_delete(sender, instance, **kwargs):
    spec = registry.specs.get(sender)
    if spec is None or not spec.on_delete:
        return
    _write(instance, "delete", {f.name: _value(instance, f) for f in _tracked(sender, spec)})


def _task_prerun(task_id=None, task=None, **kwargs):
    task.request._audit_token = acting_as(Actor(None, f"task {task.name}"[:150]))
    task.request._audit_token.__enter__()


def _task_postrun(task_id=None, task=None, **kwargs):
    token = getattr(task.request, "_audit_token", None)
    if token is not None:
        token.__exit__(None, None, None)
        task.request._audit_token = None


def connect() -> None:
    audited = dict(DEFAULT_AUDITED)
    for label, names in getattr(settings, "AUDITED_MODELS", {}).items():
        audited[label] = CONFIG if names is None else Spec(fields=tuple(names), on_delete=True)
    for label, spec in audited.items():
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        registry.specs[model] = spec
    uid = "audit"
    pre_save.connect(_pre_save, dispatch_uid=f"{uid}.pre_save")
    post_save.connect(_post_save, dispatch_uid=f"{uid}.post_save")
    post_delete.connect(_post_delete, dispatch_uid=f"{uid}.post_delete")
    task_prerun.connect(_task_prerun, dispatch_uid=f"{uid}.task_prerun", weak=False)
    task_postrun.connect(_task_postrun, dispatch_uid=f"{uid}.task_postrun", weak=False)
