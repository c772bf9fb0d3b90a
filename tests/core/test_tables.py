"""The staff tables render their bodies in Python (``finance/_table.html``'s
``table_body_rows``) and django-tables2 learns a render method's arguments once per
function (``core.tables2``): the cells must be exactly what the library's own template
and functions give."""

import datetime as dt
import functools
import re
from decimal import Decimal

import django_tables2 as tables
import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django_tables2 import utils

from core import tables2 as fast
from finance.tables import DayColumn, MoneyColumn


def _bodies(html: str) -> str:
    found = re.findall(r"<tbody.*?</tbody>", html, re.S)
    assert found, html
    return "".join(re.sub(r"\s*(<|>)\s*", r"\1", re.sub(r"\s+", " ", body)) for body in found)


def _render(table_class, rows, template_name):
    table = table_class(rows, template_name=template_name)
    return table.as_html(RequestFactory().get("/"))


class Sample(tables.Table):
    name = tables.Column(linkify=lambda record: f"/contacts/{record['id']}/")
    note = tables.Column(attrs={"td": {"class": "text-break", "data-kind": lambda record: record["kind"]}})
    amount = MoneyColumn()
    count = tables.Column(localize=True)
    raw = tables.Column(localize=False)
    kind = tables.Column(empty_values=())

    def render_kind(self, value, record):
        return f"<{value}> #{record['id']}"  # escaped: a plain string


ROWS = [
    {
        "id": 1,
        "name": "Ann & Co",
        "note": "<script>x</script>",
        "amount": Decimal("-12.50"),
        "count": 1234,
        "raw": 5678,
        "kind": "a",
    },
    {"id": 2, "name": "Bob", "note": "", "amount": Decimal("1234.00"), "count": None, "raw": 1, "kind": "b"},
]


def test_the_body_is_the_librarys_cell_for_cell():
    ours = _bodies(_render(Sample, ROWS, "finance/_table.html"))
    library = _bodies(_render(Sample, ROWS, "django_tables2/bootstrap5.html"))
    assert ours == library
    # Callable cell attributes are still worked out per row; text is escaped.
    assert 'class="money negative"' in ours and 'class="money"' in ours
    assert 'data-kind="a"' in ours and 'data-kind="b"' in ours
    assert "&lt;script&gt;" in ours and "<script>" not in ours


def test_an_empty_table_says_so_as_the_library_does():
    class Empty(Sample):
        class Meta:
            empty_text = "Nothing <here>."

    ours = _bodies(_render(Empty, [], "finance/_table.html"))
    assert ours == _bodies(_render(Empty, [], "django_tables2/bootstrap5.html"))
    assert "Nothing &lt;here&gt;." in ours


@pytest.mark.parametrize(
    "value",
    [dt.date(2026, 1, 15), dt.datetime(2026, 1, 16, 3, 30, tzinfo=dt.UTC)],  # 22:30 the 15th in New York
)
def test_a_day_column_shows_what_the_date_column_showed(settings, value):
    settings.TIME_ZONE = "America/New_York"

    class Old(tables.Table):
        when = tables.DateColumn(format="DATE_FORMAT")

    class New(tables.Table):
        when = DayColumn()

    old = _bodies(_render(Old, [{"when": value}], "django_tables2/bootstrap5.html"))
    new = _bodies(_render(New, [{"when": value}], "django_tables2/bootstrap5.html"))
    assert re.sub(r' class="[^"]*"', "", old) == re.sub(r' class="[^"]*"', "", new)
    assert "2026-01-15" in new  # the time's date in the association's time zone, not UTC's 16th


class Holder:
    def render(self, value, record):
        return value

    def with_kwargs(self, value, **kwargs):
        return value


def _wrapped(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize(
    "make",
    [
        lambda: Holder().render,  # bound: self is dropped
        lambda: Holder.render,  # plain: self is an argument
        lambda: Holder().with_kwargs,
        lambda: lambda record, table=None: record,
        lambda: _wrapped(lambda value, bound_row: value),  # a wrapper: its wrapped function's names
        lambda: functools.partial(lambda a, b: a, 1),  # no code object of its own
        lambda: str.upper,  # a builtin
    ],
)
def test_the_cached_signature_is_the_librarys(make):
    assert utils.signature is fast.signature  # installed when the app starts
    for _ in range(2):  # the second answer comes from the cache
        assert fast.signature(make()) == fast._library_signature(make())


def test_a_bound_and_a_plain_use_of_one_function_are_kept_apart():
    assert fast.signature(Holder().render) == (("value", "record"), None)
    assert fast.signature(Holder.render) == (("self", "value", "record"), None)
    assert fast.signature(Holder().render) == (("value", "record"), None)


# --- The project's own tables, with rows of the ledger -----------------------------------


@pytest.fixture
def busy_batch(ledger):
    """A batch holding every kind of row: invoices (one of a company's member), a credit
    invoice, payments by check (one reversed in it, with a reason with markup), a record-only
    refund, a write-down; another batch the reversed payment was received in."""
    from finance import selectors
    from finance.models import Invoice
    from finance.services.adjustments import invoice_lines_write_down
    from finance.services.batches import batch_create
    from finance.services.credits import refund_record
    from finance.services.payments import payment_receive, payment_reverse
    from tests.factories import CompanyFactory, ContactFactory
    from tests.finance.helpers import make_invoice

    day = dt.date(2026, 1, 10)
    earlier = batch_create(date=dt.date(2026, 1, 5), description="Earlier")
    batch = batch_create(date=day, description="Lockbox <1>")
    acme = CompanyFactory(name="Acme & Sons")
    ann = ContactFactory(name="Ann <b>O'Hara</b>", company=acme)
    bob = ContactFactory(name="Bob", email="bob@example.org")
    first = make_invoice(ledger, ann, batch, "120.00", "30.50", date=day)
    make_invoice(ledger, bob, batch, "99.99", date=day)
    received_before = payment_receive(
        payer=bob, method=ledger.check_method, amount=D("10.00"), date=day, batch=earlier, reference="CHK-1"
    )
    payment_reverse(payment=received_before, batch=batch, date=day, reason="Bounced <NSF>")
    over = payment_receive(payer=ann, method=ledger.check_method, amount=D("200.00"), date=day, batch=batch)
    credit = Invoice.objects.filter(bill_to=ann, type=Invoice.Type.CREDIT).get()
    refund_record(payment=over, credit_invoice=credit, batch=batch, date=day, amount=D("20.00"), reason="Asked")
    second = make_invoice(ledger, bob, batch, "50.00", date=day)
    line = second.lines.get()
    invoice_lines_write_down(invoice=second, amounts={line.pk: D("5.00")}, batch=batch, date=day, reason="Goodwill")
    assert first.balance  # (unused otherwise)
    return selectors, batch


D = Decimal


def _both(table_class, data, **kwargs):
    ours = _bodies(table_class(data, template_name="finance/_table.html", **kwargs).as_html(RequestFactory().get("/")))
    library = _bodies(
        table_class(data, template_name="django_tables2/bootstrap5.html", **kwargs).as_html(RequestFactory().get("/"))
    )
    return ours, library


def _queries_of(table_class, rows) -> list[str]:
    """The statements rendering ``table_class`` on a fresh copy of ``rows`` runs."""
    with CaptureQueriesContext(connection) as queries:
        table_class(rows.all(), template_name="finance/_table.html").as_html(RequestFactory().get("/"))
    return [q["sql"] for q in queries]


def test_every_table_of_a_batch_is_the_librarys_cell_for_cell(busy_batch):
    from finance.tables import (
        AdjustmentTable,
        BatchJournalTable,
        BatchReversalTable,
        InvoiceTable,
        PaymentTable,
        RefundTable,
    )

    selectors, batch = busy_batch
    tables_and_rows = [
        (InvoiceTable, selectors.batch_invoices(batch), 4),
        (PaymentTable, selectors.batch_payments(batch), 1),
        (BatchReversalTable, selectors.batch_reversed_payments(batch), 1),
        (RefundTable, selectors.batch_refunds(batch), 1),
        (AdjustmentTable, selectors.batch_adjustments(batch), 1),
        (BatchJournalTable, selectors.batch_journal_entries(batch), 6),
    ]
    for table_class, rows, at_least in tables_and_rows:
        ours, library = _both(table_class, rows)
        assert ours == library, table_class.__name__
        assert ours.count("<tr ") >= at_least, (table_class.__name__, ours)
        # The rows are read in one query: no column a cell reads was left out of it.
        assert len(_queries_of(table_class, rows)) == 1, table_class.__name__
    invoices, _ = _both(InvoiceTable, selectors.batch_invoices(batch))
    assert "Ann &lt;b&gt;O&#x27;Hara&lt;/b&gt;" in invoices  # a name with markup is escaped
    assert 'href="/contacts/' in invoices and 'href="/batches/' in invoices  # links by id
    reversals, _ = _both(BatchReversalTable, selectors.batch_reversed_payments(batch))
    assert "Bounced &lt;NSF&gt;" in reversals and 'class="money negative"' in reversals


def test_the_contact_and_batch_lists_are_the_librarys_cell_for_cell(busy_batch):
    from finance.models import Batch, Contact
    from finance.tables import BatchTable, ContactTable

    selectors, _ = busy_batch
    ours, library = _both(ContactTable, Contact.objects.select_related("company").order_by("name"))
    assert ours == library
    assert 'href="/contacts/' in ours and "bob@example.org" in ours and "Acme &amp; Sons" in ours
    (query,) = _queries_of(ContactTable, Contact.objects.select_related("company").order_by("name"))
    assert '"finance_contact"."created_at"' not in query  # only the columns the cells read
    # The lists of a contact's page and the staff lists, on the selectors they use.
    from finance.tables import ContactInvoiceTable, ContactPaymentTable, InvoiceTable, PaymentTable

    ann = Contact.objects.get(name__startswith="Ann")
    for table_class, rows in [
        (ContactInvoiceTable, selectors.contact_invoices(ann)),
        (ContactInvoiceTable, selectors.contact_open_credits(ann)),
        (ContactPaymentTable, selectors.contact_payments(ann)),
        (InvoiceTable, selectors.invoice_list()),
        (PaymentTable, selectors.payment_list()),
    ]:
        ours, library = _both(table_class, rows)
        assert ours == library and "<tr " in ours, table_class.__name__
        assert len(_queries_of(table_class, rows)) == 1, table_class.__name__
    batches = selectors.batch_with_figures(Batch.objects.order_by("-pk"))  # a list of rows, not a queryset
    ours, library = _both(BatchTable, batches)
    assert ours == library and ours.count("<tr ") == 2


def test_links_by_id_are_what_reverse_gives(client):
    from django.urls import reverse

    from core.fast_reverse import ids_url, reverse_ids

    invoice_url = ids_url("finance:invoice_detail", ("pk",))
    for pk in (0, 7, 12345678901234):
        assert reverse_ids("finance:invoice_detail", pk=pk) == reverse("finance:invoice_detail", kwargs={"pk": pk})
        assert invoice_url(pk) == reverse("finance:invoice_detail", kwargs={"pk": pk})
    # Not an id: reverse decides (and refuses what it refuses).
    from django.urls import NoReverseMatch

    with pytest.raises(NoReverseMatch):
        reverse_ids("finance:invoice_detail", pk="x")
    with pytest.raises(NoReverseMatch):
        reverse_ids("finance:invoice_detail", pk=-1)


# The header cells as the template wrote them before ``table_head_cells``.
HEAD_TEMPLATE = """{% load django_tables2 %}<tr>
{% for column in table.columns %}
  <th {{ column.attrs.th.as_html }} scope="col"{% if column.orderable %} aria-sort="{% if column.is_ordered %}{% if column.order_by_alias.is_descending %}descending{% else %}ascending{% endif %}{% else %}none{% endif %}"{% endif %}>
    {% if column.orderable %}
    <a href="{% querystring_replace table.prefixed_order_by_field=column.order_by_alias.next %}" title="Sort by {{ column.header|lower }}{% if column.is_ordered %} ({% if column.order_by_alias.is_descending %}now descending{% else %}now ascending{% endif %}){% endif %}">{{ column.header }}<span class="sort-mark" aria-hidden="true"></span></a>
    {% else %}
    {{ column.header }}
    {% endif %}
  </th>
{% endfor %}
</tr>"""  # noqa: E501


@pytest.mark.parametrize("query", ["", "?inv-sort=-date&status=open&q=A%26B", "?inv-sort=total&page=2"])
def test_the_header_is_the_templates_cell_for_cell(query):
    from django.template import Context, Template
    from django_tables2 import RequestConfig

    from finance.templatetags.tables_fast import table_head_cells

    class Head(tables.Table):
        number = tables.Column("Invoice <no.>")
        date = DayColumn()
        total = MoneyColumn()
        state = tables.Column("Status", orderable=False)

    request = RequestFactory().get("/invoices/" + query)
    table = Head([], prefix="inv-")
    RequestConfig(request).configure(table)
    old = Template(HEAD_TEMPLATE).render(Context({"table": table, "request": request}))
    new = "<tr>" + table_head_cells({"request": request}, table) + "</tr>"

    def squeeze(html):
        return re.sub(r"\s*(<|>)\s*", r"\1", re.sub(r"\s+", " ", html)).replace(" >", ">")

    assert squeeze(new) == squeeze(old)
    assert "Invoice &lt;no.&gt;" in new and 'aria-sort="none"' in new
    if "sort=-date" in query:
        assert 'aria-sort="descending"' in new and "status=open" in new and "q=A%26B" in new
