"""django-tables2 tables of the staff UI lists (sortable; money right-aligned)."""

import datetime
from decimal import Decimal

import django_tables2 as tables
from django.db.models.query import ModelIterable
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import template_localtime
from django_tables2.utils import A

from core.fast_reverse import reverse_ids
from finance.models import Batch, Contact, Invoice, InvoiceAdjustment, JournalEntry, Payment, Refund
from finance.templatetags.finance_ui import batch_badge, invoice_badge, money, payment_badge

TABLE_ATTRS = {"class": "table table-sm table-hover align-middle mb-0", "thead": {"class": "table-light"}}
PER_PAGE = 25
DATE_FORMAT = "DATE_FORMAT"  # the configured format (core/formats)
# Dates, numbers and badges stay on one line; names and descriptions wrap.
NOWRAP = {"td": {"class": "text-nowrap"}}
BREAK_ANYWHERE = {"td": {"class": "text-break"}}  # e-mail addresses, references


def _is_negative(value) -> bool:
    """``value`` is the cell as rendered ("-1,234.00") when tables2 computes td attrs."""
    if isinstance(value, Decimal):
        return value < 0
    return isinstance(value, str) and value.startswith("-")


class MoneyColumn(tables.Column):
    """A Decimal shown with two places and thousands separators, right-aligned.

    Its cells' attributes depend on the shown value only through its sign (``td_key``,
    which ``finance/templatetags/tables_fast.py`` reads: worked out once per sign)."""

    td_key = staticmethod(_is_negative)

    def __init__(self, *args, **kwargs):
        attrs = kwargs.pop("attrs", {})
        attrs.setdefault("th", {"class": "money"})
        attrs.setdefault("td", {"class": lambda value: "money negative" if _is_negative(value) else "money"})
        kwargs.setdefault("default", "")
        super().__init__(*args, attrs=attrs, **kwargs)

    def render(self, value):
        return money(value)


class DayColumn(tables.Column):
    """A date, or a time's date in the association's time zone, in the one date format.

    What ``tables.DateColumn`` shows, formatted in Python: that column compiles and
    renders a template (``{{ value|date:... }}``) for every cell."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("attrs", NOWRAP)
        super().__init__(*args, **kwargs)

    def render(self, value):
        if type(value) is not datetime.date:  # a time: its date in the association's time zone
            return date_format(template_localtime(value), DATE_FORMAT)
        # The rows of a page share a few dates: each is formatted once per table (a column
        # is copied for each table, and with it this memo).
        memo = self.__dict__.setdefault("_days", {})
        shown = memo.get(value)
        if shown is None:
            shown = memo[value] = date_format(value, DATE_FORMAT)
        return shown


class NumberColumn(tables.Column):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("attrs", {"th": {"class": "num"}, "td": {"class": "num"}})
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)


class RowTable(tables.Table):
    """A table whose rows read only the columns its cells show (``row_fields``, for
    ``QuerySet.only``): a list row built from every column of the row and of each
    related row costs the query's compilation and the rows' building for columns
    nobody sees. ``row_fields`` names what the columns, their links, the render
    methods and the badges read, and a selected relation's key (a relation the
    queryset selects must not be left out); ``tests/core/test_tables.py`` renders each
    table on real rows and counts its queries."""

    row_fields: tuple[str, ...] = ()

    def __init__(self, data=None, *args, **kwargs):
        if self.row_fields and hasattr(data, "only") and getattr(data, "_iterable_class", None) is ModelIterable:
            data = data.only(*self.row_fields)
        super().__init__(data, *args, **kwargs)


class ContactTable(RowTable):
    party_id = tables.Column("Party ID", linkify=("finance:contact_detail", {"pk": A("pk")}), attrs=NOWRAP)
    name = tables.Column(linkify=("finance:contact_detail", {"pk": A("pk")}), order_by=("sort_name", "name"))
    kind = tables.Column()
    company = tables.Column(
        "Company",
        linkify=("finance:contact_detail", {"pk": A("company_id")}),
        accessor="company__name",
        order_by=("company__sort_name", "company__name"),
    )
    major_key = tables.Column("Major key")
    email = tables.EmailColumn(attrs=BREAK_ANYWHERE)
    status = tables.Column()

    row_fields = ("party_id", "name", "kind", "company", "company__name", "major_key", "email", "status")

    class Meta:
        model = Contact
        fields = ("party_id", "name", "kind", "company", "major_key", "email", "status")
        attrs = TABLE_ATTRS
        empty_text = "No contacts match."
        orderable = True


class InvoiceTable(RowTable):
    number = tables.Column("Invoice", linkify=("finance:invoice_detail", {"pk": A("pk")}), attrs=NOWRAP)
    date = DayColumn()
    bill_to = tables.Column(
        "Bill to",
        linkify=("finance:contact_detail", {"pk": A("bill_to_id")}),
        accessor="bill_to__name",
        order_by=("bill_to__sort_name", "bill_to__name"),
    )
    type = tables.Column()
    batch = tables.Column(
        "Batch", linkify=("finance:batch_detail", {"pk": A("batch_id")}), accessor="batch__number", attrs=NOWRAP
    )
    total = MoneyColumn()
    balance = MoneyColumn()
    state = tables.Column("Status", empty_values=(), orderable=False, attrs=NOWRAP)

    # invoice_badge reads the balance, the total and reversed_at.
    row_fields = (
        "number", "date", "type", "total", "balance", "reversed_at",
        "bill_to", "bill_to__name", "batch", "batch__number", "batch__status",
    )  # fmt: skip

    class Meta:
        model = Invoice
        fields = ("number", "date", "bill_to", "type", "batch", "total", "balance", "state")
        attrs = TABLE_ATTRS
        empty_text = "No invoices match."

    def render_state(self, record):
        return invoice_badge(record)


class ContactInvoiceTable(InvoiceTable):
    """A contact's invoices: the bill-to is the contact, so it is left out."""

    class Meta(InvoiceTable.Meta):
        exclude = ("bill_to",)


class PaymentTable(RowTable):
    id = tables.Column("Payment", linkify=("finance:payment_detail", {"pk": A("pk")}))
    date = DayColumn()
    payer = tables.Column(
        "Payer",
        linkify=("finance:contact_detail", {"pk": A("payer_id")}),
        accessor="payer__name",
        order_by=("payer__sort_name", "payer__name"),
    )
    method = tables.Column("Method", accessor="method__code", order_by=("method__code",))
    reference = tables.Column(attrs=BREAK_ANYWHERE)
    batch = tables.Column(
        "Batch", linkify=("finance:batch_detail", {"pk": A("batch_id")}), accessor="batch__number", attrs=NOWRAP
    )
    amount = MoneyColumn()
    # The batch's state (Open, Ready, Posted), and Reversed once reversed.
    status = tables.Column("Status", order_by=("batch__status", "status"), attrs=NOWRAP)

    # payment_badge reads the status and the batch's number and status.
    row_fields = (
        "date", "reference", "amount", "status",
        "payer", "payer__name", "method", "method__code", "batch", "batch__number", "batch__status",
    )  # fmt: skip

    class Meta:
        model = Payment
        fields = ("id", "date", "payer", "method", "reference", "batch", "amount", "status")
        attrs = TABLE_ATTRS
        empty_text = "No payments match."

    def render_id(self, value):
        return f"#{value}"

    def render_status(self, record):
        return payment_badge(record)


class ContactPaymentTable(PaymentTable):
    class Meta(PaymentTable.Meta):
        exclude = ("payer",)


class BatchTable(tables.Table):
    number = tables.Column(linkify=("finance:batch_detail", {"pk": A("pk")}), attrs=NOWRAP)
    date = DayColumn()
    description = tables.Column()
    status = tables.Column()
    control_count = NumberColumn("Control count")
    # Counted for the shown page after paging (finance.selectors.batch_with_figures), as
    # batch_totals counts them: invoices and payments; the amount is the cash received.
    actual_count = NumberColumn("Actual count", orderable=False)
    control_amount = MoneyColumn("Control amount")
    cash_total = MoneyColumn("Actual amount", orderable=False)
    charges = MoneyColumn("Charges", orderable=False)
    other_count = NumberColumn("Not counted", orderable=False)

    class Meta:
        model = Batch
        fields = ("number", "date", "description", "status", "control_count", "actual_count", "control_amount")
        sequence = (
            "number",
            "date",
            "description",
            "status",
            "control_count",
            "actual_count",
            "control_amount",
            "cash_total",
            "charges",
            "other_count",
        )
        attrs = TABLE_ATTRS
        empty_text = "No batches match."

    def render_status(self, record):
        return batch_badge(record)

    def render_other_count(self, value):
        return value or "–"


class BatchReversalTable(tables.Table):
    """Payments reversed in a batch: the money leaves the books there."""

    id = tables.Column("Payment", linkify=("finance:payment_detail", {"pk": A("pk")}))
    reversed_at = DayColumn(verbose_name="Reversed")
    payer = tables.Column(
        "Payer",
        linkify=("finance:contact_detail", {"pk": A("payer_id")}),
        accessor="payer__name",
        order_by=("payer__sort_name", "payer__name"),
    )
    method = tables.Column("Method", accessor="method__code", order_by=("method__code",))
    reference = tables.Column()
    received_in = tables.Column(
        "Received in batch", linkify=("finance:batch_detail", {"pk": A("batch_id")}), accessor="batch__number"
    )
    reversal_reason = tables.Column("Reason")
    amount = MoneyColumn()

    class Meta:
        model = Payment
        fields = ("id", "reversed_at", "payer", "method", "reference", "received_in", "reversal_reason", "amount")
        attrs = TABLE_ATTRS
        empty_text = "No payments reversed in this batch."

    def render_id(self, value):
        return f"#{value}"

    def render_amount(self, value):
        return money(-value)


class RefundTable(tables.Table):
    id = tables.Column("Refund")
    date = DayColumn()
    payer = tables.Column(
        "Payer",
        linkify=("finance:contact_detail", {"pk": A("payment__payer_id")}),
        accessor="payment__payer__name",
        order_by=("payment__payer__sort_name", "payment__payer__name"),
    )
    payment = tables.Column("Payment", linkify=("finance:payment_detail", {"pk": A("payment_id")}))
    credit_invoice = tables.Column(
        "Credit invoice",
        linkify=("finance:invoice_detail", {"pk": A("credit_invoice_id")}),
        accessor="credit_invoice__number",
    )
    mode = tables.Column("How")
    status = tables.Column()
    reason = tables.Column()
    amount = MoneyColumn()

    class Meta:
        model = Refund
        fields = ("id", "date", "payer", "payment", "credit_invoice", "mode", "status", "reason", "amount")
        attrs = TABLE_ATTRS
        empty_text = "No refunds in this batch."

    def render_id(self, value):
        return f"#{value}"

    def render_payment(self, record):
        return f"#{record.payment_id}"

    def render_mode(self, record):
        return "Processor" if record.mode == Refund.Mode.PROCESSOR else "Record only"

    def render_amount(self, value):
        return money(-value)


class AdjustmentTable(tables.Table):
    """Charges taken off invoice lines (write-downs, invoice reversals)."""

    date = DayColumn()
    invoice = tables.Column(
        "Invoice", linkify=("finance:invoice_detail", {"pk": A("invoice_id")}), accessor="invoice__number"
    )
    bill_to = tables.Column(
        "Bill to",
        linkify=("finance:contact_detail", {"pk": A("invoice__bill_to_id")}),
        accessor="invoice__bill_to__name",
        order_by=("invoice__bill_to__sort_name", "invoice__bill_to__name"),
    )
    line = NumberColumn("Line", accessor="line__line_number")
    description = tables.Column("Line description", accessor="line__description")
    reason = tables.Column()
    amount = MoneyColumn()

    class Meta:
        model = InvoiceAdjustment
        fields = ("date", "invoice", "bill_to", "line", "description", "reason", "amount")
        attrs = TABLE_ATTRS
        empty_text = "No invoice adjustments in this batch."


class BatchJournalTable(tables.Table):
    """The postings of a batch's transactions, one row per journal entry."""

    id = tables.Column("Entry")
    date = DayColumn()
    kind = tables.Column()
    description = tables.Column()
    source = tables.Column("For", empty_values=(), orderable=False)
    total_debit = MoneyColumn("Debits = credits")

    class Meta:
        model = JournalEntry
        fields = ("id", "date", "kind", "description", "source", "total_debit")
        attrs = TABLE_ATTRS
        empty_text = "Nothing is posted in this batch."

    def render_id(self, value):
        return f"JE {value}"

    def render_source(self, record):
        if record.invoice_id:
            url = reverse_ids("finance:invoice_detail", pk=record.invoice_id)
            return format_html('<a href="{}">Invoice {}</a>', url, record.invoice.number)
        if record.payment_id:
            url = reverse_ids("finance:payment_detail", pk=record.payment_id)
            return format_html('<a href="{}">Payment #{}</a>', url, record.payment_id)
        if record.ar_import_id:
            url = reverse_ids("finance:ar_import_detail", pk=record.ar_import_id)
            return format_html('<a href="{}">AR import {}</a>', url, record.ar_import_id)
        return "—"
