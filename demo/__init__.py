"""Demo and benchmark data: ``manage.py seed_demo`` (a believable association, with the
demo data of each app) and ``manage.py generate_scale_data`` (a large ledger written
with COPY).

Installed by the default and test settings; production settings leave it out (see
``DEVELOPMENT_APPS`` in paycentral/settings.py).
"""
