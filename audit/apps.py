from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        # Imported once the app registry is ready (both use the models), after every
        # app's admin is registered (the admin app, listed first, registers them).
        from audit import recorder
        from audit.admin_mixins import add_history_to_admin

        recorder.connect()
        add_history_to_admin()
