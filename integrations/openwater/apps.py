from django.apps import AppConfig


class OpenwaterConfig(AppConfig):
    name = "integrations.openwater"
    label = "openwater"
    verbose_name = "OpenWater pushback"
    # The dashboard's tile (title, module, function): see finance.reporting.dashboard.
    health_tiles = (("OpenWater pushback", "integrations.openwater.selectors", "pushback_health"),)
