from django import template
from django.contrib.contenttypes.models import ContentType

from audit.admin_mixins import audit_events
from audit.models import AuditEvent

register = template.Library()


@register.inclusion_tag("audit/_trail.html")
def audit_trail(obj, limit: int = 20):
    """The last ``limit`` audit events of ``obj``, newest first."""
    events = list(
        AuditEvent.objects.filter(
            content_type=ContentType.objects.get_for_model(type(obj), for_concrete_model=False), object_id=str(obj.pk)
        ).order_by("-at", "-pk")[:limit]
    )
    return {"events": events, "object": obj}


@register.inclusion_tag("audit/_trail.html")
def audit_trail_of(objects, limit: int = 30):
    """The last ``limit`` audit events of several objects (a set and its entries, a
    user's module authorization levels), newest first."""
    return {"events": audit_events(objects, limit)}
