"""The functions of the triggers on the ledger tables run with a search_path of their own.

They name their tables without a schema, so they ran with the caller's search_path: a
session with an empty one (as pg_dump and pg_restore scripts set it, or a tool that
schema-qualifies its own statements) could not write an invoice, a payment application
or a journal line ("relation "finance_batch" does not exist" from the posted-batch
check, the journal balance check at commit, the kept contact balances, the membership
dates). Each function now sets the search_path to the schema the tables were created
in, then pg_temp (last: a temporary table cannot stand in for a ledger table).

The functions come from finance 0003 and 0008 (journal balance, immutable journal,
posted batches), reporting 0004 (kept open balances), membership 0002 (paid-through
dates) and audit 0002 (immutable audit trail). A test checks that every function a
trigger calls sets its search_path.
"""

from django.db import migrations

FUNCTIONS = [
    "finance_journal_queue_entries()",
    "finance_check_queued_entries_balanced()",
    "finance_batch_accepts_new_rows()",
    "finance_batch_accepts_rows()",  # the row-level version of 0003, kept for 0008's reverse
    "finance_journalline_immutable()",
    "finance_journalentry_immutable()",
    "finance_batch_posted_frozen()",
    "reporting_contact_balance_insert()",
    "reporting_contact_balance_update()",
    "reporting_contact_balance_delete()",
    "membership_refresh_subscriptions(bigint[])",
    "membership_applications_written()",
    "membership_invoice_reversed()",
    "audit_event_immutable()",
]


def set_search_path(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
    for function in FUNCTIONS:
        schema_editor.execute(
            f"ALTER FUNCTION {function} SET search_path = {schema_editor.quote_name(schema)}, pg_temp", params=None
        )


def reset_search_path(apps, schema_editor):
    for function in FUNCTIONS:
        schema_editor.execute(f"ALTER FUNCTION {function} RESET search_path", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0022_real_foreign_keys"),
        ("reporting", "0005_contact_balance_contact_unindexed"),
        ("membership", "0004_renewal_run_build_times"),
        ("audit", "0002_immutable"),
    ]

    operations = [migrations.RunPython(set_search_path, reset_search_path)]
