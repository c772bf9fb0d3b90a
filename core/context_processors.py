from django.conf import settings


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
    return user.is_superuser or bool(user.get_all_permissions())
