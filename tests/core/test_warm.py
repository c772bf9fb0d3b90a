"""The web server's entry point loads the URL patterns and freezes what is alive out of
the garbage collector's full collections (core/warm.py)."""

import os
import subprocess
import sys

CHECK = """
import gc
assert gc.get_freeze_count() == 0
import paycentral.wsgi
import finance.views.batches  # loaded with the URL patterns, before the freeze
print(gc.get_freeze_count())
"""


def test_the_wsgi_application_freezes_what_it_loaded():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "paycentral.settings_test")}
    done = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    frozen = int(done.stdout.strip().splitlines()[-1])
    assert frozen > 50_000  # modules, models, URL patterns and views: far more than a few objects
