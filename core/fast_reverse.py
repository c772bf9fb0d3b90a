"""``reverse()`` for the links of a list, without resolving the pattern for every row.

A list of 25 rows links each row to its detail page, its contact and its batch: ``reverse``
walks the URL patterns, checks the converters and matches the candidate against the
pattern's regular expression for every link. For a pattern whose arguments are
non-negative integers (``<int:pk>``), the URL of any id is the URL of another id with the
digits replaced: ``reverse_ids`` reverses a name once with marker ids, checks that a
second set of ids gives what the replacement gives (a pattern that takes only some
numbers, or puts them in twice, fails the check and is left to ``reverse``), and then
builds each URL by replacement.

The templates are kept per URL resolver (a new URLconf, or a test that overrides it,
gets its own) and per script prefix (a site served under a path).
"""

from django.urls import get_resolver, get_script_prefix, get_urlconf, reverse

_MARKS = (904_317_000_001, 904_317_000_002, 904_317_000_003)
_CHECK = (7, 81, 6_345)
_templates: dict = {}
_MAX_ENTRIES = 2048


def _template(viewname: str, names: tuple[str, ...]):
    """(url with marks, marks as text) for ``viewname`` with these keyword arguments, or
    None when replacing the marks does not give what ``reverse`` gives."""
    if len(names) > len(_MARKS):
        return None
    marked = reverse(viewname, kwargs=dict(zip(names, _MARKS, strict=False)))
    marks = tuple(str(m) for m in _MARKS[: len(names)])
    if any(marked.count(m) != 1 for m in marks):
        return None
    check = reverse(viewname, kwargs=dict(zip(names, _CHECK, strict=False)))
    if _fill(marked, marks, _CHECK) != check:
        return None
    return marked, marks


def _fill(marked: str, marks: tuple[str, ...], values) -> str:
    url = marked
    for mark, value in zip(marks, values, strict=False):
        url = url.replace(mark, str(value))
    return url


def _found(viewname: str, names: tuple[str, ...]):
    key = (get_resolver(get_urlconf()), get_script_prefix(), viewname, names)
    try:
        return _templates[key]
    except KeyError:
        found = _template(viewname, names)
        if len(_templates) < _MAX_ENTRIES:
            _templates[key] = found
        return found


def ids_url(viewname: str, names: tuple[str, ...]):
    """A function of the ids (in the order of ``names``) giving
    ``reverse(viewname, kwargs=dict(zip(names, ids)))``: for the many links of one
    list, the URL resolver and script prefix of now are looked up once."""
    found = _found(viewname, names)

    def url(*values) -> str:
        if found is None or not all(type(v) is int and v >= 0 for v in values):
            return reverse(viewname, kwargs=dict(zip(names, values, strict=True)))
        return _fill(found[0], found[1], values)

    return url


def reverse_ids(viewname: str, **kwargs) -> str:
    """``reverse(viewname, kwargs=kwargs)`` for keyword arguments that are ids (ints of
    zero or more); any other argument, or a pattern that does not take any id alike,
    goes to ``reverse``."""
    values = tuple(kwargs.values())
    if not all(type(v) is int and v >= 0 for v in values):
        return reverse(viewname, kwargs=kwargs)
    found = _found(viewname, tuple(kwargs))
    if found is None:
        return reverse(viewname, kwargs=kwargs)
    return _fill(found[0], found[1], values)
