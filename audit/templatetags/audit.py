from django import template
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from audit.admin_mixins import audit_events
from audit.models import AuditEvent

register = template.Library()


def _key(obj) -> Q:
    content_type = ContentType.objects.get_for_model(type(obj), for_concrete_model=False)
    return Q(content_type=content_type, object_id=str(obj.pk))


@register.inclusion_tag("audit/_trail.html")
def audit_trail(obj, limit: int = 20, also=()):
    """The last ``limit`` audit events of ``obj`` and of the records in ``also`` (rows
    that belong to it, e.g. a payment's refunds), newest first. An event of one of
    ``also`` carries ``about``: what it is about (the record's description)."""
    related = list(also or ())
    condition = _key(obj)
    for item in related:
        condition |= _key(item)
    events = list(AuditEvent.objects.filter(condition).order_by("-at", "-pk")[:limit])
    own = str(obj.pk)
    own_type = ContentType.objects.get_for_model(type(obj), for_concrete_model=False).pk
    for event in events:
        event.about = "" if (event.content_type_id == own_type and event.object_id == own) else event.object_repr
    return {"events": events, "object": obj}


@register.inclusion_tag("audit/_trail.html")
def audit_trail_of(objects, limit: int = 30):
    """The last ``limit`` audit events of several objects (a set and its entries, a
    user's module authorization levels), newest first."""
    return {"events": audit_events(objects, limit)}
