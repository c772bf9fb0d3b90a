"""Mounted at /sandbox/processor/v1/ by the root URLconf; empty when the sandbox is off."""

from django.conf import settings
from django.urls import path

from sandboxes.processor import views

app_name = "sandbox_processor"

urlpatterns = (
    [
        path("charges", views.charges, name="charges"),
        path("charges/search", views.charge_search, name="charge-search"),
        path("charges/<str:charge_id>", views.charge_detail, name="charge-detail"),
        path("refunds", views.refunds, name="refunds"),
        path("customers", views.customers, name="customers"),
        path("elements.js", views.elements_js, name="elements-js"),
        path("payment_methods", views.payment_methods, name="payment-methods"),
        path("payment_methods/<str:method_id>", views.payment_method_detail, name="payment-method-detail"),
        path("refunds/<str:refund_id>", views.refund_detail, name="refund-detail"),
        path("payment_requests", views.payment_requests, name="payment-requests"),
        path("payment_requests/<str:request_id>", views.payment_request_detail, name="payment-request-detail"),
        path("test_helpers/charges/<str:charge_id>/advance", views.charge_advance, name="charge-advance"),
        path(
            "test_helpers/payment_requests/<str:request_id>/pay",
            views.payment_request_pay,
            name="payment-request-pay",
        ),
    ]
    if settings.SANDBOX_PROCESSOR_ENABLED
    else []
)
