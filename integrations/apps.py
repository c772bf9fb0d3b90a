from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from finance.signals import invoices_created

        invoices_created.connect(_invoices_created, dispatch_uid="integrations.invoice_sync_records")


def _invoices_created(sender, invoices, **kwargs):
    """Sync records are made in the invoices' own transaction (see the signal)."""
    from integrations.services.sync.records import sync_records_create

    sync_records_create(list(invoices))
