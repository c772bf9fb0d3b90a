from django.apps import AppConfig


class SandboxOpenwaterConfig(AppConfig):
    name = "sandboxes.openwater"
    label = "openwater_sandbox"
    verbose_name = "Sandbox OpenWater"
