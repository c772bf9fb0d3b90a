from django.conf import settings
from django.contrib.auth.models import Permission
from django.db.models import Q


def navigation(request):
    user = getattr(request, "user", None)
    return {
        "organization_name": settings.PAYCENTRAL["ORGANIZATION_NAME"],
        # Called by the template only where the menu is shown (one query, then cached).
        "user_can_use_admin": lambda: can_use_admin(user),
    }


def can_use_admin(user) -> bool:
    """The Django admin has something for ``user``: a superuser, or staff holding at
    least one of the admin's permissions (others would find an empty index there)."""
    if user is None or not user.is_active or not user.is_staff:
        return False
    if user.is_superuser:
        return True
    # One EXISTS over the user's own and their groups' permissions (Django's
    # get_all_permissions reads both lists in full, two queries).
    return Permission.objects.filter(Q(user=user) | Q(group__user=user)).exists()
