"""A reversed payment keeps its reversal's accounting date, so that the cash receipts
take its money off on that day (they left reversed payments out altogether). Payments
reversed before: the date of their reversal entries, else the reversal time's date in
the association's time zone."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0033_card_payments"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="payment",
            name="payment_reversal_consistent",
        ),
        migrations.AddField(
            model_name="payment",
            name="reversal_date",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.RunSQL(
            sql=[
                (
                    """
                    UPDATE finance_payment p
                       SET reversal_date = COALESCE(
                               (SELECT MIN(e.date) FROM finance_journalentry e
                                 WHERE e.payment_id = p.id AND e.kind = 'payment_reversal'),
                               (p.reversed_at AT TIME ZONE %s)::date)
                     WHERE p.status = 'reversed'
                    """,
                    [settings.TIME_ZONE],
                )
            ],
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("reversal_date__isnull", False)),
                fields=["reversal_date"],
                include=("method", "currency", "amount", "reversal_batch"),
                name="payment_by_reversal_date",
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("reversal_date__isnull", True), ("reversed_at__isnull", True), ("status", "posted")),
                    models.Q(("reversal_date__isnull", False), ("reversed_at__isnull", False), ("status", "reversed")),
                    _connector="OR",
                ),
                name="payment_reversal_consistent",
            ),
        ),
    ]
