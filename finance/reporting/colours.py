"""The one colour rule of the charts: a payment method keeps its colour (and fill
pattern, so the charts read without colour too) on every chart. It is derived from the
method's id, which never changes: methods are few, so the first ten each have a colour
of their own, and a method added later never takes another's."""

METHOD_COLOURS = [
    "#1f3a5f",  # navy
    "#d97706",  # amber
    "#0f766e",  # teal
    "#b91c1c",  # red
    "#6d28d9",  # violet
    "#475569",  # slate
    "#0369a1",  # sky
    "#a16207",  # ochre
    "#be185d",  # pink
    "#4d7c0f",  # olive
]
# Fill patterns drawn by the charts' script (templates/reporting/_chart_js.html).
METHOD_PATTERNS = ["solid", "diagonal", "dots", "cross", "horizontal", "vertical", "zigzag", "diagonal-left"]


def method_style(method_id: int) -> dict[str, str]:
    """The chart colour and fill pattern of the payment method ``method_id``."""
    return {
        "colour": METHOD_COLOURS[(method_id - 1) % len(METHOD_COLOURS)],
        "pattern": METHOD_PATTERNS[(method_id - 1) % len(METHOD_PATTERNS)],
    }
