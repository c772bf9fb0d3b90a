import logging
import sys

from django.apps import AppConfig


class PaycentralConfig(AppConfig):
    name = "paycentral"
    verbose_name = "Pay Central"

    def ready(self):
        from django.conf import settings

        # One clear line at startup saying which runtime mode is in force.
        if "pytest" not in sys.modules:
            logging.getLogger("paycentral").info(settings.SETTINGS_MODE_MESSAGE)
