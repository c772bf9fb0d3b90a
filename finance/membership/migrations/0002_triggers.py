"""Triggers that keep subscriptions' paid-through and renewed-through dates current."""

from django.db import migrations

from finance.membership.sql import install, uninstall


class Migration(migrations.Migration):
    dependencies = [
        ("membership", "0001_initial"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
