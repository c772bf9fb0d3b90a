"""
WSGI config for paycentral project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paycentral.settings")

application = get_wsgi_application()

# What every request needs, loaded now and kept out of the garbage collector's full
# collections (core/warm.py).
from core.warm import settle_long_lived_objects  # noqa: E402

settle_long_lived_objects()
