"""Decimal amounts ↔ integer minor units, exactly and never through float."""

from decimal import Decimal

import pytest

from processors.money import from_minor_units, to_minor_units


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [
        (Decimal("19.99"), "USD", 1999),
        (Decimal("0.01"), "usd", 1),
        (Decimal("0.10"), "USD", 10),
        (Decimal("1234567.89"), "USD", 123456789),
        (Decimal("100"), "USD", 10000),
        (Decimal("500"), "JPY", 500),
        (Decimal("1.234"), "KWD", 1234),
    ],
)
def test_minor_units__round_trip_is_exact(amount, currency, units):
    assert to_minor_units(amount, currency) == units
    back = from_minor_units(units, currency)
    assert isinstance(back, Decimal)
    assert back == amount


def test_minor_units__two_places_kept_for_cents():
    assert str(from_minor_units(1999, "USD")) == "19.99"
    assert str(from_minor_units(1000, "USD")) == "10.00"
    assert str(from_minor_units(5, "USD")) == "0.05"


def test_minor_units__float_refused():
    with pytest.raises(TypeError):
        to_minor_units(19.99, "USD")
    with pytest.raises(TypeError):
        from_minor_units(1999.0, "USD")


def test_minor_units__finer_than_a_cent_refused_not_rounded():
    with pytest.raises(ValueError, match="finer than"):
        to_minor_units(Decimal("19.999"), "USD")
    with pytest.raises(ValueError, match="finer than"):
        to_minor_units(Decimal("1.5"), "JPY")


def test_minor_units__bad_currency_or_amount_refused():
    with pytest.raises(ValueError):
        to_minor_units(Decimal("1.00"), "US")
    with pytest.raises(ValueError):
        to_minor_units(Decimal("NaN"), "USD")
