"""Staff UI routes of the finance app (mounted at the site root)."""

from django.urls import path

app_name = "finance"

urlpatterns: list = []
