"""Field helpers of the ledger's models: amounts and currency codes."""

from django.db import models

from finance.money import DECIMAL_PLACES, MAX_DIGITS


def MoneyField(**kwargs):  # noqa: N802 - reads like a field class
    kwargs.setdefault("max_digits", MAX_DIGITS)
    kwargs.setdefault("decimal_places", DECIMAL_PLACES)
    return models.DecimalField(**kwargs)


def CurrencyField(**kwargs):  # noqa: N802
    kwargs.setdefault("max_length", 3)
    kwargs.setdefault("default", "USD")
    return models.CharField(**kwargs)
