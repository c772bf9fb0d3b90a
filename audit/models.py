"""The audit trail: one row per financial action or change of a setting, payment method,
method set, gateway account, integration, authorization or token.

The rows are written by the database: triggers on the audited tables, declared below on
proxies of the audited models (``audit.triggers`` says what each records).
Rows are only ever inserted: a PostgreSQL trigger refuses UPDATE and DELETE, whoever
asks (``AuditEvent.Meta.triggers``), the admin is read-only, and no code path edits them.
(TRUNCATE needs the table owner's rights, which the application's role should not hold
in production; the test runner empties tables with it between tests.)
"""

import sys

import pgtrigger
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from audit.triggers import AUDITED, audit_triggers, load_model
from core.dates import format_moment
from core.db_triggers import Trigger


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Changed"
        DELETE = "delete", "Deleted"

    at = models.DateTimeField(default=timezone.now)
    # Who: the user (kept as a plain id so deleting a user never touches the trail) and
    # a name that stays readable ("clerk", "task integrations.tasks.autopay_run", "system").
    actor_id = models.IntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    # {"field": [before, after]} for changes; the tracked fields' values for create/delete.
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["content_type", "object_id", "-at"], name="audit_object_at"),
            models.Index(fields=["-at"], name="audit_at"),
        ]
        triggers = [
            Trigger(
                name="audit_event_no_update_delete",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func="""
    RAISE EXCEPTION 'the audit trail cannot be changed (% on audit_auditevent refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
""",
            ),
        ]

    def __str__(self):
        return f"{format_moment(self.at)} {self.actor_name} {self.get_action_display().lower()} {self.object_repr}"

    @property
    def actor_label(self) -> str:
        return self.actor_name

    def change_lines(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for display."""
        out = []
        for field, value in sorted(self.changes.items()):
            if self.action == self.Action.UPDATE and isinstance(value, list) and len(value) == 2:
                out.append((field, value[0], value[1]))
            elif self.action == self.Action.DELETE:
                out.append((field, value, None))
            else:
                out.append((field, None, value))
        return out


def user_model_label() -> str:
    return settings.AUTH_USER_MODEL


def _trigger_proxy(label: str):
    """``<Model>AuditTriggers``: the audited model's table with the triggers that write
    its events. A proxy: no table of its own and nothing to query."""
    model = load_model(label)
    meta = type(
        "Meta",
        (),
        {"proxy": True, "default_permissions": (), "triggers": audit_triggers(model, AUDITED[label])},
    )
    name = f"{model.__name__}AuditTriggers"
    proxy = type(name, (model,), {"Meta": meta, "__module__": __name__})
    setattr(sys.modules[__name__], name, proxy)
    return proxy


# Declared here, not on the audited models: the ledger core imports no app built on it.
AUDIT_TRIGGER_PROXIES = [_trigger_proxy(label) for label in AUDITED]
