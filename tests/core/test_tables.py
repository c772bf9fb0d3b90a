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
from django.test import RequestFactory
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
