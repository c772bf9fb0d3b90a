from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "finance"
    verbose_name = "Finance"

    def ready(self):
        # The AR import models live in their own module beside finance.models.
        from finance import models_ar_import  # noqa: F401
