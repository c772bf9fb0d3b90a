"""AR import rows are written once (COPY) and then updated once with their preview plan;
leaving half of each page free lets PostgreSQL update them in place (HOT: no index
writes, as the plan columns are not indexed)."""

from django.db import migrations


def forward(apps, schema_editor):
    schema_editor.execute("ALTER TABLE finance_arimportrow SET (fillfactor = 50)")


def backward(apps, schema_editor):
    schema_editor.execute("ALTER TABLE finance_arimportrow RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("finance", "0006_ar_import")]
    operations = [migrations.RunPython(forward, backward)]
