from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "finance.reporting"
    label = "reporting"
    verbose_name = "GL export and reports"
    # Run by verify_ledger after the ledger's own checks (finance.ledger_check.installed_checks).
    ledger_checks = (
        "finance.reporting.checks.check_contact_balances",
        "finance.reporting.checks.check_batch_receipts",
        "finance.reporting.checks.check_batch_invoices",
    )
