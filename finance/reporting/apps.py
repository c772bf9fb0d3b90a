from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "finance.reporting"
    label = "reporting"
    verbose_name = "GL export and reports"
