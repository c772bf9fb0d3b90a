"""Trigram indexes for the contact searches that match inside a name ("contains"), where
the PostgreSQL server has the pg_trgm extension (a PostgreSQL server of your own
normally does; the embedded server does not ship it).

The contact list's search and the invoice and payment lists' contact filter match a name
or an email containing the text typed, any case (``UPPER(name) LIKE UPPER('%text%')``),
or a major key equal to it. Without these indexes each search reads every contact (a
sequential scan of 200,000 rows for the count and again for the page); with them
PostgreSQL combines index scans (a bitmap OR): GIN trigram indexes on ``UPPER(name)`` and
``UPPER(email)`` and a btree on ``UPPER(major_key)``. The results are the same either
way: where the extension is missing, nothing is created and the searches scan as before.

Not declared in the models' ``Meta.indexes`` (they exist on some servers only), so the
migration state does not name them.
"""

from django.db import migrations

INDEXES = [
    "CREATE INDEX IF NOT EXISTS contact_name_trgm ON finance_contact USING gin (UPPER(name) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS contact_email_trgm ON finance_contact USING gin (UPPER(email) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS contact_major_key_upper ON finance_contact (UPPER(major_key))",
]
NAMES = ["contact_name_trgm", "contact_email_trgm", "contact_major_key_upper"]


def create(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is None:
            return
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for sql in INDEXES:
            cursor.execute(sql)


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for name in NAMES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("finance", "0028_payment_methods_moved_in")]

    operations = [migrations.RunPython(create, drop)]
