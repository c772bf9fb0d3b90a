from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "paycentral.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from paycentral.audit import recorder

        recorder.connect()
