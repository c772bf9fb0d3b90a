from django.apps import AppConfig


class ARImportConfig(AppConfig):
    """The AR payment importer ("lockbox"), built on the ledger: its parser, the
    validation and set-based posting services, the staff pages, the Celery tasks and
    ``import_ar``. Its records (``ARImport``, ``ARImportRow``) are the ledger's: the
    journal's summary entries and the reversal of an imported payment read them."""

    name = "finance.ar_import"
    label = "ar_import"
    verbose_name = "AR import"
