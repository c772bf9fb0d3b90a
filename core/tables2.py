"""django-tables2, doing less per cell.

For every cell it renders, django-tables2 calls ``utils.signature`` on the column's
render method (and on each callable of ``linkify``) to learn which keyword arguments to
pass, and that runs ``inspect.signature`` anew: a tenth of a list page's CPU. The names
a plain function takes are fixed by its code object, so they are worked out once per
code object (and whether it is bound, which drops the first). Callables whose signature
is not their code's (a ``functools.wraps`` wrapper, an explicit ``__signature__``,
builtins, partials, classes) go to the library's own function each time.
"""

from django_tables2 import utils

_library_signature = utils.signature
_by_code: dict = {}
_MAX_ENTRIES = 4096  # code objects live as long as their module: this bounds a leak, not a working set


def signature(fn):
    function = getattr(fn, "__func__", fn)
    code = getattr(function, "__code__", None)
    if code is None or hasattr(function, "__wrapped__") or hasattr(function, "__signature__"):
        return _library_signature(fn)
    key = (code, function is not fn)
    found = _by_code.get(key)
    if found is None:
        found = _library_signature(fn)
        if len(_by_code) < _MAX_ENTRIES:
            _by_code[key] = found
    return found


def install() -> None:
    """Use the cached ``signature`` in django-tables2 (idempotent)."""
    utils.signature = signature
