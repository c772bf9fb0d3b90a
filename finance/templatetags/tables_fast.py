"""The body of a django-tables2 table, rendered in Python.

django-tables2's own template walks every cell through the template engine (a loop, an
``if`` on the column's ``localize``, the ``<td>`` attributes computed again for each
cell). Here the cells are the same (``BoundRow.items()``: the columns' ``render_*``
methods, ``linkify``, the accessors), and each column's ``<td>`` attributes are worked
out once per table when they name no callable, as the attributes of this project's
tables do; a column whose attributes are callables gets them per cell, as before.
"""

from django import template
from django.utils.formats import localize
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

register = template.Library()


def _static_td(bound_column) -> str | None:
    """The column's ``<td>`` attributes if they depend on no record, else None."""
    attrs = dict(bound_column._table.attrs)
    attrs.update(dict(bound_column.column.attrs))
    td = attrs.get("td", attrs.get("cell", {}))
    if any(callable(v) for v in td.values()):
        return None
    return bound_column.attrs["td"].as_html()


def _cell_html(bound_column, cell) -> str:
    if bound_column.localize is None:
        return conditional_escape(cell)
    return conditional_escape(localize(cell, use_l10n=bound_column.localize))


@register.simple_tag
def table_body_rows(table) -> str:
    columns = list(table.columns)
    td_of = {column.name: _static_td(column) for column in columns}
    rows = []
    for row in table.paginated_rows:
        cells = []
        for column, cell in row.items():
            td = td_of[column.name]
            if td is None:
                td = column.attrs["td"].as_html()
            cells.append(f"<td {td}>{_cell_html(column, cell)}</td>")
        rows.append(format_html("<tr {}>{}</tr>", row.attrs.as_html(), mark_safe("".join(cells))))
    if not rows and table.empty_text:
        rows.append(format_html('<tr><td colspan="{}">{}</td></tr>', len(columns), table.empty_text))
    return mark_safe("\n".join(rows))
