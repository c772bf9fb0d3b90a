"""django-tables2 tables of invoice sync."""

import django_tables2 as tables
from django.utils.html import format_html
from django_tables2.utils import A

from finance.tables import BREAK_ANYWHERE, TABLE_ATTRS, DayColumn, MoneyColumn
from integrations.models import InvoiceSyncRecord, ProcessorStatus

STATUS_CLASS = {
    ProcessorStatus.NOT_SYNCED: "secondary",
    ProcessorStatus.REQUIRES_PAYMENT_METHOD: "info",
    ProcessorStatus.PROCESSING: "warning",
    ProcessorStatus.REQUIRES_ACTION: "warning",
    ProcessorStatus.SUCCEEDED: "success",
    ProcessorStatus.FAILED: "danger",
    ProcessorStatus.DISPUTED: "danger",
}


def status_badge(record: InvoiceSyncRecord) -> str:
    return format_html(
        '<span class="badge text-bg-{}">{}</span>',
        STATUS_CLASS.get(record.processor_status, "secondary"),
        record.get_processor_status_display(),
    )


class SyncRecordTable(tables.Table):
    invoice = tables.Column(
        "Invoice",
        linkify=("invoice_sync:sync_detail", {"pk": A("pk")}),
        accessor="invoice__number",
        order_by="invoice_id",
    )
    bill_to = tables.Column("Bill to", accessor="invoice__bill_to__name", order_by="invoice__bill_to__name")
    entity = tables.Column("Entity", accessor="entity__code")
    created_at = DayColumn(verbose_name="Created")
    total = MoneyColumn(accessor="invoice__total", verbose_name="Total")
    balance = MoneyColumn(accessor="invoice__balance", verbose_name="Balance")
    processor_status = tables.Column("Processor status")
    handling_mode = tables.Column("Handling mode")
    sync_enabled = tables.BooleanColumn(verbose_name="Sync")
    paid_in_ledger = tables.BooleanColumn(verbose_name="Paid in ledger")
    retries = tables.Column("Retries", attrs={"td": {"class": "text-end"}})
    error_message = tables.Column("Error", orderable=False, attrs=BREAK_ANYWHERE)

    class Meta:
        model = InvoiceSyncRecord
        fields = (
            "invoice",
            "bill_to",
            "entity",
            "created_at",
            "total",
            "balance",
            "processor_status",
            "handling_mode",
            "sync_enabled",
            "paid_in_ledger",
            "retries",
            "error_message",
        )
        attrs = TABLE_ATTRS
        empty_text = "No sync records match."

    def render_processor_status(self, record):
        return status_badge(record)

    def render_error_message(self, record, value):
        short = value[:40] + ("…" if len(value) > 40 else "")
        if not record.has_error:
            # A note without the error flag (e.g. a charge found later settled the attempt).
            return format_html('<span class="text-muted small" title="{}">{}</span>', value, short) if value else "—"
        return format_html('<span class="text-danger small" title="{}">{}</span>', value, short)
