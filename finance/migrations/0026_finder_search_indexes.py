# The contact finder and the header search look contacts up by the start of a name, sort
# name or email in any case, and payments by reference: btree indexes (no extension), built
# without blocking writes to the tables. Then the planner's statistics of the indexed
# expressions (ANALYZE), so that a rare name is looked up in the index, not scanned for.

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("finance", "0025_fewer_keyed_rows"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="contact",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("name"), name="text_pattern_ops"
                ),
                name="contact_name_prefix",
            ),
        ),
        AddIndexConcurrently(
            model_name="contact",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("sort_name"), name="text_pattern_ops"
                ),
                name="contact_sort_name_prefix",
            ),
        ),
        AddIndexConcurrently(
            model_name="contact",
            index=models.Index(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("email"), name="text_pattern_ops"
                ),
                name="contact_email_prefix",
            ),
        ),
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("reference", ""), _negated=True), fields=["reference"], name="payment_by_reference"
            ),
        ),
        migrations.RunSQL("ANALYZE finance_contact", reverse_sql=migrations.RunSQL.noop),
    ]
