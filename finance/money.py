"""Money helpers: one quantize, one allocator. Amounts are Decimal, never float."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_DIGITS = 14
DECIMAL_PLACES = 2


def quantize(value) -> Decimal:
    """Round to cents, half up. Accepts Decimal, int or str; refuses float."""
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass a Decimal or a string")
    try:
        return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


def allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights`` so the parts add up to the cent.

    Rounding differences go to the largest parts first (largest remainder method).
    """
    total = quantize(total)
    if not weights:
        return []
    weight_sum = sum(weights, Decimal("0"))
    if weight_sum == 0:
        raise ValueError("cannot allocate over zero weights")
    cents = int(total / CENT)
    raw = [Decimal(cents) * w / weight_sum for w in weights]
    floors = [int(r) for r in raw]
    remainder = cents - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: raw[i] - floors[i], reverse=True)
    for i in order[: abs(remainder)]:
        floors[i] += 1 if remainder > 0 else -1
    return [Decimal(c) * CENT for c in floors]
