"""The audit trail written by the database: triggers on the audited tables.

Until now the trail was written by Django's model signals, which ``.update()``, raw SQL
and COPY pass by. The triggers below (``audit.triggers``: what each table
records, and when) are declared on proxies of the audited models and call the plain
function ``audit_event_write``, created first with its own search_path; its body is
``audit.triggers.AUDIT_EVENT_WRITE_BODY`` as it is now. The events written
so far stay as they are, in the same table.
"""

import django.contrib.auth.models
import core.db_triggers
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations

from core.db_triggers import set_search_path

# audit_event_write as audit.triggers.AUDIT_EVENT_WRITE_BODY was when written.
AUDIT_EVENT_WRITE = r"""
CREATE OR REPLACE FUNCTION audit_event_write(
    _action text, _app_label text, _model text, _object_id text, _object_repr text, _changes jsonb
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    _context jsonb := NULLIF(current_setting('pghistory.context_metadata', true), '')::jsonb;
    _content_type integer;
BEGIN
    SELECT ct.id INTO _content_type FROM django_content_type ct
     WHERE ct.app_label = _app_label AND ct.model = _model;
    IF _content_type IS NULL THEN
        -- A model's content type is made after the migrations; a migration's data may come first.
        INSERT INTO django_content_type (app_label, model) VALUES (_app_label, _model)
            ON CONFLICT DO NOTHING;
        SELECT ct.id INTO _content_type FROM django_content_type ct
         WHERE ct.app_label = _app_label AND ct.model = _model;
    END IF;
    INSERT INTO audit_auditevent
           (at, actor_id, actor_name, ip, action, content_type_id, object_id, object_repr, changes)
    VALUES (clock_timestamp(), (_context ->> 'user')::integer, left(COALESCE(_context ->> 'actor', 'system'), 150),
            (_context ->> 'ip')::inet, _action, _content_type, _object_id, left(COALESCE(_object_repr, ''), 200),
            _changes);
END;
$$;
""" + set_search_path("audit_event_write(text, text, text, text, text, jsonb)")

DROP_AUDIT_EVENT_WRITE = "DROP FUNCTION IF EXISTS audit_event_write(text, text, text, text, text, jsonb);"


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_immutable_trigger_as_code"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("finance", "0024_ledger_triggers_as_code"),
        ("integrations", "0004_sync_attempt_charge_once"),
        ("membership", "0005_date_triggers_as_code"),
        ("openwater", "0003_drop_run_lease"),
        ("paycentral", "0004_gateway_account_invoice_sync"),
    ]

    operations = [
        migrations.RunSQL([AUDIT_EVENT_WRITE], reverse_sql=[DROP_AUDIT_EVENT_WRITE]),
        migrations.CreateModel(
            name="ApiTokenAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("paycentral.apitoken",),
        ),
        migrations.CreateModel(
            name="ARImportAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.arimport",),
        ),
        migrations.CreateModel(
            name="BatchAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.batch",),
        ),
        migrations.CreateModel(
            name="CartAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("paycentral.cart",),
        ),
        migrations.CreateModel(
            name="FinanceSettingsAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.financesettings",),
        ),
        migrations.CreateModel(
            name="FinancialEntityAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.financialentity",),
        ),
        migrations.CreateModel(
            name="GatewayAccountAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("paycentral.gatewayaccount",),
        ),
        migrations.CreateModel(
            name="GLAccountAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.glaccount",),
        ),
        migrations.CreateModel(
            name="IntegrationAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("openwater.integration",),
        ),
        migrations.CreateModel(
            name="InvoiceAdjustmentAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.invoiceadjustment",),
        ),
        migrations.CreateModel(
            name="InvoiceAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.invoice",),
        ),
        migrations.CreateModel(
            name="InvoiceSyncAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("openwater.invoicesync",),
        ),
        migrations.CreateModel(
            name="InvoiceSyncRecordAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("integrations.invoicesyncrecord",),
        ),
        migrations.CreateModel(
            name="MemberAccountAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("paycentral.memberaccount",),
        ),
        migrations.CreateModel(
            name="MembershipSettingsAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("membership.membershipsettings",),
        ),
        migrations.CreateModel(
            name="MemberTypeAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("membership.membertype",),
        ),
        migrations.CreateModel(
            name="MemberTypeProductAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("membership.membertypeproduct",),
        ),
        migrations.CreateModel(
            name="ModuleAuthorizationAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("paycentral.moduleauthorization",),
        ),
        migrations.CreateModel(
            name="PaymentAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.payment",),
        ),
        migrations.CreateModel(
            name="PaymentMethodAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("paycentral.paymentmethod",),
        ),
        migrations.CreateModel(
            name="PaymentMethodSetAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("paycentral.paymentmethodset",),
        ),
        migrations.CreateModel(
            name="PaymentMethodSetEntryAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("paycentral.paymentmethodsetentry",),
        ),
        migrations.CreateModel(
            name="ProductAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.product",),
        ),
        migrations.CreateModel(
            name="ProgramMappingAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("openwater.programmapping",),
        ),
        migrations.CreateModel(
            name="RefundAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("finance.refund",),
        ),
        migrations.CreateModel(
            name="RenewalRunAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("membership.renewalrun",),
        ),
        migrations.CreateModel(
            name="UserAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("auth.user",),
            managers=[
                ("objects", django.contrib.auth.models.UserManager()),
            ],
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="apitokenaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_apitoken_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'paycentral', 'apitoken',\n        NEW.\"id\"::text,\n        concat(NEW.\"name\"::text, ' (', NEW.\"prefix\"::text, '…)'),\n        jsonb_build_object(\n            'user', to_jsonb('#' || NEW.\"user_id\"),\n            'name', to_jsonb(NEW.\"name\"),\n            'prefix', to_jsonb(NEW.\"prefix\"),\n            'key_hash', to_jsonb(CASE WHEN COALESCE(NEW.\"key_hash\", '') = '' THEN '' ELSE '••••••' END),\n            'revoked', to_jsonb(NEW.\"revoked\")));\n    RETURN NULL;\n",
                    hash="d57cccb99e438b67cc07120864957bf0c5be29d7",
                    operation="INSERT",
                    pgid="audit_apitoken_insert",
                    table="paycentral_apitoken",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="apitokenaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_apitoken_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."key_hash" IS DISTINCT FROM (NEW."key_hash") OR OLD."name" IS DISTINCT FROM (NEW."name") OR OLD."prefix" IS DISTINCT FROM (NEW."prefix") OR OLD."revoked" IS DISTINCT FROM (NEW."revoked") OR OLD."user_id" IS DISTINCT FROM (NEW."user_id"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'paycentral\', \'apitoken\',\n        NEW."id"::text,\n        concat(NEW."name"::text, \' (\', NEW."prefix"::text, \'…)\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'user\', CASE WHEN OLD."user_id" IS DISTINCT FROM NEW."user_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."user_id"), to_jsonb(\'#\' || NEW."user_id")) END,\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'prefix\', CASE WHEN OLD."prefix" IS DISTINCT FROM NEW."prefix" THEN jsonb_build_array(to_jsonb(OLD."prefix"), to_jsonb(NEW."prefix")) END,\n            \'key_hash\', CASE WHEN OLD."key_hash" IS DISTINCT FROM NEW."key_hash" THEN jsonb_build_array(CASE WHEN COALESCE(OLD."key_hash", \'\') = \'\' THEN \'\' ELSE \'••••••\' END, CASE WHEN COALESCE(NEW."key_hash", \'\') = \'\' THEN \'\' ELSE \'•••••• (changed)\' END) END,\n            \'revoked\', CASE WHEN OLD."revoked" IS DISTINCT FROM NEW."revoked" THEN jsonb_build_array(to_jsonb(OLD."revoked"), to_jsonb(NEW."revoked")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="41e830690e3269757462f957501d85b20cf7c2d3",
                    operation='UPDATE OF "user_id", "name", "prefix", "key_hash", "revoked"',
                    pgid="audit_apitoken_update",
                    table="paycentral_apitoken",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="apitokenaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_apitoken_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'paycentral', 'apitoken',\n        OLD.\"id\"::text,\n        concat(OLD.\"name\"::text, ' (', OLD.\"prefix\"::text, '…)'),\n        jsonb_build_object(\n            'user', to_jsonb('#' || OLD.\"user_id\"),\n            'name', to_jsonb(OLD.\"name\"),\n            'prefix', to_jsonb(OLD.\"prefix\"),\n            'key_hash', to_jsonb(CASE WHEN COALESCE(OLD.\"key_hash\", '') = '' THEN '' ELSE '••••••' END),\n            'revoked', to_jsonb(OLD.\"revoked\")));\n    RETURN NULL;\n",
                    hash="1b974f7e0cdd3c70e247b92c48175832336023d5",
                    operation="DELETE",
                    pgid="audit_apitoken_delete",
                    table="paycentral_apitoken",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="arimportaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_arimport_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."status" IS DISTINCT FROM (NEW."status"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'arimport\',\n        NEW."id"::text,\n        concat(\'AR import \', NEW."id"::text, \' (\', NEW."file_name"::text, \')\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'file_name\', CASE WHEN OLD."file_name" IS DISTINCT FROM NEW."file_name" THEN jsonb_build_array(to_jsonb(OLD."file_name"), to_jsonb(NEW."file_name")) END,\n            \'status\', CASE WHEN OLD."status" IS DISTINCT FROM NEW."status" THEN jsonb_build_array(to_jsonb(OLD."status"), to_jsonb(NEW."status")) END,\n            \'batch_number\', CASE WHEN OLD."batch_number" IS DISTINCT FROM NEW."batch_number" THEN jsonb_build_array(to_jsonb(OLD."batch_number"), to_jsonb(NEW."batch_number")) END,\n            \'batch\', CASE WHEN OLD."batch_id" IS DISTINCT FROM NEW."batch_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."batch_id"), to_jsonb(\'#\' || NEW."batch_id")) END,\n            \'row_count\', CASE WHEN OLD."row_count" IS DISTINCT FROM NEW."row_count" THEN jsonb_build_array(to_jsonb(OLD."row_count"), to_jsonb(NEW."row_count")) END,\n            \'error_count\', CASE WHEN OLD."error_count" IS DISTINCT FROM NEW."error_count" THEN jsonb_build_array(to_jsonb(OLD."error_count"), to_jsonb(NEW."error_count")) END,\n            \'auto_apply\', CASE WHEN OLD."auto_apply" IS DISTINCT FROM NEW."auto_apply" THEN jsonb_build_array(to_jsonb(OLD."auto_apply"), to_jsonb(NEW."auto_apply")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="d109d77d87bfb76165c5819a2ed32850127f1846",
                    operation='UPDATE OF "status"',
                    pgid="audit_arimport_update",
                    table="finance_arimport",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="batchaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_batch_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'batch',\n        NEW.\"id\"::text,\n        concat(NEW.\"number\"::text),\n        jsonb_build_object(\n            'number', to_jsonb(NEW.\"number\"),\n            'date', to_jsonb(NEW.\"date\"),\n            'description', to_jsonb(NEW.\"description\"),\n            'status', to_jsonb(NEW.\"status\"),\n            'control_count', to_jsonb(NEW.\"control_count\"),\n            'control_amount', to_jsonb(NEW.\"control_amount\"::text)));\n    RETURN NULL;\n",
                    hash="204c89b6fa4c4e42a7e42a6958be466850e82a28",
                    operation="INSERT",
                    pgid="audit_batch_insert",
                    table="finance_batch",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="batchaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_batch_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."control_amount" IS DISTINCT FROM (NEW."control_amount") OR OLD."control_count" IS DISTINCT FROM (NEW."control_count") OR OLD."date" IS DISTINCT FROM (NEW."date") OR OLD."description" IS DISTINCT FROM (NEW."description") OR OLD."number" IS DISTINCT FROM (NEW."number") OR OLD."status" IS DISTINCT FROM (NEW."status"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'batch\',\n        NEW."id"::text,\n        concat(NEW."number"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'number\', CASE WHEN OLD."number" IS DISTINCT FROM NEW."number" THEN jsonb_build_array(to_jsonb(OLD."number"), to_jsonb(NEW."number")) END,\n            \'date\', CASE WHEN OLD."date" IS DISTINCT FROM NEW."date" THEN jsonb_build_array(to_jsonb(OLD."date"), to_jsonb(NEW."date")) END,\n            \'description\', CASE WHEN OLD."description" IS DISTINCT FROM NEW."description" THEN jsonb_build_array(to_jsonb(OLD."description"), to_jsonb(NEW."description")) END,\n            \'status\', CASE WHEN OLD."status" IS DISTINCT FROM NEW."status" THEN jsonb_build_array(to_jsonb(OLD."status"), to_jsonb(NEW."status")) END,\n            \'control_count\', CASE WHEN OLD."control_count" IS DISTINCT FROM NEW."control_count" THEN jsonb_build_array(to_jsonb(OLD."control_count"), to_jsonb(NEW."control_count")) END,\n            \'control_amount\', CASE WHEN OLD."control_amount" IS DISTINCT FROM NEW."control_amount" THEN jsonb_build_array(to_jsonb(OLD."control_amount"::text), to_jsonb(NEW."control_amount"::text)) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="a5a94e481c1d7e595214e43f27d5343e5933d921",
                    operation='UPDATE OF "number", "date", "description", "status", "control_count", "control_amount"',
                    pgid="audit_batch_update",
                    table="finance_batch",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="cartaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_cart_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."status" IS DISTINCT FROM (NEW."status"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'paycentral\', \'cart\',\n        NEW."id"::text,\n        concat(\'Cart \', NEW."id"::text, \' for \', (SELECT r."name"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \' (\', (SELECT r."party_id"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \')\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'contact\', CASE WHEN OLD."contact_id" IS DISTINCT FROM NEW."contact_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."contact_id"), to_jsonb(\'#\' || NEW."contact_id")) END,\n            \'status\', CASE WHEN OLD."status" IS DISTINCT FROM NEW."status" THEN jsonb_build_array(to_jsonb(OLD."status"), to_jsonb(NEW."status")) END,\n            \'invoice\', CASE WHEN OLD."invoice_id" IS DISTINCT FROM NEW."invoice_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."invoice_id"), to_jsonb(\'#\' || NEW."invoice_id")) END,\n            \'charge_amount\', CASE WHEN OLD."charge_amount" IS DISTINCT FROM NEW."charge_amount" THEN jsonb_build_array(to_jsonb(OLD."charge_amount"::text), to_jsonb(NEW."charge_amount"::text)) END,\n            \'charge_id\', CASE WHEN OLD."charge_id" IS DISTINCT FROM NEW."charge_id" THEN jsonb_build_array(to_jsonb(OLD."charge_id"), to_jsonb(NEW."charge_id")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="8c149a53cfd4f61f15c6e10a4e553304f93d3ed5",
                    operation='UPDATE OF "status"',
                    pgid="audit_cart_update",
                    table="paycentral_cart",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="financesettingsaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_financesettings_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'financesettings',\n        NEW.\"id\"::text,\n        concat('Finance settings'),\n        jsonb_build_object(\n            'require_balanced_batches', to_jsonb(NEW.\"require_balanced_batches\"),\n            'auto_apply_cash', to_jsonb(NEW.\"auto_apply_cash\"),\n            'allow_prepayments', to_jsonb(NEW.\"allow_prepayments\")));\n    RETURN NULL;\n",
                    hash="a1ad293b6de6e05088c551c60e213f562a0c5ac9",
                    operation="INSERT",
                    pgid="audit_financesettings_insert",
                    table="finance_financesettings",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="financesettingsaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_financesettings_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."allow_prepayments" IS DISTINCT FROM (NEW."allow_prepayments") OR OLD."auto_apply_cash" IS DISTINCT FROM (NEW."auto_apply_cash") OR OLD."require_balanced_batches" IS DISTINCT FROM (NEW."require_balanced_batches"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'financesettings\',\n        NEW."id"::text,\n        concat(\'Finance settings\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'require_balanced_batches\', CASE WHEN OLD."require_balanced_batches" IS DISTINCT FROM NEW."require_balanced_batches" THEN jsonb_build_array(to_jsonb(OLD."require_balanced_batches"), to_jsonb(NEW."require_balanced_batches")) END,\n            \'auto_apply_cash\', CASE WHEN OLD."auto_apply_cash" IS DISTINCT FROM NEW."auto_apply_cash" THEN jsonb_build_array(to_jsonb(OLD."auto_apply_cash"), to_jsonb(NEW."auto_apply_cash")) END,\n            \'allow_prepayments\', CASE WHEN OLD."allow_prepayments" IS DISTINCT FROM NEW."allow_prepayments" THEN jsonb_build_array(to_jsonb(OLD."allow_prepayments"), to_jsonb(NEW."allow_prepayments")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="ec1c154374bc083048ca045e0a4998ce9fe6cf48",
                    operation='UPDATE OF "require_balanced_batches", "auto_apply_cash", "allow_prepayments"',
                    pgid="audit_financesettings_update",
                    table="finance_financesettings",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="financesettingsaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_financesettings_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'finance', 'financesettings',\n        OLD.\"id\"::text,\n        concat('Finance settings'),\n        jsonb_build_object(\n            'require_balanced_batches', to_jsonb(OLD.\"require_balanced_batches\"),\n            'auto_apply_cash', to_jsonb(OLD.\"auto_apply_cash\"),\n            'allow_prepayments', to_jsonb(OLD.\"allow_prepayments\")));\n    RETURN NULL;\n",
                    hash="ccb1b764b88d3839bd537e768be1883c0ca2250f",
                    operation="DELETE",
                    pgid="audit_financesettings_delete",
                    table="finance_financesettings",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="financialentityaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_financialentity_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'financialentity',\n        NEW.\"id\"::text,\n        concat(NEW.\"code\"::text, ' – ', NEW.\"name\"::text),\n        jsonb_build_object(\n            'code', to_jsonb(NEW.\"code\"),\n            'name', to_jsonb(NEW.\"name\"),\n            'currency', to_jsonb(NEW.\"currency\")));\n    RETURN NULL;\n",
                    hash="9e254538a73ad271bb029fe7392d83210d9de1fc",
                    operation="INSERT",
                    pgid="audit_financialentity_insert",
                    table="finance_financialentity",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="financialentityaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_financialentity_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."code" IS DISTINCT FROM (NEW."code") OR OLD."currency" IS DISTINCT FROM (NEW."currency") OR OLD."name" IS DISTINCT FROM (NEW."name"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'financialentity\',\n        NEW."id"::text,\n        concat(NEW."code"::text, \' – \', NEW."name"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'code\', CASE WHEN OLD."code" IS DISTINCT FROM NEW."code" THEN jsonb_build_array(to_jsonb(OLD."code"), to_jsonb(NEW."code")) END,\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'currency\', CASE WHEN OLD."currency" IS DISTINCT FROM NEW."currency" THEN jsonb_build_array(to_jsonb(OLD."currency"), to_jsonb(NEW."currency")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="fa8c1a1feb6eb55b846c7175d0b19ef46f7d399e",
                    operation='UPDATE OF "code", "name", "currency"',
                    pgid="audit_financialentity_update",
                    table="finance_financialentity",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="financialentityaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_financialentity_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'finance', 'financialentity',\n        OLD.\"id\"::text,\n        concat(OLD.\"code\"::text, ' – ', OLD.\"name\"::text),\n        jsonb_build_object(\n            'code', to_jsonb(OLD.\"code\"),\n            'name', to_jsonb(OLD.\"name\"),\n            'currency', to_jsonb(OLD.\"currency\")));\n    RETURN NULL;\n",
                    hash="c0128f10b67639ccedb8ccaa5bb15ce3a7e2f5d6",
                    operation="DELETE",
                    pgid="audit_financialentity_delete",
                    table="finance_financialentity",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="gatewayaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_gatewayaccount_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'paycentral', 'gatewayaccount',\n        NEW.\"id\"::text,\n        concat(NEW.\"name\"::text, ' (', CASE NEW.\"processor\" WHEN 'sandbox' THEN 'Sandbox' WHEN 'stripe' THEN 'Stripe' ELSE NEW.\"processor\"::text END, ')'),\n        jsonb_build_object(\n            'name', to_jsonb(NEW.\"name\"),\n            'processor', to_jsonb(NEW.\"processor\"),\n            'entity', to_jsonb('#' || NEW.\"entity_id\"),\n            'publishable_key', to_jsonb(NEW.\"publishable_key\"),\n            'secret_key', to_jsonb(CASE WHEN COALESCE(NEW.\"secret_key\", '') = '' THEN '' ELSE '••••••' END),\n            'webhook_secret', to_jsonb(CASE WHEN COALESCE(NEW.\"webhook_secret\", '') = '' THEN '' ELSE '••••••' END),\n            'api_base', to_jsonb(NEW.\"api_base\"),\n            'is_active', to_jsonb(NEW.\"is_active\"),\n            'invoice_sync', to_jsonb(NEW.\"invoice_sync\"),\n            'default_handling_mode', to_jsonb(NEW.\"default_handling_mode\"),\n            'card_attempt_limit', to_jsonb(NEW.\"card_attempt_limit\")));\n    RETURN NULL;\n",
                    hash="9d4e332fe523bdfe0f8d51b0cfa5d98ac814b710",
                    operation="INSERT",
                    pgid="audit_gatewayaccount_insert",
                    table="paycentral_gatewayaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="gatewayaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_gatewayaccount_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."api_base" IS DISTINCT FROM (NEW."api_base") OR OLD."card_attempt_limit" IS DISTINCT FROM (NEW."card_attempt_limit") OR OLD."default_handling_mode" IS DISTINCT FROM (NEW."default_handling_mode") OR OLD."entity_id" IS DISTINCT FROM (NEW."entity_id") OR OLD."invoice_sync" IS DISTINCT FROM (NEW."invoice_sync") OR OLD."is_active" IS DISTINCT FROM (NEW."is_active") OR OLD."name" IS DISTINCT FROM (NEW."name") OR OLD."processor" IS DISTINCT FROM (NEW."processor") OR OLD."publishable_key" IS DISTINCT FROM (NEW."publishable_key") OR OLD."secret_key" IS DISTINCT FROM (NEW."secret_key") OR OLD."webhook_secret" IS DISTINCT FROM (NEW."webhook_secret"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'paycentral\', \'gatewayaccount\',\n        NEW."id"::text,\n        concat(NEW."name"::text, \' (\', CASE NEW."processor" WHEN \'sandbox\' THEN \'Sandbox\' WHEN \'stripe\' THEN \'Stripe\' ELSE NEW."processor"::text END, \')\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'processor\', CASE WHEN OLD."processor" IS DISTINCT FROM NEW."processor" THEN jsonb_build_array(to_jsonb(OLD."processor"), to_jsonb(NEW."processor")) END,\n            \'entity\', CASE WHEN OLD."entity_id" IS DISTINCT FROM NEW."entity_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."entity_id"), to_jsonb(\'#\' || NEW."entity_id")) END,\n            \'publishable_key\', CASE WHEN OLD."publishable_key" IS DISTINCT FROM NEW."publishable_key" THEN jsonb_build_array(to_jsonb(OLD."publishable_key"), to_jsonb(NEW."publishable_key")) END,\n            \'secret_key\', CASE WHEN OLD."secret_key" IS DISTINCT FROM NEW."secret_key" THEN jsonb_build_array(CASE WHEN COALESCE(OLD."secret_key", \'\') = \'\' THEN \'\' ELSE \'••••••\' END, CASE WHEN COALESCE(NEW."secret_key", \'\') = \'\' THEN \'\' ELSE \'•••••• (changed)\' END) END,\n            \'webhook_secret\', CASE WHEN OLD."webhook_secret" IS DISTINCT FROM NEW."webhook_secret" THEN jsonb_build_array(CASE WHEN COALESCE(OLD."webhook_secret", \'\') = \'\' THEN \'\' ELSE \'••••••\' END, CASE WHEN COALESCE(NEW."webhook_secret", \'\') = \'\' THEN \'\' ELSE \'•••••• (changed)\' END) END,\n            \'api_base\', CASE WHEN OLD."api_base" IS DISTINCT FROM NEW."api_base" THEN jsonb_build_array(to_jsonb(OLD."api_base"), to_jsonb(NEW."api_base")) END,\n            \'is_active\', CASE WHEN OLD."is_active" IS DISTINCT FROM NEW."is_active" THEN jsonb_build_array(to_jsonb(OLD."is_active"), to_jsonb(NEW."is_active")) END,\n            \'invoice_sync\', CASE WHEN OLD."invoice_sync" IS DISTINCT FROM NEW."invoice_sync" THEN jsonb_build_array(to_jsonb(OLD."invoice_sync"), to_jsonb(NEW."invoice_sync")) END,\n            \'default_handling_mode\', CASE WHEN OLD."default_handling_mode" IS DISTINCT FROM NEW."default_handling_mode" THEN jsonb_build_array(to_jsonb(OLD."default_handling_mode"), to_jsonb(NEW."default_handling_mode")) END,\n            \'card_attempt_limit\', CASE WHEN OLD."card_attempt_limit" IS DISTINCT FROM NEW."card_attempt_limit" THEN jsonb_build_array(to_jsonb(OLD."card_attempt_limit"), to_jsonb(NEW."card_attempt_limit")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="303ceb4cad3a96e95284375c0ca642142846de47",
                    operation='UPDATE OF "name", "processor", "entity_id", "publishable_key", "secret_key", "webhook_secret", "api_base", "is_active", "invoice_sync", "default_handling_mode", "card_attempt_limit"',
                    pgid="audit_gatewayaccount_update",
                    table="paycentral_gatewayaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="gatewayaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_gatewayaccount_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'paycentral', 'gatewayaccount',\n        OLD.\"id\"::text,\n        concat(OLD.\"name\"::text, ' (', CASE OLD.\"processor\" WHEN 'sandbox' THEN 'Sandbox' WHEN 'stripe' THEN 'Stripe' ELSE OLD.\"processor\"::text END, ')'),\n        jsonb_build_object(\n            'name', to_jsonb(OLD.\"name\"),\n            'processor', to_jsonb(OLD.\"processor\"),\n            'entity', to_jsonb('#' || OLD.\"entity_id\"),\n            'publishable_key', to_jsonb(OLD.\"publishable_key\"),\n            'secret_key', to_jsonb(CASE WHEN COALESCE(OLD.\"secret_key\", '') = '' THEN '' ELSE '••••••' END),\n            'webhook_secret', to_jsonb(CASE WHEN COALESCE(OLD.\"webhook_secret\", '') = '' THEN '' ELSE '••••••' END),\n            'api_base', to_jsonb(OLD.\"api_base\"),\n            'is_active', to_jsonb(OLD.\"is_active\"),\n            'invoice_sync', to_jsonb(OLD.\"invoice_sync\"),\n            'default_handling_mode', to_jsonb(OLD.\"default_handling_mode\"),\n            'card_attempt_limit', to_jsonb(OLD.\"card_attempt_limit\")));\n    RETURN NULL;\n",
                    hash="7f6bd548b414f9323b78bba16483296caa525fa9",
                    operation="DELETE",
                    pgid="audit_gatewayaccount_delete",
                    table="paycentral_gatewayaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="glaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_glaccount_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'glaccount',\n        NEW.\"id\"::text,\n        concat(NEW.\"code\"::text, ' ', NEW.\"name\"::text, ' [', (SELECT r.\"code\"::text FROM \"finance_financialentity\" r WHERE r.\"id\" = NEW.\"entity_id\"), ']'),\n        jsonb_build_object(\n            'entity', to_jsonb('#' || NEW.\"entity_id\"),\n            'code', to_jsonb(NEW.\"code\"),\n            'name', to_jsonb(NEW.\"name\"),\n            'type', to_jsonb(NEW.\"type\"),\n            'role', to_jsonb(NEW.\"role\"),\n            'is_active', to_jsonb(NEW.\"is_active\")));\n    RETURN NULL;\n",
                    hash="aac3234f5b447f00f16f138970b18fc55ae22088",
                    operation="INSERT",
                    pgid="audit_glaccount_insert",
                    table="finance_glaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="glaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_glaccount_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."code" IS DISTINCT FROM (NEW."code") OR OLD."entity_id" IS DISTINCT FROM (NEW."entity_id") OR OLD."is_active" IS DISTINCT FROM (NEW."is_active") OR OLD."name" IS DISTINCT FROM (NEW."name") OR OLD."role" IS DISTINCT FROM (NEW."role") OR OLD."type" IS DISTINCT FROM (NEW."type"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'glaccount\',\n        NEW."id"::text,\n        concat(NEW."code"::text, \' \', NEW."name"::text, \' [\', (SELECT r."code"::text FROM "finance_financialentity" r WHERE r."id" = NEW."entity_id"), \']\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'entity\', CASE WHEN OLD."entity_id" IS DISTINCT FROM NEW."entity_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."entity_id"), to_jsonb(\'#\' || NEW."entity_id")) END,\n            \'code\', CASE WHEN OLD."code" IS DISTINCT FROM NEW."code" THEN jsonb_build_array(to_jsonb(OLD."code"), to_jsonb(NEW."code")) END,\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'type\', CASE WHEN OLD."type" IS DISTINCT FROM NEW."type" THEN jsonb_build_array(to_jsonb(OLD."type"), to_jsonb(NEW."type")) END,\n            \'role\', CASE WHEN OLD."role" IS DISTINCT FROM NEW."role" THEN jsonb_build_array(to_jsonb(OLD."role"), to_jsonb(NEW."role")) END,\n            \'is_active\', CASE WHEN OLD."is_active" IS DISTINCT FROM NEW."is_active" THEN jsonb_build_array(to_jsonb(OLD."is_active"), to_jsonb(NEW."is_active")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="dcc550cac41cba258b2913cfebd0a4d9fdc162ff",
                    operation='UPDATE OF "entity_id", "code", "name", "type", "role", "is_active"',
                    pgid="audit_glaccount_update",
                    table="finance_glaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="glaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_glaccount_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'finance', 'glaccount',\n        OLD.\"id\"::text,\n        concat(OLD.\"code\"::text, ' ', OLD.\"name\"::text, ' [', (SELECT r.\"code\"::text FROM \"finance_financialentity\" r WHERE r.\"id\" = OLD.\"entity_id\"), ']'),\n        jsonb_build_object(\n            'entity', to_jsonb('#' || OLD.\"entity_id\"),\n            'code', to_jsonb(OLD.\"code\"),\n            'name', to_jsonb(OLD.\"name\"),\n            'type', to_jsonb(OLD.\"type\"),\n            'role', to_jsonb(OLD.\"role\"),\n            'is_active', to_jsonb(OLD.\"is_active\")));\n    RETURN NULL;\n",
                    hash="c14a714bedeee6a6342cd9c624fa51bfa28f7cd2",
                    operation="DELETE",
                    pgid="audit_glaccount_delete",
                    table="finance_glaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="integrationaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_integration_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'openwater', 'integration',\n        NEW.\"id\"::text,\n        concat(NEW.\"name\"::text),\n        jsonb_build_object(\n            'name', to_jsonb(NEW.\"name\"),\n            'kind', to_jsonb(NEW.\"kind\"),\n            'base_url', to_jsonb(NEW.\"base_url\"),\n            'client_key', to_jsonb(CASE WHEN COALESCE(NEW.\"client_key\", '') = '' THEN '' ELSE '••••••' END),\n            'api_key', to_jsonb(CASE WHEN COALESCE(NEW.\"api_key\", '') = '' THEN '' ELSE '••••••' END),\n            'organization_code', to_jsonb(NEW.\"organization_code\"),\n            'initialized_at', to_jsonb(NEW.\"initialized_at\"),\n            'entity', to_jsonb('#' || NEW.\"entity_id\"),\n            'payment_method', to_jsonb('#' || NEW.\"payment_method_id\"),\n            'default_product_name', to_jsonb(NEW.\"default_product_name\"),\n            'default_product', to_jsonb('#' || NEW.\"default_product_id\"),\n            'discount_product', to_jsonb('#' || NEW.\"discount_product_id\"),\n            'skip_before', to_jsonb(NEW.\"skip_before\"),\n            'programs_sync_mode', to_jsonb(NEW.\"programs_sync_mode\"),\n            'is_started', to_jsonb(NEW.\"is_started\"),\n            'interval_minutes', to_jsonb(NEW.\"interval_minutes\"),\n            'page_size', to_jsonb(NEW.\"page_size\")));\n    RETURN NULL;\n",
                    hash="583718bf0939b0f30af6cf323275d62ab3292c5c",
                    operation="INSERT",
                    pgid="audit_integration_insert",
                    table="openwater_integration",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="integrationaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_integration_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."api_key" IS DISTINCT FROM (NEW."api_key") OR OLD."base_url" IS DISTINCT FROM (NEW."base_url") OR OLD."client_key" IS DISTINCT FROM (NEW."client_key") OR OLD."default_product_id" IS DISTINCT FROM (NEW."default_product_id") OR OLD."default_product_name" IS DISTINCT FROM (NEW."default_product_name") OR OLD."discount_product_id" IS DISTINCT FROM (NEW."discount_product_id") OR OLD."entity_id" IS DISTINCT FROM (NEW."entity_id") OR OLD."initialized_at" IS DISTINCT FROM (NEW."initialized_at") OR OLD."interval_minutes" IS DISTINCT FROM (NEW."interval_minutes") OR OLD."is_started" IS DISTINCT FROM (NEW."is_started") OR OLD."kind" IS DISTINCT FROM (NEW."kind") OR OLD."name" IS DISTINCT FROM (NEW."name") OR OLD."organization_code" IS DISTINCT FROM (NEW."organization_code") OR OLD."page_size" IS DISTINCT FROM (NEW."page_size") OR OLD."payment_method_id" IS DISTINCT FROM (NEW."payment_method_id") OR OLD."programs_sync_mode" IS DISTINCT FROM (NEW."programs_sync_mode") OR OLD."skip_before" IS DISTINCT FROM (NEW."skip_before"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'openwater\', \'integration\',\n        NEW."id"::text,\n        concat(NEW."name"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'kind\', CASE WHEN OLD."kind" IS DISTINCT FROM NEW."kind" THEN jsonb_build_array(to_jsonb(OLD."kind"), to_jsonb(NEW."kind")) END,\n            \'base_url\', CASE WHEN OLD."base_url" IS DISTINCT FROM NEW."base_url" THEN jsonb_build_array(to_jsonb(OLD."base_url"), to_jsonb(NEW."base_url")) END,\n            \'client_key\', CASE WHEN OLD."client_key" IS DISTINCT FROM NEW."client_key" THEN jsonb_build_array(CASE WHEN COALESCE(OLD."client_key", \'\') = \'\' THEN \'\' ELSE \'••••••\' END, CASE WHEN COALESCE(NEW."client_key", \'\') = \'\' THEN \'\' ELSE \'•••••• (changed)\' END) END,\n            \'api_key\', CASE WHEN OLD."api_key" IS DISTINCT FROM NEW."api_key" THEN jsonb_build_array(CASE WHEN COALESCE(OLD."api_key", \'\') = \'\' THEN \'\' ELSE \'••••••\' END, CASE WHEN COALESCE(NEW."api_key", \'\') = \'\' THEN \'\' ELSE \'•••••• (changed)\' END) END,\n            \'organization_code\', CASE WHEN OLD."organization_code" IS DISTINCT FROM NEW."organization_code" THEN jsonb_build_array(to_jsonb(OLD."organization_code"), to_jsonb(NEW."organization_code")) END,\n            \'initialized_at\', CASE WHEN OLD."initialized_at" IS DISTINCT FROM NEW."initialized_at" THEN jsonb_build_array(to_jsonb(OLD."initialized_at"), to_jsonb(NEW."initialized_at")) END,\n            \'entity\', CASE WHEN OLD."entity_id" IS DISTINCT FROM NEW."entity_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."entity_id"), to_jsonb(\'#\' || NEW."entity_id")) END,\n            \'payment_method\', CASE WHEN OLD."payment_method_id" IS DISTINCT FROM NEW."payment_method_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."payment_method_id"), to_jsonb(\'#\' || NEW."payment_method_id")) END,\n            \'default_product_name\', CASE WHEN OLD."default_product_name" IS DISTINCT FROM NEW."default_product_name" THEN jsonb_build_array(to_jsonb(OLD."default_product_name"), to_jsonb(NEW."default_product_name")) END,\n            \'default_product\', CASE WHEN OLD."default_product_id" IS DISTINCT FROM NEW."default_product_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."default_product_id"), to_jsonb(\'#\' || NEW."default_product_id")) END,\n            \'discount_product\', CASE WHEN OLD."discount_product_id" IS DISTINCT FROM NEW."discount_product_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."discount_product_id"), to_jsonb(\'#\' || NEW."discount_product_id")) END,\n            \'skip_before\', CASE WHEN OLD."skip_before" IS DISTINCT FROM NEW."skip_before" THEN jsonb_build_array(to_jsonb(OLD."skip_before"), to_jsonb(NEW."skip_before")) END,\n            \'programs_sync_mode\', CASE WHEN OLD."programs_sync_mode" IS DISTINCT FROM NEW."programs_sync_mode" THEN jsonb_build_array(to_jsonb(OLD."programs_sync_mode"), to_jsonb(NEW."programs_sync_mode")) END,\n            \'is_started\', CASE WHEN OLD."is_started" IS DISTINCT FROM NEW."is_started" THEN jsonb_build_array(to_jsonb(OLD."is_started"), to_jsonb(NEW."is_started")) END,\n            \'interval_minutes\', CASE WHEN OLD."interval_minutes" IS DISTINCT FROM NEW."interval_minutes" THEN jsonb_build_array(to_jsonb(OLD."interval_minutes"), to_jsonb(NEW."interval_minutes")) END,\n            \'page_size\', CASE WHEN OLD."page_size" IS DISTINCT FROM NEW."page_size" THEN jsonb_build_array(to_jsonb(OLD."page_size"), to_jsonb(NEW."page_size")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="7cf68f5b3938792b5af7504bc266a3cf23b12928",
                    operation='UPDATE OF "name", "kind", "base_url", "client_key", "api_key", "organization_code", "initialized_at", "entity_id", "payment_method_id", "default_product_name", "default_product_id", "discount_product_id", "skip_before", "programs_sync_mode", "is_started", "interval_minutes", "page_size"',
                    pgid="audit_integration_update",
                    table="openwater_integration",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="integrationaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_integration_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'openwater', 'integration',\n        OLD.\"id\"::text,\n        concat(OLD.\"name\"::text),\n        jsonb_build_object(\n            'name', to_jsonb(OLD.\"name\"),\n            'kind', to_jsonb(OLD.\"kind\"),\n            'base_url', to_jsonb(OLD.\"base_url\"),\n            'client_key', to_jsonb(CASE WHEN COALESCE(OLD.\"client_key\", '') = '' THEN '' ELSE '••••••' END),\n            'api_key', to_jsonb(CASE WHEN COALESCE(OLD.\"api_key\", '') = '' THEN '' ELSE '••••••' END),\n            'organization_code', to_jsonb(OLD.\"organization_code\"),\n            'initialized_at', to_jsonb(OLD.\"initialized_at\"),\n            'entity', to_jsonb('#' || OLD.\"entity_id\"),\n            'payment_method', to_jsonb('#' || OLD.\"payment_method_id\"),\n            'default_product_name', to_jsonb(OLD.\"default_product_name\"),\n            'default_product', to_jsonb('#' || OLD.\"default_product_id\"),\n            'discount_product', to_jsonb('#' || OLD.\"discount_product_id\"),\n            'skip_before', to_jsonb(OLD.\"skip_before\"),\n            'programs_sync_mode', to_jsonb(OLD.\"programs_sync_mode\"),\n            'is_started', to_jsonb(OLD.\"is_started\"),\n            'interval_minutes', to_jsonb(OLD.\"interval_minutes\"),\n            'page_size', to_jsonb(OLD.\"page_size\")));\n    RETURN NULL;\n",
                    hash="b6d28778c348c6f2559565657924e4d3bcf70753",
                    operation="DELETE",
                    pgid="audit_integration_delete",
                    table="openwater_integration",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="invoiceadjustmentaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_invoiceadjustment_insert",
                sql=core.db_triggers.TriggerSql(
                    func='\n    PERFORM audit_event_write(\n        \'create\', \'finance\', \'invoiceadjustment\',\n        NEW."id"::text,\n        concat(NEW."amount"::text, \' on \', (SELECT r."number"::text FROM "finance_invoice" r WHERE r."id" = NEW."invoice_id"), \'/\', (SELECT r."line_number"::text FROM "finance_invoiceline" r WHERE r."id" = NEW."line_id"), \' \', (SELECT r."description"::text FROM "finance_invoiceline" r WHERE r."id" = NEW."line_id")),\n        jsonb_build_object(\n            \'invoice\', to_jsonb(\'#\' || NEW."invoice_id"),\n            \'line\', to_jsonb(\'#\' || NEW."line_id"),\n            \'amount\', to_jsonb(NEW."amount"::text),\n            \'date\', to_jsonb(NEW."date"),\n            \'batch\', to_jsonb(\'#\' || NEW."batch_id"),\n            \'reason\', to_jsonb(NEW."reason")));\n    RETURN NULL;\n',
                    hash="7ce7fbec63f7c74bfc10033cdad7c4eff2fa2bef",
                    operation="INSERT",
                    pgid="audit_invoiceadjustment_insert",
                    table="finance_invoiceadjustment",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="invoiceadjustmentaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_invoiceadjustment_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."amount" IS DISTINCT FROM (NEW."amount") OR OLD."batch_id" IS DISTINCT FROM (NEW."batch_id") OR OLD."date" IS DISTINCT FROM (NEW."date") OR OLD."invoice_id" IS DISTINCT FROM (NEW."invoice_id") OR OLD."line_id" IS DISTINCT FROM (NEW."line_id") OR OLD."reason" IS DISTINCT FROM (NEW."reason"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'invoiceadjustment\',\n        NEW."id"::text,\n        concat(NEW."amount"::text, \' on \', (SELECT r."number"::text FROM "finance_invoice" r WHERE r."id" = NEW."invoice_id"), \'/\', (SELECT r."line_number"::text FROM "finance_invoiceline" r WHERE r."id" = NEW."line_id"), \' \', (SELECT r."description"::text FROM "finance_invoiceline" r WHERE r."id" = NEW."line_id")),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'invoice\', CASE WHEN OLD."invoice_id" IS DISTINCT FROM NEW."invoice_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."invoice_id"), to_jsonb(\'#\' || NEW."invoice_id")) END,\n            \'line\', CASE WHEN OLD."line_id" IS DISTINCT FROM NEW."line_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."line_id"), to_jsonb(\'#\' || NEW."line_id")) END,\n            \'amount\', CASE WHEN OLD."amount" IS DISTINCT FROM NEW."amount" THEN jsonb_build_array(to_jsonb(OLD."amount"::text), to_jsonb(NEW."amount"::text)) END,\n            \'date\', CASE WHEN OLD."date" IS DISTINCT FROM NEW."date" THEN jsonb_build_array(to_jsonb(OLD."date"), to_jsonb(NEW."date")) END,\n            \'batch\', CASE WHEN OLD."batch_id" IS DISTINCT FROM NEW."batch_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."batch_id"), to_jsonb(\'#\' || NEW."batch_id")) END,\n            \'reason\', CASE WHEN OLD."reason" IS DISTINCT FROM NEW."reason" THEN jsonb_build_array(to_jsonb(OLD."reason"), to_jsonb(NEW."reason")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="a70a5c1951250762e1e441479dc1cc84eaa08be4",
                    operation='UPDATE OF "invoice_id", "line_id", "amount", "date", "batch_id", "reason"',
                    pgid="audit_invoiceadjustment_update",
                    table="finance_invoiceadjustment",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="invoiceaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_invoice_insert",
                sql=core.db_triggers.TriggerSql(
                    condition="WHEN (NEW.\"source\" NOT IN ('payment', 'membership_billing'))",
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'invoice',\n        NEW.\"id\"::text,\n        concat('Invoice ', NEW.\"number\"::text),\n        jsonb_build_object(\n            'number', to_jsonb(NEW.\"number\"),\n            'type', to_jsonb(NEW.\"type\"),\n            'accounting_method', to_jsonb(NEW.\"accounting_method\"),\n            'bill_to', to_jsonb('#' || NEW.\"bill_to_id\"),\n            'entity', to_jsonb('#' || NEW.\"entity_id\"),\n            'date', to_jsonb(NEW.\"date\"),\n            'total', to_jsonb(NEW.\"total\"::text),\n            'batch', to_jsonb('#' || NEW.\"batch_id\"),\n            'reversed_at', to_jsonb(NEW.\"reversed_at\")));\n    RETURN NULL;\n",
                    hash="9d2616dbc2b7301ccd4664650aebb9ccec46684f",
                    operation="INSERT",
                    pgid="audit_invoice_insert",
                    table="finance_invoice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="invoiceaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_invoice_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."accounting_method" IS DISTINCT FROM (NEW."accounting_method") OR OLD."batch_id" IS DISTINCT FROM (NEW."batch_id") OR OLD."bill_to_id" IS DISTINCT FROM (NEW."bill_to_id") OR OLD."date" IS DISTINCT FROM (NEW."date") OR OLD."entity_id" IS DISTINCT FROM (NEW."entity_id") OR OLD."number" IS DISTINCT FROM (NEW."number") OR OLD."reversed_at" IS DISTINCT FROM (NEW."reversed_at") OR OLD."total" IS DISTINCT FROM (NEW."total") OR OLD."type" IS DISTINCT FROM (NEW."type"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'invoice\',\n        NEW."id"::text,\n        concat(\'Invoice \', NEW."number"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'number\', CASE WHEN OLD."number" IS DISTINCT FROM NEW."number" THEN jsonb_build_array(to_jsonb(OLD."number"), to_jsonb(NEW."number")) END,\n            \'type\', CASE WHEN OLD."type" IS DISTINCT FROM NEW."type" THEN jsonb_build_array(to_jsonb(OLD."type"), to_jsonb(NEW."type")) END,\n            \'accounting_method\', CASE WHEN OLD."accounting_method" IS DISTINCT FROM NEW."accounting_method" THEN jsonb_build_array(to_jsonb(OLD."accounting_method"), to_jsonb(NEW."accounting_method")) END,\n            \'bill_to\', CASE WHEN OLD."bill_to_id" IS DISTINCT FROM NEW."bill_to_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."bill_to_id"), to_jsonb(\'#\' || NEW."bill_to_id")) END,\n            \'entity\', CASE WHEN OLD."entity_id" IS DISTINCT FROM NEW."entity_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."entity_id"), to_jsonb(\'#\' || NEW."entity_id")) END,\n            \'date\', CASE WHEN OLD."date" IS DISTINCT FROM NEW."date" THEN jsonb_build_array(to_jsonb(OLD."date"), to_jsonb(NEW."date")) END,\n            \'total\', CASE WHEN OLD."total" IS DISTINCT FROM NEW."total" THEN jsonb_build_array(to_jsonb(OLD."total"::text), to_jsonb(NEW."total"::text)) END,\n            \'batch\', CASE WHEN OLD."batch_id" IS DISTINCT FROM NEW."batch_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."batch_id"), to_jsonb(\'#\' || NEW."batch_id")) END,\n            \'reversed_at\', CASE WHEN OLD."reversed_at" IS DISTINCT FROM NEW."reversed_at" THEN jsonb_build_array(to_jsonb(OLD."reversed_at"), to_jsonb(NEW."reversed_at")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="6e8a892318593cbb4bb9a547cd25fb0a530ed4ec",
                    operation='UPDATE OF "number", "type", "accounting_method", "bill_to_id", "entity_id", "date", "total", "batch_id", "reversed_at"',
                    pgid="audit_invoice_update",
                    table="finance_invoice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="invoicesyncaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_invoicesync_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."staff_at" IS DISTINCT FROM (NEW."staff_at"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'openwater\', \'invoicesync\',\n        NEW."id"::text,\n        concat(\'OpenWater invoice \', NEW."ow_invoice_id"::text, \': \', NEW."status"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'ow_invoice_id\', CASE WHEN OLD."ow_invoice_id" IS DISTINCT FROM NEW."ow_invoice_id" THEN jsonb_build_array(to_jsonb(OLD."ow_invoice_id"), to_jsonb(NEW."ow_invoice_id")) END,\n            \'status\', CASE WHEN OLD."status" IS DISTINCT FROM NEW."status" THEN jsonb_build_array(to_jsonb(OLD."status"), to_jsonb(NEW."status")) END,\n            \'skip_reason\', CASE WHEN OLD."skip_reason" IS DISTINCT FROM NEW."skip_reason" THEN jsonb_build_array(to_jsonb(OLD."skip_reason"), to_jsonb(NEW."skip_reason")) END,\n            \'staff_action\', CASE WHEN OLD."staff_action" IS DISTINCT FROM NEW."staff_action" THEN jsonb_build_array(to_jsonb(OLD."staff_action"), to_jsonb(NEW."staff_action")) END,\n            \'staff_note\', CASE WHEN OLD."staff_note" IS DISTINCT FROM NEW."staff_note" THEN jsonb_build_array(to_jsonb(OLD."staff_note"), to_jsonb(NEW."staff_note")) END,\n            \'staff_by\', CASE WHEN OLD."staff_by_id" IS DISTINCT FROM NEW."staff_by_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."staff_by_id"), to_jsonb(\'#\' || NEW."staff_by_id")) END,\n            \'staff_at\', CASE WHEN OLD."staff_at" IS DISTINCT FROM NEW."staff_at" THEN jsonb_build_array(to_jsonb(OLD."staff_at"), to_jsonb(NEW."staff_at")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="14a298bec0d46284bbb6f097c0fd41313d01de90",
                    operation='UPDATE OF "staff_at"',
                    pgid="audit_invoicesync_update",
                    table="openwater_invoicesync",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="invoicesyncrecordaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_invoicesyncrecord_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."handling_mode" IS DISTINCT FROM (NEW."handling_mode") OR OLD."sync_enabled" IS DISTINCT FROM (NEW."sync_enabled"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'integrations\', \'invoicesyncrecord\',\n        NEW."id"::text,\n        concat(\'Sync of invoice \', NEW."invoice_id"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'invoice\', CASE WHEN OLD."invoice_id" IS DISTINCT FROM NEW."invoice_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."invoice_id"), to_jsonb(\'#\' || NEW."invoice_id")) END,\n            \'sync_enabled\', CASE WHEN OLD."sync_enabled" IS DISTINCT FROM NEW."sync_enabled" THEN jsonb_build_array(to_jsonb(OLD."sync_enabled"), to_jsonb(NEW."sync_enabled")) END,\n            \'handling_mode\', CASE WHEN OLD."handling_mode" IS DISTINCT FROM NEW."handling_mode" THEN jsonb_build_array(to_jsonb(OLD."handling_mode"), to_jsonb(NEW."handling_mode")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="0eae1c3ba21e33d4c7908cff1a298187ab368bbe",
                    operation='UPDATE OF "sync_enabled", "handling_mode"',
                    pgid="audit_invoicesyncrecord_update",
                    table="integrations_invoicesyncrecord",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="memberaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_memberaccount_insert",
                sql=core.db_triggers.TriggerSql(
                    func='\n    PERFORM audit_event_write(\n        \'create\', \'paycentral\', \'memberaccount\',\n        NEW."id"::text,\n        concat((SELECT r."username"::text FROM "auth_user" r WHERE r."id" = NEW."user_id"), \' → \', (SELECT r."name"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \' (\', (SELECT r."party_id"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \')\'),\n        jsonb_build_object(\n            \'user\', to_jsonb(\'#\' || NEW."user_id"),\n            \'contact\', to_jsonb(\'#\' || NEW."contact_id"),\n            \'is_active\', to_jsonb(NEW."is_active")));\n    RETURN NULL;\n',
                    hash="06f19a49b31a1cae4e4d517ba309ff1fdb2dcb03",
                    operation="INSERT",
                    pgid="audit_memberaccount_insert",
                    table="paycentral_memberaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="memberaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_memberaccount_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."contact_id" IS DISTINCT FROM (NEW."contact_id") OR OLD."is_active" IS DISTINCT FROM (NEW."is_active") OR OLD."user_id" IS DISTINCT FROM (NEW."user_id"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'paycentral\', \'memberaccount\',\n        NEW."id"::text,\n        concat((SELECT r."username"::text FROM "auth_user" r WHERE r."id" = NEW."user_id"), \' → \', (SELECT r."name"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \' (\', (SELECT r."party_id"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \')\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'user\', CASE WHEN OLD."user_id" IS DISTINCT FROM NEW."user_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."user_id"), to_jsonb(\'#\' || NEW."user_id")) END,\n            \'contact\', CASE WHEN OLD."contact_id" IS DISTINCT FROM NEW."contact_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."contact_id"), to_jsonb(\'#\' || NEW."contact_id")) END,\n            \'is_active\', CASE WHEN OLD."is_active" IS DISTINCT FROM NEW."is_active" THEN jsonb_build_array(to_jsonb(OLD."is_active"), to_jsonb(NEW."is_active")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="5379097fd478c68efd57ec7e8b4a978f2afc327f",
                    operation='UPDATE OF "user_id", "contact_id", "is_active"',
                    pgid="audit_memberaccount_update",
                    table="paycentral_memberaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="memberaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_memberaccount_delete",
                sql=core.db_triggers.TriggerSql(
                    func='\n    PERFORM audit_event_write(\n        \'delete\', \'paycentral\', \'memberaccount\',\n        OLD."id"::text,\n        concat((SELECT r."username"::text FROM "auth_user" r WHERE r."id" = OLD."user_id"), \' → \', (SELECT r."name"::text FROM "finance_contact" r WHERE r."id" = OLD."contact_id"), \' (\', (SELECT r."party_id"::text FROM "finance_contact" r WHERE r."id" = OLD."contact_id"), \')\'),\n        jsonb_build_object(\n            \'user\', to_jsonb(\'#\' || OLD."user_id"),\n            \'contact\', to_jsonb(\'#\' || OLD."contact_id"),\n            \'is_active\', to_jsonb(OLD."is_active")));\n    RETURN NULL;\n',
                    hash="b921d672ceb47f8f2ae2e6a3097f6c71fed0b592",
                    operation="DELETE",
                    pgid="audit_memberaccount_delete",
                    table="paycentral_memberaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membershipsettingsaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_membershipsettings_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'membership', 'membershipsettings',\n        NEW.\"id\"::text,\n        concat('Membership settings'),\n        jsonb_build_object(\n            'accounting_method', to_jsonb(NEW.\"accounting_method\"),\n            'terms_days', to_jsonb(NEW.\"terms_days\")));\n    RETURN NULL;\n",
                    hash="58ab06d14927c0f944f189ed646503e2c94b4c58",
                    operation="INSERT",
                    pgid="audit_membershipsettings_insert",
                    table="membership_membershipsettings",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membershipsettingsaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_membershipsettings_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."accounting_method" IS DISTINCT FROM (NEW."accounting_method") OR OLD."terms_days" IS DISTINCT FROM (NEW."terms_days"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'membership\', \'membershipsettings\',\n        NEW."id"::text,\n        concat(\'Membership settings\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'accounting_method\', CASE WHEN OLD."accounting_method" IS DISTINCT FROM NEW."accounting_method" THEN jsonb_build_array(to_jsonb(OLD."accounting_method"), to_jsonb(NEW."accounting_method")) END,\n            \'terms_days\', CASE WHEN OLD."terms_days" IS DISTINCT FROM NEW."terms_days" THEN jsonb_build_array(to_jsonb(OLD."terms_days"), to_jsonb(NEW."terms_days")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="34b6fd5f7503694ff75f7e852461e9684e95d295",
                    operation='UPDATE OF "accounting_method", "terms_days"',
                    pgid="audit_membershipsettings_update",
                    table="membership_membershipsettings",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membershipsettingsaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_membershipsettings_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'membership', 'membershipsettings',\n        OLD.\"id\"::text,\n        concat('Membership settings'),\n        jsonb_build_object(\n            'accounting_method', to_jsonb(OLD.\"accounting_method\"),\n            'terms_days', to_jsonb(OLD.\"terms_days\")));\n    RETURN NULL;\n",
                    hash="e11a225ebc6daa1e42de111bb604c685e07ec6ef",
                    operation="DELETE",
                    pgid="audit_membershipsettings_delete",
                    table="membership_membershipsettings",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membertypeaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_membertype_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'membership', 'membertype',\n        NEW.\"id\"::text,\n        concat(NEW.\"code\"::text, ' – ', NEW.\"name\"::text),\n        jsonb_build_object(\n            'code', to_jsonb(NEW.\"code\"),\n            'name', to_jsonb(NEW.\"name\"),\n            'fee_product', to_jsonb('#' || NEW.\"fee_product_id\"),\n            'term_months', to_jsonb(NEW.\"term_months\"),\n            'is_active', to_jsonb(NEW.\"is_active\"),\n            'description', to_jsonb(NEW.\"description\")));\n    RETURN NULL;\n",
                    hash="98b209ba947e3ca2e4f2f69ce509a81ba5b5a82d",
                    operation="INSERT",
                    pgid="audit_membertype_insert",
                    table="membership_membertype",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membertypeaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_membertype_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."code" IS DISTINCT FROM (NEW."code") OR OLD."description" IS DISTINCT FROM (NEW."description") OR OLD."fee_product_id" IS DISTINCT FROM (NEW."fee_product_id") OR OLD."is_active" IS DISTINCT FROM (NEW."is_active") OR OLD."name" IS DISTINCT FROM (NEW."name") OR OLD."term_months" IS DISTINCT FROM (NEW."term_months"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'membership\', \'membertype\',\n        NEW."id"::text,\n        concat(NEW."code"::text, \' – \', NEW."name"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'code\', CASE WHEN OLD."code" IS DISTINCT FROM NEW."code" THEN jsonb_build_array(to_jsonb(OLD."code"), to_jsonb(NEW."code")) END,\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'fee_product\', CASE WHEN OLD."fee_product_id" IS DISTINCT FROM NEW."fee_product_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."fee_product_id"), to_jsonb(\'#\' || NEW."fee_product_id")) END,\n            \'term_months\', CASE WHEN OLD."term_months" IS DISTINCT FROM NEW."term_months" THEN jsonb_build_array(to_jsonb(OLD."term_months"), to_jsonb(NEW."term_months")) END,\n            \'is_active\', CASE WHEN OLD."is_active" IS DISTINCT FROM NEW."is_active" THEN jsonb_build_array(to_jsonb(OLD."is_active"), to_jsonb(NEW."is_active")) END,\n            \'description\', CASE WHEN OLD."description" IS DISTINCT FROM NEW."description" THEN jsonb_build_array(to_jsonb(OLD."description"), to_jsonb(NEW."description")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="3f5468ed02c5b692e6d95f2621184eb26560ef5b",
                    operation='UPDATE OF "code", "name", "fee_product_id", "term_months", "is_active", "description"',
                    pgid="audit_membertype_update",
                    table="membership_membertype",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membertypeaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_membertype_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'membership', 'membertype',\n        OLD.\"id\"::text,\n        concat(OLD.\"code\"::text, ' – ', OLD.\"name\"::text),\n        jsonb_build_object(\n            'code', to_jsonb(OLD.\"code\"),\n            'name', to_jsonb(OLD.\"name\"),\n            'fee_product', to_jsonb('#' || OLD.\"fee_product_id\"),\n            'term_months', to_jsonb(OLD.\"term_months\"),\n            'is_active', to_jsonb(OLD.\"is_active\"),\n            'description', to_jsonb(OLD.\"description\")));\n    RETURN NULL;\n",
                    hash="922a8c43603202f6a36e71fd5d37940104bccbb2",
                    operation="DELETE",
                    pgid="audit_membertype_delete",
                    table="membership_membertype",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membertypeproductaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_membertypeproduct_insert",
                sql=core.db_triggers.TriggerSql(
                    func='\n    PERFORM audit_event_write(\n        \'create\', \'membership\', \'membertypeproduct\',\n        NEW."id"::text,\n        concat((SELECT r."code"::text FROM "membership_membertype" r WHERE r."id" = NEW."member_type_id"), \': \', (SELECT r."code"::text FROM "finance_product" r WHERE r."id" = NEW."product_id")),\n        jsonb_build_object(\n            \'member_type\', to_jsonb(\'#\' || NEW."member_type_id"),\n            \'product\', to_jsonb(\'#\' || NEW."product_id"),\n            \'position\', to_jsonb(NEW."position")));\n    RETURN NULL;\n',
                    hash="cf4e3908ac827ec1adcef57f977f4aa7be316b12",
                    operation="INSERT",
                    pgid="audit_membertypeproduct_insert",
                    table="membership_membertypeproduct",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membertypeproductaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_membertypeproduct_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."member_type_id" IS DISTINCT FROM (NEW."member_type_id") OR OLD."position" IS DISTINCT FROM (NEW."position") OR OLD."product_id" IS DISTINCT FROM (NEW."product_id"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'membership\', \'membertypeproduct\',\n        NEW."id"::text,\n        concat((SELECT r."code"::text FROM "membership_membertype" r WHERE r."id" = NEW."member_type_id"), \': \', (SELECT r."code"::text FROM "finance_product" r WHERE r."id" = NEW."product_id")),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'member_type\', CASE WHEN OLD."member_type_id" IS DISTINCT FROM NEW."member_type_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."member_type_id"), to_jsonb(\'#\' || NEW."member_type_id")) END,\n            \'product\', CASE WHEN OLD."product_id" IS DISTINCT FROM NEW."product_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."product_id"), to_jsonb(\'#\' || NEW."product_id")) END,\n            \'position\', CASE WHEN OLD."position" IS DISTINCT FROM NEW."position" THEN jsonb_build_array(to_jsonb(OLD."position"), to_jsonb(NEW."position")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="b7a137bcd9f1756a9515f72d88c23fa0816fc17e",
                    operation='UPDATE OF "member_type_id", "product_id", "position"',
                    pgid="audit_membertypeproduct_update",
                    table="membership_membertypeproduct",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="membertypeproductaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_membertypeproduct_delete",
                sql=core.db_triggers.TriggerSql(
                    func='\n    PERFORM audit_event_write(\n        \'delete\', \'membership\', \'membertypeproduct\',\n        OLD."id"::text,\n        concat((SELECT r."code"::text FROM "membership_membertype" r WHERE r."id" = OLD."member_type_id"), \': \', (SELECT r."code"::text FROM "finance_product" r WHERE r."id" = OLD."product_id")),\n        jsonb_build_object(\n            \'member_type\', to_jsonb(\'#\' || OLD."member_type_id"),\n            \'product\', to_jsonb(\'#\' || OLD."product_id"),\n            \'position\', to_jsonb(OLD."position")));\n    RETURN NULL;\n',
                    hash="30ab04c5a3ea8722b2e8cd9fec2d4f56d8031262",
                    operation="DELETE",
                    pgid="audit_membertypeproduct_delete",
                    table="membership_membertypeproduct",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="moduleauthorizationaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_moduleauthorization_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'paycentral', 'moduleauthorization',\n        NEW.\"id\"::text,\n        concat((SELECT r.\"username\"::text FROM \"auth_user\" r WHERE r.\"id\" = NEW.\"user_id\"), ' ', CASE NEW.\"module\" WHEN 'orders' THEN 'Orders' WHEN 'ar_cash' THEN 'AR/Cash' WHEN 'finance' THEN 'Finance' WHEN 'membership' THEN 'Membership' WHEN 'integrations' THEN 'Integrations' ELSE NEW.\"module\"::text END, ' ', NEW.\"level\"::text),\n        jsonb_build_object(\n            'user', to_jsonb('#' || NEW.\"user_id\"),\n            'module', to_jsonb(NEW.\"module\"),\n            'level', to_jsonb(NEW.\"level\")));\n    RETURN NULL;\n",
                    hash="855ddb738af4d18b939662a6b34746e5530481fa",
                    operation="INSERT",
                    pgid="audit_moduleauthorization_insert",
                    table="paycentral_moduleauthorization",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="moduleauthorizationaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_moduleauthorization_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."level" IS DISTINCT FROM (NEW."level") OR OLD."module" IS DISTINCT FROM (NEW."module") OR OLD."user_id" IS DISTINCT FROM (NEW."user_id"))',
                    func="\n    PERFORM audit_event_write(\n        'update', 'paycentral', 'moduleauthorization',\n        NEW.\"id\"::text,\n        concat((SELECT r.\"username\"::text FROM \"auth_user\" r WHERE r.\"id\" = NEW.\"user_id\"), ' ', CASE NEW.\"module\" WHEN 'orders' THEN 'Orders' WHEN 'ar_cash' THEN 'AR/Cash' WHEN 'finance' THEN 'Finance' WHEN 'membership' THEN 'Membership' WHEN 'integrations' THEN 'Integrations' ELSE NEW.\"module\"::text END, ' ', NEW.\"level\"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), '{}'::jsonb) FROM jsonb_each(jsonb_build_object(\n            'user', CASE WHEN OLD.\"user_id\" IS DISTINCT FROM NEW.\"user_id\" THEN jsonb_build_array(to_jsonb('#' || OLD.\"user_id\"), to_jsonb('#' || NEW.\"user_id\")) END,\n            'module', CASE WHEN OLD.\"module\" IS DISTINCT FROM NEW.\"module\" THEN jsonb_build_array(to_jsonb(OLD.\"module\"), to_jsonb(NEW.\"module\")) END,\n            'level', CASE WHEN OLD.\"level\" IS DISTINCT FROM NEW.\"level\" THEN jsonb_build_array(to_jsonb(OLD.\"level\"), to_jsonb(NEW.\"level\")) END)) c WHERE c.value <> 'null'::jsonb));\n    RETURN NULL;\n",
                    hash="a7cacdfb57a150fdf5f26aeb48cc29adbc5f10c0",
                    operation='UPDATE OF "user_id", "module", "level"',
                    pgid="audit_moduleauthorization_update",
                    table="paycentral_moduleauthorization",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="moduleauthorizationaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_moduleauthorization_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'paycentral', 'moduleauthorization',\n        OLD.\"id\"::text,\n        concat((SELECT r.\"username\"::text FROM \"auth_user\" r WHERE r.\"id\" = OLD.\"user_id\"), ' ', CASE OLD.\"module\" WHEN 'orders' THEN 'Orders' WHEN 'ar_cash' THEN 'AR/Cash' WHEN 'finance' THEN 'Finance' WHEN 'membership' THEN 'Membership' WHEN 'integrations' THEN 'Integrations' ELSE OLD.\"module\"::text END, ' ', OLD.\"level\"::text),\n        jsonb_build_object(\n            'user', to_jsonb('#' || OLD.\"user_id\"),\n            'module', to_jsonb(OLD.\"module\"),\n            'level', to_jsonb(OLD.\"level\")));\n    RETURN NULL;\n",
                    hash="83825d7becd3b8104bcc3236f807b6945a4bbbc6",
                    operation="DELETE",
                    pgid="audit_moduleauthorization_delete",
                    table="paycentral_moduleauthorization",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_payment_insert",
                sql=core.db_triggers.TriggerSql(
                    condition="WHEN (NEW.\"source\" <> 'import')",
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'payment',\n        NEW.\"id\"::text,\n        concat('Payment ', NEW.\"id\"::text, ' ', NEW.\"amount\"::text, ' ', NEW.\"currency\"::text),\n        jsonb_build_object(\n            'payer', to_jsonb('#' || NEW.\"payer_id\"),\n            'method', to_jsonb('#' || NEW.\"method_id\"),\n            'entity', to_jsonb('#' || NEW.\"entity_id\"),\n            'amount', to_jsonb(NEW.\"amount\"::text),\n            'date', to_jsonb(NEW.\"date\"),\n            'reference', to_jsonb(NEW.\"reference\"),\n            'batch', to_jsonb('#' || NEW.\"batch_id\"),\n            'status', to_jsonb(NEW.\"status\"),\n            'reversal_reason', to_jsonb(NEW.\"reversal_reason\")));\n    RETURN NULL;\n",
                    hash="44a244e0cebf2784f5974ad667113c1dc0e8f661",
                    operation="INSERT",
                    pgid="audit_payment_insert",
                    table="finance_payment",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_payment_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."amount" IS DISTINCT FROM (NEW."amount") OR OLD."batch_id" IS DISTINCT FROM (NEW."batch_id") OR OLD."date" IS DISTINCT FROM (NEW."date") OR OLD."entity_id" IS DISTINCT FROM (NEW."entity_id") OR OLD."method_id" IS DISTINCT FROM (NEW."method_id") OR OLD."payer_id" IS DISTINCT FROM (NEW."payer_id") OR OLD."reference" IS DISTINCT FROM (NEW."reference") OR OLD."reversal_reason" IS DISTINCT FROM (NEW."reversal_reason") OR OLD."status" IS DISTINCT FROM (NEW."status"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'payment\',\n        NEW."id"::text,\n        concat(\'Payment \', NEW."id"::text, \' \', NEW."amount"::text, \' \', NEW."currency"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'payer\', CASE WHEN OLD."payer_id" IS DISTINCT FROM NEW."payer_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."payer_id"), to_jsonb(\'#\' || NEW."payer_id")) END,\n            \'method\', CASE WHEN OLD."method_id" IS DISTINCT FROM NEW."method_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."method_id"), to_jsonb(\'#\' || NEW."method_id")) END,\n            \'entity\', CASE WHEN OLD."entity_id" IS DISTINCT FROM NEW."entity_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."entity_id"), to_jsonb(\'#\' || NEW."entity_id")) END,\n            \'amount\', CASE WHEN OLD."amount" IS DISTINCT FROM NEW."amount" THEN jsonb_build_array(to_jsonb(OLD."amount"::text), to_jsonb(NEW."amount"::text)) END,\n            \'date\', CASE WHEN OLD."date" IS DISTINCT FROM NEW."date" THEN jsonb_build_array(to_jsonb(OLD."date"), to_jsonb(NEW."date")) END,\n            \'reference\', CASE WHEN OLD."reference" IS DISTINCT FROM NEW."reference" THEN jsonb_build_array(to_jsonb(OLD."reference"), to_jsonb(NEW."reference")) END,\n            \'batch\', CASE WHEN OLD."batch_id" IS DISTINCT FROM NEW."batch_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."batch_id"), to_jsonb(\'#\' || NEW."batch_id")) END,\n            \'status\', CASE WHEN OLD."status" IS DISTINCT FROM NEW."status" THEN jsonb_build_array(to_jsonb(OLD."status"), to_jsonb(NEW."status")) END,\n            \'reversal_reason\', CASE WHEN OLD."reversal_reason" IS DISTINCT FROM NEW."reversal_reason" THEN jsonb_build_array(to_jsonb(OLD."reversal_reason"), to_jsonb(NEW."reversal_reason")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="3840ec8431a7e42f9bd099317aacece484a652a7",
                    operation='UPDATE OF "payer_id", "method_id", "entity_id", "amount", "date", "reference", "batch_id", "status", "reversal_reason"',
                    pgid="audit_payment_update",
                    table="finance_payment",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentmethodaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_paymentmethod_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'paycentral', 'paymentmethod',\n        NEW.\"id\"::text,\n        concat(NEW.\"code\"::text, ' – ', NEW.\"name\"::text),\n        jsonb_build_object(\n            'code', to_jsonb(NEW.\"code\"),\n            'name', to_jsonb(NEW.\"name\"),\n            'type', to_jsonb(NEW.\"type\"),\n            'cash_account', to_jsonb('#' || NEW.\"cash_account_id\"),\n            'gateway_account', to_jsonb('#' || NEW.\"gateway_account_id\"),\n            'is_active', to_jsonb(NEW.\"is_active\")));\n    RETURN NULL;\n",
                    hash="60eb02c47b5f1234f891434f5b49dabdd8131e09",
                    operation="INSERT",
                    pgid="audit_paymentmethod_insert",
                    table="paycentral_paymentmethod",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentmethodaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_paymentmethod_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."cash_account_id" IS DISTINCT FROM (NEW."cash_account_id") OR OLD."code" IS DISTINCT FROM (NEW."code") OR OLD."gateway_account_id" IS DISTINCT FROM (NEW."gateway_account_id") OR OLD."is_active" IS DISTINCT FROM (NEW."is_active") OR OLD."name" IS DISTINCT FROM (NEW."name") OR OLD."type" IS DISTINCT FROM (NEW."type"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'paycentral\', \'paymentmethod\',\n        NEW."id"::text,\n        concat(NEW."code"::text, \' – \', NEW."name"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'code\', CASE WHEN OLD."code" IS DISTINCT FROM NEW."code" THEN jsonb_build_array(to_jsonb(OLD."code"), to_jsonb(NEW."code")) END,\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'type\', CASE WHEN OLD."type" IS DISTINCT FROM NEW."type" THEN jsonb_build_array(to_jsonb(OLD."type"), to_jsonb(NEW."type")) END,\n            \'cash_account\', CASE WHEN OLD."cash_account_id" IS DISTINCT FROM NEW."cash_account_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."cash_account_id"), to_jsonb(\'#\' || NEW."cash_account_id")) END,\n            \'gateway_account\', CASE WHEN OLD."gateway_account_id" IS DISTINCT FROM NEW."gateway_account_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."gateway_account_id"), to_jsonb(\'#\' || NEW."gateway_account_id")) END,\n            \'is_active\', CASE WHEN OLD."is_active" IS DISTINCT FROM NEW."is_active" THEN jsonb_build_array(to_jsonb(OLD."is_active"), to_jsonb(NEW."is_active")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="61b25b514fbb2f6ca4510c9cb2e1545604946ee1",
                    operation='UPDATE OF "code", "name", "type", "cash_account_id", "gateway_account_id", "is_active"',
                    pgid="audit_paymentmethod_update",
                    table="paycentral_paymentmethod",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentmethodaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_paymentmethod_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'paycentral', 'paymentmethod',\n        OLD.\"id\"::text,\n        concat(OLD.\"code\"::text, ' – ', OLD.\"name\"::text),\n        jsonb_build_object(\n            'code', to_jsonb(OLD.\"code\"),\n            'name', to_jsonb(OLD.\"name\"),\n            'type', to_jsonb(OLD.\"type\"),\n            'cash_account', to_jsonb('#' || OLD.\"cash_account_id\"),\n            'gateway_account', to_jsonb('#' || OLD.\"gateway_account_id\"),\n            'is_active', to_jsonb(OLD.\"is_active\")));\n    RETURN NULL;\n",
                    hash="51e089265e06ce3ed4166060453fa3c7183c5e6a",
                    operation="DELETE",
                    pgid="audit_paymentmethod_delete",
                    table="paycentral_paymentmethod",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentmethodsetaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_paymentmethodset_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'paycentral', 'paymentmethodset',\n        NEW.\"id\"::text,\n        concat(NEW.\"name\"::text),\n        jsonb_build_object(\n            'name', to_jsonb(NEW.\"name\"),\n            'description', to_jsonb(NEW.\"description\")));\n    RETURN NULL;\n",
                    hash="8b4f3657e3c97ef7ad3a42056fb6aa7a5658b9f4",
                    operation="INSERT",
                    pgid="audit_paymentmethodset_insert",
                    table="paycentral_paymentmethodset",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentmethodsetaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_paymentmethodset_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."description" IS DISTINCT FROM (NEW."description") OR OLD."name" IS DISTINCT FROM (NEW."name"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'paycentral\', \'paymentmethodset\',\n        NEW."id"::text,\n        concat(NEW."name"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'description\', CASE WHEN OLD."description" IS DISTINCT FROM NEW."description" THEN jsonb_build_array(to_jsonb(OLD."description"), to_jsonb(NEW."description")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="48f9d8c462fb80d4cc598b359f9811a473d12b7c",
                    operation='UPDATE OF "name", "description"',
                    pgid="audit_paymentmethodset_update",
                    table="paycentral_paymentmethodset",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentmethodsetaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_paymentmethodset_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'paycentral', 'paymentmethodset',\n        OLD.\"id\"::text,\n        concat(OLD.\"name\"::text),\n        jsonb_build_object(\n            'name', to_jsonb(OLD.\"name\"),\n            'description', to_jsonb(OLD.\"description\")));\n    RETURN NULL;\n",
                    hash="4153014e4b6b4528ca0b39e7120c8ee9bd6a6d73",
                    operation="DELETE",
                    pgid="audit_paymentmethodset_delete",
                    table="paycentral_paymentmethodset",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentmethodsetentryaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_paymentmethodsetentry_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'paycentral', 'paymentmethodsetentry',\n        NEW.\"id\"::text,\n        concat(COALESCE(NULLIF(NEW.\"display_name\"::text, ''), NULLIF((SELECT r.\"name\"::text FROM \"paycentral_paymentmethod\" r WHERE r.\"id\" = NEW.\"method_id\"), ''))),\n        jsonb_build_object(\n            'method_set', to_jsonb('#' || NEW.\"method_set_id\"),\n            'method', to_jsonb('#' || NEW.\"method_id\"),\n            'position', to_jsonb(NEW.\"position\"),\n            'display_name', to_jsonb(NEW.\"display_name\")));\n    RETURN NULL;\n",
                    hash="359f57443e035484a29f3592d8b0b2a048d6532d",
                    operation="INSERT",
                    pgid="audit_paymentmethodsetentry_insert",
                    table="paycentral_paymentmethodsetentry",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentmethodsetentryaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_paymentmethodsetentry_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."display_name" IS DISTINCT FROM (NEW."display_name") OR OLD."method_id" IS DISTINCT FROM (NEW."method_id") OR OLD."method_set_id" IS DISTINCT FROM (NEW."method_set_id") OR OLD."position" IS DISTINCT FROM (NEW."position"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'paycentral\', \'paymentmethodsetentry\',\n        NEW."id"::text,\n        concat(COALESCE(NULLIF(NEW."display_name"::text, \'\'), NULLIF((SELECT r."name"::text FROM "paycentral_paymentmethod" r WHERE r."id" = NEW."method_id"), \'\'))),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'method_set\', CASE WHEN OLD."method_set_id" IS DISTINCT FROM NEW."method_set_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."method_set_id"), to_jsonb(\'#\' || NEW."method_set_id")) END,\n            \'method\', CASE WHEN OLD."method_id" IS DISTINCT FROM NEW."method_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."method_id"), to_jsonb(\'#\' || NEW."method_id")) END,\n            \'position\', CASE WHEN OLD."position" IS DISTINCT FROM NEW."position" THEN jsonb_build_array(to_jsonb(OLD."position"), to_jsonb(NEW."position")) END,\n            \'display_name\', CASE WHEN OLD."display_name" IS DISTINCT FROM NEW."display_name" THEN jsonb_build_array(to_jsonb(OLD."display_name"), to_jsonb(NEW."display_name")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="757c6b5d8dd1e9c3f247bbcc2987053a9f3dfa46",
                    operation='UPDATE OF "method_set_id", "method_id", "position", "display_name"',
                    pgid="audit_paymentmethodsetentry_update",
                    table="paycentral_paymentmethodsetentry",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentmethodsetentryaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_paymentmethodsetentry_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'paycentral', 'paymentmethodsetentry',\n        OLD.\"id\"::text,\n        concat(COALESCE(NULLIF(OLD.\"display_name\"::text, ''), NULLIF((SELECT r.\"name\"::text FROM \"paycentral_paymentmethod\" r WHERE r.\"id\" = OLD.\"method_id\"), ''))),\n        jsonb_build_object(\n            'method_set', to_jsonb('#' || OLD.\"method_set_id\"),\n            'method', to_jsonb('#' || OLD.\"method_id\"),\n            'position', to_jsonb(OLD.\"position\"),\n            'display_name', to_jsonb(OLD.\"display_name\")));\n    RETURN NULL;\n",
                    hash="23c60b6ee53ffbdab5506fd640f6322600fa4e3d",
                    operation="DELETE",
                    pgid="audit_paymentmethodsetentry_delete",
                    table="paycentral_paymentmethodsetentry",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="productaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_product_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'product',\n        NEW.\"id\"::text,\n        concat(NEW.\"code\"::text, ' – ', NEW.\"name\"::text),\n        jsonb_build_object(\n            'code', to_jsonb(NEW.\"code\"),\n            'name', to_jsonb(NEW.\"name\"),\n            'category', to_jsonb(NEW.\"category\"),\n            'description', to_jsonb(NEW.\"description\"),\n            'image', to_jsonb(NEW.\"image\"),\n            'post_purchase_info', to_jsonb(NEW.\"post_purchase_info\"),\n            'entity', to_jsonb('#' || NEW.\"entity_id\"),\n            'income_account', to_jsonb('#' || NEW.\"income_account_id\"),\n            'deferred_income_account', to_jsonb('#' || NEW.\"deferred_income_account_id\"),\n            'price', to_jsonb(NEW.\"price\"::text),\n            'kind', to_jsonb(NEW.\"kind\"),\n            'is_recurring', to_jsonb(NEW.\"is_recurring\"),\n            'is_active', to_jsonb(NEW.\"is_active\")));\n    RETURN NULL;\n",
                    hash="364e47d9206aef3b0d0bcaa57cb1bde6febcd18a",
                    operation="INSERT",
                    pgid="audit_product_insert",
                    table="finance_product",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="productaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_product_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."category" IS DISTINCT FROM (NEW."category") OR OLD."code" IS DISTINCT FROM (NEW."code") OR OLD."deferred_income_account_id" IS DISTINCT FROM (NEW."deferred_income_account_id") OR OLD."description" IS DISTINCT FROM (NEW."description") OR OLD."entity_id" IS DISTINCT FROM (NEW."entity_id") OR OLD."image" IS DISTINCT FROM (NEW."image") OR OLD."income_account_id" IS DISTINCT FROM (NEW."income_account_id") OR OLD."is_active" IS DISTINCT FROM (NEW."is_active") OR OLD."is_recurring" IS DISTINCT FROM (NEW."is_recurring") OR OLD."kind" IS DISTINCT FROM (NEW."kind") OR OLD."name" IS DISTINCT FROM (NEW."name") OR OLD."post_purchase_info" IS DISTINCT FROM (NEW."post_purchase_info") OR OLD."price" IS DISTINCT FROM (NEW."price"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'product\',\n        NEW."id"::text,\n        concat(NEW."code"::text, \' – \', NEW."name"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'code\', CASE WHEN OLD."code" IS DISTINCT FROM NEW."code" THEN jsonb_build_array(to_jsonb(OLD."code"), to_jsonb(NEW."code")) END,\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'category\', CASE WHEN OLD."category" IS DISTINCT FROM NEW."category" THEN jsonb_build_array(to_jsonb(OLD."category"), to_jsonb(NEW."category")) END,\n            \'description\', CASE WHEN OLD."description" IS DISTINCT FROM NEW."description" THEN jsonb_build_array(to_jsonb(OLD."description"), to_jsonb(NEW."description")) END,\n            \'image\', CASE WHEN OLD."image" IS DISTINCT FROM NEW."image" THEN jsonb_build_array(to_jsonb(OLD."image"), to_jsonb(NEW."image")) END,\n            \'post_purchase_info\', CASE WHEN OLD."post_purchase_info" IS DISTINCT FROM NEW."post_purchase_info" THEN jsonb_build_array(to_jsonb(OLD."post_purchase_info"), to_jsonb(NEW."post_purchase_info")) END,\n            \'entity\', CASE WHEN OLD."entity_id" IS DISTINCT FROM NEW."entity_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."entity_id"), to_jsonb(\'#\' || NEW."entity_id")) END,\n            \'income_account\', CASE WHEN OLD."income_account_id" IS DISTINCT FROM NEW."income_account_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."income_account_id"), to_jsonb(\'#\' || NEW."income_account_id")) END,\n            \'deferred_income_account\', CASE WHEN OLD."deferred_income_account_id" IS DISTINCT FROM NEW."deferred_income_account_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."deferred_income_account_id"), to_jsonb(\'#\' || NEW."deferred_income_account_id")) END,\n            \'price\', CASE WHEN OLD."price" IS DISTINCT FROM NEW."price" THEN jsonb_build_array(to_jsonb(OLD."price"::text), to_jsonb(NEW."price"::text)) END,\n            \'kind\', CASE WHEN OLD."kind" IS DISTINCT FROM NEW."kind" THEN jsonb_build_array(to_jsonb(OLD."kind"), to_jsonb(NEW."kind")) END,\n            \'is_recurring\', CASE WHEN OLD."is_recurring" IS DISTINCT FROM NEW."is_recurring" THEN jsonb_build_array(to_jsonb(OLD."is_recurring"), to_jsonb(NEW."is_recurring")) END,\n            \'is_active\', CASE WHEN OLD."is_active" IS DISTINCT FROM NEW."is_active" THEN jsonb_build_array(to_jsonb(OLD."is_active"), to_jsonb(NEW."is_active")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="65819c896162c616608d29ccbd40f026d32e14ec",
                    operation='UPDATE OF "code", "name", "category", "description", "image", "post_purchase_info", "entity_id", "income_account_id", "deferred_income_account_id", "price", "kind", "is_recurring", "is_active"',
                    pgid="audit_product_update",
                    table="finance_product",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="productaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_product_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'finance', 'product',\n        OLD.\"id\"::text,\n        concat(OLD.\"code\"::text, ' – ', OLD.\"name\"::text),\n        jsonb_build_object(\n            'code', to_jsonb(OLD.\"code\"),\n            'name', to_jsonb(OLD.\"name\"),\n            'category', to_jsonb(OLD.\"category\"),\n            'description', to_jsonb(OLD.\"description\"),\n            'image', to_jsonb(OLD.\"image\"),\n            'post_purchase_info', to_jsonb(OLD.\"post_purchase_info\"),\n            'entity', to_jsonb('#' || OLD.\"entity_id\"),\n            'income_account', to_jsonb('#' || OLD.\"income_account_id\"),\n            'deferred_income_account', to_jsonb('#' || OLD.\"deferred_income_account_id\"),\n            'price', to_jsonb(OLD.\"price\"::text),\n            'kind', to_jsonb(OLD.\"kind\"),\n            'is_recurring', to_jsonb(OLD.\"is_recurring\"),\n            'is_active', to_jsonb(OLD.\"is_active\")));\n    RETURN NULL;\n",
                    hash="03a8d4895d67d6597557709415f48bc596e03923",
                    operation="DELETE",
                    pgid="audit_product_delete",
                    table="finance_product",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="programmappingaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_programmapping_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'openwater', 'programmapping',\n        NEW.\"id\"::text,\n        concat(COALESCE(NULLIF(NEW.\"code\"::text, ''), NULLIF(NEW.\"program_id\"::text, '')), ' – ', NEW.\"name\"::text),\n        jsonb_build_object(\n            'integration', to_jsonb('#' || NEW.\"integration_id\"),\n            'program_id', to_jsonb(NEW.\"program_id\"),\n            'code', to_jsonb(NEW.\"code\"),\n            'name', to_jsonb(NEW.\"name\"),\n            'is_archived', to_jsonb(NEW.\"is_archived\"),\n            'status', to_jsonb(NEW.\"status\"),\n            'product', to_jsonb('#' || NEW.\"product_id\")));\n    RETURN NULL;\n",
                    hash="c15aa34fc2c7980d2608b4e3c54cc0dd666b7e9d",
                    operation="INSERT",
                    pgid="audit_programmapping_insert",
                    table="openwater_programmapping",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="programmappingaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_programmapping_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."code" IS DISTINCT FROM (NEW."code") OR OLD."integration_id" IS DISTINCT FROM (NEW."integration_id") OR OLD."is_archived" IS DISTINCT FROM (NEW."is_archived") OR OLD."name" IS DISTINCT FROM (NEW."name") OR OLD."product_id" IS DISTINCT FROM (NEW."product_id") OR OLD."program_id" IS DISTINCT FROM (NEW."program_id") OR OLD."status" IS DISTINCT FROM (NEW."status"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'openwater\', \'programmapping\',\n        NEW."id"::text,\n        concat(COALESCE(NULLIF(NEW."code"::text, \'\'), NULLIF(NEW."program_id"::text, \'\')), \' – \', NEW."name"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'integration\', CASE WHEN OLD."integration_id" IS DISTINCT FROM NEW."integration_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."integration_id"), to_jsonb(\'#\' || NEW."integration_id")) END,\n            \'program_id\', CASE WHEN OLD."program_id" IS DISTINCT FROM NEW."program_id" THEN jsonb_build_array(to_jsonb(OLD."program_id"), to_jsonb(NEW."program_id")) END,\n            \'code\', CASE WHEN OLD."code" IS DISTINCT FROM NEW."code" THEN jsonb_build_array(to_jsonb(OLD."code"), to_jsonb(NEW."code")) END,\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'is_archived\', CASE WHEN OLD."is_archived" IS DISTINCT FROM NEW."is_archived" THEN jsonb_build_array(to_jsonb(OLD."is_archived"), to_jsonb(NEW."is_archived")) END,\n            \'status\', CASE WHEN OLD."status" IS DISTINCT FROM NEW."status" THEN jsonb_build_array(to_jsonb(OLD."status"), to_jsonb(NEW."status")) END,\n            \'product\', CASE WHEN OLD."product_id" IS DISTINCT FROM NEW."product_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."product_id"), to_jsonb(\'#\' || NEW."product_id")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="44cfb21635c62f7e091041dd5f115c2efbc95989",
                    operation='UPDATE OF "integration_id", "program_id", "code", "name", "is_archived", "status", "product_id"',
                    pgid="audit_programmapping_update",
                    table="openwater_programmapping",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="programmappingaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_programmapping_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'openwater', 'programmapping',\n        OLD.\"id\"::text,\n        concat(COALESCE(NULLIF(OLD.\"code\"::text, ''), NULLIF(OLD.\"program_id\"::text, '')), ' – ', OLD.\"name\"::text),\n        jsonb_build_object(\n            'integration', to_jsonb('#' || OLD.\"integration_id\"),\n            'program_id', to_jsonb(OLD.\"program_id\"),\n            'code', to_jsonb(OLD.\"code\"),\n            'name', to_jsonb(OLD.\"name\"),\n            'is_archived', to_jsonb(OLD.\"is_archived\"),\n            'status', to_jsonb(OLD.\"status\"),\n            'product', to_jsonb('#' || OLD.\"product_id\")));\n    RETURN NULL;\n",
                    hash="479f43b45b774d655fb9e125aa641c50e5a9926b",
                    operation="DELETE",
                    pgid="audit_programmapping_delete",
                    table="openwater_programmapping",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="refundaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_refund_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'refund',\n        NEW.\"id\"::text,\n        concat('Refund ', NEW.\"id\"::text, ' of payment ', NEW.\"payment_id\"::text, ': ', NEW.\"amount\"::text),\n        jsonb_build_object(\n            'payment', to_jsonb('#' || NEW.\"payment_id\"),\n            'credit_invoice', to_jsonb('#' || NEW.\"credit_invoice_id\"),\n            'amount', to_jsonb(NEW.\"amount\"::text),\n            'mode', to_jsonb(NEW.\"mode\"),\n            'status', to_jsonb(NEW.\"status\"),\n            'date', to_jsonb(NEW.\"date\"),\n            'batch', to_jsonb('#' || NEW.\"batch_id\"),\n            'reason', to_jsonb(NEW.\"reason\")));\n    RETURN NULL;\n",
                    hash="f8e6eec5146437b5c95a101a041e6967b71d8099",
                    operation="INSERT",
                    pgid="audit_refund_insert",
                    table="finance_refund",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="refundaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_refund_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."amount" IS DISTINCT FROM (NEW."amount") OR OLD."batch_id" IS DISTINCT FROM (NEW."batch_id") OR OLD."credit_invoice_id" IS DISTINCT FROM (NEW."credit_invoice_id") OR OLD."date" IS DISTINCT FROM (NEW."date") OR OLD."mode" IS DISTINCT FROM (NEW."mode") OR OLD."payment_id" IS DISTINCT FROM (NEW."payment_id") OR OLD."reason" IS DISTINCT FROM (NEW."reason") OR OLD."status" IS DISTINCT FROM (NEW."status"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'refund\',\n        NEW."id"::text,\n        concat(\'Refund \', NEW."id"::text, \' of payment \', NEW."payment_id"::text, \': \', NEW."amount"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'payment\', CASE WHEN OLD."payment_id" IS DISTINCT FROM NEW."payment_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."payment_id"), to_jsonb(\'#\' || NEW."payment_id")) END,\n            \'credit_invoice\', CASE WHEN OLD."credit_invoice_id" IS DISTINCT FROM NEW."credit_invoice_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."credit_invoice_id"), to_jsonb(\'#\' || NEW."credit_invoice_id")) END,\n            \'amount\', CASE WHEN OLD."amount" IS DISTINCT FROM NEW."amount" THEN jsonb_build_array(to_jsonb(OLD."amount"::text), to_jsonb(NEW."amount"::text)) END,\n            \'mode\', CASE WHEN OLD."mode" IS DISTINCT FROM NEW."mode" THEN jsonb_build_array(to_jsonb(OLD."mode"), to_jsonb(NEW."mode")) END,\n            \'status\', CASE WHEN OLD."status" IS DISTINCT FROM NEW."status" THEN jsonb_build_array(to_jsonb(OLD."status"), to_jsonb(NEW."status")) END,\n            \'date\', CASE WHEN OLD."date" IS DISTINCT FROM NEW."date" THEN jsonb_build_array(to_jsonb(OLD."date"), to_jsonb(NEW."date")) END,\n            \'batch\', CASE WHEN OLD."batch_id" IS DISTINCT FROM NEW."batch_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."batch_id"), to_jsonb(\'#\' || NEW."batch_id")) END,\n            \'reason\', CASE WHEN OLD."reason" IS DISTINCT FROM NEW."reason" THEN jsonb_build_array(to_jsonb(OLD."reason"), to_jsonb(NEW."reason")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="c4628a0d275cf903d6153d9029513cd76e0b691e",
                    operation='UPDATE OF "payment_id", "credit_invoice_id", "amount", "mode", "status", "date", "batch_id", "reason"',
                    pgid="audit_refund_update",
                    table="finance_refund",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="renewalrunaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_renewalrun_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'membership', 'renewalrun',\n        NEW.\"id\"::text,\n        concat('Renewal run ', NEW.\"id\"::text),\n        jsonb_build_object(\n            'effective_date', to_jsonb(NEW.\"effective_date\"),\n            'invoice_date', to_jsonb(NEW.\"invoice_date\"),\n            'paid_through_from', to_jsonb(NEW.\"paid_through_from\"),\n            'paid_through_to', to_jsonb(NEW.\"paid_through_to\"),\n            'member_type', to_jsonb('#' || NEW.\"member_type_id\"),\n            'status', to_jsonb(NEW.\"status\")));\n    RETURN NULL;\n",
                    hash="90f17f6da43d4131fed3cdc33d0418e3505d6381",
                    operation="INSERT",
                    pgid="audit_renewalrun_insert",
                    table="membership_renewalrun",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="renewalrunaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_renewalrun_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."status" IS DISTINCT FROM (NEW."status"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'membership\', \'renewalrun\',\n        NEW."id"::text,\n        concat(\'Renewal run \', NEW."id"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'effective_date\', CASE WHEN OLD."effective_date" IS DISTINCT FROM NEW."effective_date" THEN jsonb_build_array(to_jsonb(OLD."effective_date"), to_jsonb(NEW."effective_date")) END,\n            \'invoice_date\', CASE WHEN OLD."invoice_date" IS DISTINCT FROM NEW."invoice_date" THEN jsonb_build_array(to_jsonb(OLD."invoice_date"), to_jsonb(NEW."invoice_date")) END,\n            \'paid_through_from\', CASE WHEN OLD."paid_through_from" IS DISTINCT FROM NEW."paid_through_from" THEN jsonb_build_array(to_jsonb(OLD."paid_through_from"), to_jsonb(NEW."paid_through_from")) END,\n            \'paid_through_to\', CASE WHEN OLD."paid_through_to" IS DISTINCT FROM NEW."paid_through_to" THEN jsonb_build_array(to_jsonb(OLD."paid_through_to"), to_jsonb(NEW."paid_through_to")) END,\n            \'member_type\', CASE WHEN OLD."member_type_id" IS DISTINCT FROM NEW."member_type_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."member_type_id"), to_jsonb(\'#\' || NEW."member_type_id")) END,\n            \'status\', CASE WHEN OLD."status" IS DISTINCT FROM NEW."status" THEN jsonb_build_array(to_jsonb(OLD."status"), to_jsonb(NEW."status")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="2e8c8ba685f3469bd5388fcb2ed04ac43b38009b",
                    operation='UPDATE OF "status"',
                    pgid="audit_renewalrun_update",
                    table="membership_renewalrun",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="useraudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_user_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'auth', 'user',\n        NEW.\"id\"::text,\n        concat(NEW.\"username\"::text),\n        jsonb_build_object(\n            'username', to_jsonb(NEW.\"username\"),\n            'first_name', to_jsonb(NEW.\"first_name\"),\n            'last_name', to_jsonb(NEW.\"last_name\"),\n            'email', to_jsonb(NEW.\"email\"),\n            'is_active', to_jsonb(NEW.\"is_active\"),\n            'is_staff', to_jsonb(NEW.\"is_staff\"),\n            'is_superuser', to_jsonb(NEW.\"is_superuser\")));\n    RETURN NULL;\n",
                    hash="9236c058c369ec795830681b16365b05cdfb2c02",
                    operation="INSERT",
                    pgid="audit_user_insert",
                    table="auth_user",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="useraudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_user_update",
                sql=core.db_triggers.TriggerSql(
                    condition='WHEN (OLD."email" IS DISTINCT FROM (NEW."email") OR OLD."first_name" IS DISTINCT FROM (NEW."first_name") OR OLD."is_active" IS DISTINCT FROM (NEW."is_active") OR OLD."is_staff" IS DISTINCT FROM (NEW."is_staff") OR OLD."is_superuser" IS DISTINCT FROM (NEW."is_superuser") OR OLD."last_name" IS DISTINCT FROM (NEW."last_name") OR OLD."username" IS DISTINCT FROM (NEW."username"))',
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'auth\', \'user\',\n        NEW."id"::text,\n        concat(NEW."username"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'username\', CASE WHEN OLD."username" IS DISTINCT FROM NEW."username" THEN jsonb_build_array(to_jsonb(OLD."username"), to_jsonb(NEW."username")) END,\n            \'first_name\', CASE WHEN OLD."first_name" IS DISTINCT FROM NEW."first_name" THEN jsonb_build_array(to_jsonb(OLD."first_name"), to_jsonb(NEW."first_name")) END,\n            \'last_name\', CASE WHEN OLD."last_name" IS DISTINCT FROM NEW."last_name" THEN jsonb_build_array(to_jsonb(OLD."last_name"), to_jsonb(NEW."last_name")) END,\n            \'email\', CASE WHEN OLD."email" IS DISTINCT FROM NEW."email" THEN jsonb_build_array(to_jsonb(OLD."email"), to_jsonb(NEW."email")) END,\n            \'is_active\', CASE WHEN OLD."is_active" IS DISTINCT FROM NEW."is_active" THEN jsonb_build_array(to_jsonb(OLD."is_active"), to_jsonb(NEW."is_active")) END,\n            \'is_staff\', CASE WHEN OLD."is_staff" IS DISTINCT FROM NEW."is_staff" THEN jsonb_build_array(to_jsonb(OLD."is_staff"), to_jsonb(NEW."is_staff")) END,\n            \'is_superuser\', CASE WHEN OLD."is_superuser" IS DISTINCT FROM NEW."is_superuser" THEN jsonb_build_array(to_jsonb(OLD."is_superuser"), to_jsonb(NEW."is_superuser")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="065f4d3b2cf0c833d8a6be1a5da4a00d25cfc519",
                    operation='UPDATE OF "username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser"',
                    pgid="audit_user_update",
                    table="auth_user",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="useraudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_user_delete",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'delete', 'auth', 'user',\n        OLD.\"id\"::text,\n        concat(OLD.\"username\"::text),\n        jsonb_build_object(\n            'username', to_jsonb(OLD.\"username\"),\n            'first_name', to_jsonb(OLD.\"first_name\"),\n            'last_name', to_jsonb(OLD.\"last_name\"),\n            'email', to_jsonb(OLD.\"email\"),\n            'is_active', to_jsonb(OLD.\"is_active\"),\n            'is_staff', to_jsonb(OLD.\"is_staff\"),\n            'is_superuser', to_jsonb(OLD.\"is_superuser\")));\n    RETURN NULL;\n",
                    hash="5af6f2a96a8663065346e8cbda7b483101885600",
                    operation="DELETE",
                    pgid="audit_user_delete",
                    table="auth_user",
                    when="AFTER",
                ),
            ),
        ),
    ]
