"""Decimal amounts ↔ integer minor units, exactly (never through float)."""

from decimal import Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not the cent (everything else has 2 places).
_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}


def currency_exponent(currency: str) -> int:
    code = (currency or "").upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"not an ISO 4217 currency code: {currency!r}")
    return _EXPONENTS.get(code, 2)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Decimal("19.99"), "USD" → 1999. Refuses floats and amounts finer than the minor unit."""
    if isinstance(amount, float) or not isinstance(amount, Decimal | int | str):
        raise TypeError(f"amount must be a Decimal (or int/str), not {type(amount).__name__}")
    try:
        value = Decimal(amount)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    units = value.scaleb(currency_exponent(currency))
    if units != units.to_integral_value():
        raise ValueError(f"{amount} {currency.upper()} is finer than the currency's minor unit")
    return int(units)


def from_minor_units(units: int, currency: str) -> Decimal:
    """1999, "USD" → Decimal("19.99"); 500, "JPY" → Decimal("500")."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError(f"minor units must be an int, not {type(units).__name__}")
    exponent = currency_exponent(currency)
    return Decimal(units).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))
