"""The audit trail on the Django admin's change pages of audited settings."""

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.template.loader import render_to_string

from paycentral.audit.models import AuditEvent


def audit_events(objects, limit: int = 30) -> list[AuditEvent]:
    """The newest ``limit`` audit events of ``objects`` (any models), newest first."""
    where = Q()
    for obj in objects:
        content_type = ContentType.objects.get_for_model(type(obj), for_concrete_model=False)
        where |= Q(content_type=content_type, object_id=str(obj.pk))
    if not where:
        return []
    return list(AuditEvent.objects.filter(where).order_by("-at", "-pk")[:limit])


class AuditTrailAdminMixin:
    """Adds a read-only "History" section to the change page: who changed what and
    when, before and after (the audit trail, which cannot be edited)."""

    audit_trail_limit = 30

    def audit_objects(self, obj) -> list:
        """The objects whose events the page shows (the object itself by default)."""
        return [obj]

    @admin.display(description="Changes")
    def audit_trail(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        events = audit_events(self.audit_objects(obj), self.audit_trail_limit)
        return render_to_string("audit/_trail.html", {"events": events, "object": obj})

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and "audit_trail" not in fields:
            fields.append("audit_trail")
        return fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or "audit_trail" not in self.get_readonly_fields(request, obj):
            return fieldsets
        cleaned = [
            (name, {**options, "fields": [f for f in options.get("fields", ()) if f != "audit_trail"]})
            for name, options in fieldsets
        ]
        return [*cleaned, ("History", {"fields": ["audit_trail"]})]
