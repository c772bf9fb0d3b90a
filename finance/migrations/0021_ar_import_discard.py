import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """An import that was not posted may be discarded: who and when."""

    dependencies = [
        ("finance", "0020_arimport_repeat_count"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="arimport",
            name="discarded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="arimport",
            name="discarded_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="arimport",
            name="status",
            field=models.CharField(
                choices=[
                    ("uploaded", "Uploaded"),
                    ("validated", "Validated"),
                    ("invalid", "Invalid"),
                    ("posting", "Posting"),
                    ("posted", "Posted"),
                    ("failed", "Failed"),
                    ("discarded", "Discarded"),
                ],
                default="uploaded",
                max_length=12,
            ),
        ),
        migrations.AddConstraint(
            model_name="arimport",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "discarded"), _negated=True),
                    models.Q(("batch__isnull", True), ("discarded_at__isnull", False)),
                    _connector="OR",
                ),
                name="ar_import_discarded_unposted",
            ),
        ),
    ]
