"""The body of a django-tables2 table, rendered in Python.

django-tables2's own template walks every cell through the template engine (a loop, an
``if`` on the column's ``localize``, the ``<td>`` attributes computed again for each
cell), and its rows work out for every cell what does not change from row to row: the
accessor parsed again, the model field looked up for its choices, the render method's
arguments, the ``<td>`` attributes, and ``reverse`` run through the URL patterns for
each link.

Here each column's way of making a cell is worked out once per table (``_Column``), and
each cell follows the library's steps (``BoundRow._get_and_render_with``,
``_call_render`` and ``LinkTransform``): the value read through the accessor (a field
with choices shows its display value), the column's default for an empty value, the
render method called with the arguments it names, the link around it, the value
localized and escaped. Links named by a URL pattern and ids are built by
``core.fast_reverse``. A column the plan does not cover (a many-to-many column, a link
column with fixed text, a link with computed attributes or a URL of its own, rows that
are not model instances) takes the library's own per-cell path, as does a column whose
``<td>`` attributes are computed from the record; a column declaring ``td_key`` (its
computed attributes depend on the value only through that key, as ``MoneyColumn``'s
sign) has them computed once per key. ``tests/core/test_tables.py`` holds the result to
the library's own template, table by table.
"""

import html

from django import template
from django.db import models
from django.template.defaultfilters import lower
from django.utils.formats import localize
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django_tables2 import utils
from django_tables2.columns.base import Column
from django_tables2.columns.linkcolumn import BaseLinkColumn
from django_tables2.columns.manytomanycolumn import ManyToManyColumn
from django_tables2.utils import Accessor

from core.fast_reverse import ids_url

register = template.Library()

_CELL_ARGUMENTS = ("value", "record", "column", "bound_column", "bound_row", "table")


def _static_td(bound_column) -> str | None:
    """The column's ``<td>`` attributes if they depend on no record, else None."""
    attrs = dict(bound_column._table.attrs)
    attrs.update(dict(bound_column.column.attrs))
    td = attrs.get("td", attrs.get("cell", {}))
    if any(callable(v) for v in td.values()):
        return None
    return bound_column.attrs["td"].as_html()


def _step(current, bit):
    """One step of ``Accessor.resolve``: key, attribute, then list index; a callable
    found is called (unless it alters data or asks not to be)."""
    try:
        current = current[bit]
    except (TypeError, AttributeError, KeyError):
        try:
            current = getattr(current, bit)
        except (TypeError, AttributeError):
            try:
                current = current[int(bit)]
            except (IndexError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"Failed lookup for key [{bit}]") from exc
    if callable(current):
        if getattr(current, "alters_data", False):
            raise ValueError(f"Refusing to call {current.__name__}() because `.alters_data = True`")
        if not getattr(current, "do_not_call_in_templates", False):
            current = current()
    return current


def _model_step(current, bit):
    """``_step`` for a model instance, which takes no key lookup."""
    try:
        current = getattr(current, bit)
    except AttributeError as exc:
        raise ValueError(f"Failed lookup for key [{bit}]") from exc
    if callable(current):
        if getattr(current, "alters_data", False):
            raise ValueError(f"Refusing to call {current.__name__}() because `.alters_data = True`")
        if not getattr(current, "do_not_call_in_templates", False):
            current = current()
    return current


_plain_model: dict[type, bool] = {}


def _is_plain_model(kind: type) -> bool:
    """A model class that takes no key lookup (no ``__getitem__``): worked out once."""
    found = _plain_model.get(kind)
    if found is None:
        found = _plain_model[kind] = issubclass(kind, models.Model) and not hasattr(kind, "__getitem__")
    return found


def _walk(current, bits):
    for bit in bits:
        current = _model_step(current, bit) if _is_plain_model(type(current)) else _step(current, bit)
        if current is None:
            break
    return current


def _escape(value) -> str:
    """``conditional_escape``, without its lazy-string wrapper: safe text as it is,
    anything else as ``django.utils.html.escape`` gives it."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def _reversed_link(link):
    """(view name, {argument: accessor or value}) when ``link`` is a plain
    ``linkify=(name, {...})`` with no attributes of its own, else None."""
    if link is None or link.url is not None or link.attrs:
        return None
    params = link.reverse_args
    viewname = params.get("viewname")
    if not isinstance(viewname, str) or isinstance(viewname, Accessor) or set(params) - {"viewname", "kwargs"}:
        return None
    return viewname, dict(params.get("kwargs") or {})


class _Column:
    """How the cells of one bound column are made (worked out once per table)."""

    def __init__(self, bound_column, record_model):
        column = bound_column.column
        self.bound = bound_column
        self.name = bound_column.name
        self.td = _static_td(bound_column)
        self.td_key = getattr(column, "td_key", None)
        self.td_by_key: dict = {}
        self.localize = bound_column.localize
        accessor = Accessor(bound_column.accessor)
        self.fast = (
            record_model is not None
            and not isinstance(column, ManyToManyColumn)
            and not (isinstance(column, BaseLinkColumn) and column.text is not None)
            and not accessor.callable_args
            and not accessor.callable_kwargs
            and accessor.SEPARATOR == Accessor.SEPARATOR
            and bool(accessor.bits)
        )
        if not self.fast:
            return
        bits = accessor.bits
        self.head, self.last = bits[:-1], bits[-1]
        field = accessor.get_field(record_model)
        self.display = f"get_{self.last}_display" if getattr(field, "choices", ()) else None
        self.empty_values = column.empty_values
        self.default = bound_column.default
        self.render = bound_column.render
        wanted, catch_all = utils.signature(self.render)
        self.wanted = None if catch_all else wanted
        # The library's own ``Column.render`` gives the value back: no call needed.
        self.identity = getattr(self.render, "__func__", None) is Column.render
        self.link = bound_column.link
        self.reversed = _reversed_link(self.link) if self.link else None
        if self.reversed is not None:
            viewname, params = self.reversed
            self.url = ids_url(viewname, tuple(params))
            self.url_params = tuple(params.values())

    def value(self, record):
        """``BoundRow._get_and_render_with``'s value: None when it cannot be read."""
        try:
            penultimate = _walk(record, self.head)
        except Exception:
            penultimate = None
        if self.display is not None and isinstance(penultimate, models.Model):
            display = getattr(penultimate, self.display, None)
            if display:
                return display()
        if penultimate is None:
            return None
        try:
            return _walk(penultimate, (self.last,))
        except Exception:
            return None

    def cell(self, row, record):
        value = self.value(record)
        if value in self.empty_values:
            return self.default
        if self.identity and self.reversed is not None:
            content = value
        else:
            arguments = {
                "value": value,
                "record": record,
                "column": self.bound.column,
                "bound_column": self.bound,
                "bound_row": row,
                "table": row._table,
            }
            if self.identity:
                content = value
            elif self.wanted is None:
                content = self.render(**arguments)
            elif all(name in arguments for name in self.wanted):
                content = self.render(**{name: arguments[name] for name in self.wanted})
            else:
                content = None
            if not self.link:
                return content
            if self.reversed is None:
                return self.link(content, **arguments)
        url = self.url(*(_walk(record, v.bits) if isinstance(v, Accessor) else v for v in self.url_params))
        # format_html('<a href="{}">{}</a>', url, content), as LinkTransform writes it.
        return mark_safe(f'<a href="{_escape(url)}">{_escape(content)}</a>')

    def td_html(self, record, cell) -> str:
        if self.td is not None:
            return self.td
        bound = self.bound
        key = None
        if self.td_key is not None and cell is not None:
            key = self.td_key(cell)
            found = self.td_by_key.get(key)
            if found is not None:
                return found
        bound.current_value, bound.current_record = cell, record
        html = bound.attrs["td"].as_html()
        if key is not None:
            self.td_by_key[key] = html
        return html

    def html(self, cell) -> str:
        if self.localize is None:
            return _escape(cell)
        return _escape(localize(cell, use_l10n=self.localize))


def _record_model(table):
    """The model the table declares (``Meta.model``) or its queryset's: rows that are
    instances of it take the planned path; others (dicts and the like) the library's."""
    model = getattr(table._meta, "model", None)
    if model is None:
        queryset = getattr(getattr(table, "data", None), "data", None)
        model = getattr(queryset, "model", None) if hasattr(queryset, "query") else None
    return model


@register.simple_tag
def table_body_rows(table) -> str:
    model = _record_model(table)
    plans = [_Column(column, model) for column in table.columns]
    rows = []
    plain_rows = not table.row_attrs
    for row in table.paginated_rows:
        record = row.record
        fast = model is not None and isinstance(record, model)
        cells = []
        if fast:
            for plan in plans:
                bound = plan.bound
                if plan.fast:
                    cell = plan.cell(row, record)
                else:
                    cell = row.get_cell(bound.name)
                bound.current_value, bound.current_record = cell, record
                cells.append(f"<td {plan.td_html(record, cell)}>{plan.html(cell)}</td>")
        else:
            for _bound, cell in row.items():
                plan = plans[len(cells)]
                cells.append(f"<td {plan.td_html(record, cell)}>{plan.html(cell)}</td>")
        # The row's attributes: with no row_attrs, its even/odd class alone (BoundRow.attrs).
        tr = f'class="{row.get_even_odd_css_class()}"' if plain_rows else row.attrs.as_html()
        rows.append(f"<tr {tr}>{''.join(cells)}</tr>")
    if not rows and table.empty_text:
        rows.append(format_html('<tr><td colspan="{}">{}</td></tr>', len(plans), table.empty_text))
    return mark_safe("\n".join(rows))


@register.simple_tag(takes_context=True)
def table_head_cells(context, table) -> str:
    """The header cells of ``table``, as the staff tables' template wrote them (an
    orderable column: a sort link that keeps the page's other parameters, its title and
    ``aria-sort``), without a template pass and a ``querystring_replace`` per column."""
    request = context["request"]
    query = dict(request.GET)  # as querystring_replace reads it: each key's list of values
    cells = []
    for column in table.columns:
        th = column.attrs["th"].as_html()
        header = column.header
        if not column.orderable:
            cells.append(f'<th {th} scope="col">{_escape(header)}</th>')
            continue
        alias = column.order_by_alias
        if column.is_ordered:
            sort = "descending" if alias.is_descending else "ascending"
            now = f" (now {sort})"
        else:
            sort, now = "none", ""
        params = {**query, table.prefixed_order_by_field: alias.next}
        href = html.escape("?" + urlencode(params, doseq=True))
        title = f"Sort by {_escape(lower(header))}{now}"
        cells.append(
            f'<th {th} scope="col" aria-sort="{sort}"><a href="{href}" title="{title}">{_escape(header)}'
            '<span class="sort-mark" aria-hidden="true"></span></a></th>'
        )
    return mark_safe("\n".join(cells))
