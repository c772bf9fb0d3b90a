"""Module authorization: a staff user's level (0–8, as in iMIS) per module."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Module(models.TextChoices):
    ORDERS = "orders", "Orders"
    AR_CASH = "ar_cash", "AR/Cash"
    FINANCE = "finance", "Finance"
    MEMBERSHIP = "membership", "Membership"
    INTEGRATIONS = "integrations", "Integrations"


class ModuleAuthorization(models.Model):
    """A staff user's authorization level (0–8, as in iMIS) in one module.

    Superusers hold level 8 everywhere. A missing row means level 0.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="module_levels")
    module = models.CharField(max_length=20, choices=Module.choices)
    level = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "module"], name="one_level_per_module"),
            models.CheckConstraint(condition=Q(level__gte=0) & Q(level__lte=8), name="module_level_0_to_8"),
        ]

    def __str__(self):
        return f"{self.user} {self.get_module_display()} {self.level}"
