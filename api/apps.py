from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The JSON API (``/api/v1/``, OpenAPI schema, bearer tokens) over the ledger and the
    membership Subscription API."""

    name = "api"
    verbose_name = "JSON API"
