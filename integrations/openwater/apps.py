from django.apps import AppConfig


class OpenwaterConfig(AppConfig):
    name = "integrations.openwater"
    label = "openwater"
    verbose_name = "OpenWater pushback"
