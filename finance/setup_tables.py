"""Tables of the settings pages (django-tables2, as the other lists)."""

import django_tables2 as tables
from django.contrib.auth import get_user_model
from django_tables2.utils import A

from core.models import Module
from finance.models import GLAccount, PaymentMethod, PaymentMethodSet
from finance.tables import TABLE_ATTRS


class PaymentMethodTable(tables.Table):
    code = tables.Column(linkify=("settings:method_edit", {"pk": A("pk")}))
    name = tables.Column()
    type = tables.Column()
    cash_account = tables.Column("Cash account", accessor="cash_account__code", default="—")
    gateway_account = tables.Column("Gateway account", accessor="gateway_account__name", default="—")
    is_active = tables.BooleanColumn(verbose_name="Active")

    class Meta:
        model = PaymentMethod
        fields = ("code", "name", "type", "cash_account", "gateway_account", "is_active")
        attrs = TABLE_ATTRS
        empty_text = "No payment methods."
        orderable = False


class PaymentMethodSetTable(tables.Table):
    name = tables.Column(linkify=("settings:method_set_edit", {"pk": A("pk")}))
    description = tables.Column()
    offers = tables.Column("Methods offered, in order", empty_values=(), orderable=False)

    class Meta:
        model = PaymentMethodSet
        fields = ("name", "description", "offers")
        attrs = TABLE_ATTRS
        empty_text = "No payment method sets."
        orderable = False

    def render_offers(self, record):
        return ", ".join(f"{entry.method.code}" for entry in record.ordered_entries()) or "—"


class GLAccountTable(tables.Table):
    entity = tables.Column("Entity", accessor="entity__code")
    code = tables.Column(linkify=("settings:account_edit", {"pk": A("pk")}))
    name = tables.Column()
    type = tables.Column()
    role = tables.Column()
    is_active = tables.BooleanColumn(verbose_name="Active")

    class Meta:
        model = GLAccount
        fields = ("entity", "code", "name", "type", "role", "is_active")
        attrs = TABLE_ATTRS
        empty_text = "No GL accounts match."
        orderable = False


class UserLevelsTable(tables.Table):
    """Staff users with their level in each module (a column per module)."""

    username = tables.Column("User", linkify=("settings:user_levels", {"pk": A("pk")}))
    full_name = tables.Column("Name", accessor="get_full_name", orderable=False)
    is_active = tables.BooleanColumn(verbose_name="Active")

    class Meta:
        model = get_user_model()
        fields = ("username", "full_name", "is_active")
        attrs = TABLE_ATTRS
        empty_text = "No staff users."
        orderable = False

    def __init__(self, *args, **kwargs):
        extra = [
            (
                module.value,
                tables.Column(
                    module.label,
                    accessor=A(f"level_{module.value}"),
                    attrs={"th": {"class": "num"}, "td": {"class": "num"}},
                    orderable=False,
                ),
            )
            for module in Module
        ]
        super().__init__(*args, extra_columns=extra, **kwargs)
