"""The audit triggers of the models that moved out of the app labelled ``paycentral``
(payment methods, their sets and gateway accounts to ``finance``, the cart and member
accounts to ``checkout``, API tokens to ``api``) are dropped with their proxies here,
before that app removes the models from its state (its migration 0005); 0006 declares
them again on the models where they now live, their events naming the new app. Both run
in the same ``migrate``: no write to those tables happens in between."""

import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_trail_written_by_triggers"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name="apitokenaudittriggers",
            name="audit_apitoken_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="apitokenaudittriggers",
            name="audit_apitoken_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="apitokenaudittriggers",
            name="audit_apitoken_delete",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="cartaudittriggers",
            name="audit_cart_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="gatewayaccountaudittriggers",
            name="audit_gatewayaccount_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="gatewayaccountaudittriggers",
            name="audit_gatewayaccount_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="gatewayaccountaudittriggers",
            name="audit_gatewayaccount_delete",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="memberaccountaudittriggers",
            name="audit_memberaccount_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="memberaccountaudittriggers",
            name="audit_memberaccount_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="memberaccountaudittriggers",
            name="audit_memberaccount_delete",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="paymentmethodaudittriggers",
            name="audit_paymentmethod_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="paymentmethodaudittriggers",
            name="audit_paymentmethod_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="paymentmethodaudittriggers",
            name="audit_paymentmethod_delete",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="paymentmethodsetaudittriggers",
            name="audit_paymentmethodset_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="paymentmethodsetaudittriggers",
            name="audit_paymentmethodset_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="paymentmethodsetaudittriggers",
            name="audit_paymentmethodset_delete",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="paymentmethodsetentryaudittriggers",
            name="audit_paymentmethodsetentry_insert",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="paymentmethodsetentryaudittriggers",
            name="audit_paymentmethodsetentry_update",
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name="paymentmethodsetentryaudittriggers",
            name="audit_paymentmethodsetentry_delete",
        ),
        migrations.DeleteModel(
            name="ApiTokenAuditTriggers",
        ),
        migrations.DeleteModel(
            name="CartAuditTriggers",
        ),
        migrations.DeleteModel(
            name="GatewayAccountAuditTriggers",
        ),
        migrations.DeleteModel(
            name="MemberAccountAuditTriggers",
        ),
        migrations.DeleteModel(
            name="PaymentMethodAuditTriggers",
        ),
        migrations.DeleteModel(
            name="PaymentMethodSetAuditTriggers",
        ),
        migrations.DeleteModel(
            name="PaymentMethodSetEntryAuditTriggers",
        ),
    ]
