"""The audit triggers of the models that moved (see 0005) declared again on proxies of
the models where they now live: same triggers on the same tables, their events naming
the model's new app (whose content type the ``paycentral`` app's migration 0005 renamed:
the events written before keep pointing at the same model)."""

import core.db_triggers
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("audit", "0005_moved_models_triggers_removed"),
        ("checkout", "0001_initial"),
        ("finance", "0028_payment_methods_moved_in"),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiTokenAuditTriggers",
            fields=[],
            options={
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("api.apitoken",),
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
            bases=("checkout.cart",),
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
            bases=("finance.gatewayaccount",),
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
            bases=("checkout.memberaccount",),
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
            bases=("finance.paymentmethod",),
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
            bases=("finance.paymentmethodset",),
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
            bases=("finance.paymentmethodsetentry",),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="apitokenaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_apitoken_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'api', 'apitoken',\n        NEW.\"id\"::text,\n        concat(NEW.\"name\"::text, ' (', NEW.\"prefix\"::text, '…)'),\n        jsonb_build_object(\n            'user', to_jsonb('#' || NEW.\"user_id\"),\n            'name', to_jsonb(NEW.\"name\"),\n            'prefix', to_jsonb(NEW.\"prefix\"),\n            'key_hash', to_jsonb(CASE WHEN COALESCE(NEW.\"key_hash\", '') = '' THEN '' ELSE '••••••' END),\n            'revoked', to_jsonb(NEW.\"revoked\")));\n    RETURN NULL;\n",
                    hash="a83885c1db1da41f589276d1dac1df5f4733ca81",
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
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'api\', \'apitoken\',\n        NEW."id"::text,\n        concat(NEW."name"::text, \' (\', NEW."prefix"::text, \'…)\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'user\', CASE WHEN OLD."user_id" IS DISTINCT FROM NEW."user_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."user_id"), to_jsonb(\'#\' || NEW."user_id")) END,\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'prefix\', CASE WHEN OLD."prefix" IS DISTINCT FROM NEW."prefix" THEN jsonb_build_array(to_jsonb(OLD."prefix"), to_jsonb(NEW."prefix")) END,\n            \'key_hash\', CASE WHEN OLD."key_hash" IS DISTINCT FROM NEW."key_hash" THEN jsonb_build_array(CASE WHEN COALESCE(OLD."key_hash", \'\') = \'\' THEN \'\' ELSE \'••••••\' END, CASE WHEN COALESCE(NEW."key_hash", \'\') = \'\' THEN \'\' ELSE \'•••••• (changed)\' END) END,\n            \'revoked\', CASE WHEN OLD."revoked" IS DISTINCT FROM NEW."revoked" THEN jsonb_build_array(to_jsonb(OLD."revoked"), to_jsonb(NEW."revoked")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="33529b570a0e8a95b5c3752c058e773f1a8a3290",
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
                    func="\n    PERFORM audit_event_write(\n        'delete', 'api', 'apitoken',\n        OLD.\"id\"::text,\n        concat(OLD.\"name\"::text, ' (', OLD.\"prefix\"::text, '…)'),\n        jsonb_build_object(\n            'user', to_jsonb('#' || OLD.\"user_id\"),\n            'name', to_jsonb(OLD.\"name\"),\n            'prefix', to_jsonb(OLD.\"prefix\"),\n            'key_hash', to_jsonb(CASE WHEN COALESCE(OLD.\"key_hash\", '') = '' THEN '' ELSE '••••••' END),\n            'revoked', to_jsonb(OLD.\"revoked\")));\n    RETURN NULL;\n",
                    hash="fa9ba87a68e44834f8ae25fa8dec2660eb675ee1",
                    operation="DELETE",
                    pgid="audit_apitoken_delete",
                    table="paycentral_apitoken",
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
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'checkout\', \'cart\',\n        NEW."id"::text,\n        concat(\'Cart \', NEW."id"::text, \' for \', (SELECT r."name"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \' (\', (SELECT r."party_id"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \')\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'contact\', CASE WHEN OLD."contact_id" IS DISTINCT FROM NEW."contact_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."contact_id"), to_jsonb(\'#\' || NEW."contact_id")) END,\n            \'status\', CASE WHEN OLD."status" IS DISTINCT FROM NEW."status" THEN jsonb_build_array(to_jsonb(OLD."status"), to_jsonb(NEW."status")) END,\n            \'invoice\', CASE WHEN OLD."invoice_id" IS DISTINCT FROM NEW."invoice_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."invoice_id"), to_jsonb(\'#\' || NEW."invoice_id")) END,\n            \'charge_amount\', CASE WHEN OLD."charge_amount" IS DISTINCT FROM NEW."charge_amount" THEN jsonb_build_array(to_jsonb(OLD."charge_amount"::text), to_jsonb(NEW."charge_amount"::text)) END,\n            \'charge_id\', CASE WHEN OLD."charge_id" IS DISTINCT FROM NEW."charge_id" THEN jsonb_build_array(to_jsonb(OLD."charge_id"), to_jsonb(NEW."charge_id")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="6785475cdeb3507f85841da3c48c0019976f0b36",
                    operation='UPDATE OF "status"',
                    pgid="audit_cart_update",
                    table="paycentral_cart",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="gatewayaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_gatewayaccount_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'gatewayaccount',\n        NEW.\"id\"::text,\n        concat(NEW.\"name\"::text, ' (', CASE NEW.\"processor\" WHEN 'sandbox' THEN 'Sandbox' WHEN 'stripe' THEN 'Stripe' ELSE NEW.\"processor\"::text END, ')'),\n        jsonb_build_object(\n            'name', to_jsonb(NEW.\"name\"),\n            'processor', to_jsonb(NEW.\"processor\"),\n            'entity', to_jsonb('#' || NEW.\"entity_id\"),\n            'publishable_key', to_jsonb(NEW.\"publishable_key\"),\n            'secret_key', to_jsonb(CASE WHEN COALESCE(NEW.\"secret_key\", '') = '' THEN '' ELSE '••••••' END),\n            'webhook_secret', to_jsonb(CASE WHEN COALESCE(NEW.\"webhook_secret\", '') = '' THEN '' ELSE '••••••' END),\n            'api_base', to_jsonb(NEW.\"api_base\"),\n            'is_active', to_jsonb(NEW.\"is_active\"),\n            'invoice_sync', to_jsonb(NEW.\"invoice_sync\"),\n            'default_handling_mode', to_jsonb(NEW.\"default_handling_mode\"),\n            'card_attempt_limit', to_jsonb(NEW.\"card_attempt_limit\")));\n    RETURN NULL;\n",
                    hash="1a0afa7dcfec452b6ecdba3c54729980cb384753",
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
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'gatewayaccount\',\n        NEW."id"::text,\n        concat(NEW."name"::text, \' (\', CASE NEW."processor" WHEN \'sandbox\' THEN \'Sandbox\' WHEN \'stripe\' THEN \'Stripe\' ELSE NEW."processor"::text END, \')\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'processor\', CASE WHEN OLD."processor" IS DISTINCT FROM NEW."processor" THEN jsonb_build_array(to_jsonb(OLD."processor"), to_jsonb(NEW."processor")) END,\n            \'entity\', CASE WHEN OLD."entity_id" IS DISTINCT FROM NEW."entity_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."entity_id"), to_jsonb(\'#\' || NEW."entity_id")) END,\n            \'publishable_key\', CASE WHEN OLD."publishable_key" IS DISTINCT FROM NEW."publishable_key" THEN jsonb_build_array(to_jsonb(OLD."publishable_key"), to_jsonb(NEW."publishable_key")) END,\n            \'secret_key\', CASE WHEN OLD."secret_key" IS DISTINCT FROM NEW."secret_key" THEN jsonb_build_array(CASE WHEN COALESCE(OLD."secret_key", \'\') = \'\' THEN \'\' ELSE \'••••••\' END, CASE WHEN COALESCE(NEW."secret_key", \'\') = \'\' THEN \'\' ELSE \'•••••• (changed)\' END) END,\n            \'webhook_secret\', CASE WHEN OLD."webhook_secret" IS DISTINCT FROM NEW."webhook_secret" THEN jsonb_build_array(CASE WHEN COALESCE(OLD."webhook_secret", \'\') = \'\' THEN \'\' ELSE \'••••••\' END, CASE WHEN COALESCE(NEW."webhook_secret", \'\') = \'\' THEN \'\' ELSE \'•••••• (changed)\' END) END,\n            \'api_base\', CASE WHEN OLD."api_base" IS DISTINCT FROM NEW."api_base" THEN jsonb_build_array(to_jsonb(OLD."api_base"), to_jsonb(NEW."api_base")) END,\n            \'is_active\', CASE WHEN OLD."is_active" IS DISTINCT FROM NEW."is_active" THEN jsonb_build_array(to_jsonb(OLD."is_active"), to_jsonb(NEW."is_active")) END,\n            \'invoice_sync\', CASE WHEN OLD."invoice_sync" IS DISTINCT FROM NEW."invoice_sync" THEN jsonb_build_array(to_jsonb(OLD."invoice_sync"), to_jsonb(NEW."invoice_sync")) END,\n            \'default_handling_mode\', CASE WHEN OLD."default_handling_mode" IS DISTINCT FROM NEW."default_handling_mode" THEN jsonb_build_array(to_jsonb(OLD."default_handling_mode"), to_jsonb(NEW."default_handling_mode")) END,\n            \'card_attempt_limit\', CASE WHEN OLD."card_attempt_limit" IS DISTINCT FROM NEW."card_attempt_limit" THEN jsonb_build_array(to_jsonb(OLD."card_attempt_limit"), to_jsonb(NEW."card_attempt_limit")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="dbd13f5d31a90ca7ff2b87954292552b2ef1b7f0",
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
                    func="\n    PERFORM audit_event_write(\n        'delete', 'finance', 'gatewayaccount',\n        OLD.\"id\"::text,\n        concat(OLD.\"name\"::text, ' (', CASE OLD.\"processor\" WHEN 'sandbox' THEN 'Sandbox' WHEN 'stripe' THEN 'Stripe' ELSE OLD.\"processor\"::text END, ')'),\n        jsonb_build_object(\n            'name', to_jsonb(OLD.\"name\"),\n            'processor', to_jsonb(OLD.\"processor\"),\n            'entity', to_jsonb('#' || OLD.\"entity_id\"),\n            'publishable_key', to_jsonb(OLD.\"publishable_key\"),\n            'secret_key', to_jsonb(CASE WHEN COALESCE(OLD.\"secret_key\", '') = '' THEN '' ELSE '••••••' END),\n            'webhook_secret', to_jsonb(CASE WHEN COALESCE(OLD.\"webhook_secret\", '') = '' THEN '' ELSE '••••••' END),\n            'api_base', to_jsonb(OLD.\"api_base\"),\n            'is_active', to_jsonb(OLD.\"is_active\"),\n            'invoice_sync', to_jsonb(OLD.\"invoice_sync\"),\n            'default_handling_mode', to_jsonb(OLD.\"default_handling_mode\"),\n            'card_attempt_limit', to_jsonb(OLD.\"card_attempt_limit\")));\n    RETURN NULL;\n",
                    hash="3f986f0e44ae121002de088bfa241582ab8d9197",
                    operation="DELETE",
                    pgid="audit_gatewayaccount_delete",
                    table="paycentral_gatewayaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="memberaccountaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_memberaccount_insert",
                sql=core.db_triggers.TriggerSql(
                    func='\n    PERFORM audit_event_write(\n        \'create\', \'checkout\', \'memberaccount\',\n        NEW."id"::text,\n        concat((SELECT r."username"::text FROM "auth_user" r WHERE r."id" = NEW."user_id"), \' → \', (SELECT r."name"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \' (\', (SELECT r."party_id"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \')\'),\n        jsonb_build_object(\n            \'user\', to_jsonb(\'#\' || NEW."user_id"),\n            \'contact\', to_jsonb(\'#\' || NEW."contact_id"),\n            \'is_active\', to_jsonb(NEW."is_active")));\n    RETURN NULL;\n',
                    hash="2739ff08735b9f3ad4ad1168e3a33f881bfdb42e",
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
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'checkout\', \'memberaccount\',\n        NEW."id"::text,\n        concat((SELECT r."username"::text FROM "auth_user" r WHERE r."id" = NEW."user_id"), \' → \', (SELECT r."name"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \' (\', (SELECT r."party_id"::text FROM "finance_contact" r WHERE r."id" = NEW."contact_id"), \')\'),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'user\', CASE WHEN OLD."user_id" IS DISTINCT FROM NEW."user_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."user_id"), to_jsonb(\'#\' || NEW."user_id")) END,\n            \'contact\', CASE WHEN OLD."contact_id" IS DISTINCT FROM NEW."contact_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."contact_id"), to_jsonb(\'#\' || NEW."contact_id")) END,\n            \'is_active\', CASE WHEN OLD."is_active" IS DISTINCT FROM NEW."is_active" THEN jsonb_build_array(to_jsonb(OLD."is_active"), to_jsonb(NEW."is_active")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="1eb0c40a6cc1f3f03d30e87c7b801a394327dcc8",
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
                    func='\n    PERFORM audit_event_write(\n        \'delete\', \'checkout\', \'memberaccount\',\n        OLD."id"::text,\n        concat((SELECT r."username"::text FROM "auth_user" r WHERE r."id" = OLD."user_id"), \' → \', (SELECT r."name"::text FROM "finance_contact" r WHERE r."id" = OLD."contact_id"), \' (\', (SELECT r."party_id"::text FROM "finance_contact" r WHERE r."id" = OLD."contact_id"), \')\'),\n        jsonb_build_object(\n            \'user\', to_jsonb(\'#\' || OLD."user_id"),\n            \'contact\', to_jsonb(\'#\' || OLD."contact_id"),\n            \'is_active\', to_jsonb(OLD."is_active")));\n    RETURN NULL;\n',
                    hash="b5c87106fff7a171b331334b31e47c572bf9fee5",
                    operation="DELETE",
                    pgid="audit_memberaccount_delete",
                    table="paycentral_memberaccount",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="paymentmethodaudittriggers",
            trigger=pgtrigger.compiler.Trigger(
                name="audit_paymentmethod_insert",
                sql=core.db_triggers.TriggerSql(
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'paymentmethod',\n        NEW.\"id\"::text,\n        concat(NEW.\"code\"::text, ' – ', NEW.\"name\"::text),\n        jsonb_build_object(\n            'code', to_jsonb(NEW.\"code\"),\n            'name', to_jsonb(NEW.\"name\"),\n            'type', to_jsonb(NEW.\"type\"),\n            'cash_account', to_jsonb('#' || NEW.\"cash_account_id\"),\n            'gateway_account', to_jsonb('#' || NEW.\"gateway_account_id\"),\n            'is_active', to_jsonb(NEW.\"is_active\")));\n    RETURN NULL;\n",
                    hash="285c915045be0b27d3b8753c4a9930e427b0014b",
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
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'paymentmethod\',\n        NEW."id"::text,\n        concat(NEW."code"::text, \' – \', NEW."name"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'code\', CASE WHEN OLD."code" IS DISTINCT FROM NEW."code" THEN jsonb_build_array(to_jsonb(OLD."code"), to_jsonb(NEW."code")) END,\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'type\', CASE WHEN OLD."type" IS DISTINCT FROM NEW."type" THEN jsonb_build_array(to_jsonb(OLD."type"), to_jsonb(NEW."type")) END,\n            \'cash_account\', CASE WHEN OLD."cash_account_id" IS DISTINCT FROM NEW."cash_account_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."cash_account_id"), to_jsonb(\'#\' || NEW."cash_account_id")) END,\n            \'gateway_account\', CASE WHEN OLD."gateway_account_id" IS DISTINCT FROM NEW."gateway_account_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."gateway_account_id"), to_jsonb(\'#\' || NEW."gateway_account_id")) END,\n            \'is_active\', CASE WHEN OLD."is_active" IS DISTINCT FROM NEW."is_active" THEN jsonb_build_array(to_jsonb(OLD."is_active"), to_jsonb(NEW."is_active")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="10364aeedb918e2b38626ad5bb44b6537d9ab6db",
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
                    func="\n    PERFORM audit_event_write(\n        'delete', 'finance', 'paymentmethod',\n        OLD.\"id\"::text,\n        concat(OLD.\"code\"::text, ' – ', OLD.\"name\"::text),\n        jsonb_build_object(\n            'code', to_jsonb(OLD.\"code\"),\n            'name', to_jsonb(OLD.\"name\"),\n            'type', to_jsonb(OLD.\"type\"),\n            'cash_account', to_jsonb('#' || OLD.\"cash_account_id\"),\n            'gateway_account', to_jsonb('#' || OLD.\"gateway_account_id\"),\n            'is_active', to_jsonb(OLD.\"is_active\")));\n    RETURN NULL;\n",
                    hash="5f0e177a11aeaf958d2175a9e077abfd2aa73e27",
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
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'paymentmethodset',\n        NEW.\"id\"::text,\n        concat(NEW.\"name\"::text),\n        jsonb_build_object(\n            'name', to_jsonb(NEW.\"name\"),\n            'description', to_jsonb(NEW.\"description\")));\n    RETURN NULL;\n",
                    hash="0596aa456198d888df9b4196ef866ed8ddb3c5bc",
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
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'paymentmethodset\',\n        NEW."id"::text,\n        concat(NEW."name"::text),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'name\', CASE WHEN OLD."name" IS DISTINCT FROM NEW."name" THEN jsonb_build_array(to_jsonb(OLD."name"), to_jsonb(NEW."name")) END,\n            \'description\', CASE WHEN OLD."description" IS DISTINCT FROM NEW."description" THEN jsonb_build_array(to_jsonb(OLD."description"), to_jsonb(NEW."description")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="fc8d7dbc80d9592e67bb77761d3d31303f4e3e2f",
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
                    func="\n    PERFORM audit_event_write(\n        'delete', 'finance', 'paymentmethodset',\n        OLD.\"id\"::text,\n        concat(OLD.\"name\"::text),\n        jsonb_build_object(\n            'name', to_jsonb(OLD.\"name\"),\n            'description', to_jsonb(OLD.\"description\")));\n    RETURN NULL;\n",
                    hash="fddbd932652523aeec59a3d01e620730d6b7adfc",
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
                    func="\n    PERFORM audit_event_write(\n        'create', 'finance', 'paymentmethodsetentry',\n        NEW.\"id\"::text,\n        concat(COALESCE(NULLIF(NEW.\"display_name\"::text, ''), NULLIF((SELECT r.\"name\"::text FROM \"paycentral_paymentmethod\" r WHERE r.\"id\" = NEW.\"method_id\"), ''))),\n        jsonb_build_object(\n            'method_set', to_jsonb('#' || NEW.\"method_set_id\"),\n            'method', to_jsonb('#' || NEW.\"method_id\"),\n            'position', to_jsonb(NEW.\"position\"),\n            'display_name', to_jsonb(NEW.\"display_name\")));\n    RETURN NULL;\n",
                    hash="5d7922bb94f088452674780c8ec4c154ab3b9fc6",
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
                    func='\n    PERFORM audit_event_write(\n        \'update\', \'finance\', \'paymentmethodsetentry\',\n        NEW."id"::text,\n        concat(COALESCE(NULLIF(NEW."display_name"::text, \'\'), NULLIF((SELECT r."name"::text FROM "paycentral_paymentmethod" r WHERE r."id" = NEW."method_id"), \'\'))),\n        (SELECT COALESCE(jsonb_object_agg(c.key, c.value), \'{}\'::jsonb) FROM jsonb_each(jsonb_build_object(\n            \'method_set\', CASE WHEN OLD."method_set_id" IS DISTINCT FROM NEW."method_set_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."method_set_id"), to_jsonb(\'#\' || NEW."method_set_id")) END,\n            \'method\', CASE WHEN OLD."method_id" IS DISTINCT FROM NEW."method_id" THEN jsonb_build_array(to_jsonb(\'#\' || OLD."method_id"), to_jsonb(\'#\' || NEW."method_id")) END,\n            \'position\', CASE WHEN OLD."position" IS DISTINCT FROM NEW."position" THEN jsonb_build_array(to_jsonb(OLD."position"), to_jsonb(NEW."position")) END,\n            \'display_name\', CASE WHEN OLD."display_name" IS DISTINCT FROM NEW."display_name" THEN jsonb_build_array(to_jsonb(OLD."display_name"), to_jsonb(NEW."display_name")) END)) c WHERE c.value <> \'null\'::jsonb));\n    RETURN NULL;\n',
                    hash="c902026e8bdfdbe300270649f7f017d539d62a9b",
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
                    func="\n    PERFORM audit_event_write(\n        'delete', 'finance', 'paymentmethodsetentry',\n        OLD.\"id\"::text,\n        concat(COALESCE(NULLIF(OLD.\"display_name\"::text, ''), NULLIF((SELECT r.\"name\"::text FROM \"paycentral_paymentmethod\" r WHERE r.\"id\" = OLD.\"method_id\"), ''))),\n        jsonb_build_object(\n            'method_set', to_jsonb('#' || OLD.\"method_set_id\"),\n            'method', to_jsonb('#' || OLD.\"method_id\"),\n            'position', to_jsonb(OLD.\"position\"),\n            'display_name', to_jsonb(OLD.\"display_name\")));\n    RETURN NULL;\n",
                    hash="14a40a2aa3204201e8b1d155012e30d53bead8ff",
                    operation="DELETE",
                    pgid="audit_paymentmethodsetentry_delete",
                    table="paycentral_paymentmethodsetentry",
                    when="AFTER",
                ),
            ),
        ),
    ]
