import logging
import sys

from django.apps import AppConfig
from django.conf import settings


class CoreConfig(AppConfig):
    """What every app of Pay Central may use: module authorization (levels per module),
    encrypted fields, database triggers as code, upload limits, sign-in and the embedded
    PostgreSQL server. It imports no other app of the project.

    Its label is ``paycentral``, the label its tables were created under (the project
    package was also the app until the apps were layered): its migrations are the
    history of those tables, including the ones that moved to other apps with their rows
    (``0005_models_moved_to_their_apps``), and the module authorization levels keep their
    table, content type and permissions.
    """

    name = "core"
    label = "paycentral"
    verbose_name = "Pay Central"

    def ready(self):
        from core import tables2

        tables2.install()
        # One clear line at startup saying which runtime mode is in force.
        if "pytest" not in sys.modules:
            logging.getLogger("paycentral").info(settings.SETTINGS_MODE_MESSAGE)
