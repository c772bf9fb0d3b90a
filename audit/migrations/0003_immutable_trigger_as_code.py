"""The audit trail's trigger as code: declared in ``AuditEvent.Meta.triggers``.

The trigger of migration 0002 (search_path set by finance 0023) that refuses UPDATE and
DELETE of audit rows is now a ``core.db_triggers.Trigger`` declaration, installed
below by pgtrigger's ``AddTrigger``: same name and body, its function now named like it.
"""

import core.db_triggers
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations

from core.db_triggers import set_search_path

# The hand-written triggers and functions this migration replaces, as migrations 0002 and finance 0020
# left them: dropped on the way forward, written again on the way back (after the
# functions pgtrigger leaves behind when it drops its triggers).
DROP_HAND_WRITTEN = """
DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_immutable();
"""

HAND_WRITTEN_FUNCTIONS = ["audit_event_immutable()"]

HAND_WRITTEN = r"""
CREATE OR REPLACE FUNCTION audit_event_immutable()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail cannot be changed (% on audit_auditevent refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER audit_event_no_update_delete BEFORE DELETE OR UPDATE ON audit_auditevent FOR EACH ROW EXECUTE FUNCTION audit_event_immutable();
""" + "".join(set_search_path(function) for function in HAND_WRITTEN_FUNCTIONS)

DROP_DECLARED_FUNCTIONS = """
DROP FUNCTION IF EXISTS audit_event_no_update_delete();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("finance", "0023_trigger_functions_search_path"),
        ("audit", "0002_immutable"),
    ]

    operations = [
        migrations.RunSQL([DROP_HAND_WRITTEN], reverse_sql=[DROP_DECLARED_FUNCTIONS + HAND_WRITTEN]),
        pgtrigger.migrations.AddTrigger(
            model_name="auditevent",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_event_no_update_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    RAISE EXCEPTION 'the audit trail cannot be changed (% on audit_auditevent refused)', TG_OP\n        USING ERRCODE = 'integrity_constraint_violation';\n",
                    hash="d2d1fd6f751814d1273f75ea18a23777ad4bb7e9",
                    operation="UPDATE OR DELETE",
                    pgid="audit_event_no_update_delete",
                    table="audit_auditevent",
                    when="BEFORE",
                ),
            ),
        ),
    ]
