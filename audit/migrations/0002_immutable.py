"""On PostgreSQL, the audit trail refuses UPDATE and DELETE, whoever asks.

(TRUNCATE needs the table owner's rights, which the application's role should not
hold in production; the test runner empties tables with it between tests.)"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail cannot be changed (% on audit_auditevent refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_immutable();
"""
DROP = """
DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_immutable();
"""


def forwards(apps, schema_editor):
    schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
