"""The audit trail on the Django admin's change pages of audited settings.

The apps' admins do not know the trail (they sit below it): once every admin is
registered, ``add_history_to_admin`` gives the admin of each model in
``HISTORY_ADMINS`` the "History" section. An admin may say which objects' events its
page shows with an ``audit_objects(obj)`` method (the object itself by default).
"""

from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.template.loader import render_to_string

from audit.models import AuditEvent


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


# The admins that show their object's history: the settings-like models the trail
# records on every create, change and delete.
HISTORY_ADMINS = (
    "finance.FinanceSettings",
    "finance.FinancialEntity",
    "finance.GLAccount",
    "finance.Product",
    "finance.GatewayAccount",
    "finance.PaymentMethod",
    "finance.PaymentMethodSet",
    "paycentral.ModuleAuthorization",
    "auth.User",
    "api.ApiToken",
    "checkout.MemberAccount",
    "membership.MembershipSettings",
    "membership.MemberType",
)


def add_history_to_admin(site: admin.AdminSite = admin.site, labels=HISTORY_ADMINS) -> None:
    """Register the admin of each model of ``labels`` again with the History section
    (``AuditTrailAdminMixin`` before its own class). Models not installed, or without an
    admin, are left out; an admin that has the section already is left as it is."""
    for label in labels:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if not site.is_registered(model):
            continue
        model_admin = site.get_model_admin(model)
        if isinstance(model_admin, AuditTrailAdminMixin):
            continue
        cls = type(model_admin)
        attrs = {"__module__": cls.__module__, "__doc__": cls.__doc__}
        if hasattr(cls, "audit_objects"):
            attrs["audit_objects"] = cls.audit_objects
        site.unregister(model)
        site.register(model, type(cls.__name__, (AuditTrailAdminMixin, cls), attrs))
