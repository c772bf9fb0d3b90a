from django.apps import AppConfig

from finance.signals import invoices_created, invoices_writing


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"
    # The dashboard's tile (title, module, function): see finance.reporting.dashboard.
    health_tiles = (("Processor invoice sync", "integrations.selectors", "sync_health"),)

    def ready(self):
        # Imported once the app registry is ready: the receiver's service uses the models.
        from integrations.services.sync.records import invoices_created_receiver, invoices_writing_receiver

        invoices_created.connect(invoices_created_receiver, dispatch_uid="integrations.invoice_sync_records")
        invoices_writing.connect(invoices_writing_receiver, dispatch_uid="integrations.invoice_sync_records_written")
