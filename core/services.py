"""Changing staff users' module authorization levels (the staff UI's settings pages)."""

from django.db import transaction

from core.authorization import user_level
from core.models import Module, ModuleAuthorization


class LevelRefused(Exception):
    """The acting user may not make this change of levels; nothing was written."""


@transaction.atomic
def module_levels_set(*, user, levels: dict[str, int], by) -> dict[str, int]:
    """Set ``user``'s level (0–8) in each module of ``levels``; returns the levels changed
    ({module: new level}).

    Rules: nobody raises a level above their own level in that module, nor changes a
    level that is above their own (a superuser holds 8 everywhere); a superuser's levels
    are changed by superusers only (they hold 8 anyway); level 0 removes the row. The
    audit trail records each row created, changed or removed (database triggers).
    """
    if user.is_superuser and not by.is_superuser:
        raise LevelRefused(f"{user.get_username()} is a superuser: only a superuser changes their levels.")
    rows = {row.module: row for row in ModuleAuthorization.objects.select_for_update().filter(user=user).order_by("pk")}
    changed: dict[str, int] = {}
    for module, level in levels.items():
        label = Module(module).label
        if not 0 <= level <= 8:
            raise LevelRefused(f"{label}: a level is 0 to 8.")
        current = rows[module].level if module in rows else 0
        if current == level:
            continue
        own = user_level(by, module)
        if max(current, level) > own:
            raise LevelRefused(
                f"{label}: you hold level {own}, so you cannot change a level from {current} to {level}."
            )
        if level == 0:
            rows[module].delete()
        elif module in rows:
            rows[module].level = level
            rows[module].save(update_fields=["level"])
        else:
            ModuleAuthorization.objects.create(user=user, module=module, level=level)
        changed[module] = level
    if hasattr(user, "_module_levels"):
        del user._module_levels
    return changed
