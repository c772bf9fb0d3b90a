"""The models of this app that moved to the apps they belong to, with their tables
and rows as they are: payment methods, their sets and gateway accounts to the ledger
(``finance`` 0028), the cart and the member accounts to ``checkout``, API tokens to
``api``. Their state is removed here; nothing in the database changes but their content
types, renamed to their new app so that permissions, admin log entries and audit events
keep pointing at the same model. Module authorization levels stay in this app."""

from django.db import IntegrityError, migrations, transaction

# model name -> the app label it moved to
MOVED = {
    "gatewayaccount": "finance",
    "paymentmethod": "finance",
    "paymentmethodset": "finance",
    "paymentmethodsetentry": "finance",
    "cart": "checkout",
    "cartline": "checkout",
    "cartcredit": "checkout",
    "memberaccount": "checkout",
    "apitoken": "api",
}


def _rename(apps, moves):
    """Rename each (old label, new label, model) content type, as Django renames one
    for a renamed model: where the new one exists already (a stale row), the old is left
    for ``remove_stale_contenttypes`` to report."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for old_label, new_label, model in moves:
        try:
            with transaction.atomic():
                ContentType.objects.filter(app_label=old_label, model=model).update(app_label=new_label)
        except IntegrityError:
            pass
    ContentType.objects.clear_cache()


def rename_content_types(apps, schema_editor):
    _rename(apps, [("paycentral", label, model) for model, label in MOVED.items()])


def rename_content_types_back(apps, schema_editor):
    _rename(apps, [(label, "paycentral", model) for model, label in MOVED.items()])


class Migration(migrations.Migration):
    dependencies = [
        ("paycentral", "0004_gateway_account_invoice_sync"),
        ("finance", "0028_payment_methods_moved_in"),
        ("checkout", "0001_initial"),
        ("api", "0001_initial"),
        ("integrations", "0006_gateway_accounts_in_finance"),
        ("openwater", "0004_payment_method_in_finance"),
        ("contenttypes", "0002_remove_content_type_name"),
        # The audit trail's proxies of the moved models go before their bases do.
        ("audit", "0005_moved_models_triggers_removed"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="cart",
                    name="batch",
                ),
                migrations.RemoveField(
                    model_name="cart",
                    name="charge_method",
                ),
                migrations.RemoveField(
                    model_name="cart",
                    name="contact",
                ),
                migrations.RemoveField(
                    model_name="cart",
                    name="entity",
                ),
                migrations.RemoveField(
                    model_name="cart",
                    name="invoice",
                ),
                migrations.RemoveField(
                    model_name="cart",
                    name="method_set",
                ),
                migrations.RemoveField(
                    model_name="cart",
                    name="payment",
                ),
                migrations.RemoveField(
                    model_name="cart",
                    name="user",
                ),
                migrations.RemoveField(
                    model_name="cartline",
                    name="cart",
                ),
                migrations.RemoveField(
                    model_name="cartcredit",
                    name="cart",
                ),
                migrations.RemoveField(
                    model_name="cartcredit",
                    name="applied_by",
                ),
                migrations.RemoveField(
                    model_name="cartcredit",
                    name="credit_invoice",
                ),
                migrations.RemoveField(
                    model_name="cartcredit",
                    name="payment",
                ),
                migrations.RemoveField(
                    model_name="cartline",
                    name="product",
                ),
                migrations.RemoveField(
                    model_name="gatewayaccount",
                    name="entity",
                ),
                migrations.RemoveField(
                    model_name="paymentmethod",
                    name="gateway_account",
                ),
                migrations.RemoveField(
                    model_name="memberaccount",
                    name="contact",
                ),
                migrations.RemoveField(
                    model_name="memberaccount",
                    name="user",
                ),
                migrations.RemoveField(
                    model_name="paymentmethod",
                    name="cash_account",
                ),
                migrations.RemoveField(
                    model_name="paymentmethodset",
                    name="methods",
                ),
                migrations.RemoveField(
                    model_name="paymentmethodsetentry",
                    name="method",
                ),
                migrations.RemoveField(
                    model_name="paymentmethodsetentry",
                    name="method_set",
                ),
                migrations.DeleteModel(
                    name="ApiToken",
                ),
                migrations.DeleteModel(
                    name="Cart",
                ),
                migrations.DeleteModel(
                    name="CartCredit",
                ),
                migrations.DeleteModel(
                    name="CartLine",
                ),
                migrations.DeleteModel(
                    name="GatewayAccount",
                ),
                migrations.DeleteModel(
                    name="MemberAccount",
                ),
                migrations.DeleteModel(
                    name="PaymentMethod",
                ),
                migrations.DeleteModel(
                    name="PaymentMethodSet",
                ),
                migrations.DeleteModel(
                    name="PaymentMethodSetEntry",
                ),
            ],
        ),
        migrations.RunPython(rename_content_types, rename_content_types_back),
    ]
