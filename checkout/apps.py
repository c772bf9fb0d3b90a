from django.apps import AppConfig


class CheckoutConfig(AppConfig):
    """The staff cart and the member checkout, built on the ledger: orders taken on
    behalf of a contact, paid by open credit and a method of the set in use (a card
    through the processor adapters)."""

    name = "checkout"
    verbose_name = "Cart and checkout"
