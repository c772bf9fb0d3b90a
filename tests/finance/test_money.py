from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finance.money import allocate, quantize


def test_quantize__rounds_half_up_and_refuses_float():
    assert quantize("2.345") == Decimal("2.35")
    assert quantize("-2.345") == Decimal("-2.35")
    assert quantize(3) == Decimal("3.00")
    with pytest.raises(TypeError):
        quantize(0.1)
    with pytest.raises(ValueError, match="not an amount"):
        quantize("ten dollars")


def test_allocate__splits_to_the_cent():
    assert allocate(Decimal("100.00"), [Decimal(1)] * 3) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert allocate(Decimal("0.05"), [Decimal(2), Decimal(1)]) == [Decimal("0.03"), Decimal("0.02")]


@given(
    total=st.decimals(min_value=Decimal("-99999.99"), max_value=Decimal("99999.99"), places=2),
    weights=st.lists(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000"), places=2), min_size=1, max_size=12
    ),
)
def test_allocate__parts_always_add_up(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(p == quantize(p) for p in parts)
    assert len(parts) == len(weights)
