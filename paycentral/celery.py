"""The Celery application. Tasks live in each app's ``tasks.py`` and are discovered."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")

app = Celery("paycentral")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
