"""Mounted at /webhooks/ (outside the login wall; signatures are checked)."""

from django.urls import path

from integrations.views.webhooks import processor_webhook

app_name = "webhooks"
urlpatterns = [
    path("<str:processor>/<int:account_id>/", processor_webhook, name="processor"),
]
