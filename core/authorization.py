"""Module authorization levels (0–8 per module) and the checks views use."""

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied

from core.models import Module, ModuleAuthorization

# Levels required by the rules of the design (kept in one place).
APPLY_OTHER_CREDIT = (Module.ORDERS, 4)
REFUND = (Module.FINANCE, 4)
POST_BATCH = (Module.FINANCE, 4)
MANAGE_BATCH = (Module.AR_CASH, 2)
# Entering invoices and payments, and choosing one's current batch.
ENTER_TRANSACTIONS = (Module.AR_CASH, 2)
VIEW_FINANCE = (Module.AR_CASH, 1)
USE_CART = (Module.ORDERS, 2)
# The settings pages of the staff UI: payment methods and sets, GL accounts and the
# users' module authorization levels.
MANAGE_SETTINGS = (Module.FINANCE, 4)
# The contact finder serves the finance entry forms and the cart: either level will do.
FIND_CONTACT = (VIEW_FINANCE, USE_CART)


def user_level(user, module: str) -> int:
    """The user's level in ``module``; superusers hold 8, anonymous users 0."""
    if not user.is_authenticated or not user.is_active:
        return 0
    if user.is_superuser:
        return 8
    cache = getattr(user, "_module_levels", None)
    if cache is None:
        cache = dict(ModuleAuthorization.objects.filter(user=user).values_list("module", "level"))
        user._module_levels = cache
    return cache.get(module, 0)


def has_level(user, module: str, level: int) -> bool:
    return user_level(user, module) >= level


def require_level(user, module: str, level: int) -> None:
    """Raise PermissionDenied (HTTP 403) unless ``user`` holds ``level`` in ``module``."""
    if not has_level(user, module, level):
        raise PermissionDenied(f"This needs {Module(module).label} authorization level {level} or higher.")


def require_any_level(user, levels) -> None:
    """Raise PermissionDenied unless ``user`` holds one of ``levels`` ((module, level) pairs)."""
    if not any(has_level(user, module, level) for module, level in levels):
        needed = " or ".join(f"{Module(module).label} level {level}" for module, level in levels)
        raise PermissionDenied(f"This needs {needed} or higher.")


class ModuleLevelRequiredMixin(AccessMixin):
    """Class-based view guard: ``required_level = (Module.X, n)``."""

    required_level: tuple[str, int] = VIEW_FINANCE

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        module, level = self.required_level
        require_level(request.user, module, level)
        return super().dispatch(request, *args, **kwargs)
