"""What the audit trail records, and the triggers that write it.

The trail (``AuditEvent``) is written by PostgreSQL triggers on the audited tables, in
the writing transaction, whoever writes: the ORM's ``save()``, ``.update()``, raw SQL,
COPY. A rolled-back change leaves no event; a committed one always has it. Who acted
comes from the statement's context (``audit.context``: the request's user,
the Celery task, the management command; ``system`` otherwise).

``AUDITED`` below says, table by table, which fields an event records and which writes
make one:

- **create**: AFTER INSERT ... FOR EACH ROW, with the recorded fields' values; some
  tables only for some rows (a ``WHEN`` condition: no event per payment or credit
  invoice that a bulk posting writes, the posting's own row carries it);
- **update**: AFTER UPDATE OF <the fields that make an event> ... FOR EACH ROW WHEN one
  of them changes, with ``{"field": [before, after]}`` of every recorded field that
  changed. A statement that sets none of those columns (a balance, a progress figure,
  a run's bookkeeping) does not even evaluate the condition, and queues nothing;
- **delete**: AFTER DELETE ... FOR EACH ROW, with the recorded fields' last values.

Settings-like models are audited on every create, change and delete. Financial records
(batches, invoices, payments, refunds, adjustments, AR imports, renewal runs, submitted
carts) when created and when their state changes (posted, reversed, refunded…); their
balances move through the services' set-based updates and are recomputable from the
ledger, so they are not repeated here.

Secrets (encrypted fields, token hashes, passwords) never enter the trail: only whether
one is set, and that it changed, masked. (An encrypted field keeps its stored token
while its value is unchanged, ``core.crypto``, so that a change is a change.)

The triggers are ``core.db_triggers.Trigger`` declarations on proxies of the
audited models in this app (``audit.models``): the ledger core imports no
app built on it. Each body calls the plain function ``audit_event_write`` (body
``AUDIT_EVENT_WRITE_BODY``, installed by migration 0004 with its own search_path),
which reads the actor, finds the model's content type and inserts the event.
Auditing another model: add it to ``AUDITED`` and run ``makemigrations``; a field added
to a model audited in full changes its triggers, which ``makemigrations --check`` sees.
"""

import re
from dataclasses import dataclass
from importlib import import_module

import pgtrigger
from django.apps import apps
from django.db import models

from core.crypto import EncryptedTextField
from core.db_triggers import Trigger

MASK = "••••••"
# Fields whose values never enter the trail (besides every EncryptedTextField).
SECRET_NAMES = frozenset({"password", "key_hash", "secret", "api_key", "client_key", "webhook_secret"})
# Bookkeeping that a settings-like model's events leave out.
NOT_RECORDED = frozenset({"created_at", "updated_at", "last_used_at", "last_login", "date_joined"})


@dataclass(frozen=True)
class Audited:
    """How one model is audited."""

    # What ``object_repr`` says: text with {field}, {fk.field} (a field of the related
    # row), {field:label} (a choice's label) and {a|b} (a, or b when a is empty).
    repr: str
    # The recorded fields (None: every concrete field but the primary key and bookkeeping).
    fields: tuple[str, ...] | None = None
    # A create event: False for none, or a SQL condition on NEW (only those rows).
    create: bool | str = True
    # The fields whose change makes an update event (None: any recorded field).
    update_when: tuple[str, ...] | None = None
    delete: bool = True


AUDITED: dict[str, Audited] = {
    "finance.FinanceSettings": Audited("Finance settings"),
    "finance.FinancialEntity": Audited("{code} – {name}"),
    "finance.GLAccount": Audited("{code} {name} [{entity.code}]"),
    "finance.Product": Audited("{code} – {name}"),
    "finance.PaymentMethod": Audited("{code} – {name}"),
    "finance.PaymentMethodSet": Audited("{name}"),
    "finance.PaymentMethodSetEntry": Audited("{display_name|method.name}"),
    "finance.GatewayAccount": Audited("{name} ({processor:label})"),
    "paycentral.ModuleAuthorization": Audited("{user.username} {module:label} {level}"),
    "api.ApiToken": Audited("{name} ({prefix}…)"),
    "checkout.MemberAccount": Audited("{user.username} → {contact.name} ({contact.party_id})"),
    "auth.User": Audited(
        "{username}",
        fields=("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser"),
    ),
    "finance.Batch": Audited(
        "{number}",
        fields=("number", "date", "description", "status", "control_count", "control_amount"),
        delete=False,
    ),
    # Credit invoices (source "payment": a payment's unapplied rest, an AR import's
    # residuals, a reversal's open credit) are part of the action that writes them, and
    # membership billing writes a renewal run's invoices in one statement: the payment,
    # the import, the reversed invoice, the run record it.
    "finance.Invoice": Audited(
        "Invoice {number}",
        fields=("number", "type", "accounting_method", "bill_to", "entity", "date", "total", "batch", "reversed_at"),
        create="NEW.\"source\" NOT IN ('payment', 'membership_billing')",
        delete=False,
    ),
    # An import's payments (the AR import, the dues importer) are recorded by the import.
    "finance.Payment": Audited(
        "Payment {id} {amount} {currency}",
        fields=("payer", "method", "entity", "amount", "date", "reference", "batch", "status", "reversal_reason"),
        create="NEW.\"source\" <> 'import'",
        delete=False,
    ),
    "finance.Refund": Audited(
        "Refund {id} of payment {payment}: {amount}",
        fields=("payment", "credit_invoice", "amount", "mode", "status", "date", "batch", "reason"),
        delete=False,
    ),
    # Cards saved on contacts (never a number: brand, last four, expiry) and their removal.
    "finance.SavedCard": Audited(
        "{brand} •••• {last4} of {contact.name}",
        fields=("contact", "gateway_account", "brand", "last4", "exp_month", "exp_year"),
    ),
    "finance.InvoiceAdjustment": Audited(
        "{amount} on {invoice.number}/{line.line_number} {line.description}",
        fields=("invoice", "line", "amount", "date", "batch", "reason"),
        delete=False,
    ),
    # Its status changes: validated, posting, posted (the posting's event, with its
    # batch), failed, discarded.
    "finance.ARImport": Audited(
        "AR import {id} ({file_name})",
        fields=("file_name", "status", "batch_number", "batch", "row_count", "error_count", "auto_apply"),
        create=False,
        update_when=("status",),
        delete=False,
    ),
    # Membership billing settings and member types; renewal runs when posted or deleted.
    "membership.MembershipSettings": Audited("Membership settings"),
    "membership.MemberType": Audited("{code} – {name}"),
    "membership.MemberTypeProduct": Audited("{member_type.code}: {product.code}"),
    "membership.RenewalRun": Audited(
        "Renewal run {id}",
        fields=("effective_date", "invoice_date", "paid_through_from", "paid_through_to", "member_type", "status"),
        update_when=("status",),
        delete=False,
    ),
    # Integrations: the OpenWater integration's settings (not its run bookkeeping: cursor,
    # next run, lease, current batch) and its program mappings; the two fields of a
    # processor sync record that staff edit.
    "openwater.Integration": Audited(
        "{name}",
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
    "openwater.ProgramMapping": Audited("{code|program_id} – {name}"),
    # What staff did about an OpenWater invoice in error (try again, skip, recorded by
    # hand); the runs' own bookkeeping of the record is not repeated here.
    "openwater.InvoiceSync": Audited(
        "OpenWater invoice {ow_invoice_id}: {status}",
        fields=("ow_invoice_id", "status", "skip_reason", "staff_action", "staff_note", "staff_by", "staff_at"),
        create=False,
        update_when=("staff_at",),
        delete=False,
    ),
    "integrations.InvoiceSyncRecord": Audited(
        "Sync of invoice {invoice}",
        fields=("invoice", "sync_enabled", "handling_mode"),
        create=False,
        update_when=("sync_enabled", "handling_mode"),
        delete=False,
    ),
    "checkout.Cart": Audited(
        "Cart {id} for {contact.name} ({contact.party_id})",
        fields=("contact", "status", "invoice", "charge_amount", "charge_id"),
        create=False,
        update_when=("status",),
        delete=False,
    ),
}


# --- The function every trigger calls ---------------------------------------------------

# The body of audit_event_write(_action text, _app_label text, _model text,
# _object_id text, _object_repr text, _changes jsonb) RETURNS void (plpgsql).
AUDIT_EVENT_WRITE_SIGNATURE = "audit_event_write(text, text, text, text, text, jsonb)"
AUDIT_EVENT_WRITE_BODY = """
DECLARE
    _context jsonb := NULLIF(current_setting('pghistory.context_metadata', true), '')::jsonb;
    _content_type integer;
BEGIN
    SELECT ct.id INTO _content_type FROM django_content_type ct
     WHERE ct.app_label = _app_label AND ct.model = _model;
    IF _content_type IS NULL THEN
        -- A model's content type is made after the migrations; a migration's data may come first.
        INSERT INTO django_content_type (app_label, model) VALUES (_app_label, _model)
            ON CONFLICT DO NOTHING;
        SELECT ct.id INTO _content_type FROM django_content_type ct
         WHERE ct.app_label = _app_label AND ct.model = _model;
    END IF;
    INSERT INTO audit_auditevent
           (at, actor_id, actor_name, ip, action, content_type_id, object_id, object_repr, changes)
    VALUES (clock_timestamp(), (_context ->> 'user')::integer, left(COALESCE(_context ->> 'actor', 'system'), 150),
            (_context ->> 'ip')::inet, _action, _content_type, _object_id, left(COALESCE(_object_repr, ''), 200),
            _changes);
END;
"""


# --- SQL of the trigger bodies ----------------------------------------------------------


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return f'"{name}"'


def is_secret(field: models.Field) -> bool:
    return isinstance(field, EncryptedTextField) or field.name in SECRET_NAMES


def recorded_fields(model, spec: Audited) -> list[models.Field]:
    concrete = [f for f in model._meta.concrete_fields if not f.primary_key]
    if spec.fields is None:
        return [f for f in concrete if f.name not in NOT_RECORDED and not getattr(f, "auto_now", False)]
    by_name = {f.name: f for f in concrete}
    return [by_name[name] for name in spec.fields]


def _value(field: models.Field, row: str) -> str:
    """The JSON value of ``field`` of ``row`` (NEW or OLD) as the trail shows it: a
    related row as "#id", an amount as text, a secret as whether it is set."""
    column = f"{row}.{_quote(field.column)}"
    if is_secret(field):
        return f"to_jsonb(CASE WHEN COALESCE({column}, '') = '' THEN '' ELSE {_literal(MASK)} END)"
    if field.is_relation:
        return f"to_jsonb('#' || {column})"
    if isinstance(field, models.DecimalField):
        return f"to_jsonb({column}::text)"
    return f"to_jsonb({column})"


def _change(field: models.Field) -> str:
    """[before, after] of ``field`` when the update changes it, else NULL."""
    old, new = f"OLD.{_quote(field.column)}", f"NEW.{_quote(field.column)}"
    if is_secret(field):
        before = f"CASE WHEN COALESCE({old}, '') = '' THEN '' ELSE {_literal(MASK)} END"
        after = f"CASE WHEN COALESCE({new}, '') = '' THEN '' ELSE {_literal(MASK + ' (changed)')} END"
        pair = f"jsonb_build_array({before}, {after})"
    else:
        pair = f"jsonb_build_array({_value(field, 'OLD')}, {_value(field, 'NEW')})"
    return f"CASE WHEN {old} IS DISTINCT FROM {new} THEN {pair} END"


def _object(pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return "'{}'::jsonb"
    return "jsonb_build_object(\n            " + ",\n            ".join(f"{_literal(k)}, {v}" for k, v in pairs) + ")"


def load_model(label: str):
    """The model ``app_label.Model``, while the models are being loaded (its app may be
    listed after this one)."""
    import_module(f"{apps.get_app_config(label.split('.')[0]).name}.models")
    return apps.get_model(label, require_ready=False)


def _related_model(field: models.Field):
    target = field.remote_field.model
    if isinstance(target, str):
        target = load_model(target if "." in target else f"{field.model._meta.app_label}.{target}")
    return target


def _repr_term(model, path: str, row: str) -> str:
    """One {…} of a repr template as a text expression."""
    name, _, label = path.partition(":")
    head, _, attr = name.partition(".")
    field = model._meta.pk if head == "id" else model._meta.get_field(head)
    column = f"{row}.{_quote(field.column)}"
    if attr:
        related = _related_model(field)
        target = related._meta.get_field(attr)
        return (
            f"(SELECT r.{_quote(target.column)}::text FROM {_quote(related._meta.db_table)} r "
            f"WHERE r.{_quote(related._meta.pk.column)} = {column})"
        )
    if label:
        cases = " ".join(f"WHEN {_literal(str(value))} THEN {_literal(str(text))}" for value, text in field.choices)
        return f"CASE {column} {cases} ELSE {column}::text END"
    return f"{column}::text"


def repr_sql(model, template: str, row: str) -> str:
    """``template`` (see ``Audited.repr``) as a SQL text expression over ``row``."""
    parts = []
    for piece in re.split(r"(\{[^}]+\})", template):
        if not piece:
            continue
        if piece.startswith("{"):
            terms = [_repr_term(model, p, row) for p in piece[1:-1].split("|")]
            if len(terms) > 1:
                terms = ["COALESCE(" + ", ".join(f"NULLIF({t}, '')" for t in terms) + ")"]
            parts.append(terms[0])
        else:
            parts.append(_literal(piece))
    return f"concat({', '.join(parts)})"


def _body(model, action: str, row: str, changes: str, spec: Audited) -> str:
    meta = model._meta
    return f"""
    PERFORM audit_event_write(
        {_literal(action)}, {_literal(meta.app_label)}, {_literal(meta.model_name)},
        {row}.{_quote(meta.pk.column)}::text,
        {repr_sql(model, spec.repr, row)},
        {changes});
    RETURN NULL;
"""


def audit_triggers(model, spec: Audited) -> list[Trigger]:
    """The triggers that audit ``model`` (declared on a proxy of it)."""
    name = model._meta.model_name
    fields = recorded_fields(model, spec)
    triggers = []
    if spec.create:
        values = _object([(f.name, _value(f, "NEW")) for f in fields])
        triggers.append(
            Trigger(
                name=f"audit_{name}_insert",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                condition=pgtrigger.Condition(spec.create) if isinstance(spec.create, str) else None,
                func=_body(model, "create", "NEW", values, spec),
            )
        )
    when = fields if spec.update_when is None else [model._meta.get_field(n) for n in spec.update_when]
    # The changed recorded fields: the pairs of those that did not change are NULL, left out.
    changes = (
        "(SELECT COALESCE(jsonb_object_agg(c.key, c.value), '{}'::jsonb) FROM jsonb_each("
        + _object([(f.name, _change(f)) for f in fields])
        + ") c WHERE c.value <> 'null'::jsonb)"
    )
    triggers.append(
        Trigger(
            name=f"audit_{name}_update",
            when=pgtrigger.After,
            operation=pgtrigger.UpdateOf(*[f.column for f in when]),
            condition=pgtrigger.AnyChange(*[f.name for f in when]),
            func=_body(model, "update", "NEW", changes, spec),
        )
    )
    if spec.delete:
        values = _object([(f.name, _value(f, "OLD")) for f in fields])
        triggers.append(
            Trigger(
                name=f"audit_{name}_delete",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                func=_body(model, "delete", "OLD", values, spec),
            )
        )
    return triggers
